//! The HTTP surface: Alertmanager webhook, JSON API, health, and the Raft RPC routes.

mod admin;
mod api;
mod error;
mod forward;
mod view;
mod webhook;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;

pub use error::ApiError;
pub use view::{node_hex, AlertView, IngestView, OperariusView, RemediationView};

use crate::catalog::Catalog;
use crate::cluster::Cluster;
use crate::metrics::Metrics;
use crate::replica::Replica;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub replica: Replica,
    pub cluster: Cluster,
    pub catalog: Catalog,
    pub body_limit: usize,
    /// Bearer token for mutating admin calls (`None`: loopback callers only).
    pub admin_token: Option<String>,
    /// For forwarding admin calls and consistent reads to the leader.
    pub http: reqwest::Client,
    pub metrics: Metrics,
}

/// The API routes of one node (the Raft routes are served beside them, see `app`).
pub fn router(state: AppState) -> Router {
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
        .route("/admin/cluster", get(admin::cluster))
        .route(
            "/admin/cluster/nodes/{id}/{op}",
            axum::routing::post(admin::node_op),
        )
        .route(
            "/admin/cluster/autopilot",
            axum::routing::post(admin::autopilot),
        )
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::observe,
        ))
        .with_state(state)
}
