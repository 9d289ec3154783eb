//! Prometheus metrics (OpenMetrics text at `/metrics`), through one registry passed down.
//!
//! Counters count this process's own events only (a restart starts them at zero, as Prometheus
//! expects); replicated totals (alerts held, executions per operarius, Raft indexes) are gauges
//! read from the local state at scrape time, so they never double count after a restart.

use std::sync::Arc;

use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RemediationLabels {
    pub operarius: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperariusLabel {
    pub operarius: String,
}

/// A follow-up step's result: `step` is `silence`, `expire`, `verify` or `notify`; `result`
/// `ok`, `failed`, `verified` or `ineffective`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FollowUpLabels {
    pub operarius: String,
    pub step: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabel {
    pub state: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    /// `api` or `peer`.
    pub listener: String,
}

/// Every metric openfero exports. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Alert events acknowledged by this node's webhook, by alert status.
    pub alerts_received: Family<StatusLabel, Counter>,
    /// Remediation outcomes recorded by this process (as leader), by operarius and outcome.
    pub remediations: Family<RemediationLabels, Counter>,
    /// Time from start to outcome of remediations executed by this process.
    pub executor_duration: Family<OutcomeLabel, Histogram>,
    /// HTTP request durations by route, method and status.
    pub http_duration: Family<HttpLabels, Histogram>,
    /// Invalid operarius documents or objects seen by this node.
    pub invalid_operarios: Gauge,
    /// OpenFero's `openfero_operarius_sync_errors_total`: failures to read operarios (an
    /// unreadable path, a watch error) or to replicate the catalog.
    pub operarius_sync_errors: Counter,
    /// OpenFero's `openfero_operarius_items_loaded`: operarios in the replicated catalog
    /// (invalid ones that claim their alerts included).
    pub operarius_items_loaded: Gauge,
    /// OpenFero's job counters, kept with the same names and meanings: Jobs (or local
    /// processes) created, succeeded and failed. Counted by the leader that acts, so once per
    /// cluster: sum them over the nodes.
    pub jobs_created: Counter,
    pub jobs_succeeded: Counter,
    pub jobs_failed: Counter,
    /// Follow-ups done by this node as leader: silences created and expired, verdicts of
    /// verification, notifications (`openfero_followups_total{operarius,step,result}`).
    pub followups: Family<FollowUpLabels, Counter>,
    // Gauges read from the replicated state and Raft at scrape time.
    pub alerts_stored: Gauge,
    pub remediations_by_state: Family<StateLabel, Gauge>,
    pub remediations_by_reason: Family<DecisionLabel, Gauge>,
    pub operarius_executions: Family<OperariusLabel, Gauge>,
    pub raft_term: Gauge,
    pub raft_is_leader: Gauge,
    pub raft_last_log_index: Gauge,
    pub raft_applied_index: Gauge,
    pub raft_voters: Gauge,
    pub raft_learners: Gauge,
    pub raft_write_batches: Gauge,
    pub raft_batched_writes: Gauge,
    pub raft_largest_write_batch: Gauge,
    pub gossip_live_nodes: Gauge,
    pub gossip_dead_nodes: Gauge,
    /// Gossip packets dropped because they did not open under any installed key.
    pub gossip_rejected_packets: Counter,
    /// TLS handshakes that failed or timed out, by listener (`api`, `peer`): strangers without
    /// a cluster certificate, plain HTTP sent to an https port, expired certificates.
    pub tls_handshake_failures: Family<ListenerLabel, Counter>,
    /// Loop breakers open now (replicated state, read at scrape time), and whether the global
    /// pause is on.
    pub breakers_open: Gauge,
    pub budgets_full: Gauge,
    pub remediations_paused: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("openfero");
        let alerts_received = Family::<StatusLabel, Counter>::default();
        r.register(
            "alerts_received",
            "Alert events acknowledged by this node's webhook",
            alerts_received.clone(),
        );
        let remediations = Family::<RemediationLabels, Counter>::default();
        r.register(
            "remediations",
            "Remediation outcomes recorded by this process",
            remediations.clone(),
        );
        let executor_duration = Family::<OutcomeLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.05, 2.0, 14))
        });
        r.register(
            "executor_duration_seconds",
            "Duration of remediations executed by this process",
            executor_duration.clone(),
        );
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        r.register(
            "http_request_duration_seconds",
            "HTTP request duration",
            http_duration.clone(),
        );
        let invalid_operarios = Gauge::default();
        r.register(
            "operarios_invalid",
            "Invalid operarius documents or objects",
            invalid_operarios.clone(),
        );
        let operarius_sync_errors = Counter::default();
        r.register(
            "operarius_sync_errors",
            "Errors reading operarios or replicating the catalog",
            operarius_sync_errors.clone(),
        );
        let operarius_items_loaded = Gauge::default();
        r.register(
            "operarius_items_loaded",
            "Operarios in the replicated catalog",
            operarius_items_loaded.clone(),
        );
        let jobs_created = Counter::default();
        r.register(
            "jobs_created",
            "Remediation Jobs (or local processes) created by this node as leader",
            jobs_created.clone(),
        );
        let jobs_succeeded = Counter::default();
        r.register(
            "jobs_succeeded",
            "Remediation Jobs that succeeded, recorded by this node as leader",
            jobs_succeeded.clone(),
        );
        let jobs_failed = Counter::default();
        r.register(
            "jobs_failed",
            "Remediation Jobs that failed, recorded by this node as leader",
            jobs_failed.clone(),
        );
        let followups = Family::<FollowUpLabels, Counter>::default();
        r.register(
            "followups",
            "Follow-ups by this node as leader: silence, expire, verify, notify, by result",
            followups.clone(),
        );
        let alerts_stored = Gauge::default();
        r.register(
            "alerts_stored",
            "Alert events in the replicated history",
            alerts_stored.clone(),
        );
        let remediations_by_state = Family::<StateLabel, Gauge>::default();
        r.register(
            "remediations_recent",
            "Remediations among the newest 1000 in the replicated history, by state",
            remediations_by_state.clone(),
        );
        let remediations_by_reason = Family::<DecisionLabel, Gauge>::default();
        r.register(
            "remediations_recent_decided",
            "Remediations among the newest 1000 that did not simply run, by state and what decided it (budget, breaker, concurrency, pause, policy, approval, dry-run, shadow, cooldown, self-reference, ...)",
            remediations_by_reason.clone(),
        );
        let operarius_executions = Family::<OperariusLabel, Gauge>::default();
        r.register(
            "operarius_executions",
            "Executions per operarius (replicated)",
            operarius_executions.clone(),
        );
        let raft_term = Gauge::default();
        r.register("raft_term", "Current Raft term", raft_term.clone());
        let raft_is_leader = Gauge::default();
        r.register(
            "raft_is_leader",
            "1 when this node is the Raft leader",
            raft_is_leader.clone(),
        );
        let raft_last_log_index = Gauge::default();
        r.register(
            "raft_last_log_index",
            "Last Raft log index on this node",
            raft_last_log_index.clone(),
        );
        let raft_applied_index = Gauge::default();
        r.register(
            "raft_applied_index",
            "Last applied Raft log index on this node",
            raft_applied_index.clone(),
        );
        let raft_voters = Gauge::default();
        r.register(
            "raft_voters",
            "Voters in the Raft membership",
            raft_voters.clone(),
        );
        let raft_learners = Gauge::default();
        r.register(
            "raft_learners",
            "Learners in the Raft membership",
            raft_learners.clone(),
        );
        let raft_write_batches = Gauge::default();
        r.register(
            "raft_write_batches",
            "Batches of client writes this node proposed or forwarded since start",
            raft_write_batches.clone(),
        );
        let raft_batched_writes = Gauge::default();
        r.register(
            "raft_batched_writes",
            "Client writes in those batches (divided by the batches: the mean batch size)",
            raft_batched_writes.clone(),
        );
        let raft_largest_write_batch = Gauge::default();
        r.register(
            "raft_largest_write_batch",
            "Writes in the largest batch since start",
            raft_largest_write_batch.clone(),
        );
        let gossip_live_nodes = Gauge::default();
        r.register(
            "gossip_live_nodes",
            "Nodes alive in gossip (this one included)",
            gossip_live_nodes.clone(),
        );
        let gossip_dead_nodes = Gauge::default();
        r.register(
            "gossip_dead_nodes",
            "Nodes gossip considers dead",
            gossip_dead_nodes.clone(),
        );
        let gossip_rejected_packets = Counter::default();
        r.register(
            "gossip_rejected_packets",
            "Gossip packets dropped: not sealed with an installed key",
            gossip_rejected_packets.clone(),
        );
        let budgets_full = Gauge::default();
        r.register(
            "budgets_full",
            "Budget scopes (operarius and target, namespace, cluster) with a full window now: their next remediation is held",
            budgets_full.clone(),
        );
        let breakers_open = Gauge::default();
        r.register(
            "breakers_open",
            "Loop breakers open now: their operarius and target are held",
            breakers_open.clone(),
        );
        let remediations_paused = Gauge::default();
        r.register(
            "remediations_paused",
            "1 while the global pause holds remediations back",
            remediations_paused.clone(),
        );
        let tls_handshake_failures = Family::<ListenerLabel, Counter>::default();
        r.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out, by listener (api, peer)",
            tls_handshake_failures.clone(),
        );
        Self {
            registry: Arc::new(r),
            alerts_received,
            remediations,
            executor_duration,
            http_duration,
            invalid_operarios,
            operarius_sync_errors,
            operarius_items_loaded,
            jobs_created,
            jobs_succeeded,
            jobs_failed,
            followups,
            alerts_stored,
            remediations_by_state,
            remediations_by_reason,
            operarius_executions,
            raft_term,
            raft_is_leader,
            raft_last_log_index,
            raft_applied_index,
            raft_voters,
            raft_learners,
            raft_write_batches,
            raft_batched_writes,
            raft_largest_write_batch,
            gossip_live_nodes,
            gossip_dead_nodes,
            gossip_rejected_packets,
            tls_handshake_failures,
            breakers_open,
            budgets_full,
            remediations_paused,
        }
    }

    /// Bring the handshake failure counter of `listener` up to `total`, the listener's own
    /// count since start (the TLS layer counts; this is the only writer of the metric).
    pub fn observe_handshake_failures(&self, listener: &str, total: u64) {
        let counter = self
            .tls_handshake_failures
            .get_or_create(&ListenerLabel {
                listener: listener.into(),
            })
            .clone();
        let seen = counter.get();
        if total > seen {
            counter.inc_by(total - seen);
        }
    }

    /// OpenMetrics text of the registry.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Refresh the state-derived gauges from this node's replica and gossip view.
