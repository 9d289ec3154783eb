//! `/admin/cluster`: membership, visible and changeable. Mutations go to the leader (forwarded
//! from any node) and need the admin role (`http::access`: a user or token of the auth file,
//! the admin token, or — with neither configured — a loopback caller). Each change is logged
//! with the caller (`by`); the autopilot's state records it in the replicated log.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::forward::forward;
use super::view::{AutopilotView, ErrorBody, MembershipChangeView};
use super::AppState;
use crate::auth::Identity;
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
    security((), ("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "Membership changed", body = MembershipChangeView),
        (status = 400, description = "Bad node id", body = ErrorBody),
        (status = 401, description = "Credentials missing or wrong", body = ErrorBody),
        (status = 403, description = "The caller is not an admin (or, without --auth-file and --admin-token-file, not on loopback), or the request comes from another origin", body = ErrorBody),
        (status = 404, description = "Unknown node or operation", body = ErrorBody),
        (status = 409, description = "The change would break quorum", body = ErrorBody),
        (status = 503, description = "No leader", body = ErrorBody),
    )
)]
pub async fn node_op(
    State(state): State<AppState>,
    Path((id, op)): Path<(String, String)>,
    Extension(by): Extension<Identity>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
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
        tracing::info!(by = %by.name, node = %id, op = op_name(op), "admin membership change forwarded to the leader");
        return forward(&state, Method::POST, &path, &headers, body).await;
    }
    state
        .cluster
        .change_membership(node, op, &by.name)
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
    security((), ("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "Autopilot state changed", body = AutopilotView),
        (status = 400, description = "Body is not `{\"paused\": bool}`", body = ErrorBody),
        (status = 401, description = "Credentials missing or wrong", body = ErrorBody),
        (status = 403, description = "The caller is not an admin (or, without --auth-file and --admin-token-file, not on loopback), or the request comes from another origin", body = ErrorBody),
        (status = 503, description = "No leader", body = ErrorBody),
    )
)]
pub async fn autopilot(
    State(state): State<AppState>,
    Extension(by): Extension<Identity>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parsed: AutopilotBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            format!("expected {{\"paused\": true|false}}: {e}"),
            json!({ "field": "paused" }),
        )
    })?;
    state
        .cluster
        .set_autopilot_paused(parsed.paused, &by.name)
        .await
        .map_err(cluster_error)?;
    Ok(Json(AutopilotView {
        ok: true,
        autopilot_paused: parsed.paused,
    })
    .into_response())
}
