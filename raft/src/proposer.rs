//! Client writes from any node: propose locally when leading, otherwise forward the encoded
//! command to the leader's Raft address (`POST /raft/propose`), at most [`MAX_HOPS`] hops, and
//! answer only once it is committed. Without a known leader, wait for one until the write
//! timeout, then give up with `NoQuorum`.

use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::codec;
use crate::error::WriteError;
use crate::identity::Identity;
use crate::network::{
    PeerClient, CONTENT_TYPE, HEADER_CLUSTER, HEADER_CLUSTER_UUID, HEADER_FROM, HEADER_TARGET,
};
use crate::types::{NodeId, Payload};
use crate::Raft;

/// Most forwards of one write (follower → leader → new leader).
pub const MAX_HOPS: u8 = 2;

/// A forwarded write.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ForwardRequest {
    pub command: Vec<u8>,
    pub hops: u8,
}

/// Writes commands, forwarding when needed. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Proposer {
    raft: Raft,
    identity: Identity,
    client: PeerClient,
    timeout: Duration,
}

impl Proposer {
    pub fn new(raft: Raft, identity: Identity, timeout: Duration, client: PeerClient) -> Self {
        Self {
            raft,
            identity,
            client,
            timeout,
        }
    }

    /// The client forwards go through.
    pub fn client(&self) -> &PeerClient {
        &self.client
    }

    /// Commit `command`, forwarding up to `MAX_HOPS - hops` times.
    pub async fn write(&self, command: Vec<u8>, hops: u8) -> Result<Vec<u8>, WriteError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(WriteError::NoQuorum(self.timeout));
            }
            let res =
                tokio::time::timeout(remaining, self.raft.client_write(Payload(command.clone())))
                    .await;
            let forward = match res {
                Err(_) => return Err(WriteError::NoQuorum(self.timeout)),
                Ok(Ok(resp)) => return Ok(resp.data.0),
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => f,
                Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
                    return Err(WriteError::Fatal(e.to_string()))
                }
                Ok(Err(RaftError::Fatal(e))) => return Err(WriteError::Fatal(e.to_string())),
            };
            match (forward.leader_id, forward.leader_node) {
                (Some(leader), Some(node)) if leader != self.identity.node_id() => {
                    if hops >= MAX_HOPS {
                        return Err(WriteError::NotLeader {
                            leader: Some(leader),
                            node: Some(node),
                        });
                    }
                    let sent = self
                        .forward(
                            leader,
                            &node.raft_addr,
                            command.clone(),
                            hops + 1,
                            remaining,
                        )
                        .await;
                    tracing::debug!(leader, hops, ok = sent.is_ok(), "forwarded a write");
                    match sent {
                        Ok(answer) => return Ok(answer),
                        Err(Forward::Failed(e)) => return Err(e),
                        Err(Forward::Unreachable) => {
                            // The leader we know of is gone: wait for the next one, retry.
                            let wait = remaining.min(Duration::from_millis(250));
                            let _ = self
                                .raft
                                .wait(Some(wait))
                                .metrics(
                                    |m| m.current_leader.is_some_and(|l| l != leader),
                                    "a new leader is known",
                                )
                                .await;
                        }
                    }
                }
                other => {
                    tracing::debug!(leader = ?other.0, "no leader to forward to");
                    // No leader known (an election is running): wait for one, then retry.
                    let wait = remaining.min(Duration::from_millis(500));
                    let _ = self
                        .raft
                        .wait(Some(wait))
                        .metrics(|m| m.current_leader.is_some(), "a leader is known")
                        .await;
                }
            }
        }
    }

    async fn forward(
        &self,
        leader: NodeId,
        addr: &str,
        command: Vec<u8>,
        hops: u8,
        timeout: Duration,
    ) -> Result<Vec<u8>, Forward> {
        let body = codec::encode(&ForwardRequest { command, hops })
            .map_err(|e| Forward::Failed(WriteError::Codec(e.to_string())))?;
        let mut req = self
            .client
            .client()
            .post(self.client.url(addr, "/raft/propose"))
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(HEADER_TARGET, leader.to_string())
            .header(HEADER_FROM, self.identity.node_id().to_string())
            .header(HEADER_CLUSTER, self.identity.cluster_name());
        if let Some(uuid) = self.identity.cluster_uuid() {
            req = req.header(HEADER_CLUSTER_UUID, uuid);
        }
        let resp = req.body(body).send().await.map_err(|e| {
            tracing::debug!(error = %e, connect = e.is_connect(), "forward failed");
            if e.is_connect() {
                // Never reached the leader: safe to retry elsewhere.
                Forward::Unreachable
            } else {
                // Sent, outcome unknown (it may still commit): the caller must not assume.
                Forward::Failed(WriteError::NoQuorum(timeout))
            }
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|_| Forward::Failed(WriteError::NoQuorum(timeout)))?;
        if status == reqwest::StatusCode::CONFLICT {
            // The address no longer belongs to the leader we meant: refused before proposing.
            return Err(Forward::Unreachable);
        }
        if !status.is_success() {
            return Err(Forward::Failed(WriteError::Fatal(format!(
                "leader `{leader}` refused the forwarded write ({status}): {}",
                String::from_utf8_lossy(&bytes)
            ))));
        }
        let answer: Result<Vec<u8>, WriteError> =
            codec::decode(&bytes).map_err(|e| Forward::Failed(WriteError::Codec(e.to_string())))?;
        answer.map_err(Forward::Failed)
    }
}

/// Why a forward produced no answer.
enum Forward {
    /// The leader was not reached; the write was not proposed there.
    Unreachable,
    /// The leader answered with an error, or the outcome is unknown.
    Failed(WriteError),
}
