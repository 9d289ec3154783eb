//! Error type of the crate.

use std::net::SocketAddr;
use std::path::PathBuf;

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

    /// A line of a gossip key file holds no valid key. The message names the
    /// line, never its content: key material must not reach logs.
    #[error("invalid gossip key on line `{line}`: {reason}")]
    InvalidKey {
        /// 1-based line number in the key file text.
        line: usize,
        /// Why it was rejected (lengths and formats only, never key bytes).
        reason: String,
    },

    /// The gossip key file text holds no key (only blank lines or comments).
    #[error("gossip key file holds no key")]
    NoKey,

    /// The gossip key file could not be read.
    #[error("failed to read gossip key file `{path}`")]
    KeyFileRead {
        /// The file we tried to read.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
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
