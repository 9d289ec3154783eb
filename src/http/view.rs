//! JSON shapes of the API (camelCase; node ids as hex strings, since JSON numbers lose u64s).

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::node_hex;
use crate::operarios::{BrokenOperarius, OperariusDef, RenderedJob};
use crate::remediation::{
    AlertPreview, AlertRecord, IngestSummary, Preview, RemediationRecord, Verdict,
};
use crate::time::format_ms;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    pub seq: u64,
    pub event_id: String,
    pub fingerprint: String,
    pub status: String,
    pub alertname: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub group_key: String,
    pub receiver: String,
    pub received_at: String,
    pub received_by: String,
    pub log_index: u64,
    pub remediations: Vec<String>,
    /// For an alert without a remediation: why (no operarius matches — the closest one and
    /// the first condition it fails — or only a disabled one does), against today's catalog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl AlertView {
    /// The view with the reason it has no remediation, if it has none.
    pub fn with_why((a, why): (AlertRecord, Option<String>)) -> Self {
        let mut v = Self::from(a);
        v.why = why;
        v
    }
}

impl From<AlertRecord> for AlertView {
    fn from(a: AlertRecord) -> Self {
        Self {
            why: None,
            seq: a.seq,
            event_id: a.event_id.0,
            fingerprint: a.fingerprint,
            status: a.status,
            alertname: a.alertname,
            labels: a.labels,
            annotations: a.annotations,
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            generator_url: a.generator_url,
            group_key: a.group_key,
            receiver: a.receiver,
            received_at: format_ms(a.received_at_ms),
            received_by: node_hex(a.received_by),
            log_index: a.log_index,
            remediations: a.remediations.into_iter().map(|r| r.0).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationView {
    pub id: String,
    pub operarius: String,
    pub namespace: String,
    pub alert_fingerprint: String,
    pub alertname: String,
    pub alert_status: String,
    pub event_id: String,
    pub alert_seq: u64,
    pub state: String,
    pub reason: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    pub job_name: String,
    pub output_tail: String,
    pub executor: Option<String>,
    pub started_by: Option<String>,
    pub start_index: Option<u64>,
    pub job: Option<JobView>,
    /// Silence, verification and notifications (operarios with `silence`, `verify` or
    /// `notify`; one remediation's answer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<super::followup::FollowUpView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub timeout_seconds: Option<i64>,
    #[schema(value_type = Object)]
    pub job_template: serde_json::Value,
}

impl From<RenderedJob> for JobView {
    fn from(r: RenderedJob) -> Self {
        Self {
            image: r.image,
            command: r.command,
            args: r.args,
            env: r.env.into_iter().collect(),
            timeout_seconds: r.timeout_secs,
            job_template: serde_json::from_str(&r.job_template_json)
                .unwrap_or(serde_json::Value::Null),
        }
    }
}

impl From<RemediationRecord> for RemediationView {
    fn from(r: RemediationRecord) -> Self {
        Self {
            id: r.id.0,
            operarius: r.operarius,
            namespace: r.namespace,
            alert_fingerprint: r.fingerprint,
            alertname: r.alertname,
            alert_status: r.alert_status,
            event_id: r.event_id.0,
            alert_seq: r.alert_seq,
            state: r.state.as_str().to_string(),
            reason: r.reason,
            created_at: format_ms(r.created_at_ms),
            started_at: r.started_at_ms.map(format_ms),
            finished_at: r.finished_at_ms.map(format_ms),
            exit_code: r.exit_code,
            job_name: r.job_name,
            output_tail: r.output_tail,
            executor: r.executor,
            started_by: r.started_by.map(|l| l.to_string()),
            start_index: r.start_index,
            job: r.rendered.map(JobView::from),
            follow_up: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperariusView {
    pub namespace: String,
    pub name: String,
    pub priority: i32,
    pub enabled: bool,
    pub alertname: String,
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub matchers: Vec<String>,
    pub cooldown_seconds: Option<u64>,
    #[schema(value_type = Object)]
    pub job_template: serde_json::Value,
    /// Set for an invalid operarius: what is wrong with it. It still claims the alerts its
    /// selector matches and fails them with these problems (unless disabled).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl From<BrokenOperarius> for OperariusView {
    fn from(b: BrokenOperarius) -> Self {
        Self {
            matchers: b
                .selector
                .matchers
                .iter()
                .map(|m| format!("{}{}{:?}", m.name, m.op.as_str(), m.value))
                .collect(),
            namespace: b.namespace,
            name: b.name,
            priority: b.priority,
            enabled: b.enabled,
            alertname: b.selector.alertname,
            status: b.selector.status,
            labels: b.selector.labels,
            cooldown_seconds: None,
            job_template: serde_json::Value::Null,
            problems: b.problems,
        }
    }
}

impl From<OperariusDef> for OperariusView {
    fn from(d: OperariusDef) -> Self {
        Self {
            matchers: d
                .selector
                .matchers
                .iter()
                .map(|m| format!("{}{}{:?}", m.name, m.op.as_str(), m.value))
                .collect(),
            namespace: d.namespace,
            name: d.name,
            priority: d.priority,
            enabled: d.enabled,
            alertname: d.selector.alertname,
            status: d.selector.status,
            labels: d.selector.labels,
            cooldown_seconds: d.cooldown_secs,
            job_template: serde_json::from_str(&d.job_template_json)
                .unwrap_or(serde_json::Value::Null),
            problems: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestView {
    pub received: usize,
    pub recorded: usize,
    pub duplicates: usize,
    pub alerts: Vec<IngestedAlertView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestedAlertView {
    pub event_id: String,
    pub fingerprint: String,
    pub alertname: String,
    pub status: String,
    pub new: bool,
    pub remediations: Vec<RemediationRefView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationRefView {
    pub id: String,
    pub operarius: String,
    pub state: String,
}

impl From<IngestSummary> for IngestView {
    fn from(s: IngestSummary) -> Self {
        let recorded = s.alerts.iter().filter(|a| a.new).count();
        Self {
            received: s.alerts.len(),
            recorded,
            duplicates: s.alerts.len() - recorded,
            alerts: s
                .alerts
                .into_iter()
                .map(|a| IngestedAlertView {
                    event_id: a.event_id.0,
                    fingerprint: a.fingerprint,
                    alertname: a.alertname,
                    status: a.status,
                    new: a.new,
                    remediations: a
                        .remediations
                        .into_iter()
                        .map(|r| RemediationRefView {
                            id: r.id.0,
                            operarius: r.operarius,
                            state: r.state.as_str().to_string(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a human.
    pub error: String,
    /// Machine-readable detail (for example the failing field), or null.
    #[schema(value_type = Object, nullable)]
    pub detail: serde_json::Value,
}

/// `GET /api/about`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AboutView {
    pub name: String,
    pub version: String,
    pub commit: String,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    pub status: String,
}

/// `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyView {
    pub ready: bool,
    pub store: bool,
    /// Joined to gossip (always true in embedded mode).
    pub gossip: bool,
    pub leader: Option<String>,
    pub node: String,
    /// Why this node's Raft has stopped (its store failed: a full disk, a failed flush), once
    /// it has: the node acknowledges nothing from then on and exits for a restart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_stopped: Option<String>,
}

/// A problem found in one of this node's operarius files.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProblemView {
    pub file: String,
    pub document: usize,
    pub name: Option<String>,
    pub message: String,
}

/// The answer to a membership change.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipChangeView {
    pub ok: bool,
    pub node: String,
    /// `promote`, `demote` or `remove`.
    pub op: String,
}

/// The body and answer of `POST /admin/cluster/autopilot`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutopilotView {
    pub ok: bool,
    pub autopilot_paused: bool,
}

/// `POST /api/operarios/try`: what delivering the webhook would lead to, evaluated against the
/// replicated catalog without proposing, storing or running anything.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TryView {
    /// Fingerprint of the replicated catalog evaluated (null before the first catalog sync).
    pub catalog_fingerprint: Option<String>,
    /// Operarios in that catalog.
    pub catalog_size: usize,
    /// One entry per alert of the webhook, in order.
    pub alerts: Vec<TryAlertView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TryAlertView {
    pub alertname: String,
    pub status: String,
    pub fingerprint: String,
    pub event_id: String,
    /// The labels matching sees: the common labels overlaid by the alert's own.
    pub labels: BTreeMap<String, String>,
    /// `runs`, `noMatch`, `onlyDisabled`, `skipped` (cooldown, or openfero's own Job),
    /// `failed` (invalid operarius or template), `queued`, `held` (budget or breaker),
    /// `refused` (policy), `dryRun` (mode dry-run or shadow), `awaitingApproval`, or
    /// `alreadyRecorded` (a re-delivery changes nothing).
    pub verdict: String,
    /// Why, as apply would record it (for the selected operarius), or why nothing matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// When nothing matches: the operarius that came closest (`namespace/name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closest: Option<String>,
    /// The verdict in words.
    pub summary: String,
    /// Sequence number of the recorded alert when the event is already recorded.
    pub recorded_seq: Option<u64>,
    /// `namespace/name` of the operarius apply would pick, if any.
    pub selected: Option<String>,
    /// Every matching operarius (enabled or not), best first.
    pub candidates: Vec<TryCandidateView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TryCandidateView {
    pub operarius: String,
    pub namespace: String,
    pub priority: i32,
    pub enabled: bool,
    pub selected: bool,
    pub remediation_id: String,
    pub job_name: String,
    /// Why a cooldown would skip it now, if one would.
    pub cooldown: Option<String>,
    /// The rendered Job; for a local executor the first container's command, args and env.
    pub job: Option<JobView>,
    /// Why the templates cannot be rendered for this alert.
    pub error: Option<String>,
}

impl From<Preview> for TryView {
    fn from(p: Preview) -> Self {
        Self {
            catalog_fingerprint: p.catalog_fingerprint,
            catalog_size: p.catalog_size,
            alerts: p.alerts.into_iter().map(TryAlertView::from).collect(),
        }
    }
}

/// The reason apply would record for the selected candidate, if it would record one.
fn decided_reason(c: &crate::remediation::CandidatePreview) -> Option<&str> {
    c.decision.as_ref().and_then(|(_, r)| r.as_deref())
}

impl From<AlertPreview> for TryAlertView {
    fn from(a: AlertPreview) -> Self {
        let verdict = a.verdict();
        let selected = a.selected().map(|c| c.operarius.clone());
        let summary = match (verdict, a.selected()) {
            (Verdict::AlreadyRecorded, _) => format!(
                "already recorded (alert #{}): a re-delivery changes nothing",
                a.recorded_seq.unwrap_or(0)
            ),
            (Verdict::NoMatch, _) => match &a.closest {
                Some((key, why)) => format!("no operarius matches; closest is {key}: {why}"),
                None => "no operarius matches (the catalog is empty)".to_string(),
            },
            (Verdict::OnlyDisabled, _) => "only disabled operarios match: nothing runs".to_string(),
            (Verdict::Skipped, Some(c)) => format!(
                "skipped: {}",
                decided_reason(c)
                    .or(c.cooldown.as_deref())
                    .unwrap_or("cooldown")
            ),
            (
                Verdict::Queued
                | Verdict::Held
                | Verdict::Refused
                | Verdict::DryRun
                | Verdict::AwaitingApproval,
                Some(c),
            ) => format!(
                "{} {}: {}",
                c.operarius,
                verdict.code(),
                decided_reason(c).unwrap_or("")
            ),
            (Verdict::Failed, Some(c)) => match &c.rendered {
                Err(e @ crate::operarios::RenderError::InvalidOperarius { .. }) => {
                    format!("{} claims the alert and fails: {e}", c.operarius)
                }
                Err(e) => format!("{} fails: template: {e}", c.operarius),
                Ok(_) => format!("{} fails", c.operarius),
            },
            (_, Some(c)) => format!("{} runs Job {}", c.operarius, c.job_name),
            (_, None) => verdict.code().to_string(),
        };
        let why = match (verdict, a.selected()) {
            (Verdict::NoMatch, _) => a.closest.as_ref().map(|(_, why)| why.clone()),
            (_, Some(c)) => decided_reason(c).map(str::to_owned),
            _ => None,
        };
        let closest = a.closest.as_ref().map(|(key, _)| key.clone());
        let labels = a.alert.effective_labels();
        Self {
            why,
            closest,
            alertname: labels.get("alertname").cloned().unwrap_or_default(),
            status: a.alert.status,
            fingerprint: a.alert.fingerprint,
            event_id: a.event_id.0,
            labels,
            verdict: verdict.code().to_string(),
            summary,
            recorded_seq: a.recorded_seq,
            selected,
            candidates: a
                .candidates
                .into_iter()
                .map(|c| {
                    let (job, error) = match c.rendered {
                        Ok(j) => (Some(JobView::from(j)), None),
                        Err(e) => (None, Some(format!("template: {e}"))),
                    };
                    TryCandidateView {
                        operarius: c.operarius,
                        namespace: c.namespace,
                        priority: c.priority,
                        enabled: c.enabled,
                        selected: c.selected,
                        remediation_id: c.remediation_id.0,
                        job_name: c.job_name,
                        cooldown: c.cooldown,
                        job,
                        error,
                    }
                })
                .collect(),
        }
    }
}
