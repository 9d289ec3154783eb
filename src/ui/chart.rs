//! The alerts-and-remediations chart of the last 24 hours, drawn as SVG on the server from the
//! per-hour counts apply keeps (`remediation::hourly`): 24 reads, however many alerts are held.

use std::fmt::Write;

use openfero_raft::KvError;

use crate::remediation::hourly::{hour_of, HourCounts, HOUR_MS};
use crate::remediation::History;

const HOURS: usize = 24;

/// The chart's data: the counts of the 24 clock hours up to and including the current one,
/// oldest first, and the first of those hours (since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub first_hour: u64,
    pub hours: Vec<HourCounts>,
}

pub fn buckets(history: &History, now_ms: i64) -> Result<Buckets, KvError> {
    let last = hour_of(now_ms);
    let first = last.saturating_sub(HOURS as u64 - 1);
    Ok(Buckets {
        first_hour: first,
        hours: history.hourly(first, last)?,
    })
}

/// `HH:00` (UTC) of an hour since the epoch.
fn clock(hour: u64) -> String {
    let ms = i64::try_from(hour).unwrap_or(0).saturating_mul(HOUR_MS);
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%H:00").to_string())
        .unwrap_or_default()
}

/// Two stacked bars per hour: alerts (firing over resolved), remediations (failed over
/// succeeded). Each bar has a `<title>` with its hour (UTC) and numbers.
pub fn svg(b: &Buckets) -> String {
    let (w, h, base) = (960.0_f64, 120.0_f64, 104.0_f64);
    let max = b
        .hours
        .iter()
        .map(|c| (c.firing + c.resolved).max(c.succeeded + c.failed))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let scale = (base - 8.0) / max;
    let slot = w / HOURS as f64;
    let bar = slot * 0.38;
    let mut s = format!(
        r#"<svg viewBox="0 0 {w} {h}" role="img" aria-label="Alerts and remediations per hour (UTC), last 24 hours" preserveAspectRatio="none">"#
    );
    for (i, c) in b.hours.iter().enumerate() {
        let x = i as f64 * slot + slot * 0.1;
        let hour = b.first_hour + i as u64;
        let span = format!("{}–{} UTC", clock(hour), clock(hour + 1));
        let mut stack = |x: f64, parts: [(&str, u64); 2], what: &str| {
            let mut y = base;
            for (class, n) in parts {
                let bh = n as f64 * scale;
                y -= bh;
                let _ = write!(
                    s,
                    r#"<rect class="bar-{class}" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}"><title>{what} {span}: {n} {class}</title></rect>"#
                );
            }
        };
        stack(
            x,
            [("resolved", c.resolved), ("firing", c.firing)],
            "alerts",
        );
        stack(
            x + bar,
            [("succeeded", c.succeeded), ("failed", c.failed)],
            "remediations",
        );
        if i % 6 == 0 {
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{ty}">{label}</text>"#,
                ty = h - 4.0,
                label = clock(hour)
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
        let mut hours = vec![HourCounts::default(); HOURS];
        hours[23] = HourCounts {
            firing: 4,
            resolved: 0,
            succeeded: 2,
            failed: 2,
        };
        // 2026-01-01T00:00Z is hour 490 896; the last bar is 23:00–00:00.
        let first_hour = 490_896 - 24;
        let svg = svg(&Buckets { first_hour, hours });
        assert_eq!(svg.matches("<rect").count(), HOURS * 4);
        assert!(svg.contains("alerts 23:00–00:00 UTC: 4 firing"), "{svg}");
        assert!(svg.contains(r#"height="96.0"><title>alerts 23:00–00:00 UTC: 4 firing"#));
        assert!(svg.contains(r#"height="48.0"><title>remediations 23:00–00:00 UTC: 2 failed"#));
        assert!(svg.contains(">00:00</text>"), "hour labels: {svg}");
    }
}
