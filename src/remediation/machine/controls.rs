//! Controls: how far a remediation may go on its own once it is rendered — the policy on its
//! Job, its mode (enforce, dry-run, shadow), a human's approval, and never remediating
//! openfero's own Jobs. Decided in apply, like the limits, from replicated state and
//! proposer-stamped times.

use openfero_raft::{KvError, KvTxn};
use serde::{Deserialize, Serialize};

use super::super::command::Response;
use super::super::hourly;
use super::super::keys;
use super::super::record::{RemediationRecord, RemediationState};
use super::limits::{admit, clock, discharge, StoredGuards};
use super::{load_remediation, save_remediation};
use crate::ids::RemediationId;
use crate::operarios::{Mode, RenderedJob};
use crate::time::format_ms;

/// Test-only fault, compiled only with the cargo feature `chaos-faults` (never in default or
/// release builds): with `OPENFERO_CHAOS_BREAK_GUARDS` set on every node, apply ignores
/// budgets and approvals — what a remediator that decided its limits outside the replicated
/// state might do — so that the chaos checker's guard-rails invariant can be shown to catch it.
pub(super) fn chaos_break_guards() -> bool {
    #[cfg(feature = "chaos-faults")]
    {
        std::env::var_os("OPENFERO_CHAOS_BREAK_GUARDS").is_some()
    }
    #[cfg(not(feature = "chaos-faults"))]
    {
        false
    }
}

/// Awaiting remediations looked at per expiry, so one apply stays bounded.
const EXPIRE_SCAN: usize = 10_000;

/// Label names (as written on Kubernetes objects, and as kube-state-metrics exports them) that
/// mark openfero's own Jobs and pods.
const MANAGED_BY_LABELS: [&str; 3] = [
    "openfero.io/managed-by",
    "label_openfero_io_managed_by",
    "openfero_io_managed_by",
];

/// What a remediation awaiting approval needs when an operator decides: when it expires, and
/// what it counts against if it is approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Awaiting {
    pub deadline_ms: i64,
    pub target: String,
    pub namespace: String,
}

fn awaiting_key(seq: u64) -> Vec<u8> {
    keys::with_seq(keys::AWAITING, seq)
}

/// Why an alert about openfero's own Job or pod is not remediated, if it is one: a label
/// openfero puts on its objects, or a Job or pod name that ends in a recorded remediation id
/// (`<operarius>-<id>`, `<operarius>-<id>-<pod suffix>`).
pub(super) fn self_reference(
    kv: &KvTxn<'_>,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<Option<String>, KvError> {
    for name in MANAGED_BY_LABELS {
        if labels.get(name).map(String::as_str) == Some("openfero") {
            return Ok(Some(format!(
                "self-reference: the alert is about an object openfero manages (`{name}=openfero`); set `selfRemediation: true` to remediate it"
            )));
        }
    }
    for (label, value) in labels {
        for token in value.split('-') {
            let is_id = token.len() == 16
                && token
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if is_id
                && kv
                    .get(&keys::with_str(keys::REMEDIATION_ID, token))?
                    .is_some()
            {
                return Ok(Some(format!(
                    "self-reference: `{label}={value}` is openfero's Job or pod of remediation `{token}`; set `selfRemediation: true` to remediate it"
                )));
            }
        }
    }
    Ok(None)
}

/// The policy's refusal of a rendered Job, if it breaks any rule: every broken rule, joined.
pub(super) fn policy_refusal(
    guards: &StoredGuards,
    rendered: &RenderedJob,
    job_namespace: &str,
    alert_namespace: Option<&str>,
) -> Option<String> {
    let policy = guards.cluster.policy.as_ref()?;
    let template = match serde_json::from_str(&rendered.job_template_json) {
        Ok(t) => t,
        Err(e) => return Some(format!("policy: the rendered Job cannot be read: {e}")),
    };
    let mut namespaces = vec![job_namespace];
    namespaces.extend(alert_namespace.filter(|ns| *ns != job_namespace));
    let violations = policy.violations(&template, &namespaces);
    (!violations.is_empty()).then(|| format!("refused: {}", violations.join("; ")))
}

/// A rendered remediation in a mode other than enforce: dry-run records it and counts
/// nothing; shadow takes the decision enforcing would take (budgets charged, breaker
/// consulted), records it, and frees the slot at once since nothing runs.
pub(super) fn rehearse(
    kv: &mut KvTxn<'_>,
    rec: &RemediationRecord,
    mode: Mode,
    guards: &StoredGuards,
    target: String,
    namespace: &str,
    now: i64,
) -> Result<(RemediationState, String), KvError> {
    if mode == Mode::DryRun {
        return Ok((
            RemediationState::DryRun,
            format!(
                "dry-run: Job `{}` rendered, not created (nothing counted)",
                rec.job_name
            ),
        ));
    }
    let (state, reason) = admit(kv, rec, guards, target, namespace, now)?;
    let would = match state {
        RemediationState::Held => {
            return Ok((
                RemediationState::Held,
                format!("shadow: {}", reason.unwrap_or_default()),
            ))
        }
        RemediationState::Queued => format!(
            "would have queued ({}), then run",
            reason.unwrap_or_default()
        ),
        _ => "would have run".to_owned(),
    };
    discharge(kv, rec.seq)?;
    Ok((
        RemediationState::DryRun,
        format!(
            "shadow: Job `{}` rendered, not created; {would} (counted against budgets)",
            rec.job_name
        ),
    ))
}

