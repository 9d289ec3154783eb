//! Sealed gossip over real UDP sockets on 127.0.0.1.

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{exactly_alive, local, member, node_config, DEADLINE};
use futures::StreamExt;
use openfero_gossip::{
    Error, Gossip, GossipConfig, Key, Keyring, Member, MembershipChange, SealConfig, SharedKeyring,
    Transport,
};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A port that was free a moment ago (bind :0, read, release).
fn free_port() -> anyhow::Result<u16> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    Ok(socket.local_addr()?.port())
}

fn udp_config(node_id: u64, port: u16, seeds: &[u16]) -> GossipConfig {
    GossipConfig {
        seeds: seeds.iter().map(|p| local(*p).to_string()).collect(),
        gossip_interval: Duration::from_millis(100),
        ..node_config(node_id, port, &[])
    }
}

/// A sealed node and the handles the application would keep.
struct Node {
    gossip: Gossip,
    rejected: Counter,
    key_file: Option<PathBuf>,
}

impl Node {
    async fn start(id: u64, port: u16, seeds: &[u16], keyring: Keyring) -> anyhow::Result<Node> {
        let rejected = Counter::default();
        let seal = SealConfig::new(SharedKeyring::new(keyring), rejected.clone());
        let gossip = Gossip::start(udp_config(id, port, seeds), Transport::Sealed(seal)).await?;
        Ok(Node {
            gossip,
            rejected,
            key_file: None,
        })
    }

    /// Started the way the application does it: from a key file.
    async fn start_from_file(
        id: u64,
        port: u16,
        seeds: &[u16],
        key_file: PathBuf,
    ) -> anyhow::Result<Node> {
        let rejected = Counter::default();
        let keyring = SharedKeyring::from_file(&key_file)?;
        let seal = SealConfig::new(keyring, rejected.clone());
        let gossip = Gossip::start(udp_config(id, port, seeds), Transport::Sealed(seal)).await?;
        Ok(Node {
            gossip,
            rejected,
            key_file: Some(key_file),
        })
    }

    /// Rewrites the node's key file and reloads it, as an operator would.
    fn rotate(&self, keys: &[&Key]) -> anyhow::Result<()> {
        let path = self.key_file.as_deref().expect("started from a key file");
        write_key_file(path, keys)?;
        let keyring = self
            .gossip
            .keyring()
            .expect("sealed transport has a keyring");
        anyhow::ensure!(keyring.reload_from_file(path)?, "key file unchanged");
        Ok(())
    }
}

fn write_key_file(path: &Path, keys: &[&Key]) -> anyhow::Result<()> {
    let mut text = String::from("# openfero gossip keys, primary first\n");
    for key in keys {
        text.push_str(&key.to_base64());
        text.push('\n');
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// Records, until stopped, every membership change a node publishes that
/// should never happen: a node outside `allowed` joining, a member seen dead
/// or removed.
struct Monitor {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<String>>,
}

impl Monitor {
    fn watch(node: &Gossip, allowed: &[u64]) -> Monitor {
        let me = node.node_id();
        let allowed = allowed.to_vec();
        let mut changes = node.changes();
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    change = changes.next() => match change {
                        None => break,
                        Some(MembershipChange::Added(m)) if !allowed.contains(&m.node_id) => {
                            seen.push(format!("node {me} saw node {} join", m.node_id));
                        }
                        Some(MembershipChange::Updated(m)) if !m.alive => {
                            seen.push(format!("node {me} saw node {} dead", m.node_id));
                        }
                        Some(MembershipChange::Removed { node_id }) => {
                            seen.push(format!("node {me} saw node {node_id} removed"));
                        }
                        Some(_) => {}
                    },
                }
            }
            seen
        });
        Monitor { stop, task }
    }

    async fn finish(self) -> anyhow::Result<Vec<String>> {
        let _ = self.stop.send(());
        Ok(tokio::time::timeout(DEADLINE, self.task).await??)
    }
}

async fn finish_all(monitors: Vec<Monitor>) -> anyhow::Result<()> {
    let mut seen = Vec::new();
    for monitor in monitors {
        seen.extend(monitor.finish().await?);
    }
    anyhow::ensure!(seen.is_empty(), "unexpected membership changes: {seen:?}");
    Ok(())
}

