//! `openfero-raft`: a replicated log for openfero.
//!
//! openraft 0.9 over sled 0.34 with an HTTP network. The crate is generic over an application
//! [`StateMachine`]: the application sees a key/value view ([`KvTxn`]) during `apply` and a
//! read-only view ([`KvReader`]) otherwise. Snapshots, restore and durability are handled here,
//! so an application never writes raft metadata or snapshot code of its own.
//!
//! The crate knows nothing about alerts or Kubernetes.
#![forbid(unsafe_code)]
// openraft's `StorageError` is large and its storage traits return it by value; boxing it in our
// private helpers would only add conversions back and forth.
#![allow(clippy::result_large_err)]

pub mod codec;
mod config;
mod error;
mod identity;
mod kv;
mod network;
mod node;
mod proposer;
mod state_machine;
mod store;
mod types;

pub use config::RaftConfig;
pub use error::{Error, Result, WriteError};
pub use identity::{AdoptError, Identity, UuidMismatch};
pub use kv::{KvError, KvReader, KvTxn, Pair};
pub use network::HttpNetworkFactory;
pub use node::{NodeStatus, RaftNode};
pub use proposer::MAX_HOPS;
pub use state_machine::{ApplyContext, StateMachine};
pub use store::{open_store, LogStore, SmStore, Store};
pub use types::{NodeId, NodeInfo, Payload, TypeConfig};

/// openraft's `Raft` handle specialised to this crate's type configuration.
pub type Raft = openraft::Raft<TypeConfig>;
