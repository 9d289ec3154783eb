//! Kubernetes mode: operarios from `Operarius` objects, remediations as Jobs, outcomes from the
//! Jobs' status, Operarius status and Events written by the leader.

mod job;
mod jobs;
pub mod labels;
mod report;
mod source;

use std::path::Path;

use anyhow::Context;
use kube::Client;

pub use job::{build_job, chaos_cold_watch, ensure_job, JobError};
pub use jobs::{outcome, pod_log_tail, JobOutcome, JobTracker};
pub use report::Reporter;
pub use source::watch_operarios;

/// Which namespaces openfero watches for Operarius objects and Jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces {
    All,
    List(Vec<String>),
}

impl Namespaces {
    /// From the flag: empty → `own`; `*` → all; otherwise the comma-separated list.
    pub fn parse(list: &[String], own: &str) -> Self {
        let items: Vec<String> = list
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if items.iter().any(|s| s == "*") {
            Namespaces::All
        } else if items.is_empty() {
            Namespaces::List(vec![own.to_string()])
        } else {
            Namespaces::List(items)
        }
    }

    /// One watch scope per namespace (`""` = all namespaces).
    pub fn scopes(&self) -> Vec<String> {
        match self {
            Namespaces::All => vec![String::new()],
            Namespaces::List(v) => v.clone(),
        }
    }
}

/// A client from `--kubeconfig`, or the in-cluster configuration.
pub async fn client(kubeconfig: Option<&Path>) -> anyhow::Result<Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig `{}`", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .context("invalid kubeconfig")?
        }
        None => kube::Config::incluster().context("no in-cluster kubernetes configuration")?,
    };
    Client::try_from(config).context("cannot build the kubernetes client")
}

/// Drive a watch stream until `stop`: wake `notify` on every event, log errors (the stream's
/// backoff retries them).
pub(crate) fn drive<S, T, E>(
    stream: S,
    notify: std::sync::Arc<tokio::sync::Notify>,
    stop: tokio_util::sync::CancellationToken,
    what: &'static str,
    on_error: impl Fn() + Send + 'static,
) where
    S: futures::Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    use futures::StreamExt;
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                item = stream.next() => match item {
                    Some(Ok(_)) => notify.notify_waiters(),
                    Some(Err(e)) => {
                        on_error();
                        tracing::warn!(error = %e, what, "watch error (retrying)");
                    }
                    None => return,
                },
            }
        }
    });
}

/// Whether this process runs inside a Kubernetes pod.
pub fn in_cluster() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_flags() {
        assert_eq!(
            Namespaces::parse(&[], "ops"),
            Namespaces::List(vec!["ops".into()])
        );
        assert_eq!(Namespaces::parse(&["*".into()], "ops"), Namespaces::All);
        assert_eq!(
            Namespaces::parse(&["a".into(), " b ".into()], "ops"),
            Namespaces::List(vec!["a".into(), "b".into()])
        );
        assert_eq!(Namespaces::All.scopes(), vec![String::new()]);
    }
}
