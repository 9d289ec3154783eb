//! The application state machine contract.

use std::fmt::Debug;

use serde::{de::DeserializeOwned, Serialize};

use crate::kv::{KvError, KvTxn};

/// Facts about the entry being applied, identical on every replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyContext {
    /// Raft log index of the entry.
    pub index: u64,
    /// Term of the leader that appended the entry.
    pub term: u64,
    /// Node id of the leader that appended the entry.
    pub leader: u64,
}

/// A deterministic application state machine.
///
/// `apply` must be a pure function of the current state, the context and the command: no clock
/// reads, no randomness, no I/O besides `kv`. Every replica then reaches the same state from the
/// same log. A command that cannot be decoded stops the node (it would otherwise diverge).
pub trait StateMachine: Send + Sync + 'static {
    /// The versioned command enum written to the log.
    type Command: Serialize + DeserializeOwned + Send + Sync + Debug + 'static;
    /// What a committed command answers to its proposer.
    type Response: Serialize + DeserializeOwned + Send + Sync + Debug + 'static;

    /// Apply one committed command.
    fn apply(
        &self,
        kv: &mut KvTxn<'_>,
        ctx: ApplyContext,
        command: Self::Command,
    ) -> Result<Self::Response, KvError>;
}
