//! Exactly one Job per remediation id: at most one successful create in the request log and
//! one Job object in the API double.

use std::collections::BTreeMap;

use super::{Evidence, Kind, Verdict};

pub fn check(e: &Evidence) -> Verdict {
    let mut bad = Vec::new();
    let mut created: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in e.creates.iter().filter(|c| c.status == 201) {
        created
            .entry(c.remediation_id.as_str())
            .or_default()
            .push(format!(
                "{} by {} at {} ({})",
                c.job_name, c.node, c.unix_ms, c.leader
            ));
    }
    for (rem, list) in &created {
        if list.len() > 1 {
            bad.push(format!(
                "remediation {rem} created {} times: {}",
                list.len(),
                list.join("; ")
            ));
        }
    }
    let mut stored: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for j in &e.jobs {
        if j.remediation_id.is_empty() {
            bad.push(format!("job {} has no remediation id annotation", j.name));
        }
        stored
            .entry(j.remediation_id.as_str())
            .or_default()
            .push(j.name.as_str());
    }
    for (rem, names) in &stored {
        if names.len() > 1 {
            bad.push(format!(
                "remediation {rem} has {} Jobs in the API: {}",
                names.len(),
                names.join(", ")
            ));
        }
    }
    let extra_created: usize = created.values().map(|l| l.len().saturating_sub(1)).sum();
    let extra_stored: usize = stored.values().map(|l| l.len().saturating_sub(1)).sum();
    Verdict::counted(
        "one-job-per-remediation",
        Kind::Safety,
        extra_created.max(extra_stored),
        format!(
            "{} Jobs for {} remediation ids; {} create attempts, {} successful",
            e.jobs.len(),
            stored.len(),
            e.creates.len(),
            created.values().map(Vec::len).sum::<usize>()
        ),
        bad,
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn a_duplicate_job_is_reported() {
        let mut e = healthy();
        // What a leader without deterministic names would do after a failover.
        e.jobs
            .push(job("chaos-fix-r1-t3", "r1", "3-000000000000000b"));
        e.creates
            .push(create("n2", 5000, 201, "r1", "3-000000000000000b"));
        let v = check(&e);
        assert!(!v.held);
        assert_eq!(v.evidence.len(), 2, "{:?}", v.evidence);
        assert!(v.evidence.iter().all(|l| l.contains("r1")));
        assert_eq!(v.count, 1, "one extra Job");
    }

    #[test]
    fn a_rejected_second_create_is_not_a_duplicate() {
        let mut e = healthy();
        e.creates
            .push(create("n2", 5000, 409, "r1", "2-000000000000000a"));
        assert!(check(&e).held);
    }
}