/// Park a rendered remediation until an operator decides or `ttl_ms` passes.
pub(super) fn await_approval(
    kv: &mut KvTxn<'_>,
    rec: &RemediationRecord,
    ttl_ms: i64,
    target: String,
    namespace: &str,
    now: i64,
) -> Result<(RemediationState, String), KvError> {
    let deadline_ms = now.saturating_add(ttl_ms);
    kv.put_as(
        &awaiting_key(rec.seq),
        &Awaiting {
            deadline_ms,
            target,
            namespace: namespace.to_owned(),
        },
    )?;
    Ok((
        RemediationState::AwaitingApproval,
        format!(
            "awaiting approval by an operator until {}",
            format_ms(deadline_ms)
        ),
    ))
}

fn expire(
    kv: &mut KvTxn<'_>,
    rec: &mut RemediationRecord,
    deadline_ms: i64,
    now: i64,
) -> Result<(), KvError> {
    kv.delete(&awaiting_key(rec.seq));
    rec.state = RemediationState::Expired;
    rec.reason = Some(format!(
        "expired: nobody approved it before {}",
        format_ms(deadline_ms)
    ));
    rec.finished_at_ms = Some(now);
    save_remediation(kv, rec)?;
    hourly::remediation_ended(kv, rec)
}

/// An operator's decision on a remediation awaiting approval. Approving admits it through the
/// limits at the time of approval (it may still queue or be held); a second decision, or one
/// after the deadline, is refused.
pub(super) fn decide(
    kv: &mut KvTxn<'_>,
    id: &RemediationId,
    approve: bool,
    by: String,
    at_ms: i64,
) -> Result<Response, KvError> {
    let now = clock(kv, at_ms)?;
    let Some(mut rec) = load_remediation(kv, id)? else {
        return Ok(Response::Refused(format!("unknown remediation `{id}`")));
    };
    if rec.state != RemediationState::AwaitingApproval {
        return Ok(Response::Refused(format!(
            "remediation `{id}` is {}, not awaiting approval",
            rec.state.as_str()
        )));
    }
    let Some(waiting) = kv.get_as::<Awaiting>(&awaiting_key(rec.seq))? else {
        return Ok(Response::Refused(format!(
            "remediation `{id}` has no approval record"
        )));
    };
    if now >= waiting.deadline_ms {
        expire(kv, &mut rec, waiting.deadline_ms, now)?;
        return Ok(Response::Refused(format!(
            "remediation `{id}` expired at {}",
            format_ms(waiting.deadline_ms)
        )));
    }
    kv.delete(&awaiting_key(rec.seq));
    let decided = format!(
        "{} by {by} at {}",
        if approve { "approved" } else { "denied" },
        format_ms(now)
    );
    if approve {
        let guards = StoredGuards::load(kv)?;
        let (state, reason) = admit(kv, &rec, &guards, waiting.target, &waiting.namespace, now)?;
        rec.state = state;
        rec.reason = Some(match reason {
            Some(r) => format!("{decided}; {r}"),
            None => decided,
        });
        if state == RemediationState::Held {
            rec.finished_at_ms = Some(now);
        }
    } else {
        rec.state = RemediationState::Denied;
        rec.reason = Some(decided);
        rec.finished_at_ms = Some(now);
    }
    save_remediation(kv, &rec)?;
    hourly::remediation_ended(kv, &rec)?;
    Ok(Response::Done)
}

/// Expire every remediation whose approval deadline has passed at `at_ms` (the leader proposes
/// this when it sees one due).
pub(super) fn expire_due(kv: &mut KvTxn<'_>, at_ms: i64) -> Result<Response, KvError> {
    let now = clock(kv, at_ms)?;
    let due: Vec<(u64, i64)> = kv
        .scan_prefix(keys::AWAITING, EXPIRE_SCAN)?
        .into_iter()
        .filter_map(|(k, v)| {
            let seq = keys::seq_of(&k)?;
            let a: Awaiting = openfero_raft::codec::decode(&v).ok()?;
            (a.deadline_ms <= now).then_some((seq, a.deadline_ms))
        })
        .collect();
    for (seq, deadline_ms) in due {
        let Some(mut rec) =
            kv.get_as::<RemediationRecord>(&keys::with_seq(keys::REMEDIATION, seq))?
        else {
            kv.delete(&awaiting_key(seq));
            continue;
        };
        if rec.state == RemediationState::AwaitingApproval {
            expire(kv, &mut rec, deadline_ms, now)?;
        } else {
            kv.delete(&awaiting_key(seq));
        }
    }
    Ok(Response::Done)
}
