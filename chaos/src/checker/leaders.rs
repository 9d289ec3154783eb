//! At most one leader per term: every self-reported leader and every leader id annotated on a
//! Job names one node per term.

use std::collections::{BTreeMap, BTreeSet};

use super::{parse_leader_id, Evidence, Kind, Verdict};

pub fn check(e: &Evidence) -> Verdict {
    let mut by_term: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for o in &e.observations {
        if o.leader.as_deref() == Some(o.observer.as_str()) {
            by_term
                .entry(o.term)
                .or_default()
                .insert(o.observer.clone());
        }
    }
    let annotated = e
        .jobs
        .iter()
        .map(|j| j.leader.as_str())
        .chain(e.creates.iter().map(|c| c.leader.as_str()));
    for l in annotated {
        if let Some((t, id)) = parse_leader_id(l) {
            by_term.entry(t).or_default().insert(id);
        }
    }
    let bad = by_term
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(t, ids)| format!("term {t} had leaders {ids:?}"))
        .collect();
    Verdict::new(
        "one-leader-per-term",
        Kind::Safety,
        format!("{} terms with a known leader", by_term.len()),
        bad,
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn two_leaders_in_one_term_are_reported() {
        let mut e = healthy();
        e.observations.push(obs(
            1600,
            "n2",
            "000000000000000b",
            2,
            Some("000000000000000b"),
        ));
        assert!(!check(&e).held);
    }
}
