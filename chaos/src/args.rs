//! Command line of the campaign.

use std::path::PathBuf;

use clap::Parser;

use crate::faults::FaultKind;

fn parse_fault(s: &str) -> Result<FaultKind, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_string())).map_err(|_| {
        let all: Vec<String> = FaultKind::available(true)
            .iter()
            .map(ToString::to_string)
            .collect();
        format!("unknown fault `{s}` (one of: {})", all.join(", "))
    })
}

/// Start a real openfero cluster on loopback, drive Alertmanager-style load at it, inject
/// faults on a seeded schedule and check the invariants. Exits 1 when one is broken.
#[derive(Debug, Clone, Parser)]
#[command(name = "openfero-chaos", version)]
pub struct Args {
    /// Nodes in the cluster (3 or 5).
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Fault cycles: fault under load, heal, convergence, checkpoint.
    #[arg(long, default_value_t = 6)]
    pub cycles: usize,
    /// These faults, in this order, instead of the seeded schedule (comma-separated kinds,
    /// e.g. `kill-leader,split`); `--cycles` is then their number.
    #[arg(long, value_delimiter = ',', value_parser = parse_fault)]
    pub faults: Option<Vec<FaultKind>>,
    /// Seed of the fault schedule and the load (printed; replay with the same seed).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the report, request logs and node logs go (created; must be empty or absent).
    #[arg(long, default_value = "chaos-report")]
    pub report_dir: PathBuf,
    /// The openfero binary (default: `openfero` next to this binary).
    #[arg(long, env = "OPENFERO_BIN")]
    pub openfero_bin: Option<PathBuf>,
    /// The previous release's `openfero` binary, for the rolling-upgrade fault (skipped
    /// without it). `.ci/chaos` builds it from `chaos/previous-release`.
    #[arg(long, env = "OPENFERO_PREVIOUS_BIN")]
    pub previous_bin: Option<PathBuf>,
    /// The Operarius CRD registered in the Kubernetes API double.
    #[arg(long)]
    pub crd: Option<PathBuf>,
    /// Webhook notifications sent per cycle (each may be delivered twice).
    #[arg(long, default_value_t = 12)]
    pub webhooks_per_cycle: usize,
    /// Run the full checker every this many cycles (and always after the last one).
    #[arg(long, default_value_t = 1)]
    pub checkpoint_every: usize,
    /// Seconds a heal may take to reach a stable leader and converged state.
    #[arg(long, default_value_t = 60)]
    pub converge_timeout_secs: u64,
    /// Run every node on a 127.x loopback address even as root: no network namespaces, so no
    /// network faults (isolation, splits, packet loss). Without root this is what happens anyway.
    #[arg(long)]
    pub loopback: bool,
    /// Run no campaign: check an evidence JSON file (as written to `evidence.json`, or built
    /// by chaos/k8s/chaos.sh from a real cluster), print the verdicts, exit 1 if one is broken.
    #[arg(long)]
    pub check_evidence: Option<PathBuf>,
    /// Treat "goal" invariants (superseded-leader creates) as failures too.
    #[arg(long)]
    pub strict_goals: bool,
    /// Whose syncs `sync-fail` fails: `one` node (the leader or a follower, seeded) or `all`
    /// members at once (the proof: with every copy restored, nothing can repair a lost write).
    #[arg(long, value_enum, default_value_t = SyncFailNodes::One)]
    pub sync_fail_nodes: SyncFailNodes,
}

/// `--sync-fail-nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncFailNodes {
    One,
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_by_kebab_name_and_unknown_names_list_the_choices() {
        let args = Args::try_parse_from(["openfero-chaos", "--faults", "kill-leader,split"])
            .expect("parses");
        assert_eq!(
            args.faults,
            Some(vec![FaultKind::KillLeader, FaultKind::Split])
        );
        let err = Args::try_parse_from(["openfero-chaos", "--faults", "kill-leader,meteor"])
            .expect_err("meteor is no fault")
            .to_string();
        assert!(
            err.contains("unknown fault `meteor`") && err.contains("packet-loss"),
            "{err}"
        );
    }
}
