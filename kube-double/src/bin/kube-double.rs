//! `kube-double`: serve the Kubernetes API test double on a loopback address.
#![forbid(unsafe_code)]

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::Parser;
use openfero_kube_double::{Config, KubeDouble};

/// A stateful Kubernetes API server test double (plain HTTP, loopback only).
#[derive(Debug, Parser)]
#[command(name = "kube-double", version)]
struct Args {
    /// Address to listen on; must be loopback. Port 0 picks a free port.
    #[arg(long, env = "KUBE_DOUBLE_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Write a kubeconfig pointing at the double to this file.
    #[arg(long, env = "KUBE_DOUBLE_KUBECONFIG_OUT")]
    kubeconfig_out: Option<PathBuf>,
    /// CustomResourceDefinition YAML files to register at startup (and again on reset).
    #[arg(long = "crd")]
    crds: Vec<PathBuf>,
    /// Interval between watch BOOKMARK events, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    bookmark_interval_ms: u64,
    /// Changes kept for watch replay; older resourceVersions get 410 Expired.
    #[arg(long, default_value_t = 4096)]
    history_limit: usize,
    /// Seed for uids, generated names and probabilistic faults.
    #[arg(long, default_value_t = 0x0fe0_000d_0b1e)]
    seed: u64,
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config = Config {
        listen: args.listen,
        bookmark_interval: Duration::from_millis(args.bookmark_interval_ms),
        history_limit: args.history_limit,
        seed: args.seed,
        ..Config::default()
    };
    let double = KubeDouble::start_with(config).await?;
    for path in &args.crds {
        let yaml = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read crd file `{}`", path.display()))?;
        double
            .load_crd_yaml(&yaml)
            .with_context(|| format!("cannot register crd file `{}`", path.display()))?;
    }
    if let Some(path) = &args.kubeconfig_out {
        double.write_kubeconfig(path)?;
    }
    println!("{}", double.url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    double.shutdown().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kube-double: {e:#}");
            ExitCode::FAILURE
        }
    }
}
