//! The invariant checker: evidence in, one verdict per invariant out. One module per
//! invariant; each is a pure function of [`Evidence`], so its unit tests feed it synthetic
//! evidence (including violations) without a cluster.

mod acked_events;
mod clock;
mod convergence;
mod guard_rails;
mod idempotency;
mod leaders;
mod logs;
mod one_job;
mod superseded;

pub use logs::is_fatal;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::double::{Completion, CreateAttempt, JobObs};
use crate::load::Acked;
use crate::observe::Observation;

/// A remediation as one node lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RemObs {
    pub id: String,
    pub event_id: String,
    pub operarius: String,
    pub state: String,
}

/// What one heal led to: how long until a stable leader and full convergence, or why not.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub cycle: usize,
    pub fault: String,
    pub converged: bool,
    pub stable_leader_ms: Option<u64>,
    pub converged_ms: Option<u64>,
    /// The last disagreement seen while waiting (empty once converged).
    pub detail: String,
    pub applied: BTreeMap<String, u64>,
    pub digests: BTreeMap<String, String>,
}

/// A suspicious line of a node's log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogFinding {
    pub node: String,
    pub file: String,
    pub line: String,
}

/// Everything the checker looks at. Every field may be absent in JSON (`--check-evidence`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Evidence {
    pub acked: Vec<Acked>,
    /// Tags whose histories were queried: only their acknowledged events are checked.
    pub history_scope: BTreeSet<String>,
    /// Node name -> event ids found in its history.
    pub histories: BTreeMap<String, BTreeSet<String>>,
    /// Node name -> its remediation listing.
    pub remediations: BTreeMap<String, Vec<RemObs>>,
    pub jobs: Vec<JobObs>,
    pub creates: Vec<CreateAttempt>,
    /// When the completer finished each Job.
    pub completions: Vec<Completion>,
    pub observations: Vec<Observation>,
    pub checkpoints: Vec<Checkpoint>,
    pub log_findings: Vec<LogFinding>,
    /// Nodes that exited without being asked to: name, exit status.
    pub crashed: Vec<(String, String)>,
    /// Times the nodes recorded (alerts received, remediations created, started, finished).
    pub stamps: Vec<Stamp>,
    /// The campaign's span by the harness's clock: start, and when the evidence was taken.
    pub span_ms: Option<(i64, i64)>,
}

/// One recorded time of one node's listing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stamp {
    pub node: String,
    pub what: String,
    pub ms: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// Broken means a promise of openfero is broken.
    Safety,
    /// A target (goal 0); broken is reported, fails the run only with `--strict-goals`.
    Goal,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub invariant: String,
    pub kind: Kind,
    pub held: bool,
    /// Distinct violations (missing events, extra Jobs, flagged creates, ...).
    pub count: usize,
    pub summary: String,
    /// At most [`MAX_EVIDENCE`] lines.
    pub evidence: Vec<String>,
}

pub const MAX_EVIDENCE: usize = 20;

impl Verdict {
    fn new(invariant: &str, kind: Kind, summary: String, evidence: Vec<String>) -> Self {
        let count = evidence.len();
        Self::counted(invariant, kind, count, summary, evidence)
    }

    fn counted(
        invariant: &str,
        kind: Kind,
        count: usize,
        summary: String,
        mut evidence: Vec<String>,
    ) -> Self {
        let held = evidence.is_empty();
        if evidence.len() > MAX_EVIDENCE {
            let more = evidence.len() - MAX_EVIDENCE;
            evidence.truncate(MAX_EVIDENCE);
            evidence.push(format!("... and {more} more"));
        }
        Self {
            invariant: invariant.to_string(),
            kind,
            held,
            count,
            summary,
            evidence,
        }
    }
}

pub fn check_all(e: &Evidence) -> Vec<Verdict> {
    vec![
        acked_events::check(e),
        clock::check(e),
        one_job::check(e),
        guard_rails::check(e),
        idempotency::check(e),
        superseded::check(e),
        convergence::check(e),
        leaders::check(e),
        logs::check(e),
    ]
}

/// `"<term>-<node hex>"` → (term, node).
pub fn parse_leader_id(s: &str) -> Option<(u64, String)> {
    let (term, node) = s.split_once('-')?;
    Some((term.parse().ok()?, node.to_string()))
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub fn acked(event: &str, tag: &str, rems: &[&str]) -> Acked {
        Acked {
            cycle: 1,
            tag: tag.into(),
            notification: format!("n-{event}"),
            event_id: event.into(),
            status: "firing".into(),
            remediation_ids: rems.iter().map(|s| s.to_string()).collect(),
            node: "n1".into(),
            unix_ms: 1000,
        }
    }

    pub fn create(node: &str, at: u64, status: u16, rem: &str, leader: &str) -> CreateAttempt {
        CreateAttempt {
            node: node.into(),
            unix_ms: at,
            status,
            job_name: format!("chaos-fix-{rem}"),
            remediation_id: rem.into(),
            leader: leader.into(),
            log_index: "7".into(),
        }
    }

    pub fn job(name: &str, rem: &str, leader: &str) -> JobObs {
        JobObs {
            name: name.into(),
            remediation_id: rem.into(),
            leader: leader.into(),
            complete: true,
        }
    }

    pub fn obs(at: u64, name: &str, id: &str, term: u64, leader: Option<&str>) -> Observation {
        Observation {
            unix_ms: at,
            observer: id.into(),
            observer_name: name.into(),
            term,
            leader: leader.map(str::to_string),
        }
    }

    /// A healthy little campaign: two events acked and seen everywhere, one Job each.
    pub fn healthy() -> Evidence {
        let mut e = Evidence {
            acked: vec![acked("e1", "t1", &["r1"]), acked("e2", "t1", &["r2"])],
            history_scope: ["t1".to_string()].into(),
            jobs: vec![
                job("chaos-fix-r1", "r1", "2-000000000000000a"),
                job("chaos-fix-r2", "r2", "2-000000000000000a"),
            ],
            creates: vec![
                create("n1", 2000, 201, "r1", "2-000000000000000a"),
                create("n1", 2100, 201, "r2", "2-000000000000000a"),
            ],
            observations: vec![
                obs(1500, "n1", "000000000000000a", 2, Some("000000000000000a")),
                obs(1500, "n2", "000000000000000b", 2, Some("000000000000000a")),
            ],
            checkpoints: vec![Checkpoint {
                cycle: 1,
                fault: "kill-leader".into(),
                converged: true,
                stable_leader_ms: Some(1200),
                converged_ms: Some(2000),
                ..Checkpoint::default()
            }],
            ..Evidence::default()
        };
        for n in ["n1", "n2", "n3"] {
            e.histories
                .insert(n.into(), ["e1".to_string(), "e2".to_string()].into());
            e.remediations.insert(
                n.into(),
                vec![
                    RemObs {
                        id: "r1".into(),
                        event_id: "e1".into(),
                        operarius: "ops/chaos-fix".into(),
                        state: "succeeded".into(),
                    },
                    RemObs {
                        id: "r2".into(),
                        event_id: "e2".into(),
                        operarius: "ops/chaos-fix".into(),
                        state: "succeeded".into(),
                    },
                ],
            );
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_evidence_holds_every_invariant() {
        for v in check_all(&fixtures::healthy()) {
            assert!(v.held, "{v:?}");
        }
    }

    #[test]
    fn leader_ids_parse() {
        assert_eq!(
            parse_leader_id("12-00000000000000ab"),
            Some((12, "00000000000000ab".into()))
        );
        assert_eq!(parse_leader_id("x"), None);
    }
}
