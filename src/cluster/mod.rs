//! The cluster: the only place that turns gossip membership into Raft membership.
//!
//! - `bootstrap`: forms the first cluster from `--bootstrap-expect` gossip peers, once.
//! - `autopilot`: on the leader, adds learners, promotes caught-up ones, removes dead and
//!   stale voters — one change at a time, each held to `safety`.
//! - `ops`: the same changes requested through the admin API.
//! - `view`: what `GET /admin/cluster` shows.

mod autopilot;
mod bootstrap;
mod ops;
mod ordinal;
pub mod safety;
mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openfero_gossip::{Gossip, Member};
use tokio_util::sync::CancellationToken;

pub use autopilot::Autopilot;
pub use bootstrap::bootstrap;
pub use ops::{ClusterError, MembershipOp};
pub use ordinal::ordinal_of;
pub use view::{ClusterView, NodeView};

use crate::replica::Replica;

/// Settings of the cluster subsystem.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub node_name: String,
    pub api_advertise: String,
    pub raft_advertise: String,
    pub bootstrap_expect: u32,
    pub max_voters: usize,
    pub dead_after: Duration,
    pub promote_after: Duration,
    pub tick: Duration,
}

/// Cheap-to-clone handle: the replica, gossip (absent in embedded mode) and the lock that
/// serialises membership changes.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    replica: Replica,
    gossip: Option<Gossip>,
    config: ClusterConfig,
    change_lock: tokio::sync::Mutex<()>,
}

impl Cluster {
    pub fn new(replica: Replica, gossip: Option<Gossip>, config: ClusterConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                replica,
                gossip,
                config,
                change_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn replica(&self) -> &Replica {
        &self.inner.replica
    }

    pub fn gossip(&self) -> Option<&Gossip> {
        self.inner.gossip.as_ref()
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.inner.config
    }

    /// Gossip members by node id (empty in embedded mode).
    pub async fn members(&self) -> BTreeMap<u64, Member> {
        match &self.inner.gossip {
            Some(g) => g
                .members()
                .await
                .into_iter()
                .map(|m| (m.node_id, m))
                .collect(),
            None => BTreeMap::new(),
        }
    }

    /// Nodes that are alive in gossip, not leaving, and — seen from the leader — replicating
    /// within `lag` entries of its log. This node always counts as healthy.
    pub async fn healthy_nodes(&self, lag: u64) -> BTreeSet<u64> {
        let me = self.inner.replica.id();
        let metrics = self.inner.replica.raft().metrics().borrow().clone();
        let last = metrics.last_log_index.unwrap_or(0);
        let members = self.members().await;
        let mut healthy = BTreeSet::from([me]);
        let replication = metrics.replication.unwrap_or_default();
        for (id, m) in &members {
            if *id == me || !m.alive || m.meta.leaving {
                continue;
            }
            let matched = replication
                .get(id)
                .and_then(|l| l.as_ref().map(|l| l.index));
            let caught_up = match matched {
                Some(i) => i + lag >= last,
                // Not replicated to (yet): gossip liveness alone.
                None => !replication.contains_key(id),
            };
            if caught_up {
                healthy.insert(*id);
            }
        }
        healthy
    }

    /// Joined to gossip: always in embedded mode (no gossip); otherwise this node is not leaving
    /// and, when more than one node is expected, sees at least one other live member. Raft plays
    /// no part, so an election never changes it (the Kubernetes readiness probe).
    pub async fn gossip_joined(&self) -> bool {
        let Some(gossip) = &self.inner.gossip else {
            return true;
        };
        let members = gossip.members().await;
        if members.iter().any(|m| m.is_self && m.meta.leaving) {
            return false;
        }
        self.inner.config.bootstrap_expect <= 1
            || members
                .iter()
                .any(|m| !m.is_self && m.alive && !m.meta.leaving)
    }

    /// Serialise membership changes (autopilot and admin) through one lock.
    pub(crate) async fn lock_changes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.change_lock.lock().await
    }
}

/// Follows this node's own membership: publishes the cluster uuid to gossip once known, and
/// shuts Raft down when this node has been removed from the cluster (openraft 0.9 would keep a
/// removed node campaigning).
pub async fn watch_membership(cluster: Cluster, stop: CancellationToken) {
    let replica = cluster.replica().clone();
    let metrics = replica.raft().metrics();
    let mut changes = replica.state_changes();
    let mut published: Option<String> = None;
    let mut was_member = false;
    let mut indexes_sent: (Option<u64>, Option<u64>) = (None, None);
    let mut indexes_at = tokio::time::Instant::now();
    loop {
        // Progress for GET /admin/cluster on other nodes: at most once a second.
        if let Some(g) = cluster.gossip() {
            let now = {
                let m = metrics.borrow();
                (m.last_log_index, m.last_applied.map(|l| l.index))
            };
            if now != indexes_sent && indexes_at.elapsed() >= Duration::from_secs(1) {
                g.update_meta(|meta| {
                    meta.last_log_index = now.0;
                    meta.applied_index = now.1;
                })
                .await;
                indexes_sent = now;
                indexes_at = tokio::time::Instant::now();
            }
        }
        let uuid = replica.raft().cluster_uuid();
        if uuid.is_some() && uuid != published {
            bootstrap::publish_uuid(&cluster).await;
            published = uuid;
        }
        let (member, initialised) = {
            let m = metrics.borrow();
            let config = m.membership_config.clone();
            let membership = config.membership();
            let member = membership.get_node(&replica.id()).is_some();
            let initialised = membership.nodes().next().is_some();
            (member, initialised)
        };
        was_member |= member;
        // Removed while away: it never saw its removal, but a majority of the other voters
        // refuse its vote requests as coming from a non-member.
        let refused_by_majority = {
            let m = metrics.borrow();
            let config = m.membership_config.clone();
            let others: BTreeSet<u64> = config
                .membership()
                .voter_ids()
                .filter(|id| *id != replica.id())
                .collect();
            let refused = replica
                .raft()
                .identity()
                .not_member_of(Duration::from_secs(30));
            !others.is_empty() && refused.intersection(&others).count() > others.len() / 2
        };
        if (was_member && initialised && !member) || refused_by_majority {
            tracing::error!(
                node = %crate::ids::node_hex(replica.id()),
                "this node was removed from the cluster: stopping raft; wipe the data dir to rejoin as a new node"
            );
            if let Some(g) = cluster.gossip() {
                g.set_leaving(true).await;
            }
            let _ = replica.raft().shutdown().await;
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            r = changes.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
