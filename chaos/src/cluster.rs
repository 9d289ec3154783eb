//! Real `openfero serve` processes on 127.0.0.x loopback addresses, each with its own data dir
//! and its own Kubernetes API proxy. Every process is owned by a guard that SIGKILLs and reaps
//! it by PID when dropped, on success, failure and Ctrl-C alike.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub mod tmpfs;

/// Short timings, so elections, gossip and promotion take well under a second each.
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
    // Room for a scale-out by two on a 5-node campaign.
    "--max-voters",
    "7",
];

/// Longest election timeout of [`FAST`]; a pause longer than this (plus the lease) makes the
/// others elect a new leader.
pub const ELECTION_MAX: Duration = Duration::from_millis(1000);

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct ProcessGuard {
    child: Option<Child>,
}

impl ProcessGuard {
    pub fn spawn(mut cmd: Command, log: &Path) -> anyhow::Result<Self> {
        let out = File::create(log).with_context(|| format!("create `{}`", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().context("spawn openfero")?;
        Ok(Self { child: Some(child) })
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    pub fn signal(&self, sig: Signal) -> anyhow::Result<()> {
        let pid = self.pid().context("no process")?;
        kill(Pid::from_raw(pid), sig).with_context(|| format!("{sig} to pid {pid}"))
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // A stopped process dies on SIGKILL too.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait up to `grace` for the exit, then SIGKILL.
    pub fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGCONT);
        let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return c.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process has exited (reaping it if so).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Where one node listens and keeps its data. Each node has its own loopback address.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub ip: String,
    pub api_port: u16,
    /// The Raft (peer) listener: mutual TLS between the nodes.
    pub raft_port: u16,
    pub gossip_port: u16,
    pub data_dir: PathBuf,
    /// The kubeconfig pointing at this node's proxy in front of the shared API double.
    pub kubeconfig: PathBuf,
    /// The network namespace the node runs in (`--netns`), else the harness's own.
    pub netns: Option<String>,
}

impl NodeSpec {
    pub fn api(&self) -> String {
        format!("{}:{}", self.ip, self.api_port)
    }

    pub fn gossip(&self) -> String {
        format!("{}:{}", self.ip, self.gossip_port)
    }

    pub fn raft(&self) -> String {
        format!("{}:{}", self.ip, self.raft_port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.api(), path)
    }

    /// The trigger file of the `chaos-faults` build's sync hook (`OPENFERO_CHAOS_FAIL_SYNC`):
    /// while it exists, the node's store flushes fail with EIO. Next to the data dir, not in it.
    pub fn sync_fail_trigger(&self) -> PathBuf {
        self.data_dir.with_extension("sync-fail")
    }
}

/// A free TCP port on `ip` whose UDP twin is free as well.
pub fn free_port(ip: &str) -> anyhow::Result<u16> {
    for _ in 0..100 {
        let l = TcpListener::bind((ip, 0)).with_context(|| format!("bind {ip}:0"))?;
        let port = l.local_addr()?.port();
        if UdpSocket::bind((ip, port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port on {ip}")
}

/// How one node is started differently from the others, for a fault: extra environment (a
/// `chaos-faults` hook), a command it runs under (`faketime`), another binary (an upgrade).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub env: Vec<(String, String)>,
    pub wrapper: Vec<String>,
    pub bin: Option<PathBuf>,
}

/// A running node.
pub struct Running {
    pub guard: ProcessGuard,
    pub stopped: bool,
}

/// The cluster: specs of every node and the processes that run now.
pub struct Cluster {
    pub bin: PathBuf,
    pub specs: BTreeMap<String, NodeSpec>,
    pub running: BTreeMap<String, Running>,
    pub seeds: Vec<String>,
    pub bootstrap_expect: usize,
    /// Nodes that belong to the cluster now (the first `bootstrap_expect` specs, plus the
    /// ones a scale-out added); the other specs are spares.
    pub members: Vec<String>,
    /// Bearer token file of the admin API (removals during a scale-in).
    pub admin_token_file: PathBuf,
    pub logs_dir: PathBuf,
    /// Flags given to every node (the gossip keyring).
    pub secure_flags: Vec<String>,
    /// The cluster CA and a certificate per node (`openfero certs init`'s layout): peer TLS.
    pub certs: Option<PathBuf>,
    /// Every log file written, for the panic scan.
    pub all_logs: Vec<(String, PathBuf)>,
    /// Per node, how its next starts differ (empty: like every other).
    pub overrides: BTreeMap<String, Overrides>,
    /// Exits a fault reaped that it did not expect (anything but a storage exit in a disk
    /// fault): reported with the nodes that exited on their own.
    pub unexpected_exits: Vec<(String, String)>,
    /// `sync-fail` fails every member's syncs at once (`--sync-fail-nodes all`), not one's.
    pub sync_fail_all: bool,
    starts: usize,
}

impl Cluster {
    pub fn new(
        bin: PathBuf,
        specs: Vec<NodeSpec>,
        bootstrap_expect: usize,
        admin_token_file: PathBuf,
        logs_dir: PathBuf,
    ) -> Self {
        let seeds = specs.iter().map(NodeSpec::gossip).collect();
        let members = specs
            .iter()
            .take(bootstrap_expect)
            .map(|s| s.name.clone())
            .collect();
        Self {
            bin,
            specs: specs.into_iter().map(|s| (s.name.clone(), s)).collect(),
            running: BTreeMap::new(),
            seeds,
            bootstrap_expect,
            members,
            admin_token_file,
            logs_dir,
            secure_flags: Vec::new(),
            certs: None,
            all_logs: Vec::new(),
            overrides: BTreeMap::new(),
            unexpected_exits: Vec::new(),
            sync_fail_all: false,
            starts: 0,
        }
    }

    /// The members (not the spares).
    pub fn names(&self) -> Vec<String> {
        self.members.clone()
    }

    /// Spares: specs that are not members now.
    pub fn spares(&self) -> Vec<String> {
        self.specs
            .keys()
            .filter(|n| !self.members.contains(n))
            .cloned()
            .collect()
    }

    pub fn spec(&self, name: &str) -> &NodeSpec {
        &self.specs[name]
    }

    pub fn start(&mut self, name: &str) -> anyhow::Result<()> {
        if self.running.contains_key(name) {
            bail!("{name} is already running");
        }
        let spec = self.specs[name].clone();
        let over = self.overrides.get(name).cloned().unwrap_or_default();
        let bin = over.bin.clone().unwrap_or_else(|| self.bin.clone());
        // `ip netns exec` and a wrapper such as `faketime` exec what follows: the PID is
        // openfero's own.
        let mut argv: Vec<std::ffi::OsString> = Vec::new();
        if let Some(ns) = &spec.netns {
            argv.extend(["ip", "netns", "exec", ns.as_str()].map(Into::into));
        }
        argv.extend(over.wrapper.iter().map(Into::into));
        argv.push(bin.into_os_string());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        // Inert unless the binary has the `chaos-faults` hooks and the file exists (sync-fail).
        cmd.env("OPENFERO_CHAOS_FAIL_SYNC", spec.sync_fail_trigger());
        cmd.envs(over.env.iter().map(|(k, v)| (k, v)));
        cmd.arg("serve")
            .args(["--node-name", &spec.name])
            .args(["--listen", &spec.api()])
            .args(["--gossip-addr", &spec.gossip()])
            .args(["--seeds", &self.seeds.join(",")])
            .args(["--bootstrap-expect", &self.bootstrap_expect.to_string()])
            .args(["--cluster-id", "chaos"])
            .arg("--data-dir")
            .arg(&spec.data_dir)
            .arg("--kubeconfig")
            .arg(&spec.kubeconfig)
            .args(["--watch-namespaces", crate::double::NS])
            .arg("--admin-token-file")
            .arg(&self.admin_token_file)
            .args(["--raft-addr", &spec.raft()])
            .args(&self.secure_flags)
            .args(FAST)
            .env("OPENFERO_LOG", "info,openfero=debug");
        match &self.certs {
            Some(dir) => {
                cmd.arg("--peer-tls-ca-file")
                    .arg(dir.join("ca.pem"))
                    .arg("--peer-tls-cert-file")
                    .arg(dir.join(format!("{name}.pem")))
                    .arg("--peer-tls-key-file")
                    .arg(dir.join(format!("{name}-key.pem")));
            }
            None => {
                cmd.arg("--insecure-cluster");
            }
        }
        self.starts += 1;
        let log = self.logs_dir.join(format!("{name}.{}.log", self.starts));
        let guard = ProcessGuard::spawn(cmd, &log)?;
        self.all_logs.push((name.to_string(), log));
        self.running.insert(
            name.to_string(),
            Running {
                guard,
                stopped: false,
            },
        );
        Ok(())
    }

    pub fn kill(&mut self, name: &str) {
        if let Some(mut r) = self.running.remove(name) {
            r.guard.kill();
        }
    }

    pub fn terminate(&mut self, name: &str) {
        if let Some(mut r) = self.running.remove(name) {
            r.guard.terminate(Duration::from_secs(15));
        }
    }

    pub fn pause(&mut self, name: &str) -> anyhow::Result<()> {
        let r = self.running.get_mut(name).context("not running")?;
        r.guard.signal(Signal::SIGSTOP)?;
        r.stopped = true;
        Ok(())
    }

    pub fn resume(&mut self, name: &str) -> anyhow::Result<()> {
        let r = self.running.get_mut(name).context("not running")?;
        r.guard.signal(Signal::SIGCONT)?;
        r.stopped = false;
        Ok(())
    }

    pub fn wipe(&self, name: &str) -> anyhow::Result<()> {
        let dir = &self.specs[name].data_dir;
        if tmpfs::is_mount_point(dir) {
            // A node's own tmpfs (as root): empty it, keep the mount.
            return tmpfs::clear(dir);
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("wipe `{}`", dir.display()))?;
        }
        Ok(())
    }

    /// Running and not paused.
    pub fn live(&self) -> Vec<String> {
        self.running
            .iter()
            .filter(|(_, r)| !r.stopped)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// If `name`'s process has exited, reap it and take it out of the running nodes: its exit
    /// status. The caller judges it (expected, or [`Cluster::unexpected_exits`]).
    pub fn reap_exited(&mut self, name: &str) -> Option<std::process::ExitStatus> {
        let st = self.running.get_mut(name)?.guard.exited()?;
        self.running.remove(name);
        Some(st)
    }

    /// Nodes that exited without being asked to: name and exit status.
    pub fn crashed(&mut self) -> Vec<(String, String)> {
        let mut out = self.unexpected_exits.clone();
        for (name, r) in self.running.iter_mut() {
            if let Some(st) = r.guard.exited() {
                out.push((name.clone(), st.to_string()));
            }
        }
        out
    }

    /// Kill everything now (also done by the guards on drop).
    pub fn kill_all(&mut self) {
        let names: Vec<String> = self.running.keys().cloned().collect();
        for n in names {
            self.kill(&n);
        }
    }
}