/// Every node advertises `marker` (as its last log index) and waits until
/// every node sees every member in `ids`, alive, with that marker. Proof that
/// gossip went all the way round since the call.
async fn round_trip(nodes: &[&Gossip], ids: &[u64], marker: u64) -> anyhow::Result<()> {
    for node in nodes {
        node.update_meta(|meta| meta.last_log_index = Some(marker))
            .await;
    }
    let done = |view: &[Member]| {
        exactly_alive(view, ids) && view.iter().all(|m| m.meta.last_log_index == Some(marker))
    };
    for node in nodes {
        node.wait_for(DEADLINE, done).await?;
    }
    Ok(())
}

/// Waits until `counter` rises above `above`, polling each gossip interval.
async fn wait_rejected(counter: &Counter, above: u64) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while counter.get() <= above {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "rejected counter stuck at {} within {DEADLINE:?}",
            counter.get()
        );
        tick.tick().await;
    }
    Ok(())
}

#[tokio::test]
async fn nodes_sharing_a_key_form_one_cluster() -> anyhow::Result<()> {
    let key = Key::generate();
    let ports = [free_port()?, free_port()?, free_port()?];
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let id = i as u64 + 1;
        nodes.push(Node::start(id, *port, &ports[..1], Keyring::new(key.clone())).await?);
    }
    let gossips: Vec<&Gossip> = nodes.iter().map(|n| &n.gossip).collect();
    for node in &gossips {
        let view = node
            .wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2, 3]))
            .await?;
        assert_eq!(
            member(&view, 3).map(|m| m.gossip_addr),
            Some(local(ports[2]))
        );
    }
    round_trip(&gossips, &[1, 2, 3], 1).await?;
    for node in nodes {
        assert_eq!(node.rejected.get(), 0);
        assert!(node.gossip.keyring().is_some());
        node.gossip.shutdown().await?;
    }
    Ok(())
}

/// Two members on one key; a rogue with the members' cluster id and seeds
/// gossips at them for a while. It must never enter their view, and each
/// member must count its packets.
async fn rogue_is_kept_out(rogue_transport: Transport) -> anyhow::Result<()> {
    let key = Key::generate();
    let ports = [free_port()?, free_port()?, free_port()?];
    let m1 = Node::start(1, ports[0], &ports[..1], Keyring::new(key.clone())).await?;
    let m2 = Node::start(2, ports[1], &ports[..1], Keyring::new(key.clone())).await?;
    let members = [&m1.gossip, &m2.gossip];
    for node in members {
        node.wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2]))
            .await?;
    }
    let monitors = vec![
        Monitor::watch(&m1.gossip, &[1, 2]),
        Monitor::watch(&m2.gossip, &[1, 2]),
    ];

    let rogue = Gossip::start(udp_config(9, ports[2], &ports[..2]), rogue_transport).await?;
    // The rogue gossips to both seeds every round; let it try several times.
    wait_rejected(&m1.rejected, 3).await?;
    wait_rejected(&m2.rejected, 3).await?;
    round_trip(&members, &[1, 2], 1).await?;
    round_trip(&members, &[1, 2], 2).await?;
    for node in members {
        assert!(exactly_alive(&node.members().await, &[1, 2]));
    }
    assert!(
        exactly_alive(&rogue.members().await, &[9]),
        "the rogue learned nothing"
    );
    finish_all(monitors).await?;

    rogue.shutdown().await?;
    m1.gossip.shutdown().await?;
    m2.gossip.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn plain_chitchat_node_never_joins_and_is_counted() -> anyhow::Result<()> {
    rogue_is_kept_out(Transport::Udp).await
}

#[tokio::test]
async fn node_sealing_with_another_key_never_joins_and_is_counted() -> anyhow::Result<()> {
    let other = SealConfig::new(
        SharedKeyring::new(Keyring::new(Key::generate())),
        Counter::default(),
    );
    rogue_is_kept_out(Transport::Sealed(other)).await
}

