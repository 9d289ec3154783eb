//! Every time a node recorded — an alert received, a remediation created, started, finished —
//! lies within the campaign's own span by the harness's clock (give or take [`SLACK_MS`]). A
//! node whose wall clock is hours off (the clock-skew fault) must stamp cluster time, not its
//! own: a stamp hours ahead would close cooldowns and reopen budget windows early.

use super::{Evidence, Kind, Verdict};

/// Tolerance for round trips, sampling and the harness's own reading of its clock.
pub const SLACK_MS: i64 = 5_000;

pub fn check(e: &Evidence) -> Verdict {
    let Some((from, to)) = e.span_ms else {
        return Verdict::new(
            "times-within-the-campaign",
            Kind::Safety,
            format!("{} recorded times, no span to compare with", e.stamps.len()),
            Vec::new(),
        );
    };
    let bad: Vec<String> = e
        .stamps
        .iter()
        .filter(|s| s.ms < from - SLACK_MS || s.ms > to + SLACK_MS)
        .map(|s| {
            let off = if s.ms > to { s.ms - to } else { s.ms - from };
            format!(
                "{} recorded {} {:+} ms outside the campaign",
                s.node, s.what, off
            )
        })
        .collect();
    Verdict::new(
        "times-within-the-campaign",
        Kind::Safety,
        format!(
            "{} of {} recorded times outside the campaign's span (± {} s)",
            bad.len(),
            e.stamps.len(),
            SLACK_MS / 1000
        ),
        bad,
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::Stamp;
    use super::*;

    fn stamp(ms: i64) -> Stamp {
        Stamp {
            node: "n2".into(),
            what: "remediation createdAt".into(),
            ms,
        }
    }

    #[test]
    fn a_stamp_from_a_skewed_clock_is_reported() {
        let mut e = healthy();
        e.span_ms = Some((1_000_000, 2_000_000));
        e.stamps = vec![stamp(1_500_000), stamp(1_000_000 - 4_000)];
        assert!(check(&e).held);
        e.stamps.push(stamp(2_000_000 + 2 * 3_600_000));
        let v = check(&e);
        assert!(!v.held);
        assert_eq!(v.count, 1);
        assert!(v.evidence[0].contains("+7200000 ms"), "{:?}", v.evidence);
    }
}
