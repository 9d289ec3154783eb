//! Why a replay could not report.

use std::path::PathBuf;

use openfero_raft::KvError;

use crate::client::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The arguments cannot be used.
    #[error("{0}")]
    Usage(String),
    /// Reading from `--server` failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A source could not be read.
    #[error("cannot read {source_name}: {reason}")]
    Read { source_name: String, reason: String },
    /// A line of the history is not one openfero can replay.
    #[error("{source_name}, line {line}: {reason}")]
    Line {
        source_name: String,
        line: u64,
        reason: String,
    },
    /// sled lets one process open a data dir; a running node holds it.
    #[error(
        "data dir `{0}` is in use by another process: sled lets one process at a time open \
         it; stop the node first, or replay from its API with --server"
    )]
    Locked(PathBuf),
    /// The replay's own state machine failed.
    #[error("replay state: {0}")]
    Scratch(String),
    #[error("cannot write the report: {0}")]
    Write(std::io::Error),
}

impl From<KvError> for ReplayError {
    fn from(e: KvError) -> Self {
        ReplayError::Scratch(e.to_string())
    }
}

impl ReplayError {
    /// The process exit code: 2 usage, the client's codes for a node's answers (3 not found,
    /// 4 denied, …), else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            ReplayError::Usage(_) => 2,
            ReplayError::Client(e) => e.exit() as u8,
            _ => 1,
        }
    }
}
