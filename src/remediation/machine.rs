//! The replicated state machine: every decision about an alert is taken here, in apply, from the
//! log alone — so every replica decides the same.

use openfero_raft::{ApplyContext, KvError, KvTxn, StateMachine};

use super::command::{
    AlertEvent, Command, CommandV1, Ingest, IngestSummary, IngestedAlert, LeaderId, Outcome,
    RemediationRef, Response,
};
use super::hourly;
use super::job_name::job_name;
use super::keys;
use super::record::{AlertRecord, OperariusStats, RemediationRecord, RemediationState};
use crate::ids::{EventId, Fingerprint, RemediationId};
use crate::operarios::{claim, render, AlertContext, BrokenOperarius, Claimant, OperariusDef};

/// openfero's application state machine.
#[derive(Debug, Default)]
pub struct RemediationMachine;

impl StateMachine for RemediationMachine {
    type Command = Command;
    type Response = Response;

    fn apply(
        &self,
        kv: &mut KvTxn<'_>,
        ctx: ApplyContext,
        command: Command,
    ) -> Result<Response, KvError> {
        hourly::ensure(kv)?;
        match command {
            Command::V1(c) => match c {
                CommandV1::IngestAlerts(ingest) => ingest_alerts(kv, ctx, ingest),
                CommandV1::SyncOperarios {
                    catalog,
                    fingerprint,
                } => {
                    kv.put_as(keys::CATALOG, &catalog)?;
                    kv.delete(keys::CATALOG_BROKEN);
                    kv.put_as(keys::CATALOG_FINGERPRINT, &fingerprint)?;
                    Ok(Response::Done)
                }
                CommandV1::SyncCatalog {
                    catalog,
                    broken,
                    fingerprint,
                } => {
                    kv.put_as(keys::CATALOG, &catalog)?;
                    kv.put_as(keys::CATALOG_BROKEN, &broken)?;
                    kv.put_as(keys::CATALOG_FINGERPRINT, &fingerprint)?;
                    Ok(Response::Done)
                }
                CommandV1::Start {
                    id,
                    at_ms,
                    leader,
                    executor,
                } => start(kv, ctx, &id, at_ms, leader, executor),
                CommandV1::Finish {
                    id,
                    at_ms,
                    outcome,
                    output_tail,
                } => finish(kv, &id, at_ms, outcome, output_tail),
                CommandV1::Interrupt { id, at_ms, reason } => interrupt(kv, &id, at_ms, reason),
                CommandV1::Prune {
                    keep_alerts,
                    max_remove,
                    now_ms,
                } => prune(kv, keep_alerts, max_remove, now_ms),
                CommandV1::ForgetNodes { ids } => {
                    for id in ids {
                        kv.put(&keys::with_seq(keys::REMOVED_NODE, id), Vec::new());
                    }
                    Ok(Response::Done)
                }
                CommandV1::SetAutopilot { paused } => {
                    kv.put_as(keys::AUTOPILOT_PAUSED, &paused)?;
                    Ok(Response::Done)
                }
            },
        }
    }
}

fn next_seq(kv: &mut KvTxn<'_>, key: &[u8]) -> Result<u64, KvError> {
    let seq = kv.get_as::<u64>(key)?.unwrap_or(0) + 1;
    kv.put_as(key, &seq)?;
    Ok(seq)
}

fn load_remediation(
    kv: &KvTxn<'_>,
    id: &RemediationId,
) -> Result<Option<RemediationRecord>, KvError> {
    let Some(seq) = kv.get_as::<u64>(&keys::with_str(keys::REMEDIATION_ID, id.as_str()))? else {
        return Ok(None);
    };
    kv.get_as(&keys::with_seq(keys::REMEDIATION, seq))
}

fn save_remediation(kv: &mut KvTxn<'_>, rec: &RemediationRecord) -> Result<(), KvError> {
    kv.put_as(&keys::with_seq(keys::REMEDIATION, rec.seq), rec)?;
    let open = keys::with_seq(keys::OPEN, rec.seq);
    if rec.state.is_terminal() {
        kv.delete(&open);
    } else {
        kv.put(&open, Vec::new());
    }
    Ok(())
}

