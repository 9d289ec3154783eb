//! Network namespaces for `--netns` (root only): one namespace per node and one for the
//! harness (double, proxies, load generator, checker), joined by a bridge that lives in a hub
//! namespace of its own. Nothing of a run touches the root namespace's interfaces, addresses or
//! routes, and the namespaces have no default route, so a wrong address fails locally.
//!
//! Network faults are nftables rules inside a node's namespace: drop everything to and from
//! chosen peers (isolation, splits), or a random share of the peers' packets (`numgen`). The
//! harness address is never dropped: like Alertmanager and the Kubernetes API in a real
//! partition, clients and the API may still reach a node that its peers cannot.
//!
//! Dropping the [`Topology`] deletes every namespace it made (their veths go with them). A
//! harness killed with SIGKILL cannot clean up; the next run sweeps namespaces whose name
//! carries a pid that no longer runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use tokio::io::AsyncWriteExt;

const PREFIX: &str = "ofchaos-";
const NETNS_DIR: &str = "/run/netns";

/// Address and namespace of one node.
#[derive(Debug, Clone)]
pub struct NodeNet {
    pub ns: String,
    pub ip: String,
}

/// The namespaces of one run.
#[derive(Debug)]
pub struct Topology {
    pub harness_ns: String,
    pub harness_ip: String,
    pub nodes: BTreeMap<String, NodeNet>,
    created: Vec<String>,
}

/// Why network faults cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    for tool in ["ip", "nft"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!(
                "`{tool}` is not installed (apt-get install iproute2 nftables)"
            ));
        }
    }
    None
}

fn run(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("run `{}`", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Namespaces left by runs whose harness no longer exists.
pub fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run(&["ip", "netns", "del", &name]);
        }
    }
}

