//! The whole site of a node's API listener: the API's routes (`http`) and the pages' (`ui`) in
//! one table, so one access middleware enforces every route and one test holds every route to
//! the OpenAPI document. It lives above both rooms: `ui` builds on `http`, never the reverse.

use axum::Router;

use crate::http::routes::{Access, RouteDef};
use crate::http::{self, AppState};
use crate::ui;

/// Every route of the API listener (the Raft RPCs aside); `metrics` is `/metrics`' access.
pub fn table(body_limit: usize, metrics: Access) -> Vec<RouteDef> {
    let mut table = http::routes::table(body_limit, metrics);
    table.extend(ui::routes(body_limit));
    table
}

/// The API listener's router for this node's state.
pub fn router(state: AppState) -> Router {
    let table = table(state.body_limit, http::metrics_access(&state));
    http::router(state, table)
}
