//! The one rustls crypto provider peer TLS uses: ring.
//!
//! Every config here is built with `builder_with_provider(ring)`, so this crate never needs a
//! process-level default provider, whichever providers other crates compile in. Compiling in
//! reqwest's rustls backend has one process-wide consequence, though: a `reqwest::Client` built
//! *without* a preconfigured TLS config asks rustls for the process default and panics when
//! none is installed. Applications call [`install_default_provider`] once at start (and in test
//! helpers), or build plain-HTTP clients from [`http_only_client_builder`].

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};

/// The shared ring provider.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Install ring as the process-level rustls provider unless one is installed already. Returns
/// whether this call installed it. Safe to call any number of times, from any thread.
pub fn install_default_provider() -> bool {
    if CryptoProvider::get_default().is_some() {
        return false;
    }
    // Losing a race to another installer is fine: some provider is installed either way.
    rustls::crypto::ring::default_provider()
        .install_default()
        .is_ok()
}

/// A rustls client config that trusts no CA: any `https://` URL fails verification. Given to
/// plain-HTTP reqwest clients so that building them needs no process-level provider.
pub(crate) fn trust_nothing_client_config() -> ClientConfig {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls' default protocol versions")
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth()
}

/// A reqwest builder for plain-HTTP calls that needs no process-level crypto provider (with
/// reqwest's rustls backend compiled in, `reqwest::Client::builder()` does). It trusts no CA,
/// so it cannot be used for `https://`.
pub fn http_only_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(trust_nothing_client_config())
}
