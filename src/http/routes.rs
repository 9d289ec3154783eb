//! The one table of this node's HTTP routes. `router` is built from it, and a test compares it
//! with the OpenAPI document, so a route cannot exist without being documented (or without
//! saying why it is not part of the API). Each route also declares who may call it
//! ([`Access`]); one middleware (`http::access`) enforces the table, and a route the table
//! does not declare is refused to everyone but admins.

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};

use super::{admin, api, export, guards, openapi, preview, webhook, AppState};
use crate::auth::Role;

/// Whether a route belongs in the OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// Part of the API: the document must describe it.
    Spec,
    /// Not an API operation (pages, assets, the document itself); the reason says why.
    NotApi(&'static str),
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Anyone: probes (Kubernetes, OpenFero's `GET /alerts`), and `/metrics` by default.
    Open,
    /// The webhook's own credentials (`--webhook-token-file`, `--webhook-basic-auth-file`),
    /// never the users'.
    Webhook,
    /// The viewer role or higher.
    Viewer,
    /// The operator role or higher.
    Operator,
    /// The admin role.
    Admin,
}

impl Access {
    /// The role a route needs, for the roles' routes.
    pub fn role(self) -> Option<Role> {
        match self {
            Access::Open | Access::Webhook => None,
            Access::Viewer => Some(Role::Viewer),
            Access::Operator => Some(Role::Operator),
            Access::Admin => Some(Role::Admin),
        }
    }
}

/// Routes mounted from a library under a prefix (not listed one by one), and their access.
pub const MOUNTS: &[(&str, Access)] = &[(openapi::SWAGGER_ASSETS, Access::Viewer)];

/// One method on one path.
pub struct RouteDef {
    pub method: Method,
    /// axum 0.8 / OpenAPI path syntax (`/api/remediations/{id}`).
    pub path: &'static str,
    pub listed: Listed,
    pub role: Access,
    pub(super) handler: MethodRouter<AppState>,
}

impl RouteDef {
    /// The same route, refusing bodies over `limit` bytes (413).
    pub(crate) fn limited(mut self, limit: usize) -> RouteDef {
        self.handler = self.handler.layer(DefaultBodyLimit::max(limit));
        self
    }
}

/// One table entry: `handler` answers `method` on `path`, for callers with `role`.
pub(crate) fn route<H, T>(
    method: Method,
    path: &'static str,
    listed: Listed,
    role: Access,
    handler: H,
) -> RouteDef
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone())
        .expect("the table only uses standard methods, each with a filter");
    RouteDef {
        method,
        path,
        listed,
        role,
        handler: on(filter, handler),
    }
}

/// Every route of the API listener except the Raft RPCs (`openfero-raft` serves those, beside
/// these or on their own listener) and the embedded Swagger UI assets under
/// [`openapi::SWAGGER_ASSETS`] (see [`MOUNTS`]). `metrics` is `/metrics`' access
/// (`--metrics-auth`).
pub fn table(body_limit: usize, metrics: Access) -> Vec<RouteDef> {
    use Access::{Admin, Open, Operator, Viewer, Webhook};
    use Listed::{NotApi, Spec};
    const DOC: Listed = NotApi("the OpenAPI document and its viewer");
    const OPENFERO: Listed = NotApi("OpenFero 0.18's path for the same operation (an alias)");
    let limited = |r: RouteDef| r.limited(body_limit);
    vec![
        route(Method::GET, "/alerts", Spec, Open, webhook::probe),
        limited(route(
            Method::POST,
            "/alerts",
            Spec,
            Webhook,
            webhook::receive,
        )),
        // OpenFero's paths, so its documented examples, Alertmanager configs and chart probes
        // keep working unchanged.
        limited(route(
            Method::POST,
            "/alert",
            OPENFERO,
            Webhook,
            webhook::receive,
        )),
        route(Method::GET, "/readiness", OPENFERO, Open, api::readyz),
        route(Method::GET, "/startupz", OPENFERO, Open, api::healthz),
        route(Method::GET, "/api/alerts", Spec, Viewer, api::alerts),
        route(
            Method::GET,
            "/api/alerts/export",
            Spec,
            Viewer,
            export::export,
        ),
        route(
            Method::GET,
            "/api/remediations",
            Spec,
            Viewer,
            api::remediations,
        ),
        route(
            Method::GET,
            "/api/remediations/{id}",
            Spec,
            Viewer,
            api::remediation,
        ),
        route(
            Method::POST,
            "/api/remediations/{id}/approve",
            Spec,
            Operator,
            guards::approve,
        ),
        route(
            Method::POST,
            "/api/remediations/{id}/deny",
            Spec,
            Operator,
            guards::deny,
        ),
        route(Method::GET, "/api/operarios", Spec, Viewer, api::operarios),
        route(
            Method::GET,
            "/api/operarios/problems",
            Spec,
            Viewer,
            api::operario_problems,
        ),
        limited(route(
            Method::POST,
            "/api/operarios/try",
            Spec,
            Viewer,
            preview::try_operarios,
        )),
        route(Method::GET, "/api/about", Spec, Viewer, api::about),
        route(Method::GET, "/api/guards", Spec, Viewer, guards::guards),
        route(
            Method::POST,
            "/api/guards/pause",
            Spec,
            Operator,
            guards::pause,
        ),
        route(
            Method::POST,
            "/api/guards/breakers/reset",
            Spec,
            Operator,
            guards::reset_breaker,
        ),
        route(Method::GET, "/admin/cluster", Spec, Viewer, admin::cluster),
        route(
            Method::POST,
            "/admin/cluster/nodes/{id}/{op}",
            Spec,
            Admin,
            admin::node_op,
        ),
        route(
            Method::POST,
            "/admin/cluster/autopilot",
            Spec,
            Admin,
            admin::autopilot,
        ),
        route(Method::GET, "/healthz", Spec, Open, api::healthz),
        route(Method::GET, "/readyz", Spec, Open, api::readyz),
        route(Method::GET, "/metrics", Spec, metrics, api::metrics),
        route(
            Method::GET,
            "/api/events",
            Spec,
            Viewer,
            super::events::events,
        ),
        route(
            Method::GET,
            "/api/openapi.json",
            DOC,
            Viewer,
            openapi::openapi_json,
        ),
        route(
            Method::GET,
            "/swagger",
            DOC,
            Viewer,
            openapi::swagger_redirect,
        ),
        route(
            Method::GET,
            "/swagger/",
            DOC,
            Viewer,
            openapi::swagger_index,
        ),
    ]
}
