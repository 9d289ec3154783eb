//! Cluster benchmark on loopback, release binary, three `openfero serve` processes with gossip
//! discovery and fsync:
//!
//! 1. Failover, over `BENCH_FAILOVER_RUNS` (default 10) fresh clusters: SIGKILL the leader, then
//!    keep posting one webhook (matching an operarius) to a survivor until it is acknowledged.
//!    Measured from the kill: (a) the first 200, (b) the remediation's `startedAt` as stamped by
//!    the new leader when it starts the remediation. Median and max.
//! 2. Webhook throughput and latency at 1, 16 and 64 concurrent connections, each request to a
//!    random node (followers forward to the leader), for `BENCH_SECS` (default 5) per level; and
//!    16 connections to the leader only, for comparison.
//!
//! Run with `cargo bench --bench cluster`. The nodes run with the binary's default Raft and
//! gossip timings unless `BENCH_SERVE_ARGS` adds flags (e.g. `--raft-heartbeat-ms 100
//! --raft-election-min-ms 500 --raft-election-max-ms 1000`). Every wait has a deadline; every
//! process is killed by PID when the benchmark ends or fails.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

const FAILOVER_ALERT: &str = "BenchFailover";

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SplitMix64, so runs pick nodes reproducibly.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tcp_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("port");
    l.local_addr().expect("addr").port()
}

