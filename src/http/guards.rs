//! `/api/guards`: the global pause and the loop breakers, visible to viewers and changed by
//! operators; approvals of remediations (`/api/remediations/{id}/approve|deny`). Changes are replicated commands carrying the caller's identity and the
//! proposer's clock, accepted on any node (forwarded to the leader by Raft).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::ApiError;
use super::view::ErrorBody;
use super::AppState;
use crate::auth::Identity;
use crate::remediation::{BreakerRecord, CommandV1, Response as Applied};

/// The pause switch as replicated.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PauseView {
    pub paused: bool,
    /// Who changed it last (empty before the first change).
    pub by: String,
    /// When (RFC 3339, the proposer's clock); absent before the first change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// One loop breaker of an operarius on a target.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreakerView {
    pub operarius: String,
    pub target: String,
    pub open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it closes by itself (a cool-off); absent: only a reset closes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Failed (or interrupted) and ineffective runs counted inside the window.
    pub failures: usize,
    pub ineffective: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_at: Option<String>,
}

impl BreakerView {
    pub fn of(b: &BreakerRecord, now_ms: i64) -> Self {
        let fmt = crate::time::format_ms;
        Self {
            operarius: b.operarius.clone(),
            target: b.target.clone(),
            open: b.is_open(now_ms),
            opened_at: b.open.as_ref().map(|o| fmt(o.at_ms)),
            reason: b.open.as_ref().map(|o| o.reason.clone()),
            until: b.open.as_ref().and_then(|o| o.until_ms).map(fmt),
            failures: b.failures.len(),
            ineffective: b.ineffective.len(),
            reset_by: b.reset_by.clone(),
            reset_at: b.reset_at_ms.map(fmt),
        }
    }
}

/// One budget window's use.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowUseView {
    pub max: u32,
    /// The window, as written (`1h`, `24h`).
    pub per: String,
    pub used: u32,
    /// When full: when the oldest counted admission leaves the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frees_at: Option<String>,
}

/// A budget that has counted something, and how full each window is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BudgetView {
    pub scope: String,
    pub windows: Vec<WindowUseView>,
}

/// The guard rails' live state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GuardsView {
    pub pause: PauseView,
    pub breakers: Vec<BreakerView>,
    pub budgets: Vec<BudgetView>,
}

impl BudgetView {
    pub fn of(b: crate::remediation::BudgetUse) -> Self {
        Self {
            scope: b.scope,
            windows: b
                .windows
                .into_iter()
                .map(|w| WindowUseView {
                    max: w.window.max,
                    per: crate::operarios::format_duration_ms(w.window.per_ms),
                    used: w.used,
                    frees_at: w.frees_at_ms.map(crate::time::format_ms),
                })
                .collect(),
        }
    }
}

/// The pause switch and every breaker that counted something.
#[utoipa::path(
    get,
    path = "/api/guards",
    tag = "guards",
    responses((status = 200, description = "Pause, breakers and budget use, as this node has applied them", body = GuardsView))
)]
pub async fn guards(State(state): State<AppState>) -> Result<Json<GuardsView>, ApiError> {
    let history = state.replica.history();
    let internal = |e: openfero_raft::KvError| ApiError::Internal(e.to_string());
    let pause = history.pause().map_err(internal)?;
    let now = crate::time::now_ms();
    let breakers = history
        .breakers()
        .map_err(internal)?
        .iter()
        .map(|b| BreakerView::of(b, now))
        .collect();
    let budgets = history
        .budgets(now)
        .map_err(internal)?
        .into_iter()
        .map(BudgetView::of)
        .collect();
    Ok(Json(GuardsView {
        budgets,
        pause: PauseView {
            paused: pause.paused,
            by: pause.by,
            at: (pause.at_ms != 0).then(|| crate::time::format_ms(pause.at_ms)),
        },
        breakers,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    paused: bool,
}

/// Pause every remediation (the kill switch), or resume.
///
/// Paused, new remediations and those not yet started are `queued`, not lost; running ones
/// finish. Resuming starts the queued ones in arrival order (within their concurrency limits).
#[utoipa::path(
    post,
    path = "/api/guards/pause",
    tag = "guards",
    request_body = PauseBody,
    security((), ("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "Replicated", body = PauseView),
        (status = 400, description = "Body is not `{\"paused\": bool}`", body = ErrorBody),
        (status = 401, description = "Credentials missing or wrong", body = ErrorBody),
        (status = 403, description = "The caller is not an operator", body = ErrorBody),
        (status = 503, description = "No leader or no quorum", body = ErrorBody),
    )
)]
pub async fn pause(
    State(state): State<AppState>,
    Extension(by): Extension<Identity>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parsed: PauseBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            format!("expected {{\"paused\": true|false}}: {e}"),
            json!({ "field": "paused" }),
        )
    })?;
    let at_ms = crate::time::now_ms();
    propose_pause(&state, &by, parsed.paused, at_ms).await?;
    Ok(Json(PauseView {
        paused: parsed.paused,
        by: by.name,
        at: Some(crate::time::format_ms(at_ms)),
    })
    .into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// `namespace/name` of the operarius.
    operarius: String,
    /// The target as `GET /api/guards` lists it (`namespace=shop,alertname=…,pod=…`).
    target: String,
}

