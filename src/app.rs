//! Wiring: opens the store, starts Raft, the HTTP server and the background tasks, and owns
//! the ordered shutdown. The only place that spawns long-lived tasks.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use openfero_gossip::{Gossip, GossipConfig, NodeMeta, SealConfig, SharedKeyring, Transport};
use openfero_raft::RaftNode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::catalog::Catalog;
use crate::cluster::{bootstrap, ordinal_of, watch_membership, Autopilot, Cluster, ClusterConfig};
use crate::config::ServeArgs;
use crate::executor::{Backend, Executor, KubeBackend};
use crate::http::AppState;
use crate::ids::node_hex;
use crate::kubernetes::{self, watch_operarios, JobTracker, Namespaces, Reporter};
use crate::metrics::Metrics;
use crate::remediation::{CommandV1, RemediationMachine};
use crate::replica::Replica;
use crate::site::router;
use crate::time::now_ms;

/// Most alerts removed by one prune command (keeps each apply short).
const PRUNE_BATCH: u64 = 1000;
/// How often key and certificate files are checked for changes (rotation without a restart).
const KEY_RELOAD: Duration = Duration::from_secs(5);
/// How long gossip remembers a dead node (longer than any `--dead-after`).
const GOSSIP_DEAD_GRACE: Duration = Duration::from_secs(3600);

/// A running node, for tests and `main`.
pub struct Running {
    pub addr: SocketAddr,
    pub raft_addr: SocketAddr,
    pub replica: Replica,
    pub cluster: Cluster,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    gossip_interval: Duration,
}

