//! What apply would decide for a webhook, computed on the read side: nothing is proposed, stored
//! or run. The operarius "try it" of the API and the UI.
//!
//! It goes through the functions apply uses — the alert context, candidate selection and
//! priority, template rendering, job names, the cooldown rule — against the *replicated*
//! catalog, which is what apply matches against.

use openfero_raft::KvError;

use super::command::Ingest;
use super::job_name::job_name;
use super::machine::{active_cooldown, alert_context, cooldown_reason, rehearse_decision};
use super::query::History;
use super::record::RemediationState;
use crate::ids::{EventId, Fingerprint, RemediationId};
use crate::operarios::{
    claim, claimants, closest_miss, AlertContext, Claimant, RenderError, RenderedJob,
};

/// The decision for every alert of one webhook.
#[derive(Debug, Clone)]
pub struct Preview {
    /// Fingerprint of the replicated catalog evaluated (`None`: no catalog replicated yet).
    pub catalog_fingerprint: Option<String>,
    /// Operarios in that catalog.
    pub catalog_size: usize,
    pub alerts: Vec<AlertPreview>,
}

/// One alert of the webhook and every operarius matching it, best first.
#[derive(Debug, Clone)]
pub struct AlertPreview {
    pub event_id: EventId,
    pub alert: AlertContext,
    /// The sequence number of this event if it is already recorded: a delivery changes nothing.
    pub recorded_seq: Option<u64>,
    pub candidates: Vec<CandidatePreview>,
    /// When no operarius matches: the one that came closest and the first condition it fails.
    pub closest: Option<(String, String)>,
}

/// One matching operarius and what it would run for the alert.
#[derive(Debug, Clone)]
pub struct CandidatePreview {
    /// `namespace/name`.
    pub operarius: String,
    pub namespace: String,
    pub priority: i32,
    pub enabled: bool,
    /// The one apply picks (enabled, highest priority, then smallest key).
    pub selected: bool,
    pub remediation_id: RemediationId,
    pub job_name: String,
    /// Set when a cooldown would skip this operarius now: the reason, as apply records it.
    pub cooldown: Option<String>,
    pub rendered: Result<RenderedJob, RenderError>,
    /// For the selected operarius: what apply would decide now — state and reason — from
    /// apply's own code run over a transaction that is never committed (cooldown, openfero's
    /// own objects, policy, mode, approval, breaker, budgets, concurrency, pause).
    pub decision: Option<(RemediationState, Option<String>)>,
}

/// What a delivery of the alert would lead to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The event is recorded already: a re-delivery changes nothing.
    AlreadyRecorded,
    NoMatch,
    /// Operarios match, but none of them is enabled.
    OnlyDisabled,
    /// A cooldown skips the selected operarius (or the alert is about openfero's own Job).
    Skipped,
    /// The selected operarius is invalid, or its templates cannot be rendered for the alert.
    Failed,
    /// A pending remediation of the selected operarius.
    Runs,
    /// Waits for a concurrency slot or the end of a pause, then runs.
    Queued,
    /// A budget window is full or the loop breaker is open.
    Held,
    /// The rendered Job breaks the policy.
    Refused,
    /// Rendered and recorded, not created (mode dry-run or shadow).
    DryRun,
    /// Waits for an operator's approval.
    AwaitingApproval,
}

impl Verdict {
    /// A stable code for the API.
    pub fn code(self) -> &'static str {
        match self {
            Verdict::AlreadyRecorded => "alreadyRecorded",
            Verdict::NoMatch => "noMatch",
            Verdict::OnlyDisabled => "onlyDisabled",
            Verdict::Skipped => "skipped",
            Verdict::Failed => "failed",
            Verdict::Runs => "runs",
            Verdict::Queued => "queued",
            Verdict::Held => "held",
            Verdict::Refused => "refused",
            Verdict::DryRun => "dryRun",
            Verdict::AwaitingApproval => "awaitingApproval",
        }
    }
}

impl AlertPreview {
    pub fn selected(&self) -> Option<&CandidatePreview> {
        self.candidates.iter().find(|c| c.selected)
    }

