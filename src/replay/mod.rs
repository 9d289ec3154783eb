//! `openfero replay`: the recorded history against a candidate catalog — what *would* happen
//! with it, against what *did* happen. Nothing is proposed or executed.
//!
//! The history (a node's export, a JSON-lines file of it, or a stopped node's data dir;
//! `source`, `line`) is applied, oldest first, as the `IngestAlerts` commands that recorded it,
//! each with its recorded `received_at_ms`, to a state machine of the replay's own (`scratch`:
//! a temporary sled folder, the cluster's apply code) after the candidate catalog (`candidate`)
//! was synced into it. Runs are simulated (see `scratch` and ARCHITECTURE.md), so cooldowns,
//! budgets, concurrency and breakers decide on the replayed times. `decision` compares each
//! alert's decisions; `report` prints them.

mod args;
mod candidate;
mod decision;
mod error;
mod line;
mod progress;
mod report;
mod scratch;
mod source;

use std::io::Write;
use std::time::Instant;

pub use args::{ReplayArgs, ReplayFormat};
pub use decision::{diff, AlertDiff, Decision, Decisions, OperariusSummary, Summary};
pub use error::ReplayError;
pub use line::{parse_time, HistoryLine, LineAlert, LineRemediation, LineWebhook};

use candidate::Candidate;
use progress::Progress;
use report::{Header, Replayed};
use scratch::Scratch;
use source::Source;

/// Runs `openfero replay`, the report to stdout, errors to stderr; the exit code.
pub fn run(args: &ReplayArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("openfero: cannot start the runtime: {e}");
            return 1;
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // Stopped by a signal, the replay is dropped (its temporary folder with it) instead of
    // the process being killed.
    let result = runtime.block_on(async {
        tokio::select! {
            r = replay(args, &mut out) => Some(r),
            () = stop_signal() => None,
        }
    });
    let Some(result) = result else {
        eprintln!("openfero: replay interrupted");
        return 130;
    };
    let flushed = out.flush();
    match result {
        Ok(_) => match flushed {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                eprintln!("openfero: cannot write the report: {e}");
                1
            }
            _ => 0,
        },
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(ReplayError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("openfero: {e}");
            e.exit_code()
        }
    }
}

/// SIGINT or SIGTERM (never, when the handlers cannot be installed).
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// Replays the history `args` name against their catalog and writes the report to `out`.
pub async fn replay(args: &ReplayArgs, out: &mut dyn Write) -> Result<Summary, ReplayError> {
    if let (Some(since), Some(until)) = (args.since, args.until) {
        if since >= until {
            return Err(ReplayError::Usage("--since must be before --until".into()));
        }
    }
    let cluster = args.cluster_guards().map_err(ReplayError::Usage)?;
    let candidate = Candidate::load(&args.catalog, &args.namespace, cluster)?;
    for p in &candidate.problems {
        eprintln!("openfero: candidate catalog: {p}");
    }
    let (mut source, extent) = Source::open(args).await?;
    let mut scratch = Scratch::new()?;
    scratch.sync(&candidate).await?;

    let progress = Progress::new(extent);
    let started = Instant::now();
    let mut replayed = Vec::new();
    let (mut lines, mut outside, mut repeated) = (0u64, 0u64, 0u64);
    while let Some(rec) = source.next().await? {
        lines += 1;
        if lines.is_multiple_of(64) {
            // Apply never waits: let a stop signal be seen.
            tokio::task::yield_now().await;
        }
        progress.tick(lines, source.bytes);
        let t = rec.received_at_ms;
        if args.since.is_some_and(|s| t < s) || args.until.is_some_and(|u| t >= u) {
            outside += 1;
            continue;
        }
        let got = scratch.ingest(&rec).await?;
        if !got.new {
            repeated += 1;
            continue;
        }
        replayed.push(Replayed {
            seq: rec.seq,
            received_at_ms: t,
            scratch_seq: replayed.len() as u64 + 1,
            did: rec.did,
            would: got.remediations,
        });
    }
    scratch.finish().await?;
    let elapsed = started.elapsed().as_secs_f64();
    progress.done();

    let (summary, diffs) = report::compare(&scratch, &replayed)?;
    let header = Header {
        source: source.name.clone(),
        catalog: candidate.folder.display().to_string(),
        operarios: candidate.len(),
        catalog_fingerprint: candidate.fingerprint.clone(),
        since: args.since.map(crate::time::format_ms),
        until: args.until.map(crate::time::format_ms),
        lines_read: lines,
        outside_window: outside,
        repeated_events: repeated,
        commands_applied: scratch.applied,
        elapsed_seconds: elapsed,
        alerts_per_second: if elapsed > 0.0 {
            replayed.len() as f64 / elapsed
        } else {
            0.0
        },
        execution: report::EXECUTION,
    };
    match args.output {
        ReplayFormat::Json => {
            report::write_json(&header, &summary, &scratch, &replayed, &diffs, out)?
        }
        ReplayFormat::Table => report::write_table(
            &header, &candidate, &summary, &scratch, &replayed, &diffs, args.limit, out,
        )?,
    }
    Ok(summary)
}
