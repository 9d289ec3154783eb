//! The openraft type configuration.
//!
//! Log payloads are opaque bytes ([`Payload`]): the application's versioned command enum is
//! encoded by [`crate::RaftNode::write`] and decoded in apply, so this crate stays generic without
//! a generic `RaftTypeConfig`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Raft node id: a random non-zero `u64` chosen on first boot.
pub type NodeId = u64;

/// Where a node can be reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `host:port` serving the Raft RPC routes.
    pub raft_addr: String,
    /// `host:port` serving the application's HTTP API (used to forward client writes).
    pub api_addr: String,
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "raft={} api={}", self.raft_addr, self.api_addr)
    }
}

/// Opaque encoded application command or response.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload(pub Vec<u8>);

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.0.len())
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

openraft::declare_raft_types!(
    /// openfero's Raft type configuration.
    pub TypeConfig:
        D = Payload,
        R = Payload,
        NodeId = NodeId,
        Node = NodeInfo,
        SnapshotData = tokio::fs::File,
);