    pub fn verdict(&self) -> Verdict {
        if self.recorded_seq.is_some() {
            return Verdict::AlreadyRecorded;
        }
        let selected = match self.selected() {
            None if self.candidates.is_empty() => return Verdict::NoMatch,
            None => return Verdict::OnlyDisabled,
            Some(c) => c,
        };
        match selected.decision.as_ref().map(|(s, _)| *s) {
            Some(RemediationState::Skipped) => Verdict::Skipped,
            Some(RemediationState::Queued) => Verdict::Queued,
            Some(RemediationState::Held) => Verdict::Held,
            Some(RemediationState::Refused) => Verdict::Refused,
            Some(RemediationState::DryRun) => Verdict::DryRun,
            Some(RemediationState::AwaitingApproval) => Verdict::AwaitingApproval,
            Some(RemediationState::Failed) => Verdict::Failed,
            Some(_) => Verdict::Runs,
            None if selected.cooldown.is_some() => Verdict::Skipped,
            None if selected.rendered.is_err() => Verdict::Failed,
            None => Verdict::Runs,
        }
    }
}

/// Evaluate `ingest` (stamped with the time to evaluate cooldowns at) against the replicated
/// catalog. Reads only.
pub fn preview(history: &History, ingest: &Ingest) -> Result<Preview, KvError> {
    let (catalog, catalog_fingerprint) = history.catalog()?;
    let broken = history.broken_operarios()?;
    let now = ingest.received_at_ms;
    let mut alerts = Vec::with_capacity(ingest.alerts.len());
    for ev in &ingest.alerts {
        let alert = alert_context(ingest, ev);
        let event_id = EventId::derive(
            &Fingerprint(ev.fingerprint.clone()),
            &ev.starts_at,
            &ev.status,
        );
        let claimed = claim(&catalog, &broken, &alert);
        let chosen = claimed.map(|c| c.key());
        let decision = match claimed {
            Some(c) => {
                let mut txn = history.rehearsal();
                Some(rehearse_decision(&mut txn, ingest, &event_id, &alert, c)?)
            }
            None => None,
        };
        let mut found = Vec::new();
        for claimant in claimants(&catalog, &broken, &alert) {
            let key = claimant.key();
            let remediation_id = RemediationId::derive(&event_id, &key);
            let (cooldown, rendered) = match claimant {
                Claimant::Valid(def) => {
                    let until = match def.cooldown_secs {
                        Some(s) if s > 0 => history.cooldown_until(&key, &alert.fingerprint)?,
                        _ => None,
                    };
                    (
                        active_cooldown(def, until, now)
                            .map(|u| cooldown_reason(def, &alert.fingerprint, u)),
                        crate::operarios::render(def, &alert),
                    )
                }
                Claimant::Broken(b) => (None, Err(b.error())),
            };
            let selected = chosen.as_deref() == Some(key.as_str());
            found.push(CandidatePreview {
                selected,
                decision: if selected { decision.clone() } else { None },
                job_name: job_name(claimant.name(), &remediation_id),
                cooldown,
                rendered,
                operarius: key,
                namespace: claimant.namespace().to_owned(),
                priority: claimant.priority(),
                enabled: claimant.enabled(),
                remediation_id,
            });
        }
        let closest = if found.is_empty() {
            closest_miss(&catalog, &alert)
        } else {
            None
        };
        alerts.push(AlertPreview {
            recorded_seq: history.event_seq(&event_id)?,
            event_id,
            alert,
            candidates: found,
            closest,
        });
    }
    Ok(Preview {
        catalog_fingerprint,
        catalog_size: catalog.len(),
        alerts,
    })
}

/// Why a recorded alert has no remediation, said against `catalog` (the catalog now, which may
/// differ from the one it was matched against when it arrived).
pub fn why_unclaimed(catalog: &[crate::operarios::OperariusDef], a: &super::AlertRecord) -> String {
    let alert = AlertContext {
        status: a.status.clone(),
        labels: a.labels.clone(),
        fingerprint: a.fingerprint.clone(),
        ..AlertContext::default()
    };
    if let Some(def) = crate::operarios::candidates(catalog, &alert).first() {
        return if def.enabled {
            format!(
                "no operarius matched when it arrived; `{}` matches it now",
                def.key()
            )
        } else {
            format!("only `{}` matches, and it is disabled", def.key())
        };
    }
    match closest_miss(catalog, &alert) {
        Some((key, why)) => format!("no operarius matches; closest is `{key}`: {why}"),
        None => "no operarius matches: the catalog is empty".to_owned(),
    }
}
