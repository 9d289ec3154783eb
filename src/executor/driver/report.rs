//! What the leader tells Kubernetes about decisions taken in apply: Events on the Operarius
//! (skipped, failed before starting, held, queued, refused by the policy, rehearsed, awaiting
//! approval, a loop breaker opened) and the Operarius status from the replicated statistics.

use std::collections::HashSet;

use super::{Epoch, Executor, KubeBackend};
use crate::remediation::RemediationState;
use crate::replica::Replica;
use crate::time::now_ms;

impl Executor {
    /// Publish a `BreakerOpened` Event on the Operarius for each loop breaker that opened
    /// since the last look.
    pub(super) async fn report_breakers(&self, epoch: &mut Epoch, k: &KubeBackend) {
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
            let (ns, name) = split_key(&b.operarius);
            k.reporter
                .event(
                    ns,
                    name,
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
                )
                .await;
            epoch.breakers_seen.insert(key);
        }
    }

    /// Publish `Skipped` and `RemediationFailed` Events for remediations decided in apply since
    /// the last look.
    pub(super) async fn report_skipped(&self, epoch: &mut Epoch, k: &KubeBackend) {
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
            let (ns, name) = split_key(&rec.operarius);
            let reason = rec.reason.clone().unwrap_or_default();
            k.reporter
                .event(
                    ns,
                    name,
                    warning,
                    kind,
                    format!("alert {}: {reason}", rec.alertname),
                )
                .await;
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
pub(super) async fn report_stats(replica: &Replica, k: &KubeBackend, operarius: &str) {
    if let Ok(stats) = replica.history().operarius_stats(operarius) {
        let (ns, name) = split_key(operarius);
        k.reporter.patch_status(ns, name, &stats).await;
    }
}

pub(super) fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("default", key))
}
