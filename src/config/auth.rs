//! Authentication flags (`--auth-*`, `--metrics-auth`, `--webhook-basic-auth-file`).

use std::path::PathBuf;

use clap::Args;

use super::ServeArgs;

pub use crate::auth::{AuthCommand, MetricsAuth};

/// API and UI users and roles, and the webhook's basic auth. Secrets come from files only.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// YAML file of users (argon2 password hashes), named bearer tokens (SHA-256) and the roles
    /// of proxy users; with it every page and API call needs a role (viewer, operator, admin).
    /// Without it the UI and API are open and admin calls need `--admin-token-file` or
    /// loopback.
    #[arg(long, env = "OPENFERO_AUTH_FILE")]
    pub auth_file: Option<PathBuf>,
    /// Header in which an authenticating proxy names the user (e.g. `X-Auth-Request-User`),
    /// believed only from `--auth-proxy-cidrs`; the role comes from the auth file's `proxy`.
    #[arg(long, env = "OPENFERO_AUTH_PROXY_HEADER")]
    pub auth_proxy_header: Option<String>,
    /// Addresses or CIDR ranges the proxy connects from, comma separated.
    #[arg(long, env = "OPENFERO_AUTH_PROXY_CIDRS", value_delimiter = ',', value_parser = crate::auth::parse_cidr)]
    pub auth_proxy_cidrs: Vec<ipnet::IpNet>,
    /// Who may read `/metrics`: `open` or `viewer` (the viewer role, with `--auth-file`).
    #[arg(long, env = "OPENFERO_METRICS_AUTH", value_enum, default_value_t = MetricsAuth::Open)]
    pub metrics_auth: MetricsAuth,
    /// File holding `user:password` that `POST /alerts` accepts as HTTP basic auth
    /// (Alertmanager's `basic_auth`, OpenFero's `--authMethod basic`), beside or instead of
    /// `--webhook-token-file`.
    #[arg(long, env = "OPENFERO_WEBHOOK_BASIC_AUTH_FILE")]
    pub webhook_basic_auth_file: Option<PathBuf>,
}

impl ServeArgs {
    /// Where the node's credentials come from, for [`crate::auth::load`].
    pub fn auth_sources(&self) -> crate::auth::AuthSources {
        crate::auth::AuthSources {
            admin_token_file: self.admin_token_file.clone(),
            webhook_token_file: self.webhook_token_file.clone(),
            webhook_basic_auth_file: self.auth.webhook_basic_auth_file.clone(),
            auth_file: self.auth.auth_file.clone(),
            proxy_header: self.auth.auth_proxy_header.clone(),
            proxy_cidrs: self.auth.auth_proxy_cidrs.clone(),
            metrics: self.auth.metrics_auth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    use crate::config::{Cli, CliCommand, ServeArgs};

    fn serve(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(std::iter::once("openfero").chain(args.iter().copied()))
            .expect("parse");
        let CliCommand::Serve(s) = cli.into_command() else {
            panic!("expected serve");
        };
        *s
    }

    #[test]
    fn auth_flags_parse_and_default_to_open() {
        let s = serve(&[]);
        assert!(s.auth.auth_file.is_none());
        assert_eq!(s.auth.metrics_auth, MetricsAuth::Open);
        let s = serve(&[
            "--auth-file",
            "/etc/openfero/auth/auth.yaml",
            "--auth-proxy-header",
            "X-Auth-Request-User",
            "--auth-proxy-cidrs",
            "10.0.0.0/8,127.0.0.1",
            "--metrics-auth",
            "viewer",
            "--webhook-basic-auth-file",
            "/etc/openfero/webhook-basic/auth",
        ]);
        assert_eq!(s.auth.auth_proxy_cidrs.len(), 2);
        assert_eq!(s.auth.metrics_auth, MetricsAuth::Viewer);
        assert!(Cli::try_parse_from(["openfero", "--auth-proxy-cidrs", "10.0.0.0/99"]).is_err());
        let cli = Cli::try_parse_from(["openfero", "auth", "hash-password"]).expect("parse");
        assert!(matches!(
            cli.into_command(),
            CliCommand::Auth(AuthCommand::HashPassword)
        ));
    }
}
