//! The HTTP surface: Alertmanager webhook, JSON API, health, and the Raft RPC routes.

mod api;
mod error;
mod view;
mod webhook;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;

pub use error::ApiError;
pub use view::{AlertView, IngestView, OperariusView, RemediationView};

use crate::catalog::Catalog;
use crate::replica::Replica;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub replica: Replica,
    pub catalog: Catalog,
    pub body_limit: usize,
}

/// All routes of one node.
pub fn router(state: AppState) -> Router {
    let raft = state.replica.raft().router();
    let body_limit = state.body_limit;
    Router::new()
        .route(
            "/alerts",
            get(webhook::probe)
                .post(webhook::receive)
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .route("/api/alerts", get(api::alerts))
        .route("/api/remediations", get(api::remediations))
        .route("/api/remediations/{id}", get(api::remediation))
        .route("/api/operarios", get(api::operarios))
        .route("/api/operarios/problems", get(api::operario_problems))
        .route("/api/about", get(api::about))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .fallback(api::not_found)
        .with_state(state)
        .merge(raft)
}
