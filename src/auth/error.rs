//! Why an auth setting cannot be used. Messages name files, users and fields, never a secret.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read {what} `{}`: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file that is not in its format; `reason` never quotes the file's content.
    #[error("{what} `{}`: {reason}", path.display())]
    Format {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// A setting that contradicts another or is out of range.
    #[error("invalid auth setting `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

pub type Result<T, E = AuthError> = std::result::Result<T, E>;
