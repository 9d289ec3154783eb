//! The operarius catalog of this node (embedded mode: YAML files) and its replication.
//!
//! Matching happens in apply, against the *replicated* catalog, so that every replica decides
//! the same. The leader proposes `SyncOperarios` whenever its files differ from what is
//! replicated — before ingesting a webhook and on every reload.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use tracing::{info, warn};

use crate::operarios::{
    catalog_fingerprint, load_paths, BrokenOperarius, ClusterGuards, FollowUpDef, GuardsDef,
    OperariusDef, PolicyDef, Problem,
};
use crate::remediation::{CommandV1, StoredGuards};
use crate::replica::{ProposeError, Replica};

struct Loaded {
    defs: Vec<OperariusDef>,
    broken: Vec<BrokenOperarius>,
    fingerprint: String,
    problems: Vec<Problem>,
    skipped: usize,
    /// Guard rails and follow-ups of the operarios that set any (the rest use the defaults).
    rails: Rails,
}

/// What operarios set beside their catalog entries, by `namespace/name` (absent: defaults),
/// replicated by their own commands (`SyncRails`, `SyncFollowUps`) so that the catalog's shape
/// stays readable by earlier releases.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rails {
    pub guards: BTreeMap<String, GuardsDef>,
    pub followups: BTreeMap<String, FollowUpDef>,
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
    /// Cluster-wide budgets from this node's flags; the leader's are replicated.
    cluster: Arc<ClusterGuards>,
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
                rails: Rails::default(),
            })),
            sync_lock: Arc::new(tokio::sync::Mutex::new(())),
            sync_errors: Counter::default(),
            cluster: Arc::new(ClusterGuards::default()),
        }
    }

    /// Replicate these cluster-wide guard rails when this node leads (`--budget-global`,
    /// `--budget-per-namespace`, `--mode`, `--policy-file`); the policy's problems are reported
    /// with the operarios'.
    pub fn with_cluster_guards(mut self, cluster: ClusterGuards) -> Self {
        self.cluster = Arc::new(cluster);
        self.reload();
        self
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
        rails: Rails,
        problems: Vec<Problem>,
    ) -> bool {
        defs.sort_by_key(|d| d.key());
        broken.sort_by_key(|b| b.key());
        let mut problems = problems;
        if let Some(policy) = &self.cluster.policy {
            problems.extend(policy_problems(&defs, policy));
        }
        let fingerprint = catalog_fingerprint(&defs, &broken);
        let mut loaded = self.loaded.lock().expect("catalog lock poisoned");
        let changed = loaded.fingerprint != fingerprint || loaded.rails != rails;
        *loaded = Loaded {
            defs,
            broken,
            fingerprint,
            problems,
            skipped: 0,
            rails,
        };
        changed
    }

    /// Re-read the files; true when the catalog changed. A no-op for an external catalog.
    pub fn reload(&self) -> bool {
        if self.paths.is_empty() {
            return false;
        }
        let missing: Vec<&PathBuf> = self.paths.iter().filter(|p| !p.exists()).collect();
        let mut report = load_paths(&self.paths, &self.namespace);
        if let Some(policy) = &self.cluster.policy {
            report.check_policy(policy);
        }
        let fingerprint = report.fingerprint();
        let mut loaded = self.loaded.lock().expect("catalog lock poisoned");
        if loaded.fingerprint == fingerprint
            && loaded.problems == report.problems
            && loaded.skipped == report.skipped.len()
            && loaded.rails.guards == report.guards
            && loaded.rails.followups == report.followups
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
        let rails = Rails {
            guards: report.guards,
            followups: report.followups,
        };
        let changed = loaded.fingerprint != fingerprint || loaded.rails != rails;
        *loaded = Loaded {
            defs: report.operarios,
            broken: report.broken,
            fingerprint,
            problems: report.problems,
            skipped: report.skipped.len(),
            rails,
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
        let result = match self.sync_operarios(replica).await {
            Ok(()) => match self.sync_guards(replica).await {
                Ok(()) => self.sync_followups(replica).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.sync_errors.inc();
        }
        result
    }

    async fn sync_operarios(&self, replica: &Replica) -> Result<(), ProposeError> {
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
        replica.propose_local(command).await.map(|_| ())
    }

    /// Replicate the guard rails when they differ from the replicated ones. Nothing is
    /// proposed while every operarius keeps the defaults and no cluster budget is set, so a
    /// cluster that uses none stays readable by the previous release.
    async fn sync_guards(&self, replica: &Replica) -> Result<(), ProposeError> {
        let guards = self
            .loaded
            .lock()
            .expect("catalog lock poisoned")
            .rails
            .guards
            .clone();
        let cluster = (*self.cluster).clone();
        let replicated = replica
            .history()
            .guards()
            .map_err(|e| ProposeError::Internal(e.to_string()))?;
        let same = match &replicated {
            Some(stored) => stored.operarios == guards && stored.cluster == cluster,
            None => guards.is_empty() && cluster == ClusterGuards::default(),
        };
        if same {
            return Ok(());
        }
        info!(operarios = guards.len(), "replicating guard rails");
        let wanted = StoredGuards {
            operarios: guards,
            cluster,
        };
        // Without controls, in the first release's shape: nodes of that release keep applying.
        let command = match wanted.as_v1() {
            Some(v1) => CommandV1::SyncGuards {
                guards: v1.operarios,
                cluster: v1.cluster,
            },
            None => CommandV1::SyncRails {
                guards: wanted.operarios,
                cluster: wanted.cluster,
            },
        };
        replica.propose_local(command).await.map(|_| ())
    }

    /// Replicate the follow-ups (silence, verify, notify) when they differ from the replicated
    /// ones; nothing is proposed while no operarius sets any, so a cluster that uses none stays
    /// readable by the previous release.
    async fn sync_followups(&self, replica: &Replica) -> Result<(), ProposeError> {
        let followups = self
            .loaded
            .lock()
            .expect("catalog lock poisoned")
            .rails
            .followups
            .clone();
        let replicated = replica
            .history()
            .followup_defs()
            .map_err(|e| ProposeError::Internal(e.to_string()))?;
        if replicated.as_ref().unwrap_or(&BTreeMap::new()) == &followups {
            return Ok(());
        }
        info!(operarios = followups.len(), "replicating follow-ups");
        replica
            .propose_local(CommandV1::SyncFollowUps { defs: followups })
            .await
            .map(|_| ())
    }
}

/// Every rule of `policy` that an operarius of an external catalog (Kubernetes) breaks, as a
/// problem of that operarius (the file loader reports them per document instead).
fn policy_problems(defs: &[OperariusDef], policy: &PolicyDef) -> Vec<Problem> {
    defs.iter()
        .flat_map(|def| {
            policy
                .operarius_problems(def)
                .into_iter()
                .map(|message| Problem {
                    file: format!("operarius {}", def.key()).into(),
                    document: 0,
                    name: Some(def.name.clone()),
                    message,
                })
        })
        .collect()
}

/// Problems that are failures to read a path, not invalid content.
fn unreadable(problems: &[Problem]) -> u64 {
    problems
        .iter()
        .filter(|p| p.message.starts_with("cannot read"))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operarios::{load_text, PolicySpec};

    #[test]
    fn an_external_catalog_reports_what_breaks_the_policy_and_keeps_the_operarius() {
        let yaml = "apiVersion: openfero.io/v1alpha1\nkind: Operarius\nmetadata: {name: root, namespace: ops}\nspec:\n  alertSelector: {alertname: A, status: firing}\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          hostNetwork: true\n          containers: [{name: c, image: busybox}]\n";
        let report = load_text(std::path::Path::new("x.yaml"), yaml, "ops");
        let spec: PolicySpec = serde_yaml::from_str("allowedImages: [busybox]\n").unwrap();
        let catalog = Catalog::external("ops").with_cluster_guards(ClusterGuards {
            policy: Some(spec.to_def().unwrap()),
            ..ClusterGuards::default()
        });
        assert!(catalog.replace(report.operarios, Vec::new(), Rails::default(), Vec::new()));
        let problems = catalog.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].file, PathBuf::from("operarius ops/root"));
        assert!(
            problems[0].message.contains("forbidHostNetwork"),
            "{problems:?}"
        );
        assert_eq!(
            catalog.defs().len(),
            1,
            "apply refuses its remediations instead"
        );
    }
}
