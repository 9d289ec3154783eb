use std::process::ExitCode;

use clap::Parser;
use openfero::config::{Cli, CliCommand};

/// `EX_USAGE`: the configuration cannot be used.
const EXIT_CONFIG: u8 = 64;
/// `EX_TEMPFAIL`: Raft stopped on a storage error (a full disk, a failed flush); a restart once
/// the disk is back recovers the node.
const EXIT_RAFT_STOPPED: u8 = 75;

fn main() -> ExitCode {
    let cli = Cli::parse_from(openfero::config::go_style_flags(std::env::args_os()));
    match cli.into_command() {
        CliCommand::Validate(args) => {
            match openfero::validate::validate(&args, &mut std::io::stdout()) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("openfero: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        CliCommand::Auth(cmd) => {
            let stdin = std::io::stdin();
            match openfero::auth::run_command(&cmd, &mut stdin.lock(), &mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("openfero: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        CliCommand::Replay(args) => ExitCode::from(openfero::replay::run(&args)),
        CliCommand::Client(command) => ExitCode::from(openfero::client::run(command) as u8),
        CliCommand::Crd => {
            print!("{}", openfero::operarios::crd_yaml());
            ExitCode::SUCCESS
        }
        CliCommand::Certs(cmd) => {
            use openfero::certs::{init_with, issue, Existing};
            use openfero::config::CertsCommand;
            let (dir, done) = match cmd {
                CertsCommand::Init {
                    dir,
                    nodes,
                    days,
                    overwrite,
                } => {
                    let existing = if overwrite {
                        Existing::Overwrite
                    } else {
                        Existing::Refuse
                    };
                    let r = init_with(&dir, &nodes, days, existing);
                    (dir, r)
                }
                CertsCommand::Issue { dir, node, days } => {
                    let r = issue(&dir, &node, days);
                    (dir, r)
                }
            };
            match done {
                Ok(()) => {
                    println!("certificates written to {}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("openfero: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        CliCommand::Serve(args) => {
            openfero::telemetry::init(&args.log, args.log_format);
            if let Err(e) = args.validate() {
                eprintln!("openfero: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("openfero: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(openfero::app::run(*args, shutdown_signal())) {
                Ok(()) => ExitCode::SUCCESS,
                // Logged once already, with its reason.
                Err(e) if e.is::<openfero::app::RaftStopped>() => ExitCode::from(EXIT_RAFT_STOPPED),
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "openfero stopped on an error");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// SIGTERM (Kubernetes) or SIGINT (a terminal).
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
