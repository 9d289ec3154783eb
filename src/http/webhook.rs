//! `POST /alerts`: Alertmanager's webhook. 200 only once the events are committed; with webhook
//! credentials configured (bearer token, basic auth), 401 without them — checked by
//! `http::access` before the body is read.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde_json::json;
use tracing::{debug, instrument};

use super::error::ApiError;
use super::view::{ErrorBody, IngestView};
use super::AppState;
use crate::alerts::parse_webhook;
use crate::auth::Identity;
use crate::remediation::{CommandV1, Ingest, Response};
use crate::time::now_ms;

/// `GET /alerts`: OpenFero answers "OK" here and some setups probe it.
#[utoipa::path(
    get,
    path = "/alerts",
    tag = "webhook",
    responses((status = 200, description = "Always `OK`", body = String, content_type = "text/plain"))
)]
pub async fn probe() -> &'static str {
    "OK"
}

pub(super) fn is_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let got = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = got
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType {
            got: if got.is_empty() {
                "none".into()
            } else {
                got.into()
            },
        })
    }
}

/// The body, within the node's body limit (the route carries the limit layer).
pub async fn read_body(state: &AppState, request: Request) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: state.body_limit,
            }
        } else {
            ApiError::bad_request(format!("cannot read body: {e}"), serde_json::Value::Null)
        }
    })
}

/// Alertmanager's webhook (payload version 4). Answers once the events are committed.
#[utoipa::path(
    post,
    path = "/alerts",
    tag = "webhook",
    request_body(
        content = Object,
        content_type = "application/json",
        description = "An Alertmanager webhook notification (version 4)"
    ),
    security((), ("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "Committed (or already recorded: same ids)", body = IngestView),
        (status = 400, description = "Malformed or invalid notification; nothing stored", body = ErrorBody),
        (status = 401, description = "Webhook credentials are configured (`--webhook-token-file`, `--webhook-basic-auth-file`) and the request carries neither; checked first, nothing stored", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 503, description = "No leader or no quorum; retry (Retry-After)", body = ErrorBody),
    )
)]
#[instrument(skip_all, fields(bytes))]
pub async fn receive(
    State(state): State<AppState>,
    Extension(by): Extension<Identity>,
    request: Request,
) -> Result<Json<IngestView>, ApiError> {
    // The sender's credentials were checked (`http::access`) before the body was read: an
    // unauthenticated sender costs no buffering or parsing.
    is_json(request.headers())?;
    let body = read_body(&state, request).await?;
    tracing::Span::current().record("bytes", body.len());
    // Cluster time, not this machine's clock (which may be minutes off); a node that has not
    // learnt it yet answers 503 — after a malformed body's 400, which no retry would fix.
    let stamp = state.replica.stamp_ms();
    let received_at = stamp.clone().unwrap_or_else(|_| now_ms());
    let hook = parse_webhook(&body, received_at).map_err(|e| {
        ApiError::bad_request(
            e.to_string(),
            json!({ "field": e.field, "message": e.message }),
        )
    })?;
    let received_at = stamp?;
    // Matching happens in apply against the replicated catalog: make it current first.
    state.catalog.ensure_replicated(&state.replica).await?;
    let ingest = Ingest::from_webhook(hook, received_at, state.replica.id());
    match state
        .replica
        .propose(CommandV1::IngestAlerts(ingest))
        .await?
    {
        Response::Ingested(summary) => {
            for a in &summary.alerts {
                state
                    .metrics
                    .alerts_received
                    .get_or_create(&crate::metrics::StatusLabel {
                        status: a.status.clone(),
                    })
                    .inc();
            }
            let view = IngestView::from(summary);
            debug!(
                by = %by.name,
                received = view.received,
                recorded = view.recorded,
                "webhook committed"
            );
            Ok(Json(view))
        }
        other => Err(ApiError::Internal(format!("ingest answered `{other:?}`"))),
    }
}