pub async fn refresh(metrics: &Metrics, cluster: &crate::cluster::Cluster, problems: usize) {
    let replica = cluster.replica();
    let s = replica.status();
    metrics.raft_term.set(as_i64(s.term));
    metrics
        .raft_is_leader
        .set(i64::from(s.leader == Some(s.id)));
    metrics
        .raft_last_log_index
        .set(as_i64(s.last_log_index.unwrap_or(0)));
    metrics
        .raft_applied_index
        .set(as_i64(s.last_applied.unwrap_or(0)));
    metrics.raft_voters.set(as_i64(s.voters.len() as u64));
    metrics.raft_learners.set(as_i64(s.learners.len() as u64));
    let batches = replica.raft().batch_stats();
    metrics.raft_write_batches.set(as_i64(batches.batches));
    metrics.raft_batched_writes.set(as_i64(batches.commands));
    metrics
        .raft_largest_write_batch
        .set(as_i64(batches.largest));
    metrics.invalid_operarios.set(as_i64(problems as u64));
    let history = replica.history();
    metrics
        .alerts_stored
        .set(as_i64(history.live_alerts().unwrap_or(0)));
    if let Ok(recent) = history.remediations(None, 1000) {
        let mut counts = std::collections::BTreeMap::new();
        let mut decided = std::collections::BTreeMap::new();
        for r in &recent {
            *counts.entry(r.state.as_str()).or_insert(0i64) += 1;
            if let Some(why) = r.decided_by() {
                *decided.entry((r.state.as_str(), why)).or_insert(0i64) += 1;
            }
        }
        // Only what the newest remediations show: a reason that left them goes.
        metrics.remediations_by_reason.clear();
        for ((state, reason), n) in decided {
            metrics
                .remediations_by_reason
                .get_or_create(&DecisionLabel {
                    state: state.into(),
                    reason: reason.into(),
                })
                .set(n);
        }
        for state in crate::remediation::RemediationState::ALL.map(|s| s.as_str()) {
            metrics
                .remediations_by_state
                .get_or_create(&StateLabel {
                    state: state.into(),
                })
                .set(counts.get(state).copied().unwrap_or(0));
        }
    }
    let now = crate::time::now_ms();
    if let Ok(breakers) = history.breakers() {
        let open = breakers.iter().filter(|b| b.is_open(now)).count();
        metrics.breakers_open.set(as_i64(open as u64));
    }
    if let Ok(budgets) = history.budgets(now) {
        let full = budgets
            .iter()
            .filter(|b| b.windows.iter().any(|w| w.frees_at_ms.is_some()))
            .count();
        metrics.budgets_full.set(as_i64(full as u64));
    }
    if let Ok(pause) = history.pause() {
        metrics.remediations_paused.set(i64::from(pause.paused));
    }
    if let Ok((defs, _)) = history.catalog() {
        let broken = history.broken_operarios().map(|b| b.len()).unwrap_or(0);
        metrics
            .operarius_items_loaded
            .set(as_i64((defs.len() + broken) as u64));
        for d in defs {
            let key = d.key();
            let stats = history.operarius_stats(&key).unwrap_or_default();
            metrics
                .operarius_executions
                .get_or_create(&OperariusLabel { operarius: key })
                .set(as_i64(stats.execution_count));
        }
    }
    let members = cluster.members().await;
    let live = members.values().filter(|m| m.alive).count();
    let dead = members.len() - live;
    metrics.gossip_live_nodes.set(as_i64(live.max(1) as u64));
    metrics.gossip_dead_nodes.set(as_i64(dead as u64));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_encode_as_openmetrics() {
        let m = Metrics::new();
        m.alerts_received
            .get_or_create(&StatusLabel {
                status: "firing".into(),
            })
            .inc();
        m.http_duration
            .get_or_create(&HttpLabels {
                route: "/alerts".into(),
                method: "POST".into(),
                status: 200,
            })
            .observe(0.002);
        let text = m.encode();
        assert!(
            text.contains("openfero_alerts_received_total{status=\"firing\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("openfero_http_request_duration_seconds_bucket{"),
            "{text}"
        );
        assert!(text.contains("# TYPE openfero_raft_term gauge"), "{text}");
        for openfero_018 in [
            "openfero_jobs_created_total",
            "openfero_jobs_succeeded_total",
            "openfero_jobs_failed_total",
            "openfero_operarius_sync_errors_total",
            "openfero_operarius_items_loaded",
        ] {
            assert!(
                text.contains(&format!("{openfero_018} ")),
                "{openfero_018}: {text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