/// Start a node: on the embedded default (single voter, no gossip) or as a cluster member
/// (`--gossip-addr`, `--seeds`, `--bootstrap-expect`).
pub async fn start(args: ServeArgs) -> anyhow::Result<Running> {
    args.validate()?;
    // reqwest's rustls backend (peer TLS) needs one process-level crypto provider for every
    // client built without a preconfigured TLS config; only ring is compiled in.
    openfero_raft::tls::install_default_provider();
    let insecure_cluster = args.insecure_cluster_reason().map(|missing| {
        let text = format!(
            "insecure cluster: this node runs without {missing}; anyone who reaches its ports can join the cluster or command it"
        );
        warn!(missing, "{text} (--insecure-cluster)");
        text
    });
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir `{}`", args.data_dir.display()))?;
    let auth = crate::auth::load(&args.auth_sources())?;
    let api_tls = args
        .api_tls()
        .map(openfero_raft::tls::ServerTls::load)
        .transpose()
        .context("cannot set up TLS on the API listener")?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on `{}`", args.listen))?;
    let addr = listener.local_addr()?;
    auth.warn_if_open(addr);
    let raft_listener = match args.raft_addr {
        Some(a) => Some(
            TcpListener::bind(a)
                .await
                .with_context(|| format!("cannot listen on `{a}` for raft"))?,
        ),
        None => None,
    };
    let raft_addr = match &raft_listener {
        Some(l) => l.local_addr()?,
        None => addr,
    };
    let api_advertise = args.advertise.clone().unwrap_or_else(|| addr.to_string());
    let raft_advertise = args
        .raft_advertise
        .clone()
        .unwrap_or_else(|| raft_addr.to_string());
    let node_name = args.node_name();

    let raft = RaftNode::start(&args.data_dir, args.raft_config(), RemediationMachine)
        .await
        .context("cannot start raft")?;
    let replica = Replica::new(raft.clone());
    info!(
        node_id = %node_hex(raft.id()),
        node_name = %node_name,
        %addr,
        %raft_addr,
        data_dir = %args.data_dir.display(),
        auth = %auth.summary(),
        "openfero starting"
    );

    let metrics = Metrics::new();
    let gossip_interval = Duration::from_millis(args.gossip_interval_ms);
    let mut gossip_keys: Option<(SharedKeyring, std::path::PathBuf)> = None;
    let gossip = match args.gossip_addr {
        None => None,
        Some(listen_addr) => {
            let config = GossipConfig {
                node_id: raft.id(),
                generation: None,
                cluster_id: args.cluster_id.clone(),
                listen_addr,
                advertise_addr: args.gossip_advertise.unwrap_or(listen_addr),
                seeds: args.seeds.clone(),
                gossip_interval,
                dead_grace: GOSSIP_DEAD_GRACE,
                meta: NodeMeta {
                    raft_id: raft.id(),
                    raft_addr: raft_advertise.clone(),
                    api_addr: api_advertise.clone(),
                    node_name: node_name.clone(),
                    ordinal: ordinal_of(&node_name),
                    cluster_uuid: raft.cluster_uuid(),
                    bootstrap_expect: args.bootstrap_expect,
                    ready: false,
                    leaving: false,
                    last_log_index: None,
                    applied_index: None,
                },
            };
            let transport = match &args.gossip_key_file {
                Some(path) => {
                    let keyring = SharedKeyring::from_file(path).with_context(|| {
                        format!("cannot read the gossip key file `{}`", path.display())
                    })?;
                    info!(
                        keys = keyring.current().keys().count(),
                        primary = %keyring.current().primary().id(),
                        "gossip sealed"
                    );
                    gossip_keys = Some((keyring.clone(), path.clone()));
                    Transport::Sealed(SealConfig::new(
                        keyring,
                        metrics.gossip_rejected_packets.clone(),
                    ))
                }
                None => Transport::Udp,
            };
            Some(
                Gossip::start(config, transport)
                    .await
                    .context("cannot start gossip")?,
            )
        }
    };
    let cluster = Cluster::new(
        replica.clone(),
        gossip.clone(),
        ClusterConfig {
            node_name,
            api_advertise: api_advertise.clone(),
            raft_advertise,
            bootstrap_expect: args.bootstrap_expect,
            max_voters: args.max_voters,
            dead_after: Duration::from_secs(args.dead_after_secs),
            promote_after: Duration::from_secs(args.promote_after_secs),
            tick: gossip_interval.max(Duration::from_millis(100)),
        },
    );

    let kube = if args.kubernetes_mode() {
        let client = kubernetes::client(args.kubeconfig.as_deref()).await?;
        let namespaces = Namespaces::parse(&args.watch_namespaces, &args.pod_namespace);
        info!(
            ?namespaces,
            "kubernetes mode: operarios from Operarius objects, remediations as Jobs"
        );
        Some((client, namespaces))
    } else {
        None
    };
    let catalog = match &kube {
        Some(_) => Catalog::external(&args.pod_namespace),
        None => Catalog::load(vec![args.operarios.clone()], &args.namespace),
    }
    .counting(metrics.operarius_sync_errors.clone())
    .with_cluster_guards(args.cluster_guards()?);
    let shutdown = CancellationToken::new();
    let work = shutdown.child_token();
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(bootstrap(cluster.clone(), work.child_token())));
    tasks.push(tokio::spawn(
        Autopilot::new(cluster.clone()).run(work.child_token()),
    ));
    tasks.push(tokio::spawn(watch_membership(
        cluster.clone(),
        work.child_token(),
    )));
    let backend = match &kube {
        None => Backend::Local,
        Some((client, namespaces)) => {
            let reporter = Reporter::new(client.clone(), cluster.config().node_name.clone());
            tasks.push(tokio::spawn(watch_operarios(
                client.clone(),
                namespaces.clone(),
                catalog.clone(),
                replica.clone(),
                reporter.clone(),
                work.child_token(),
            )));
            Backend::Kubernetes(Arc::new(KubeBackend {
                client: client.clone(),
                jobs: JobTracker::start(client, namespaces, work.child_token()),
                reporter,
            }))
        }
    };
    let (jobs, follow_up_reporter) = match &backend {
        Backend::Kubernetes(k) => (Some(k.jobs.clone()), Some(k.reporter.clone())),
        Backend::Local => (None, None),
    };
    let executor = Executor::new(
        replica.clone(),
        args.executor_config(),
        api_advertise,
        backend,
        metrics.clone(),
    );
    tasks.push(tokio::spawn(executor.run(work.child_token())));
    let alertmanagers = if args.alertmanager_url.is_empty() {
        None
    } else {
        Some(crate::executor::Alertmanagers::new(
            args.alertmanager_url.clone(),
            args.alertmanager_token_file.as_deref(),
            args.alertmanager_basic_auth_file.as_deref(),
        )?)
    };
    let followups = crate::executor::FollowUps {
        replica: replica.clone(),
        alertmanagers,
        metrics: metrics.clone(),
        reporter: follow_up_reporter,
        default_timeout_secs: args.default_timeout_secs,
        node: args.node_name(),
        notify_http: crate::executor::FollowUps::notify_client()
            .context("the HTTP client for notifications")?,
    };
    tasks.push(tokio::spawn(followups.run(work.child_token())));
    tasks.push(tokio::spawn(catalog_task(
        catalog.clone(),
        replica.clone(),
        Duration::from_secs(args.reload_secs),
        work.child_token(),
    )));
    if let Some(tls) = raft.peer_tls().cloned() {
        info!(
            identity = ?tls.identity(),
            "peer TLS: calls between nodes need a certificate signed by the cluster CA"
        );
        let stop = work.child_token();
        tasks.push(tokio::spawn(async move {
            tls.watch(KEY_RELOAD, stop.cancelled_owned()).await
        }));
    }
    if let Some(tls) = api_tls.clone() {
        let stop = work.child_token();
        tasks.push(tokio::spawn(async move {
            tls.watch(KEY_RELOAD, stop.cancelled_owned()).await
        }));
    }
    if let Some((keyring, path)) = gossip_keys {
        tasks.push(tokio::spawn(gossip_keys_task(
            keyring,
            path,
            KEY_RELOAD,
            work.child_token(),
        )));
    }
    tasks.push(tokio::spawn(retention_task(
        replica.clone(),
        args.retention_alerts,
        Duration::from_secs(args.retention_secs),
        work.child_token(),
    )));

    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(10))
        .build()
        .context("http client")?;
    let state = AppState {
        replica: replica.clone(),
        cluster: cluster.clone(),
        catalog,
        body_limit: args.body_limit,
        auth,
        http,
        metrics,
        jobs,
        insecure_cluster,
        api_tls: api_tls.clone(),
    };
    let mut servers = Vec::new();
    let app =
        match (raft_listener, raft.peer_tls().cloned()) {
            (Some(rl), Some(tls)) => {
                // The peer listener: Raft RPCs and forwarded writes, plus the API for the admin
                // calls and consistent reads other nodes forward here — reachable only with a
                // certificate signed by the cluster CA.
                let peer_app = raft.router().merge(router(state.clone()));
                let stop = shutdown.clone();
                servers.push(tokio::spawn(async move {
                    openfero_raft::tls::serve_tls(rl, peer_app, tls, async move {
                        stop.cancelled().await
                    })
                    .await
                }));
                router(state)
            }
            (Some(rl), None) => {
                let raft_app = raft.router();
                let stop = shutdown.clone();
                servers.push(tokio::spawn(async move {
                    axum::serve(rl, raft_app)
                        .with_graceful_shutdown(async move { stop.cancelled().await })
                        .await
                }));
                router(state)
            }
            // A cluster node without a Raft listener of its own (only with --insecure-cluster).
            (None, _) if gossip.is_some() => router(state).merge(raft.router()),
            // The embedded default: a single voter has no peers, so it serves no Raft routes at
            // all — nothing on any host can append to, vote in or propose to its log.
            (None, _) => router(state),
        };
    let stop = shutdown.clone();
    servers.push(tokio::spawn(async move {
        match api_tls {
            // https only: a plain request fails its handshake and is counted.
            Some(tls) => {
                openfero_raft::tls::serve_tls(
                    listener,
                    app,
                    tls,
                    async move { stop.cancelled().await },
                )
                .await
            }
            None => {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
            }
        }
    }));
    if let Some(g) = &gossip {
        g.set_ready(true).await;
    }
    info!(%addr, scheme = if args.api_tls().is_some() { "https" } else { "http" }, "listening");
    Ok(Running {
        addr,
        raft_addr,
        replica,
        cluster,
        shutdown,
        tasks,
        servers,
        gossip_interval,
    })
}

