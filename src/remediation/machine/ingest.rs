//! Ingest: what a new alert event leads to — which operarius claims it, whether a cooldown skips
//! it, whether its Job renders. Re-delivered events answer what was recorded the first time.

use openfero_raft::{ApplyContext, KvError, KvTxn};

use super::super::command::{
    AlertEvent, Ingest, IngestSummary, IngestedAlert, RemediationRef, Response,
};
use super::super::hourly;
use super::super::job_name::job_name;
use super::super::keys;
use super::super::record::{AlertRecord, RemediationRecord, RemediationState};
use super::controls::{
    await_approval, chaos_break_guards, policy_refusal, rehearse, self_reference,
};
use super::limits::{admit, clock, StoredGuards};
use super::{load_remediation, next_seq, save_remediation};
use crate::ids::{EventId, Fingerprint, RemediationId};
use crate::operarios::{
    claim, render, AlertContext, BrokenOperarius, Claimant, Mode, OperariusDef,
};

/// The alert as the selector and the templates see it: the event within its notification.
pub(in crate::remediation) fn alert_context(ingest: &Ingest, ev: &AlertEvent) -> AlertContext {
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

pub(super) fn ingest_alerts(
    kv: &mut KvTxn<'_>,
    ctx: ApplyContext,
    ingest: Ingest,
) -> Result<Response, KvError> {
    let catalog: Vec<OperariusDef> = kv.get_as(keys::CATALOG)?.unwrap_or_default();
    let broken: Vec<BrokenOperarius> = kv.get_as(keys::CATALOG_BROKEN)?.unwrap_or_default();
    let guards = StoredGuards::load(kv)?;
    let followups = super::followup::Operarios::load(kv)?;
    let now = clock(kv, ingest.received_at_ms)?;
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
            let rec = decide(
                kv, &ingest, &event_id, seq, &alert_ctx, claimant, &guards, now,
            )?;
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
            followups.opened(kv, &rec);
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

/// What apply would decide now for a new event claimed by `claimant`, run over a transaction
/// that is never committed (the "try it" preview): state and reason.
pub(in crate::remediation) fn rehearse_decision(
    kv: &mut KvTxn<'_>,
    ingest: &Ingest,
    event_id: &EventId,
    alert: &AlertContext,
    claimant: Claimant<'_>,
) -> Result<(RemediationState, Option<String>), KvError> {
    let guards = StoredGuards::load(kv)?;
    let now = clock(kv, ingest.received_at_ms)?;
    let rec = decide(kv, ingest, event_id, 0, alert, claimant, &guards, now)?;
    Ok((rec.state, rec.reason))
}

/// Decide what happens to a new event claimed by `claimant`: skipped (about openfero's own
/// Job, or a cooldown), failed (the operarius is broken, or its template cannot be rendered for
/// this alert), refused (the policy), a rehearsal (dry-run, shadow), awaiting approval, or
/// what the limits say (pending, queued, held). `now` is the decision time ([`clock`]).
#[allow(clippy::too_many_arguments)]
fn decide(
    kv: &mut KvTxn<'_>,
    ingest: &Ingest,
    event_id: &EventId,
    alert_seq: u64,
    alert: &AlertContext,
    claimant: Claimant<'_>,
    guards: &StoredGuards,
    now: i64,
) -> Result<RemediationRecord, KvError> {
    let key = claimant.key();
    let id = RemediationId::derive(event_id, &key);
    let seq = next_seq(kv, keys::NEXT_REMEDIATION_SEQ)?;
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
        created_at_ms: ingest.received_at_ms,
        started_at_ms: None,
        finished_at_ms: None,
        exit_code: None,
        output_tail: String::new(),
        rendered: None,
        started_by: None,
        executor: None,
        start_index: None,
    };
    let rails = guards.of(&key);
    if !rails.self_remediation {
        if let Some(reason) = self_reference(kv, &alert.labels)? {
            rec.state = RemediationState::Skipped;
            rec.reason = Some(reason);
            rec.finished_at_ms = Some(now);
            return Ok(rec);
        }
    }
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
            let alert_ns = alert.labels.get("namespace").map(String::as_str);
            let refusal = policy_refusal(guards, &rendered, &rec.namespace, alert_ns);
            rec.rendered = Some(rendered);
            if let Some(reason) = refusal {
                rec.state = RemediationState::Refused;
                rec.reason = Some(reason);
                rec.finished_at_ms = Some(now);
                return Ok(rec);
            }
            let target = rails.target(&alert.labels);
            let namespace = alert_ns.unwrap_or("");
            let mode = Mode::effective(rails.mode, guards.cluster.mode);
            let approval = rails.approval_ttl_ms.filter(|_| !chaos_break_guards());
            let (state, reason) = match (mode, approval) {
                (Mode::Enforce, Some(ttl)) => {
                    let (s, r) = await_approval(kv, &rec, ttl, target, namespace, now)?;
                    (s, Some(r))
                }
                (Mode::Enforce, None) => admit(kv, &rec, guards, target, namespace, now)?,
                (mode, _) => {
                    let (s, r) = rehearse(kv, &rec, mode, guards, target, namespace, now)?;
                    (s, Some(r))
                }
            };
            rec.state = state;
            rec.reason = reason;
            // Held, and a dry-run, did not remediate: they start no cooldown. Shadow does, as
            // enforcing would have.
            let cools = match state {
                RemediationState::Held => false,
                RemediationState::DryRun => mode == Mode::Shadow,
                _ => true,
            };
            if state.is_terminal() {
                rec.finished_at_ms = Some(now);
            }
            if let Some(secs) = def.cooldown_secs.filter(|s| *s > 0 && cools) {
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
pub(in crate::remediation) fn active_cooldown(
    def: &OperariusDef,
    until: Option<i64>,
    now_ms: i64,
) -> Option<i64> {
    def.cooldown_secs.filter(|s| *s > 0)?;
    until.filter(|u| now_ms < *u)
}

pub(in crate::remediation) fn cooldown_reason(
    def: &OperariusDef,
    fingerprint: &str,
    until: i64,
) -> String {
    format!(
        "cooldown: `{}` already remediated alert `{fingerprint}` within {}s (until {})",
        def.key(),
        def.cooldown_secs.unwrap_or(0),
        crate::time::format_ms(until)
    )
}
