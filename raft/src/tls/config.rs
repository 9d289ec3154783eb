//! Where a node's peer certificates live, and which peers it accepts.

use std::path::PathBuf;

use super::error::TlsError;
use super::pattern::SanPattern;

/// Files and policy for mutual TLS between peers. `Debug` shows paths only.
///
/// `ca_file` holds the cluster CA (one or more PEM certificates: during a CA rotation, old and
/// new); `cert_file` this node's certificate chain (leaf first); `key_file` its private key
/// (PKCS#8, PKCS#1 or SEC1 PEM). A peer is accepted when its certificate chains to a CA in
/// `ca_file` and, if `san_pattern` is set, one of its DNS subject alternative names matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTlsConfig {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// A glob over DNS SANs, `*` matching any run of characters (dots included), compared
    /// case-insensitively: `*.openfero-peers.ns.svc.cluster.local`, `openfero-*`.
    pub san_pattern: Option<String>,
}

impl PeerTlsConfig {
    /// Check the settings without touching the files (loading does that).
    pub fn validate(&self) -> Result<(), TlsError> {
        for (field, path) in [
            ("ca_file", &self.ca_file),
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
        ] {
            if path.as_os_str().is_empty() {
                return Err(TlsError::Invalid {
                    field,
                    reason: "must name a file".into(),
                });
            }
        }
        if self.key_file == self.cert_file || self.key_file == self.ca_file {
            return Err(TlsError::Invalid {
                field: "key_file",
                reason: format!(
                    "`{}` is also the certificate or CA file; keep the key in its own file",
                    self.key_file.display()
                ),
            });
        }
        self.pattern().map(|_| ())
    }

    /// The parsed SAN pattern, if one is set.
    pub(crate) fn pattern(&self) -> Result<Option<SanPattern>, TlsError> {
        self.san_pattern
            .as_deref()
            .map(SanPattern::parse)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PeerTlsConfig {
        PeerTlsConfig {
            ca_file: "ca.pem".into(),
            cert_file: "node.pem".into(),
            key_file: "node-key.pem".into(),
            san_pattern: Some("*.peers.svc".into()),
        }
    }

    #[test]
    fn a_complete_config_is_valid() {
        config().validate().expect("valid");
    }

    #[test]
    fn empty_paths_and_shared_key_files_are_refused() {
        let mut c = config();
        c.cert_file = PathBuf::new();
        assert!(c.validate().unwrap_err().to_string().contains("cert_file"));
        let mut c = config();
        c.key_file = c.cert_file.clone();
        assert!(c.validate().unwrap_err().to_string().contains("key_file"));
    }

    #[test]
    fn a_bad_pattern_is_refused() {
        let mut c = config();
        c.san_pattern = Some(String::new());
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("san_pattern"));
    }
}
