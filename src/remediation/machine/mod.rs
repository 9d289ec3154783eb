//! The replicated state machine: every decision about an alert is taken here, in apply, from the
//! log alone — so every replica decides the same.
//!
//! Split by the decision each part takes: `ingest` (what an alert leads to: claim, cooldown,
//! rendering), `controls` (how far it may go on its own: policy, mode, approval, openfero's
//! own objects), `limits` (whether it may run now, later or not: budgets, concurrency, breaker,
//! pause), `execution` (the leader's intents and outcomes, fenced), `retention` (what history
//! is dropped). This file dispatches commands and holds the record helpers they share.

mod controls;
#[cfg(test)]
mod controls_tests;
mod execution;
mod followup;
#[cfg(test)]
mod followup_tests;
mod ingest;
mod limits;
#[cfg(test)]
mod limits_tests;
mod retention;
#[cfg(test)]
mod tests;

use openfero_raft::{ApplyContext, KvError, KvTxn, StateMachine};

use super::command::{Command, CommandV1, Response};
use super::hourly;
use super::keys;
use super::record::RemediationRecord;
use crate::ids::RemediationId;

pub use controls::Awaiting;
use execution::{finish, interrupt, start};
use ingest::ingest_alerts;
pub(super) use ingest::{active_cooldown, alert_context, cooldown_reason, rehearse_decision};
pub use limits::{BreakerRecord, OpenBreaker, PauseState, StoredGuards, StoredGuardsV1};
use retention::prune;

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
                CommandV1::SetAutopilotBy { paused, by } => {
                    kv.put_as(keys::AUTOPILOT_PAUSED, &paused)?;
                    kv.put_as(keys::AUTOPILOT_BY, &by)?;
                    Ok(Response::Done)
                }
                CommandV1::SyncGuards { guards, cluster } => {
                    kv.put_as(
                        keys::GUARDS,
                        &StoredGuardsV1 {
                            operarios: guards,
                            cluster,
                        },
                    )?;
                    kv.delete(keys::RAILS);
                    // Looser limits may free slots for what is queued.
                    limits::promote(kv)?;
                    Ok(Response::Done)
                }
                CommandV1::SyncRails { guards, cluster } => {
                    kv.put_as(
                        keys::RAILS,
                        &StoredGuards {
                            operarios: guards,
                            cluster,
                        },
                    )?;
                    kv.delete(keys::GUARDS);
                    limits::promote(kv)?;
                    Ok(Response::Done)
                }
                CommandV1::Decide {
                    id,
                    approve,
                    by,
                    at_ms,
                } => controls::decide(kv, &id, approve, by, at_ms),
                CommandV1::ExpireApprovals { at_ms } => controls::expire_due(kv, at_ms),
                CommandV1::SyncFollowUps { defs } => {
                    kv.put_as(keys::FOLLOWUP_DEFS, &defs)?;
                    Ok(Response::Done)
                }
                CommandV1::FollowUp { id, at_ms, step } => followup::record(kv, &id, at_ms, step),
                CommandV1::SetPaused { paused, by, at_ms } => {
                    let now = limits::clock(kv, at_ms)?;
                    limits::set_paused(kv, paused, by, now)?;
                    Ok(Response::Done)
                }
                CommandV1::ResetBreaker {
                    operarius,
                    target,
                    by,
                    at_ms,
                } => {
                    let now = limits::clock(kv, at_ms)?;
                    if limits::reset_breaker(kv, operarius.clone(), target.clone(), by, now)? {
                        Ok(Response::Done)
                    } else {
                        Ok(Response::Refused(format!(
                            "no breaker of `{operarius}` on target `{target}` has counted anything"
                        )))
                    }
                }
            },
        }
    }
}

pub(super) fn next_seq(kv: &mut KvTxn<'_>, key: &[u8]) -> Result<u64, KvError> {
    let seq = kv.get_as::<u64>(key)?.unwrap_or(0) + 1;
    kv.put_as(key, &seq)?;
    Ok(seq)
}

pub(super) fn load_remediation(
    kv: &KvTxn<'_>,
    id: &RemediationId,
) -> Result<Option<RemediationRecord>, KvError> {
    let Some(seq) = kv.get_as::<u64>(&keys::with_str(keys::REMEDIATION_ID, id.as_str()))? else {
        return Ok(None);
    };
    kv.get_as(&keys::with_seq(keys::REMEDIATION, seq))
}

pub(super) fn save_remediation(kv: &mut KvTxn<'_>, rec: &RemediationRecord) -> Result<(), KvError> {
    kv.put_as(&keys::with_seq(keys::REMEDIATION, rec.seq), rec)?;
    let open = keys::with_seq(keys::OPEN, rec.seq);
    if rec.state.is_terminal() {
        kv.delete(&open);
    } else {
        kv.put(&open, Vec::new());
    }
    Ok(())
}
