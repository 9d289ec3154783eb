//! `/admin/cluster`: membership, visible and changeable. Mutations go to the leader (forwarded
//! from any node) and need the bearer token — or, when none is configured, a loopback caller.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::bearer_matches;
use super::error::ApiError;
use super::forward::forward;
use super::view::{AutopilotView, ErrorBody, MembershipChangeView};
use super::AppState;
use crate::cluster::{ClusterError, ClusterView, MembershipOp};

/// This node's view of the cluster: Raft state and every known node.
#[utoipa::path(
    get,
    path = "/admin/cluster",
    tag = "cluster",
    responses((status = 200, description = "The cluster as this node sees it", body = ClusterView))
)]
pub async fn cluster(State(state): State<AppState>) -> Json<ClusterView> {
    Json(state.cluster.view().await)
}

/// Mutating calls: a valid bearer token when one is configured; otherwise loopback callers only.
fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<(), ApiError> {
    match &state.admin_token {
        Some(token) if bearer_matches(headers, token) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized),
        None if peer.is_some_and(|p| p.ip().is_loopback()) => Ok(()),
        None => Err(ApiError::Forbidden(
            "admin changes without --admin-token-file are accepted from loopback only".into(),
        )),
    }
}

fn cluster_error(e: ClusterError) -> ApiError {
    match e {
        ClusterError::NotFound(id) => ApiError::NotFound {
            what: format!("cluster member `{id}`"),
        },
        ClusterError::Unsafe(_) => ApiError::Conflict(e.to_string()),
        ClusterError::NotLeader => ApiError::Unavailable {
            reason: e.to_string(),
            retry_after_secs: 1,
        },
        ClusterError::Raft(m) => ApiError::Unavailable {
            reason: format!("membership change failed: {m}"),
            retry_after_secs: 1,
        },
    }
}

/// Promote, demote or remove a node (on the leader; forwarded from any node).
#[utoipa::path(
    post,
    path = "/admin/cluster/nodes/{id}/{op}",
    tag = "cluster",
    params(
        ("id" = String, Path, description = "Node id, 16 hex digits"),
        ("op" = String, Path, description = "`promote`, `demote` or `remove`"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Membership changed", body = MembershipChangeView),
        (status = 400, description = "Bad node id", body = ErrorBody),
        (status = 401, description = "Token missing or wrong", body = ErrorBody),
        (status = 403, description = "No token configured and the caller is not on loopback", body = ErrorBody),
        (status = 404, description = "Unknown node or operation", body = ErrorBody),
        (status = 409, description = "The change would break quorum", body = ErrorBody),
        (status = 503, description = "No leader", body = ErrorBody),
    )
)]
pub async fn node_op(
    State(state): State<AppState>,
    Path((id, op)): Path<(String, String)>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(
        &state,
        &headers,
        peer.map(|Extension(ConnectInfo(addr))| addr),
    )?;
    let op = MembershipOp::parse(&op).ok_or_else(|| ApiError::NotFound {
        what: format!("operation `{op}` (use promote, demote or remove)"),
    })?;
    let node = u64::from_str_radix(&id, 16).map_err(|_| {
        ApiError::bad_request(
            format!("node id `{id}` is not 16 hex digits"),
            json!({ "field": "id" }),
        )
    })?;
    if state.cluster.replica().leader_id().is_none() {
        let path = format!("/admin/cluster/nodes/{id}/{}", op_name(op));
        return forward(&state, Method::POST, &path, &headers, body).await;
    }
    state
        .cluster
        .change_membership(node, op)
        .await
        .map_err(cluster_error)?;
    Ok(Json(MembershipChangeView {
        ok: true,
        node: id,
        op: op_name(op).into(),
    })
    .into_response())
}

fn op_name(op: MembershipOp) -> &'static str {
    match op {
        MembershipOp::Promote => "promote",
        MembershipOp::Demote => "demote",
        MembershipOp::Remove => "remove",
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AutopilotBody {
    paused: bool,
}

/// Pause or resume the membership autopilot.
#[utoipa::path(
    post,
    path = "/admin/cluster/autopilot",
    tag = "cluster",
    request_body = AutopilotBody,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Autopilot state changed", body = AutopilotView),
        (status = 400, description = "Body is not `{\"paused\": bool}`", body = ErrorBody),
        (status = 401, description = "Token missing or wrong", body = ErrorBody),
        (status = 403, description = "No token configured and the caller is not on loopback", body = ErrorBody),
        (status = 503, description = "No leader", body = ErrorBody),
    )
)]
pub async fn autopilot(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(
        &state,
        &headers,
        peer.map(|Extension(ConnectInfo(addr))| addr),
    )?;
    let parsed: AutopilotBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            format!("expected {{\"paused\": true|false}}: {e}"),
            json!({ "field": "paused" }),
        )
    })?;
    state
        .cluster
        .set_autopilot_paused(parsed.paused)
        .await
        .map_err(cluster_error)?;
    Ok(Json(AutopilotView {
        ok: true,
        autopilot_paused: parsed.paused,
    })
    .into_response())
}
