//! `openfero replay`'s flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, ValueEnum};

use crate::client::{ClientArgs, Format};
use crate::operarios::{ClusterGuards, Mode, WindowDef};

/// Replay the recorded history against a candidate catalog: what would happen, against what
/// did. Nothing is proposed or executed.
#[derive(Debug, Clone, Args)]
#[command(group(
    ArgGroup::new("source")
        .required(true)
        .args(["server", "file", "data_dir"])
))]
pub struct ReplayArgs {
    /// Read the history from a running node's API (`GET /api/alerts/export`).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Read the history from a JSON-lines file in the export's format (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Read the history from a stopped node's data dir (sled lets one process open it).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The candidate catalog: a file or folder of operarius YAML, loaded as `serve
    /// --operarios` loads it.
    #[arg(long, value_name = "FOLDER")]
    pub catalog: PathBuf,
    /// Namespace assumed for operarios that name none.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Only alerts received at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = super::line::parse_time)]
    pub since: Option<i64>,
    /// Only alerts received before this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = super::line::parse_time)]
    pub until: Option<i64>,
    /// A table of the summary and the changed alerts, or JSON with every alert.
    #[arg(short = 'o', long, value_enum, default_value_t = ReplayFormat::Table)]
    pub output: ReplayFormat,
    /// Changed alerts listed in the table (the summary counts them all; `-o json` lists every
    /// alert).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Cluster-wide budget over every remediation, as `serve --budget-global`.
    #[arg(long, value_delimiter = ',', value_parser = WindowDef::parse_flag)]
    pub budget_global: Vec<WindowDef>,
    /// Budget per alert namespace, as `serve --budget-per-namespace`.
    #[arg(long, value_delimiter = ',', value_parser = WindowDef::parse_flag)]
    pub budget_per_namespace: Vec<WindowDef>,
    /// Overrides every operarius' mode, as `serve --mode`.
    #[arg(long, value_parser = Mode::parse)]
    pub mode: Option<Mode>,
    /// Policy on the rendered Jobs, as `serve --policy-file`.
    #[arg(long)]
    pub policy_file: Option<PathBuf>,
    /// With --server: a bearer token read from this file.
    #[arg(long, env = "OPENFERO_TOKEN_FILE", conflicts_with = "user")]
    pub token_file: Option<PathBuf>,
    /// With --server: basic authentication as this user (the password from
    /// `--password-file`).
    #[arg(long, env = "OPENFERO_USER", requires = "password_file")]
    pub user: Option<String>,
    /// With --server: the password of `--user`, read from this file.
    #[arg(long, env = "OPENFERO_PASSWORD_FILE", requires = "user")]
    pub password_file: Option<PathBuf>,
    /// With --server: trust only this CA (PEM) for https.
    #[arg(long, env = "OPENFERO_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// With --server: give up connecting after this long.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReplayFormat {
    Table,
    Json,
}

impl ReplayArgs {
    /// The client's settings for `--server`.
    pub fn client(&self, server: &str) -> ClientArgs {
        ClientArgs {
            server: server.to_owned(),
            token_file: self.token_file.clone(),
            user: self.user.clone(),
            password_file: self.password_file.clone(),
            ca_file: self.ca_file.clone(),
            output: Format::Json,
            request_timeout: self.request_timeout,
        }
    }

    /// The cluster-wide guard rails of the flags.
    pub fn cluster_guards(&self) -> Result<ClusterGuards, String> {
        let sorted = |v: &[WindowDef]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        let policy = match &self.policy_file {
            Some(path) => Some(crate::operarios::load_policy(path)?),
            None => None,
        };
        Ok(ClusterGuards {
            global: sorted(&self.budget_global),
            per_namespace: sorted(&self.budget_per_namespace),
            mode: self.mode,
            policy,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        replay: ReplayArgs,
    }

    fn parse(args: &[&str]) -> Result<ReplayArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("replay").chain(args.iter().copied())).map(|c| c.replay)
    }

    #[test]
    fn replay_takes_exactly_one_source_and_a_catalog() {
        let a = parse(&[
            "--file",
            "h.jsonl",
            "--catalog",
            "ops",
            "--since",
            "2026-12-01T00:00:00Z",
            "--budget-global",
            "10/1h",
            "-o",
            "json",
        ])
        .expect("parses");
        assert_eq!(a.file, Some(PathBuf::from("h.jsonl")));
        assert_eq!(a.since, Some(1_796_083_200_000));
        assert_eq!(a.output, ReplayFormat::Json);
        assert_eq!(a.cluster_guards().expect("guards").global.len(), 1);
        for bad in [
            &["--catalog", "ops"][..],
            &["--file", "h", "--data-dir", "d", "--catalog", "ops"],
            &["--server", "http://x", "--file", "h", "--catalog", "ops"],
            &["--file", "h"],
            &["--file", "h", "--catalog", "ops", "--until", "tomorrow"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
