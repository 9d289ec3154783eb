//! Membership view: chitchat state -> deduplicated [`Member`] list, and diffs.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;

use chitchat::{Chitchat, ChitchatId};

use crate::config::parse_node_id;
use crate::keys;
use crate::meta::NodeMeta;

/// One member of the gossip cluster, as seen by the local node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Node id (the `u64` behind the 16-hex-digit chitchat node id).
    pub node_id: u64,
    /// Generation of the incarnation shown (the highest one known).
    pub generation: u64,
    /// Gossip address the member advertises.
    pub gossip_addr: SocketAddr,
    /// Latest metadata received from the member.
    pub meta: NodeMeta,
    /// Whether chitchat's failure detector considers it alive.
    pub alive: bool,
    /// Whether this is the local node.
    pub is_self: bool,
}

/// Difference between two consecutive views, keyed by node id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    /// A node id appeared.
    Added(Member),
    /// Something about a known node id changed (metadata, liveness, or a
    /// restart with a higher generation).
    Updated(Member),
    /// A node id disappeared (garbage-collected after the dead grace period).
    Removed {
        /// The node id that left the view.
        node_id: u64,
    },
}

/// Builds the deduplicated view from chitchat's state.
///
/// Nodes whose chitchat node id is not one of ours (16 lowercase hex digits)
/// or whose [`keys::RAFT_ID`] has not arrived yet are skipped.
pub(crate) fn build_view(chitchat: &Chitchat) -> Vec<Member> {
    let self_id = chitchat.self_chitchat_id();
    let live: HashSet<&ChitchatId> = chitchat.live_nodes().collect();
    let candidates = chitchat
        .node_states()
        .iter()
        .filter_map(|(chitchat_id, state)| {
            let node_id = parse_node_id(&chitchat_id.node_id)?;
            state.get(keys::RAFT_ID)?;
            Some(Member {
                node_id,
                generation: chitchat_id.generation_id,
                gossip_addr: chitchat_id.gossip_advertise_addr,
                meta: NodeMeta::from_lookup(|key| state.get(key)),
                alive: live.contains(chitchat_id),
                is_self: chitchat_id == self_id,
            })
        });
    dedupe(candidates)
}

/// Keeps one member per node id: highest generation, then alive over dead,
/// then the local incarnation. The result is sorted by node id.
pub(crate) fn dedupe(candidates: impl IntoIterator<Item = Member>) -> Vec<Member> {
    let mut by_id: BTreeMap<u64, Member> = BTreeMap::new();
    for candidate in candidates {
        match by_id.get(&candidate.node_id) {
            Some(current) if rank(current) >= rank(&candidate) => {}
            _ => {
                by_id.insert(candidate.node_id, candidate);
            }
        }
    }
    by_id.into_values().collect()
}

fn rank(member: &Member) -> (u64, bool, bool) {
    (member.generation, member.alive, member.is_self)
}

/// Changes turning `prev` into `next` (both deduplicated): additions and
/// updates in node id order, then removals.
pub(crate) fn diff(prev: &[Member], next: &[Member]) -> Vec<MembershipChange> {
    let prev_by_id: BTreeMap<u64, &Member> = prev.iter().map(|m| (m.node_id, m)).collect();
    let next_ids: HashSet<u64> = next.iter().map(|m| m.node_id).collect();
    let mut changes = Vec::new();
    for member in next {
        match prev_by_id.get(&member.node_id) {
            None => changes.push(MembershipChange::Added(member.clone())),
            Some(old) if *old != member => changes.push(MembershipChange::Updated(member.clone())),
            Some(_) => {}
        }
    }
    for node_id in prev_by_id.keys() {
        if !next_ids.contains(node_id) {
            changes.push(MembershipChange::Removed { node_id: *node_id });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(node_id: u64, generation: u64, alive: bool) -> Member {
        Member {
            node_id,
            generation,
            gossip_addr: SocketAddr::from(([127, 0, 0, 1], 7000 + node_id as u16)),
            meta: NodeMeta {
                raft_id: node_id,
                ..NodeMeta::default()
            },
            alive,
            is_self: false,
        }
    }

    #[test]
    fn dedupe_keeps_highest_generation_even_if_dead() {
        let view = dedupe([member(1, 5, true), member(1, 9, false), member(2, 1, true)]);
        assert_eq!(view.len(), 2);
        assert_eq!(view[0].node_id, 1);
        assert_eq!(view[0].generation, 9);
        assert!(!view[0].alive);
        assert_eq!(view[1].node_id, 2);
    }

    #[test]
    fn dedupe_prefers_alive_on_equal_generation_and_sorts() {
        let view = dedupe([member(3, 1, true), member(1, 4, false), member(1, 4, true)]);
        assert_eq!(
            view.iter()
                .map(|m| (m.node_id, m.alive))
                .collect::<Vec<_>>(),
            vec![(1, true), (3, true)]
        );
    }

    #[test]
    fn diff_reports_added_updated_removed() {
        let prev = vec![member(1, 1, true), member(2, 1, true), member(3, 1, true)];
        let mut changed = member(2, 1, true);
        changed.meta.ready = true;
        let next = vec![member(1, 1, true), changed.clone(), member(4, 1, true)];
        let changes = diff(&prev, &next);
        assert_eq!(
            changes,
            vec![
                MembershipChange::Updated(changed),
                MembershipChange::Added(member(4, 1, true)),
                MembershipChange::Removed { node_id: 3 },
            ]
        );
        assert!(diff(&next, &next).is_empty());
    }

    #[test]
    fn diff_reports_generation_change_as_update() {
        let prev = vec![member(1, 1, true)];
        let next = vec![member(1, 2, true)];
        assert_eq!(
            diff(&prev, &next),
            vec![MembershipChange::Updated(member(1, 2, true))]
        );
    }
}
