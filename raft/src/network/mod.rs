//! Raft RPCs over HTTP: bincode bodies on `POST /raft/{append,vote,snapshot}`, plus forwarded
//! client writes on `POST /raft/propose`.
//!
//! Every request names its sender, its target node id, the cluster name and (once known) the
//! cluster uuid in headers. A node that is not the target (an address that now belongs to
//! another node), belongs to another cluster, or does not count the sender of a vote request
//! among its members (a removed node still campaigning) refuses it with 409.

mod client;
mod server;

pub use client::HttpNetworkFactory;
pub(crate) use server::raft_router;

pub(crate) const HEADER_TARGET: &str = "x-openfero-raft-target";
pub(crate) const HEADER_CLUSTER: &str = "x-openfero-raft-cluster";
pub(crate) const HEADER_CLUSTER_UUID: &str = "x-openfero-raft-cluster-uuid";
pub(crate) const HEADER_FROM: &str = "x-openfero-raft-from";
pub(crate) const CONTENT_TYPE: &str = "application/x-openfero-raft";
/// Marker in the refusal of a vote request from a node outside the membership.
pub(crate) const NOT_A_MEMBER: &str = "which is not a member";
