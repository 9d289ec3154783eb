//! Peer mutual TLS with real sockets on 127.0.0.x and certificates made here: a cluster over
//! TLS, strangers refused at the handshake, plain HTTP refused, certificates rotated without
//! restart.
#![cfg(feature = "peer-tls")]

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use openfero_raft::tls::{
    http_only_client_builder, PeerIdentity, PeerTls, PeerTlsConfig, TlsError,
};
use openfero_raft::{codec, NodeId, NodeInfo, RaftConfig, RaftNode, TypeConfig};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{CommittedLeaderId, LogId, SnapshotMeta, StoredMembership, Vote};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use support::pki::{serial_hex, Files, Leaf, TestCa};
use support::{eventually, set, wait_applied, wait_for_leader, KvApp};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const PATTERN: &str = "*.peers.test";
const CLUSTER: &str = "tls-test";

fn loopback(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8 + 1))
}

fn tls_config(files: &Files) -> PeerTlsConfig {
    PeerTlsConfig {
        ca_file: files.ca.clone(),
        cert_file: files.cert.clone(),
        key_file: files.key.clone(),
        san_pattern: Some(PATTERN.into()),
    }
}

fn raft_config(tls: PeerTlsConfig) -> RaftConfig {
    RaftConfig {
        cluster_name: CLUSTER.into(),
        heartbeat_interval: Duration::from_millis(100),
        // Wider than cluster.rs: handshakes cost CPU on a 2-core machine, and the stranger test
        // compares terms before and after.
        election_timeout_min: Duration::from_millis(1000),
        election_timeout_max: Duration::from_millis(2000),
        snapshot_every: 20,
        keep_behind_snapshot: 5,
        write_timeout: Duration::from_secs(5),
        peer_tls: Some(tls),
        ..RaftConfig::default()
    }
}

/// A node serving its router over TLS. Its server task dies with the test's runtime even if
/// the test fails early.
struct TestNode {
    node: RaftNode<KvApp>,
    addr: SocketAddr,
    files: Files,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl TestNode {
    async fn start(data: &Path, ip: IpAddr, files: Files) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        let node = RaftNode::start(data, raft_config(tls_config(&files)), KvApp).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = node.clone();
        let server = tokio::spawn(async move {
            serving
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self {
            node,
            addr,
            files,
            stop,
            server,
        })
    }

    fn info(&self) -> NodeInfo {
        NodeInfo {
            raft_addr: self.addr.to_string(),
            api_addr: self.addr.to_string(),
        }
    }

    fn tls(&self) -> &PeerTls {
        self.node.peer_tls().expect("peer tls is configured")
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.server
            .await
            .expect("server task")
            .expect("server ends cleanly");
        self.node.shutdown().await.expect("shutdown");
    }
}

/// A cluster CA and nodes `node-<i>.peers.test` on 127.0.0.<i+1>, initialised, with a leader.
struct Cluster {
    ca: TestCa,
    nodes: Vec<TestNode>,
    leader: NodeId,
    _dirs: Vec<tempfile::TempDir>,
}

fn node_leaf(ca: &TestCa, i: usize, serial: u64) -> Leaf {
    ca.leaf(&[&format!("node-{i}.peers.test")], &[loopback(i)], serial)
}

impl Cluster {
    async fn start(n: usize) -> anyhow::Result<Self> {
        let ca = TestCa::new("openfero test cluster CA");
        let mut dirs = Vec::new();
        let mut nodes = Vec::new();
        for i in 0..n {
            let dir = tempfile::tempdir()?;
            let files = ca.write(dir.path(), "node", &node_leaf(&ca, i, 1000 + i as u64));
            nodes.push(TestNode::start(&dir.path().join("data"), loopback(i), files).await?);
            dirs.push(dir);
        }
        let members: BTreeMap<NodeId, NodeInfo> =
            nodes.iter().map(|n| (n.node.id(), n.info())).collect();
        nodes[0].node.initialize(members).await?;
        let leader =
            wait_for_leader(&nodes.iter().map(|n| &n.node).collect::<Vec<_>>(), None).await?;
        Ok(Self {
            ca,
            nodes,
            leader,
            _dirs: dirs,
        })
    }

    fn index_of(&self, id: NodeId) -> usize {
        self.nodes
            .iter()
            .position(|n| n.node.id() == id)
            .expect("a member")
    }

