//! The remediation page: its state, the Approve / Deny buttons while it awaits approval, and a
//! timeline of what happened when, from the record and (Kubernetes mode) the Job watch.

use axum::extract::{Path, State};
use axum::response::Html;
use serde_json::{json, Value};

use super::pages::{about, blocking, Banners};
use super::templates::render;
use crate::http::{ApiError, AppState, RemediationView};
use crate::ids::RemediationId;
use crate::time::format_ms;

struct Step {
    name: String,
    at_ms: Option<i64>,
    class: &'static str,
}

fn human(ms: i64) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms if ms < 3_600_000 => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
        ms => format!("{} h {} min", ms / 3_600_000, (ms % 3_600_000) / 60_000),
    }
}

/// The waits a remediation went through before it ran (or while it still waits): awaiting an
/// approval and its decision, a concurrency queue or a pause. Their times come from the reason
/// apply recorded (`approved by alice at 2026-…`).
fn waits(rec: &crate::remediation::RemediationRecord) -> Vec<Step> {
    use crate::remediation::RemediationState as S;
    let reason = rec.reason.as_deref().unwrap_or("");
    let mut out = Vec::new();
    let decided = ["approved by ", "denied by "]
        .iter()
        .find_map(|p| reason.strip_prefix(p).map(|rest| (p.trim_end(), rest)));
    if rec.state == S::AwaitingApproval || decided.is_some() {
        out.push(Step {
            name: "awaiting approval".into(),
            at_ms: Some(rec.created_at_ms),
            class: if rec.state == S::AwaitingApproval {
                ""
            } else {
                "done"
            },
        });
    }
    if let Some((verb, rest)) = decided {
        let head = rest.split("; ").next().unwrap_or(rest);
        if let Some((who, at)) = head.rsplit_once(" at ") {
            let at_ms = chrono::DateTime::parse_from_rfc3339(at)
                .ok()
                .map(|t| t.timestamp_millis());
            // A denial is the final state; only an approval is a step on the way.
            if verb == "approved by" {
                out.push(Step {
                    name: format!("approved by {who}"),
                    at_ms,
                    class: "done",
                });
            }
        }
    }
    if rec.state == S::Queued || reason.contains("was queued: ") {
        out.push(Step {
            name: "queued".into(),
            at_ms: None,
            class: if rec.state == S::Queued { "" } else { "done" },
        });
    }
    out
}

/// `GET /remediations/{id}`.
pub async fn remediation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, ApiError> {
    let banners = Banners::of(&state);
    let rid = RemediationId(id.clone());
    let (rec, alert, follow_up) = blocking(state.replica.history(), move |h| {
        let rec = h.remediation(&rid)?.ok_or_else(|| ApiError::NotFound {
            what: format!("remediation `{id}`"),
        })?;
        let alert = h.alert(rec.alert_seq)?;
        let follow_up = h.followup(rec.seq)?;
        Ok((rec, alert, follow_up))
    })
    .await?;
    let state_name = rec.state.as_str();
    let end_class = match state_name {
        "succeeded" => "done",
        "failed" | "interrupted" | "held" | "denied" | "expired" | "refused" => "bad",
        _ => "",
    };
    let mut steps = vec![
        Step {
            name: "received".into(),
            at_ms: alert.as_ref().map(|a| a.received_at_ms),
            class: "done",
        },
        Step {
            name: "matched".into(),
            at_ms: Some(rec.created_at_ms),
            class: "done",
        },
    ];
    steps.extend(waits(&rec));
    let done_if = |at: Option<i64>| if at.is_some() { "done" } else { "" };
    let job = state
        .jobs
        .as_ref()
        .and_then(|j| job_times(j, &rec.namespace, &rec.job_name, &rec.id));
    if rec.state.as_str() != "skipped" {
        match (&state.jobs, job) {
            // Kubernetes: the leader's committed start, then the Job as the API reports it.
            (Some(_), job) => {
                steps.push(Step {
                    name: "started by the leader".into(),
                    at_ms: rec.started_at_ms,
                    class: done_if(rec.started_at_ms),
                });
                let (created, running) = job.unwrap_or_default();
                steps.push(Step {
                    name: "Job created".into(),
                    at_ms: created,
                    class: done_if(created),
                });
                steps.push(Step {
                    name: "running".into(),
                    at_ms: running,
                    class: done_if(running),
                });
            }
            // Local processes start when the start is committed.
            (None, _) => steps.push(Step {
                name: "running".into(),
                at_ms: rec.started_at_ms,
                class: done_if(rec.started_at_ms),
            }),
        }
    }
    if let Some(at) = follow_up.as_ref().and_then(|f| f.silenced_at_ms) {
        steps.push(Step {
            name: "silenced in Alertmanager".into(),
            at_ms: Some(at),
            class: "done",
        });
    }
    steps.push(Step {
        name: state_name.into(),
        at_ms: rec.finished_at_ms,
        class: end_class,
    });
    if let Some(f) = &follow_up {
        if let Some(v) = &f.verification {
            steps.push(Step {
                name: if v.verified {
                    "verified"
                } else {
                    "ineffective"
                }
                .into(),
                at_ms: Some(v.at_ms),
                class: if v.verified { "done" } else { "bad" },
            });
        }
        if let Some(at) = f.silences_expired_at_ms {
            steps.push(Step {
                name: "silence expired".into(),
                at_ms: Some(at),
                class: "done",
            });
        }
    }
    let mut prev: Option<i64> = None;
    let timeline: Vec<Value> = steps
        .iter()
        .map(|s| {
            let took = match (prev, s.at_ms) {
                (Some(p), Some(t)) if t >= p => Some(human(t - p)),
                _ => None,
            };
            if s.at_ms.is_some() {
                prev = s.at_ms;
            }
            json!({
                "name": s.name,
                "at": s.at_ms.map(format_ms),
                "took": took,
                "class": s.class,
            })
        })
        .collect();
    let awaiting_until = match rec.state {
        crate::remediation::RemediationState::AwaitingApproval => state
            .replica
            .history()
            .awaiting(rec.seq)
            .ok()
            .flatten()
            .map(|a| format_ms(a.deadline_ms)),
        _ => None,
    };
    let view = RemediationView::from(rec);
    let job_yaml = view
        .job
        .as_ref()
        .and_then(|j| serde_yaml::to_string(&j.job_template).ok());
    render(
        "remediation.html",
        json!({
            "page": "remediation",
            "about": about(),
            "banners": banners,
            "r": view,
            "timeline": timeline,
            "job_yaml": job_yaml,
            "awaiting_until": awaiting_until,
        }),
    )
    .map(Html)
}

/// When the Job of remediation `id` was created and started, as this node's Job watch saw it
/// (second precision, from Kubernetes). `None` when the watch does not hold the Job (not
/// created yet, or expired by `ttlSecondsAfterFinished`) or it belongs to another remediation.
fn job_times(
    jobs: &crate::kubernetes::JobTracker,
    namespace: &str,
    name: &str,
    id: &RemediationId,
) -> Option<(Option<i64>, Option<i64>)> {
    let job = jobs.get(namespace, name)?;
    let owner = job
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::kubernetes::labels::ANN_REMEDIATION_ID));
    if owner.map(String::as_str) != Some(id.as_str()) {
        return None;
    }
    let created = job
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_millisecond());
    let started = job
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0.as_millisecond());
    Some((created, started))
}
