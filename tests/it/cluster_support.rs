//! Cluster test support: several `openfero serve` processes on loopback ports with gossip
//! discovery, drop guards that kill every process by PID, typed views of `/admin/cluster`,
//! polling with deadlines that report the last thing they saw, and a seeded RNG.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::support::{marker_operarios, ChildGuard};

/// Short timings so that elections, gossip and promotion take well under a second each.
pub const FAST: &[&str] = &[
    "--raft-heartbeat-ms",
    "100",
    "--raft-election-min-ms",
    "500",
    "--raft-election-max-ms",
    "1000",
    "--gossip-interval-ms",
    "100",
    "--promote-after-secs",
    "1",
];

/// The alertname the marker operarius of every [`TestCluster`] reacts to.
pub const MARKED: &str = "ClusterMarked";

/// Ports handed out in this test binary, so two nodes never get the same one.
static TAKEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

fn reserve(port: u16) -> bool {
    let mut taken = TAKEN.lock().expect("port registry");
    taken.get_or_insert_with(HashSet::new).insert(port)
}

/// A loopback TCP port that was free a moment ago and was not handed out before.
pub fn free_tcp_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral tcp port");
        let port = l.local_addr().expect("local addr").port();
        if reserve(port) {
            return port;
        }
    }
}

/// A loopback UDP port (gossip) that was free a moment ago and was not handed out before.
pub fn free_udp_port() -> u16 {
    loop {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral udp port");
        let port = s.local_addr().expect("local addr").port();
        // The API listener of another node may want the same number over TCP: keep them apart.
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && reserve(port) {
            return port;
        }
    }
}

/// Poll `check` until it answers `Ok` or `timeout` passes. `Err` says why the condition does not
/// hold yet; the last one is in the panic message.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(why) => {
                if Instant::now() > deadline {
                    panic!("timed out after {timeout:?} waiting for {what}; last: {why}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A seeded generator (rand's `StdRng`) so a failing schedule can be replayed from its printed
/// seed.
pub fn seeded_rng(seed: u64) -> rand::rngs::StdRng {
    rand::SeedableRng::seed_from_u64(seed)
}

/// `GET /admin/cluster`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub node: String,
    pub leader: Option<String>,
    pub term: u64,
    pub cluster_uuid: Option<String>,
    #[serde(default)]
    pub autopilot_paused: bool,
    pub voters: Vec<String>,
    #[serde(default)]
    pub learners: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    #[serde(default)]
    pub nodes: Vec<NodeView>,
}

#[derive(Debug, Clone, Deserialize)]
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
    pub role: String,
    pub matched_index: Option<u64>,
    #[serde(default)]
    pub last_log_index: Option<u64>,
    #[serde(default)]
    pub applied_index: Option<u64>,
}

impl ClusterView {
    pub fn voter_set(&self) -> BTreeSet<String> {
        self.voters.iter().cloned().collect()
    }

    pub fn is_member(&self, id: &str) -> bool {
        self.voters.iter().any(|v| v == id) || self.learners.iter().any(|l| l == id)
    }

    pub fn names(&self) -> BTreeSet<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }
}

/// A node id as `/admin/cluster` spells it: 16 lowercase hex digits.
pub fn is_node_hex(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where one node listens and keeps its data.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub api_port: u16,
    /// `None`: Raft RPCs share the API listener.
    pub raft_port: Option<u16>,
    pub gossip_port: u16,
    pub data_dir: PathBuf,
    /// Flags for this node only, after the cluster's.
    pub extra: Vec<String>,
    /// Environment for this node only (e.g. libfaketime's).
    pub env: Vec<(String, String)>,
}

impl NodeSpec {
    pub fn api(&self) -> String {
        format!("127.0.0.1:{}", self.api_port)
    }

    pub fn gossip(&self) -> String {
        format!("127.0.0.1:{}", self.gossip_port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.api_port, path)
    }
}

/// A running node.
pub struct ClusterNode {
    pub spec: NodeSpec,
    pub guard: ChildGuard,
    /// SIGSTOPped and not yet continued.
    pub stopped: bool,
}

impl ClusterNode {
    fn signal(&self, sig: Signal) {
        let pid = self.guard.pid();
        assert!(pid != 0, "{} has no process", self.spec.name);
        kill(Pid::from_raw(pid as i32), sig)
            .unwrap_or_else(|e| panic!("{sig} to {} (pid {pid}): {e}", self.spec.name));
    }
}

