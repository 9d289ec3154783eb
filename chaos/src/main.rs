//! `openfero-chaos`: a chaos campaign against a real openfero cluster. See chaos/README.md.
#![forbid(unsafe_code)]

mod args;
mod campaign;
mod checker;
mod cluster;
mod double;
mod faults;
mod inject;
mod linkproxy;
mod load;
mod netns;
mod observe;
mod report;
mod rng;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Args::parse();
    if let Some(path) = &args.check_evidence {
        return check_evidence(path, args.strict_goals);
    }
    // Namespaces are made, and this thread moved into the harness's, before the runtime
    // starts: every thread and socket made afterwards lives there.
    let (net, note) = match network(&args) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("openfero-chaos: {e:#}");
            return ExitCode::from(2);
        }
    };
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => {
            let code = rt.block_on(campaign_main(args, net.clone(), note));
            // Every node is killed (guards) before the namespaces go.
            drop(rt);
            code
        }
        Err(e) => {
            eprintln!("openfero-chaos: tokio runtime: {e}");
            ExitCode::from(2)
        }
    };
    drop(net);
    code
}

/// The namespaces of this run, or why there are none.
fn network(args: &args::Args) -> anyhow::Result<(Option<Arc<netns::Topology>>, String)> {
    if args.loopback {
        return Ok((
            None,
            "network faults skipped (--loopback): nodes run on 127.x loopback addresses".into(),
        ));
    }
    if let Some(why) = netns::unavailable() {
        return Ok((
            None,
            format!(
                "network faults (isolation, splits, packet loss) skipped: {why}; nodes run on \
                 127.x loopback addresses"
            ),
        ));
    }
    netns::sweep_stale();
    let t = netns::Topology::create(&campaign::node_names(args.nodes))?;
    t.enter_harness()?;
    let note = format!(
        "network namespaces {}-*: harness {} ({}), nodes {}; network faults by nftables",
        t.harness_ns.trim_end_matches("-h"),
        t.harness_ip,
        t.harness_ns,
        t.nodes
            .iter()
            .map(|(n, x)| format!("{n}={}", x.ip))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok((Some(Arc::new(t)), note))
}

async fn campaign_main(
    args: args::Args,
    net: Option<Arc<netns::Topology>>,
    note: String,
) -> ExitCode {
    let dir = args.report_dir.clone();
    // Ctrl-C or SIGTERM drops the campaign: every process guard kills its node by PID, the
    // temp data dirs are removed, then main deletes the namespaces.
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("openfero-chaos: cannot watch SIGTERM: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = tokio::select! {
        r = campaign::run(args, net, note) => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("openfero-chaos: interrupted; nodes killed, data and namespaces removed");
            return ExitCode::from(130);
        }
        _ = term.recv() => {
            eprintln!("openfero-chaos: terminated; nodes killed, data and namespaces removed");
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
