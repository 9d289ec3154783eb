//! Who is on the other end of a peer connection, as its verified certificate says.

use std::fmt;

use rustls_pki_types::CertificateDer;

/// The identity in a peer's certificate, once the handshake verified it. The server puts it in
/// every request's extensions (`axum::Extension<PeerIdentity>`), so handlers can log who called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// DNS subject alternative names (IP SANs are not listed).
    pub dns_names: Vec<String>,
    /// The certificate's serial number, lowercase hex.
    pub serial: String,
}

impl PeerIdentity {
    /// Read the names and serial of a leaf certificate; `None` when it does not parse.
    pub fn from_cert(cert: &CertificateDer<'_>) -> Option<Self> {
        let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
        Some(Self {
            dns_names: parsed.valid_dns_names().map(str::to_string).collect(),
            serial: hex(parsed.serial()),
        })
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "serial {} ({})", self.serial, self.dns_names.join(", "))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
