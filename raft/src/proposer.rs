//! Client writes from any node: propose locally when leading, otherwise forward the encoded
//! commands to the leader's Raft address, at most [`MAX_HOPS`] hops, and answer only once they
//! are committed. Without a known leader, wait for one until the write timeout, then give up
//! with `NoQuorum`.
//!
//! A batch (see [`crate::batcher`]) is one Raft entry when leading ([`crate::batch`]) and one
//! `POST /raft/propose-batch` when following; each command gets its own result. A forward that
//! never reached the leader is retried once a new leader is known; one whose outcome is unknown
//! answers `NoQuorum` for every command in it, never a blind retry.

use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::batch;
use crate::batcher::{Item, Sink};
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

/// A forwarded write (`POST /raft/propose`, one command: what nodes before batching send).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ForwardRequest {
    pub command: Vec<u8>,
    pub hops: u8,
}

/// Forwarded writes in one call (`POST /raft/propose-batch`), answered by a
/// `Vec<Result<Vec<u8>, WriteError>>` in the same order.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ForwardBatchRequest {
    pub items: Vec<ForwardRequest>,
}

/// [`ForwardBatchRequest`] borrowing its items (the same encoding).
#[derive(Serialize)]
struct ForwardBatchRef<'a> {
    items: &'a [ForwardRequest],
}

/// One result per command of a batch.
pub(crate) type Results = Vec<Result<Vec<u8>, WriteError>>;

fn all(n: usize, e: WriteError) -> Results {
    vec![Err(e); n]
}

/// Writes commands, forwarding when needed. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Proposer {
    raft: Raft,
    identity: Identity,
    client: PeerClient,
    timeout: Duration,
}

impl Sink for Proposer {
    async fn submit(&self, items: Vec<Item>) -> Results {
        self.write_batch(items).await
    }
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

    /// Commit one `command` on its own, forwarding up to `MAX_HOPS - hops` times.
    pub async fn write(&self, command: Vec<u8>, hops: u8) -> Result<Vec<u8>, WriteError> {
        self.write_batch(vec![Item { command, hops }])
            .await
            .pop()
            .unwrap_or_else(|| {
                Err(WriteError::Fatal(
                    "a write was answered with nothing".into(),
                ))
            })
    }

    /// Commit `items` as one entry (leading) or one forward (following); one result per item.
    pub async fn write_batch(&self, items: Vec<Item>) -> Results {
        let n = items.len();
        if n == 0 {
            return Vec::new();
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return all(n, WriteError::NoQuorum(self.timeout));
            }
            let commands: Vec<&[u8]> = items.iter().map(|i| i.command.as_slice()).collect();
            let entry = match batch::encode_entry(&commands) {
                Ok(entry) => entry,
                Err(e) => return all(n, WriteError::Codec(e.to_string())),
            };
            let res = tokio::time::timeout(remaining, self.raft.client_write(Payload(entry))).await;
            let forward = match res {
                Err(_) => return all(n, WriteError::NoQuorum(self.timeout)),
                Ok(Ok(resp)) => return split_response(n, resp.data.0),
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => f,
                Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
                    return all(n, WriteError::Fatal(e.to_string()))
                }
                Ok(Err(RaftError::Fatal(e))) => return all(n, WriteError::Fatal(e.to_string())),
            };
            match (forward.leader_id, forward.leader_node) {
                (Some(leader), Some(node)) if leader != self.identity.node_id() => {
                    // Commands forwarded too often already are answered here; the others
                    // travel to the leader in one call.
                    let (send, stop): (Vec<usize>, Vec<usize>) =
                        (0..n).partition(|i| items[*i].hops < MAX_HOPS);
                    let mut results: Vec<Option<Result<Vec<u8>, WriteError>>> = vec![None; n];
                    for i in stop {
                        results[i] = Some(Err(WriteError::NotLeader {
                            leader: Some(leader),
                            node: Some(node.clone()),
                        }));
                    }
                    if !send.is_empty() {
                        let batch: Vec<ForwardRequest> = send
                            .iter()
                            .map(|i| ForwardRequest {
                                command: items[*i].command.clone(),
                                hops: items[*i].hops + 1,
                            })
                            .collect();
                        let sent = self
                            .forward(leader, &node.raft_addr, batch, remaining)
                            .await;
                        tracing::debug!(
                            leader,
                            commands = send.len(),
                            ok = sent.is_ok(),
                            "forwarded writes"
                        );
                        let answers = match sent {
                            Ok(answers) => answers,
                            Err(Forward::Failed(e)) => all(send.len(), e),
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
                                continue;
                            }
                        };
                        for (i, a) in send.into_iter().zip(answers) {
                            results[i] = Some(a);
                        }
                    }
                    return results
                        .into_iter()
                        .map(|r| {
                            r.unwrap_or_else(|| {
                                Err(WriteError::Fatal(
                                    "the leader left a write unanswered".into(),
                                ))
                            })
                        })
                        .collect();
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

    fn request(
        &self,
        leader: NodeId,
        addr: &str,
        path: &str,
        timeout: Duration,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .client()
            .post(self.client.url(addr, path))
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(HEADER_TARGET, leader.to_string())
            .header(HEADER_FROM, self.identity.node_id().to_string())
            .header(HEADER_CLUSTER, self.identity.cluster_name());
        if let Some(uuid) = self.identity.cluster_uuid() {
            req = req.header(HEADER_CLUSTER_UUID, uuid);
        }
        req
    }

    /// Send `items` to the leader in one call; one answer per item.
    async fn forward(
        &self,
        leader: NodeId,
        addr: &str,
        items: Vec<ForwardRequest>,
        timeout: Duration,
    ) -> Result<Results, Forward> {
        let n = items.len();
        let body = codec::encode(&ForwardBatchRef { items: &items })
            .map_err(|e| Forward::Failed(WriteError::Codec(e.to_string())))?;
        let req = self.request(leader, addr, "/raft/propose-batch", timeout);
        let (status, bytes) = self.send(req, body, timeout).await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            // A leader of the release before batching: nothing was proposed; one call each.
            let calls = items
                .iter()
                .map(|item| self.forward_one(leader, addr, item, timeout));
            return Ok(futures::future::join_all(calls).await);
        }
        let answers: Results = self.answer(leader, status, &bytes)?;
        if answers.len() != n {
            return Err(Forward::Failed(WriteError::Fatal(format!(
                "leader `{leader}` answered {} results for {n} forwarded writes",
                answers.len()
            ))));
        }
        Ok(answers)
    }

