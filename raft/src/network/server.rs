//! The receiving side: axum routes that hand RPCs to the local Raft.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Serialize;

use super::{CONTENT_TYPE, HEADER_CLUSTER, HEADER_TARGET};
use crate::codec;
use crate::types::NodeId;
use crate::Raft;

/// Largest accepted RPC body (append batches carry whole webhook payloads).
const MAX_RPC_BYTES: usize = 512 * 1024 * 1024;

#[derive(Clone)]
struct RpcState {
    raft: Raft,
    id: NodeId,
    cluster: String,
}

/// Routes `POST /raft/{append,vote,snapshot}` for the given node.
pub fn raft_router(raft: Raft, id: NodeId, cluster: impl Into<String>) -> Router {
    let state = RpcState {
        raft,
        id,
        cluster: cluster.into(),
    };
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        // Peers are trusted to send what openraft batches; application limits apply elsewhere.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_RPC_BYTES))
        .with_state(state)
}

fn reject(status: StatusCode, msg: String) -> Response {
    (status, msg).into_response()
}

/// Check the addressing headers and decode the body.
fn admit<T: serde::de::DeserializeOwned>(
    state: &RpcState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Response> {
    let target = headers
        .get(HEADER_TARGET)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<NodeId>().ok());
    if target != Some(state.id) {
        return Err(reject(
            StatusCode::CONFLICT,
            format!(
                "rpc addressed to node `{target:?}` reached node `{}`",
                state.id
            ),
        ));
    }
    let cluster = headers.get(HEADER_CLUSTER).and_then(|v| v.to_str().ok());
    if cluster != Some(state.cluster.as_str()) {
        return Err(reject(
            StatusCode::CONFLICT,
            format!(
                "rpc for cluster `{cluster:?}` reached cluster `{}`",
                state.cluster
            ),
        ));
    }
    codec::decode(body).map_err(|e| reject(StatusCode::BAD_REQUEST, format!("bad rpc body: {e}")))
}

fn answer<T: Serialize>(value: &T) -> Response {
    match codec::encode(value) {
        Ok(bytes) => ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], bytes).into_response(),
        Err(e) => reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encode answer: {e}"),
        ),
    }
}

async fn append(State(state): State<RpcState>, headers: HeaderMap, body: Bytes) -> Response {
    match admit(&state, &headers, &body) {
        Ok(req) => answer(&state.raft.append_entries(req).await),
        Err(r) => r,
    }
}

async fn vote(State(state): State<RpcState>, headers: HeaderMap, body: Bytes) -> Response {
    match admit(&state, &headers, &body) {
        Ok(req) => answer(&state.raft.vote(req).await),
        Err(r) => r,
    }
}

async fn snapshot(State(state): State<RpcState>, headers: HeaderMap, body: Bytes) -> Response {
    match admit(&state, &headers, &body) {
        Ok(req) => answer(&state.raft.install_snapshot(req).await),
        Err(r) => r,
    }
}
