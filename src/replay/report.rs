//! The replay's report: what would happen against what did, per alert, and the summary — as
//! tables for people or as one JSON document.

use std::collections::BTreeMap;
use std::io::Write;

use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;

use super::candidate::Candidate;
use super::decision::{diff, AlertDiff, Decision, Decisions, Summary};
use super::error::ReplayError;
use super::line::DidRemediation;
use super::scratch::Scratch;
use crate::ids::RemediationId;
use crate::operarios::RenderedJob;
use crate::remediation::RemediationRecord;
use crate::time::format_ms;

/// The execution assumption, as the report states it.
pub const EXECUTION: &str = "nothing is executed: a run the history has (same alert event, same \
    operarius) starts when it started, or when the replay makes it pending if later, and ends \
    as it ended, after as long; one the history admitted but had not started stays pending; \
    any other run starts and succeeds at once, at the time it became pending, so concurrency \
    slots free at once and budgets and breakers count it as a success. An approval is given when \
    the history's run started, a denial or an expiry when the history's ended it; pauses, \
    breaker resets and follow-ups (silence, verify, notify) are not replayed. Steps due in the \
    same millisecond as an alert come first.";

/// One replayed alert, as kept while the replay runs.
#[derive(Debug, Clone)]
pub(super) struct Replayed {
    pub seq: u64,
    pub received_at_ms: i64,
    /// Its sequence number in the replay's store.
    pub scratch_seq: u64,
    pub did: Vec<DidRemediation>,
    pub would: Vec<RemediationId>,
}

/// How the replay went, for the report's header.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Header {
    pub source: String,
    pub catalog: String,
    pub operarios: usize,
    pub catalog_fingerprint: String,
    pub since: Option<String>,
    pub until: Option<String>,
    /// Lines read from the source.
    pub lines_read: u64,
    /// Lines received outside `since`/`until`.
    pub outside_window: u64,
    /// Lines whose event was replayed already (left out of the comparison).
    pub repeated_events: u64,
    /// Commands applied to the replay's state machine.
    pub commands_applied: u64,
    pub elapsed_seconds: f64,
    pub alerts_per_second: f64,
    pub execution: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertRow<'a> {
    seq: u64,
    received_at: String,
    alertname: &'a str,
    fingerprint: &'a str,
    labels: &'a BTreeMap<String, String>,
    #[serde(flatten)]
    diff: &'a AlertDiff,
    did: Vec<SideView>,
    would: Vec<SideView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SideView {
    operarius: String,
    id: String,
    decision: Decision,
    state: String,
    reason: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_name: Option<String>,
    /// The rendered Job (the replay's side only).
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<JobJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobJson {
    image: String,
    command: Vec<String>,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    timeout_seconds: Option<i64>,
    job_template: serde_json::Value,
}

impl From<RenderedJob> for JobJson {
    fn from(r: RenderedJob) -> Self {
        Self {
            image: r.image,
            command: r.command,
            args: r.args,
            env: r.env.into_iter().collect(),
            timeout_seconds: r.timeout_secs,
            job_template: serde_json::from_str(&r.job_template_json)
                .unwrap_or(serde_json::Value::Null),
        }
    }
}

fn did_view(d: &DidRemediation) -> SideView {
    SideView {
        operarius: d.operarius.clone(),
        id: d.id.clone(),
        decision: did_decision(d),
        state: d.state.clone(),
        reason: d.reason.clone(),
        started_at: d.started_at_ms.map(format_ms),
        finished_at: d.finished_at_ms.map(format_ms),
        job_name: None,
        job: None,
    }
}

fn did_decision(d: &DidRemediation) -> Decision {
    Decision::classify(&d.state, d.reason.as_deref(), d.started_at_ms.is_some())
}

fn would_decision(r: &RemediationRecord) -> Decision {
    Decision::classify(
        r.state.as_str(),
        r.reason.as_deref(),
        r.started_at_ms.is_some(),
    )
}

fn would_view(r: RemediationRecord) -> SideView {
    SideView {
        decision: would_decision(&r),
        operarius: r.operarius,
        id: r.id.0,
        state: r.state.as_str().to_owned(),
        reason: r.reason,
        started_at: r.started_at_ms.map(format_ms),
        finished_at: r.finished_at_ms.map(format_ms),
        job_name: Some(r.job_name),
        job: r.rendered.map(JobJson::from),
    }
}

/// The replay's remediations of one alert.
fn would_records(
    scratch: &Scratch,
    ids: &[RemediationId],
) -> Result<Vec<RemediationRecord>, ReplayError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(r) = scratch.remediation(id)? {
            out.push(r);
        }
    }
    Ok(out)
}

fn did_decisions(r: &Replayed) -> Decisions {
    r.did
        .iter()
        .map(|d| (d.operarius.clone(), did_decision(d)))
        .collect()
}

fn would_decisions(records: &[RemediationRecord]) -> Decisions {
    records
        .iter()
        .map(|r| (r.operarius.clone(), would_decision(r)))
        .collect()
}

/// Compare every alert; the summary and each alert's difference, in order.
pub(super) fn compare(
    scratch: &Scratch,
    replayed: &[Replayed],
) -> Result<(Summary, Vec<AlertDiff>), ReplayError> {
    let mut summary = Summary::default();
    let mut diffs = Vec::with_capacity(replayed.len());
    for r in replayed {
        let did = did_decisions(r);
        let would = would_decisions(&would_records(scratch, &r.would)?);
        let d = diff(&did, &would);
        summary.add(&did, &would, &d);
        diffs.push(d);
    }
    Ok((summary, diffs))
}

