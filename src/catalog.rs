//! The operarius catalog of this node (embedded mode: YAML files) and its replication.
//!
//! Matching happens in apply, against the *replicated* catalog, so that every replica decides
//! the same. The leader proposes `SyncOperarios` whenever its files differ from what is
//! replicated — before ingesting a webhook and on every reload.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use tracing::{info, warn};

use crate::operarios::{catalog_fingerprint, load_paths, BrokenOperarius, OperariusDef, Problem};
use crate::remediation::CommandV1;
use crate::replica::{ProposeError, Replica};

struct Loaded {
    defs: Vec<OperariusDef>,
    broken: Vec<BrokenOperarius>,
    fingerprint: String,
    problems: Vec<Problem>,
    skipped: usize,
}

/// Cheap-to-clone handle over the locally loaded catalog.
#[derive(Clone)]
pub struct Catalog {
    paths: Arc<Vec<PathBuf>>,
    namespace: Arc<str>,
    loaded: Arc<Mutex<Loaded>>,
    sync_lock: Arc<tokio::sync::Mutex<()>>,
    /// `openfero_operarius_sync_errors_total` (a detached counter until [`Catalog::counting`]).
    sync_errors: Counter,
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
                broken: Vec::new(),
                fingerprint: String::new(),
                problems: Vec::new(),
                skipped: 0,
            })),
            sync_lock: Arc::new(tokio::sync::Mutex::new(())),
            sync_errors: Counter::default(),
        }
    }

    /// Count read and replication failures in `sync_errors`.
    pub fn counting(mut self, sync_errors: Counter) -> Self {
        let unreadable = unreadable(&self.problems());
        sync_errors.inc_by(unreadable);
        self.sync_errors = sync_errors;
        self
    }

    /// Count one failure to read operarios from their source (a watch error).
    pub fn sync_failed(&self) {
        self.sync_errors.inc();
    }

    /// Replace the catalog (sorted by key); true when it changed.
    pub fn replace(
        &self,
        mut defs: Vec<OperariusDef>,
        mut broken: Vec<BrokenOperarius>,
        problems: Vec<Problem>,
    ) -> bool {
        defs.sort_by_key(|d| d.key());
        broken.sort_by_key(|b| b.key());
        let fingerprint = catalog_fingerprint(&defs, &broken);
        let mut loaded = self.loaded.lock().expect("catalog lock poisoned");
        let changed = loaded.fingerprint != fingerprint;
        *loaded = Loaded {
            defs,
            broken,
            fingerprint,
            problems,
            skipped: 0,
        };
        changed
    }

    /// Re-read the files; true when the catalog changed. A no-op for an external catalog.
    pub fn reload(&self) -> bool {
        if self.paths.is_empty() {
            return false;
        }
        let missing: Vec<&PathBuf> = self.paths.iter().filter(|p| !p.exists()).collect();
        let report = load_paths(&self.paths, &self.namespace);
        let fingerprint = report.fingerprint();
        let mut loaded = self.loaded.lock().expect("catalog lock poisoned");
        if loaded.fingerprint == fingerprint
            && loaded.problems == report.problems
            && loaded.skipped == report.skipped.len()
        {
            return false;
        }
        for p in &missing {
            warn!(path = %p.display(), "operarios path does not exist");
        }
        self.sync_errors.inc_by(unreadable(&report.problems));
        for p in &report.problems {
            warn!(problem = %p, "invalid operarius");
        }
        for s in &report.skipped {
            info!(document = %s, "not an operarius: skipped");
        }
        info!(
            operarios = report.operarios.len(),
            invalid_claiming = report.broken.len(),
            problems = report.problems.len(),
            skipped = report.skipped.len(),
            %fingerprint,
            "operarios loaded"
        );
        let changed = loaded.fingerprint != fingerprint;
        *loaded = Loaded {
            defs: report.operarios,
            broken: report.broken,
            fingerprint,
            problems: report.problems,
            skipped: report.skipped.len(),
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
        let (defs, broken, fingerprint) = {
            let l = self.loaded.lock().expect("catalog lock poisoned");
            (l.defs.clone(), l.broken.clone(), l.fingerprint.clone())
        };
        let replicated = replica
            .history()
            .catalog_fingerprint()
            .map_err(|e| ProposeError::Internal(e.to_string()))?;
        if replicated.as_deref() == Some(fingerprint.as_str()) {
            return Ok(());
        }
        info!(
            operarios = defs.len(),
            invalid_claiming = broken.len(),
            %fingerprint,
            "replicating operarius catalog"
        );
        // A catalog without broken operarios is written as before they existed, so nodes of
        // the previous release keep applying it during a rolling upgrade.
        let command = if broken.is_empty() {
            CommandV1::SyncOperarios {
                catalog: defs,
                fingerprint,
            }
        } else {
            CommandV1::SyncCatalog {
                catalog: defs,
                broken,
                fingerprint,
            }
        };
        let result = replica.propose_local(command).await.map(|_| ());
        if result.is_err() {
            self.sync_errors.inc();
        }
        result
    }
}

/// Problems that are failures to read a path, not invalid content.
fn unreadable(problems: &[Problem]) -> u64 {
    problems
        .iter()
        .filter(|p| p.message.starts_with("cannot read"))
        .count() as u64
}
