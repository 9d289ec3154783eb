//! The one table of this node's HTTP routes. `router` is built from it, and a test compares it
//! with the OpenAPI document, so a route cannot exist without being documented (or without
//! saying why it is not part of the API).

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};

use super::{admin, api, openapi, preview, webhook, AppState};
use crate::ui;

/// Whether a route belongs in the OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// Part of the API: the document must describe it.
    Spec,
    /// Not an API operation (pages, assets, the document itself); the reason says why.
    NotApi(&'static str),
}

/// One method on one path.
pub struct RouteDef {
    pub method: Method,
    /// axum 0.8 / OpenAPI path syntax (`/api/remediations/{id}`).
    pub path: &'static str,
    pub listed: Listed,
    pub(super) handler: MethodRouter<AppState>,
}

fn route<H, T>(method: Method, path: &'static str, listed: Listed, handler: H) -> RouteDef
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
        handler: on(filter, handler),
    }
}

/// Every route of the API listener except the Raft RPCs (`openfero-raft` serves those, beside
/// these or on their own listener) and the embedded Swagger UI assets under
/// [`openapi::SWAGGER_ASSETS`].
pub fn table(body_limit: usize) -> Vec<RouteDef> {
    use Listed::{NotApi, Spec};
    const DOC: Listed = NotApi("the OpenAPI document and its viewer");
    const UI: Listed = NotApi("web UI page or asset");
    const OPENFERO: Listed = NotApi("OpenFero 0.18's path for the same operation (an alias)");
    let limited = |mut r: RouteDef| {
        r.handler = r.handler.layer(DefaultBodyLimit::max(body_limit));
        r
    };
    vec![
        route(Method::GET, "/alerts", Spec, webhook::probe),
        limited(route(Method::POST, "/alerts", Spec, webhook::receive)),
        // OpenFero's paths, so its documented examples, Alertmanager configs and chart probes
        // keep working unchanged.
        limited(route(Method::POST, "/alert", OPENFERO, webhook::receive)),
        route(Method::GET, "/readiness", OPENFERO, api::readyz),
        route(Method::GET, "/startupz", OPENFERO, api::healthz),
        route(Method::GET, "/api/alerts", Spec, api::alerts),
        route(Method::GET, "/api/remediations", Spec, api::remediations),
        route(
            Method::GET,
            "/api/remediations/{id}",
            Spec,
            api::remediation,
        ),
        route(Method::GET, "/api/operarios", Spec, api::operarios),
        route(
            Method::GET,
            "/api/operarios/problems",
            Spec,
            api::operario_problems,
        ),
        limited(route(
            Method::POST,
            "/api/operarios/try",
            Spec,
            preview::try_operarios,
        )),
        route(Method::GET, "/api/about", Spec, api::about),
        route(Method::GET, "/admin/cluster", Spec, admin::cluster),
        route(
            Method::POST,
            "/admin/cluster/nodes/{id}/{op}",
            Spec,
            admin::node_op,
        ),
        route(
            Method::POST,
            "/admin/cluster/autopilot",
            Spec,
            admin::autopilot,
        ),
        route(Method::GET, "/healthz", Spec, api::healthz),
        route(Method::GET, "/readyz", Spec, api::readyz),
        route(Method::GET, "/metrics", Spec, api::metrics),
        route(Method::GET, "/api/events", Spec, ui::events::events),
        route(Method::GET, "/api/openapi.json", DOC, openapi::openapi_json),
        route(Method::GET, "/swagger", DOC, openapi::swagger_redirect),
        route(Method::GET, "/swagger/", DOC, openapi::swagger_index),
        route(Method::GET, "/", UI, ui::pages::alerts),
        route(
            Method::GET,
            "/remediations/{id}",
            UI,
            ui::pages::remediation,
        ),
        route(Method::GET, "/operarios", UI, ui::pages::operarios),
        limited(route(
            Method::POST,
            "/operarios/try",
            UI,
            ui::pages::try_operarios,
        )),
        route(Method::GET, "/cluster", UI, ui::pages::cluster),
        route(Method::GET, "/ui/app.css", UI, ui::app_css),
        route(Method::GET, "/ui/app.js", UI, ui::app_js),
    ]
}
