//! No budget, concurrency limit or approval is ever exceeded or bypassed, whatever the faults:
//! - the guarded operarius (a budget of [`GUARD_BUDGET`] per hour on one target, one at a
//!   time) created at most that many Jobs, no two of them running at once (from the proxies'
//!   create log and the completer's completion times — the outside world's account, not
//!   openfero's), and no node's record admits more than the budget;
//! - the gated operarius, which nobody approves, created no Job, and every node records its
//!   remediations as awaiting approval (or expired).

use std::collections::BTreeMap;

use super::{Evidence, Kind, Verdict};
use crate::double::{GATED, GUARDED, GUARD_BUDGET};

/// States of an admitted remediation: what counts against a budget.
const ADMITTED: [&str; 6] = [
    "pending",
    "queued",
    "running",
    "succeeded",
    "failed",
    "interrupted",
];

fn of(job_name: &str, operarius: &str) -> bool {
    job_name
        .strip_prefix(operarius)
        .is_some_and(|rest| rest.starts_with('-'))
}

pub fn check(e: &Evidence) -> Verdict {
    let mut bad = Vec::new();
    // First successful create per remediation of the guarded operarius: (time, job).
    let mut guarded: BTreeMap<&str, (u64, &str)> = BTreeMap::new();
    let mut gated_creates = 0;
    for c in e.creates.iter().filter(|c| c.status == 201) {
        if of(&c.job_name, GUARDED) {
            let first = guarded
                .entry(c.remediation_id.as_str())
                .or_insert((c.unix_ms, c.job_name.as_str()));
            first.0 = first.0.min(c.unix_ms);
        } else if of(&c.job_name, GATED) {
            gated_creates += 1;
            bad.push(format!(
                "Job {} of the gated operarius was created by {} at {} without an approval",
                c.job_name, c.node, c.unix_ms
            ));
        }
    }
    if guarded.len() > GUARD_BUDGET {
        bad.push(format!(
            "the guarded operarius created Jobs for {} remediations, over its budget of {GUARD_BUDGET} per hour",
            guarded.len()
        ));
    }
    // One at a time: each Job's run is [create, completion]; an unfinished one runs on.
    let done: BTreeMap<&str, u64> = e
        .completions
        .iter()
        .map(|c| (c.job_name.as_str(), c.unix_ms))
        .collect();
    let mut runs: Vec<(u64, u64, &str)> = guarded
        .values()
        .map(|(start, job)| (*start, done.get(job).copied().unwrap_or(u64::MAX), *job))
        .collect();
    runs.sort();
    for pair in runs.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.0 < a.1 {
            bad.push(format!(
                "Jobs {} and {} of the guarded operarius ran at once (the second created at {}, the first done at {})",
                a.2,
                b.2,
                b.0,
                if a.1 == u64::MAX { "never".to_string() } else { a.1.to_string() }
            ));
        }
    }
    for (node, list) in &e.remediations {
        let admitted = list
            .iter()
            .filter(|r| r.operarius.ends_with(&format!("/{GUARDED}")))
            .filter(|r| ADMITTED.contains(&r.state.as_str()))
            .count();
        if admitted > GUARD_BUDGET {
            bad.push(format!(
                "{node} records {admitted} admitted remediations of the guarded operarius, over its budget of {GUARD_BUDGET}"
            ));
        }
        for r in list
            .iter()
            .filter(|r| r.operarius.ends_with(&format!("/{GATED}")))
            .filter(|r| !matches!(r.state.as_str(), "awaiting-approval" | "expired"))
        {
            bad.push(format!(
                "{node} records remediation {} of the gated operarius as {} without an approval",
                r.id, r.state
            ));
        }
    }
    Verdict::new(
        "guard-rails",
        Kind::Safety,
        format!(
            "guarded: {} Jobs (budget {GUARD_BUDGET}, one at a time); gated: {gated_creates} Jobs (none approved)",
            guarded.len()
        ),
        bad,
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::RemObs;
    use super::*;
    use crate::double::Completion;

    fn guarded_create(rem: &str, at: u64) -> crate::double::CreateAttempt {
        let mut c = create("n1", at, 201, rem, "2-000000000000000a");
        c.job_name = format!("{GUARDED}-{rem}");
        c
    }

    fn done(rem: &str, at: u64) -> Completion {
        Completion {
            job_name: format!("{GUARDED}-{rem}"),
            unix_ms: at,
        }
    }

    #[test]
    fn runs_within_the_budget_one_after_another_hold() {
        let mut e = healthy();
        for (i, rem) in ["g1", "g2", "g3"].iter().enumerate() {
            let t = 10_000 + 2_000 * i as u64;
            e.creates.push(guarded_create(rem, t));
            e.completions.push(done(rem, t + 1_500));
        }
        let v = check(&e);
        assert!(v.held, "{v:?}");
    }

    #[test]
    fn a_fourth_run_overlapping_runs_and_a_gated_job_are_reported() {
        let mut e = healthy();
        for (i, rem) in ["g1", "g2", "g3", "g4"].iter().enumerate() {
            let t = 10_000 + 1_000 * i as u64;
            e.creates.push(guarded_create(rem, t));
            e.completions.push(done(rem, t + 1_500));
        }
        let mut gated = create("n2", 20_000, 201, "x1", "2-000000000000000a");
        gated.job_name = format!("{GATED}-x1");
        e.creates.push(gated);
        e.remediations.get_mut("n1").expect("n1").push(RemObs {
            id: "x1".into(),
            event_id: "e9".into(),
            operarius: format!("ops/{GATED}"),
            state: "succeeded".into(),
        });
        let v = check(&e);
        assert!(!v.held);
        let text = v.evidence.join("\n");
        for needle in [
            "over its budget of 3",
            "ran at once",
            "without an approval",
            "records remediation x1 of the gated operarius as succeeded",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
