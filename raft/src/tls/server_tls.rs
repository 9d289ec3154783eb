//! TLS for a listener that serves clients rather than peers (the API and UI): a certificate and
//! key, no client certificate asked for, re-read when the files change.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use tokio_rustls::TlsAcceptor;

use super::error::TlsError;
use super::load::{certificates, pem_error, pem_reason, ALPN_HTTP1};
use super::provider::provider;
use super::reload::{Files, Material, Reloading};
use super::serve::TlsEndpoint;

/// The certificate chain (leaf first) and private key of a client-facing listener. `Debug`
/// shows paths only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl ServerTlsConfig {
    /// Check the settings without touching the files (loading does that).
    pub fn validate(&self) -> Result<(), TlsError> {
        for (field, path) in [("cert_file", &self.cert_file), ("key_file", &self.key_file)] {
            if path.as_os_str().is_empty() {
                return Err(TlsError::Invalid {
                    field,
                    reason: "must name a file".into(),
                });
            }
        }
        if self.key_file == self.cert_file {
            return Err(TlsError::Invalid {
                field: "key_file",
                reason: "is the certificate file too; keep the key in its own file".into(),
            });
        }
        Ok(())
    }
}

/// One generation: the server config and the leaf's subject, for logs.
struct Served {
    config: Arc<ServerConfig>,
    subject: String,
}

const CERT: usize = 0;
const KEY: usize = 1;

impl Material for Served {
    type Config = ServerTlsConfig;
    const NAME: &'static str = "api tls";

    fn paths(config: &ServerTlsConfig) -> Vec<PathBuf> {
        vec![config.cert_file.clone(), config.key_file.clone()]
    }

    fn describe(&self) -> String {
        self.subject.clone()
    }

    fn build(config: &ServerTlsConfig, files: &Files) -> Result<Self, TlsError> {
        let chain = certificates(files.part(CERT), &config.cert_file, "certificate")?;
        let key = PrivateKeyDer::from_pem_slice(files.part(KEY))
            .map_err(|e| pem_error(&config.key_file, "private key", pem_reason(&e)))?;
        let subject = super::PeerIdentity::from_cert(&chain[0])
            .ok_or_else(|| pem_error(&config.cert_file, "certificate", "unparsable leaf"))?
            .to_string();
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports rustls' default protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Identity {
                cert: config.cert_file.clone(),
                key: config.key_file.clone(),
                reason: e.to_string(),
            })?;
        server.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(Self {
            config: Arc::new(server),
            subject,
        })
    }
}

/// Server-side TLS for clients (browsers, Alertmanager, API clients), reloadable without
/// restart. Cheap to clone; clones share state. Each new connection uses the certificate
/// current at that moment.
#[derive(Clone)]
pub struct ServerTls {
    inner: Arc<Reloading<Served>>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl ServerTls {
    /// Validate `config`, read its files and build the server config.
    pub fn load(config: ServerTlsConfig) -> Result<Self, TlsError> {
        config.validate()?;
        Ok(Self {
            inner: Arc::new(Reloading::load(config)?),
        })
    }

    pub fn config(&self) -> &ServerTlsConfig {
        self.inner.config()
    }

    /// The current server config.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.inner.current().config.clone()
    }

    /// How many times the files were loaded successfully (1 after [`ServerTls::load`]).
    pub fn generation(&self) -> u64 {
        self.inner.generation()
    }

    /// Incoming connections whose TLS handshake failed or timed out (plain HTTP included).
    pub fn handshake_failures(&self) -> u64 {
        self.inner.handshake_failures()
    }

    /// Re-read the files and swap a changed, valid pair in (see [`super::PeerTls::reload_if_changed`]).
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        self.inner.reload_if_changed()
    }

    /// Check the files every `every` until `stop` resolves.
    pub async fn watch(self, every: Duration, stop: impl Future<Output = ()>) {
        self.inner.watch(every, stop).await
    }
}

impl TlsEndpoint for ServerTls {
    const MUTUAL: bool = false;

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config())
    }

    fn handshake_failed(&self) {
        self.inner.note_handshake_failure();
    }
}
