//! Every chitchat key this crate writes or reads, in one place.
//!
//! Chitchat stores a flat `String -> String` map per node. The typed view of
//! that map is [`crate::NodeMeta`]; the encoding rules are:
//!
//! * integers are decimal (`"42"`),
//! * booleans are `"true"` / `"false"`,
//! * optional values are the empty string when absent (we never delete keys,
//!   so no tombstones have to be garbage-collected).
//!
//! Changing a key name is a wire-protocol change: nodes running different
//! versions would no longer understand each other's metadata.

/// Raft node id of the member (decimal `u64`).
///
/// Written last at start-up: a member only shows up in the view once this key
/// has been received, so a half-transferred state is never published.
pub const RAFT_ID: &str = "raft_id";
/// Address Raft peers use to reach the member (`host:port`).
pub const RAFT_ADDR: &str = "raft_addr";
/// Address of the member's HTTP API (`host:port`).
pub const API_ADDR: &str = "api_addr";
/// Human readable node name (e.g. the pod name).
pub const NODE_NAME: &str = "node_name";
/// StatefulSet ordinal (decimal `u32`), empty when unknown.
pub const ORDINAL: &str = "ordinal";
/// UUID of the Raft cluster this member belongs to, empty until one is initialised.
pub const CLUSTER_UUID: &str = "cluster_uuid";
/// Number of members the bootstrap process waits for (decimal `u32`).
pub const BOOTSTRAP_EXPECT: &str = "bootstrap_expect";
/// Whether the member is ready to serve (`"true"` / `"false"`).
pub const READY: &str = "ready";
/// Whether the member is shutting down (`"true"` / `"false"`).
pub const LEAVING: &str = "leaving";
/// Last Raft log index on the node (refreshed about once a second; empty until known).
pub const LAST_LOG_INDEX: &str = "last_log_index";
/// Last applied Raft log index on the node (refreshed about once a second).
pub const APPLIED_INDEX: &str = "applied_index";

/// All keys, in the order they are written at start-up ([`RAFT_ID`] last).
pub const ALL: [&str; 11] = [
    RAFT_ADDR,
    API_ADDR,
    NODE_NAME,
    ORDINAL,
    CLUSTER_UUID,
    BOOTSTRAP_EXPECT,
    READY,
    LEAVING,
    LAST_LOG_INDEX,
    APPLIED_INDEX,
    RAFT_ID,
];
