//! The candidate catalog: operarius YAML loaded as the embedded mode loads its files
//! (`operarios::load_paths`), with the cluster-wide guard rails of the replay's flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::ReplayError;
use crate::operarios::{
    load_paths, BrokenOperarius, ClusterGuards, GuardsDef, OperariusDef, Problem,
};

/// What the replay syncs into its state machine before the first alert.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub folder: PathBuf,
    pub defs: Vec<OperariusDef>,
    /// Invalid operarios: they claim their alerts and fail them, as on a node.
    pub broken: Vec<BrokenOperarius>,
    pub fingerprint: String,
    pub guards: BTreeMap<String, GuardsDef>,
    pub cluster: ClusterGuards,
    pub problems: Vec<Problem>,
}

impl Candidate {
    pub fn load(
        folder: &Path,
        namespace: &str,
        cluster: ClusterGuards,
    ) -> Result<Self, ReplayError> {
        if !folder.exists() {
            return Err(ReplayError::Usage(format!(
                "--catalog `{}` does not exist",
                folder.display()
            )));
        }
        let mut report = load_paths(&[folder.to_path_buf()], namespace);
        if let Some(policy) = &cluster.policy {
            report.check_policy(policy);
        }
        Ok(Self {
            folder: folder.to_path_buf(),
            fingerprint: report.fingerprint(),
            defs: report.operarios,
            broken: report.broken,
            guards: report.guards,
            cluster,
            problems: report.problems,
        })
    }

    /// Operarios, valid and invalid.
    pub fn len(&self) -> usize {
        self.defs.len() + self.broken.len()
    }
}
