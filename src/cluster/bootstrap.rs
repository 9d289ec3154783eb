//! Forming the first cluster (Consul/rqlite style `--bootstrap-expect N`).
//!
//! Rules: an initialised node never bootstraps again; a node never initialises while any live
//! peer reports a cluster uuid (it waits to be added); otherwise, once gossip has shown the same
//! N uninitialised nodes with the same expectation for a while, the one with the lowest ordinal
//! (or the lowest id without ordinals) initialises the cluster with those N as voters.

use std::collections::BTreeMap;
use std::time::Duration;

use openfero_gossip::Member;
use openfero_raft::NodeInfo;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::Cluster;

/// How many consecutive identical views (one per tick) a bootstrap decision needs.
const STABLE_TICKS: u32 = 6;

/// Who would form the first cluster according to this view: the `expect` lowest (by ordinal,
/// then id) uninitialised live nodes sharing our expectation, or `None` if there are too few or
/// a peer already belongs to a cluster.
pub fn bootstrap_set(members: &[Member], me: u64, expect: u32) -> Option<Vec<Member>> {
    let others_initialised = members
        .iter()
        .any(|m| m.node_id != me && m.alive && m.meta.cluster_uuid.is_some());
    if others_initialised {
        return None;
    }
    let mut candidates: Vec<Member> = members
        .iter()
        .filter(|m| {
            m.alive && !m.meta.leaving && m.meta.bootstrap_expect == expect && m.meta.raft_id != 0
        })
        .cloned()
        .collect();
    if candidates.len() < expect as usize {
        return None;
    }
    candidates.sort_by_key(|m| (m.meta.ordinal.unwrap_or(u32::MAX), m.node_id));
    candidates.truncate(expect as usize);
    Some(candidates)
}

/// Run until this node belongs to an initialised cluster (or `stop`).
pub async fn bootstrap(cluster: Cluster, stop: CancellationToken) {
    let replica = cluster.replica().clone();
    let me = replica.id();
    let expect = cluster.config().bootstrap_expect;
    let tick = cluster.config().tick;
    let mut last_set: Option<Vec<u64>> = None;
    let mut stable = 0u32;
    let mut waiting_logged = Instant::now() - Duration::from_secs(3600);
    loop {
        match replica.raft().is_initialized().await {
            Ok(true) => {
                publish_uuid(&cluster).await;
                return;
            }
            Ok(false) => {}
            Err(e) => warn!(error = %e, "cannot read raft state"),
        }
        let Some(gossip) = cluster.gossip() else {
            // Embedded mode: a single voter, at once.
            initialise(&cluster, &[]).await;
            continue;
        };
        let members = gossip.live_members().await;
        match bootstrap_set(&members, me, expect) {
            None => {
                last_set = None;
                stable = 0;
                if waiting_logged.elapsed() > Duration::from_secs(10) {
                    let joined = members.iter().any(|m| m.meta.cluster_uuid.is_some());
                    info!(
                        live = members.len(),
                        expect,
                        existing_cluster = joined,
                        "waiting: to be added to the existing cluster or for more nodes"
                    );
                    waiting_logged = Instant::now();
                }
            }
            Some(set) => {
                let ids: Vec<u64> = set.iter().map(|m| m.node_id).collect();
                if last_set.as_ref() == Some(&ids) {
                    stable += 1;
                } else {
                    last_set = Some(ids.clone());
                    stable = 1;
                }
                debug!(?ids, stable, "bootstrap candidates");
                if ids.first() == Some(&me) && stable >= STABLE_TICKS {
                    initialise(&cluster, &set).await;
                    continue;
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
    }
}

async fn initialise(cluster: &Cluster, set: &[Member]) {
    let replica = cluster.replica();
    let cfg = cluster.config();
    let mut voters = BTreeMap::new();
    voters.insert(
        replica.id(),
        NodeInfo {
            raft_addr: cfg.raft_advertise.clone(),
            api_addr: cfg.api_advertise.clone(),
        },
    );
    for m in set {
        if m.node_id != replica.id() {
            voters.insert(
                m.node_id,
                NodeInfo {
                    raft_addr: m.meta.raft_addr.clone(),
                    api_addr: m.meta.api_addr.clone(),
                },
            );
        }
    }
    let ids: Vec<String> = voters.keys().map(|id| format!("{id:016x}")).collect();
    match replica.raft().initialize(voters).await {
        Ok(()) => info!(voters = ?ids, "initialised a new cluster"),
        Err(e) => warn!(error = %e, "initialise failed"),
    }
    publish_uuid(cluster).await;
}

/// Tell gossip which cluster this node belongs to, so no peer bootstraps another one.
pub async fn publish_uuid(cluster: &Cluster) {
    if let (Some(g), Some(uuid)) = (cluster.gossip(), cluster.replica().raft().cluster_uuid()) {
        g.set_cluster_uuid(Some(uuid)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openfero_gossip::NodeMeta;

    fn member(id: u64, ordinal: Option<u32>, expect: u32, uuid: Option<&str>) -> Member {
        Member {
            node_id: id,
            generation: 1,
            gossip_addr: "127.0.0.1:1".parse().expect("addr"),
            meta: NodeMeta {
                raft_id: id,
                ordinal,
                bootstrap_expect: expect,
                cluster_uuid: uuid.map(str::to_string),
                ..NodeMeta::default()
            },
            alive: true,
            is_self: false,
        }
    }

    #[test]
    fn lowest_ordinal_then_id_leads_the_bootstrap() {
        let ms = vec![
            member(5, Some(2), 3, None),
            member(9, Some(0), 3, None),
            member(1, Some(1), 3, None),
        ];
        let set = bootstrap_set(&ms, 5, 3).expect("enough nodes");
        assert_eq!(
            set.iter().map(|m| m.node_id).collect::<Vec<_>>(),
            vec![9, 1, 5]
        );
        let ms = vec![
            member(5, None, 3, None),
            member(9, None, 3, None),
            member(1, None, 3, None),
            member(7, None, 3, None),
        ];
        let set = bootstrap_set(&ms, 5, 3).expect("enough nodes");
        assert_eq!(
            set.iter().map(|m| m.node_id).collect::<Vec<_>>(),
            vec![1, 5, 7]
        );
    }

    #[test]
    fn no_bootstrap_with_too_few_nodes_other_expectations_or_an_existing_cluster() {
        let ms = vec![member(1, None, 3, None), member(2, None, 3, None)];
        assert!(bootstrap_set(&ms, 1, 3).is_none());
        let ms = vec![
            member(1, None, 3, None),
            member(2, None, 3, None),
            member(3, None, 5, None),
        ];
        assert!(bootstrap_set(&ms, 1, 3).is_none());
        let ms = vec![
            member(1, None, 3, None),
            member(2, None, 3, None),
            member(3, None, 3, Some("u")),
        ];
        assert!(
            bootstrap_set(&ms, 1, 3).is_none(),
            "a peer already belongs to a cluster"
        );
    }
}
