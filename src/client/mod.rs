//! The command-line client: `openfero alerts`, `remediations`, `remediation ID`, `operarios`,
//! `cluster` — calls to a running node's API (`--server`), printed as tables or as JSON/YAML.
//!
//! It reads the API's JSON as values, not as the server's types: a client of one version must
//! keep working against a node of another during a rolling upgrade, so it shows what is there
//! and ignores what it does not know.
//!
//! Exit codes ([`Exit`]): 0 done; 1 the node could not be reached or failed; 2 usage (clap);
//! 3 not found; 4 credentials missing, wrong or not allowed; 5 the request was refused as
//! invalid or unsafe (400, 409, 413, 422); 6 `remediation --wait` saw the remediation end
//! other than succeeded; 7 `--wait` gave up (`--timeout`).

mod api;
mod commands;
mod output;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

pub use api::{Api, ClientError};
pub use commands::{dispatch, run};

/// How a client command ended, as its process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Failed = 1,
    NotFound = 3,
    Denied = 4,
    Refused = 5,
    Unsuccessful = 6,
    TimedOut = 7,
}

/// The client's commands: each calls a running node (`--server`).
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Client: the alerts a running node recorded, newest first.
    Alerts(AlertsArgs),
    /// Client: remediations, newest first, optionally of one state or operarius.
    Remediations(RemediationsArgs),
    /// Client: one remediation's timeline and output; `--wait` until it ends.
    Remediation(RemediationArgs),
    /// Client: the operarios the cluster runs, with their selectors and problems.
    Operarios(OperariosArgs),
    /// Client: members, roles and lag (like `consul members`); membership and autopilot calls.
    Cluster(ClusterArgs),
}

/// Where the node is and how to authenticate; every client command takes these.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The node's API address (any member: reads are answered locally, writes forwarded).
    #[arg(
        global = true,
        long,
        env = "OPENFERO_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// A bearer token (a named token of `--auth-file`, or the admin token) read from this file.
    #[arg(
        global = true,
        long,
        env = "OPENFERO_TOKEN_FILE",
        conflicts_with = "user"
    )]
    pub token_file: Option<PathBuf>,
    /// Basic authentication as this user (the password from `--password-file`).
    #[arg(global = true, long, env = "OPENFERO_USER", requires = "password_file")]
    pub user: Option<String>,
    /// The password of `--user`, read from this file.
    #[arg(global = true, long, env = "OPENFERO_PASSWORD_FILE", requires = "user")]
    pub password_file: Option<PathBuf>,
    /// Trust only this CA (PEM) for an https `--server`.
    #[arg(global = true, long, env = "OPENFERO_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Output: a table for people, or the API's JSON or YAML for scripts.
    #[arg(global = true, short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Give up on a call after this long (`10s`, `1m`).
    #[arg(global = true, long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only `firing` or only `resolved` events.
    #[arg(long)]
    pub status: Option<String>,
    /// Case-insensitive substring of the alertname, fingerprint, a label or an annotation.
    #[arg(short = 'q', long)]
    pub query: Option<String>,
    /// At most this many, newest first (the node allows at most 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Clone, Args)]
pub struct RemediationsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only remediations in this state (pending, running, succeeded, failed, skipped, …).
    #[arg(long)]
    pub state: Option<String>,
    /// Only remediations of this operarius (`name` or `namespace/name`).
    #[arg(long)]
    pub operarius: Option<String>,
    /// At most this many, newest first (the node allows at most 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Clone, Args)]
pub struct RemediationArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The remediation id (`openfero remediations` lists them).
    pub id: String,
    /// Wait until the remediation ends (exit 0 when it succeeded, 6 when it ended otherwise).
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits before giving up (exit 7).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct OperariosArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub action: Option<ClusterAction>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ClusterAction {
    /// Members, roles and replication lag (the default).
    Members,
    /// Make a learner a voter (admin).
    Promote { node: String },
    /// Make a voter a learner (admin).
    Demote { node: String },
    /// Remove a member (admin); refused when it would break quorum.
    Remove { node: String },
    /// Pause or resume the autopilot (admin).
    Autopilot {
        #[arg(value_enum)]
        state: AutopilotState,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AutopilotState {
    Pause,
    Resume,
}
