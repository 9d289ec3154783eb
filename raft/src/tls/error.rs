//! Why peer TLS could not be set up or reloaded. Messages name files, never key material.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("invalid peer tls setting `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not PEM of the expected kind (a half-written file lands here too).
    #[error("`{}` holds no usable {what}: {reason}", path.display())]
    Pem {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    /// The certificate and key do not belong together, or rustls refused them.
    #[error("`{}` and `{}` do not make a usable identity: {reason}", cert.display(), key.display())]
    Identity {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    /// This node's own certificate is not one its peers would accept.
    #[error("`{}` would be refused by peers: {reason}", cert.display())]
    Untrusted { cert: PathBuf, reason: String },
    #[error("cannot build the peer https client: {0}")]
    Client(String),
}
