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