    fn uuid(&self) -> String {
        self.nodes[0].node.cluster_uuid().expect("initialised")
    }

    async fn stop(self) {
        for n in self.nodes {
            n.stop().await;
        }
    }
}

/// Await `done` until the deadline, checking every few milliseconds.
fn ring() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn chain(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("certificate pem")
}

fn key(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).expect("key pem")
}

/// A test client's server check that accepts anything: whatever fails below is the *server*
/// refusing the client.
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client config that presents `identity` (or nothing) and trusts any server.
fn outsider_config(identity: Option<&Leaf>) -> ClientConfig {
    let builder = ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(ring())));
    match identity {
        Some(leaf) => builder
            .with_client_auth_cert(chain(&leaf.cert), key(&leaf.key))
            .expect("client identity"),
        None => builder.with_no_client_auth(),
    }
}

fn outsider_client(identity: Option<&Leaf>) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .tls_backend_preconfigured(outsider_config(identity))
        .build()
        .expect("client")
}

/// The serial a new TLS connection to `addr` is shown.
async fn served_serial(addr: SocketAddr, identity: &Leaf) -> anyhow::Result<String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(outsider_config(Some(identity))));
    let tcp = TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await?;
    let cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .context("server certificate")?;
    Ok(PeerIdentity::from_cert(cert)
        .context("parsable certificate")?
        .serial)
}

/// The body of a forwarded write, as `POST /raft/propose` decodes it.
#[derive(serde::Serialize)]
struct ForwardBody {
    command: Vec<u8>,
    hops: u8,
}

/// Well-formed, correctly addressed requests that would take over or wipe a node: a vote and
/// an append from a huge term, an empty snapshot, a write.
fn attack_bodies(term: u64) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
    const ROGUE: NodeId = 0xbad;
    let far = LogId::new(CommittedLeaderId::new(term, ROGUE), 1_000_000);
    let vote = VoteRequest::<NodeId> {
        vote: Vote::new(term, ROGUE),
        last_log_id: Some(far),
    };
    let append = AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(term, ROGUE),
        prev_log_id: None,
        entries: vec![],
        leader_commit: None,
    };
    let snapshot = InstallSnapshotRequest::<TypeConfig> {
        vote: Vote::new_committed(term, ROGUE),
        meta: SnapshotMeta {
            last_log_id: Some(far),
            last_membership: StoredMembership::default(),
            snapshot_id: "rogue".into(),
        },
        offset: 0,
        data: vec![],
        done: true,
    };
    let propose = ForwardBody {
        command: codec::encode(&set("owned", "yes"))?,
        hops: 0,
    };
    Ok(vec![
        ("append", codec::encode(&append)?),
        ("vote", codec::encode(&vote)?),
        ("snapshot", codec::encode(&snapshot)?),
        ("propose", codec::encode(&propose)?),
    ])
}

