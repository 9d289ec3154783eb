//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures::{Stream, StreamExt};
use openfero_gossip::{GossipConfig, Member, MembershipChange, NodeMeta};

/// Upper bound for every wait in the tests.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// Fast gossip for tests.
pub const FAST: Duration = Duration::from_millis(50);

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Config for node `node_id` listening on 127.0.0.1:`port`.
pub fn node_config(node_id: u64, port: u16, seeds: &[SocketAddr]) -> GossipConfig {
    GossipConfig {
        node_id,
        generation: Some(1),
        cluster_id: "test-cluster".to_string(),
        listen_addr: local(port),
        advertise_addr: local(port),
        seeds: seeds.iter().map(ToString::to_string).collect(),
        gossip_interval: FAST,
        dead_grace: Duration::from_secs(60),
        meta: NodeMeta {
            raft_id: node_id,
            raft_addr: format!("127.0.0.1:{}", 9000 + node_id),
            api_addr: format!("127.0.0.1:{}", 8000 + node_id),
            node_name: format!("node-{node_id}"),
            ordinal: Some(u32::try_from(node_id).expect("small test ids")),
            cluster_uuid: None,
            bootstrap_expect: 3,
            ready: false,
            leaving: false,
            last_log_index: None,
            applied_index: None,
        },
    }
}

pub fn member(view: &[Member], node_id: u64) -> Option<&Member> {
    view.iter().find(|m| m.node_id == node_id)
}

/// The view holds exactly `ids`, all alive.
pub fn exactly_alive(view: &[Member], ids: &[u64]) -> bool {
    view.len() == ids.len()
        && ids
            .iter()
            .all(|id| member(view, *id).is_some_and(|m| m.alive))
}

/// Pulls from `stream` until `predicate` matches a change, within [`DEADLINE`].
pub async fn next_matching(
    stream: &mut (impl Stream<Item = MembershipChange> + Unpin),
    mut predicate: impl FnMut(&MembershipChange) -> bool,
) -> anyhow::Result<MembershipChange> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => anyhow::bail!("no matching change within {DEADLINE:?}"),
            Ok(None) => anyhow::bail!("change stream ended"),
            Ok(Some(change)) if predicate(&change) => return Ok(change),
            Ok(Some(_)) => {}
        }
    }
}
