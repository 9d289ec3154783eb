//! Cluster behaviour over chitchat's in-memory transport.

mod common;

use std::time::Duration;

use common::{exactly_alive, local, member, next_matching, node_config, DEADLINE};
use futures::StreamExt;
use openfero_gossip::{Error, Gossip, GossipConfig, MembershipChange, Transport};

async fn start_three(net: &Transport) -> anyhow::Result<[Gossip; 3]> {
    let seed = local(7001);
    let n1 = Gossip::start(node_config(1, 7001, &[]), net.clone()).await?;
    let n2 = Gossip::start(node_config(2, 7002, &[seed]), net.clone()).await?;
    let n3 = Gossip::start(node_config(3, 7003, &[seed]), net.clone()).await?;
    Ok([n1, n2, n3])
}

#[tokio::test]
async fn three_nodes_discover_each_other_through_one_seed() -> anyhow::Result<()> {
    let net = Transport::in_memory();
    let nodes = start_three(&net).await?;
    for node in &nodes {
        let view = node
            .wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2, 3]))
            .await?;
        let selves: Vec<u64> = view
            .iter()
            .filter(|m| m.is_self)
            .map(|m| m.node_id)
            .collect();
        assert_eq!(selves, vec![node.node_id()]);
        let two = member(&view, 2).expect("node 2 in view");
        assert_eq!(two.gossip_addr, local(7002));
        assert_eq!(two.generation, 1);
        assert_eq!(two.meta, node_config(2, 7002, &[]).meta);
        assert_eq!(node.live_members().await.len(), 3);
    }
    for node in nodes {
        node.shutdown().await?;
    }
    Ok(())
}

#[tokio::test]
async fn metadata_updates_reach_the_other_nodes() -> anyhow::Result<()> {
    let net = Transport::in_memory();
    let [n1, n2, n3] = start_three(&net).await?;
    n1.wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2, 3]))
        .await?;
    let mut n3_changes = n3.changes();
    let mut n1_view = n1.subscribe();

    n2.set_cluster_uuid(Some("c0ffee".to_string())).await;
    n2.set_ready(true).await;
    // Local view reflects the change right away.
    let own = n2.members().await;
    assert_eq!(
        member(&own, 2)
            .and_then(|m| m.meta.cluster_uuid.clone())
            .as_deref(),
        Some("c0ffee")
    );

    let seen = |v: &[openfero_gossip::Member]| {
        member(v, 2)
            .is_some_and(|m| m.meta.ready && m.meta.cluster_uuid.as_deref() == Some("c0ffee"))
    };
    n1.wait_for(DEADLINE, seen).await?;
    tokio::time::timeout(DEADLINE, n1_view.wait_for(|v| seen(v))).await??;
    let change = next_matching(&mut n3_changes, |c| {
        matches!(c, MembershipChange::Updated(m) if m.node_id == 2 && m.meta.ready && m.meta.cluster_uuid.is_some())
    })
    .await?;
    assert!(matches!(change, MembershipChange::Updated(m) if !m.is_self && m.alive));

    n2.set_leaving(true).await;
    n3.wait_for(DEADLINE, |v| member(v, 2).is_some_and(|m| m.meta.leaving))
        .await?;
    // The general setter: other fields untouched.
    n2.update_meta(|meta| meta.api_addr = "192.0.2.3:8080".to_string())
        .await;
    let view = n1
        .wait_for(DEADLINE, |v| {
            member(v, 2).is_some_and(|m| m.meta.api_addr == "192.0.2.3:8080")
        })
        .await?;
    let two = member(&view, 2).expect("node 2 in view");
    assert!(two.meta.ready && two.meta.leaving);
    assert_eq!(two.meta.raft_id, 2);

    n2.set_cluster_uuid(None).await;
    n1.wait_for(DEADLINE, |v| {
        member(v, 2).is_some_and(|m| m.meta.cluster_uuid.is_none())
    })
    .await?;

    for node in [n1, n2, n3] {
        node.shutdown().await?;
    }
    Ok(())
}

