//! `GET /api/alerts/export`: the recorded history as JSON lines (`application/x-ndjson`), oldest
//! first, one line per alert event with its remediations ([`HistoryLine`], docs/replay.md) —
//! what `openfero replay` reads. Streamed: the body is written in chunks of [`CHUNK`] alerts,
//! each read off the runtime, so neither side holds the whole history.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tracing::warn;
use utoipa::IntoParams;

use super::api::read_headers;
use super::error::ApiError;
use super::view::ErrorBody;
use super::AppState;
use crate::remediation::History;
use crate::replay::{parse_time, HistoryLine};

/// Alerts read per chunk of the body.
pub const CHUNK: usize = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Only alerts received at or after this time (RFC 3339).
    since: Option<String>,
    /// Only alerts received before this time (RFC 3339).
    until: Option<String>,
}

fn time_param(value: Option<String>, field: &str) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            parse_time(&v).map_err(|e| {
                ApiError::bad_request(format!("`{field}`: {e}"), json!({ "field": field }))
            })
        })
        .transpose()
}

/// The recorded history as JSON lines, oldest first: one line per alert event, with the
/// notification that carried it and its remediations.
#[utoipa::path(
    get,
    path = "/api/alerts/export",
    tag = "history",
    params(ExportQuery),
    responses(
        (status = 200, description = "One `HistoryLine` per line (JSON lines), oldest first, streamed", body = HistoryLine, content_type = "application/x-ndjson"),
        (status = 400, description = "Bad query", body = ErrorBody),
    )
)]
pub async fn export(
    State(state): State<AppState>,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), json!(null)))?;
    let since = time_param(query.since, "since")?;
    let until = time_param(query.until, "until")?;
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(ApiError::bad_request(
                "`since` must be before `until`",
                json!({ "field": "since" }),
            ));
        }
    }
    let history = state.replica.history().clone();
    let body = futures::stream::try_unfold(Some(0u64), move |cursor| {
        let history = history.clone();
        async move {
            let Some(after) = cursor else {
                return Ok(None);
            };
            let read = tokio::task::spawn_blocking(move || chunk(&history, after, since, until))
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r);
            match read {
                Ok((bytes, next)) => Ok(Some((bytes, next))),
                Err(e) => {
                    // The body ends without its last chunk: the client sees a broken answer.
                    warn!(error = %e, "alert export stopped");
                    Err(e)
                }
            }
        }
    });
    let mut resp = (read_headers(&state), Body::from_stream(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(resp)
}

/// The lines of the alerts after `after` (at least one line unless the history ends), and the
/// cursor of the next chunk (`None`: this was the last).
fn chunk(
    history: &History,
    mut after: u64,
    since: Option<i64>,
    until: Option<i64>,
) -> std::io::Result<(Bytes, Option<u64>)> {
    let mut buf = Vec::new();
    loop {
        let alerts = history
            .alerts_after(after, since, CHUNK)
            .map_err(std::io::Error::other)?;
        let last = alerts.len() < CHUNK;
        for a in &alerts {
            after = a.seq;
            if until.is_some_and(|u| a.received_at_ms >= u) {
                continue;
            }
            let mut rems = Vec::with_capacity(a.remediations.len());
            for id in &a.remediations {
                if let Some(r) = history.remediation(id).map_err(std::io::Error::other)? {
                    rems.push(r);
                }
            }
            serde_json::to_writer(&mut buf, &HistoryLine::from_records(a, &rems))?;
            buf.push(b'\n');
        }
        if last {
            return Ok((Bytes::from(buf), None));
        }
        if !buf.is_empty() {
            return Ok((Bytes::from(buf), Some(after)));
        }
    }
}
