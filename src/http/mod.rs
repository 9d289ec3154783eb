//! The HTTP surface: Alertmanager webhook, JSON API, health, and the Raft RPC routes.

mod admin;
mod api;
mod auth;
mod error;
mod forward;
pub mod openapi;
mod preview;
pub mod routes;
mod view;
mod webhook;

use axum::Router;

pub use error::ApiError;
pub use preview::try_webhook;
pub use view::{node_hex, AlertView, IngestView, OperariusView, RemediationView, TryView};
pub use webhook::read_body;

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
    /// Bearer token `POST /alerts` requires (`None`: the webhook is open).
    pub webhook_token: Option<String>,
    /// For forwarding admin calls and consistent reads to the leader.
    pub http: reqwest::Client,
    pub metrics: Metrics,
    /// This node's view of the managed Jobs (Kubernetes mode): when a remediation's Job was
    /// created and started, for the remediation page.
    pub jobs: Option<crate::kubernetes::JobTracker>,
    /// Set when this cluster node runs with `--insecure-cluster`: what it lacks, for the UI's
    /// banner.
    pub insecure_cluster: Option<String>,
}

/// The API routes of one node (the Raft routes are served beside them, see `app`), built from
/// [`routes::table`].
pub fn router(state: AppState) -> Router {
    let mut app = Router::new();
    for r in routes::table(state.body_limit) {
        app = app.route(r.path, r.handler);
    }
    app.merge(openapi::swagger_assets())
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::observe,
        ))
        .with_state(state)
}
