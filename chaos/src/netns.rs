//! Network namespaces for `--netns` (root only): one namespace per node and one for the
//! harness (double, proxies, load generator, checker), joined by a bridge that lives in a hub
//! namespace of its own. Nothing of a run touches the root namespace's interfaces, addresses or
//! routes, and the namespaces have no default route, so a wrong address fails locally.
//!
//! Network faults are nftables rules inside a node's namespace: drop everything to and from
//! chosen peers (isolation, splits), or a random share of the peers' packets (`numgen`), or
//! what one peer sends on connections it opened (one-way partitions); or DNAT of the node's
//! connections to its peers through the harness's link proxies (slow links). The harness
//! address is never dropped: like Alertmanager and the Kubernetes API in a real partition,
//! clients and the API may still reach a node that its peers cannot. Each kind has a table of
//! its own; [`Topology::heal`] deletes them all.
//!
//! Dropping the [`Topology`] deletes every namespace it made (their veths go with them). A
//! harness killed with SIGKILL cannot clean up; the next run sweeps namespaces whose name
//! carries a pid that no longer runs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use tokio::io::AsyncWriteExt;

const PREFIX: &str = "ofchaos-";
const NETNS_DIR: &str = "/run/netns";

/// The nftables tables of the faults, `family name`: [`Topology::heal`] deletes each.
const TABLES: [&str; 3] = ["inet chaos", "ip chaos_proxy", "inet chaos_oneway"];