/// The alert as the selector and the templates see it: the event within its notification.
pub(super) fn alert_context(ingest: &Ingest, ev: &AlertEvent) -> AlertContext {
    let n = &ingest.notification;
    AlertContext {
        status: ev.status.clone(),
        labels: ev.labels.clone(),
        annotations: ev.annotations.clone(),
        starts_at: ev.starts_at.clone(),
        ends_at: ev.ends_at.clone(),
        generator_url: ev.generator_url.clone(),
        fingerprint: ev.fingerprint.clone(),
        group_key: n.group_key.clone(),
        receiver: n.receiver.clone(),
        external_url: n.external_url.clone(),
        common_labels: n.common_labels.clone(),
        group_labels: n.group_labels.clone(),
        common_annotations: n.common_annotations.clone(),
    }
}

fn ingest_alerts(
    kv: &mut KvTxn<'_>,
    ctx: ApplyContext,
    ingest: Ingest,
) -> Result<Response, KvError> {
    let catalog: Vec<OperariusDef> = kv.get_as(keys::CATALOG)?.unwrap_or_default();
    let broken: Vec<BrokenOperarius> = kv.get_as(keys::CATALOG_BROKEN)?.unwrap_or_default();
    let mut summary = Vec::with_capacity(ingest.alerts.len());
    for ev in &ingest.alerts {
        let fingerprint = Fingerprint(ev.fingerprint.clone());
        let event_id = EventId::derive(&fingerprint, &ev.starts_at, &ev.status);
        let alertname = ev.labels.get("alertname").cloned().unwrap_or_default();
        let event_key = keys::with_str(keys::EVENT, event_id.as_str());

        // Idempotency: a re-delivered event answers what was recorded the first time.
        if let Some(seq) = kv.get_as::<u64>(&event_key)? {
            let mut refs = Vec::new();
            if let Some(rec) = kv.get_as::<AlertRecord>(&keys::with_seq(keys::ALERT, seq))? {
                for rid in &rec.remediations {
                    if let Some(r) = load_remediation(kv, rid)? {
                        refs.push(RemediationRef {
                            id: r.id,
                            operarius: r.operarius,
                            state: r.state,
                        });
                    }
                }
            }
            summary.push(IngestedAlert {
                event_id,
                fingerprint: ev.fingerprint.clone(),
                status: ev.status.clone(),
                alertname,
                new: false,
                remediations: refs,
            });
            continue;
        }

        let seq = next_seq(kv, keys::NEXT_ALERT_SEQ)?;
        let alert_ctx = alert_context(&ingest, ev);
        let mut refs = Vec::new();
        if let Some(claimant) = claim(&catalog, &broken, &alert_ctx) {
            let rec = decide(kv, &ingest, &event_id, seq, &alert_ctx, claimant)?;
            refs.push(RemediationRef {
                id: rec.id.clone(),
                operarius: rec.operarius.clone(),
                state: rec.state,
            });
            kv.put_as(
                &keys::with_str(keys::REMEDIATION_ID, rec.id.as_str()),
                &rec.seq,
            )?;
            save_remediation(kv, &rec)?;
            hourly::remediation_ended(kv, &rec)?;
        }
        let record = AlertRecord {
            seq,
            event_id: event_id.clone(),
            fingerprint: ev.fingerprint.clone(),
            status: ev.status.clone(),
            alertname: alertname.clone(),
            labels: ev.labels.clone(),
            annotations: ev.annotations.clone(),
            starts_at: ev.starts_at.clone(),
            ends_at: ev.ends_at.clone(),
            generator_url: ev.generator_url.clone(),
            group_key: ingest.notification.group_key.clone(),
            receiver: ingest.notification.receiver.clone(),
            external_url: ingest.notification.external_url.clone(),
            received_at_ms: ingest.received_at_ms,
            received_by: ingest.received_by,
            log_index: ctx.index,
            remediations: refs.iter().map(|r| r.id.clone()).collect(),
        };
        kv.put_as(&keys::with_seq(keys::ALERT, seq), &record)?;
        hourly::alert_added(kv, &record)?;
        kv.put_as(&event_key, &seq)?;
        let live = kv.get_as::<u64>(keys::LIVE_ALERTS)?.unwrap_or(0) + 1;
        kv.put_as(keys::LIVE_ALERTS, &live)?;
        summary.push(IngestedAlert {
            event_id,
            fingerprint: ev.fingerprint.clone(),
            status: ev.status.clone(),
            alertname,
            new: true,
            remediations: refs,
        });
    }
    Ok(Response::Ingested(IngestSummary { alerts: summary }))
}

