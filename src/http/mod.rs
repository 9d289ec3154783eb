//! The HTTP surface: Alertmanager webhook, JSON API, health, and the Raft RPC routes.

mod access;
mod admin;
mod api;
mod error;
pub(crate) mod events;
mod export;
mod followup;
mod forward;
pub(crate) mod guards;
pub mod openapi;
mod preview;
pub mod routes;
mod view;
mod webhook;

use axum::Router;

pub use error::{ApiError, Challenge};
pub use followup::{FollowUpView, NotificationView, SilenceView};
pub use guards::BreakerView;
pub use preview::try_webhook;
pub use view::{AlertView, IngestView, OperariusView, RemediationView, TryView};
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
    /// Who may call what: users, tokens, the admin token, the webhook's credentials.
    pub auth: crate::auth::Auth,
    /// For forwarding admin calls and consistent reads to the leader.
    pub http: reqwest::Client,
    pub metrics: Metrics,
    /// This node's view of the managed Jobs (Kubernetes mode): when a remediation's Job was
    /// created and started, for the remediation page.
    pub jobs: Option<crate::kubernetes::JobTracker>,
    /// Set when this cluster node runs with `--insecure-cluster`: what it lacks, for the UI's
    /// banner.
    pub insecure_cluster: Option<String>,
    /// TLS of the API listener (`--tls-cert-file`), for its handshake metric.
    pub api_tls: Option<openfero_raft::tls::ServerTls>,
}

/// Who may read `/metrics` on this node (`--metrics-auth`).
pub fn metrics_access(state: &AppState) -> routes::Access {
    if state.auth.metrics_open() {
        routes::Access::Open
    } else {
        routes::Access::Viewer
    }
}

/// The router of one node's API listener (the Raft routes are served beside it, see `app`),
/// built from `table` (the whole site's: `crate::site::table`), each route behind the access
/// its entry declares.
pub fn router(state: AppState, table: Vec<routes::RouteDef>) -> Router {
    let access = std::sync::Arc::new(access::AccessTable::new(&table));
    let mut app = Router::new();
    for r in table {
        app = app.route(r.path, r.handler);
    }
    app.merge(openapi::swagger_assets())
        // Over every route above, not the fallback (a 404 gives nothing away).
        .layer(axum::middleware::from_fn_with_state(
            (state.clone(), access),
            access::enforce,
        ))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::observe,
        ))
        .with_state(state)
}
