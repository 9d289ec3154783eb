//! The campaign: start the double and the cluster, then per cycle: load + fault, heal, wait for
//! convergence, checkpoint. Ends with the final check and the report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::args::Args;
use crate::checker::{self, Checkpoint, Evidence, LogFinding, RemObs, Verdict};
use crate::cluster::{free_port, tmpfs, Cluster, NodeSpec};
use crate::double::{self, CreateAttempt, Proxy};
use crate::faults::{schedule, FaultKind};
use crate::inject;
use crate::load::{tag, Acked, Load, LoadStats};
use crate::netns::Topology;
use crate::observe::{self, Observation};
use crate::report::Report;
use crate::rng::SeededRng;

/// Spare nodes for the scale-out (3 → 5, 5 → 7).
pub(crate) const SPARES: usize = 2;
/// The admin token of the campaign's nodes.
pub(crate) const ADMIN_TOKEN: &str = "chaos-admin-token";

/// What a fault works on: the cluster, the double and the evidence being gathered.
pub(crate) struct Env {
    pub http: reqwest::Client,
    pub cluster: Cluster,
    pub double: openfero_kube_double::KubeDouble,
    pub creates: Arc<Mutex<Vec<CreateAttempt>>>,
    pub completions: Arc<Mutex<Vec<double::Completion>>>,
    pub observations: Arc<Mutex<Vec<Observation>>>,
    pub net: Option<Arc<Topology>>,
    pub _proxies: Vec<Proxy>,
    /// When the campaign started, by the harness's clock (ms since the epoch).
    pub started_ms: i64,
    /// The previous release's binary (rolling-upgrade), if given.
    pub previous_bin: Option<PathBuf>,
}

pub(crate) fn say(msg: impl AsRef<str>) {
    println!(
        "[{}] {}",
        chrono::Utc::now().format("%H:%M:%S%.3f"),
        msg.as_ref()
    );
}

pub fn default_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .context("binary has no folder")?
        .join("openfero");
    Ok(bin)
}

/// Node names of a run: the members first, then the spares.
pub fn node_names(nodes: usize) -> Vec<String> {
    (1..=nodes + SPARES).map(|i| format!("n{i}")).collect()
}