fn udp_port() -> u16 {
    loop {
        let s = UdpSocket::bind("127.0.0.1:0").expect("udp port");
        let p = s.local_addr().expect("addr").port();
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

struct Node {
    name: String,
    base: String,
    child: Option<Kill>,
}

/// Three nodes in `dir`, started at once with `--bootstrap-expect 3`.
fn start_cluster(dir: &Path, operarios: &Path) -> Vec<Node> {
    let api: Vec<u16> = (0..3).map(|_| tcp_port()).collect();
    let gossip: Vec<u16> = (0..3).map(|_| udp_port()).collect();
    let seeds = gossip
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let extra: Vec<String> = std::env::var("BENCH_SERVE_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    // BENCH_PEER_TLS=1: the secure cluster (mutual TLS between nodes, sealed gossip); else
    // plain HTTP and UDP (--insecure-cluster), to compare the two in one run.
    let secure = std::env::var("BENCH_PEER_TLS").is_ok_and(|v| v == "1");
    let certs = dir.join("certs");
    let keys = dir.join("gossip.keys");
    if secure {
        let names: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
        openfero::certs::init(&certs, &names, 30).expect("certificates");
        std::fs::write(
            &keys,
            format!("{}\n", openfero_gossip::Key::generate().to_base64()),
        )
        .expect("gossip key");
    }
    (0..3)
        .map(|i| {
            let name = format!("n{}", i + 1);
            let security: Vec<String> = if secure {
                let (cert, key) = openfero::certs::node_files(&certs, &name);
                vec![
                    "--raft-addr".into(),
                    format!("127.0.0.1:{}", tcp_port()),
                    "--gossip-key-file".into(),
                    keys.display().to_string(),
                    "--peer-tls-ca-file".into(),
                    certs.join("ca.pem").display().to_string(),
                    "--peer-tls-cert-file".into(),
                    cert.display().to_string(),
                    "--peer-tls-key-file".into(),
                    key.display().to_string(),
                ]
            } else {
                vec!["--insecure-cluster".into()]
            };
            let child = Command::new(env!("CARGO_BIN_EXE_openfero"))
                .arg("serve")
                .args(["--node-name", &name])
                .args(["--listen", &format!("127.0.0.1:{}", api[i])])
                .args(["--gossip-addr", &format!("127.0.0.1:{}", gossip[i])])
                .args([
                    "--seeds",
                    &seeds,
                    "--bootstrap-expect",
                    "3",
                    "--log",
                    "warn",
                ])
                .arg("--data-dir")
                .arg(dir.join(&name))
                .arg("--operarios")
                .arg(operarios)
                .args(["--retention-alerts", "1000000"])
                .args(&security)
                .args(&extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start openfero");
            Node {
                name,
                base: format!("http://127.0.0.1:{}", api[i]),
                child: Some(Kill(child)),
            }
        })
        .collect()
}

async fn get_json(client: &reqwest::Client, url: &str) -> Option<Value> {
    let r = client
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// Wait until the three nodes agree on a leader and have 3 voters; the leader's index.
async fn wait_formed(client: &reqwest::Client, nodes: &[Node]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut leaders = Vec::new();
        let mut ids = Vec::new();
        for n in nodes {
            match get_json(client, &format!("{}/admin/cluster", n.base)).await {
                Some(v) if v["voters"].as_array().map(Vec::len) == Some(3) => {
                    leaders.push(v["leader"].as_str().map(str::to_string));
                    ids.push(v["node"].as_str().unwrap_or_default().to_string());
                }
                _ => break,
            }
        }
        if leaders.len() == nodes.len() && leaders.iter().all(|l| l.is_some() && *l == leaders[0]) {
            let leader = leaders[0].clone().expect("checked");
            if let Some(i) = ids.iter().position(|id| *id == leader) {
                return i;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not form in 90 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn webhook(alertname: &str, pod: &str) -> Value {
    json!({
        "version": "4", "groupKey": format!("{{}}:{{alertname=\"{alertname}\"}}"), "truncatedAlerts": 0,
        "status": "firing", "receiver": "openfero",
        "groupLabels": {"alertname": alertname}, "commonLabels": {"alertname": alertname},
        "commonAnnotations": {}, "externalURL": "http://am",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": alertname, "pod": pod, "namespace": "bench", "severity": "warning"},
            "annotations": {"summary": "benchmark alert with a realistic annotation text of some length"},
            "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph?g0.expr=up", "fingerprint": ""
        }]
    })
}

/// Post until 200 (deadline `within`); the answer.
async fn post_until_ok(
    client: &reqwest::Client,
    urls: &[String],
    body: &Value,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    let mut i = 0;
    loop {
        let url = &urls[i % urls.len()];
        i += 1;
        if let Ok(r) = client
            .post(url)
            .json(body)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            if r.status().is_success() {
                return r.json().await.expect("webhook answer");
            }
        }
        assert!(
            Instant::now() < deadline,
            "no 200 from {urls:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Poll the remediation on `base` until `field` is set; its value.
async fn remediation_field(client: &reqwest::Client, base: &str, id: &str, field: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = get_json(client, &format!("{base}/api/remediations/{id}")).await {
            if !v[field].is_null() {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "remediation {id} has no {field} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median_max(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() - 1])
}

async fn failover(client: &reqwest::Client, root: &Path, operarios: &Path, runs: usize) {
    println!("failover: {runs} runs, 3 nodes each, SIGKILL of the leader");
    let (mut acks, mut starts) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = root.join(format!("failover-{run}"));
        let mut nodes = start_cluster(&dir, operarios);
        let leader = wait_formed(client, &nodes).await;
        // The catalog is replicated and the executor runs before the clock starts.
        let warm = post_until_ok(
            client,
            &[format!("{}/alerts", nodes[leader].base)],
            &webhook(FAILOVER_ALERT, &format!("warm-{run}")),
            Duration::from_secs(30),
        )
        .await;
        let warm_id = warm["alerts"][0]["remediations"][0]["id"]
            .as_str()
            .expect("the warm-up alert matches the operarius")
            .to_string();
        remediation_field(client, &nodes[leader].base, &warm_id, "finishedAt").await;

        let survivors: Vec<String> = nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != leader)
            .map(|(_, n)| format!("{}/alerts", n.base))
            .collect();
        let killed_wall = SystemTime::now();
        let killed = Instant::now();
        drop(nodes[leader].child.take()); // SIGKILL + reap
        let answer = post_until_ok(
            client,
            &survivors,
            &webhook(FAILOVER_ALERT, &format!("after-kill-{run}")),
            Duration::from_secs(60),
        )
        .await;
        let ack = killed.elapsed();
        let id = answer["alerts"][0]["remediations"][0]["id"]
            .as_str()
            .expect("remediation id")
            .to_string();
        let base = survivors[0].trim_end_matches("/alerts");
        let r = remediation_field(client, base, &id, "startedAt").await;
        let started: chrono::DateTime<chrono::Utc> = r["startedAt"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("startedAt is RFC 3339");
        let kill_at: chrono::DateTime<chrono::Utc> = killed_wall.into();
        let start_ms = (started - kill_at).num_milliseconds() as f64;
        println!(
            "  run {run:>2}: killed {}, first 200 after {:>7.1} ms, remediation started by the new leader after {:>7.1} ms",
            nodes[leader].name,
            ms(ack),
            start_ms
        );
        acks.push(ms(ack));
        starts.push(start_ms);
        drop(nodes);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (a_med, a_max) = median_max(&mut acks);
    let (s_med, s_max) = median_max(&mut starts);
    println!("  kill -> webhook acknowledged:      median {a_med:.0} ms, max {a_max:.0} ms");
    println!("  kill -> new leader starts pending: median {s_med:.0} ms, max {s_max:.0} ms");
}

struct Level {
    ok: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

async fn load(
    client: &reqwest::Client,
    urls: &[String],
    conns: usize,
    secs: u64,
    next: &Arc<AtomicUsize>,
) -> Level {
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..conns {
        let (client, urls, next) = (client.clone(), urls.to_vec(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xbe4c_0000 + c as u64);
            let (mut lat, mut failed) = (Vec::new(), 0usize);
            while Instant::now() < until {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let url = &urls[rng.below(urls.len())];
                let t = Instant::now();
                let r = client
                    .post(url)
                    .json(&webhook("Bench", &format!("pod-{i}")))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => lat.push(t.elapsed()),
                    _ => failed += 1,
                }
            }
            (lat, failed)
        }));
    }
    let mut level = Level {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (lat, failed) = t.await.expect("sender");
        level.ok += lat.len();
        level.failed += failed;
        level.latencies.extend(lat);
    }
    level.elapsed = start.elapsed();
    level.latencies.sort();
    level
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    ms(sorted[((sorted.len() as f64 - 1.0) * p).round() as usize])
}

async fn throughput(client: &reqwest::Client, root: &Path, secs: u64) {
    let empty_ops = root.join("no-operarios");
    std::fs::create_dir_all(&empty_ops).expect("mkdir");
    let dir = root.join("throughput");
    let nodes = start_cluster(&dir, &empty_ops);
    let leader = wait_formed(client, &nodes).await;
    let all: Vec<String> = nodes.iter().map(|n| format!("{}/alerts", n.base)).collect();
    let next = Arc::new(AtomicUsize::new(0));
    println!("throughput: 3 nodes, POST /alerts for {secs} s per level (fsync on every node)");
    let levels: [(&str, usize, Vec<String>); 4] = [
        ("random nodes", 1, all.clone()),
        ("random nodes", 16, all.clone()),
        ("random nodes", 64, all.clone()),
        ("leader only ", 16, vec![all[leader].clone()]),
    ];
    for (what, conns, urls) in levels {
        let l = load(client, &urls, conns, secs, &next).await;
        println!(
            "  {what}, {conns:>2} connections: {:>6.0} webhooks/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  ({} ok, {} failed)",
            l.ok as f64 / l.elapsed.as_secs_f64(),
            pct(&l.latencies, 0.50),
            pct(&l.latencies, 0.99),
            l.latencies.last().map(|d| ms(*d)).unwrap_or(f64::NAN),
            l.ok,
            l.failed
        );
    }
    drop(nodes);
}

fn write_operarius(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(
        dir.join("failover.yaml"),
        format!(
            r#"apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata: {{name: bench-failover, namespace: default}}
spec:
  alertSelector: {{alertname: {FAILOVER_ALERT}, status: firing}}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: fix
              image: busybox
              command: ["/bin/sh", "-c"]
              args: ["true"]
"#
        ),
    )
    .expect("write operarius");
    dir.to_path_buf()
}

#[tokio::main]
async fn main() {
    let runs: usize = env_or("BENCH_FAILOVER_RUNS", 10);
    let secs: u64 = env_or("BENCH_SECS", 5);
    println!(
        "openfero cluster benchmark; extra serve flags: {:?}",
        std::env::var("BENCH_SERVE_ARGS").unwrap_or_default()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let ops = write_operarius(&tmp.path().join("operarios"));
    // reqwest's rustls backend is compiled in (peer TLS): clients need the process provider.
    openfero_raft::tls::install_default_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .expect("client");
    if runs > 0 {
        failover(&client, tmp.path(), &ops, runs).await;
    }
    if secs > 0 {
        throughput(&client, tmp.path(), secs).await;
    }
}
