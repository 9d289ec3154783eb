//! Three real nodes in one process, each with its own sled folder and HTTP server on its own
//! loopback address: election, replication, leader loss, and restart from disk.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use openfero_raft::{NodeId, NodeInfo, RaftConfig, RaftNode, WriteError};
use support::{set, wait_applied, wait_for_leader, KvApp};
use tokio::task::JoinHandle;

fn config() -> RaftConfig {
    RaftConfig {
        cluster_name: "test".into(),
        heartbeat_interval: Duration::from_millis(100),
        election_timeout_min: Duration::from_millis(500),
        election_timeout_max: Duration::from_millis(1000),
        snapshot_every: 20,
        keep_behind_snapshot: 5,
        write_timeout: Duration::from_secs(5),
        ..RaftConfig::default()
    }
}

/// A node under test. Its server task dies with the test's runtime even if the test fails early.
struct TestNode {
    node: RaftNode<KvApp>,
    addr: SocketAddr,
    dir: PathBuf,
    server: JoinHandle<()>,
}

impl TestNode {
    async fn start(dir: &Path, addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await.context("bind")?;
        let addr = listener.local_addr()?;
        let node = RaftNode::start(dir, config(), KvApp).await?;
        let router = node.router();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            node,
            addr,
            dir: dir.to_path_buf(),
            server,
        })
    }

    fn info(&self) -> NodeInfo {
        NodeInfo {
            raft_addr: self.addr.to_string(),
            api_addr: self.addr.to_string(),
        }
    }

    /// Stop Raft and the server, as a crash would from the peers' point of view.
    async fn stop(self) -> (PathBuf, SocketAddr) {
        self.server.abort();
        let _ = self.server.await;
        self.node.shutdown().await.expect("shutdown");
        (self.dir, self.addr)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_replicate_fail_over_and_recover_from_disk() -> anyhow::Result<()> {
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir())
        .collect::<Result<_, _>>()?;
    let mut nodes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let addr: SocketAddr = format!("127.0.0.{}:0", i + 1).parse()?;
        nodes.push(TestNode::start(dir.path(), addr).await?);
    }
    let ids: Vec<NodeId> = nodes.iter().map(|n| n.node.id()).collect();
    assert!(ids.iter().all(|id| *id != 0), "node ids are non-zero");
    let members: BTreeMap<NodeId, NodeInfo> =
        nodes.iter().map(|n| (n.node.id(), n.info())).collect();
    nodes[0].node.initialize(members).await?;

    // Election.
    let leader = wait_for_leader(&nodes.iter().map(|n| &n.node).collect::<Vec<_>>(), None).await?;
    let li = ids
        .iter()
        .position(|id| *id == leader)
        .context("leader is a member")?;

    // A follower refuses local writes and names the leader, but forwards client writes.
    let follower = (li + 1) % 3;
    match nodes[follower].node.write_local(&set("k", "x")).await {
        Err(WriteError::NotLeader {
            leader: Some(l), ..
        }) => assert_eq!(l, leader),
        other => bail!("follower write answered {other:?}"),
    }
    let forwarded = nodes[follower].node.write(&set("fwd", "y")).await?;
    assert_eq!(forwarded.previous, None);
    // Every member agrees on one cluster uuid, adopted from the leader.
    let uuid = nodes[0]
        .node
        .cluster_uuid()
        .context("initialiser has a uuid")?;
    for n in &nodes {
        wait_applied(&n.node, forwarded.index).await?;
        assert_eq!(n.node.cluster_uuid().as_deref(), Some(uuid.as_str()));
    }
    let mut last = 0;
    for i in 0..30 {
        let resp = nodes[li]
            .node
            .write(&set(&format!("k{i}"), &format!("v{i}")))
            .await?;
        assert!(resp.index > last, "indexes grow");
        last = resp.index;
    }
    let again = nodes[li].node.write(&set("k0", "v0b")).await?;
    assert_eq!(again.previous.as_deref(), Some("v0"));
    last = again.index;
    for n in &nodes {
        wait_applied(&n.node, last).await?;
        let v: Option<String> = n.node.reader().get_as(b"k29")?;
        assert_eq!(
            v.as_deref(),
            Some("v29"),
            "node {} has the replicated value",
            n.node.id()
        );
    }

    // Leader killed → the other two elect a new leader and keep committing.
    let old = nodes.remove(li);
    let old_id = old.node.id();
    let (old_dir, old_addr) = old.stop().await;
    let new_leader = wait_for_leader(
        &nodes.iter().map(|n| &n.node).collect::<Vec<_>>(),
        Some(old_id),
    )
    .await?;
    assert_ne!(new_leader, old_id);
    let ni = nodes
        .iter()
        .position(|n| n.node.id() == new_leader)
        .context("new leader")?;
    for i in 0..30 {
        let resp = nodes[ni]
            .node
            .write(&set(&format!("after{i}"), "y"))
            .await?;
        last = resp.index;
    }

    // The old leader restarts from its sled folder: same identity, its data is there before it
    // rejoins, and it catches up (by log or snapshot: the leader compacts every 20 entries).
    let restarted = TestNode::start(&old_dir, old_addr).await?;
    assert_eq!(restarted.node.id(), old_id, "identity survives a restart");
    let before: Option<String> = restarted.node.reader().get_as(b"k29")?;
    assert_eq!(
        before.as_deref(),
        Some("v29"),
        "state is recovered from disk"
    );
    wait_applied(&restarted.node, last).await?;
    let caught_up: Option<String> = restarted.node.reader().get_as(b"after29")?;
    assert_eq!(caught_up.as_deref(), Some("y"));
    nodes.push(restarted);
    let all: Vec<&TestNode> = nodes.iter().collect();
    assert_eq!(
        wait_for_leader(&all.iter().map(|n| &n.node).collect::<Vec<_>>(), None).await?,
        new_leader
    );

    for n in nodes {
        n.stop().await;
    }
    Ok(())
}

