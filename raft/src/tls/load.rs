//! Building peer TLS from its PEM files: the rustls configs and the peer HTTPS client.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use super::config::PeerTlsConfig;
use super::error::TlsError;
use super::peer::PeerIdentity;
use super::provider::provider;
use super::reload::{Files, Material};
use super::verify::{check_pattern, PeerClientVerifier, PeerServerVerifier};

/// Connect timeout of peer calls (as for plain HTTP).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Idle pooled connections are dropped after this (as for plain HTTP).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const ALPN_HTTP1: &[u8] = b"http/1.1";

/// One consistent generation of peer TLS: both configs and the client built from them.
pub(crate) struct Loaded {
    pub server: Arc<ServerConfig>,
    pub client: Arc<ClientConfig>,
    pub http: reqwest::Client,
    /// This node's own certificate identity.
    pub own: PeerIdentity,
}

pub(crate) fn pem_error(path: &Path, what: &'static str, reason: impl ToString) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        what,
        reason: reason.to_string(),
    }
}

/// What went wrong in a PEM file, in words that never echo the file's bytes.
pub(crate) fn pem_reason(e: &rustls_pki_types::pem::Error) -> &'static str {
    use rustls_pki_types::pem::Error;
    match e {
        Error::MissingSectionEnd { .. } => "a section has no END line (truncated?)",
        Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        Error::Base64Decode(_) => "a section is not valid base64",
        Error::NoItemsFound => "no section of the expected kind",
        Error::SectionTooLarge => "a section is too large",
        _ => "unreadable PEM",
    }
}

pub(crate) fn certificates(
    bytes: &[u8],
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, what, pem_reason(&e)))?;
    if certs.is_empty() {
        return Err(pem_error(path, what, "no CERTIFICATE block"));
    }
    Ok(certs)
}

/// The files of a generation, in the order [`Files::part`] reads them.
const CA: usize = 0;
const CERT: usize = 1;
const KEY: usize = 2;

impl Material for Loaded {
    type Config = PeerTlsConfig;
    const NAME: &'static str = "peer tls";

    fn paths(config: &PeerTlsConfig) -> Vec<PathBuf> {
        vec![
            config.ca_file.clone(),
            config.cert_file.clone(),
            config.key_file.clone(),
        ]
    }

    fn describe(&self) -> String {
        self.own.to_string()
    }

    /// Build everything from `files`, or fail without side effects.
    fn build(config: &PeerTlsConfig, files: &Files) -> Result<Self, TlsError> {
        let pattern = config.pattern()?;
        let provider = provider();

        let mut roots = RootCertStore::empty();
        for ca in certificates(files.part(CA), &config.ca_file, "CA certificate")? {
            roots
                .add(ca)
                .map_err(|e| pem_error(&config.ca_file, "CA certificate", e))?;
        }
        let roots = Arc::new(roots);
        let chain = certificates(files.part(CERT), &config.cert_file, "certificate")?;
        let key = PrivateKeyDer::from_pem_slice(files.part(KEY))
            .map_err(|e| pem_error(&config.key_file, "private key", pem_reason(&e)))?;
        let identity_error = |e: rustls::Error| TlsError::Identity {
            cert: config.cert_file.clone(),
            key: config.key_file.clone(),
            reason: e.to_string(),
        };

        // Our own certificate must be one our peers accept: signed by the CA (a half-finished
        // rotation that replaced the CA but not yet the certificate fails here) and matching
        // the pattern.
        let untrusted = |e: rustls::Error| TlsError::Untrusted {
            cert: config.cert_file.clone(),
            reason: e.to_string(),
        };
        let leaf = ParsedCertificate::try_from(&chain[0]).map_err(untrusted)?;
        verify_server_cert_signed_by_trust_anchor(
            &leaf,
            &roots,
            &chain[1..],
            UnixTime::now(),
            provider.signature_verification_algorithms.all,
        )
        .map_err(untrusted)?;
        check_pattern(pattern.as_ref(), &chain[0]).map_err(|_| TlsError::Untrusted {
            cert: config.cert_file.clone(),
            reason: format!(
                "no DNS name matches the SAN pattern `{}`",
                pattern.as_ref().map(|p| p.as_str()).unwrap_or_default()
            ),
        })?;
        let own = PeerIdentity::from_cert(&chain[0])
            .ok_or_else(|| pem_error(&config.cert_file, "certificate", "unparsable leaf"))?;

        let chain_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| pem_error(&config.ca_file, "CA certificate", e))?;
        let client_verifier = Arc::new(PeerClientVerifier::new(chain_verifier, pattern.clone()));
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports rustls' default protocol versions")
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(identity_error)?;
        server.alpn_protocols = vec![ALPN_HTTP1.to_vec()];

        let server_verifier = Arc::new(PeerServerVerifier::new(
            roots,
            pattern,
            provider.signature_verification_algorithms,
        ));
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports rustls' default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(server_verifier)
            .with_client_auth_cert(chain, key)
            .map_err(identity_error)?;
        client.alpn_protocols = vec![ALPN_HTTP1.to_vec()];

        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            // Never fall back to plaintext towards a peer.
            .https_only(true)
            .tls_backend_preconfigured(client.clone())
            .build()
            .map_err(|e| TlsError::Client(e.to_string()))?;

        Ok(Self {
            server: Arc::new(server),
            client: Arc::new(client),
            http,
            own,
        })
    }
}
