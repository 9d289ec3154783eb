//! The operarius catalog of this node (embedded mode: YAML files) and its replication.
//!
//! Matching happens in apply, against the *replicated* catalog, so that every replica decides
//! the same. The leader proposes `SyncOperarios` whenever its files differ from what is
//! replicated — before ingesting a webhook and on every reload.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tracing::{info, warn};

use crate::operarios::{load_paths, LoadReport, OperariusDef, Problem};
use crate::remediation::CommandV1;
use crate::replica::{ProposeError, Replica};

struct Loaded {
    defs: Vec<OperariusDef>,
    fingerprint: String,
    problems: Vec<Problem>,
}

/// Cheap-to-clone handle over the locally loaded catalog.
#[derive(Clone)]
pub struct Catalog {
    paths: Arc<Vec<PathBuf>>,
    namespace: Arc<str>,
    loaded: Arc<Mutex<Loaded>>,
    sync_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Catalog {
    /// Load from `paths` now. Problems are logged and kept; valid operarios load regardless.
    pub fn load(paths: Vec<PathBuf>, namespace: &str) -> Self {
        let catalog = Self {
            paths: Arc::new(paths),
            ..Self::external(namespace)
        };
        catalog.reload();
        catalog
    }

    /// A catalog fed by someone else (the Kubernetes watcher) through [`Catalog::replace`].
    pub fn external(namespace: &str) -> Self {
        Self {
            paths: Arc::new(Vec::new()),
            namespace: namespace.into(),
            loaded: Arc::new(Mutex::new(Loaded {
                defs: Vec::new(),
                fingerprint: String::new(),
                problems: Vec::new(),
            })),
            sync_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Replace the catalog (sorted by key); true when it changed.
    pub fn replace(&self, mut defs: Vec<OperariusDef>, problems: Vec<Problem>) -> bool {
        defs.sort_by_key(|d| d.key());
        let fingerprint = LoadReport {
            operarios: defs.clone(),
            problems: Vec::new(),
        }
        .fingerprint();
        let mut loaded = self.loaded.lock().expect("catalog lock poisoned");
        let changed = loaded.fingerprint != fingerprint;
        *loaded = Loaded {
            defs,
            fingerprint,
            problems,
        };
        changed
    }

    /// Re-read the files; true when the catalog changed. A no-op for an external catalog.
    pub fn reload(&self) -> bool {
        if self.paths.is_empty() {
            return false;
        }
        let missing: Vec<&PathBuf> = self.paths.iter().filter(|p| !p.exists()).collect();
        let report: LoadReport = load_paths(&self.paths, &self.namespace);
        let fingerprint = report.fingerprint();
        let mut loaded = self.loaded.lock().expect("catalog lock poisoned");
        if loaded.fingerprint == fingerprint && loaded.problems.len() == report.problems.len() {
            return false;
        }
        for p in &missing {
            warn!(path = %p.display(), "operarios path does not exist");
        }
        for p in &report.problems {
            warn!(problem = %p, "invalid operarius");
        }
        info!(
            operarios = report.operarios.len(),
            problems = report.problems.len(),
            %fingerprint,
            "operarios loaded"
        );
        let changed = loaded.fingerprint != fingerprint;
        *loaded = Loaded {
            defs: report.operarios,
            fingerprint,
            problems: report.problems,
        };
        changed
    }

    pub fn problems(&self) -> Vec<Problem> {
        self.loaded
            .lock()
            .expect("catalog lock poisoned")
            .problems
            .clone()
    }

    pub fn defs(&self) -> Vec<OperariusDef> {
        self.loaded
            .lock()
            .expect("catalog lock poisoned")
            .defs
            .clone()
    }

    /// On the leader, make the replicated catalog equal the local one. A no-op elsewhere or when
    /// they already agree.
    pub async fn ensure_replicated(&self, replica: &Replica) -> Result<(), ProposeError> {
        if replica.leader_id().is_none() {
            return Ok(());
        }
        let _guard = self.sync_lock.lock().await;
        let (defs, fingerprint) = {
            let l = self.loaded.lock().expect("catalog lock poisoned");
            (l.defs.clone(), l.fingerprint.clone())
        };
        let replicated = replica
            .history()
            .catalog_fingerprint()
            .map_err(|e| ProposeError::Internal(e.to_string()))?;
        if replicated.as_deref() == Some(fingerprint.as_str()) {
            return Ok(());
        }
        info!(operarios = defs.len(), %fingerprint, "replicating operarius catalog");
        replica
            .propose_local(CommandV1::SyncOperarios {
                catalog: defs,
                fingerprint,
            })
            .await
            .map(|_| ())
    }
}
