//! Error type of the crate.

use std::net::SocketAddr;

/// Boxed source error, used to carry the `anyhow` errors chitchat returns
/// without exposing `anyhow` in the public API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in `openfero-gossip`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration was rejected by [`crate::GossipConfig::validate`].
    #[error("invalid gossip config: `{field}` {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Why it was rejected (already formatted, values in backticks).
        reason: String,
    },

    /// Chitchat could not be started (typically: the UDP port is taken).
    #[error("failed to start gossip on `{listen_addr}`")]
    Start {
        /// Address we tried to bind.
        listen_addr: SocketAddr,
        /// Underlying chitchat error.
        #[source]
        source: BoxError,
    },

    /// The chitchat server ended with an error, or its task panicked.
    #[error("gossip server for node `{node_id}` stopped with an error")]
    Shutdown {
        /// Our node id, formatted as 16 hex digits.
        node_id: String,
        /// Underlying error.
        #[source]
        source: BoxError,
    },

    /// [`crate::Gossip::wait_for`] gave up.
    #[error("membership condition not met within `{waited:?}`")]
    Timeout {
        /// How long we waited.
        waited: std::time::Duration,
    },

    /// The node was shut down while waiting.
    #[error("gossip node `{node_id}` was shut down")]
    Stopped {
        /// Our node id, formatted as 16 hex digits.
        node_id: String,
    },
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
