//! The façade: one Raft node with its store, typed by the application state machine.

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{RaftMetrics, ServerState};
use tokio::sync::watch;

use crate::codec;
use crate::config::RaftConfig;
use crate::error::{Error, Result, WriteError};
use crate::kv::KvReader;
use crate::network::{raft_router, HttpNetworkFactory};
use crate::state_machine::StateMachine;
use crate::store::Store;
use crate::types::{NodeId, NodeInfo, Payload};
use crate::Raft;

/// A running Raft node. Cheap to clone.
pub struct RaftNode<A: StateMachine> {
    inner: Arc<Inner>,
    _app: PhantomData<fn() -> A>,
}

impl<A: StateMachine> Clone for RaftNode<A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _app: PhantomData,
        }
    }
}

struct Inner {
    id: NodeId,
    raft: Raft,
    store: Store,
    reader: KvReader,
    config: RaftConfig,
}

/// A point-in-time summary of this node's Raft state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    pub id: NodeId,
    pub state: ServerState,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub voters: BTreeSet<NodeId>,
    pub learners: BTreeSet<NodeId>,
    pub nodes: BTreeMap<NodeId, NodeInfo>,
    /// Milliseconds since a quorum last acknowledged this leader (leader only).
    pub millis_since_quorum_ack: Option<u64>,
}

impl<A: StateMachine> RaftNode<A> {
    /// Open the store in `dir` and start Raft. The node id is read from the store (or created).
    pub async fn start(dir: &Path, config: RaftConfig, app: A) -> Result<Self> {
        let raft_config = Arc::new(config.validate()?);
        let store = Store::open(dir)?;
        let id = store.node_id_or_create()?;
        let log = store.log_store()?;
        let sm = store.state_machine(Arc::new(app))?;
        let network = HttpNetworkFactory::new(config.cluster_name.clone());
        let raft = openraft::Raft::new(id, raft_config, network, log, sm)
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        let reader = store.reader()?;
        Ok(Self {
            inner: Arc::new(Inner {
                id,
                raft,
                store,
                reader,
                config,
            }),
            _app: PhantomData,
        })
    }

    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// The underlying openraft handle (membership changes, linearizable reads, triggers).
    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// Read-only view of the applied application state.
    pub fn reader(&self) -> &KvReader {
        &self.inner.reader
    }

    pub fn config(&self) -> &RaftConfig {
        &self.inner.config
    }

    /// Routes serving this node's Raft RPCs.
    pub fn router(&self) -> axum::Router {
        raft_router(
            self.inner.raft.clone(),
            self.inner.id,
            self.inner.config.cluster_name.clone(),
        )
    }

    /// Whether this node has ever been part of an initialised cluster.
    pub async fn is_initialized(&self) -> Result<bool> {
        self.inner
            .raft
            .is_initialized()
            .await
            .map_err(|e| Error::Raft(e.to_string()))
    }

    /// Initialise a new cluster with the given voters. Only ever called once per cluster.
    pub async fn initialize(&self, members: BTreeMap<NodeId, NodeInfo>) -> Result<()> {
        self.inner
            .raft
            .initialize(members)
            .await
            .map_err(|e| Error::Raft(e.to_string()))
    }

    /// Propose `command` and wait until it is committed and applied here.
    pub async fn write(&self, command: &A::Command) -> Result<A::Response, WriteError> {
        let bytes = codec::encode(command).map_err(|e| WriteError::Codec(e.to_string()))?;
        let timeout = self.inner.config.write_timeout;
        let res = tokio::time::timeout(timeout, self.inner.raft.client_write(Payload(bytes))).await;
        match res {
            Err(_) => Err(WriteError::NoQuorum(timeout)),
            Ok(Ok(resp)) => {
                codec::decode(&resp.data.0).map_err(|e| WriteError::Codec(e.to_string()))
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(WriteError::NotLeader {
                    leader: f.leader_id,
                    node: f.leader_node,
                })
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
                Err(WriteError::Fatal(e.to_string()))
            }
            Ok(Err(RaftError::Fatal(e))) => Err(WriteError::Fatal(e.to_string())),
        }
    }

    /// Metrics stream from openraft.
    pub fn metrics(&self) -> watch::Receiver<RaftMetrics<NodeId, NodeInfo>> {
        self.inner.raft.metrics()
    }

    /// Summary of the current Raft state.
    pub fn status(&self) -> NodeStatus {
        let m = self.inner.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let learners: BTreeSet<NodeId> = membership.learner_ids().collect();
        let nodes = membership.nodes().map(|(id, n)| (*id, n.clone())).collect();
        NodeStatus {
            id: m.id,
            state: m.state,
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            voters,
            learners,
            nodes,
            millis_since_quorum_ack: m.millis_since_quorum_ack,
        }
    }

    /// Stop Raft and flush the store.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner
            .raft
            .shutdown()
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        self.inner.store.flush().await
    }
}
