//! The control API under `/_double`: what tests do that a real cluster's controllers would.

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use serde::Deserialize;
use serde_json::json;

use crate::{faults::Fault, jobs::Outcome, shared::Shared, status::ApiError};

#[derive(Debug, Default, Deserialize)]
struct FailBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

fn done() -> Response {
    (StatusCode::OK, Json(json!({"ok": true}))).into_response()
}

fn outcome(result: Result<serde_json::Value, ApiError>) -> Response {
    match result {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/_double/requests", get(requests).delete(clear_requests))
        .route("/_double/faults", post(inject).delete(clear_faults))
        .route("/_double/watches/drop", post(drop_watches))
        .route("/_double/watches/expire", post(expire_watches))
        .route("/_double/reset", post(reset))
        .route("/_double/crds", post(register_crds))
        .route("/_double/jobs/{ns}/{name}/complete", post(complete_job))
        .route("/_double/jobs/{ns}/{name}/fail", post(fail_job))
        .route("/_double/jobs/{ns}/{name}/pods", get(job_pods))
        .route("/_double/pods/{ns}/{name}/log", put(set_pod_log))
        .route(
            "/_double/pods/{ns}/{name}/phase/{phase}",
            post(set_pod_phase),
        )
}

async fn requests(State(s): State<Shared>) -> Response {
    Json(s.requests()).into_response()
}

async fn clear_requests(State(s): State<Shared>) -> Response {
    s.clear_requests();
    done()
}

async fn inject(State(s): State<Shared>, Json(fault): Json<Fault>) -> Response {
    s.inject(fault);
    done()
}

async fn clear_faults(State(s): State<Shared>) -> Response {
    s.clear_faults();
    done()
}

async fn drop_watches(State(s): State<Shared>) -> Response {
    s.drop_watches();
    done()
}

async fn expire_watches(State(s): State<Shared>) -> Response {
    s.expire_watches();
    done()
}

async fn reset(State(s): State<Shared>) -> Response {
    match s.reset() {
        Ok(()) => done(),
        Err(e) => e.into_response(),
    }
}

async fn register_crds(State(s): State<Shared>, body: String) -> Response {
    match s.register_crd_yaml(&body, false) {
        Ok(names) => Json(json!({"registered": names})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn complete_job(
    State(s): State<Shared>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    outcome(s.finish_job(&ns, &name, Outcome::Complete))
}

async fn fail_job(
    State(s): State<Shared>,
    Path((ns, name)): Path<(String, String)>,
    body: Option<Json<FailBody>>,
) -> Response {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let reason = body
        .reason
        .unwrap_or_else(|| "BackoffLimitExceeded".to_string());
    let message = body
        .message
        .unwrap_or_else(|| "Job has reached the specified backoff limit".to_string());
    outcome(s.finish_job(&ns, &name, Outcome::Failed { reason, message }))
}

async fn job_pods(State(s): State<Shared>, Path((ns, name)): Path<(String, String)>) -> Response {
    Json(s.job_pods(&ns, &name)).into_response()
}

async fn set_pod_log(
    State(s): State<Shared>,
    Path((ns, name)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    s.set_pod_log(
        &ns,
        &name,
        params.get("container").map(String::as_str),
        &body,
    );
    done()
}

async fn set_pod_phase(
    State(s): State<Shared>,
    Path((ns, name, phase)): Path<(String, String, String)>,
) -> Response {
    outcome(s.set_pod_phase(&ns, &name, &phase))
}