/// Settings shared by every node of a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub cluster_id: String,
    pub bootstrap_expect: usize,
    /// Give every node its own `--raft-addr` (instead of sharing `--listen`).
    pub separate_raft_port: bool,
    /// Flags for every node (timings, `--dead-after-secs`, ...).
    pub flags: Vec<String>,
    /// Seal gossip with a keyring made for the cluster ([`TestCluster::gossip_key_file`]).
    pub sealed_gossip: bool,
    /// Mutual TLS between the nodes, with a CA and node certificates made for the cluster in
    /// [`TestCluster::certs`] (every node then has its own Raft listener).
    pub peer_tls: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            cluster_id: "openfero".into(),
            bootstrap_expect: 3,
            separate_raft_port: false,
            flags: FAST.iter().map(|s| s.to_string()).collect(),
            sealed_gossip: true,
            peer_tls: true,
        }
    }
}

impl ClusterOptions {
    pub fn with(mut self, flags: &[&str]) -> Self {
        self.flags.extend(flags.iter().map(|s| s.to_string()));
        self
    }
}

/// What every member agreed on when a cluster was observed formed.
#[derive(Debug, Clone)]
pub struct Formed {
    pub leader: String,
    pub uuid: String,
    pub term: u64,
    /// node name -> node id (hex).
    pub ids: BTreeMap<String, String>,
}

impl Formed {
    pub fn leader_name(&self) -> String {
        self.name_of(&self.leader)
    }

