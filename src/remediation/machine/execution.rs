//! Execution: the leader's intent (`Start`, fenced by leader id), outcomes (`Finish`) and
//! interrupted runs, and the per-operarius statistics they keep. An ended run releases its
//! limits (`limits::released`).

use openfero_raft::{ApplyContext, KvError, KvTxn};

use super::super::command::{LeaderId, Outcome, Response};
use super::super::hourly;
use super::super::keys;
use super::super::record::{OperariusStats, RemediationRecord, RemediationState};
use super::limits::{clock, released};
use super::{load_remediation, save_remediation};
use crate::ids::RemediationId;

pub(super) fn start(
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

pub(super) fn finish(
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
    let now = clock(kv, at_ms)?;
    released(kv, &rec, now)?;
    Ok(Response::Done)
}

pub(super) fn interrupt(
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
    let now = clock(kv, at_ms)?;
    released(kv, &rec, now)?;
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
