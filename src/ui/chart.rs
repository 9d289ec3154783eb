//! The alerts-and-remediations chart of the last 24 hours, drawn as SVG on the server.

use std::fmt::Write;

use openfero_raft::KvError;

use crate::remediation::{History, RemediationState};

const HOURS: usize = 24;
const HOUR_MS: i64 = 3_600_000;

/// Per hour (oldest first): firing, resolved alerts; succeeded, failed remediations.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub firing: u32,
    pub resolved: u32,
    pub succeeded: u32,
    pub failed: u32,
}

pub fn buckets(history: &History, now_ms: i64) -> Result<[Bucket; HOURS], KvError> {
    let since = now_ms - HOURS as i64 * HOUR_MS;
    let mut out = [Bucket::default(); HOURS];
    let slot = |t: i64| -> Option<usize> {
        let i = usize::try_from((t - since) / HOUR_MS).ok()?;
        (i < HOURS).then_some(i)
    };
    history.for_each_alert_since(since, |a| {
        if let Some(i) = slot(a.received_at_ms) {
            if a.status == "firing" {
                out[i].firing += 1;
            } else {
                out[i].resolved += 1;
            }
        }
    })?;
    history.for_each_remediation_since(since, |r| {
        if let Some(i) = slot(r.created_at_ms) {
            match r.state {
                RemediationState::Succeeded => out[i].succeeded += 1,
                RemediationState::Failed | RemediationState::Interrupted => out[i].failed += 1,
                _ => {}
            }
        }
    })?;
    Ok(out)
}

/// Two stacked bars per hour: alerts (firing over resolved), remediations (failed over
/// succeeded). Each bar has a `<title>` with its numbers.
pub fn svg(buckets: &[Bucket; HOURS]) -> String {
    let (w, h, base) = (960.0_f64, 120.0_f64, 104.0_f64);
    let max = buckets
        .iter()
        .map(|b| (b.firing + b.resolved).max(b.succeeded + b.failed))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let scale = (base - 8.0) / max;
    let slot = w / HOURS as f64;
    let bar = slot * 0.38;
    let mut s = format!(
        r#"<svg viewBox="0 0 {w} {h}" role="img" aria-label="Alerts and remediations per hour, last 24 hours" preserveAspectRatio="none">"#
    );
    for (i, b) in buckets.iter().enumerate() {
        let x = i as f64 * slot + slot * 0.1;
        let hours_ago = HOURS - i;
        let mut stack = |x: f64, parts: [(&str, u32); 2], what: &str| {
            let mut y = base;
            for (class, n) in parts {
                let bh = n as f64 * scale;
                y -= bh;
                let _ = write!(
                    s,
                    r#"<rect class="bar-{class}" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}"><title>{what} {hours_ago}h ago: {n} {class}</title></rect>"#
                );
            }
        };
        stack(
            x,
            [("resolved", b.resolved), ("firing", b.firing)],
            "alerts",
        );
        stack(
            x + bar,
            [("succeeded", b.succeeded), ("failed", b.failed)],
            "remediations",
        );
        if i % 6 == 0 {
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{ty}">-{hours_ago}h</text>"#,
                ty = h - 4.0
            );
        }
    }
    s.push_str(r#"<text x="930" y="116">now</text></svg>"#);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_a_bar_pair_per_hour_scaled_to_the_largest() {
        let mut b = [Bucket::default(); HOURS];
        b[23] = Bucket {
            firing: 4,
            resolved: 0,
            succeeded: 2,
            failed: 2,
        };
        let svg = svg(&b);
        assert_eq!(svg.matches("<rect").count(), HOURS * 4);
        assert!(svg.contains("alerts 1h ago: 4 firing"));
        assert!(svg.contains(r#"height="96.0"><title>alerts 1h ago: 4 firing"#));
        assert!(svg.contains(r#"height="48.0"><title>remediations 1h ago: 2 failed"#));
    }
}
