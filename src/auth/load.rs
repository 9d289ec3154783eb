//! Reading the auth settings from the files the flags name. Secrets come from files only.

use std::path::{Path, PathBuf};

use super::error::{AuthError, Result};
use super::file::AuthFile;
use super::{Auth, AuthSettings};

/// A file holding one secret (a Kubernetes Secret mount), without surrounding whitespace.
fn read_secret(path: &Path, what: &'static str) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .map_err(|source| AuthError::Read {
            what,
            path: path.to_path_buf(),
            source,
        })
}

/// `user:password` on one line (Alertmanager's `basic_auth`, OpenFero's `--authMethod basic`).
fn read_basic(path: &Path) -> Result<(String, String)> {
    const WHAT: &str = "webhook basic auth file";
    let text = read_secret(path, WHAT)?;
    let format = |reason: &str| AuthError::Format {
        what: WHAT,
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if text.lines().count() > 1 {
        return Err(format("expected one line, `user:password`"));
    }
    let (user, password) = text
        .split_once(':')
        .ok_or_else(|| format("expected `user:password`"))?;
    if user.is_empty() || password.is_empty() {
        return Err(format("the user and the password must not be empty"));
    }
    Ok((user.to_string(), password.to_string()))
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsAuth {
    /// Anyone (Prometheus scrapes without credentials).
    Open,
    /// Callers with the viewer role (or higher), as the API.
    Viewer,
}

/// Where a node's credentials come from (`serve`'s flags: `ServeArgs::auth_sources`).
#[derive(Debug, Clone)]
pub struct AuthSources {
    pub admin_token_file: Option<PathBuf>,
    pub webhook_token_file: Option<PathBuf>,
    pub webhook_basic_auth_file: Option<PathBuf>,
    pub auth_file: Option<PathBuf>,
    pub proxy_header: Option<String>,
    pub proxy_cidrs: Vec<ipnet::IpNet>,
    pub metrics: MetricsAuth,
}

/// The node's [`Auth`] from its sources.
pub fn load(args: &AuthSources) -> Result<Auth> {
    // An empty admin token falls back to loopback-only, as it always did; an empty webhook
    // token would open the webhook the operator meant to close, so it is refused.
    let admin_token = match &args.admin_token_file {
        Some(path) => Some(read_secret(path, "admin token file")?).filter(|t| !t.is_empty()),
        None => None,
    };
    let webhook_token = match &args.webhook_token_file {
        Some(path) => {
            let token = read_secret(path, "webhook token file")?;
            if token.is_empty() {
                return Err(AuthError::Format {
                    what: "webhook token file",
                    path: path.clone(),
                    reason: "the file is empty".into(),
                });
            }
            Some(token)
        }
        None => None,
    };
    let a = args;
    let webhook_basic = a
        .webhook_basic_auth_file
        .as_deref()
        .map(read_basic)
        .transpose()?;
    let file = a.auth_file.as_deref().map(AuthFile::read).transpose()?;
    Auth::new(AuthSettings {
        file,
        admin_token,
        webhook_token,
        webhook_basic,
        proxy_header: a.proxy_header.clone(),
        proxy_cidrs: a.proxy_cidrs.clone(),
        metrics_open: a.metrics == MetricsAuth::Open,
    })
}
