//! Wiring: opens the store, starts Raft, the HTTP server and the background tasks, and owns
//! the ordered shutdown. The only place that spawns long-lived tasks.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use openfero_raft::{NodeInfo, RaftNode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::catalog::Catalog;
use crate::config::ServeArgs;
use crate::executor::Executor;
use crate::http::{router, AppState};
use crate::remediation::{CommandV1, RemediationMachine};
use crate::replica::Replica;
use crate::time::now_ms;

/// Most alerts removed by one prune command (keeps each apply short).
const PRUNE_BATCH: u64 = 1000;

/// A running node, for tests and `main`.
pub struct Running {
    pub addr: SocketAddr,
    pub replica: Replica,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Start a node on the embedded default (single voter, local executor).
pub async fn start(args: ServeArgs) -> anyhow::Result<Running> {
    args.validate()?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir `{}`", args.data_dir.display()))?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on `{}`", args.listen))?;
    let addr = listener.local_addr()?;
    let advertise = args.advertise.clone().unwrap_or_else(|| addr.to_string());

    let raft = RaftNode::start(&args.data_dir, args.raft_config(), RemediationMachine)
        .await
        .context("cannot start raft")?;
    let replica = Replica::new(raft.clone());
    info!(node_id = %format!("{:016x}", raft.id()), %addr, data_dir = %args.data_dir.display(), "openfero starting");
    if !raft.is_initialized().await? {
        let mut members = BTreeMap::new();
        members.insert(
            raft.id(),
            NodeInfo {
                raft_addr: advertise.clone(),
                api_addr: advertise.clone(),
            },
        );
        raft.initialize(members)
            .await
            .context("cannot initialise raft")?;
        info!("initialised a new single-node cluster");
    }

    let catalog = Catalog::load(vec![args.operarios.clone()], &args.namespace);
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();

    let executor = Executor::new(replica.clone(), args.executor_config(), advertise.clone());
    tasks.push(tokio::spawn(executor.run(shutdown.child_token())));
    tasks.push(tokio::spawn(catalog_task(
        catalog.clone(),
        replica.clone(),
        Duration::from_secs(args.reload_secs),
        shutdown.child_token(),
    )));
    tasks.push(tokio::spawn(retention_task(
        replica.clone(),
        args.retention_alerts,
        Duration::from_secs(args.retention_secs),
        shutdown.child_token(),
    )));

    let app = router(AppState {
        replica: replica.clone(),
        catalog,
        body_limit: args.body_limit,
    });
    let server_stop = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { server_stop.cancelled().await })
            .await
    });
    info!(%addr, "listening");
    Ok(Running {
        addr,
        replica,
        shutdown,
        tasks,
        server,
    })
}

impl Running {
    /// Ordered shutdown: stop taking requests, stop background work, stop Raft, flush the store.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match self.server.await {
            Ok(Err(e)) => warn!(error = %e, "http server ended with an error"),
            Err(e) => warn!(error = %e, "http server task failed"),
            Ok(Ok(())) => {}
        }
        for t in self.tasks {
            let _ = t.await;
        }
        self.replica.raft().shutdown().await?;
        info!("stopped");
        Ok(())
    }
}

/// Run until `signal` resolves, then shut down in order.
pub async fn run(args: ServeArgs, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
    let running = start(args).await?;
    signal.await;
    info!("shutdown requested");
    running.stop().await
}

async fn catalog_task(
    catalog: Catalog,
    replica: Replica,
    every: Duration,
    stop: CancellationToken,
) {
    let mut metrics = replica.raft().metrics();
    loop {
        if let Err(e) = catalog.ensure_replicated(&replica).await {
            warn!(error = %e, "operarius catalog not replicated yet");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => { catalog.reload(); }
            // A new leader syncs its catalog at once.
            _ = metrics.changed() => {}
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
        let live = replica.history().live_alerts().unwrap_or(0);
        if live <= keep {
            continue;
        }
        let cmd = CommandV1::Prune {
            keep_alerts: keep,
            max_remove: PRUNE_BATCH,
            now_ms: now_ms(),
        };
        match replica.propose_local(cmd).await {
            Ok(r) => info!(answer = ?r, "retention applied"),
            Err(e) => warn!(error = %e, "retention not applied"),
        }
    }
}
