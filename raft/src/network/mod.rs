//! Raft RPCs over HTTP: bincode bodies on `POST /raft/{append,vote,snapshot}`, plus forwarded
//! client writes on `POST /raft/propose-batch` (and `POST /raft/propose`, one write, as nodes
//! before batching send).
//!
//! Every request names its sender, its target node id, the cluster name and (once known) the
//! cluster uuid in headers. A node that is not the target (an address that now belongs to
//! another node), belongs to another cluster, or does not count the sender of a vote request
//! among its members (a removed node still campaigning) refuses it with 409.
//!
//! Those headers are public: they catch mistakes, not strangers. With peer TLS (feature
//! `peer-tls`, [`crate::RaftConfig`]'s `peer_tls`) the same routes are served by
//! `tls::serve_tls`, which requires a client certificate of the cluster CA before any request
//! is read, and the client side ([`HttpNetworkFactory`] and the proposer's forwards) calls
//! `https://` with this node's certificate, fetching the current client per call so a
//! certificate reload applies to the next connection. A node refused at the handshake is
//! `Unreachable` to openraft, as a node that is down.

mod client;
mod peer_client;
mod server;

pub use client::HttpNetworkFactory;
pub(crate) use peer_client::PeerClient;
pub(crate) use server::{raft_router, Validate};

pub(crate) const HEADER_TARGET: &str = "x-openfero-raft-target";
pub(crate) const HEADER_CLUSTER: &str = "x-openfero-raft-cluster";
pub(crate) const HEADER_CLUSTER_UUID: &str = "x-openfero-raft-cluster-uuid";
pub(crate) const HEADER_FROM: &str = "x-openfero-raft-from";
pub(crate) const CONTENT_TYPE: &str = "application/x-openfero-raft";
/// Marker in the refusal of a vote request from a node outside the membership.
pub(crate) const NOT_A_MEMBER: &str = "which is not a member";