#[tokio::test]
async fn changes_stream_starts_with_current_view_and_ends_on_shutdown() -> anyhow::Result<()> {
    let net = Transport::in_memory();
    let n1 = Gossip::start(node_config(1, 7001, &[]), net.clone()).await?;
    let mut changes = n1.changes();
    let first = tokio::time::timeout(DEADLINE, changes.next()).await?;
    assert!(matches!(first, Some(MembershipChange::Added(m)) if m.node_id == 1 && m.is_self));

    let n2 = Gossip::start(node_config(2, 7002, &[local(7001)]), net.clone()).await?;
    next_matching(
        &mut changes,
        |c| matches!(c, MembershipChange::Added(m) if m.node_id == 2),
    )
    .await?;

    let mut rx = n1.subscribe();
    let clone = n1.clone();
    n1.shutdown().await?;
    // Sender gone: watchers and streams end instead of hanging.
    assert!(tokio::time::timeout(DEADLINE, rx.changed()).await?.is_err());
    let rest: Vec<_> = tokio::time::timeout(DEADLINE, changes.collect::<Vec<_>>()).await?;
    assert!(rest
        .iter()
        .all(|c| !matches!(c, MembershipChange::Removed { .. })));
    assert!(matches!(
        clone.wait_for(DEADLINE, |v| v.len() > 5).await,
        Err(Error::Stopped { .. })
    ));
    // Idempotent.
    clone.shutdown().await?;
    n2.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn restart_with_higher_generation_replaces_the_old_member() -> anyhow::Result<()> {
    let net = Transport::in_memory();
    let n1 = Gossip::start(node_config(1, 7001, &[]), net.clone()).await?;
    let n2 = Gossip::start(node_config(2, 7002, &[local(7001)]), net.clone()).await?;
    n1.wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2])).await?;
    n2.shutdown().await?;

    let restarted = GossipConfig {
        generation: Some(2),
        ..node_config(2, 7002, &[local(7001)])
    };
    let n2 = Gossip::start(restarted, net.clone()).await?;
    assert_eq!(n2.generation(), 2);
    let view = n1
        .wait_for(DEADLINE, |v| {
            member(v, 2).is_some_and(|m| m.generation == 2 && m.alive)
        })
        .await?;
    assert_eq!(view.iter().filter(|m| m.node_id == 2).count(), 1);
    assert_eq!(view.len(), 2);

    // The old incarnation eventually dies inside chitchat; the view must keep
    // showing exactly one, alive, generation-2 member for node 2 meanwhile.
    let mut rx = n1.subscribe();
    let wrong = tokio::time::timeout(
        Duration::from_secs(1),
        rx.wait_for(|v| {
            v.iter().filter(|m| m.node_id == 2).count() != 1
                || member(v, 2).is_some_and(|m| m.generation != 2 || !m.alive)
        }),
    )
    .await;
    assert!(wrong.is_err(), "view regressed: {:?}", n1.members().await);

    n1.shutdown().await?;
    n2.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn stopped_node_becomes_not_alive_but_stays_listed() -> anyhow::Result<()> {
    let net = Transport::in_memory();
    let [n1, n2, n3] = start_three(&net).await?;
    n1.wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2, 3]))
        .await?;
    n3.shutdown().await?;

    let view = n1
        .wait_for(DEADLINE, |v| member(v, 3).is_some_and(|m| !m.alive))
        .await?;
    assert_eq!(view.len(), 3, "dead member kept within grace: {view:?}");
    let live: Vec<u64> = n1.live_members().await.iter().map(|m| m.node_id).collect();
    assert_eq!(live, vec![1, 2]);
    n2.wait_for(DEADLINE, |v| member(v, 3).is_some_and(|m| !m.alive))
        .await?;

    n1.shutdown().await?;
    n2.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn dead_member_is_removed_after_grace() -> anyhow::Result<()> {
    let net = Transport::in_memory();
    let short = |id, port, seeds: &[std::net::SocketAddr]| GossipConfig {
        dead_grace: Duration::from_millis(500),
        ..node_config(id, port, seeds)
    };
    let n1 = Gossip::start(short(1, 7001, &[]), net.clone()).await?;
    let n2 = Gossip::start(short(2, 7002, &[local(7001)]), net.clone()).await?;
    n1.wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2])).await?;
    let mut changes = n1.changes();
    n2.shutdown().await?;
    next_matching(
        &mut changes,
        |c| matches!(c, MembershipChange::Updated(m) if m.node_id == 2 && !m.alive),
    )
    .await?;
    next_matching(&mut changes, |c| {
        matches!(c, MembershipChange::Removed { node_id: 2 })
    })
    .await?;
    assert_eq!(n1.members().await.len(), 1);
    n1.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn different_cluster_ids_never_merge() -> anyhow::Result<()> {
    let net = Transport::in_memory();
    // Both clusters get both "seed" addresses, so they do talk to each other.
    let seeds = [local(7001), local(7003)];
    let in_cluster = |id, port, cluster: &str| GossipConfig {
        cluster_id: cluster.to_string(),
        ..node_config(id, port, &seeds)
    };
    let a1 = Gossip::start(in_cluster(1, 7001, "alpha"), net.clone()).await?;
    let a2 = Gossip::start(in_cluster(2, 7002, "alpha"), net.clone()).await?;
    let b3 = Gossip::start(in_cluster(3, 7003, "beta"), net.clone()).await?;
    let b4 = Gossip::start(in_cluster(4, 7004, "beta"), net.clone()).await?;

    for node in [&a1, &a2] {
        node.wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2]))
            .await?;
    }
    for node in [&b3, &b4] {
        node.wait_for(DEADLINE, |v| exactly_alive(v, &[3, 4]))
            .await?;
    }
    // Give them 20 gossip rounds to (wrongly) merge.
    let merged = a1.wait_for(Duration::from_secs(1), |v| v.len() > 2).await;
    assert!(
        matches!(merged, Err(Error::Timeout { .. })),
        "alpha merged: {merged:?}"
    );
    assert!(exactly_alive(&b4.members().await, &[3, 4]));
    assert!(exactly_alive(&a2.members().await, &[1, 2]));

    for node in [a1, a2, b3, b4] {
        node.shutdown().await?;
    }
    Ok(())
}

#[tokio::test]
async fn start_rejects_invalid_config() {
    let result = Gossip::start(node_config(0, 7001, &[]), Transport::in_memory()).await;
    assert!(matches!(
        result,
        Err(Error::InvalidConfig {
            field: "node_id",
            ..
        })
    ));
}

#[tokio::test]
async fn dropping_every_handle_stops_the_node() -> anyhow::Result<()> {
    let net = Transport::in_memory();
    let n1 = Gossip::start(node_config(1, 7001, &[]), net.clone()).await?;
    let n2 = Gossip::start(node_config(2, 7002, &[local(7001)]), net.clone()).await?;
    n1.wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2])).await?;
    let mut n2_view = n2.subscribe();
    drop(n2.clone());
    drop(n2);
    // The publisher is gone (watch sender dropped) and the server stops gossiping.
    assert!(tokio::time::timeout(DEADLINE, n2_view.changed())
        .await?
        .is_err());
    n1.wait_for(DEADLINE, |v| member(v, 2).is_some_and(|m| !m.alive))
        .await?;
    n1.shutdown().await?;
    Ok(())
}
