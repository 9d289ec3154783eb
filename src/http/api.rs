//! Read-only JSON API, health and readiness. Reads are local; headers say which node, leader and
//! applied index they reflect.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::error::ApiError;
use super::forward::forward;
use super::view::{
    AboutView, AlertView, ErrorBody, HealthView, OperariusView, ProblemView, ReadyView,
    RemediationView,
};
use super::AppState;
use crate::ids::node_hex;
use crate::ids::RemediationId;
use crate::remediation::{AlertFilter, RemediationState};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

fn limit_of(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(0) => Err(ApiError::bad_request(
            "`limit` must be at least 1",
            json!({ "field": "limit" }),
        )),
        Some(n) => Ok(n.min(MAX_LIMIT)),
    }
}

/// Headers naming the state a read reflects.
pub(super) fn read_headers(state: &AppState) -> HeaderMap {
    let s = state.replica.status();
    let mut h = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    put("x-openfero-node", node_hex(s.id));
    put(
        "x-openfero-leader",
        s.leader.map(node_hex).unwrap_or_else(|| "none".into()),
    );
    put(
        "x-openfero-applied-index",
        s.last_applied
            .map(|i| i.to_string())
            .unwrap_or_else(|| "0".into()),
    );
    h
}

/// `?consistent=true`: on the leader, confirm leadership with a quorum and wait until the
/// confirmed index is applied, then read locally; elsewhere, ask the leader. `Some` is the
/// leader's answer to relay.
async fn consistent_read(
    state: &AppState,
    consistent: Option<bool>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Option<Response>, ApiError> {
    if consistent != Some(true) {
        return Ok(None);
    }
    if state.replica.leader_id().is_some() {
        if state.replica.confirm_leadership().await {
            return Ok(None);
        }
        return Err(ApiError::Unavailable {
            reason: "leadership could not be confirmed with a quorum".into(),
            retry_after_secs: 1,
        });
    }
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    forward(state, Method::GET, &path, headers, Bytes::new())
        .await
        .map(Some)
}

/// A list read off the runtime (a store scan), answered with the read headers.
async fn read_list<R, V, F>(
    state: &AppState,
    read: F,
    view: fn(R) -> V,
) -> Result<Response, ApiError>
where
    R: Send + 'static,
    V: serde::Serialize,
    F: FnOnce(&crate::remediation::History) -> Result<Vec<R>, openfero_raft::KvError>
        + Send
        + 'static,
{
    let history = state.replica.history().clone();
    let records = tokio::task::spawn_blocking(move || read(&history))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let body: Vec<V> = records.into_iter().map(view).collect();
    Ok((read_headers(state), Json(body)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistentQuery {
    /// Confirm leadership with a quorum (or ask the leader) before reading.
    consistent: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Confirm leadership with a quorum (or ask the leader) before reading.
    consistent: Option<bool>,
    /// Case-insensitive substring of the alertname, fingerprint, a label or an annotation.
    q: Option<String>,
    /// `firing` or `resolved`.
    status: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    limit: Option<usize>,
}

/// Recorded alert events, newest first.
#[utoipa::path(
    get,
    path = "/api/alerts",
    tag = "history",
    params(AlertQuery),
    responses(
        (status = 200, description = "Alert events, newest first", body = [AlertView]),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 503, description = "Consistent read without a leader", body = ErrorBody),
    )
)]
pub async fn alerts(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<AlertQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), json!(null)))?;
    if let Some(answer) = consistent_read(&state, query.consistent, &uri, &headers).await? {
        return Ok(answer);
    }
    if let Some(s) = &query.status {
        if crate::alerts::AlertStatus::parse(s).is_none() {
            return Err(ApiError::bad_request(
                format!("unknown status `{s}`: use firing or resolved"),
                json!({ "field": "status" }),
            ));
        }
    }
    let filter = AlertFilter {
        q: query.q.filter(|q| !q.is_empty()),
        status: query.status,
        ..AlertFilter::default()
    };
    let limit = limit_of(query.limit)?;
    read_list(
        &state,
        move |h| {
            let alerts = h.alerts(&filter, limit)?;
            let (catalog, _) = h.catalog()?;
            Ok(alerts
                .into_iter()
                .map(|a| {
                    let why = a
                        .remediations
                        .is_empty()
                        .then(|| crate::remediation::why_unclaimed(&catalog, &a));
                    (a, why)
                })
                .collect())
        },
        AlertView::with_why,
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RemediationQuery {
    /// Confirm leadership with a quorum (or ask the leader) before reading.
    consistent: Option<bool>,
    /// Only remediations in this state: pending, running, succeeded, failed, skipped, interrupted.
    state: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    limit: Option<usize>,
}

/// Remediations, newest first.
#[utoipa::path(
    get,
    path = "/api/remediations",
    tag = "history",
    params(RemediationQuery),
    responses(
        (status = 200, description = "Remediations, newest first", body = [RemediationView]),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 503, description = "Consistent read without a leader", body = ErrorBody),
    )
)]
pub async fn remediations(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<RemediationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), json!(null)))?;
    if let Some(answer) = consistent_read(&state, query.consistent, &uri, &headers).await? {
        return Ok(answer);
    }
    let filter = match &query.state {
        None => None,
        Some(s) => Some(RemediationState::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("unknown state `{s}`"), json!({ "field": "state" }))
        })?),
    };
    let limit = limit_of(query.limit)?;
    read_list(
        &state,
        move |h| h.remediations(filter, limit),
        RemediationView::from,
    )
    .await
}

