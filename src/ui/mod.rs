//! The web UI: server-rendered pages (minijinja templates compiled into the binary), a little
//! hand-written JS and CSS, live updates through Server-Sent Events. No CDN, no build step.

pub mod actions;
mod assets;
mod chart;
pub mod operarios;
pub mod pages;
pub mod remediation;
mod templates;

pub use assets::{app_css, app_js};

use axum::http::Method;

use crate::http::routes::{route, Access, Listed, RouteDef};

/// The pages' and assets' routes, for the site's one table (`crate::site`): none of them is
/// part of the API document.
pub fn routes(body_limit: usize) -> Vec<RouteDef> {
    use Access::{Operator, Viewer};
    const UI: Listed = Listed::NotApi("web UI page or asset");
    vec![
        route(Method::GET, "/", UI, Viewer, pages::alerts),
        route(
            Method::GET,
            "/remediations/{id}",
            UI,
            Viewer,
            remediation::remediation,
        ),
        route(
            Method::POST,
            "/remediations/{id}/approve",
            UI,
            Operator,
            actions::approve,
        ),
        route(
            Method::POST,
            "/remediations/{id}/deny",
            UI,
            Operator,
            actions::deny,
        ),
        route(Method::POST, "/guards/pause", UI, Operator, actions::pause),
        route(
            Method::POST,
            "/guards/breakers/reset",
            UI,
            Operator,
            actions::reset_breaker,
        ),
        route(Method::GET, "/operarios", UI, Viewer, operarios::operarios),
        route(
            Method::POST,
            "/operarios/try",
            UI,
            Viewer,
            operarios::try_operarios,
        )
        .limited(body_limit),
        route(Method::GET, "/cluster", UI, Viewer, pages::cluster),
        route(Method::GET, "/ui/app.css", UI, Viewer, app_css),
        route(Method::GET, "/ui/app.js", UI, Viewer, app_js),
    ]
}
