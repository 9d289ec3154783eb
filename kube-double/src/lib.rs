//! A stateful Kubernetes API server test double that speaks the REST protocol over plain
//! HTTP, so that kube-rs (and kubectl-style clients) work against it through an ordinary
//! kubeconfig. See the crate README for what it supports.
#![forbid(unsafe_code)]

mod api;
mod config;
mod control;
mod discovery;
mod error;
mod faults;
mod jobs;
mod kubeconfig;
mod patch;
mod requests;
mod resource;
mod selector;
mod shared;
mod status;
mod store;
mod verbs;
mod watch;

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
};

use axum::{middleware, Router};
use serde_json::Value;
use tokio::task::JoinHandle;

pub use config::Config;
pub use error::{Error, Result};
pub use faults::{Fault, FaultAction};
pub use jobs::{
    CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL_NEW, JOB_NAME_LABEL, JOB_NAME_LABEL_NEW,
};
pub use requests::RecordedRequest;

use shared::{lock, Shared};

/// A running double. Cheap to clone; every clone controls the same server.
#[derive(Clone)]
pub struct KubeDouble {
    shared: Shared,
    addr: SocketAddr,
    server: Arc<Mutex<Option<JoinHandle<std::io::Result<()>>>>>,
}

fn router(shared: Shared) -> Router {
    control::router()
        .fallback(api::handle)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            api::intercept,
        ))
        .with_state(shared)
}

impl KubeDouble {
    /// Starts a double on `addr` (a loopback address; port 0 picks a free port).
    pub async fn start(addr: SocketAddr) -> Result<Self> {
        Self::start_with(Config {
            listen: addr,
            ..Config::default()
        })
        .await
    }

    /// Starts a double with explicit settings.
    pub async fn start_with(config: Config) -> Result<Self> {
        let listen = config.listen;
        if !listen.ip().is_loopback() {
            return Err(Error::NonLoopback(listen));
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| Error::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: listen,
            source,
        })?;
        let shared = Shared::new(config);
        let stop = shared.shutdown.clone();
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        tracing::info!(%addr, "kube double listening");
        Ok(Self {
            shared,
            addr,
            server: Arc::new(Mutex::new(Some(server))),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig pointing at this double (context `kube-double`, namespace `default`).
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig::render(&self.url())
    }

    pub fn write_kubeconfig(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.kubeconfig_yaml()).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Registers every CustomResourceDefinition in a (multi-document) YAML string, as a
    /// `POST` of each would; an existing CRD of the same name is replaced. Returns the names.
    pub fn register_crd_yaml(&self, yaml: &str) -> Result<Vec<String>> {
        Ok(self.shared.register_crd_yaml(yaml, false)?)
    }

    /// Like [`KubeDouble::register_crd_yaml`], and registers them again after [`KubeDouble::reset`].
    pub fn load_crd_yaml(&self, yaml: &str) -> Result<Vec<String>> {
        Ok(self.shared.register_crd_yaml(yaml, true)?)
    }

    /// Every API request served so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// How many recorded requests had this method and a path containing `path_contains`.
    pub fn count_requests(&self, method: &str, path_contains: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.contains(path_contains))
            .count()
    }

    pub fn clear_requests(&self) {
        self.shared.clear_requests()
    }

    /// Marks a Job Complete (conditions, `succeeded`, `completionTime`) and its pods Succeeded.
    pub fn complete_job(&self, ns: &str, name: &str) -> Result<Value> {
        Ok(self.shared.finish_job(ns, name, jobs::Outcome::Complete)?)
    }

    /// Marks a Job Failed with `reason` and its pods Failed.
    pub fn fail_job(&self, ns: &str, name: &str, reason: &str) -> Result<Value> {
        let outcome = jobs::Outcome::Failed {
            reason: reason.to_string(),
            message: format!("job failed: {reason}"),
        };
        Ok(self.shared.finish_job(ns, name, outcome)?)
    }

    /// Names of the pods the double created for a Job.
    pub fn job_pods(&self, ns: &str, job: &str) -> Vec<String> {
        self.shared.job_pods(ns, job)
    }

    /// Sets a pod's `status.phase` (`Pending`, `Running`, `Succeeded`, `Failed`).
    pub fn set_pod_phase(&self, ns: &str, pod: &str, phase: &str) -> Result<Value> {
        Ok(self.shared.set_pod_phase(ns, pod, phase)?)
    }

    /// Sets the text served at `GET .../pods/{pod}/log` (for any container).
    pub fn set_pod_log(&self, ns: &str, pod: &str, text: &str) {
        self.shared.set_pod_log(ns, pod, None, text)
    }

    /// Sets the log text of one container of a pod.
    pub fn set_container_log(&self, ns: &str, pod: &str, container: &str, text: &str) {
        self.shared.set_pod_log(ns, pod, Some(container), text)
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.inject(fault)
    }

    pub fn clear_faults(&self) {
        self.shared.clear_faults()
    }

    /// Closes every open watch stream now; clients reconnect from their last resourceVersion.
    pub fn drop_watches(&self) {
        self.shared.drop_watches()
    }

    /// Forgets the watch history and drops open watches, so reconnecting watchers get
    /// `410 Expired` and must re-list.
    pub fn expire_watches(&self) {
        self.shared.expire_watches()
    }

    /// Back to a fresh double (see the README); the resourceVersion keeps increasing.
    pub fn reset(&self) -> Result<()> {
        Ok(self.shared.reset()?)
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.store).current_rv()
    }

    /// A stored object: group (`""` for core), version, plural, namespace (`""` for
    /// cluster-scoped) and name.
    pub fn object(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        ns: &str,
        name: &str,
    ) -> Option<Value> {
        self.shared.object(group, version, plural, ns, name)
    }

    /// Stops serving: open watches end, then the server task is awaited.
    pub async fn shutdown(&self) -> Result<()> {
        self.shared.shutdown.cancel();
        let handle = lock(&self.server).take();
        if let Some(handle) = handle {
            match handle.await {
                Ok(result) => result.map_err(Error::Server)?,
                Err(join) => return Err(Error::Server(std::io::Error::other(join))),
            }
        }
        Ok(())
    }
}
