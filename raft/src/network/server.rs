//! The receiving side: axum routes that hand RPCs to the local Raft.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Serialize;

use super::{
    CONTENT_TYPE, HEADER_CLUSTER, HEADER_CLUSTER_UUID, HEADER_FROM, HEADER_TARGET, NOT_A_MEMBER,
};
use crate::batcher::Batcher;
use crate::codec;
use crate::error::WriteError;
use crate::identity::{AdoptError, Identity};
use crate::proposer::{ForwardBatchRequest, ForwardRequest, Results};
use crate::types::NodeId;
use crate::Raft;

/// Checks a forwarded command before it joins a batch: one that this node's application
/// cannot decode is refused alone instead of stopping every replica at apply.
pub(crate) type Validate = std::sync::Arc<dyn Fn(&[u8]) -> Result<(), String> + Send + Sync>;

/// Largest accepted RPC body (append batches carry whole webhook payloads).
const MAX_RPC_BYTES: usize = 512 * 1024 * 1024;

#[derive(Clone)]
struct RpcState {
    raft: Raft,
    identity: Identity,
    batcher: Batcher,
    validate: Validate,
}

/// Routes `POST /raft/{append,vote,snapshot,propose,propose-batch}` for the given node.
/// Forwarded writes join this node's own batches.
pub(crate) fn raft_router(
    raft: Raft,
    identity: Identity,
    batcher: Batcher,
    validate: Validate,
) -> Router {
    let state = RpcState {
        raft,
        identity,
        batcher,
        validate,
    };
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/propose", post(propose))
        .route("/raft/propose-batch", post(propose_batch))
        // Peers are trusted to send what openraft batches; application limits apply elsewhere.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_RPC_BYTES))
        .with_state(state)
}

fn reject(status: StatusCode, msg: String) -> Response {
    (status, msg).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// What a request may do with the cluster uuid it carries.
#[derive(PartialEq)]
enum UuidUse {
    /// Appends and snapshots come from a leader: a node without a uuid adopts the leader's.
    Adopt,
    /// Votes and forwarded writes must match (or both sides have none).
    Match,
}

/// Check the addressing headers and decode the body.
async fn admit<T: serde::de::DeserializeOwned>(
    state: &RpcState,
    headers: &HeaderMap,
    body: &[u8],
    uuid_use: UuidUse,
) -> Result<(T, Option<NodeId>), Response> {
    let id = state.identity.node_id();
    let target = header(headers, HEADER_TARGET).and_then(|v| v.parse::<NodeId>().ok());
    if target != Some(id) {
        return Err(reject(
            StatusCode::CONFLICT,
            format!("rpc addressed to node `{target:?}` reached node `{id}`"),
        ));
    }
    let cluster = header(headers, HEADER_CLUSTER);
    if cluster != Some(state.identity.cluster_name()) {
        return Err(reject(
            StatusCode::CONFLICT,
            format!(
                "rpc for cluster `{cluster:?}` reached cluster `{}`",
                state.identity.cluster_name()
            ),
        ));
    }
    let theirs = header(headers, HEADER_CLUSTER_UUID);
    match (state.identity.cluster_uuid(), theirs) {
        (Some(ours), Some(theirs)) if ours != theirs => {
            return Err(reject(
                StatusCode::CONFLICT,
                format!("rpc from cluster uuid `{theirs}` reached cluster uuid `{ours}`"),
            ))
        }
        (None, Some(theirs)) if uuid_use == UuidUse::Adopt => {
            if let Err(e) = state.identity.adopt(theirs).await {
                let status = match e {
                    AdoptError::Mismatch(_) => StatusCode::CONFLICT,
                    AdoptError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
                };
                return Err(reject(status, e.to_string()));
            }
        }
        _ => {}
    }
    let from = header(headers, HEADER_FROM).and_then(|v| v.parse::<NodeId>().ok());
    let value = codec::decode(body)
        .map_err(|e| reject(StatusCode::BAD_REQUEST, format!("bad rpc body: {e}")))?;
    Ok((value, from))
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
    let received_wall = crate::clock::wall_ms();
    match admit(&state, &headers, &body, UuidUse::Adopt).await {
        Ok((req, _)) => {
            let res = state.raft.append_entries(req).await;
            // Accepted from the leader of this node's term: take its time.
            if matches!(
                res,
                Ok(openraft::raft::AppendEntriesResponse::Success
                    | openraft::raft::AppendEntriesResponse::PartialSuccess(_)
                    | openraft::raft::AppendEntriesResponse::Conflict)
            ) {
                let theirs = crate::clock::LeaderTime::parse(header(
                    &headers,
                    crate::clock::HEADER_CLUSTER_MS,
                ));
                crate::clock::follow(theirs, received_wall);
            }
            let mut out = answer(&res);
            out.headers_mut().insert(
                crate::clock::HEADER_WALL_MS,
                axum::http::HeaderValue::from(crate::clock::wall_ms()),
            );
            out
        }
        Err(r) => r,
    }
}

async fn vote(State(state): State<RpcState>, headers: HeaderMap, body: Bytes) -> Response {
    match admit(&state, &headers, &body, UuidUse::Match).await {
        Ok((req, from)) => {
            // A node removed from the membership keeps campaigning in openraft 0.9; its higher
            // terms would depose a healthy leader. Only members may ask for votes.
            let membership = state.raft.metrics().borrow().membership_config.clone();
            let known = from.is_some_and(|f| membership.membership().get_node(&f).is_some());
            if !known && membership.membership().nodes().next().is_some() {
                return reject(
                    StatusCode::CONFLICT,
                    format!("vote request from `{from:?}`, {NOT_A_MEMBER}"),
                );
            }
            answer(&state.raft.vote(req).await)
        }
        Err(r) => r,
    }
}

async fn snapshot(State(state): State<RpcState>, headers: HeaderMap, body: Bytes) -> Response {
    match admit(&state, &headers, &body, UuidUse::Adopt).await {
        Ok((req, _)) => answer(&state.raft.install_snapshot(req).await),
        Err(r) => r,
    }
}

/// One forwarded write (what nodes of the release before batching send).
async fn propose(State(state): State<RpcState>, headers: HeaderMap, body: Bytes) -> Response {
    match admit::<ForwardRequest>(&state, &headers, &body, UuidUse::Match).await {
        Ok((req, _)) => answer(&write_forwarded(&state, req).await),
        Err(r) => r,
    }
}

/// Forwarded writes in one call, each answered with its own result, in order.
async fn propose_batch(State(state): State<RpcState>, headers: HeaderMap, body: Bytes) -> Response {
    match admit::<ForwardBatchRequest>(&state, &headers, &body, UuidUse::Match).await {
        Ok((req, _)) => {
            let writes = req
                .items
                .into_iter()
                .map(|item| write_forwarded(&state, item));
            let results: Results = futures::future::join_all(writes).await;
            answer(&results)
        }
        Err(r) => r,
    }
}

async fn write_forwarded(state: &RpcState, item: ForwardRequest) -> Result<Vec<u8>, WriteError> {
    (state.validate)(&item.command).map_err(WriteError::Codec)?;
    state.batcher.submit(item.command, item.hops).await
}
