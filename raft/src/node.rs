//! The façade: one Raft node with its store, typed by the application state machine.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::{RaftMetrics, ServerState};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::batch;
use crate::batcher::{BatchStats, Batcher};
use crate::codec;
use crate::config::RaftConfig;
use crate::error::{Error, Result, WriteError};
use crate::identity::Identity;
use crate::kv::KvReader;
use crate::network::{raft_router, HttpNetworkFactory, PeerClient, Validate};
use crate::proposer::{Proposer, MAX_HOPS};
use crate::state_machine::StateMachine;
use crate::store::Store;
use crate::types::{NodeId, NodeInfo};
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
    identity: Identity,
    proposer: Proposer,
    batcher: Batcher,
    validate: Validate,
    #[cfg(feature = "peer-tls")]
    peer_tls: Option<crate::tls::PeerTls>,
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
    /// With `config.peer_tls` (feature `peer-tls`), its files are loaded first and every call
    /// to a peer goes over mutual TLS.
    pub async fn start(dir: &Path, config: RaftConfig, app: A) -> Result<Self> {
        let store = Store::open_with_cache(dir, config.cache_capacity)?;
        Self::start_on(store, config, app).await
    }

    /// [`RaftNode::start`] on a store opened already.
    pub(crate) async fn start_on(store: Store, config: RaftConfig, app: A) -> Result<Self> {
        let raft_config = Arc::new(config.validate()?);
        #[cfg(feature = "peer-tls")]
        let peer_tls = match &config.peer_tls {
            Some(c) => Some(crate::tls::PeerTls::load(c.clone())?),
            None => None,
        };
        let identity = store.identity(&config.cluster_name)?;
        let id = identity.node_id();
        let log = store.log_store()?;
        let sm = store.state_machine(Arc::new(app))?;
        let forward_client = || {
            PeerClient::plain(
                reqwest::Client::builder()
                    .connect_timeout(Duration::from_millis(500))
                    .tcp_nodelay(true),
            )
        };
        #[cfg(feature = "peer-tls")]
        let (network, forward) = match &peer_tls {
            Some(tls) => (
                HttpNetworkFactory::with_peer_tls(identity.clone(), tls.clone()),
                PeerClient::Tls(tls.clone()),
            ),
            None => (HttpNetworkFactory::new(identity.clone()), forward_client()),
        };
        #[cfg(not(feature = "peer-tls"))]
        let (network, forward) = (HttpNetworkFactory::new(identity.clone()), forward_client());
        let raft = openraft::Raft::new(id, raft_config, network, log, sm)
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        if initialized && identity.cluster_uuid().is_none() {
            // A store written before cluster uuids existed (single-node embedded mode).
            identity
                .adopt(&Identity::new_uuid())
                .await
                .map_err(|e| Error::Raft(e.to_string()))?;
        }
        let reader = store.reader()?;
        let proposer = Proposer::new(
            raft.clone(),
            identity.clone(),
            config.write_timeout,
            forward,
        );
        let batcher = Batcher::start(proposer.clone(), config.batch);
        let validate: Validate = Arc::new(|bytes: &[u8]| {
            batch::check_command(bytes).map_err(|e| e.to_string())?;
            codec::decode::<A::Command>(bytes)
                .map(drop)
                .map_err(|e| format!("a forwarded command does not decode: {e}"))
        });
        // Keep the identity's view of the membership current (the network consults it).
        let mut metrics = raft.metrics();
        let members_of = identity.clone();
        tokio::spawn(async move {
            loop {
                let ids: BTreeSet<NodeId> = metrics
                    .borrow()
                    .membership_config
                    .membership()
                    .nodes()
                    .map(|(id, _)| *id)
                    .collect();
                members_of.set_members(ids);
                if metrics.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Self {
            inner: Arc::new(Inner {
                id,
                raft,
                store,
                reader,
                config,
                identity,
                proposer,
                batcher,
                validate,
                #[cfg(feature = "peer-tls")]
                peer_tls,
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

    /// Routes serving this node's Raft RPCs and forwarded writes.
    pub fn router(&self) -> axum::Router {
        raft_router(
            self.inner.raft.clone(),
            self.inner.identity.clone(),
            self.inner.batcher.clone(),
            self.inner.validate.clone(),
        )
    }

    /// Serve [`RaftNode::router`] on `listener` until `shutdown` resolves: over mutual TLS
    /// when peer TLS is configured, plain HTTP otherwise. Open connections finish their
    /// requests before this returns.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router();
        #[cfg(feature = "peer-tls")]
        if let Some(tls) = &self.inner.peer_tls {
            return crate::tls::serve_tls(listener, router, tls.clone(), shutdown).await;
        }
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// The peer TLS handle, when configured: reloads ([`crate::tls::PeerTls::watch`]), the
    /// acceptor for other peer listeners, handshake counts.
    #[cfg(feature = "peer-tls")]
    pub fn peer_tls(&self) -> Option<&crate::tls::PeerTls> {
        self.inner.peer_tls.as_ref()
    }

    /// The client this node uses for peers right now (forwarded writes go through it): with
    /// peer TLS it presents this node's certificate and only reaches `https://` peers. Fetch
    /// it per call, so a certificate reload applies. Set a per-request timeout.
    pub fn peer_client(&self) -> reqwest::Client {
        self.inner.proposer.client().client()
    }

    /// `http://{addr}{path}`, or `https://{addr}{path}` with peer TLS: the URL of a peer call.
    pub fn peer_url(&self, addr: &str, path: &str) -> String {
        self.inner.proposer.client().url(addr, path)
    }

    /// Node id and cluster uuid.
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// The cluster uuid, once this node belongs to an initialised cluster.
    pub fn cluster_uuid(&self) -> Option<String> {
        self.inner.identity.cluster_uuid()
    }

    /// Whether this node has ever been part of an initialised cluster.
    pub async fn is_initialized(&self) -> Result<bool> {
        self.inner
            .raft
            .is_initialized()
            .await
            .map_err(|e| Error::Raft(e.to_string()))
    }

    /// Initialise a new cluster with the given voters, under a new cluster uuid. Only ever
    /// called once per cluster, by one node.
    pub async fn initialize(&self, members: BTreeMap<NodeId, NodeInfo>) -> Result<()> {
        if self.inner.identity.cluster_uuid().is_none() {
            self.inner
                .identity
                .adopt(&Identity::new_uuid())
                .await
                .map_err(|e| Error::Raft(e.to_string()))?;
        }
        self.inner
            .raft
            .initialize(members)
            .await
            .map_err(|e| Error::Raft(e.to_string()))
    }

    /// Propose `command` from any node: forwarded to the leader when this node does not lead,
    /// answered once committed. Without a leader within the write timeout: `NoQuorum`.
    /// Concurrent writes share Raft entries and forwards (see [`crate::batcher`]); each gets
    /// its own response.
    pub async fn write(&self, command: &A::Command) -> Result<A::Response, WriteError> {
        let bytes = Self::encode(command)?;
        let answer = self.inner.batcher.submit(bytes, 0).await?;
        codec::decode(&answer).map_err(|e| WriteError::Codec(e.to_string()))
    }

    /// Propose `command` on this node only (no forwarding) and in an entry of its own, in the
    /// order of this node's `write_local` calls: for side-effect bookkeeping that must come
    /// from the leader itself.
    pub async fn write_local(&self, command: &A::Command) -> Result<A::Response, WriteError> {
        let bytes = Self::encode(command)?;
        let answer = self.inner.proposer.write(bytes, MAX_HOPS).await?;
        codec::decode(&answer).map_err(|e| WriteError::Codec(e.to_string()))
    }

    fn encode(command: &A::Command) -> Result<Vec<u8>, WriteError> {
        let bytes = codec::encode(command).map_err(|e| WriteError::Codec(e.to_string()))?;
        batch::check_command(&bytes).map_err(|e| WriteError::Codec(e.to_string()))?;
        Ok(bytes)
    }

    /// How this node's writes were batched so far.
    pub fn batch_stats(&self) -> BatchStats {
        self.inner.batcher.stats()
    }

    /// Metrics stream from openraft.
    pub fn metrics(&self) -> watch::Receiver<RaftMetrics<NodeId, NodeInfo>> {
        self.inner.raft.metrics()
    }

    /// Why Raft has stopped on its own — a storage error (the disk is full, a flush failed) or
    /// a panic in its core — once it has; `None` while it runs and after an ordered
    /// [`RaftNode::shutdown`]. A node whose Raft stopped never acknowledges a write again.
    pub fn failure(&self) -> Option<String> {
        failure_of(&self.inner.raft.metrics().borrow())
    }

    /// Resolves once Raft has stopped on its own, with [`RaftNode::failure`]'s reason; never
    /// after an ordered shutdown.
    pub async fn failed(&self) -> String {
        let mut metrics = self.inner.raft.metrics();
        loop {
            if let Some(why) = failure_of(&metrics.borrow_and_update()) {
                return why;
            }
            if metrics.changed().await.is_err() {
                let stopped = metrics.borrow().running_state.is_err();
                if let Some(why) = failure_of(&metrics.borrow()) {
                    return why;
                }
                if stopped {
                    // Stopped on request: nothing failed.
                    return std::future::pending().await;
                }
                // The core's task is gone without saying why (a panic).
                return "the raft core task ended".to_string();
            }
        }
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

/// The reason Raft stopped, unless it runs or was stopped on request.
fn failure_of(m: &RaftMetrics<NodeId, NodeInfo>) -> Option<String> {
    match &m.running_state {
        Ok(()) | Err(openraft::error::Fatal::Stopped) => None,
        Err(openraft::error::Fatal::StorageError(e)) => Some(format!("storage failed: {e}")),
        Err(e) => Some(e.to_string()),
    }
}