    pub fn name_of(&self, id: &str) -> String {
        self.ids
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| panic!("no node with id {id} in {:?}", self.ids))
    }

    pub fn followers(&self) -> Vec<String> {
        self.ids
            .iter()
            .filter(|(_, id)| **id != self.leader)
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// A set of openfero nodes in one temp dir, sharing gossip seeds and an operarios folder with a
/// marker operarius (each run of a remediation for a [`MARKED`] alert appends its pod label to
/// [`TestCluster::marker`]).
pub struct TestCluster {
    /// Declared first: dropped (processes killed, logs printed) before the temp dir goes.
    pub nodes: BTreeMap<String, ClusterNode>,
    pub ops: PathBuf,
    pub marker: PathBuf,
    pub opts: ClusterOptions,
    /// Gossip seeds given to every node started from now on.
    pub seeds: Vec<String>,
    pub specs: BTreeMap<String, NodeSpec>,
    pub http: reqwest::Client,
    starts: usize,
    /// The cluster's gossip keyring (one fresh key), given to every node when
    /// [`ClusterOptions::sealed_gossip`].
    pub gossip_key_file: PathBuf,
    /// The cluster CA and one certificate per node (`openfero certs`' layout).
    pub certs: PathBuf,
    pub tmp: tempfile::TempDir,
}

impl TestCluster {
    /// Allocate ports for `names`; their gossip addresses become the seeds. Nothing is started.
    pub fn new(names: &[&str], opts: ClusterOptions) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (ops, marker) = marker_operarios(tmp.path(), &[("mark", MARKED, "firing")]);
        let gossip_key_file = tmp.path().join("gossip.keys");
        std::fs::write(
            &gossip_key_file,
            format!("{}\n", openfero_gossip::Key::generate().to_base64()),
        )
        .expect("write gossip key");
        openfero_raft::tls::install_default_provider();
        let certs = tmp.path().join("certs");
        if opts.peer_tls {
            let nodes: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            openfero::certs::init(&certs, &nodes, 30).expect("make the cluster's certificates");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(16)
            .build()
            .expect("client");
        let mut cluster = Self {
            tmp,
            ops,
            marker,
            opts,
            seeds: Vec::new(),
            specs: BTreeMap::new(),
            nodes: BTreeMap::new(),
            http,
            starts: 0,
            gossip_key_file,
            certs,
        };
        for name in names {
            cluster.add_spec(name);
        }
        cluster.seeds = cluster.specs.values().map(NodeSpec::gossip).collect();
        cluster
    }

    /// Allocate ports and a data dir for a node (not a seed).
    pub fn add_spec(&mut self, name: &str) -> NodeSpec {
        if self.opts.peer_tls && !openfero::certs::node_files(&self.certs, name).0.exists() {
            openfero::certs::issue(&self.certs, name, 30).expect("issue a node certificate");
        }
        let spec = NodeSpec {
            name: name.to_string(),
            api_port: free_tcp_port(),
            raft_port: (self.opts.separate_raft_port || self.opts.peer_tls).then(free_tcp_port),
            gossip_port: free_udp_port(),
            data_dir: self.tmp.path().join(format!("data-{name}")),
            extra: Vec::new(),
            env: Vec::new(),
        };
        self.specs.insert(name.to_string(), spec.clone());
        spec
    }

    pub fn spec(&self, name: &str) -> &NodeSpec {
        self.specs
            .get(name)
            .unwrap_or_else(|| panic!("no node spec `{name}`"))
    }

    pub fn url(&self, name: &str, path: &str) -> String {
        self.spec(name).url(path)
    }

    pub fn running(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Start (or restart) `name` with its spec; its output goes to `<tmp>/<name>.<n>.log`.
    pub fn start(&mut self, name: &str) {
        assert!(!self.nodes.contains_key(name), "{name} is already running");
        let spec = self.spec(name).clone();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_openfero"));
        cmd.arg("serve")
            .args(["--node-name", &spec.name])
            .args(["--listen", &spec.api()])
            .args(["--gossip-addr", &spec.gossip()])
            .args(["--seeds", &self.seeds.join(",")])
            .args([
                "--bootstrap-expect",
                &self.opts.bootstrap_expect.to_string(),
            ])
            .args(["--cluster-id", &self.opts.cluster_id])
            .arg("--data-dir")
            .arg(&spec.data_dir)
            .arg("--operarios")
            .arg(&self.ops)
            .args(&self.opts.flags)
            .args(&spec.extra)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env("OPENFERO_LOG", "info,openfero=debug,openfero_gossip=debug");
        if let Some(p) = spec.raft_port {
            cmd.args(["--raft-addr", &format!("127.0.0.1:{p}")]);
        }
        if self.opts.sealed_gossip {
            cmd.arg("--gossip-key-file").arg(&self.gossip_key_file);
        }
        if self.opts.peer_tls {
            let (cert, key) = openfero::certs::node_files(&self.certs, &spec.name);
            cmd.arg("--peer-tls-ca-file")
                .arg(self.certs.join("ca.pem"))
                .arg("--peer-tls-cert-file")
                .arg(cert)
                .arg("--peer-tls-key-file")
                .arg(key);
        }
        if !(self.opts.sealed_gossip && self.opts.peer_tls) {
            cmd.arg("--insecure-cluster");
        }
        self.starts += 1;
        let log = self.tmp.path().join(format!("{name}.{}.log", self.starts));
        let guard = ChildGuard::spawn(&format!("openfero {name}"), cmd, log);
        self.nodes.insert(
            name.to_string(),
            ClusterNode {
                spec,
                guard,
                stopped: false,
            },
        );
    }

    pub fn start_all(&mut self) {
        let names: Vec<String> = self.specs.keys().cloned().collect();
        for n in names {
            self.start(&n);
        }
    }

    fn node_mut(&mut self, name: &str) -> &mut ClusterNode {
        self.nodes
            .get_mut(name)
            .unwrap_or_else(|| panic!("{name} is not running"))
    }

    /// SIGKILL `name` and reap it.
    pub fn kill(&mut self, name: &str) {
        let mut node = self
            .nodes
            .remove(name)
            .unwrap_or_else(|| panic!("{name} is not running"));
        node.guard.kill();
    }

    /// SIGTERM `name` and wait for it to exit; the exit status.
    pub fn terminate(&mut self, name: &str) -> std::process::ExitStatus {
        let mut node = self
            .nodes
            .remove(name)
            .unwrap_or_else(|| panic!("{name} is not running"));
        node.guard
            .terminate()
            .unwrap_or_else(|| panic!("{name} had no process"))
    }

    /// SIGSTOP `name` (a paused process: its sockets stay open, nothing answers).
    pub fn pause(&mut self, name: &str) {
        let node = self.node_mut(name);
        node.signal(Signal::SIGSTOP);
        node.stopped = true;
    }

    /// SIGCONT `name`.
    pub fn resume(&mut self, name: &str) {
        let node = self.node_mut(name);
        node.signal(Signal::SIGCONT);
        node.stopped = false;
    }

    /// Nodes that run and are not paused.
    pub fn live(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| !n.stopped)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Panic (with its log) if a node we believe running has exited.
    pub fn assert_running(&mut self) {
        for (name, node) in self.nodes.iter_mut() {
            if let Some(child) = node.guard.child.as_mut() {
                if let Ok(Some(st)) = child.try_wait() {
                    panic!(
                        "{name} exited unexpectedly ({st}); log:\n{}",
                        node.guard.log_tail()
                    );
                }
            }
        }
    }

    /// Panic with its log if a node that should run has exited (a zombie waiting to be reaped
    /// counts as exited), so that a crash fails a wait at once instead of at its deadline.
    pub fn check_alive(&self) {
        for (name, node) in &self.nodes {
            let pid = node.guard.pid();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("?");
            if pid == 0 || stat.is_empty() || state == "Z" || state == "X" {
                panic!(
                    "{name} (pid {pid}) exited unexpectedly; log:\n{}",
                    node.guard.log_tail()
                );
            }
        }
    }

    /// `GET /admin/cluster` on `name`.
    pub async fn view(&self, name: &str) -> Result<ClusterView, String> {
        view_at(&self.http, &self.url(name, "/admin/cluster")).await
    }

    /// Wait until `names` all answer, agree on a leader (one of them) and a cluster uuid, and
    /// their voters are exactly their own ids.
    pub async fn wait_formed(&self, names: &[String], timeout: Duration) -> Formed {
        let what = format!("{names:?} to form one cluster");
        wait_for(&what, timeout, || async {
            self.check_alive();
            let mut views = BTreeMap::new();
            for n in names {
                let v = self.view(n).await.map_err(|e| format!("{n}: {e}"))?;
                views.insert(n.clone(), v);
            }
            agreed(&views, names.len())
        })
        .await
    }

    /// `POST /alerts` to `name`: status and JSON answer (`Null` if not JSON).
    pub async fn post_alert(
        &self,
        name: &str,
        body: &Value,
    ) -> Result<(StatusCode, Value), String> {
        post_alert(&self.http, &self.url(name, "/alerts"), body).await
    }

    /// `POST` an admin path to `name`: status and JSON answer (`Null` if not JSON).
    pub async fn admin_post(
        &self,
        name: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), String> {
        let mut req = self.http.post(self.url(name, path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// `GET` a JSON list (e.g. `/api/alerts?limit=1000`) from `name`.
    pub async fn get_list(&self, name: &str, path: &str) -> Result<Vec<Value>, String> {
        get_list(&self.http, &self.url(name, path)).await
    }

    /// Lines of the marker file: one per remediation run.
    pub fn marker_lines(&self) -> Vec<String> {
        marker_lines(&self.marker)
    }

    /// Log tails of every running node (for assertion messages).
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (name, node) in &self.nodes {
            out.push_str(&format!("--- {name} ---\n{}\n", node.guard.log_tail()));
        }
        out
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // Processes are killed right after this (field drops); keep their folders and logs
        // for a post-mortem when asked to.
        if std::env::var_os("OPENFERO_TEST_KEEP").is_some() {
            self.tmp.disable_cleanup(true);
            eprintln!(
                "kept the cluster's data dirs and logs in {}",
                self.tmp.path().display()
            );
        }
    }
}

/// Whether `views` (node name -> view) describe one formed cluster of `n` voters whose voters are
/// exactly the viewing nodes.
pub fn agreed(views: &BTreeMap<String, ClusterView>, n: usize) -> Result<Formed, String> {
    let first = views.values().next().ok_or("no views")?;
    let leader = first
        .leader
        .clone()
        .ok_or_else(|| format!("no leader: {first:?}"))?;
    let uuid = first
        .cluster_uuid
        .clone()
        .ok_or_else(|| format!("no cluster uuid: {first:?}"))?;
    let ids: BTreeMap<String, String> = views
        .iter()
        .map(|(name, v)| (name.clone(), v.node.clone()))
        .collect();
    let own: BTreeSet<String> = ids.values().cloned().collect();
    if own.len() != views.len() {
        return Err(format!("node ids not distinct: {ids:?}"));
    }
    for (name, v) in views {
        if !is_node_hex(&v.node) {
            return Err(format!("{name}: node id `{}` is not 16 hex digits", v.node));
        }
        if v.leader.as_deref() != Some(leader.as_str()) {
            return Err(format!(
                "{name} sees leader {:?}, another {leader}",
                v.leader
            ));
        }
        if v.cluster_uuid.as_deref() != Some(uuid.as_str()) {
            return Err(format!(
                "{name} has cluster uuid {:?}, another {uuid}",
                v.cluster_uuid
            ));
        }
        if v.voters.len() != n || v.voter_set() != own {
            return Err(format!(
                "{name} has voters {:?}, expected the {n} ids {own:?}",
                v.voters
            ));
        }
    }
    if !own.contains(&leader) {
        return Err(format!("leader {leader} is none of {ids:?}"));
    }
    let term = views.values().map(|v| v.term).max().unwrap_or(0);
    Ok(Formed {
        leader,
        uuid,
        term,
        ids,
    })
}

pub async fn view_at(http: &reqwest::Client, url: &str) -> Result<ClusterView, String> {
    let resp = http
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("GET {url}: {e}: {text}"))
}

pub async fn post_alert(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
) -> Result<(StatusCode, Value), String> {
    let resp = http
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

pub async fn get_list(http: &reqwest::Client, url: &str) -> Result<Vec<Value>, String> {
    let resp = http
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("GET {url}: {e}: {text}"))
}

pub fn marker_lines(marker: &Path) -> Vec<String> {
    std::fs::read_to_string(marker)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The `eventId` and first remediation id of a one-alert webhook answer.
pub fn ids_of(answer: &Value) -> (String, Option<String>) {
    let alert = &answer["alerts"][0];
    (
        alert["eventId"].as_str().unwrap_or_default().to_string(),
        alert["remediations"][0]["id"].as_str().map(str::to_string),
    )
}
