//! Job creates sent by a node whose leadership had already been superseded (goal 0).
//!
//! A create by node N at time t is counted when, before t, some node reported itself leader
//! of a term higher than every term N is known to have led by then (N's own reports, up to a
//! second after t for polling lag, and the leader annotation of a Job intent N recorded).
//! Creates by a node never seen leading are listed as unattributed, not counted.

use std::collections::{BTreeMap, BTreeSet};

use super::{parse_leader_id, Evidence, Kind, Verdict};

const POLL_SLACK_MS: u64 = 1000;

pub fn check(e: &Evidence) -> Verdict {
    // Node name -> every id it had (a wiped data dir is a new id).
    let mut ids: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for o in &e.observations {
        ids.entry(o.observer_name.as_str())
            .or_default()
            .insert(o.observer.as_str());
    }
    // Self-reports of leadership: (term, leader id, first seen).
    let mut led: BTreeMap<(u64, &str), u64> = BTreeMap::new();
    for o in &e.observations {
        if o.leader.as_deref() == Some(o.observer.as_str()) {
            let first = led
                .entry((o.term, o.observer.as_str()))
                .or_insert(o.unix_ms);
            *first = (*first).min(o.unix_ms);
        }
    }
    let mut bad = Vec::new();
    let mut unattributed = 0;
    for c in &e.creates {
        let mine = ids.get(c.node.as_str()).cloned().unwrap_or_default();
        let mut my_term = led
            .iter()
            .filter(|((_, id), at)| mine.contains(id) && **at <= c.unix_ms + POLL_SLACK_MS)
            .map(|((t, _), _)| *t)
            .max();
        if let Some((t, id)) = parse_leader_id(&c.leader) {
            if mine.contains(id.as_str()) {
                my_term = Some(my_term.map_or(t, |m| m.max(t)));
            }
        }
        let Some(my_term) = my_term else {
            unattributed += 1;
            continue;
        };
        if let Some(((t, id), at)) = led
            .iter()
            .filter(|((t, id), at)| *t > my_term && !mine.contains(id) && **at < c.unix_ms)
            .min_by_key(|(_, at)| **at)
        {
            bad.push(format!(
                "{} sent a create of {} (status {}) at {} as leader of term {my_term}, \
                 but {id} reported leading term {t} at {at}",
                c.node, c.job_name, c.status, c.unix_ms
            ));
        }
    }
    Verdict::new(
        "no-create-by-superseded-leader",
        Kind::Goal,
        format!(
            "{} create attempts, {} by a superseded leader, {unattributed} unattributed",
            e.creates.len(),
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
    fn a_create_after_a_newer_leader_reported_itself_is_counted() {
        let mut e = healthy();
        e.observations.push(obs(
            3000,
            "n2",
            "000000000000000b",
            3,
            Some("000000000000000b"),
        ));
        // n1 (leader of term 2) was paused and wakes up to send a create at 4000.
        e.creates
            .push(create("n1", 4000, 409, "r1", "2-000000000000000a"));
        let v = check(&e);
        assert!(!v.held);
        assert!(v.evidence[0].contains("term 3"), "{:?}", v.evidence);
    }

    #[test]
    fn creates_by_the_current_leader_are_fine() {
        let mut e = healthy();
        e.observations.push(obs(
            3000,
            "n2",
            "000000000000000b",
            3,
            Some("000000000000000b"),
        ));
        e.creates
            .push(create("n2", 4000, 409, "r1", "2-000000000000000a"));
        assert!(check(&e).held);
    }
}
