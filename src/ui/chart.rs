//! The alerts-and-remediations chart of the last 24 hours, drawn as SVG on the server from the
//! per-hour counts apply keeps (`remediation::hourly`): 24 reads, however many alerts are held.
//!
//! Two stacked bars per hour (alerts: firing over resolved; remediations that ended: failed
//! over succeeded), a count axis with gridlines, hour ticks (UTC), a legend naming each series
//! with its total (HTML, above the drawing), and a `<title>` per bar with its hour and numbers (the browser shows it on
//! hover without JS; `app.js` turns it into an instant tooltip). Colours come from `app.css`,
//! so both themes apply.

use std::fmt::Write;

use openfero_raft::KvError;

use crate::remediation::hourly::{hour_of, HourCounts, HOUR_MS};
use crate::remediation::History;

const HOURS: usize = 24;

/// The drawing's size in SVG units (it scales to the page's width).
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 200.0;
/// The plot area inside it: room for count labels left and hour labels below.
const LEFT: f64 = 44.0;
const RIGHT: f64 = WIDTH - 14.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = HEIGHT - 26.0;
/// Hour labels every this many hours.
const LABEL_EVERY: usize = 3;
/// At most this many intervals on the count axis.
const MAX_INTERVALS: u64 = 5;

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

/// The count axis: a step of 1, 2 or 5 × 10ⁿ giving at most [`MAX_INTERVALS`] intervals up
/// to `max`, and the top of the axis (a multiple of the step, at least 1).
fn count_axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let mut magnitude = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            let intervals = max.div_ceil(step);
            if intervals <= MAX_INTERVALS {
                return (step, step * intervals);
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// One series: its CSS class (`bar-<class>`), the word in the legend, and its count in an hour.
struct Series {
    class: &'static str,
    word: &'static str,
    count: fn(&HourCounts) -> u64,
}

const ALERTS: [Series; 2] = [
    Series {
        class: "resolved",
        word: "resolved",
        count: |c| c.resolved,
    },
    Series {
        class: "firing",
        word: "firing",
        count: |c| c.firing,
    },
];

const REMEDIATIONS: [Series; 2] = [
    Series {
        class: "succeeded",
        word: "succeeded",
        count: |c| c.succeeded,
    },
    Series {
        class: "failed",
        word: "failed",
        count: |c| c.failed,
    },
];

/// `2 firing, 1 resolved`: the parts of a bar, top first as they are stacked.
fn parts(series: &[Series; 2], c: &HourCounts) -> String {
    series
        .iter()
        .rev()
        .map(|s| format!("{} {}", (s.count)(c), s.word))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The chart: its legend (HTML) and the SVG.
pub fn html(b: &Buckets) -> String {
    let total = |f: fn(&HourCounts) -> u64| b.hours.iter().map(f).sum::<u64>();
    let (firing, resolved) = (total(|c| c.firing), total(|c| c.resolved));
    let (succeeded, failed) = (total(|c| c.succeeded), total(|c| c.failed));
    let max = b
        .hours
        .iter()
        .map(|c| (c.firing + c.resolved).max(c.succeeded + c.failed))
        .max()
        .unwrap_or(0);
    let (step, top) = count_axis(max);
    let scale = (BOTTOM - TOP) / top as f64;
    let slot = (RIGHT - LEFT) / HOURS as f64;
    let bar = slot * 0.36;
    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let label = format!(
        "Alerts and remediations per hour (UTC), last 24 hours: {} ({firing} firing, \
         {resolved} resolved), {} ended ({succeeded} succeeded, {failed} failed)",
        plural(firing + resolved, "alert"),
        plural(succeeded + failed, "remediation"),
    );
    // The legend, one entry per series: swatch, word, total over the 24 hours. HTML, so it
    // wraps on a narrow screen and reads at the page's font size.
    let mut s = String::from(
        r#"<div class="chart-head"><span class="muted">Per hour, last 24 hours (UTC)</span><ul class="legend">"#,
    );
    for (class, word, n) in [
        ("firing", "alerts firing", firing),
        ("resolved", "alerts resolved", resolved),
        ("succeeded", "remediations succeeded", succeeded),
        ("failed", "remediations failed", failed),
    ] {
        let _ = write!(
            s,
            r#"<li class="legend-item" data-series="{class}"><span class="swatch bar-{class}"></span>{word} ({n})</li>"#,
        );
    }
    s.push_str("</ul></div>");
    let _ = write!(
        s,
        r#"<svg class="chart-svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}">"#
    );

    // The count axis: a gridline and a label per step.
    s.push_str(r#"<g class="axis y-axis">"#);
    for v in (0..=top).step_by(usize::try_from(step).unwrap_or(usize::MAX)) {
        let y = BOTTOM - v as f64 * scale;
        let _ = write!(
            s,
            r#"<line class="grid{base}" x1="{LEFT}" x2="{RIGHT}" y1="{y:.1}" y2="{y:.1}"></line><text class="tick-y" x="{lx}" y="{y:.1}" dy="0.32em" text-anchor="end">{v}</text>"#,
            base = if v == 0 { " base" } else { "" },
            lx = LEFT - 6.0,
        );
    }
    s.push_str("</g>");

    // The hour axis: a tick per hour, a label every few hours, "now" at the right end.
    s.push_str(r#"<g class="axis x-axis">"#);
    for i in 0..=HOURS {
        let x = LEFT + i as f64 * slot;
        let long = i % LABEL_EVERY == 0;
        let _ = write!(
            s,
            r#"<line class="tick" x1="{x:.1}" x2="{x:.1}" y1="{BOTTOM}" y2="{y2}"></line>"#,
            y2 = BOTTOM + if long { 5.0 } else { 3.0 },
        );
        if long && i < HOURS {
            let _ = write!(
                s,
                r#"<text class="tick-x" x="{x:.1}" y="{ty}" text-anchor="middle">{}</text>"#,
                clock(b.first_hour + i as u64),
                ty = BOTTOM + 17.0,
            );
        }
    }
    let _ = write!(
        s,
        r#"<text class="tick-x" x="{RIGHT}" y="{ty}" text-anchor="end">now</text></g>"#,
        ty = BOTTOM + 17.0,
    );

    // The bars: each in a group with its title and a full-height area that takes the hover.
    for (i, c) in b.hours.iter().enumerate() {
        let hour = b.first_hour + i as u64;
        let span = format!("{}–{} UTC", clock(hour), clock(hour + 1));
        let x0 = LEFT + i as f64 * slot + slot * 0.12;
        for (x, what, series) in [
            (x0, "alerts", &ALERTS),
            (x0 + bar + 1.0, "remediations", &REMEDIATIONS),
        ] {
            let _ = write!(
                s,
                r#"<g class="bar" data-kind="{what}"><title>{what} {span}: {}</title><rect class="hit" x="{x:.1}" y="{TOP}" width="{bar:.1}" height="{h:.1}"></rect>"#,
                parts(series, c),
                h = BOTTOM - TOP,
            );
            let mut y = BOTTOM;
            for part in series {
                let n = (part.count)(c);
                if n == 0 {
                    continue;
                }
                let bh = n as f64 * scale;
                y -= bh;
                let _ = write!(
                    s,
                    r#"<rect class="bar-{}" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}"></rect>"#,
                    part.class,
                );
            }
            s.push_str("</g>");
        }
    }
    if max == 0 {
        let _ = write!(
            s,
            r#"<text class="chart-empty" x="{x}" y="{y}" text-anchor="middle">No alerts or remediations in the last 24 hours</text>"#,
            x = (LEFT + RIGHT) / 2.0,
            y = (TOP + BOTTOM) / 2.0,
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titles(svg: &str) -> Vec<&str> {
        svg.split("<title>")
            .skip(1)
            .filter_map(|t| t.split("</title>").next())
            .collect()
    }

    #[test]
    fn the_count_axis_steps_by_one_two_or_five() {
        assert_eq!(count_axis(0), (1, 1));
        assert_eq!(count_axis(3), (1, 3));
        assert_eq!(count_axis(5), (1, 5));
        assert_eq!(count_axis(7), (2, 8));
        assert_eq!(count_axis(13), (5, 15));
        assert_eq!(count_axis(100), (20, 100));
        assert_eq!(count_axis(101), (50, 150));
        assert_eq!(count_axis(99_999), (20_000, 100_000));
    }

    #[test]
    fn the_chart_has_axes_a_legend_and_a_titled_bar_pair_per_hour() {
        let mut hours = vec![HourCounts::default(); HOURS];
        hours[23] = HourCounts {
            firing: 4,
            resolved: 0,
            succeeded: 2,
            failed: 2,
        };
        hours[0].resolved = 1;
        // 2026-01-01T00:00Z is hour 490 896; the last bar is 23:00–00:00.
        let first_hour = 490_896 - 24;
        let svg = html(&Buckets { first_hour, hours });
        let titles = titles(&svg);
        assert_eq!(titles.len(), HOURS * 2, "{svg}");
        assert_eq!(
            titles[46], "alerts 23:00–00:00 UTC: 4 firing, 0 resolved",
            "{svg}"
        );
        assert_eq!(
            titles[47],
            "remediations 23:00–00:00 UTC: 2 failed, 2 succeeded"
        );
        assert_eq!(titles[0], "alerts 00:00–01:00 UTC: 0 firing, 1 resolved");
        // Scaled to the axis top (4 = 4 × 1): the full plot height for the 4 firing.
        let plot = BOTTOM - TOP;
        assert!(
            svg.contains(&format!(
                r#"class="bar-firing" x="{:.1}" y="{TOP:.1}" width"#,
                LEFT + 23.0 * (RIGHT - LEFT) / 24.0 + (RIGHT - LEFT) / 24.0 * 0.12
            )),
            "{svg}"
        );
        assert!(svg.contains(&format!(r#"height="{:.1}"></rect></g>"#, plot / 2.0)));
        // Count ticks 0..=4, hour labels every 3 hours, the legend with totals.
        for v in 0..=4 {
            assert!(
                svg.contains(&format!(r#"text-anchor="end">{v}</text>"#)),
                "tick {v}"
            );
        }
        assert!(!svg.contains(r#"text-anchor="end">5</text>"#));
        assert_eq!(svg.matches(r#"class="tick-x""#).count(), 8 + 1, "{svg}");
        assert!(svg.contains(">00:00</text>") && svg.contains(">21:00</text>"));
        assert!(svg.contains(r#"<span class="swatch bar-firing"></span>alerts firing (4)</li>"#));
        assert!(svg.contains(">remediations failed (2)</li>"));
        assert!(svg.contains(r#"role="img" aria-label="Alerts and remediations per hour (UTC), last 24 hours: 5 alerts (4 firing, 1 resolved), 4 remediations ended (2 succeeded, 2 failed)""#));
        assert!(!svg.contains("chart-empty"));
    }

    #[test]
    fn an_empty_day_says_so() {
        let svg = html(&Buckets {
            first_hour: 1000,
            hours: vec![HourCounts::default(); HOURS],
        });
        assert!(svg.contains("No alerts or remediations in the last 24 hours"));
        assert_eq!(svg.matches(r#"<rect class="bar-"#).count(), 0, "no bars");
        assert_eq!(
            svg.matches(r#"<li class="legend-item""#).count(),
            4,
            "the legend stays"
        );
    }
}
