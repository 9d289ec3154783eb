//! The report's diffing: what was decided for an alert, as a comparable [`Decision`] per
//! operarius, what changed between the history and the replay ([`AlertDiff`]), and the
//! counts over every alert ([`Summary`]).
//!
//! A remediation's state moves on after its decision (`pending → running → succeeded`), so
//! states are not compared as they are: everything admitted to run is [`Decision::Runs`]; what
//! did not run keeps its state and what decided it (`skipped` by `cooldown`, `held` by
//! `budget`, …). Reasons are shown, not compared: they carry times and counts.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::remediation::RemediationState;

/// What one operarius' remediation of one alert came to, as compared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    /// Admitted to run: pending, running, succeeded, interrupted, or failed once started.
    Runs,
    /// Not run: its state and, when the reason says, what decided it (`cooldown`, `budget`,
    /// `breaker`, `concurrency`, `policy`, `template`, …).
    Not {
        state: String,
        by: Option<&'static str>,
    },
}

impl Decision {
    /// The decision a remediation in `state` (as written: a state this release does not know
    /// is kept as text) with `reason` stands for; `started`: its run started.
    pub fn classify(state: &str, reason: Option<&str>, started: bool) -> Self {
        use RemediationState as S;
        let parsed = RemediationState::parse(state);
        match parsed {
            Some(S::Pending | S::Running | S::Succeeded | S::Interrupted) => Decision::Runs,
            Some(S::Failed) if started => Decision::Runs,
            Some(S::Failed) => Decision::Not {
                state: state.to_owned(),
                by: Some(match reason {
                    Some(r) if r.starts_with("template:") => "template",
                    _ => "invalid",
                }),
            },
            Some(s) => Decision::Not {
                state: state.to_owned(),
                by: decided_by(s, reason),
            },
            None => Decision::Not {
                state: state.to_owned(),
                by: None,
            },
        }
    }

    pub fn runs(&self) -> bool {
        matches!(self, Decision::Runs)
    }

    /// `runs`, `skipped (cooldown)`, `held (budget)`, …
    pub fn label(&self) -> String {
        match self {
            Decision::Runs => "runs".into(),
            Decision::Not {
                state,
                by: Some(by),
            } => format!("{state} ({by})"),
            Decision::Not { state, by: None } => state.clone(),
        }
    }
}

impl Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

/// What apply's reasons say decided a remediation in `state` (the rule the metrics use).
fn decided_by(state: RemediationState, reason: Option<&str>) -> Option<&'static str> {
    crate::remediation::decided_by(state, reason)
}

/// Every operarius' decision for one alert (at most one today: one operarius claims an alert).
pub type Decisions = BTreeMap<String, Decision>;

/// How one alert's decisions differ between the history and the replay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertDiff {
    /// Some operarius decided otherwise, or another operarius decided.
    pub changed: bool,
    /// Operarios that would run and did not.
    pub new_runs: Vec<String>,
    /// Operarios that did run and would not.
    pub removed_runs: Vec<String>,
}

pub fn diff(did: &Decisions, would: &Decisions) -> AlertDiff {
    let runs = |d: &Decisions, op: &str| d.get(op).is_some_and(Decision::runs);
    AlertDiff {
        changed: did != would,
        new_runs: would
            .keys()
            .filter(|op| runs(would, op) && !runs(did, op))
            .cloned()
            .collect(),
        removed_runs: did
            .keys()
            .filter(|op| runs(did, op) && !runs(would, op))
            .cloned()
            .collect(),
    }
}

/// Counts over every replayed alert.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub alerts_replayed: u64,
    /// Alerts whose decisions differ.
    pub changed_decisions: u64,
    pub new_runs: u64,
    pub removed_runs: u64,
    /// Runs in the history and in the replay.
    pub did_run: u64,
    pub would_run: u64,
    /// By operarius (`namespace/name`), every one that decided something on either side.
    pub per_operarius: BTreeMap<String, OperariusSummary>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperariusSummary {
    /// Alerts whose decision by this operarius differs (including claimed on one side only).
    pub changed_decisions: u64,
    pub new_runs: u64,
    pub removed_runs: u64,
    pub did_run: u64,
    pub would_run: u64,
}

impl Summary {
    /// Count one alert.
    pub fn add(&mut self, did: &Decisions, would: &Decisions, diff: &AlertDiff) {
        self.alerts_replayed += 1;
        self.changed_decisions += u64::from(diff.changed);
        self.new_runs += diff.new_runs.len() as u64;
        self.removed_runs += diff.removed_runs.len() as u64;
        self.did_run += did.values().filter(|d| d.runs()).count() as u64;
        self.would_run += would.values().filter(|d| d.runs()).count() as u64;
        let ops: std::collections::BTreeSet<&String> = did.keys().chain(would.keys()).collect();
        for op in ops {
            let s = self.per_operarius.entry(op.clone()).or_default();
            let (d, w) = (did.get(op), would.get(op));
            s.changed_decisions += u64::from(d != w);
            let (dr, wr) = (d.is_some_and(Decision::runs), w.is_some_and(Decision::runs));
            s.did_run += u64::from(dr);
            s.would_run += u64::from(wr);
            s.new_runs += u64::from(wr && !dr);
            s.removed_runs += u64::from(dr && !wr);
        }
    }

