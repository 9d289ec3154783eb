//! One remediation per idempotency key: no node lists two remediations for one (event,
//! operarius), no id twice, and every answer for one event named the same remediation ids.

use std::collections::{BTreeMap, BTreeSet};

use super::{Evidence, Kind, Verdict};

pub fn check(e: &Evidence) -> Verdict {
    let mut bad = Vec::new();
    for (node, rems) in &e.remediations {
        let mut ids = BTreeSet::new();
        let mut keys: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        for r in rems {
            if !ids.insert(r.id.as_str()) {
                bad.push(format!("{node} lists remediation {} twice", r.id));
            }
            if let Some(other) = keys.insert((r.event_id.as_str(), r.operarius.as_str()), &r.id) {
                if other != r.id {
                    bad.push(format!(
                        "{node}: event {} / {} has remediations {other} and {}",
                        r.event_id, r.operarius, r.id
                    ));
                }
            }
        }
    }
    let mut answers: BTreeMap<&str, BTreeSet<Vec<String>>> = BTreeMap::new();
    for a in &e.acked {
        let mut ids = a.remediation_ids.clone();
        ids.sort();
        answers.entry(a.event_id.as_str()).or_default().insert(ids);
    }
    for (event, sets) in &answers {
        if sets.len() > 1 {
            bad.push(format!(
                "deliveries of event {event} were answered with different remediations: {sets:?}"
            ));
        }
    }
    Verdict::new(
        "one-remediation-per-idempotency-key",
        Kind::Safety,
        format!(
            "{} distinct acknowledged events, listings of {} nodes",
            answers.len(),
            e.remediations.len()
        ),
        bad,
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::RemObs;
    use super::*;

    #[test]
    fn a_second_remediation_for_one_event_is_reported() {
        let mut e = healthy();
        e.remediations.get_mut("n3").expect("n3").push(RemObs {
            id: "r9".into(),
            event_id: "e1".into(),
            operarius: "ops/chaos-fix".into(),
            state: "running".into(),
        });
        e.acked.push(acked("e1", "t1", &["r9"]));
        let v = check(&e);
        assert!(!v.held);
        assert_eq!(v.evidence.len(), 2, "{:?}", v.evidence);
    }
}