/// Send `body` to `/raft/{path}` on `target` with every addressing header right.
fn rpc(
    client: &reqwest::Client,
    target: &TestNode,
    uuid: &str,
    path: &str,
    body: Vec<u8>,
) -> impl Future<Output = reqwest::Result<reqwest::Response>> {
    client
        .post(format!("https://{}/raft/{path}", target.addr))
        .header("content-type", "application/x-openfero-raft")
        .header("x-openfero-raft-target", target.node.id().to_string())
        .header("x-openfero-raft-from", "2989")
        .header("x-openfero-raft-cluster", CLUSTER)
        .header("x-openfero-raft-cluster-uuid", uuid)
        .body(body)
        .send()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_mutual_tls_elect_replicate_and_forward() -> anyhow::Result<()> {
    let cluster = Cluster::start(3).await?;
    let li = cluster.index_of(cluster.leader);
    let follower = &cluster.nodes[(li + 1) % 3];
    assert!(follower.node.peer_url("h:1", "/x").starts_with("https://"));

    // A follower forwards the write to the leader over TLS (`POST /raft/propose`).
    let forwarded = follower.node.write(&set("fwd", "y")).await?;
    assert_eq!(forwarded.previous, None);
    let mut last = forwarded.index;
    for i in 0..25 {
        last = cluster.nodes[li]
            .node
            .write(&set(&format!("k{i}"), &format!("v{i}")))
            .await?
            .index;
    }
    let uuid = cluster.uuid();
    for n in &cluster.nodes {
        wait_applied(&n.node, last).await?;
        assert_eq!(n.node.cluster_uuid().as_deref(), Some(uuid.as_str()));
        let fwd: Option<String> = n.node.reader().get_as(b"fwd")?;
        let k24: Option<String> = n.node.reader().get_as(b"k24")?;
        assert_eq!((fwd.as_deref(), k24.as_deref()), (Some("y"), Some("v24")));
    }
    // Every config was built with an explicit provider: nothing needed a process default.
    assert!(CryptoProvider::get_default().is_none());
    cluster.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_refused_at_the_handshake_and_change_nothing() -> anyhow::Result<()> {
    let cluster = Cluster::start(3).await?;
    let uuid = cluster.uuid();
    let leader = &cluster.nodes[cluster.index_of(cluster.leader)];

    // Control: a holder of a cluster certificate that matches the pattern gets its write in
    // with exactly these headers and bodies. The refusals below are TLS, nothing else.
    let member = cluster.ca.leaf(&["operator.peers.test"], &[], 7);
    let term = leader.node.status().term + 1000;
    let (_, propose) = attack_bodies(term)?.pop().context("propose body")?;
    let control = rpc(
        &outsider_client(Some(&member)),
        leader,
        &uuid,
        "propose",
        propose,
    )
    .await?;
    ensure!(
        control.status().is_success(),
        "control: {}",
        control.status()
    );
    let last = leader.node.status().last_applied.context("applied")?;
    for n in &cluster.nodes {
        wait_applied(&n.node, last).await?;
    }
    let owned: Option<String> = leader.node.reader().get_as(b"owned")?;
    assert_eq!(owned.as_deref(), Some("yes"), "the control write landed");

    let before: Vec<_> = cluster.nodes.iter().map(|n| n.node.status()).collect();
    let failures_before: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|n| n.tls().handshake_failures())
        .collect();
    let other_ca = TestCa::new("another CA");
    let strangers = [
        ("no client certificate", outsider_client(None)),
        (
            "a certificate from another CA",
            outsider_client(Some(&other_ca.leaf(&["node-0.peers.test"], &[], 9))),
        ),
        (
            "a cluster certificate outside the SAN pattern",
            outsider_client(Some(&cluster.ca.leaf(
                &["intruder.elsewhere.test"],
                &[],
                10,
            ))),
        ),
    ];
    for (who, client) in &strangers {
        for target in &cluster.nodes {
            for (path, body) in attack_bodies(term)? {
                let answer = rpc(client, target, &uuid, path, body).await;
                if let Ok(resp) = answer {
                    bail!(
                        "{who}: `{path}` on node {} answered {}",
                        target.node.id(),
                        resp.status()
                    );
                }
            }
        }
    }
    // 3 strangers x 4 endpoints, each a new connection: every one failed its handshake.
    for (n, before) in cluster.nodes.iter().zip(&failures_before) {
        eventually("every stranger's handshake failed", || {
            n.tls().handshake_failures() >= before + 12
        })
        .await?;
    }
    for (n, before) in cluster.nodes.iter().zip(&before) {
        let now = n.node.status();
        assert!(now.term < term, "no stranger's term was taken");
        assert_ne!(now.leader, Some(0xbad));
        assert_eq!(now.voters, before.voters);
        if now.term == before.term {
            assert_eq!(now.last_applied, before.last_applied, "nothing applied");
            assert_eq!(
                now.last_log_index, before.last_log_index,
                "nothing appended"
            );
        } else {
            // A spontaneous election of our own (a loaded machine) appends one blank entry.
            assert!(
                now.last_applied >= before.last_applied,
                "no snapshot wiped the log"
            );
        }
        let v: Option<String> = n.node.reader().get_as(b"owned")?;
        assert_eq!(v.as_deref(), Some("yes"), "state is intact");
    }
    cluster.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_tls_peer_port_is_refused() -> anyhow::Result<()> {
    let cluster = Cluster::start(1).await?;
    let node = &cluster.nodes[0];
    let failures = node.tls().handshake_failures();
    let plain = http_only_client_builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let answer = plain
        .post(format!("http://{}/raft/vote", node.addr))
        .header("x-openfero-raft-target", node.node.id().to_string())
        .header("x-openfero-raft-cluster", CLUSTER)
        .body(codec::encode(&VoteRequest::<NodeId> {
            vote: Vote::new(99, 1),
            last_log_id: None,
        })?)
        .send()
        .await;
    assert!(answer.is_err(), "plain HTTP got an answer: {answer:?}");
    eventually("the plain connection counted as a failed handshake", || {
        node.tls().handshake_failures() > failures
    })
    .await?;
    // The TLS client refuses to speak plaintext to a peer at all.
    let err = node
        .node
        .peer_client()
        .get(format!("http://{}/", node.addr))
        .send()
        .await
        .expect_err("https only");
    assert!(
        err.is_builder() || err.to_string().contains("scheme"),
        "{err}"
    );
    cluster.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificates_apply_to_new_connections_and_broken_files_keep_the_old(
) -> anyhow::Result<()> {
    let cluster = Cluster::start(3).await?;
    let member = cluster.ca.leaf(&["probe.peers.test"], &[], 77);
    let target = &cluster.nodes[0];
    let tls = target.tls();
    assert_eq!(served_serial(target.addr, &member).await?, serial_hex(1000));
    assert!(!tls.reload_if_changed()?, "nothing changed yet");

    // cert-manager writes a new certificate (same CA, new serial) and key.
    let rotated = node_leaf(&cluster.ca, 0, 2000);
    rotated.write(&target.files);
    assert!(tls.reload_if_changed()?, "the new files are taken");
    assert_eq!(tls.generation(), 2);
    assert_eq!(tls.identity().serial, serial_hex(2000));
    assert_eq!(served_serial(target.addr, &member).await?, serial_hex(2000));

    // The cluster keeps working: the rotated node writes (its client presents the new
    // certificate when it must forward) and every node applies.
    let resp = target.node.write(&set("after-rotation", "1")).await?;
    for n in &cluster.nodes {
        wait_applied(&n.node, resp.index).await?;
    }

    // A half-written certificate: refused, the current one stays.
    std::fs::write(&target.files.cert, &rotated.cert[..rotated.cert.len() / 2])?;
    let err = tls
        .reload_if_changed()
        .expect_err("a truncated PEM is refused");
    assert!(matches!(err, TlsError::Pem { .. }), "{err}");
    assert_eq!(tls.generation(), 2);
    assert_eq!(served_serial(target.addr, &member).await?, serial_hex(2000));
    // A new certificate next to the old key (written one file at a time): refused too, and
    // the message names the files, never their content.
    let next = node_leaf(&cluster.ca, 0, 3000);
    std::fs::write(&target.files.cert, &next.cert)?;
    let err = tls
        .reload_if_changed()
        .expect_err("a key mismatch is refused");
    let text = err.to_string();
    assert!(matches!(err, TlsError::Identity { .. }), "{text}");
    assert!(
        text.contains(&format!("`{}`", target.files.key.display())),
        "{text}"
    );
    assert!(!text.contains("BEGIN"), "{text}");
    assert_eq!(served_serial(target.addr, &member).await?, serial_hex(2000));

    // The watcher notices the completed write on its own.
    let (stop, stopped) = oneshot::channel::<()>();
    let watcher = tokio::spawn(tls.clone().watch(Duration::from_millis(20), async move {
        let _ = stopped.await;
    }));
    next.write(&target.files);
    eventually("the watcher reloaded", || tls.generation() == 3).await?;
    let _ = stop.send(());
    watcher.await?;
    assert_eq!(served_serial(target.addr, &member).await?, serial_hex(3000));

    let leader = &cluster.nodes[cluster.index_of(
        wait_for_leader(
            &cluster.nodes.iter().map(|n| &n.node).collect::<Vec<_>>(),
            None,
        )
        .await?,
    )];
    let a = leader.node.write(&set("after-watch", "1")).await?;
    let b = target.node.write(&set("from-rotated", "1")).await?;
    for n in &cluster.nodes {
        wait_applied(&n.node, a.index.max(b.index)).await?;
    }
    cluster.stop().await;
    Ok(())
}

/// A TLS server with `leaf` that asks nothing of clients; answers how its handshakes went.
async fn rogue_server(leaf: &Leaf) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let config = ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain(&leaf.cert), key(&leaf.key))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            // The outcome is the client's to judge.
            let _ = acceptor.accept(tcp).await;
        }
    });
    Ok((addr, task))
}

