//! `openfero-chaos`: a chaos campaign against a real openfero cluster. See chaos/README.md.
#![forbid(unsafe_code)]

mod args;
mod campaign;
mod checker;
mod cluster;
mod double;
mod faults;
mod load;
mod observe;
mod report;
mod rng;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = args::Args::parse();
    if let Some(path) = &args.check_evidence {
        return check_evidence(path, args.strict_goals);
    }
    let dir = args.report_dir.clone();
    // Ctrl-C or SIGTERM drops the campaign: every process guard kills its node by PID, the
    // temp data dirs are removed.
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("openfero-chaos: cannot watch SIGTERM: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = tokio::select! {
        r = campaign::run(args) => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("openfero-chaos: interrupted; nodes killed, data removed");
            return ExitCode::from(130);
        }
        _ = term.recv() => {
            eprintln!("openfero-chaos: terminated; nodes killed, data removed");
            return ExitCode::from(143);
        }
    };
    match outcome {
        Ok(report) => {
            let text = report.text();
            print!("\n{text}");
            let write = std::fs::write(dir.join("report.txt"), &text).and_then(|()| {
                std::fs::write(
                    dir.join("report.json"),
                    serde_json::to_vec_pretty(&report).unwrap_or_default(),
                )
            });
            if let Err(e) = write {
                eprintln!("openfero-chaos: cannot write the report: {e}");
                return ExitCode::from(2);
            }
            println!("report: {}", dir.join("report.txt").display());
            if report.failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("openfero-chaos: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `--check-evidence FILE`: the checker alone, on evidence gathered elsewhere.
fn check_evidence(path: &std::path::Path, strict_goals: bool) -> ExitCode {
    let evidence: checker::Evidence = match std::fs::read(path)
        .map_err(anyhow::Error::from)
        .and_then(|b| Ok(serde_json::from_slice(&b)?))
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "openfero-chaos: cannot read evidence `{}`: {e:#}",
                path.display()
            );
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    for v in checker::check_all(&evidence) {
        let broken = !v.held && (v.kind == checker::Kind::Safety || strict_goals);
        failed |= broken;
        let state = if v.held {
            "HELD"
        } else if broken {
            "BROKEN"
        } else {
            "MISSED (goal)"
        };
        println!("[{state}] {}: {}", v.invariant, v.summary);
        for line in &v.evidence {
            println!("    {line}");
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