/// One remediation by id.
#[utoipa::path(
    get,
    path = "/api/remediations/{id}",
    tag = "history",
    params(("id" = String, Path, description = "Remediation id"), ConsistentQuery),
    responses(
        (status = 200, description = "The remediation", body = RemediationView),
        (status = 404, description = "No such remediation", body = ErrorBody),
    )
)]
pub async fn remediation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<ConsistentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), json!(null)))?;
    if let Some(answer) = consistent_read(&state, query.consistent, &uri, &headers).await? {
        return Ok(answer);
    }
    let rec = state
        .replica
        .history()
        .remediation(&RemediationId(id.clone()))?
        .ok_or_else(|| ApiError::NotFound {
            what: format!("remediation `{id}`"),
        })?;
    let follow_up = state.replica.history().followup(rec.seq)?;
    let mut view = RemediationView::from(rec);
    view.follow_up = follow_up.map(Into::into);
    Ok((read_headers(&state), Json(view)).into_response())
}

/// The replicated operarius catalog.
#[utoipa::path(
    get,
    path = "/api/operarios",
    tag = "operarios",
    responses((status = 200, description = "Operarios in the replicated catalog, invalid ones (which claim their alerts to fail them) with their `problems`", body = [OperariusView]))
)]
pub async fn operarios(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (defs, _) = state.replica.history().catalog()?;
    let broken = state.replica.history().broken_operarios()?;
    let mut body: Vec<OperariusView> = defs.into_iter().map(OperariusView::from).collect();
    body.extend(broken.into_iter().map(OperariusView::from));
    body.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok((read_headers(&state), Json(body)).into_response())
}

/// Problems found in this node's operarius files.
#[utoipa::path(
    get,
    path = "/api/operarios/problems",
    tag = "operarios",
    responses((status = 200, description = "Problems in this node's operarius files", body = [ProblemView]))
)]
pub async fn operario_problems(State(state): State<AppState>) -> Json<Vec<ProblemView>> {
    let problems: Vec<ProblemView> = state
        .catalog
        .problems()
        .into_iter()
        .map(|p| ProblemView {
            file: p.file.display().to_string(),
            document: p.document,
            name: p.name,
            message: p.message,
        })
        .collect();
    Json(problems)
}

/// Name, version and commit of this binary.
#[utoipa::path(
    get,
    path = "/api/about",
    tag = "meta",
    responses((status = 200, description = "This binary", body = AboutView))
)]
pub async fn about() -> Json<AboutView> {
    Json(AboutView {
        name: "openfero".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        commit: option_env!("OPENFERO_COMMIT").unwrap_or("unknown").into(),
    })
}

/// Alive: the process serves HTTP. Never depends on Raft.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses((status = 200, description = "The process serves HTTP", body = HealthView))
)]
pub async fn healthz() -> Json<HealthView> {
    Json(HealthView {
        status: "ok".into(),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadyParams {
    /// `false`: ready once serving and joined to gossip, whether or not a leader is known.
    leader: Option<bool>,
}

/// Ready: the store answers and a Raft leader is known. With `?leader=false` (the Kubernetes
/// readiness probe): the store answers and this node has joined gossip, so an election does not
/// take every endpoint away.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    params(ReadyParams),
    responses(
        (status = 200, description = "Ready", body = ReadyView),
        (status = 503, description = "Not ready (no leader, not joined, the store fails, or Raft has stopped on a storage error: `raft_stopped` says why)", body = ReadyView),
    )
)]
pub async fn readyz(State(state): State<AppState>, Query(params): Query<ReadyParams>) -> Response {
    let store_ok = state.replica.history().live_alerts().is_ok();
    let s = state.replica.status();
    let raft_stopped = state.replica.raft().failure();
    let gossip_joined = state.cluster.gossip_joined().await;
    let ready = store_ok
        && raft_stopped.is_none()
        && if params.leader.unwrap_or(true) {
            s.leader.is_some()
        } else {
            gossip_joined
        };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(ReadyView {
            ready,
            store: store_ok,
            gossip: gossip_joined,
            leader: s.leader.map(node_hex),
            node: node_hex(s.id),
            raft_stopped,
        }),
    )
        .into_response()
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound {
        what: format!("route `{}`", uri.path()),
    }
}

/// `/metrics`: OpenMetrics text.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((
        status = 200,
        description = "Prometheus metrics",
        body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    ))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    crate::metrics::refresh(
        &state.metrics,
        &state.cluster,
        state.catalog.problems().len(),
    )
    .await;
    if let Some(tls) = state.replica.raft().peer_tls() {
        state
            .metrics
            .observe_handshake_failures("peer", tls.handshake_failures());
    }
    if let Some(tls) = &state.api_tls {
        state
            .metrics
            .observe_handshake_failures("api", tls.handshake_failures());
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// Middleware: request duration by matched route, method and status.
pub async fn observe(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = std::time::Instant::now();
    let resp = next.run(req).await;
    state
        .metrics
        .http_duration
        .get_or_create(&crate::metrics::HttpLabels {
            route,
            method,
            status: resp.status().as_u16(),
        })
        .observe(start.elapsed().as_secs_f64());
    resp
}