/// Decide what happens to a new event claimed by `claimant`: pending, skipped (cooldown) or
/// failed (the operarius is broken, or its template cannot be rendered for this alert).
fn decide(
    kv: &mut KvTxn<'_>,
    ingest: &Ingest,
    event_id: &EventId,
    alert_seq: u64,
    alert: &AlertContext,
    claimant: Claimant<'_>,
) -> Result<RemediationRecord, KvError> {
    let key = claimant.key();
    let id = RemediationId::derive(event_id, &key);
    let seq = next_seq(kv, keys::NEXT_REMEDIATION_SEQ)?;
    let now = ingest.received_at_ms;
    let mut rec = RemediationRecord {
        seq,
        id: id.clone(),
        event_id: event_id.clone(),
        alert_seq,
        fingerprint: alert.fingerprint.clone(),
        alertname: alert.labels.get("alertname").cloned().unwrap_or_default(),
        alert_status: alert.status.clone(),
        operarius: key.clone(),
        namespace: claimant.namespace().to_owned(),
        job_name: job_name(claimant.name(), &id),
        state: RemediationState::Pending,
        reason: None,
        created_at_ms: now,
        started_at_ms: None,
        finished_at_ms: None,
        exit_code: None,
        output_tail: String::new(),
        rendered: None,
        started_by: None,
        executor: None,
        start_index: None,
    };
    let def = match claimant {
        Claimant::Valid(def) => def,
        Claimant::Broken(broken) => {
            rec.state = RemediationState::Failed;
            rec.reason = Some(broken.reason());
            rec.finished_at_ms = Some(now);
            return Ok(rec);
        }
    };
    let cooldown_key = keys::cooldown(&key, &alert.fingerprint);
    let until = match def.cooldown_secs {
        Some(s) if s > 0 => kv.get_as::<i64>(&cooldown_key)?,
        _ => None,
    };
    if let Some(until) = active_cooldown(def, until, now) {
        rec.state = RemediationState::Skipped;
        rec.reason = Some(cooldown_reason(def, &alert.fingerprint, until));
        rec.finished_at_ms = Some(now);
        return Ok(rec);
    }
    match render(def, alert) {
        Ok(rendered) => {
            rec.rendered = Some(rendered);
            if let Some(secs) = def.cooldown_secs.filter(|s| *s > 0) {
                let until = now.saturating_add((secs as i64).saturating_mul(1000));
                kv.put_as(&cooldown_key, &until)?;
            }
        }
        Err(e) => {
            rec.state = RemediationState::Failed;
            rec.reason = Some(format!("template: {e}"));
            rec.finished_at_ms = Some(now);
        }
    }
    Ok(rec)
}

/// The end of the cooldown (`until`, as stored for this operarius and alert) that keeps `def`
/// from running again at `now_ms`, if any.
pub(super) fn active_cooldown(def: &OperariusDef, until: Option<i64>, now_ms: i64) -> Option<i64> {
    def.cooldown_secs.filter(|s| *s > 0)?;
    until.filter(|u| now_ms < *u)
}

pub(super) fn cooldown_reason(def: &OperariusDef, fingerprint: &str, until: i64) -> String {
    format!(
        "cooldown: `{}` already remediated alert `{fingerprint}` within {}s (until {})",
        def.key(),
        def.cooldown_secs.unwrap_or(0),
        crate::time::format_ms(until)
    )
}

fn start(
    kv: &mut KvTxn<'_>,
    ctx: ApplyContext,
    id: &RemediationId,
    at_ms: i64,
    leader: LeaderId,
    executor: String,
) -> Result<Response, KvError> {
    // Fencing: only the leader that appended this entry may claim the execution.
    if leader.term != ctx.term || leader.node != ctx.leader {
        return Ok(Response::Refused(format!(
            "stale leader `{leader}`: entry appended by `{}`",
            LeaderId {
                term: ctx.term,
                node: ctx.leader
            }
        )));
    }
    let mut rec = match load_in_state(kv, id, RemediationState::Pending)? {
        Ok(rec) => rec,
        Err(refused) => return Ok(refused),
    };
    rec.state = RemediationState::Running;
    rec.started_at_ms = Some(at_ms);
    rec.started_by = Some(leader);
    rec.executor = Some(executor);
    rec.start_index = Some(ctx.index);
    save_remediation(kv, &rec)?;
    update_stats(kv, &rec, true)?;
    Ok(Response::Done)
}

