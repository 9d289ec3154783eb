//! Every acknowledged alert event is in the history of every live node.

use super::{Evidence, Kind, Verdict};

pub fn check(e: &Evidence) -> Verdict {
    let mut bad = Vec::new();
    let mut checked = 0;
    let mut lost = std::collections::BTreeSet::new();
    for a in e.acked.iter().filter(|a| e.history_scope.contains(&a.tag)) {
        checked += 1;
        if a.event_id.is_empty() {
            bad.push(format!("{}: a 200 answer named no eventId", a.notification));
            continue;
        }
        for (node, history) in &e.histories {
            if !history.contains(&a.event_id) {
                lost.insert(a.event_id.as_str());
                bad.push(format!(
                    "event {} ({}, acknowledged by {} at {}) is missing on {node}",
                    a.event_id, a.notification, a.node, a.unix_ms
                ));
            }
        }
    }
    Verdict::counted(
        "acknowledged-events-everywhere",
        Kind::Safety,
        lost.len(),
        format!(
            "{checked} acknowledgements checked on {} live nodes, {} missing",
            e.histories.len(),
            bad.len()
        ),
        bad,
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn an_acknowledged_event_missing_on_one_node_is_reported() {
        let mut e = healthy();
        e.histories.get_mut("n2").expect("n2").remove("e2");
        let v = check(&e);
        assert!(!v.held);
        assert!(v.evidence[0].contains("e2") && v.evidence[0].contains("n2"));
    }
}
