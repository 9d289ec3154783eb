//! What `GET /admin/cluster` shows: this node's Raft state and every known node.

use std::collections::BTreeSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::Cluster;
use crate::ids::node_hex;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub node: String,
    pub name: String,
    pub leader: Option<String>,
    pub term: u64,
    pub state: String,
    pub cluster_uuid: Option<String>,
    pub autopilot_paused: bool,
    /// Who last paused or resumed the autopilot (a user or token name; replicated).
    pub autopilot_changed_by: Option<String>,
    pub voters: Vec<String>,
    pub learners: Vec<String>,
    /// Ids removed from the cluster; they are never added again. Listed once the removal is
    /// committed.
    pub removed: Vec<String>,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// How far this node moves its wall clock to reach cluster time (ms; see
    /// `openfero_raft::clock`), and whether it has learnt cluster time yet.
    pub clock_offset_ms: i64,
    pub clock_calibrated: bool,
    pub nodes: Vec<NodeView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    pub id: String,
    pub name: String,
    pub api_addr: String,
    pub raft_addr: String,
    pub gossip_addr: Option<String>,
    pub alive: Option<bool>,
    pub generation: Option<u64>,
    pub ready: Option<bool>,
    pub leaving: Option<bool>,
    /// `voter`, `learner` or `none` (seen by gossip, not a Raft member).
    pub role: String,
    /// Leader only: the last log index replicated to this node.
    pub matched_index: Option<u64>,
    /// The node's last log index (this node: now; others: as gossiped, about once a second).
    pub last_log_index: Option<u64>,
    /// The node's last applied index (this node: now; others: as gossiped).
    pub applied_index: Option<u64>,
}

impl Cluster {
    pub async fn view(&self) -> ClusterView {
        let replica = self.replica();
        let m = replica.raft().metrics().borrow().clone();
        let membership = m.membership_config.membership().clone();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let learners: BTreeSet<u64> = membership.learner_ids().collect();
        let gossip = self.members().await;
        let replication = m.replication.clone().unwrap_or_default();
        let mut ids: BTreeSet<u64> = membership.nodes().map(|(id, _)| *id).collect();
        ids.extend(gossip.keys().copied());
        ids.insert(replica.id());
        let nodes = ids
            .into_iter()
            .map(|id| {
                let g = gossip.get(&id);
                let raft_node = membership.get_node(&id);
                let role = if voters.contains(&id) {
                    "voter"
                } else if learners.contains(&id) {
                    "learner"
                } else {
                    "none"
                };
                let matched_index = if id == replica.id() {
                    m.last_log_index
                } else {
                    replication
                        .get(&id)
                        .and_then(|l| l.as_ref().map(|l| l.index))
                };
                NodeView {
                    id: node_hex(id),
                    name: g
                        .map(|g| g.meta.node_name.clone())
                        .or_else(|| (id == replica.id()).then(|| self.config().node_name.clone()))
                        .unwrap_or_default(),
                    api_addr: raft_node
                        .map(|n| n.api_addr.clone())
                        .or_else(|| g.map(|g| g.meta.api_addr.clone()))
                        .unwrap_or_default(),
                    raft_addr: raft_node
                        .map(|n| n.raft_addr.clone())
                        .or_else(|| g.map(|g| g.meta.raft_addr.clone()))
                        .unwrap_or_default(),
                    gossip_addr: g.map(|g| g.gossip_addr.to_string()),
                    alive: g.map(|g| g.alive),
                    generation: g.map(|g| g.generation),
                    ready: g.map(|g| g.meta.ready),
                    leaving: g.map(|g| g.meta.leaving),
                    role: role.to_string(),
                    matched_index,
                    last_log_index: if id == replica.id() {
                        m.last_log_index
                    } else {
                        g.and_then(|g| g.meta.last_log_index)
                    },
                    applied_index: if id == replica.id() {
                        m.last_applied.map(|l| l.index)
                    } else {
                        g.and_then(|g| g.meta.applied_index)
                    },
                }
            })
            .collect();
        ClusterView {
            node: node_hex(replica.id()),
            name: self.config().node_name.clone(),
            leader: m.current_leader.map(node_hex),
            term: m.current_term,
            state: format!("{:?}", m.state),
            cluster_uuid: replica.raft().cluster_uuid(),
            autopilot_paused: replica.history().autopilot_paused().unwrap_or(false),
            autopilot_changed_by: replica.history().autopilot_changed_by().unwrap_or(None),
            voters: voters.iter().copied().map(node_hex).collect(),
            learners: learners.iter().copied().map(node_hex).collect(),
            removed: replica
                .history()
                .removed_nodes()
                .unwrap_or_default()
                .into_iter()
                .map(node_hex)
                .collect(),
            last_log_index: m.last_log_index,
            applied_index: m.last_applied.map(|l| l.index),
            clock_offset_ms: openfero_raft::clock::offset_ms(),
            clock_calibrated: openfero_raft::clock::calibrated(),
            nodes,
        }
    }
}