/// The remediation `id` if it is in `state`, else the refusal to answer.
fn load_in_state(
    kv: &KvTxn<'_>,
    id: &RemediationId,
    state: RemediationState,
) -> Result<Result<RemediationRecord, Response>, KvError> {
    let Some(rec) = load_remediation(kv, id)? else {
        return Ok(Err(Response::Refused(format!(
            "unknown remediation `{id}`"
        ))));
    };
    if rec.state != state {
        return Ok(Err(Response::Refused(format!(
            "remediation `{id}` is {}, not {}",
            rec.state.as_str(),
            state.as_str()
        ))));
    }
    Ok(Ok(rec))
}

fn finish(
    kv: &mut KvTxn<'_>,
    id: &RemediationId,
    at_ms: i64,
    outcome: Outcome,
    output_tail: String,
) -> Result<Response, KvError> {
    let mut rec = match load_in_state(kv, id, RemediationState::Running)? {
        Ok(rec) => rec,
        Err(refused) => return Ok(refused),
    };
    match outcome {
        Outcome::Succeeded { exit_code } => {
            rec.state = RemediationState::Succeeded;
            rec.exit_code = Some(exit_code);
        }
        Outcome::Failed { exit_code, reason } => {
            rec.state = RemediationState::Failed;
            rec.exit_code = exit_code;
            rec.reason = Some(reason);
        }
    }
    rec.finished_at_ms = Some(at_ms);
    rec.output_tail = output_tail;
    save_remediation(kv, &rec)?;
    hourly::remediation_ended(kv, &rec)?;
    update_stats(kv, &rec, false)?;
    Ok(Response::Done)
}

fn interrupt(
    kv: &mut KvTxn<'_>,
    id: &RemediationId,
    at_ms: i64,
    reason: String,
) -> Result<Response, KvError> {
    let mut rec = match load_in_state(kv, id, RemediationState::Running)? {
        Ok(rec) => rec,
        Err(refused) => return Ok(refused),
    };
    rec.state = RemediationState::Interrupted;
    rec.reason = Some(reason);
    rec.finished_at_ms = Some(at_ms);
    save_remediation(kv, &rec)?;
    hourly::remediation_ended(kv, &rec)?;
    update_stats(kv, &rec, false)?;
    Ok(Response::Done)
}

/// Count an execution (`started`) or record how the last one ended.
fn update_stats(kv: &mut KvTxn<'_>, rec: &RemediationRecord, started: bool) -> Result<(), KvError> {
    let key = keys::with_str(keys::OPERARIUS_STATS, &rec.operarius);
    let mut stats: OperariusStats = kv.get_as(&key)?.unwrap_or_default();
    if started {
        stats.execution_count += 1;
        stats.last_execution_ms = rec.started_at_ms;
        stats.last_job_name = Some(rec.job_name.clone());
    }
    stats.last_status = Some(rec.state);
    kv.put_as(&key, &stats)
}