impl Running {
    /// Ordered shutdown: announce leaving in gossip, stop background work (the executor first
    /// of all), stop taking requests, stop Raft, flush the store, leave gossip.
    pub async fn stop(self) -> anyhow::Result<()> {
        if let Some(g) = self.cluster.gossip() {
            g.set_leaving(true).await;
            // Give peers a few rounds to see it.
            tokio::time::sleep(self.gossip_interval * 3).await;
        }
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        for s in self.servers {
            match s.await {
                Ok(Err(e)) => warn!(error = %e, "http server ended with an error"),
                Err(e) => warn!(error = %e, "http server task failed"),
                Ok(Ok(())) => {}
            }
        }
        self.replica.raft().shutdown().await?;
        if let Some(g) = self.cluster.gossip().cloned() {
            let _ = g.shutdown().await;
        }
        info!("stopped");
        Ok(())
    }
}

/// How long the stop after a Raft failure may take before the process exits anyway.
const STOP_AFTER_RAFT_FAILURE: Duration = Duration::from_secs(5);

/// Raft stopped on its own — its store failed (a full disk, a failed flush) — so this process
/// acknowledges nothing any more and must exit for its supervisor to restart it (`main` maps
/// this to exit code 75). Already logged by [`run`].
#[derive(Debug, thiserror::Error)]
#[error("raft stopped: {0}")]
pub struct RaftStopped(pub String);

