//! Certificate verification for both ends of a peer connection.
//!
//! Server side (a peer calling us): rustls' `WebPkiClientVerifier` over the cluster CA — a
//! client certificate is mandatory — then the SAN pattern. Client side (us calling a peer):
//! the chain is verified against the cluster CA only, the address we dialled is not compared
//! with the certificate (see the module doc of `tls` for why), then the SAN pattern.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::pattern::SanPattern;

/// Refuse `cert` unless one of its DNS SANs matches `pattern` (no pattern: accept).
pub(crate) fn check_pattern(
    pattern: Option<&SanPattern>,
    cert: &CertificateDer<'_>,
) -> Result<(), rustls::Error> {
    let Some(pattern) = pattern else {
        return Ok(());
    };
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    if pattern.matches_any(parsed.valid_dns_names()) {
        Ok(())
    } else {
        Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        ))
    }
}

/// Verifies the certificates of peers that call this node.
#[derive(Debug)]
pub(crate) struct PeerClientVerifier {
    chain: Arc<dyn ClientCertVerifier>,
    pattern: Option<SanPattern>,
}

impl PeerClientVerifier {
    /// `chain` must be a mandatory-client-auth verifier over the cluster CA.
    pub fn new(chain: Arc<dyn ClientCertVerifier>, pattern: Option<SanPattern>) -> Self {
        Self { chain, pattern }
    }
}

impl ClientCertVerifier for PeerClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .chain
            .verify_client_cert(end_entity, intermediates, now)?;
        check_pattern(self.pattern.as_ref(), end_entity)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// Verifies the certificates of peers this node calls.
#[derive(Debug)]
pub(crate) struct PeerServerVerifier {
    roots: Arc<RootCertStore>,
    pattern: Option<SanPattern>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerServerVerifier {
    pub fn new(
        roots: Arc<RootCertStore>,
        pattern: Option<SanPattern>,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> Self {
        Self {
            roots,
            pattern,
            algorithms,
        }
    }
}

impl ServerCertVerifier for PeerServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        // Deliberately unused: identity is "signed by the cluster CA (+ SAN pattern)".
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        check_pattern(self.pattern.as_ref(), end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