impl Topology {
    /// Namespaces for `names` (and the harness) on 10.213.<pid % 250>.0/24.
    pub fn create(names: &[String]) -> anyhow::Result<Self> {
        let pid = std::process::id();
        let net = format!("10.213.{}", pid % 250);
        let base = format!("{PREFIX}{pid}");
        let mut t = Self {
            harness_ns: format!("{base}-h"),
            harness_ip: format!("{net}.1"),
            nodes: BTreeMap::new(),
            created: Vec::new(),
        };
        let hub = format!("{base}-hub");
        t.add_ns(&hub)?;
        run(&["ip", "-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &hub, "link", "set", "br0", "up"])?;
        let harness = (
            String::from("h"),
            t.harness_ns.clone(),
            t.harness_ip.clone(),
        );
        let members = names.iter().enumerate().map(|(i, n)| {
            (
                n.clone(),
                format!("{base}-{n}"),
                format!("{net}.{}", 10 + i),
            )
        });
        for (name, ns, ip) in std::iter::once(harness).chain(members) {
            t.add_ns(&ns)?;
            let veth = format!("v-{name}");
            run(&[
                "ip", "-n", &hub, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            run(&[
                "ip", "-n", &hub, "link", "set", &veth, "master", "br0", "up",
            ])?;
            run(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                "eth0",
            ])?;
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
            if name != "h" {
                t.nodes.insert(name, NodeNet { ns, ip });
            }
        }
        Ok(t)
    }

    fn add_ns(&mut self, ns: &str) -> anyhow::Result<()> {
        run(&["ip", "netns", "add", ns])?;
        self.created.push(ns.to_string());
        run(&["ip", "-n", ns, "link", "set", "lo", "up"])
    }

    /// Move the calling thread into the harness namespace. Call it before any other thread
    /// exists (threads and sockets made afterwards inherit it).
    pub fn enter_harness(&self) -> anyhow::Result<()> {
        let path = format!("{NETNS_DIR}/{}", self.harness_ns);
        let f = std::fs::File::open(&path).with_context(|| format!("open `{path}`"))?;
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
            .with_context(|| format!("setns into `{}`", self.harness_ns))
    }

    fn ip_of(&self, node: &str) -> anyhow::Result<&NodeNet> {
        self.nodes
            .get(node)
            .with_context(|| format!("no namespace for `{node}`"))
    }

    /// Drop all traffic between `node` and `peers` (both directions, in `node`'s namespace).
    pub async fn cut(&self, node: &str, peers: &[String]) -> anyhow::Result<()> {
        self.rules(node, peers, None).await
    }

    /// Drop `percent` % of the packets `node` receives from `peers`, at random.
    pub async fn lossy(&self, node: &str, peers: &[String], percent: u8) -> anyhow::Result<()> {
        self.rules(node, peers, Some(percent)).await
    }

    async fn rules(&self, node: &str, peers: &[String], loss: Option<u8>) -> anyhow::Result<()> {
        let me = self.ip_of(node)?;
        let set = peers
            .iter()
            .map(|p| self.ip_of(p).map(|n| n.ip.clone()))
            .collect::<anyhow::Result<Vec<_>>>()?
            .join(", ");
        if set.is_empty() {
            return Ok(());
        }
        let (input, output) = match loss {
            None => (
                format!("ip saddr {{ {set} }} drop"),
                format!("ip daddr {{ {set} }} drop"),
            ),
            Some(p) => (
                format!("ip saddr {{ {set} }} numgen random mod 100 < {p} drop"),
                String::new(),
            ),
        };
        let script = format!(
            "table inet chaos {{}}\ndelete table inet chaos\n\
             table inet chaos {{\n\
             chain input {{\ntype filter hook input priority 0; policy accept;\n{input}\n}}\n\
             chain output {{\ntype filter hook output priority 0; policy accept;\n{output}\n}}\n\
             }}\n"
        );
        nft(&me.ns, script).await
    }

    /// Remove every rule from `node`'s namespace.
    pub async fn heal(&self, node: &str) -> anyhow::Result<()> {
        let me = self.ip_of(node)?;
        nft(
            &me.ns,
            "table inet chaos {}\ndelete table inet chaos\n".to_string(),
        )
        .await
    }
}

async fn nft(ns: &str, script: String) -> anyhow::Result<()> {
    let mut child = tokio::process::Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("spawn nft")?;
    {
        let mut stdin = child.stdin.take().context("nft stdin")?;
        stdin.write_all(script.as_bytes()).await?;
    }
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        bail!(
            "nft in `{ns}` failed: {}\n{script}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            if let Err(e) = run(&["ip", "netns", "del", ns]) {
                eprintln!("openfero-chaos: {e:#}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::Duration;

    use super::*;

    /// Runs `op` on a thread of its own inside namespace `ns` (sockets it makes stay there).
    fn in_ns<T: Send + 'static>(ns: &str, op: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("{NETNS_DIR}/{ns}");
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).expect("open namespace");
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            op()
        })
        .join()
        .expect("namespace thread")
    }

    fn connects(from_ns: &str, to: SocketAddr) -> bool {
        in_ns(from_ns, move || {
            TcpStream::connect_timeout(&to, Duration::from_millis(300)).is_ok()
        })
    }

    #[tokio::test]
    async fn nodes_reach_each_other_until_cut_again_after_heal_and_nothing_is_left() {
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
        let names = vec!["n1".to_string(), "n2".to_string()];
        let t = Topology::create(&names).expect("create namespaces");
        let n1 = t.nodes["n1"].clone();
        let n2 = t.nodes["n2"].clone();
        let ip = n2.ip.clone();
        let listener =
            in_ns(&n2.ns, move || TcpListener::bind((ip.as_str(), 0))).expect("listen in n2");
        let to = listener.local_addr().expect("addr");
        std::thread::spawn(move || for _ in listener.incoming() {});

        assert!(connects(&n1.ns, to), "n1 reaches n2 over the bridge");
        assert!(connects(&t.harness_ns, to), "the harness reaches n2");
        t.cut("n2", &["n1".to_string()]).await.expect("cut");
        assert!(!connects(&n1.ns, to), "cut: n1 no longer reaches n2");
        assert!(connects(&t.harness_ns, to), "cut keeps the harness");
        t.heal("n2").await.expect("heal");
        assert!(connects(&n1.ns, to), "healed");
        t.heal("n2").await.expect("healing twice is fine");

        let made: Vec<String> = t.created.clone();
        assert_eq!(made.len(), 4, "hub, harness, two nodes: {made:?}");
        drop(t);
        for ns in made {
            assert!(
                !std::path::Path::new(&format!("{NETNS_DIR}/{ns}")).exists(),
                "{ns} removed"
            );
        }
    }
}