/// The whole report as one JSON document: `replay` (the header), `summary`, and every alert.
pub(super) fn write_json(
    header: &Header,
    summary: &Summary,
    scratch: &Scratch,
    replayed: &[Replayed],
    diffs: &[AlertDiff],
    out: &mut dyn Write,
) -> Result<(), ReplayError> {
    let io = ReplayError::Write;
    let json = |e: serde_json::Error| ReplayError::Write(e.into());
    out.write_all(b"{\"replay\":").map_err(io)?;
    serde_json::to_writer(&mut *out, header).map_err(json)?;
    out.write_all(b",\"summary\":").map_err(io)?;
    serde_json::to_writer(&mut *out, summary).map_err(json)?;
    out.write_all(b",\"alerts\":[").map_err(io)?;
    for (i, (r, d)) in replayed.iter().zip(diffs).enumerate() {
        if i > 0 {
            out.write_all(b",").map_err(io)?;
        }
        out.write_all(b"\n").map_err(io)?;
        let alert = scratch.alert(r.scratch_seq)?;
        let empty = BTreeMap::new();
        let (alertname, fingerprint, labels) = match &alert {
            Some(a) => (a.alertname.as_str(), a.fingerprint.as_str(), &a.labels),
            None => ("", "", &empty),
        };
        let row = AlertRow {
            seq: r.seq,
            received_at: format_ms(r.received_at_ms),
            alertname,
            fingerprint,
            labels,
            diff: d,
            did: r.did.iter().map(did_view).collect(),
            would: would_records(scratch, &r.would)?
                .into_iter()
                .map(would_view)
                .collect(),
        };
        serde_json::to_writer(&mut *out, &row).map_err(json)?;
    }
    out.write_all(b"\n]}\n").map_err(io)?;
    Ok(())
}

fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.iter().map(|h| h.to_uppercase()));
    if !t.is_tty() {
        t.set_width(200);
    }
    t
}

fn side(decisions: &Decisions) -> String {
    if decisions.is_empty() {
        return "-".into();
    }
    decisions
        .iter()
        .map(|(op, d)| format!("{op}: {}", d.label()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The summary, per operarius, and the first `limit` changed alerts, as tables.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_table(
    header: &Header,
    candidate: &Candidate,
    summary: &Summary,
    scratch: &Scratch,
    replayed: &[Replayed],
    diffs: &[AlertDiff],
    limit: usize,
    out: &mut dyn Write,
) -> Result<(), ReplayError> {
    let io = ReplayError::Write;
    writeln!(
        out,
        "replayed {} alerts from {} against {} ({} operarios) in {:.1}s ({:.0} alerts/s)",
        summary.alerts_replayed,
        header.source,
        candidate.folder.display(),
        candidate.len(),
        header.elapsed_seconds,
        header.alerts_per_second
    )
    .map_err(io)?;
    if header.repeated_events > 0 || header.outside_window > 0 {
        writeln!(
            out,
            "left out: {} lines outside --since/--until, {} repeating an event already replayed",
            header.outside_window, header.repeated_events
        )
        .map_err(io)?;
    }
    writeln!(out, "{}\n", header.execution).map_err(io)?;

    let mut t = table(&[
        "alerts",
        "changed",
        "new runs",
        "removed runs",
        "did run",
        "would run",
    ]);
    t.add_row(vec![
        summary.alerts_replayed.to_string(),
        summary.changed_decisions.to_string(),
        summary.new_runs.to_string(),
        summary.removed_runs.to_string(),
        summary.did_run.to_string(),
        summary.would_run.to_string(),
    ]);
    writeln!(out, "{t}\n").map_err(io)?;

    if !summary.per_operarius.is_empty() {
        let mut t = table(&[
            "operarius",
            "changed",
            "new runs",
            "removed runs",
            "did run",
            "would run",
        ]);
        for (op, s) in &summary.per_operarius {
            t.add_row(vec![
                op.clone(),
                s.changed_decisions.to_string(),
                s.new_runs.to_string(),
                s.removed_runs.to_string(),
                s.did_run.to_string(),
                s.would_run.to_string(),
            ]);
        }
        writeln!(out, "{t}\n").map_err(io)?;
    }

    if summary.changed_decisions == 0 {
        writeln!(out, "no decision changes").map_err(io)?;
        return Ok(());
    }
    let shown = summary.changed_decisions.min(limit as u64);
    writeln!(
        out,
        "changed alerts ({shown} of {}; -o json lists every alert):",
        summary.changed_decisions
    )
    .map_err(io)?;
    let mut t = table(&["seq", "received", "alert", "fingerprint", "did", "would"]);
    for (r, _) in replayed
        .iter()
        .zip(diffs)
        .filter(|(_, d)| d.changed)
        .take(limit)
    {
        let alert = scratch.alert(r.scratch_seq)?;
        let would = would_decisions(&would_records(scratch, &r.would)?);
        t.add_row(vec![
            r.seq.to_string(),
            chrono::DateTime::from_timestamp_millis(r.received_at_ms)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            alert
                .as_ref()
                .map(|a| a.alertname.clone())
                .unwrap_or_default(),
            alert
                .as_ref()
                .map(|a| a.fingerprint.chars().take(16).collect())
                .unwrap_or_default(),
            side(&did_decisions(r)),
            side(&would),
        ]);
    }
    writeln!(out, "{t}").map_err(io)?;
    Ok(())
}
