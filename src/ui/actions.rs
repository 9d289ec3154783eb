//! The UI's buttons: approve or deny a remediation, pause or resume every remediation, reset a
//! loop breaker. Plain HTML forms (no script needed) posting to operator routes; each proposes
//! the same replicated command as its API twin, with the caller's identity, and answers with a
//! redirect back to the page it came from (303, so a reload does not post again).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Identity;
use crate::http::{guards, ApiError, AppState};

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

async fn decide(
    state: AppState,
    by: Identity,
    id: String,
    approve: bool,
) -> Result<Response, ApiError> {
    guards::propose_decision(&state, by, &id, approve).await?;
    Ok(see_other(&format!("/remediations/{id}")))
}

/// `POST /remediations/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    Extension(by): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    decide(state, by, id, true).await
}

/// `POST /remediations/{id}/deny`.
pub async fn deny(
    State(state): State<AppState>,
    Extension(by): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    decide(state, by, id, false).await
}

#[derive(Debug, Deserialize)]
pub struct PauseForm {
    paused: String,
}

/// `POST /guards/pause` (`paused=true|false`).
pub async fn pause(
    State(state): State<AppState>,
    Extension(by): Extension<Identity>,
    form: Result<Form<PauseForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "expected the form field `paused=true` or `paused=false`".to_owned(),
            json!({ "field": "paused" }),
        )
    };
    let Form(form) = form.map_err(|_| bad())?;
    let paused = match form.paused.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(bad()),
    };
    guards::propose_pause(&state, &by, paused, crate::time::now_ms()).await?;
    Ok(see_other("/operarios"))
}

#[derive(Debug, Deserialize)]
pub struct ResetForm {
    operarius: String,
    target: String,
}

/// `POST /guards/breakers/reset` (`operarius`, `target`).
pub async fn reset_breaker(
    State(state): State<AppState>,
    Extension(by): Extension<Identity>,
    form: Result<Form<ResetForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Form(form) = form.map_err(|e| {
        ApiError::bad_request(
            format!("expected the form fields `operarius` and `target`: {e}"),
            json!({ "field": "operarius" }),
        )
    })?;
    guards::propose_reset(
        &state,
        &by,
        &form.operarius,
        &form.target,
        crate::time::now_ms(),
    )
    .await?;
    Ok(see_other("/operarios"))
}