/// Runs the campaign. With `net`, this thread already is in the harness namespace and every
/// node gets its own namespace; without, nodes share 127.x loopback addresses.
pub async fn run(
    args: Args,
    net: Option<Arc<Topology>>,
    net_note: String,
) -> anyhow::Result<Report> {
    if args.nodes < 3 || args.nodes.is_multiple_of(2) {
        bail!("--nodes must be odd and at least 3, not `{}`", args.nodes);
    }
    let bin = match &args.openfero_bin {
        Some(b) => b.clone(),
        None => default_bin()?,
    };
    if !bin.exists() {
        bail!(
            "no openfero binary at `{}`: build it (cargo build --bin openfero) or pass --openfero-bin",
            bin.display()
        );
    }
    let crd = args.crd.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/openfero/crds/operariuses.yaml")
    });
    std::fs::create_dir_all(&args.report_dir)?;
    let logs_dir = args.report_dir.join("logs");
    std::fs::create_dir_all(&logs_dir)?;
    let data = tempfile::Builder::new()
        .prefix("openfero-chaos-")
        .tempdir()?;

    let kinds = match &args.faults {
        Some(list) => {
            if net.is_none() {
                if let Some(k) = list.iter().find(|k| FaultKind::NETWORK.contains(k)) {
                    bail!("`{k}` needs network namespaces (root, without --loopback)");
                }
            }
            list.clone()
        }
        None => schedule(args.seed, args.cycles, net.is_some()),
    };
    say(format!(
        "seed {} — {} nodes, {} cycles; schedule: {}",
        args.seed,
        args.nodes,
        kinds.len(),
        kinds
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let netns_note = net_note.as_str();
    say(netns_note);

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(8)
        .build()?;
    let dbl = double::start_double(&crd).await?;
    double::create_operarius(&http, &dbl).await?;
    let creates = Arc::new(Mutex::new(Vec::new()));

    let token_file = data.path().join("admin-token");
    std::fs::write(&token_file, ADMIN_TOKEN)?;
    // Addresses: a namespace each, or own loopback addresses 127.77.<pid % 250>.<10+i>.
    let lo_net = std::process::id() % 250;
    let mut specs = Vec::new();
    let mut proxies = Vec::new();
    // As root each data dir is a tmpfs of its own (disk-full fills one). Declared before the
    // cluster, so they are unmounted after its processes are killed, before `data` goes.
    let mut mounts: Vec<tmpfs::Mount> = Vec::new();
    match tmpfs::unavailable() {
        None => tmpfs::sweep_stale(),
        Some(why) => say(format!("disk-full skipped: {why}")),
    }
    for (i, name) in node_names(args.nodes).into_iter().enumerate() {
        let (ip, netns, proxy_ip) = match &net {
            Some(t) => {
                let n = t.nodes.get(&name).context("node without a namespace")?;
                (n.ip.clone(), Some(n.ns.clone()), t.harness_ip.clone())
            }
            None => {
                let ip = format!("127.77.{lo_net}.{}", 10 + i);
                (ip.clone(), None, ip)
            }
        };
        let proxy = double::start_proxy(&name, &proxy_ip, &dbl, creates.clone()).await?;
        let kubeconfig = data.path().join(format!("kubeconfig-{name}"));
        std::fs::write(
            &kubeconfig,
            dbl.kubeconfig_yaml().replace(&dbl.url(), &proxy.url),
        )?;
        proxies.push(proxy);
        // A namespace of its own has every port free.
        let (api_port, raft_port, gossip_port) = match netns {
            Some(_) => (8080, 8081, 7946),
            None => (free_port(&ip)?, free_port(&ip)?, free_port(&ip)?),
        };
        let data_dir = data.path().join(format!("data-{name}"));
        if tmpfs::unavailable().is_none() {
            mounts.push(tmpfs::Mount::new(&data_dir)?);
        }
        specs.push(NodeSpec {
            name: name.clone(),
            api_port,
            raft_port,
            gossip_port,
            ip,
            data_dir,
            kubeconfig,
            netns,
        });
    }
    // Every node, spares too, is observed; the load goes to the members (the Service's pods).
    let all_urls: Vec<(String, String)> =
        specs.iter().map(|s| (s.name.clone(), s.url(""))).collect();
    let node_urls: Vec<(String, String)> = all_urls[..args.nodes].to_vec();
    if !mounts.is_empty() {
        say(format!(
            "data dirs on tmpfs of {} MiB each ({})",
            tmpfs::SIZE_MIB,
            mounts
                .iter()
                .map(|m| m.dir().display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    let mut cluster = Cluster::new(bin, specs, args.nodes, token_file, logs_dir.clone());
    cluster.sync_fail_all = args.sync_fail_nodes == crate::args::SyncFailNodes::All;
    // The campaign runs the cluster as production should: mutual TLS between the nodes (a CA
    // and certificates made by the binary under test) and gossip sealed under a keyring.
    let certs = data.path().join("certs");
    let mut init = std::process::Command::new(&cluster.bin);
    init.args(["certs", "init"]).arg(&certs);
    for name in cluster.specs.keys() {
        init.args(["--node", name]);
    }
    let made = init.output()?;
    anyhow::ensure!(
        made.status.success(),
        "openfero certs init failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    cluster.certs = Some(certs);
    let gossip_keys = data.path().join("gossip.keys");
    std::fs::write(
        &gossip_keys,
        format!("{}\n", openfero_gossip::Key::generate().to_base64()),
    )?;
    cluster.secure_flags = vec![
        "--gossip-key-file".into(),
        gossip_keys.display().to_string(),
    ];
    for n in cluster.names() {
        cluster.start(&n)?;
    }
    let observations = Arc::new(Mutex::new(Vec::new()));
    let observer = observe::spawn_observer(http.clone(), all_urls, observations.clone());
    let completions = Arc::new(Mutex::new(Vec::new()));
    let completer = double::spawn_completer(http.clone(), dbl.clone(), completions.clone());
    let mut env = Env {
        http: http.clone(),
        cluster,
        double: dbl.clone(),
        creates,
        completions,
        observations,
        net,
        _proxies: proxies,
        started_ms: chrono::Utc::now().timestamp_millis(),
        previous_bin: args.previous_bin.clone(),
    };

    let started = Instant::now();
    let first = converge(&mut env, 0, "startup", Duration::from_secs(90)).await;
    if !first.converged {
        bail!(
            "the cluster did not form: {} (logs in {})",
            first.detail,
            logs_dir.display()
        );
    }
    say(format!(
        "cluster formed in {} ms",
        first.converged_ms.unwrap_or(0)
    ));
    wait_catalog(&env).await?;

    let webhook_log = std::fs::File::create(args.report_dir.join("webhooks.jsonl"))?;
    let load = Load {
        http: http.clone(),
        nodes: node_urls.clone(),
        log: Arc::new(Mutex::new(webhook_log)),
        give_up: Duration::from_secs(30),
    };
    let mut rng = SeededRng::new(args.seed);
    let mut acked: Vec<Acked> = Vec::new();
    let mut totals = LoadStats::default();
    let mut faults = Vec::new();
    let mut checkpoints = Vec::new();
    let mut checkpoint_breaks: Vec<(usize, Verdict)> = Vec::new();

    for (i, kind) in kinds.iter().enumerate() {
        let cycle = i + 1;
        let mut load_rng = SeededRng::new(rng.next_u64());
        let target_draw = rng.next_u64();
        let load_task = {
            let load = load.clone();
            let n = args.webhooks_per_cycle;
            tokio::spawn(async move {
                load.run_cycle(cycle, n, Duration::from_secs(4), &mut load_rng)
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t0 = Instant::now();
        let record = inject::inject(&mut env, *kind, target_draw).await;
        let mut record = record;
        record.cycle = cycle;
        record.duration_ms = t0.elapsed().as_millis() as u64;
        say(format!(
            "cycle {cycle}: {} on {} ({} ms) {}",
            record.kind, record.target, record.duration_ms, record.note
        ));
        faults.push(record);
        // Heal timings are measured from the heal, while the load may still run.
        let timeout = Duration::from_secs(args.converge_timeout_secs);
        let healed = converge(&mut env, cycle, &kind.to_string(), timeout).await;
        let (mut a, stats) = load_task.await.context("load task")?;
        say(format!(
            "cycle {cycle}: load {} notifications, {} requests, {} acknowledged, {} x 503, {} connection errors, {} not acknowledged",
            stats.notifications, stats.requests, stats.acknowledged, stats.answers_503,
            stats.connection_errors, stats.not_acknowledged
        ));
        totals.add(&stats);
        acked.append(&mut a);

        // And again once the load is over: the state every checkpoint compares.
        let mut cp = converge(&mut env, cycle, &kind.to_string(), timeout).await;
        cp.stable_leader_ms = healed.stable_leader_ms;
        cp.converged_ms = healed.converged_ms;
        if !healed.converged {
            cp.converged = false;
            cp.detail = format!(
                "after the heal: {}; after the load: {}",
                healed.detail, cp.detail
            );
        }
        say(format!(
            "cycle {cycle}: stable leader after {:?} ms, converged after {:?} ms{}",
            cp.stable_leader_ms,
            cp.converged_ms,
            if cp.converged {
                String::new()
            } else {
                format!(" — NOT converged: {}", cp.detail)
            }
        ));
        checkpoints.push(cp);
        let last = cycle == kinds.len();
        if !last && cycle.is_multiple_of(args.checkpoint_every.max(1)) {
            let scope: BTreeSet<String> = [tag(cycle)].into();
            let ev = collect(&mut env, &acked, &scope, &checkpoints).await;
            for v in checker::check_all(&ev) {
                if !v.held {
                    say(format!(
                        "cycle {cycle}: BROKEN {}: {}",
                        v.invariant, v.summary
                    ));
                    checkpoint_breaks.push((cycle, v));
                }
            }
        }
    }

    let scope: BTreeSet<String> = (1..=kinds.len()).map(tag).collect();
    let evidence = collect(&mut env, &acked, &scope, &checkpoints).await;
    let mut verdicts = checker::check_all(&evidence);
    for (cycle, broken) in checkpoint_breaks {
        if let Some(v) = verdicts
            .iter_mut()
            .find(|v| v.invariant == broken.invariant)
        {
            v.held = false;
            v.count = v.count.max(broken.count);
            v.evidence.extend(
                broken
                    .evidence
                    .iter()
                    .map(|l| format!("checkpoint {cycle}: {l}")),
            );
        }
    }
    observer.abort();
    completer.abort();
    env.cluster.kill_all();
    let _ = env.double.shutdown().await;
    let report = Report::build(
        &args,
        netns_note,
        faults,
        totals,
        &evidence,
        verdicts,
        started.elapsed(),
    );
    std::fs::write(
        args.report_dir.join("evidence.json"),
        serde_json::to_vec_pretty(&evidence)?,
    )?;
    Ok(report)
}

/// A node's state for convergence: its view, applied index and digest of its listings.
struct NodeState {
    leader: Option<String>,
    term: u64,
    id: String,
    voters: BTreeSet<String>,
    applied: u64,
    digest: String,
    open: usize,
    remediations: Vec<Value>,
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let r = http
        .get(url)
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("GET {url}: {}", r.status()));
    }
    r.json().await.map_err(|e| format!("GET {url}: {e}"))
}

async fn node_state(http: &reqwest::Client, spec: &NodeSpec) -> Result<NodeState, String> {
    let v = observe::view(http, &spec.url("/admin/cluster")).await?;
    let alerts = get_json(http, &spec.url("/api/alerts?limit=1000")).await?;
    let rems = get_json(http, &spec.url("/api/remediations?limit=1000")).await?;
    let v2 = observe::view(http, &spec.url("/admin/cluster")).await?;
    if v.applied_index != v2.applied_index {
        return Err(format!("{} applied index moved while reading", spec.name));
    }
    let mut h = Sha256::new();
    h.update(alerts.to_string());
    h.update(rems.to_string());
    let remediations = rems.as_array().cloned().unwrap_or_default();
    let open = remediations
        .iter()
        .filter(|r| matches!(r["state"].as_str(), Some("pending" | "running")))
        .count();
    Ok(NodeState {
        leader: v.leader,
        term: v.term,
        id: v.node,
        voters: v.voters.into_iter().collect(),
        applied: v.applied_index.unwrap_or(0),
        digest: hex::encode(&h.finalize()[..8]),
        open,
        remediations,
    })
}

/// Wait until every live node agrees on one leader, the full voter set, the applied index and
/// the digest, with no remediation left open; measure how long each took.
async fn converge(env: &mut Env, cycle: usize, fault: &str, timeout: Duration) -> Checkpoint {
    let start = Instant::now();
    let mut cp = Checkpoint {
        cycle,
        fault: fault.to_string(),
        ..Checkpoint::default()
    };
    loop {
        let live = env.cluster.live();
        let mut states = BTreeMap::new();
        let mut why = String::new();
        for n in &live {
            match node_state(&env.http, env.cluster.spec(n)).await {
                Ok(s) => {
                    states.insert(n.clone(), s);
                }
                Err(e) => why = e,
            }
        }
        if why.is_empty() {
            why = disagreement(&states, env.cluster.members.len(), &mut cp, start);
        }
        cp.applied = states.iter().map(|(n, s)| (n.clone(), s.applied)).collect();
        cp.digests = states
            .iter()
            .map(|(n, s)| (n.clone(), s.digest.clone()))
            .collect();
        if why.is_empty() {
            cp.converged = true;
            cp.converged_ms = Some(start.elapsed().as_millis() as u64);
            cp.detail.clear();
            return cp;
        }
        cp.detail = why;
        if start.elapsed() > timeout {
            return cp;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn disagreement(
    states: &BTreeMap<String, NodeState>,
    n: usize,
    cp: &mut Checkpoint,
    start: Instant,
) -> String {
    let leaders: BTreeSet<(Option<String>, u64)> = states
        .values()
        .map(|s| (s.leader.clone(), s.term))
        .collect();
    let ids: BTreeSet<String> = states.values().map(|s| s.id.clone()).collect();
    let stable = leaders.len() == 1
        && leaders
            .iter()
            .next()
            .and_then(|(l, _)| l.as_ref())
            .is_some_and(|l| ids.contains(l));
    if !stable {
        return format!("no single leader: {leaders:?}");
    }
    if cp.stable_leader_ms.is_none() {
        cp.stable_leader_ms = Some(start.elapsed().as_millis() as u64);
    }
    for (name, s) in states {
        if s.voters.len() != n || !ids.iter().all(|i| s.voters.contains(i)) {
            return format!("{name} has voters {:?}, live ids {ids:?}", s.voters);
        }
    }
    let applied: BTreeSet<u64> = states.values().map(|s| s.applied).collect();
    if applied.len() > 1 {
        return format!("applied indexes differ: {applied:?}");
    }
    let digests: BTreeSet<&str> = states.values().map(|s| s.digest.as_str()).collect();
    if digests.len() > 1 {
        return format!("state digests differ: {digests:?}");
    }
    if let Some((name, s)) = states.iter().find(|(_, s)| s.open > 0) {
        return format!("{name}: {} remediations still open", s.open);
    }
    String::new()
}

async fn wait_catalog(env: &Env) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut ok = true;
        for n in env.cluster.live() {
            let l = get_json(&env.http, &env.cluster.spec(&n).url("/api/operarios")).await;
            ok &= l.is_ok_and(|v| v.as_array().is_some_and(|a| !a.is_empty()));
        }
        if ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the operarius never reached every node's catalog");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A recorded time (RFC 3339) of one node's listing, for the `clock` invariant.
fn push_stamp(out: &mut Vec<checker::Stamp>, node: &str, what: &str, v: &Value) {
    if let Some(t) = v
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    {
        out.push(checker::Stamp {
            node: node.to_string(),
            what: what.to_string(),
            ms: t.timestamp_millis(),
        });
    }
}

/// Gather the evidence: histories of `scope` on every live node, listings, Jobs, creates,
/// observations, log findings, unexpected exits and recorded times.
async fn collect(
    env: &mut Env,
    acked: &[Acked],
    scope: &BTreeSet<String>,
    checkpoints: &[Checkpoint],
) -> Evidence {
    let mut ev = Evidence {
        acked: acked.to_vec(),
        history_scope: scope.clone(),
        checkpoints: checkpoints.to_vec(),
        creates: env.creates.lock().expect("creates lock").clone(),
        completions: env.completions.lock().expect("completions lock").clone(),
        observations: env.observations.lock().expect("observations lock").clone(),
        crashed: env.cluster.crashed(),
        span_ms: Some((env.started_ms, chrono::Utc::now().timestamp_millis())),
        ..Evidence::default()
    };
    ev.jobs = double::list_jobs(&env.http, &env.double)
        .await
        .unwrap_or_default();
    for n in env.cluster.live() {
        let spec = env.cluster.spec(&n).clone();
        let mut seen = BTreeSet::new();
        for t in scope {
            let url = spec.url(&format!("/api/alerts?limit=1000&q={t}"));
            if let Ok(Value::Array(items)) = get_json(&env.http, &url).await {
                seen.extend(
                    items
                        .iter()
                        .filter_map(|a| a["eventId"].as_str().map(str::to_string)),
                );
                for a in &items {
                    push_stamp(&mut ev.stamps, &n, "alert receivedAt", &a["receivedAt"]);
                }
            }
        }
        ev.histories.insert(n.clone(), seen);
        if let Ok(s) = node_state(&env.http, &spec).await {
            for r in &s.remediations {
                for field in ["createdAt", "startedAt", "finishedAt"] {
                    push_stamp(&mut ev.stamps, &n, field, &r[field]);
                }
            }
            ev.remediations.insert(
                n.clone(),
                s.remediations
                    .iter()
                    .map(|r| RemObs {
                        id: r["id"].as_str().unwrap_or_default().into(),
                        event_id: r["eventId"].as_str().unwrap_or_default().into(),
                        operarius: r["operarius"].as_str().unwrap_or_default().into(),
                        state: r["state"].as_str().unwrap_or_default().into(),
                    })
                    .collect(),
            );
        }
    }
    for (node, file) in &env.cluster.all_logs {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().filter(|l| checker::is_fatal(l)) {
            ev.log_findings.push(LogFinding {
                node: node.clone(),
                file: file
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                line: line.chars().take(300).collect(),
            });
        }
    }
    ev
}