/// One redirected route: a node's TCP connections to `to` go to `via` instead.
#[derive(Debug, Clone, Copy)]
pub struct Redirect {
    pub to: SocketAddr,
    pub via: SocketAddr,
}

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
        let set = self.ips(peers)?;
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

    /// Send `node`'s new TCP connections to each route's `to` through its `via` (DNAT in the
    /// nat output hook), and reset every TCP connection between `node` and `peers` on `ports`
    /// that does not go through a proxy, in either direction, at its next packet: connections
    /// made before keep their conntrack state and would bypass the DNAT. While this holds,
    /// every byte between the node and those peers on those ports passes a proxy.
    pub async fn redirect(
        &self,
        node: &str,
        routes: &[Redirect],
        peers: &[String],
        ports: &[u16],
    ) -> anyhow::Result<()> {
        let me = self.ip_of(node)?;
        let set = self.ips(peers)?;
        let ports = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        if set.is_empty() || ports.is_empty() {
            return Ok(());
        }
        let dnat: String = routes
            .iter()
            .map(|r| match (r.to, r.via) {
                (SocketAddr::V4(to), SocketAddr::V4(via)) => Ok(format!(
                    "ip daddr {} tcp dport {} dnat to {via}\n",
                    to.ip(),
                    to.port()
                )),
                _ => bail!("redirect `{}` → `{}`: IPv4 only", r.to, r.via),
            })
            .collect::<anyhow::Result<_>>()?;
        // The filter hooks see a proxied connection with the harness's address (DNAT happened
        // before them on the way out, the reverse NAT happens after them on the way in), so
        // these rules reset direct connections only.
        let script = format!(
            "table ip chaos_proxy {{}}\ndelete table ip chaos_proxy\n\
             table ip chaos_proxy {{\n\
             chain nat_output {{\ntype nat hook output priority -100; policy accept;\n{dnat}}}\n\
             chain output {{\ntype filter hook output priority 0; policy accept;\n\
             ip daddr {{ {set} }} tcp dport {{ {ports} }} reject with tcp reset\n\
             ip daddr {{ {set} }} tcp sport {{ {ports} }} reject with tcp reset\n}}\n\
             chain input {{\ntype filter hook input priority 0; policy accept;\n\
             ip saddr {{ {set} }} tcp dport {{ {ports} }} reject with tcp reset\n\
             ip saddr {{ {set} }} tcp sport {{ {ports} }} reject with tcp reset\n}}\n\
             }}\n"
        );
        nft(&me.ns, script).await
    }

    /// A one-way partition: `deaf` stops hearing `unheard`, which still hears it. In `deaf`'s
    /// namespace every packet from `unheard` that belongs to a connection `unheard` opened is
    /// dropped (its requests never arrive; its connections made before die too), and so is every
    /// datagram from it (gossip); connections `deaf` opens to `unheard` work both ways.
    pub async fn one_way(&self, deaf: &str, unheard: &str) -> anyhow::Result<()> {
        let me = self.ip_of(deaf)?;
        let from = &self.ip_of(unheard)?.ip;
        let script = format!(
            "table inet chaos_oneway {{}}\ndelete table inet chaos_oneway\n\
             table inet chaos_oneway {{\n\
             chain input {{\ntype filter hook input priority 0; policy accept;\n\
             ip saddr {from} ct direction original drop\n\
             ip saddr {from} meta l4proto udp drop\n}}\n\
             }}\n"
        );
        nft(&me.ns, script).await
    }

    /// Remove every rule of every fault from `node`'s namespace.
    pub async fn heal(&self, node: &str) -> anyhow::Result<()> {
        let me = self.ip_of(node)?;
        let script: String = TABLES
            .iter()
            .map(|t| format!("table {t} {{}}\ndelete table {t}\n"))
            .collect();
        nft(&me.ns, script).await
    }

    /// The peers' addresses as an nftables set body (`a, b`).
    fn ips(&self, peers: &[String]) -> anyhow::Result<String> {
        Ok(peers
            .iter()
            .map(|p| self.ip_of(p).map(|n| n.ip.clone()))
            .collect::<anyhow::Result<Vec<_>>>()?
            .join(", "))
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
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::Duration;

    use super::*;

    /// Namespace names carry the pid: one test's namespaces at a time.
    static NAMESPACES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
        let _one = NAMESPACES.lock().await;
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

    /// An echo server listening in `ns` on `ip`; its threads end with the test process.
    fn echo_in(ns: &str, ip: &str) -> SocketAddr {
        let ip = ip.to_string();
        let l = in_ns(ns, move || TcpListener::bind((ip.as_str(), 0))).expect("listen");
        let addr = l.local_addr().expect("addr");
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    if let Ok(mut r) = s.try_clone() {
                        let _ = std::io::copy(&mut r, &mut s);
                    }
                });
            }
        });
        addr
    }

    fn open(from_ns: &str, to: SocketAddr) -> Option<TcpStream> {
        in_ns(from_ns, move || {
            let s = TcpStream::connect_timeout(&to, Duration::from_millis(300)).ok()?;
            s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
            Some(s)
        })
    }

    fn echoes(s: &mut TcpStream) -> bool {
        let mut back = [0u8; 4];
        s.write_all(b"ping").is_ok() && s.read_exact(&mut back).is_ok() && &back == b"ping"
    }

    fn talks(from_ns: &str, to: SocketAddr) -> bool {
        open(from_ns, to).is_some_and(|mut s| echoes(&mut s))
    }

    #[tokio::test]
    async fn one_way_the_deaf_node_still_talks_to_the_unheard_one_not_back() {
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
        let _one = NAMESPACES.lock().await;
        let names = vec!["n1".to_string(), "n2".to_string()];
        let t = Topology::create(&names).expect("create namespaces");
        let (a, b) = (t.nodes["n1"].clone(), t.nodes["n2"].clone());
        let at_a = echo_in(&a.ns, &a.ip);
        let at_b = echo_in(&b.ns, &b.ip);
        let mut before = open(&a.ns, at_b).expect("a reaches b");
        assert!(echoes(&mut before));

        t.one_way("n2", "n1").await.expect("one way");
        assert!(!talks(&a.ns, at_b), "b does not hear what a opens");
        assert!(!echoes(&mut before), "nor a's connection made before");
        assert!(
            talks(&b.ns, at_a),
            "a hears b, and answers on b's connection"
        );
        assert!(talks(&t.harness_ns, at_b), "the harness still reaches b");

        t.heal("n2").await.expect("heal");
        assert!(talks(&a.ns, at_b), "healed");
    }

    /// A link proxy running on a thread of its own in the harness namespace.
    struct HarnessProxy {
        addr: SocketAddr,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<(u64, u64)>>,
    }

    impl HarnessProxy {
        fn start(t: &Topology, upstream: SocketAddr) -> Self {
            let path = format!("{NETNS_DIR}/{}", t.harness_ns);
            let listen = SocketAddr::new(t.harness_ip.parse().expect("harness ip"), 0);
            let (addr_tx, addr_rx) = std::sync::mpsc::channel();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let thread = std::thread::spawn(move || {
                let f = std::fs::File::open(&path).expect("open namespace");
                nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let shape = crate::linkproxy::Shape {
                        delay: Duration::from_millis(20),
                        ..Default::default()
                    };
                    let p = crate::linkproxy::LinkProxy::start(listen, upstream, shape, 1)
                        .await
                        .expect("start proxy");
                    addr_tx.send(p.addr()).expect("send addr");
                    let _ = stopped.await;
                    let carried = (p.connections(), p.bytes());
                    p.close().await;
                    carried
                })
            });
            let addr = addr_rx
                .recv_timeout(Duration::from_secs(5))
                .expect("proxy address");
            Self {
                addr,
                stop: Some(stop),
                thread: Some(thread),
            }
        }

        /// Close it: every connection it carried ends. Connections and bytes carried.
        fn close(mut self) -> (u64, u64) {
            self.stop.take().map(|s| s.send(()));
            self.thread
                .take()
                .expect("running")
                .join()
                .expect("proxy thread")
        }
    }

    impl Drop for HarnessProxy {
        fn drop(&mut self) {
            if let Some(s) = self.stop.take() {
                let _ = s.send(());
            }
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    #[tokio::test]
    async fn redirected_connections_pass_the_proxy_direct_ones_are_reset_heal_goes_direct() {
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
        let _one = NAMESPACES.lock().await;
        let names = vec!["n1".to_string(), "n2".to_string()];
        let t = Topology::create(&names).expect("create namespaces");
        let (a, b) = (t.nodes["n1"].clone(), t.nodes["n2"].clone());
        let at_b = echo_in(&b.ns, &b.ip);
        let mut direct = open(&a.ns, at_b).expect("a reaches b");
        assert!(echoes(&mut direct));

        let proxy = HarnessProxy::start(&t, at_b);
        let route = Redirect {
            to: at_b,
            via: proxy.addr,
        };
        let peers = ["n2".to_string()];
        t.redirect("n1", &[route], &peers, &[at_b.port()])
            .await
            .expect("redirect");
        assert!(!echoes(&mut direct), "the direct connection is reset");
        let mut proxied = open(&a.ns, at_b).expect("a reaches b through the proxy");
        assert!(echoes(&mut proxied), "and talks through it");
        assert!(talks(&a.ns, at_b), "every new connection too");

        t.heal("n1").await.expect("heal");
        let (conns, bytes) = proxy.close();
        assert_eq!(conns, 2, "two connections carried");
        assert_eq!(bytes, 16, "4 bytes each way, twice");
        assert!(!echoes(&mut proxied), "closed with the proxy");
        assert!(talks(&a.ns, at_b), "direct again");
    }
}