/// Three initialised nodes on 127.0.0.{base..base+2}, the leader's position among them.
async fn three_nodes(
    dirs: &[tempfile::TempDir],
    base: usize,
) -> anyhow::Result<(Vec<TestNode>, usize)> {
    let mut nodes = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let addr: SocketAddr = format!("127.0.0.{}:0", base + i).parse()?;
        nodes.push(TestNode::start(dir.path(), addr).await?);
    }
    let members: BTreeMap<NodeId, NodeInfo> =
        nodes.iter().map(|n| (n.node.id(), n.info())).collect();
    nodes[0].node.initialize(members).await?;
    let leader = wait_for_leader(&nodes.iter().map(|n| &n.node).collect::<Vec<_>>(), None).await?;
    let li = nodes
        .iter()
        .position(|n| n.node.id() == leader)
        .context("leader is a member")?;
    Ok((nodes, li))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_on_leader_and_follower_share_entries_and_get_their_own_responses(
) -> anyhow::Result<()> {
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir())
        .collect::<Result<_, _>>()?;
    let (nodes, li) = three_nodes(&dirs, 11).await?;
    let follower = (li + 1) % 3;
    let index_before = nodes[li].node.status().last_log_index.unwrap_or(0);
    const EACH: usize = 50;
    // Each key is written twice at once, from the leader and from a follower: exactly one of
    // the two sees no previous value, and both name the index of the entry that carried them.
    let writes = (0..EACH).flat_map(|k| {
        [li, follower].map(|n| {
            let node = nodes[n].node.clone();
            async move {
                let r = node.write(&set(&format!("key-{k}"), &format!("{n}"))).await;
                (k, n, r)
            }
        })
    });
    let answers = futures::future::join_all(writes).await;
    let mut firsts = vec![0; EACH];
    let mut entries = std::collections::BTreeSet::new();
    let mut last = 0;
    for (k, n, r) in answers {
        let r = r.with_context(|| format!("write of key-{k} on node {n}"))?;
        match r.previous.as_deref() {
            None => firsts[k] += 1,
            Some(p) => assert!(p == li.to_string() || p == follower.to_string(), "{p}"),
        }
        entries.insert(r.index);
        last = last.max(r.index);
    }
    assert!(
        firsts.iter().all(|f| *f == 1),
        "one first write per key: {firsts:?}"
    );
    assert!(
        entries.len() < 2 * EACH,
        "{} writes in {} entries: nothing was batched",
        2 * EACH,
        entries.len()
    );
    assert!(last - index_before < 2 * EACH as u64);
    for n in &nodes {
        wait_applied(&n.node, last).await?;
        for k in 0..EACH {
            let v: Option<String> = n.node.reader().get_as(format!("key-{k}").as_bytes())?;
            assert!(v.is_some(), "key-{k} on node {}", n.node.id());
        }
    }
    assert!(nodes[li].node.batch_stats().largest > 1);
    assert!(
        nodes[follower].node.batch_stats().largest > 1,
        "forwards were batched"
    );
    for n in nodes {
        n.stop().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_command_the_leader_cannot_decode_is_refused_alone() -> anyhow::Result<()> {
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir())
        .collect::<Result<_, _>>()?;
    let (nodes, li) = three_nodes(&dirs, 21).await?;
    let leader = &nodes[li];
    let good = openfero_raft::codec::encode(&set("fwd-good", "1"))?;
    // A batch as a follower sends it: (command, hops) pairs.
    let body = openfero_raft::codec::encode(&(vec![
        (good.clone(), 1u8),
        (vec![0xFFu8, 1, 2], 1u8),
        (vec![7u8, 7, 7], 1u8),
        (good, 1u8),
    ],))?;
    // With reqwest's rustls backend compiled in (feature `peer-tls`), a default client needs a
    // process-level provider.
    #[cfg(feature = "peer-tls")]
    openfero_raft::tls::install_default_provider();
    let resp = reqwest::Client::new()
        .post(format!("http://{}/raft/propose-batch", leader.addr))
        .header("x-openfero-raft-target", leader.node.id().to_string())
        .header("x-openfero-raft-cluster", "test")
        .header(
            "x-openfero-raft-cluster-uuid",
            leader.node.cluster_uuid().context("uuid")?,
        )
        .body(body)
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let answers: Vec<Result<Vec<u8>, WriteError>> =
        openfero_raft::codec::decode(&resp.bytes().await?)?;
    assert_eq!(answers.len(), 4);
    assert!(
        matches!(answers[1], Err(WriteError::Codec(_))),
        "{:?}",
        answers[1]
    );
    assert!(
        matches!(answers[2], Err(WriteError::Codec(_))),
        "{:?}",
        answers[2]
    );
    let first: support::SetResponse =
        openfero_raft::codec::decode(answers[0].as_ref().expect("committed"))?;
    let second: support::SetResponse =
        openfero_raft::codec::decode(answers[3].as_ref().expect("committed"))?;
    assert_eq!(first.previous, None);
    assert_eq!(second.previous.as_deref(), Some("1"));
    for n in &nodes {
        wait_applied(&n.node, second.index).await?;
    }
    for n in nodes {
        n.stop().await;
    }
    Ok(())
}
