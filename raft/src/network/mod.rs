//! Raft RPCs over HTTP: bincode bodies on `POST /raft/{append,vote,snapshot}`.
//!
//! Every request names its target node id and cluster name in headers; a node that is not the
//! target (a DNS name or address that now belongs to another node) or belongs to another cluster
//! refuses it with 409, so stale addresses can never make a node vote or append by mistake.

mod client;
mod server;

pub use client::HttpNetworkFactory;
pub use server::raft_router;

pub(crate) const HEADER_TARGET: &str = "x-openfero-raft-target";
pub(crate) const HEADER_CLUSTER: &str = "x-openfero-raft-cluster";
pub(crate) const CONTENT_TYPE: &str = "application/x-openfero-raft";