#[tokio::test]
async fn a_node_refuses_servers_outside_the_cluster_but_not_for_their_address() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let ca = TestCa::new("cluster CA");
    let files = ca.write(dir.path(), "node", &node_leaf(&ca, 0, 1));
    let tls = PeerTls::load(tls_config(&files))?;
    let other = TestCa::new("another CA");
    let cases = [
        // Signed by the cluster CA and in the pattern; it lists no IP, and is dialled by IP.
        ("a member", ca.leaf(&["node-5.peers.test"], &[], 2), true),
        (
            "another CA",
            other.leaf(&["node-5.peers.test"], &[loopback(0)], 3),
            false,
        ),
        (
            "outside the pattern",
            ca.leaf(&["intruder.elsewhere.test"], &[loopback(0)], 4),
            false,
        ),
    ];
    for (what, leaf, accepted) in cases {
        let (addr, server) = rogue_server(&leaf).await?;
        let tcp = TcpStream::connect(addr).await?;
        let outcome = tls
            .connector()
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await;
        server.abort();
        let _ = server.await;
        assert_eq!(outcome.is_ok(), accepted, "{what}: {outcome:?}");
    }
    Ok(())
}

#[tokio::test]
async fn loading_refuses_inconsistent_files_and_names_them_without_key_material(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ca = TestCa::new("cluster CA");
    let good = node_leaf(&ca, 0, 1);
    let files = ca.write(dir.path(), "node", &good);
    let tls = PeerTls::load(tls_config(&files))?;
    let debug = format!("{tls:?}");
    assert!(
        debug.contains("node-key.pem") && !debug.contains("BEGIN"),
        "{debug}"
    );

    let variant = |name: &str, leaf: &Leaf| -> PathBuf {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).expect("dir");
        ca.write(&sub, "node", leaf).cert
    };
    let load = |cert: PathBuf, key: PathBuf, ca_file: PathBuf| {
        PeerTls::load(PeerTlsConfig {
            ca_file,
            cert_file: cert,
            key_file: key,
            san_pattern: Some(PATTERN.into()),
        })
        .expect_err("refused")
    };

    let missing = dir.path().join("absent-key.pem");
    let e = load(files.cert.clone(), missing.clone(), files.ca.clone());
    assert!(matches!(e, TlsError::Read { .. }), "{e}");
    assert!(
        e.to_string().contains(&format!("`{}`", missing.display())),
        "{e}"
    );

    let other_cert = variant("other", &node_leaf(&ca, 0, 2));
    let e = load(other_cert, files.key.clone(), files.ca.clone());
    assert!(matches!(e, TlsError::Identity { .. }), "{e}");

    let foreign = TestCa::new("another CA");
    let foreign_leaf = foreign.leaf(&["node-0.peers.test"], &[], 3);
    let sub = dir.path().join("foreign");
    std::fs::create_dir_all(&sub)?;
    let foreign_files = foreign.write(&sub, "node", &foreign_leaf);
    let e = load(foreign_files.cert, foreign_files.key, files.ca.clone());
    assert!(matches!(e, TlsError::Untrusted { .. }), "{e}");

    let outside = ca.leaf(&["node-0.elsewhere.test"], &[], 4);
    let sub = dir.path().join("outside");
    std::fs::create_dir_all(&sub)?;
    let outside_files = ca.write(&sub, "node", &outside);
    let e = load(outside_files.cert, outside_files.key, files.ca.clone());
    assert!(matches!(e, TlsError::Untrusted { .. }), "{e}");
    assert!(e.to_string().contains(PATTERN), "{e}");

    let garbage = dir.path().join("garbage-ca.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64\n")?;
    let e = load(files.cert.clone(), files.key.clone(), garbage);
    assert!(matches!(e, TlsError::Pem { .. }), "{e}");

    for e in [
        load(files.key.clone(), files.key.clone(), files.ca.clone()),
        load(files.cert.clone(), files.cert.clone(), files.ca.clone()),
    ] {
        let text = e.to_string();
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains("BEGIN"),
            "{text}"
        );
    }
    Ok(())
}
