//! Membership autopilot, on the leader only, one change per tick, serialised with admin calls.
//!
//! 1. A live gossip node whose Raft id is not a member is added as a learner.
//! 2. A member that is dead while another live node carries its name (a pod back with a wiped
//!    disk, hence a new id) is removed.
//! 3. A member dead for longer than `dead_after` is removed, voters only while quorum is kept.
//! 4. The voter set becomes the voters that stay plus learners caught up and healthy for
//!    `promote_after`, sized to the target (largest odd number of healthy nodes, at most
//!    `max_voters`) and never even — in one joint change (`ReplaceAllVoters`), so the count goes
//!    5 → 3 or 3 → 5 directly.
//!
//! Removed ids are remembered in the replicated state and never added again: a node that comes
//! back with a removed id must rejoin as a new node (wiped data dir).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use openfero_raft::NodeInfo;
use openraft::ChangeMembers;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::safety::{check_voter_change, target_voters};
use super::Cluster;

/// A learner within this many entries of the leader's log counts as caught up.
pub const CAUGHT_UP_LAG: u64 = 50;

/// The leader's membership steward.
pub struct Autopilot {
    cluster: Cluster,
    /// Since when each node has been continuously healthy / continuously dead, as seen here.
    healthy_since: HashMap<u64, Instant>,
    dead_since: HashMap<u64, Instant>,
}

impl Autopilot {
    pub fn new(cluster: Cluster) -> Self {
        Self {
            cluster,
            healthy_since: HashMap::new(),
            dead_since: HashMap::new(),
        }
    }