    /// One command to `POST /raft/propose`, for a leader that predates batching.
    async fn forward_one(
        &self,
        leader: NodeId,
        addr: &str,
        item: &ForwardRequest,
        timeout: Duration,
    ) -> Result<Vec<u8>, WriteError> {
        let sent = async {
            let body = codec::encode(item)
                .map_err(|e| Forward::Failed(WriteError::Codec(e.to_string())))?;
            let req = self.request(leader, addr, "/raft/propose", timeout);
            let (status, bytes) = self.send(req, body, timeout).await?;
            self.answer::<Result<Vec<u8>, WriteError>>(leader, status, &bytes)
        };
        match sent.await {
            Ok(answer) => answer,
            Err(Forward::Failed(e)) => Err(e),
            // Not proposed, but its neighbours may have been: the sender retries it.
            Err(Forward::Unreachable) => Err(WriteError::NoQuorum(timeout)),
        }
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(reqwest::StatusCode, axum::body::Bytes), Forward> {
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
        Ok((status, bytes))
    }

    fn answer<T: serde::de::DeserializeOwned>(
        &self,
        leader: NodeId,
        status: reqwest::StatusCode,
        bytes: &[u8],
    ) -> Result<T, Forward> {
        if !status.is_success() {
            return Err(Forward::Failed(WriteError::Fatal(format!(
                "leader `{leader}` refused the forwarded write ({status}): {}",
                String::from_utf8_lossy(bytes)
            ))));
        }
        codec::decode(bytes).map_err(|e| Forward::Failed(WriteError::Codec(e.to_string())))
    }
}

/// Each command's response from a committed entry's response.
fn split_response(n: usize, data: Vec<u8>) -> Results {
    if n == 1 {
        return vec![Ok(data)];
    }
    match batch::decode_responses(&data) {
        Ok(responses) if responses.len() == n => responses.into_iter().map(Ok).collect(),
        Ok(responses) => all(
            n,
            WriteError::Fatal(format!(
                "a batch of {n} commands was applied with {} responses",
                responses.len()
            )),
        ),
        Err(e) => all(n, WriteError::Codec(e.to_string())),
    }
}

/// Why a forward produced no answer.
enum Forward {
    /// The leader was not reached; the write was not proposed there.
    Unreachable,
    /// The leader answered with an error, or the outcome is unknown.
    Failed(WriteError),
}
