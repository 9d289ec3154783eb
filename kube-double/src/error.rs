//! The crate's error type.

use std::{net::SocketAddr, path::PathBuf};

/// Errors returned by the library handle ([`crate::KubeDouble`]) and the binary.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The double only serves on loopback addresses.
    #[error("listen address `{0}` is not a loopback address")]
    NonLoopback(SocketAddr),
    /// Binding the listener failed.
    #[error("cannot bind `{addr}`")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing a file failed.
    #[error("cannot access `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A YAML document could not be parsed.
    #[error("cannot parse yaml")]
    Yaml(#[from] serde_yaml::Error),
    /// The server answered a control or registration call with a Kubernetes `Status` failure.
    #[error("kubernetes status {code} `{reason}`: {message}")]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    /// The server task ended with an error.
    #[error("server failed")]
    Server(#[source] std::io::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