/// Serf's rotation, one node at a time: install B, make B primary, remove A.
/// After every single-node change gossip must go all the way round, no
/// member may ever be seen dead, and no packet may be rejected. Afterwards a
/// node holding only A is kept out.
#[tokio::test]
async fn key_rotation_keeps_one_cluster_throughout() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (a, b) = (Key::generate(), Key::generate());
    let ports = [free_port()?, free_port()?, free_port()?];
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let id = i as u64 + 1;
        let path = dir.path().join(format!("node-{id}.keys"));
        write_key_file(&path, &[&a])?;
        nodes.push(Node::start_from_file(id, *port, &ports[..1], path).await?);
    }
    let gossips: Vec<&Gossip> = nodes.iter().map(|n| &n.gossip).collect();
    for node in &gossips {
        node.wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2, 3]))
            .await?;
    }
    let monitors: Vec<Monitor> = gossips
        .iter()
        .map(|g| Monitor::watch(g, &[1, 2, 3]))
        .collect();

    let steps: [(&str, Vec<&Key>); 3] = [
        ("install B as secondary", vec![&a, &b]),
        ("make B primary", vec![&b, &a]),
        ("remove A", vec![&b]),
    ];
    let mut marker = 0;
    for (step, keys) in &steps {
        for node in &nodes {
            node.rotate(keys)?;
            let primary = node
                .gossip
                .keyring()
                .expect("sealed")
                .current()
                .primary()
                .id();
            assert_eq!(primary, keys[0].id(), "{step}");
            // Twice: the second round trip starts after the first finished,
            // so every link has carried packets sealed after the change.
            for _ in 0..2 {
                marker += 1;
                round_trip(&gossips, &[1, 2, 3], marker)
                    .await
                    .map_err(|e| anyhow::anyhow!("{step}, node {}: {e}", node.gossip.node_id()))?;
            }
            for n in &nodes {
                assert_eq!(
                    n.rejected.get(),
                    0,
                    "{step}: node {} rejected packets after node {} changed",
                    n.gossip.node_id(),
                    node.gossip.node_id()
                );
            }
        }
    }

    // A node that missed the rotation (only A) cannot get in.
    let stale = Node::start(4, free_port()?, &ports, Keyring::new(a.clone())).await?;
    for node in &nodes {
        wait_rejected(&node.rejected, 0).await?;
    }
    marker += 1;
    round_trip(&gossips, &[1, 2, 3], marker).await?;
    assert!(exactly_alive(&stale.gossip.members().await, &[4]));
    finish_all(monitors).await?;

    stale.gossip.shutdown().await?;
    for node in nodes {
        node.gossip.shutdown().await?;
    }
    Ok(())
}

/// Much more state than one datagram holds (chitchat sends it in several
/// deltas of up to 65,507 bytes, which sealing must not break).
#[tokio::test]
async fn large_node_state_gossips_sealed() -> anyhow::Result<()> {
    let key = Key::generate();
    let ports = [free_port()?, free_port()?];
    let n1 = Node::start(1, ports[0], &ports[..1], Keyring::new(key.clone())).await?;
    let n2 = Node::start(2, ports[1], &ports[..1], Keyring::new(key.clone())).await?;
    n2.gossip
        .wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2]))
        .await?;

    // ~120 KB of poorly compressible text in four values.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut noise = |len: usize| -> String {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from(
                    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        [(seed % 62) as usize],
                )
            })
            .collect()
    };
    let (raft_addr, api_addr, node_name, uuid) =
        (noise(30_000), noise(30_000), noise(30_000), noise(30_000));
    n1.gossip
        .update_meta(|meta| {
            meta.raft_addr = raft_addr.clone();
            meta.api_addr = api_addr.clone();
            meta.node_name = node_name.clone();
            meta.cluster_uuid = Some(uuid.clone());
        })
        .await;
    let expected = member(&n1.gossip.members().await, 1)
        .expect("self in view")
        .meta
        .clone();
    n2.gossip
        .wait_for(DEADLINE * 2, |v| {
            member(v, 1).is_some_and(|m| m.meta == expected && m.alive)
        })
        .await?;
    assert_eq!((n1.rejected.get(), n2.rejected.get()), (0, 0));
    n1.gossip.shutdown().await?;
    n2.gossip.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn sealed_start_fails_when_port_is_taken() -> anyhow::Result<()> {
    let taken = UdpSocket::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    let result = Node::start(1, port, &[], Keyring::new(Key::generate())).await;
    match result {
        Err(err) => match err.downcast_ref::<Error>() {
            Some(Error::Start { .. }) => Ok(()),
            _ => anyhow::bail!("unexpected error: {err}"),
        },
        Ok(_) => anyhow::bail!("started on a taken port"),
    }
}