/// Reset (re-arm) a loop breaker: it closes and forgets what it counted.
#[utoipa::path(
    post,
    path = "/api/guards/breakers/reset",
    tag = "guards",
    request_body = ResetBody,
    security((), ("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "Reset, replicated with the caller's identity", body = BreakerView),
        (status = 400, description = "Body is not `{\"operarius\": …, \"target\": …}`", body = ErrorBody),
        (status = 401, description = "Credentials missing or wrong", body = ErrorBody),
        (status = 403, description = "The caller is not an operator", body = ErrorBody),
        (status = 404, description = "No breaker of that operarius and target", body = ErrorBody),
        (status = 503, description = "No leader or no quorum", body = ErrorBody),
    )
)]
pub async fn reset_breaker(
    State(state): State<AppState>,
    Extension(by): Extension<Identity>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parsed: ResetBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            format!("expected {{\"operarius\": \"ns/name\", \"target\": \"…\"}}: {e}"),
            json!({ "field": "operarius" }),
        )
    })?;
    let at_ms = crate::time::now_ms();
    propose_reset(&state, &by, &parsed.operarius, &parsed.target, at_ms).await?;
    let history = state.replica.history();
    let breaker = history
        .breakers()
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .into_iter()
        .find(|b| b.operarius == parsed.operarius && b.target == parsed.target)
        .ok_or_else(|| ApiError::Internal("the reset breaker is not readable".into()))?;
    Ok(Json(BreakerView::of(&breaker, at_ms)).into_response())
}

/// A remediation after an operator's decision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionView {
    pub id: String,
    /// `pending`, `queued` or `held` after an approval (the limits still apply), `denied`
    /// after a denial.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Propose an operator's decision on remediation `id`, as the API and the UI's buttons do:
/// 404 if there is no such remediation, 409 if it is not awaiting approval (decided already,
/// expired).
pub(crate) async fn propose_decision(
    state: &AppState,
    by: Identity,
    id: &str,
    approve: bool,
) -> Result<(), ApiError> {
    let rid = crate::ids::RemediationId(id.to_owned());
    if state
        .replica
        .history()
        .remediation(&rid)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .is_none()
    {
        return Err(ApiError::NotFound {
            what: format!("remediation `{id}`"),
        });
    }
    tracing::info!(remediation = %id, approve, by = %by.name, "approval decision");
    let answer = state
        .replica
        .propose(CommandV1::Decide {
            id: rid,
            approve,
            by: by.name,
            at_ms: crate::time::now_ms(),
        })
        .await?;
    match answer {
        Applied::Refused(why) => Err(ApiError::Conflict(why)),
        _ => Ok(()),
    }
}

/// Propose the pause switch with the caller's identity and this node's clock.
pub(crate) async fn propose_pause(
    state: &AppState,
    by: &Identity,
    paused: bool,
    at_ms: i64,
) -> Result<(), ApiError> {
    tracing::info!(paused, by = %by.name, "remediations pause change");
    state
        .replica
        .propose(CommandV1::SetPaused {
            paused,
            by: by.name.clone(),
            at_ms,
        })
        .await?;
    Ok(())
}

/// Propose a breaker reset; 404 if that breaker never counted anything.
pub(crate) async fn propose_reset(
    state: &AppState,
    by: &Identity,
    operarius: &str,
    target: &str,
    at_ms: i64,
) -> Result<(), ApiError> {
    tracing::info!(%operarius, %target, by = %by.name, "breaker reset");
    let answer = state
        .replica
        .propose(CommandV1::ResetBreaker {
            operarius: operarius.to_owned(),
            target: target.to_owned(),
            by: by.name.clone(),
            at_ms,
        })
        .await?;
    match answer {
        Applied::Refused(_) => Err(ApiError::NotFound {
            what: format!("breaker of `{operarius}` on target `{target}`"),
        }),
        _ => Ok(()),
    }
}

async fn decide(
    state: AppState,
    by: Identity,
    id: String,
    approve: bool,
) -> Result<Response, ApiError> {
    propose_decision(&state, by, &id, approve).await?;
    let rec = state
        .replica
        .history()
        .remediation(&crate::ids::RemediationId(id.clone()))
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(|| ApiError::Internal("the decided remediation is not readable".into()))?;
    Ok(Json(DecisionView {
        id,
        state: rec.state.as_str().to_owned(),
        reason: rec.reason,
    })
    .into_response())
}

/// Approve a remediation awaiting approval (`spec.approval: required`): it is admitted through
/// the budgets, breaker and concurrency limits now, and runs once.
#[utoipa::path(
    post,
    path = "/api/remediations/{id}/approve",
    tag = "guards",
    params(("id" = String, Path, description = "Remediation id")),
    security((), ("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "Approved, replicated with the caller's identity and time", body = DecisionView),
        (status = 401, description = "Credentials missing or wrong", body = ErrorBody),
        (status = 403, description = "The caller is not an operator", body = ErrorBody),
        (status = 404, description = "No such remediation", body = ErrorBody),
        (status = 409, description = "Not awaiting approval (already decided, expired, or never asked)", body = ErrorBody),
        (status = 503, description = "No leader or no quorum", body = ErrorBody),
    )
)]
pub async fn approve(
    State(state): State<AppState>,
    Extension(by): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    decide(state, by, id, true).await
}

/// Deny a remediation awaiting approval: it never runs (final state `denied`).
#[utoipa::path(
    post,
    path = "/api/remediations/{id}/deny",
    tag = "guards",
    params(("id" = String, Path, description = "Remediation id")),
    security((), ("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "Denied, replicated with the caller's identity and time", body = DecisionView),
        (status = 401, description = "Credentials missing or wrong", body = ErrorBody),
        (status = 403, description = "The caller is not an operator", body = ErrorBody),
        (status = 404, description = "No such remediation", body = ErrorBody),
        (status = 409, description = "Not awaiting approval (already decided, expired, or never asked)", body = ErrorBody),
        (status = 503, description = "No leader or no quorum", body = ErrorBody),
    )
)]
pub async fn deny(
    State(state): State<AppState>,
    Extension(by): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    decide(state, by, id, false).await
}
