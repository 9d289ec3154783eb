//! The one safety rule for membership changes, shared by the autopilot and the admin API.

use std::collections::BTreeSet;

/// Votes needed for a majority of `n` voters.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Whether changing the voter set from `before` to `after` keeps the cluster available, given
/// which nodes are healthy. Joint consensus needs a healthy majority of *both* sets to commit the
/// change, and the new set must keep one afterwards; at most `(before - 1) / 2` voters go at once.
pub fn check_voter_change(
    before: &BTreeSet<u64>,
    after: &BTreeSet<u64>,
    healthy: &BTreeSet<u64>,
) -> Result<(), String> {
    if after.is_empty() {
        return Err("the change would leave no voter".into());
    }
    let healthy_before = before.intersection(healthy).count();
    if healthy_before < majority(before.len()) {
        return Err(format!(
            "only {healthy_before} of {} voters are healthy: no quorum to commit a change",
            before.len()
        ));
    }
    let healthy_after = after.intersection(healthy).count();
    if healthy_after < majority(after.len()) {
        return Err(format!(
            "the new voter set would have {healthy_after} healthy of {} voters, below its quorum of {}",
            after.len(),
            majority(after.len())
        ));
    }
    let removed = before.difference(after).count();
    if removed > before.len().saturating_sub(1) / 2 {
        return Err(format!(
            "removing {removed} of {} voters at once could lose committed entries",
            before.len()
        ));
    }
    Ok(())
}

/// The voter count the autopilot aims for: the largest odd number of healthy nodes, at most
/// `max_voters`, and never below 3 once 3 nodes are healthy (unless `max_voters` is 1).
pub fn target_voters(healthy_nodes: usize, max_voters: usize) -> usize {
    let mut t = healthy_nodes.min(max_voters).max(1);
    if t.is_multiple_of(2) {
        t -= 1;
    }
    if healthy_nodes >= 3 && max_voters >= 3 {
        t = t.max(3);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u64]) -> BTreeSet<u64> {
        ids.iter().copied().collect()
    }

    #[test]
    fn removing_a_dead_voter_from_three_is_safe_but_two_is_not() {
        let healthy = set(&[1, 2]);
        assert!(check_voter_change(&set(&[1, 2, 3]), &set(&[1, 2]), &healthy).is_ok());
        assert!(check_voter_change(&set(&[1, 2, 3]), &set(&[1]), &set(&[1])).is_err());
        let e = check_voter_change(&set(&[1, 2, 3]), &set(&[1]), &set(&[1, 2, 3]))
            .expect_err("two at once");
        assert!(e.contains("at once"), "{e}");
    }

    #[test]
    fn a_change_needs_quorum_in_both_sets() {
        // 5 voters, 3 healthy: removing the two dead ones is safe.
        let healthy = set(&[1, 2, 3]);
        assert!(check_voter_change(&set(&[1, 2, 3, 4, 5]), &set(&[1, 2, 3]), &healthy).is_ok());
        // Adding an unhealthy voter to 2 healthy of 3 would leave 2 of 4.
        let e = check_voter_change(&set(&[1, 2, 3]), &set(&[1, 2, 3, 4]), &set(&[1, 2]))
            .expect_err("unsafe");
        assert!(e.contains("below its quorum"), "{e}");
        // No quorum now: nothing can be changed.
        assert!(check_voter_change(&set(&[1, 2, 3]), &set(&[1, 2, 3, 4]), &set(&[1, 4])).is_err());
    }

    #[test]
    fn targets_are_odd_capped_and_at_least_three() {
        assert_eq!(target_voters(1, 5), 1);
        assert_eq!(target_voters(2, 5), 1);
        assert_eq!(target_voters(3, 5), 3);
        assert_eq!(target_voters(4, 5), 3);
        assert_eq!(target_voters(5, 5), 5);
        assert_eq!(target_voters(9, 5), 5);
        assert_eq!(target_voters(4, 1), 1);
        assert_eq!(target_voters(4, 3), 3);
    }
}