    /// Nothing would be decided otherwise.
    pub fn unchanged(&self) -> bool {
        self.changed_decisions == 0 && self.new_runs == 0 && self.removed_runs == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not(state: &str, by: Option<&'static str>) -> Decision {
        Decision::Not {
            state: state.into(),
            by,
        }
    }

    fn decisions(items: &[(&str, Decision)]) -> Decisions {
        items
            .iter()
            .map(|(op, d)| (op.to_string(), d.clone()))
            .collect()
    }

    #[test]
    fn replay_classifies_every_admitted_state_as_runs_and_keeps_what_decided_the_rest() {
        for (state, started) in [
            ("pending", false),
            ("running", true),
            ("succeeded", true),
            ("interrupted", true),
            ("failed", true),
        ] {
            assert_eq!(
                Decision::classify(state, Some("exit code 1"), started),
                Decision::Runs,
                "{state}"
            );
        }
        for (state, reason, want) in [
            (
                "skipped",
                "cooldown: `a` already remediated alert `f` within 60s (until …)",
                not("skipped", Some("cooldown")),
            ),
            (
                "held",
                "budget: `a` on target `t` used 3 of 3 per 1h (a slot frees at …)",
                not("held", Some("budget")),
            ),
            (
                "held",
                "breaker open for `a` on target `t` since …",
                not("held", Some("breaker")),
            ),
            (
                "queued",
                "concurrency: target `t` has 1 of 1 remediations in progress",
                not("queued", Some("concurrency")),
            ),
            (
                "failed",
                "template: missing key `pod`",
                not("failed", Some("template")),
            ),
            (
                "failed",
                "invalid operarius: …",
                not("failed", Some("invalid")),
            ),
            (
                "refused",
                "refused: policy `allowedImages`",
                not("refused", Some("policy")),
            ),
            (
                "verifying",
                "new in a later release",
                not("verifying", None),
            ),
        ] {
            assert_eq!(
                Decision::classify(state, Some(reason), false),
                want,
                "{reason}"
            );
        }
        assert_eq!(
            not("skipped", Some("cooldown")).label(),
            "skipped (cooldown)"
        );
        assert_eq!(Decision::Runs.label(), "runs");
    }

    #[test]
    fn replay_diff_counts_a_run_moved_to_another_operarius_as_one_new_and_one_removed() {
        let did = decisions(&[("ns/a", Decision::Runs)]);
        let would = decisions(&[("ns/b", Decision::Runs)]);
        let d = diff(&did, &would);
        assert!(d.changed);
        assert_eq!(d.new_runs, vec!["ns/b".to_string()]);
        assert_eq!(d.removed_runs, vec!["ns/a".to_string()]);
    }

    #[test]
    fn replay_diff_tells_a_changed_reason_for_not_running_from_a_removed_run() {
        let cooled = decisions(&[("ns/a", not("skipped", Some("cooldown")))]);
        let held = decisions(&[("ns/a", not("held", Some("budget")))]);
        let d = diff(&cooled, &held);
        assert!(d.changed, "another decision, though neither runs");
        assert!(d.new_runs.is_empty() && d.removed_runs.is_empty());

        let runs = decisions(&[("ns/a", Decision::Runs)]);
        let d = diff(&runs, &cooled);
        assert!(d.changed);
        assert_eq!(d.removed_runs, vec!["ns/a".to_string()]);
        assert!(d.new_runs.is_empty());

        let none = Decisions::new();
        let d = diff(&none, &runs);
        assert_eq!(d.new_runs, vec!["ns/a".to_string()], "newly claimed");
        assert_eq!(diff(&none, &none), AlertDiff::default());
        assert_eq!(diff(&runs, &runs), AlertDiff::default());
    }

    #[test]
    fn replay_summary_adds_alerts_per_operarius() {
        let mut s = Summary::default();
        let runs_a = decisions(&[("ns/a", Decision::Runs)]);
        let runs_b = decisions(&[("ns/b", Decision::Runs)]);
        let cooled_a = decisions(&[("ns/a", not("skipped", Some("cooldown")))]);
        let none = Decisions::new();
        for (did, would) in [
            (&runs_a, &runs_a),
            (&runs_a, &runs_b),
            (&runs_a, &cooled_a),
            (&none, &runs_b),
            (&none, &none),
        ] {
            s.add(did, would, &diff(did, would));
        }
        assert_eq!(s.alerts_replayed, 5);
        assert_eq!(s.changed_decisions, 3);
        assert_eq!((s.new_runs, s.removed_runs), (2, 2));
        assert_eq!((s.did_run, s.would_run), (3, 3));
        assert_eq!(
            s.per_operarius["ns/a"],
            OperariusSummary {
                changed_decisions: 2,
                new_runs: 0,
                removed_runs: 2,
                did_run: 3,
                would_run: 1,
            }
        );
        assert_eq!(
            s.per_operarius["ns/b"],
            OperariusSummary {
                changed_decisions: 2,
                new_runs: 2,
                removed_runs: 0,
                did_run: 0,
                would_run: 2,
            }
        );
        assert!(!s.unchanged());
        let mut same = Summary::default();
        same.add(&runs_a, &runs_a, &diff(&runs_a, &runs_a));
        assert!(same.unchanged());
    }
}
