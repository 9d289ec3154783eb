//! `POST /api/operarios/try`: which operarios would match each alert of a webhook and what each
//! would run — evaluated against the replicated catalog, with no side effect: nothing is
//! proposed to Raft, stored or executed. The UI's "try it" form uses [`try_webhook`] too.

use axum::extract::{Request, State};
use axum::Json;
use serde_json::json;
use tracing::instrument;

use super::error::ApiError;
use super::view::{ErrorBody, TryView};
use super::webhook::{is_json, read_body};
use super::AppState;
use crate::alerts::parse_webhook;
use crate::remediation::{preview, Ingest};
use crate::time::now_ms;

/// Parse `body` as an Alertmanager webhook and evaluate it. A body that is not a webhook is a
/// 400 naming the failing field.
pub async fn try_webhook(state: &AppState, body: &[u8]) -> Result<TryView, ApiError> {
    let received_at = now_ms();
    let hook = parse_webhook(body, received_at).map_err(|e| {
        ApiError::bad_request(
            e.to_string(),
            json!({ "field": e.field, "message": e.message }),
        )
    })?;
    let ingest = Ingest::from_webhook(hook, received_at, state.replica.id());
    let history = state.replica.history().clone();
    let p = tokio::task::spawn_blocking(move || preview(&history, &ingest))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(TryView::from(p))
}

/// Try operarios against a webhook: the operarios matching each alert (best first), the one
/// that would be picked, and the Job each would render. Nothing is stored or run.
#[utoipa::path(
    post,
    path = "/api/operarios/try",
    tag = "operarios",
    request_body(
        content = Object,
        content_type = "application/json",
        description = "An Alertmanager webhook notification (version 4), as `POST /alerts` takes it"
    ),
    responses(
        (status = 200, description = "What delivering it would lead to; nothing was stored", body = TryView),
        (status = 400, description = "Malformed or invalid notification (the failing field in `detail`)", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    )
)]
#[instrument(skip_all, fields(bytes))]
pub async fn try_operarios(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<TryView>, ApiError> {
    is_json(request.headers())?;
    let body = read_body(&state, request).await?;
    tracing::Span::current().record("bytes", body.len());
    try_webhook(&state, &body).await.map(Json)
}