    pub async fn run(mut self, stop: CancellationToken) {
        let tick = self.cluster.config().tick;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(tick) => {}
            }
            if self.cluster.gossip().is_none() {
                continue;
            }
            if self.cluster.replica().leader_id().is_none() {
                // Observations of another leader's term are not ours to act on.
                self.healthy_since.clear();
                self.dead_since.clear();
                continue;
            }
            if let Err(e) = self.tick().await {
                warn!(error = %e, "autopilot change not applied");
            }
        }
    }

    async fn tick(&mut self) -> Result<(), String> {
        let replica = self.cluster.replica().clone();
        if replica.history().autopilot_paused().unwrap_or(false) {
            return Ok(());
        }
        let _guard = self.cluster.lock_changes().await;
        let metrics = replica.raft().metrics().borrow().clone();
        let membership = metrics.membership_config.membership().clone();
        if membership.get_joint_config().len() > 1 {
            return Ok(()); // a joint configuration is still being committed
        }
        let me = replica.id();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let learners: BTreeSet<u64> = membership.learner_ids().collect();
        let nodes: BTreeMap<u64, NodeInfo> =
            membership.nodes().map(|(id, n)| (*id, n.clone())).collect();
        let gossip = self.cluster.members().await;
        let healthy = self.cluster.healthy_nodes(CAUGHT_UP_LAG).await;
        let now = Instant::now();
        let cfg = self.cluster.config().clone();

        for id in nodes.keys() {
            let alive = *id == me || gossip.get(id).is_some_and(|m| m.alive);
            if alive {
                self.dead_since.remove(id);
            } else {
                self.dead_since.entry(*id).or_insert(now);
            }
            if healthy.contains(id) {
                self.healthy_since.entry(*id).or_insert(now);
            } else {
                self.healthy_since.remove(id);
            }
        }
        self.healthy_since.retain(|id, _| nodes.contains_key(id));
        self.dead_since.retain(|id, _| nodes.contains_key(id));

        // 1. New live nodes join as learners.
        let uuid = replica.raft().cluster_uuid();
        for (id, m) in &gossip {
            let same_cluster = m.meta.cluster_uuid.is_none() || m.meta.cluster_uuid == uuid;
            if !nodes.contains_key(id)
                && m.alive
                && !m.meta.leaving
                && same_cluster
                && !m.meta.raft_addr.is_empty()
                && !replica.history().node_removed(*id).unwrap_or(true)
            {
                let info = NodeInfo {
                    raft_addr: m.meta.raft_addr.clone(),
                    api_addr: m.meta.api_addr.clone(),
                };
                info!(node = %format!("{id:016x}"), name = %m.meta.node_name, "adding learner");
                replica
                    .raft()
                    .raft()
                    .add_learner(*id, info, false)
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(());
            }
        }

        // 2 and 3. Stale and long-dead members leave.
        let names_alive: HashMap<&str, u64> = gossip
            .values()
            .filter(|m| m.alive)
            .map(|m| (m.meta.node_name.as_str(), m.node_id))
            .collect();
        let mut removable = BTreeSet::new();
        for id in nodes.keys().filter(|id| **id != me) {
            let Some(since) = self.dead_since.get(id) else {
                continue;
            };
            let name = gossip.get(id).map(|m| m.meta.node_name.as_str());
            let replaced = name
                .and_then(|n| names_alive.get(n))
                .is_some_and(|other| other != id);
            if replaced || now.duration_since(*since) >= cfg.dead_after {
                removable.insert(*id);
            }
        }
        let dead_learners: BTreeSet<u64> = removable.intersection(&learners).copied().collect();
        if !dead_learners.is_empty() {
            info!(learners = ?hex(&dead_learners), "removing learners");
            change(&replica, ChangeMembers::RemoveNodes(dead_learners.clone())).await?;
            return forget(&replica, &dead_learners).await;
        }

        // 4. The voter set the cluster should have: voters that stay, plus stable caught-up
        // learners, sized to the target and always odd; reached in one joint change.
        let keep: BTreeSet<u64> = voters.difference(&removable).copied().collect();
        let healthy_members = healthy.iter().filter(|id| nodes.contains_key(id)).count();
        let target = target_voters(healthy_members, cfg.max_voters);
        let ready: Vec<u64> = learners
            .iter()
            .filter(|id| {
                self.healthy_since
                    .get(id)
                    .is_some_and(|t| now.duration_since(*t) >= cfg.promote_after)
            })
            .copied()
            .collect();
        let mut desired = keep.clone();
        for id in ready {
            if desired.len() >= target.max(keep.len()) {
                break;
            }
            desired.insert(id);
        }
        if desired.len().is_multiple_of(2) {
            // Never an even voter count: promote one fewer, or keep one dead voter a while longer.
            let added: Vec<u64> = desired.difference(&voters).copied().collect();
            if let Some(last) = added.last() {
                desired.remove(last);
            } else if let Some(dead) = removable.iter().find(|id| voters.contains(id)) {
                desired.insert(*dead);
            }
        }
        if desired != voters && !desired.is_empty() {
            check_voter_change(&voters, &desired, &healthy)?;
            let gone: BTreeSet<u64> = voters.difference(&desired).copied().collect();
            let up: BTreeSet<u64> = desired.difference(&voters).copied().collect();
            info!(removed = ?hex(&gone), promoted = ?hex(&up), target, "changing voters");
            change(&replica, ChangeMembers::ReplaceAllVoters(desired)).await?;
            return forget(&replica, &gone).await;
        }
        Ok(())
    }
}

/// Remember removed ids so that they are never added again.
async fn forget(replica: &crate::replica::Replica, ids: &BTreeSet<u64>) -> Result<(), String> {
    if ids.is_empty() {
        return Ok(());
    }
    replica
        .propose_local(crate::remediation::CommandV1::ForgetNodes {
            ids: ids.iter().copied().collect(),
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn hex(ids: &BTreeSet<u64>) -> Vec<String> {
    ids.iter().map(|id| format!("{id:016x}")).collect()
}

async fn change(
    replica: &crate::replica::Replica,
    c: ChangeMembers<u64, NodeInfo>,
) -> Result<(), String> {
    replica
        .raft()
        .raft()
        .change_membership(c, false)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
