//! What the leader tells Kubernetes about decisions taken in apply: Events on the Operarius
//! (skipped, failed before starting, held, queued, refused by the policy, rehearsed, awaiting
//! approval, a loop breaker opened, a Job created or failed) and the Operarius status from the
//! replicated statistics.
//!
//! The executor loop never waits for these writes: it queues them ([`Reports`]) and one task
//! makes them in order, each bounded by the reporter's timeout. Awaited in the loop, a burst
//! of decisions against a slow API server held every pending remediation back for the sum of
//! the writes (one Event per decision, up to 256 per tick, 5 s each).

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{Epoch, Executor, KubeBackend};
use crate::remediation::RemediationState;
use crate::replica::Replica;
use crate::time::now_ms;

/// A Kubernetes write the executor asked for.
pub(super) enum Report {
    /// Patch the Operarius status from the replicated statistics as they are when it is made.
    Status { operarius: String },
    /// An Event on the Operarius.
    Event {
        operarius: String,
        warning: bool,
        reason: &'static str,
        note: String,
    },
}

/// Writes queued and not yet made; beyond this a report is dropped (they are best effort).
const QUEUE: usize = 4096;

/// The queue in front of the reporting task. Cheap to clone.
#[derive(Clone)]
pub(super) struct Reports {
    tx: mpsc::Sender<Report>,
}

impl Reports {
    /// Start the task that makes the queued writes, one at a time, until `stop`.
    pub(super) fn start(replica: Replica, k: Arc<KubeBackend>, stop: CancellationToken) -> Self {
        let (tx, mut rx) = mpsc::channel::<Report>(QUEUE);
        tokio::spawn(async move {
            loop {
                let report = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = rx.recv() => match r {
                        Some(r) => r,
                        None => return,
                    },
                };
                let write = async {
                    match report {
                        Report::Status { operarius } => {
                            report_stats(&replica, &k, &operarius).await
                        }
                        Report::Event {
                            operarius,
                            warning,
                            reason,
                            note,
                        } => {
                            let (ns, name) = split_key(&operarius);
                            k.reporter.event(ns, name, warning, reason, note).await
                        }
                    }
                };
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = write => {}
                }
            }
        });
        Self { tx }
    }

    /// Queue a write; never waits.
    pub(super) fn send(&self, report: Report) {
        match self.tx.try_send(report) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!("kubernetes status or event dropped: the report queue is full")
            }
            // Shutting down: the reporting task has stopped.
            Err(mpsc::error::TrySendError::Closed(_)) => {
                debug!("kubernetes status or event dropped: shutting down")
            }
        }
    }

    pub(super) fn status(&self, operarius: &str) {
        self.send(Report::Status {
            operarius: operarius.to_string(),
        });
    }

    pub(super) fn event(&self, operarius: &str, warning: bool, reason: &'static str, note: String) {
        self.send(Report::Event {
            operarius: operarius.to_string(),
            warning,
            reason,
            note,
        });
    }
}

impl Executor {
    /// Queue a `BreakerOpened` Event on the Operarius for each loop breaker that opened since
    /// the last look.
    pub(super) fn report_breakers(&self, epoch: &mut Epoch, reports: &Reports) {
        let now = open_breakers(&self.replica);
        let Ok(breakers) = self.replica.history().breakers() else {
            return;
        };
        for b in breakers {
            let Some(open) = &b.open else { continue };
            let key = (b.operarius.clone(), b.target.clone(), open.at_ms);
            if !now.contains(&key) || epoch.breakers_seen.contains(&key) {
                continue;
            }
            reports.event(
                &b.operarius,
                true,
                "BreakerOpened",
                format!(
                    "loop breaker open on target {}: {}; further remediations are held until an operator resets it{}",
                    b.target,
                    open.reason,
                    open.until_ms
                        .map(|u| format!(" or {}", crate::time::format_ms(u)))
                        .unwrap_or_default()
                ),
            );
            epoch.breakers_seen.insert(key);
        }
    }

    /// Queue `Skipped`, `RemediationFailed`, ... Events for remediations decided in apply since
    /// the last look.
    pub(super) fn report_skipped(&self, epoch: &mut Epoch, reports: &Reports) {
        let Ok(recent) = self
            .replica
            .history()
            .remediations_after(epoch.events_cursor, 256)
        else {
            return;
        };
        for rec in recent {
            epoch.events_cursor = rec.seq;
            // Decided in apply without ever starting: skipped by a cooldown, failed because
            // the operarius is invalid or its template cannot be rendered for the alert, held
            // or queued by the guard rails, refused by the policy, rehearsed, or waiting for
            // an operator.
            let (warning, kind) = match rec.state {
                RemediationState::Skipped => (false, "Skipped"),
                RemediationState::Failed if rec.started_at_ms.is_none() => {
                    (true, "RemediationFailed")
                }
                RemediationState::Held => (true, "Held"),
                RemediationState::Queued => (false, "Queued"),
                RemediationState::Refused => (true, "RefusedByPolicy"),
                RemediationState::DryRun => (false, "DryRun"),
                RemediationState::AwaitingApproval => (false, "AwaitingApproval"),
                _ => continue,
            };
            let reason = rec.reason.clone().unwrap_or_default();
            reports.event(
                &rec.operarius,
                warning,
                kind,
                format!("alert {}: {reason}", rec.alertname),
            );
        }
    }
}

/// The loop breakers open now, as (operarius, target, opened at).
pub(super) fn open_breakers(replica: &Replica) -> HashSet<(String, String, i64)> {
    let now = now_ms();
    replica
        .history()
        .breakers()
        .unwrap_or_default()
        .into_iter()
        .filter(|b| b.is_open(now))
        .filter_map(|b| {
            let at = b.open.as_ref()?.at_ms;
            Some((b.operarius, b.target, at))
        })
        .collect()
}

/// Patch the Operarius status from the replicated statistics.
async fn report_stats(replica: &Replica, k: &KubeBackend, operarius: &str) {
    if let Ok(stats) = replica.history().operarius_stats(operarius) {
        let (ns, name) = split_key(operarius);
        k.reporter.patch_status(ns, name, &stats).await;
    }
}

pub(super) fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("default", key))
}
