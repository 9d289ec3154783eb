//! The sending side: one shared reqwest client for all peers (plain, or the current one of
//! peer TLS).

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{de::DeserializeOwned, Serialize};

use super::peer_client::PeerClient;
use super::{
    CONTENT_TYPE, HEADER_CLUSTER, HEADER_CLUSTER_UUID, HEADER_FROM, HEADER_TARGET, NOT_A_MEMBER,
};
use crate::codec;
use crate::identity::Identity;
use crate::types::{NodeId, NodeInfo, TypeConfig};

/// Creates connections to peers. Cheap to clone: all connections share one HTTP client pool.
#[derive(Clone)]
pub struct HttpNetworkFactory {
    client: PeerClient,
    identity: Identity,
}

impl HttpNetworkFactory {
    /// RPCs over plain HTTP.
    pub fn new(identity: Identity) -> Self {
        let client = PeerClient::plain(
            reqwest::Client::builder()
                .connect_timeout(Duration::from_millis(500))
                .pool_idle_timeout(Duration::from_secs(30)),
        );
        Self { client, identity }
    }

    /// RPCs over mutual TLS (`https://`), with the client current at each call.
    #[cfg(feature = "peer-tls")]
    pub fn with_peer_tls(identity: Identity, tls: crate::tls::PeerTls) -> Self {
        Self {
            client: PeerClient::Tls(tls),
            identity,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetworkFactory {
    type Network = HttpConnection;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> Self::Network {
        HttpConnection {
            client: self.client.clone(),
            identity: self.identity.clone(),
            target,
            addr: node.raft_addr.clone(),
        }
    }
}

/// A connection to one peer.
pub struct HttpConnection {
    client: PeerClient,
    identity: Identity,
    target: NodeId,
    addr: String,
}

/// Failure of one RPC before a remote answer was decoded.
enum CallError {
    Unreachable(Unreachable),
    Network(NetworkError),
}

impl<E: std::error::Error> From<CallError> for RPCError<NodeId, NodeInfo, E> {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Unreachable(u) => RPCError::Unreachable(u),
            CallError::Network(n) => RPCError::Network(n),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

impl HttpConnection {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Result<Resp, E>, CallError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: DeserializeOwned,
    {
        let body = codec::encode(req).map_err(|e| CallError::Network(NetworkError::new(&e)))?;
        let url = self.client.url(&self.addr, &format!("/raft/{path}"));
        let mut builder = self
            .client
            .client()
            .post(&url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(HEADER_TARGET, self.target.to_string())
            .header(HEADER_FROM, self.identity.node_id().to_string())
            .header(HEADER_CLUSTER, self.identity.cluster_name());
        if let Some(uuid) = self.identity.cluster_uuid() {
            builder = builder.header(HEADER_CLUSTER_UUID, uuid);
        }
        if path == "append" {
            builder = builder.header(
                crate::clock::HEADER_CLUSTER_MS,
                crate::clock::LeaderTime::header_now(),
            );
        }
        let sent_wall = crate::clock::wall_ms();
        let sent = std::time::Instant::now();
        let resp = builder.body(body).send().await.map_err(|e| {
            if e.is_connect() {
                CallError::Unreachable(Unreachable::new(&e))
            } else {
                CallError::Network(NetworkError::new(&e))
            }
        })?;
        let status = resp.status();
        if path == "append" && status.is_success() {
            let peer_wall = resp
                .headers()
                .get(crate::clock::HEADER_WALL_MS)
                .and_then(|v| v.to_str().ok());
            match crate::clock::parse_ms(peer_wall) {
                Some(peer_wall) => {
                    crate::clock::measured(self.target, peer_wall, sent_wall, sent.elapsed())
                }
                None => crate::clock::peer_without_clock(),
            }
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CallError::Network(NetworkError::new(&e)))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if status == reqwest::StatusCode::CONFLICT && text.contains(NOT_A_MEMBER) {
                self.identity.note_not_member(self.target);
            }
            return Err(CallError::Network(NetworkError::new(&Message(format!(
                "{url} answered {status}: {text}"
            )))));
        }
        codec::decode(&bytes).map_err(|e| CallError::Network(NetworkError::new(&e)))
    }
}

impl RaftNetwork<TypeConfig> for HttpConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, NodeInfo, RaftError<NodeId>>> {
        let res: Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>> =
            self.call("append", &rpc, option.hard_ttl()).await?;
        if let Ok(AppendEntriesResponse::HigherVote(v)) = &res {
            // A node no longer in the membership (removed while it was away) answers with the
            // term it reached campaigning alone; that must not depose this leader.
            if self.identity.is_member(self.target) == Some(false) {
                return Err(RPCError::Unreachable(Unreachable::new(&Message(format!(
                    "ignored higher vote {v} from non-member `{}`",
                    self.target
                )))));
            }
        }
        res.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, NodeInfo, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let res: Result<_, RaftError<NodeId, InstallSnapshotError>> =
            self.call("snapshot", &rpc, option.hard_ttl()).await?;
        res.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, NodeInfo, RaftError<NodeId>>> {
        let res: Result<_, RaftError<NodeId>> = self.call("vote", &rpc, option.hard_ttl()).await?;
        res.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}
