//! The replicated state machine: every decision about an alert is taken here, in apply, from the
//! log alone — so every replica decides the same.

use openfero_raft::{ApplyContext, KvError, KvTxn, StateMachine};

use super::command::{
    AlertEvent, Command, CommandV1, Ingest, IngestSummary, IngestedAlert, LeaderId, Outcome,
    RemediationRef, Response,
};
use super::job_name::job_name;
use super::keys;
use super::record::{AlertRecord, RemediationRecord, RemediationState};
use crate::ids::{EventId, Fingerprint, RemediationId};
use crate::operarios::{render, select, AlertContext, OperariusDef};

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
        match command {
            Command::V1(c) => match c {
                CommandV1::IngestAlerts(ingest) => ingest_alerts(kv, ctx, ingest),
                CommandV1::SyncOperarios {
                    catalog,
                    fingerprint,
                } => {
                    kv.put_as(keys::CATALOG, &catalog)?;
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

fn alert_context(ingest: &Ingest, ev: &AlertEvent) -> AlertContext {
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
    }
}

fn ingest_alerts(
    kv: &mut KvTxn<'_>,
    ctx: ApplyContext,
    ingest: Ingest,
) -> Result<Response, KvError> {
    let catalog: Vec<OperariusDef> = kv.get_as(keys::CATALOG)?.unwrap_or_default();
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
        if let Some(def) = select(&catalog, &alert_ctx) {
            let rec = decide(kv, &ingest, &event_id, seq, &alert_ctx, def)?;
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

/// Decide what happens to a new event matched by `def`: pending, skipped (cooldown) or failed
/// (the template cannot be rendered for this alert).
fn decide(
    kv: &mut KvTxn<'_>,
    ingest: &Ingest,
    event_id: &EventId,
    alert_seq: u64,
    alert: &AlertContext,
    def: &OperariusDef,
) -> Result<RemediationRecord, KvError> {
    let key = def.key();
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
        namespace: def.namespace.clone(),
        job_name: job_name(&def.name, &id),
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
    let cooldown_key = keys::cooldown(&key, &alert.fingerprint);
    if let Some(secs) = def.cooldown_secs.filter(|s| *s > 0) {
        if let Some(until) = kv.get_as::<i64>(&cooldown_key)? {
            if now < until {
                rec.state = RemediationState::Skipped;
                rec.reason = Some(format!(
                    "cooldown: `{key}` already remediated alert `{}` within {secs}s (until {})",
                    alert.fingerprint,
                    crate::time::format_ms(until)
                ));
                rec.finished_at_ms = Some(now);
                return Ok(rec);
            }
        }
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

fn start(
    kv: &mut KvTxn<'_>,
    ctx: ApplyContext,
    id: &RemediationId,
    at_ms: i64,
    leader: LeaderId,
    executor: String,
) -> Result<Response, KvError> {
    let Some(mut rec) = load_remediation(kv, id)? else {
        return Ok(Response::Refused(format!("unknown remediation `{id}`")));
    };
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
    if rec.state != RemediationState::Pending {
        return Ok(Response::Refused(format!(
            "remediation `{id}` is {}, not pending",
            rec.state.as_str()
        )));
    }
    rec.state = RemediationState::Running;
    rec.started_at_ms = Some(at_ms);
    rec.started_by = Some(leader);
    rec.executor = Some(executor);
    rec.start_index = Some(ctx.index);
    save_remediation(kv, &rec)?;
    Ok(Response::Done)
}

fn finish(
    kv: &mut KvTxn<'_>,
    id: &RemediationId,
    at_ms: i64,
    outcome: Outcome,
    output_tail: String,
) -> Result<Response, KvError> {
    let Some(mut rec) = load_remediation(kv, id)? else {
        return Ok(Response::Refused(format!("unknown remediation `{id}`")));
    };
    if rec.state != RemediationState::Running {
        return Ok(Response::Refused(format!(
            "remediation `{id}` is {}, not running",
            rec.state.as_str()
        )));
    }
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
    Ok(Response::Done)
}

fn interrupt(
    kv: &mut KvTxn<'_>,
    id: &RemediationId,
    at_ms: i64,
    reason: String,
) -> Result<Response, KvError> {
    let Some(mut rec) = load_remediation(kv, id)? else {
        return Ok(Response::Refused(format!("unknown remediation `{id}`")));
    };
    if rec.state != RemediationState::Running {
        return Ok(Response::Refused(format!(
            "remediation `{id}` is {}, not running",
            rec.state.as_str()
        )));
    }
    rec.state = RemediationState::Interrupted;
    rec.reason = Some(reason);
    rec.finished_at_ms = Some(at_ms);
    save_remediation(kv, &rec)?;
    Ok(Response::Done)
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
                        kv.delete(&keys::with_seq(keys::REMEDIATION, r.seq));
                        kv.delete(&keys::with_str(keys::REMEDIATION_ID, rid.as_str()));
                        remediations += 1;
                    }
                }
            }
            kv.delete(&keys::with_str(keys::EVENT, rec.event_id.as_str()));
            kv.delete(&key);
            alerts += 1;
        }
        kv.put_as(keys::LIVE_ALERTS, &(live - alerts))?;
    }
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
