//! After every heal all live nodes reach a stable leader, the same applied index and the same
//! state digest within the timeout.

use super::{Evidence, Kind, Verdict};

pub fn check(e: &Evidence) -> Verdict {
    let bad: Vec<String> = e
        .checkpoints
        .iter()
        .filter(|c| !c.converged)
        .map(|c| {
            format!(
                "cycle {} ({}): not converged: {}; applied {:?}; digests {:?}",
                c.cycle, c.fault, c.detail, c.applied, c.digests
            )
        })
        .collect();
    let mut times: Vec<u64> = e
        .checkpoints
        .iter()
        .filter_map(|c| c.converged_ms)
        .collect();
    times.sort_unstable();
    let p50 = times.get(times.len() / 2).copied().unwrap_or(0);
    let max = times.last().copied().unwrap_or(0);
    Verdict::new(
        "same-applied-index-and-digest",
        Kind::Safety,
        format!(
            "{} of {} heals converged (p50 {p50} ms, max {max} ms)",
            times.len(),
            e.checkpoints.len()
        ),
        bad,
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn a_heal_that_never_converged_is_reported() {
        let mut e = healthy();
        e.checkpoints[0].converged = false;
        e.checkpoints[0].detail = "digests differ".into();
        assert!(!check(&e).held);
    }
}