fn prune(
    kv: &mut KvTxn<'_>,
    keep_alerts: u64,
    max_remove: u64,
    now_ms: i64,
) -> Result<Response, KvError> {
    let live = kv.get_as::<u64>(keys::LIVE_ALERTS)?.unwrap_or(0);
    let excess = live.saturating_sub(keep_alerts).min(max_remove);
    let mut alerts = 0;
    let mut remediations = 0;
    if excess > 0 {
        for (key, value) in kv.scan_prefix(keys::ALERT, excess as usize)? {
            let rec: AlertRecord = openfero_raft::codec::decode(&value)?;
            for rid in &rec.remediations {
                if let Some(r) = load_remediation(kv, rid)? {
                    // Open remediations outlive their alert until they finish.
                    if r.state.is_terminal() {
                        hourly::remediation_removed(kv, &r)?;
                        kv.delete(&keys::with_seq(keys::REMEDIATION, r.seq));
                        kv.delete(&keys::with_str(keys::REMEDIATION_ID, rid.as_str()));
                        remediations += 1;
                    }
                }
            }
            hourly::alert_removed(kv, &rec)?;
            kv.delete(&keys::with_str(keys::EVENT, rec.event_id.as_str()));
            kv.delete(&key);
            alerts += 1;
        }
        kv.put_as(keys::LIVE_ALERTS, &(live - alerts))?;
    }
    hourly::drop_old(kv, now_ms, max_remove as usize)?;
    let mut cooldowns = 0;
    for (key, value) in kv.scan_prefix(keys::COOLDOWN, max_remove as usize)? {
        let until: i64 = openfero_raft::codec::decode(&value)?;
        if until <= now_ms {
            kv.delete(&key);
            cooldowns += 1;
        }
    }
    Ok(Response::Pruned {
        alerts,
        remediations,
        cooldowns,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use openfero_raft::{ApplyContext, KvTxn, StateMachine};

    use super::*;
    use crate::operarios::Operarius;
    use crate::remediation::command::Notification;

    const OP: &str = r#"
apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata: {name: restart, namespace: ops}
spec:
  alertSelector: {alertname: Crash, status: firing}
  deduplication: {enabled: true, ttl: 60}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: c
              image: busybox
              command: ["/bin/echo", "{{ .Labels.pod }}"]
"#;

    struct Harness {
        _dir: tempfile::TempDir,
        tree: sled::Tree,
        index: u64,
    }

    impl Harness {
        fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let db = sled::open(dir.path()).expect("open");
            let tree = db.open_tree("sm").expect("tree");
            Self {
                _dir: dir,
                tree,
                index: 0,
            }
        }

        /// Apply one command as leader (term 1, node 7) and commit its writes.
        fn apply(&mut self, c: CommandV1) -> Response {
            self.apply_as(c, 1, 7)
        }

        fn apply_as(&mut self, c: CommandV1, term: u64, leader: u64) -> Response {
            self.index += 1;
            let mut txn = KvTxn::new_for_tests(&self.tree);
            let ctx = ApplyContext {
                index: self.index,
                term,
                leader,
            };
            let r = RemediationMachine
                .apply(&mut txn, ctx, Command::V1(c))
                .expect("apply");
            txn.commit_for_tests().expect("commit");
            r
        }
    }

    fn catalog(yaml: &str) -> CommandV1 {
        let op: Operarius = serde_yaml::from_str(yaml).expect("operarius");
        let def = op.to_def("default").expect("valid");
        CommandV1::SyncOperarios {
            catalog: vec![def],
            fingerprint: "fp".into(),
        }
    }

    fn ingest(at_ms: i64, alerts: &[(&str, &str, &str)]) -> CommandV1 {
        CommandV1::IngestAlerts(Ingest {
            received_at_ms: at_ms,
            received_by: 7,
            notification: Notification {
                version: "4".into(),
                group_key: "g".into(),
                truncated_alerts: 0,
                status: "firing".into(),
                receiver: "r".into(),
                group_labels: BTreeMap::new(),
                common_labels: BTreeMap::new(),
                common_annotations: BTreeMap::new(),
                external_url: String::new(),
            },
            alerts: alerts
                .iter()
                .map(|(pod, status, starts)| AlertEvent {
                    fingerprint: format!("fp-{pod}"),
                    status: status.to_string(),
                    labels: [("alertname", "Crash"), ("pod", pod)]
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    annotations: BTreeMap::new(),
                    starts_at: starts.to_string(),
                    ends_at: String::new(),
                    generator_url: String::new(),
                })
                .collect(),
        })
    }

    fn summary(r: Response) -> IngestSummary {
        match r {
            Response::Ingested(s) => s,
            other => panic!("expected ingest summary, got {other:?}"),
        }
    }

    #[test]
    fn duplicate_delivery_creates_one_remediation() {
        let mut h = Harness::new();
        h.apply(catalog(OP));
        let first = summary(h.apply(ingest(1_000, &[("a", "firing", "2024-01-01T00:00:00Z")])));
        let again = summary(h.apply(ingest(2_000, &[("a", "firing", "2024-01-01T00:00:00Z")])));
        assert!(first.alerts[0].new);
        assert!(!again.alerts[0].new);
        assert_eq!(first.alerts[0].remediations.len(), 1);
        assert_eq!(first.alerts[0].remediations, again.alerts[0].remediations);
        assert_eq!(first.alerts[0].event_id, again.alerts[0].event_id);
    }

    #[test]
    fn grouped_alerts_fan_out_with_their_own_status() {
        let mut h = Harness::new();
        h.apply(catalog(OP));
        let s = summary(h.apply(ingest(
            1_000,
            &[
                ("a", "firing", "2024-01-01T00:00:00Z"),
                ("b", "resolved", "2024-01-01T00:00:00Z"),
            ],
        )));
        assert_eq!(s.alerts.len(), 2);
        assert_eq!(s.alerts[0].status, "firing");
        assert_eq!(s.alerts[0].remediations.len(), 1, "firing alert matches");
        assert_eq!(s.alerts[1].status, "resolved");
        assert!(
            s.alerts[1].remediations.is_empty(),
            "selector wants firing only"
        );
    }

    #[test]
    fn cooldown_skips_a_new_event_of_the_same_alert_until_it_expires() {
        let mut h = Harness::new();
        h.apply(catalog(OP));
        let a = summary(h.apply(ingest(1_000, &[("a", "firing", "2024-01-01T00:00:00Z")])));
        assert_eq!(a.alerts[0].remediations[0].state, RemediationState::Pending);
        let b = summary(h.apply(ingest(30_000, &[("a", "firing", "2024-01-01T00:05:00Z")])));
        assert_eq!(b.alerts[0].remediations[0].state, RemediationState::Skipped);
        let other = summary(h.apply(ingest(30_000, &[("z", "firing", "2024-01-01T00:05:00Z")])));
        assert_eq!(
            other.alerts[0].remediations[0].state,
            RemediationState::Pending,
            "per fingerprint"
        );
        let c = summary(h.apply(ingest(62_000, &[("a", "firing", "2024-01-01T00:09:00Z")])));
        assert_eq!(c.alerts[0].remediations[0].state, RemediationState::Pending);
    }

    fn history(h: &Harness) -> crate::remediation::History {
        crate::remediation::History::new(openfero_raft::KvReader::new_for_tests(h.tree.clone()))
    }

    fn ingest_of(c: CommandV1) -> Ingest {
        match c {
            CommandV1::IngestAlerts(i) => i,
            other => panic!("not an ingest: {other:?}"),
        }
    }

    #[test]
    fn preview_decides_what_apply_decides_and_writes_nothing() {
        use crate::remediation::{preview, Verdict};
        let mut h = Harness::new();
        h.apply(catalog(OP));
        let before: Vec<_> = h.tree.iter().collect::<Result<_, _>>().expect("scan");

        let first = ingest(
            1_000,
            &[
                ("a", "firing", "2024-01-01T00:00:00Z"),
                ("b", "resolved", "2024-01-01T00:00:00Z"),
            ],
        );
        let p = preview(&history(&h), &ingest_of(first.clone())).expect("preview");
        let after: Vec<_> = h.tree.iter().collect::<Result<_, _>>().expect("scan");
        assert_eq!(before, after, "a preview writes nothing");
        assert_eq!(p.catalog_size, 1);
        assert_eq!(p.alerts[0].verdict(), Verdict::Runs);
        assert_eq!(p.alerts[1].verdict(), Verdict::NoMatch);
        let chosen = p.alerts[0].selected().expect("selected").clone();
        assert_eq!(chosen.operarius, "ops/restart");
        let job = chosen.rendered.as_ref().expect("rendered");
        assert_eq!(job.command, vec!["/bin/echo", "a"]);

        // Apply decides the same remediation, job name and rendering.
        let s = summary(h.apply(first.clone()));
        let rec = history(&h)
            .remediation(&s.alerts[0].remediations[0].id)
            .expect("read")
            .expect("exists");
        assert_eq!(rec.id, chosen.remediation_id);
        assert_eq!(rec.job_name, chosen.job_name);
        assert_eq!(rec.rendered.as_ref(), Some(job));

        let again = preview(&history(&h), &ingest_of(first)).expect("preview");
        assert_eq!(again.alerts[0].verdict(), Verdict::AlreadyRecorded);
        let later = preview(
            &history(&h),
            &ingest_of(ingest(30_000, &[("a", "firing", "2024-01-01T00:05:00Z")])),
        )
        .expect("preview");
        assert_eq!(
            later.alerts[0].verdict(),
            Verdict::Skipped,
            "within the 60 s cooldown"
        );
        let s = summary(h.apply(ingest(30_000, &[("a", "firing", "2024-01-01T00:05:00Z")])));
        assert_eq!(s.alerts[0].remediations[0].state, RemediationState::Skipped);
    }

    #[test]
    fn hourly_counts_equal_a_scan_through_ingest_finish_interrupt_and_prune() {
        use crate::remediation::hourly::{HourCounts, HOUR_MS};
        let mut h = Harness::new();
        h.apply(catalog(&OP.replace("ttl: 60", "ttl: 0")));
        let t0 = 1_000 * HOUR_MS;
        let check = |h: &Harness, what: &str| {
            let hist = history(h);
            let counted = hist.hourly(990, 1010).expect("counts");
            assert_eq!(
                counted,
                hist.hourly_by_scan(990, 1010).expect("scan"),
                "{what}"
            );
            counted
        };
        // Alerts over three hours, in arrival order; each firing one gets a remediation.
        let mut ids = Vec::new();
        for (i, at) in [t0 + 5, t0 + 10, t0 + HOUR_MS + 1, t0 + 3 * HOUR_MS - 1]
            .iter()
            .enumerate()
        {
            let pod = format!("p{i}");
            let status = if i == 1 { "resolved" } else { "firing" };
            let s = summary(h.apply(ingest(
                *at,
                &[(pod.as_str(), status, "2024-01-01T00:00:00Z")],
            )));
            ids.extend(s.alerts[0].remediations.iter().map(|r| r.id.clone()));
        }
        check(&h, "after ingest");
        let leader = LeaderId { term: 1, node: 7 };
        for (n, id) in ids.iter().enumerate() {
            h.apply(CommandV1::Start {
                id: id.clone(),
                at_ms: t0 + 20,
                leader,
                executor: "n".into(),
            });
            if n == 2 {
                h.apply(CommandV1::Interrupt {
                    id: id.clone(),
                    at_ms: t0 + 30,
                    reason: "gone".into(),
                });
            } else {
                h.apply(CommandV1::Finish {
                    id: id.clone(),
                    at_ms: t0 + 30,
                    outcome: if n == 0 {
                        Outcome::Succeeded { exit_code: 0 }
                    } else {
                        Outcome::Failed {
                            exit_code: Some(1),
                            reason: "x".into(),
                        }
                    },
                    output_tail: String::new(),
                });
            }
        }
        let counts = check(&h, "after finish and interrupt");
        assert_eq!(
            counts[10],
            HourCounts {
                firing: 1,
                resolved: 1,
                succeeded: 1,
                failed: 0
            }
        );
        assert_eq!(
            counts[11],
            HourCounts {
                firing: 1,
                resolved: 0,
                succeeded: 0,
                failed: 1
            }
        );
        assert_eq!(
            counts[12],
            HourCounts {
                firing: 1,
                resolved: 0,
                succeeded: 0,
                failed: 1
            }
        );
        h.apply(CommandV1::Prune {
            keep_alerts: 2,
            max_remove: 100,
            now_ms: t0 + 3 * HOUR_MS,
        });
        let counts = check(&h, "after prune");
        assert_eq!(
            counts[10],
            HourCounts::default(),
            "both alerts of that hour pruned"
        );

        // A store written before the counts existed: the next command builds them.
        let hourly_keys: Vec<_> = h
            .tree
            .iter()
            .keys()
            .map(|k| k.expect("key"))
            .filter(|k| k[1..].starts_with(keys::HOURLY) || k[1..] == *keys::HOURLY_READY)
            .collect();
        assert!(!hourly_keys.is_empty());
        for k in hourly_keys {
            h.tree.remove(k).expect("remove");
        }
        check(&h, "old store, read by scan");
        h.apply(CommandV1::SetAutopilot { paused: false });
        assert!(history(&h).hourly(1010, 1010).is_ok());
        let rebuilt = check(&h, "rebuilt");
        assert_eq!(rebuilt, counts);

        // Hours older than two days are dropped by the next prune.
        h.apply(CommandV1::Prune {
            keep_alerts: 100,
            max_remove: 100,
            now_ms: t0 + 100 * HOUR_MS,
        });
        assert_eq!(
            history(&h).hourly(1000, 1002).expect("counts"),
            vec![HourCounts::default(); 3]
        );
    }

    #[test]
    fn start_finish_and_fencing_follow_the_state_machine() {
        let mut h = Harness::new();
        h.apply(catalog(OP));
        let s = summary(h.apply(ingest(1_000, &[("a", "firing", "2024-01-01T00:00:00Z")])));
        let id = s.alerts[0].remediations[0].id.clone();
        let leader = LeaderId { term: 1, node: 7 };
        // Finishing before starting is refused.
        let r = h.apply(CommandV1::Finish {
            id: id.clone(),
            at_ms: 2,
            outcome: Outcome::Succeeded { exit_code: 0 },
            output_tail: String::new(),
        });
        assert!(matches!(r, Response::Refused(_)), "{r:?}");
        // A start proposed by a deposed leader is refused even though it was committed.
        let r = h.apply_as(
            CommandV1::Start {
                id: id.clone(),
                at_ms: 2,
                leader,
                executor: "n".into(),
            },
            2,
            8,
        );
        assert!(
            matches!(r, Response::Refused(ref m) if m.contains("stale leader")),
            "{r:?}"
        );
        let start = CommandV1::Start {
            id: id.clone(),
            at_ms: 3,
            leader,
            executor: "n".into(),
        };
        assert_eq!(h.apply(start.clone()), Response::Done);
        assert!(
            matches!(h.apply(start), Response::Refused(_)),
            "started once only"
        );
        let r = h.apply(CommandV1::Finish {
            id: id.clone(),
            at_ms: 4,
            outcome: Outcome::Failed {
                exit_code: Some(2),
                reason: "exited with code 2".into(),
            },
            output_tail: "boom".into(),
        });
        assert_eq!(r, Response::Done);
        let reader = openfero_raft::KvReader::new_for_tests(h.tree.clone());
        let rec = crate::remediation::History::new(reader)
            .remediation(&id)
            .expect("read")
            .expect("exists");
        assert_eq!(rec.state, RemediationState::Failed);
        assert_eq!(rec.exit_code, Some(2));
        assert_eq!(rec.output_tail, "boom");
        assert_eq!(rec.started_by, Some(leader));
        let r = h.apply(CommandV1::Interrupt {
            id,
            at_ms: 5,
            reason: "x".into(),
        });
        assert!(
            matches!(r, Response::Refused(_)),
            "terminal states are final"
        );
    }

    #[test]
    fn missing_template_key_fails_the_remediation_with_the_reason() {
        let mut h = Harness::new();
        h.apply(catalog(&OP.replace(".Labels.pod", ".Labels.container")));
        let s = summary(h.apply(ingest(1_000, &[("a", "firing", "2024-01-01T00:00:00Z")])));
        let r = &s.alerts[0].remediations[0];
        assert_eq!(r.state, RemediationState::Failed);
        let reader = openfero_raft::KvReader::new_for_tests(h.tree.clone());
        let rec = crate::remediation::History::new(reader)
            .remediation(&r.id)
            .expect("read")
            .expect("exists");
        assert!(
            rec.reason.as_deref().unwrap_or("").contains("container"),
            "{:?}",
            rec.reason
        );
    }

    #[test]
    fn prune_keeps_the_newest_alerts_and_open_remediations() {
        let mut h = Harness::new();
        h.apply(catalog(OP));
        for i in 0..10 {
            let pod = format!("p{i}");
            h.apply(ingest(
                1_000 + i,
                &[(pod.as_str(), "firing", "2024-01-01T00:00:00Z")],
            ));
        }
        let r = h.apply(CommandV1::Prune {
            keep_alerts: 4,
            max_remove: 100,
            now_ms: 10_000_000,
        });
        // All ten remediations are still pending, so none of them is removed.
        assert_eq!(
            r,
            Response::Pruned {
                alerts: 6,
                remediations: 0,
                cooldowns: 10
            }
        );
        let reader = openfero_raft::KvReader::new_for_tests(h.tree.clone());
        let history = crate::remediation::History::new(reader);
        assert_eq!(history.live_alerts().expect("count"), 4);
        let alerts = history
            .alerts(&crate::remediation::AlertFilter::default(), 100)
            .expect("list");
        let pods: Vec<&str> = alerts.iter().map(|a| a.labels["pod"].as_str()).collect();
        assert_eq!(pods, vec!["p9", "p8", "p7", "p6"]);
        assert_eq!(history.open_remediations().expect("open").len(), 10);
        // A pruned event is forgotten: re-delivering it records it again.
        let s = summary(h.apply(ingest(2_000, &[("p0", "firing", "2024-01-01T00:00:00Z")])));
        assert!(s.alerts[0].new);
    }
}
