//! The report: text for a person, JSON for machines, both in the report dir.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::args::Args;
use crate::checker::{Evidence, Kind, Verdict};
use crate::faults::FaultKind;
use crate::load::LoadStats;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRecord {
    pub cycle: usize,
    pub kind: FaultKind,
    pub target: String,
    pub duration_ms: u64,
    pub note: String,
    /// False when the fault could not be injected (the note says why): the run fails, since a
    /// campaign whose faults did not happen proves nothing about them.
    pub injected: bool,
    /// Not injected because this run cannot (the note says why): counted as skipped, and it
    /// does not fail the run.
    #[serde(default)]
    pub skipped: bool,
    /// After the heal: time to one stable leader and to full convergence (from the checkpoint).
    pub stable_leader_ms: Option<u64>,
    pub converged_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: u64,
    pub max_ms: u64,
}

impl Percentiles {
    fn of(mut xs: Vec<u64>) -> Self {
        xs.sort_unstable();
        Self {
            count: xs.len(),
            p50_ms: xs.get(xs.len() / 2).copied().unwrap_or(0),
            max_ms: xs.last().copied().unwrap_or(0),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub seed: u64,
    pub nodes: usize,
    pub cycles: usize,
    /// The command line that replays this campaign's schedule.
    pub replay: String,
    pub elapsed_secs: u64,
    pub network_faults: String,
    pub faults: Vec<FaultRecord>,
    pub faults_by_kind: BTreeMap<String, usize>,
    pub load: LoadStats,
    pub distinct_events_acknowledged: usize,
    pub alerts_lost: usize,
    pub duplicate_jobs: usize,
    pub superseded_creates: usize,
    pub jobs: usize,
    pub create_attempts: usize,
    pub stable_leader_after_heal: Percentiles,
    pub converged_after_heal: Percentiles,
    pub verdicts: Vec<Verdict>,
    /// Faults that could not be injected.
    pub faults_not_injected: usize,
    /// Faults this run could not inject for a stated reason (root, kernel, build): neither
    /// passed nor failed.
    pub faults_skipped: usize,
    /// Whether the run fails: a broken safety invariant (or goal, with --strict-goals), or a
    /// fault that could not be injected.
    pub failed: bool,
}

fn replay_command(args: &Args) -> String {
    let mut cmd = format!("openfero-chaos --nodes {}", args.nodes);
    match &args.faults {
        Some(list) => {
            let kinds: Vec<String> = list.iter().map(ToString::to_string).collect();
            cmd.push_str(&format!(" --faults {}", kinds.join(",")));
        }
        None => cmd.push_str(&format!(" --cycles {}", args.cycles)),
    }
    cmd.push_str(&format!(" --seed {}", args.seed));
    if args.loopback {
        cmd.push_str(" --loopback");
    }
    cmd
}

impl Report {
    pub fn build(
        args: &Args,
        network_faults: &str,
        faults: Vec<FaultRecord>,
        load: LoadStats,
        ev: &Evidence,
        verdicts: Vec<Verdict>,
        elapsed: Duration,
    ) -> Self {
        let mut faults = faults;
        for f in faults.iter_mut() {
            if let Some(cp) = ev.checkpoints.iter().find(|c| c.cycle == f.cycle) {
                f.stable_leader_ms = cp.stable_leader_ms;
                f.converged_ms = cp.converged_ms;
            }
        }
        let mut faults_by_kind = BTreeMap::new();
        for f in &faults {
            if f.injected {
                *faults_by_kind.entry(f.kind.to_string()).or_insert(0) += 1;
            }
        }
        let broken = |name: &str| {
            verdicts
                .iter()
                .find(|v| v.invariant == name)
                .map(|v| v.count)
                .unwrap_or(0)
        };
        let heals: Vec<_> = ev.checkpoints.iter().filter(|c| c.cycle > 0).collect();
        let faults_not_injected = faults.iter().filter(|f| !f.injected && !f.skipped).count();
        let faults_skipped = faults.iter().filter(|f| f.skipped).count();
        let failed = faults_not_injected > 0
            || verdicts
                .iter()
                .any(|v| !v.held && (v.kind == Kind::Safety || args.strict_goals));
        let distinct: std::collections::BTreeSet<&str> =
            ev.acked.iter().map(|a| a.event_id.as_str()).collect();
        Self {
            seed: args.seed,
            nodes: args.nodes,
            cycles: faults.len(),
            replay: replay_command(args),
            elapsed_secs: elapsed.as_secs(),
            network_faults: network_faults.to_string(),
            faults,
            faults_by_kind,
            load,
            distinct_events_acknowledged: distinct.len(),
            alerts_lost: broken("acknowledged-events-everywhere"),
            duplicate_jobs: broken("one-job-per-remediation"),
            superseded_creates: broken("no-create-by-superseded-leader"),
            jobs: ev.jobs.len(),
            create_attempts: ev.creates.len(),
            stable_leader_after_heal: Percentiles::of(
                heals.iter().filter_map(|c| c.stable_leader_ms).collect(),
            ),
            converged_after_heal: Percentiles::of(
                heals.iter().filter_map(|c| c.converged_ms).collect(),
            ),
            verdicts,
            faults_not_injected,
            faults_skipped,
            failed,
        }
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "openfero chaos campaign — seed {}, {} nodes, {} cycles, {} s",
            self.seed, self.nodes, self.cycles, self.elapsed_secs
        );
        let _ = writeln!(s, "replay: {}", self.replay);
        let _ = writeln!(s, "note: {}\n", self.network_faults);
        let _ = writeln!(s, "faults by kind (injected):");
        for (k, n) in &self.faults_by_kind {
            let _ = writeln!(s, "  {k:<16} {n}");
        }
        if self.faults_skipped > 0 {
            let _ = writeln!(s, "skipped (not injected here, not passed):");
            for f in self.faults.iter().filter(|f| f.skipped) {
                let _ = writeln!(
                    s,
                    "  cycle {:>3}: {:<16} {}",
                    f.cycle,
                    f.kind.to_string(),
                    f.note
                );
            }
        }
        let l = &self.load;
        let _ = writeln!(
            s,
            "\nwebhooks: {} notifications ({} duplicate deliveries to two nodes, {} resolved), \
             {} deliveries, {} requests; {} acknowledged ({} distinct events), {} answered 503, \
             {} connection errors, {} other errors, {} never acknowledged",
            l.notifications,
            l.duplicate_deliveries,
            l.resolved,
            l.deliveries,
            l.requests,
            l.acknowledged,
            self.distinct_events_acknowledged,
            l.answers_503,
            l.connection_errors,
            l.other_errors,
            l.not_acknowledged
        );
        let _ = writeln!(
            s,
            "alerts lost: {}   duplicate Jobs: {}   superseded-leader creates: {}   Jobs: {}   create attempts: {}",
            self.alerts_lost, self.duplicate_jobs, self.superseded_creates, self.jobs, self.create_attempts
        );
        let _ = writeln!(
            s,
            "after heal: stable leader p50 {} ms, max {} ms; converged p50 {} ms, max {} ms ({} heals)\n",
            self.stable_leader_after_heal.p50_ms,
            self.stable_leader_after_heal.max_ms,
            self.converged_after_heal.p50_ms,
            self.converged_after_heal.max_ms,
            self.converged_after_heal.count
        );
        let _ = writeln!(s, "faults:");
        for f in &self.faults {
            let ms = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
            let _ = writeln!(
                s,
                "  cycle {:>3}: {:<16} {:<7} {:>6} ms  leader {:>5} ms  converged {:>5} ms  {}",
                f.cycle,
                f.kind.to_string(),
                f.target,
                f.duration_ms,
                ms(f.stable_leader_ms),
                ms(f.converged_ms),
                f.note
            );
        }
        let _ = writeln!(s, "\ninvariants:");
        for v in &self.verdicts {
            let state = match (v.held, v.kind) {
                (true, _) => "HELD",
                (false, Kind::Safety) => "BROKEN",
                (false, Kind::Goal) => "MISSED (goal)",
            };
            let _ = writeln!(s, "  [{state}] {}: {}", v.invariant, v.summary);
            for e in &v.evidence {
                let _ = writeln!(s, "      {e}");
            }
        }
        if self.faults_not_injected > 0 {
            let _ = writeln!(
                s,
                "\n{} fault(s) could not be injected (see the notes above): the run fails",
                self.faults_not_injected
            );
        }
        let _ = writeln!(
            s,
            "\nresult: {}",
            if self.failed { "FAILED" } else { "PASSED" }
        );
        s
    }
}