/// Run until `signal` resolves, then shut down in order; or until Raft stops on its own
/// ([`RaftStopped`]): `/readyz` answers 503 with the reason from that moment, the node stops
/// (bounded) and the error comes back for `main` to exit.
pub async fn run(args: ServeArgs, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
    let running = start(args).await?;
    let raft = running.replica.raft().clone();
    tokio::select! {
        () = signal => {
            info!("shutdown requested");
            running.stop().await
        }
        why = raft.failed() => {
            tracing::error!("raft stopped: {why}; exiting so that its supervisor restarts this node");
            if tokio::time::timeout(STOP_AFTER_RAFT_FAILURE, running.stop()).await.is_err() {
                warn!("the stop after the raft failure took over {STOP_AFTER_RAFT_FAILURE:?}; exiting now");
            }
            Err(RaftStopped(why).into())
        }
    }
}

async fn catalog_task(
    catalog: Catalog,
    replica: Replica,
    every: Duration,
    stop: CancellationToken,
) {
    // One interval for the whole life of the task: a sleep re-armed on every wake-up would be
    // postponed forever by wake-ups that come more often than `every` (they did: every Raft
    // metrics change), and the files would never be re-read.
    let mut reload = tokio::time::interval(every.max(Duration::from_millis(100)));
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    reload.tick().await;
    let mut leadership = replica.leadership_changes();
    loop {
        if let Err(e) = catalog.ensure_replicated(&replica).await {
            warn!(error = %e, "operarius catalog not replicated yet");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = reload.tick() => { catalog.reload(); }
            // A new leader syncs its catalog at once.
            r = leadership.changed() => if r.is_err() { return },
        }
    }
}

/// Re-read the gossip keyring when its file changes; a broken file keeps the keys in use.
async fn gossip_keys_task(
    keyring: SharedKeyring,
    path: std::path::PathBuf,
    every: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match keyring.reload_from_file(&path) {
            Ok(true) => info!(
                keys = keyring.current().keys().count(),
                primary = %keyring.current().primary().id(),
                "gossip keyring reloaded"
            ),
            Ok(false) => {}
            Err(e) => {
                warn!(error = %e, path = %path.display(), "gossip keyring not reloaded; keeping the keys in use")
            }
        }
    }
}

async fn retention_task(replica: Replica, keep: u64, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if replica.leader_id().is_none() {
            continue;
        }
        // Step by step until within `keep`: one step per tick would fall behind a sender
        // faster than PRUNE_BATCH per interval.
        while replica.history().live_alerts().unwrap_or(0) > keep && !stop.is_cancelled() {
            let cmd = CommandV1::Prune {
                keep_alerts: keep,
                max_remove: PRUNE_BATCH,
                now_ms: now_ms(),
            };
            match replica.propose_local(cmd).await {
                Ok(crate::remediation::Response::Pruned { alerts: 0, .. }) => break,
                Ok(r) => tracing::debug!(answer = ?r, "retention applied"),
                Err(e) => {
                    warn!(error = %e, "retention not applied");
                    break;
                }
            }
        }
    }
}
