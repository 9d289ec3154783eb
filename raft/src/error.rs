//! Errors of the replicated log.

use crate::types::{NodeId, NodeInfo};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Setup and storage errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid raft setting `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("codec: {0}")]
    Codec(#[from] crate::codec::CodecError),
    #[error("raft: {0}")]
    Raft(String),
    /// The peer TLS files could not be loaded.
    #[cfg(feature = "peer-tls")]
    #[error("peer tls: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// Why a client write was not committed. Callers branch on these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum WriteError {
    /// This node is not the leader; `leader` is the one it knows of, if any.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        leader: Option<NodeId>,
        node: Option<NodeInfo>,
    },
    /// No commit within the write timeout: no quorum or no leader.
    #[error("no quorum: the write was not committed within {0:?}")]
    NoQuorum(std::time::Duration),
    /// The command could not be encoded, or the response decoded.
    #[error("codec: {0}")]
    Codec(String),
    /// Raft stopped (storage failure or shutdown).
    #[error("raft stopped: {0}")]
    Fatal(String),
}
