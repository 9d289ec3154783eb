//! `openfero-raft`: a replicated log for openfero.
//!
//! openraft 0.9 over sled 0.34 with an HTTP network. The crate is generic over an application
//! [`StateMachine`]: the application sees a key/value view ([`KvTxn`]) during `apply` and a
//! read-only view ([`KvReader`]) otherwise. Snapshots, restore and durability are handled here,
//! so an application never writes raft metadata or snapshot code of its own.
//!
//! The crate knows nothing about alerts or Kubernetes.
//!
//! # Peer TLS (feature `peer-tls`)
//! With [`RaftConfig::peer_tls`](RaftConfig) set, every call this crate makes to a peer (Raft
//! RPCs and forwarded writes) goes over mutual TLS with a cluster CA, and
//! [`RaftNode::serve`] serves the router over TLS requiring a client certificate of that CA
//! (optionally with a SAN matching a pattern). Certificates are re-read on
//! `tls::PeerTls::reload_if_changed` / `tls::PeerTls::watch` without a restart. The
//! application reuses the same identity for its own node-to-node calls through
//! [`RaftNode::peer_client`] and `tls::serve_tls`. See the `tls` module for the trust model.
//! Without the feature, or with `peer_tls: None`, peers talk plain HTTP as before.
//!
//! Enabling the feature compiles reqwest's rustls backend (ring only). This crate builds every
//! client with an explicit provider, but any other `reqwest::Client` built in the process then
//! needs a process-level rustls provider: call `tls::install_default_provider()` at start.
#![forbid(unsafe_code)]
// openraft's `StorageError` is large and its storage traits return it by value; boxing it in our
// private helpers would only add conversions back and forth.
#![allow(clippy::result_large_err)]

mod batch;
mod batcher;
pub mod clock;
pub mod codec;
mod config;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod identity;
mod kv;
mod network;
mod node;
mod proposer;
mod state_machine;
mod store;
#[cfg(feature = "peer-tls")]
pub mod tls;
mod types;

pub use batcher::{BatchLimits, BatchStats};
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

/// The payload of one log entry carrying `commands` (each an encoded application command) as
/// the write batcher makes it: for application tests that apply a batch through [`SmStore`].
#[doc(hidden)]
pub fn batch_payload_for_tests(commands: &[&[u8]]) -> Payload {
    Payload(batch::encode_entry(commands).expect("test commands are encoded enums"))
}

/// openraft's `Raft` handle specialised to this crate's type configuration.
pub type Raft = openraft::Raft<TypeConfig>;
