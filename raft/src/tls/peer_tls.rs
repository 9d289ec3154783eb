//! The live peer TLS handle: the current configs, swapped when the files change.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::config::PeerTlsConfig;
use super::error::TlsError;
use super::load::Loaded;
use super::peer::PeerIdentity;
use super::reload::Reloading;
use super::serve::TlsEndpoint;

/// Mutual TLS between peers, reloadable without restart. Cheap to clone; clones share state.
///
/// Every new connection (accepted or dialled) uses the configs current at that moment;
/// connections already open keep the certificate they were established with.
#[derive(Clone)]
pub struct PeerTls {
    inner: Arc<Reloading<Loaded>>,
}

impl fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl PeerTls {
    /// Validate `config`, read its files and build the configs.
    pub fn load(config: PeerTlsConfig) -> Result<Self, TlsError> {
        config.validate()?;
        Ok(Self {
            inner: Arc::new(Reloading::load(config)?),
        })
    }

    pub fn config(&self) -> &PeerTlsConfig {
        self.inner.config()
    }

    /// The current server config (client certificate required).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.inner.current().server.clone()
    }

    /// The current client config (presents this node's certificate, trusts the cluster CA).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.inner.current().client.clone()
    }

    /// An acceptor over the current server config, for one or more new connections.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config())
    }

    /// A connector over the current client config.
    pub fn connector(&self) -> TlsConnector {
        TlsConnector::from(self.client_config())
    }

    /// The current HTTPS client for peer calls (`https://` only). Fetch it per call, or at
    /// least after each reload: a client kept from before a reload keeps the old certificate.
    pub fn client(&self) -> reqwest::Client {
        self.inner.current().http.clone()
    }

    /// This node's certificate identity, as peers see it now.
    pub fn identity(&self) -> PeerIdentity {
        self.inner.current().own.clone()
    }

    /// How many times the files were loaded successfully (1 after [`PeerTls::load`]).
    pub fn generation(&self) -> u64 {
        self.inner.generation()
    }

    /// Incoming connections whose TLS handshake failed or timed out.
    pub fn handshake_failures(&self) -> u64 {
        self.inner.handshake_failures()
    }

    /// Re-read the files; when their content changed and they make a valid identity, swap the
    /// configs and the client in. Answers whether a new generation is in use. On error (a file
    /// missing, half-written, or a key that does not match its certificate) the old configs
    /// stay in use; the error is logged as a warning the first time it is seen. Blocking file
    /// I/O: from async code, call it through `spawn_blocking` (as [`PeerTls::watch`] does).
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        self.inner.reload_if_changed()
    }

    /// Check the files every `every` until `stop` resolves. The application spawns this.
    pub async fn watch(self, every: Duration, stop: impl Future<Output = ()>) {
        self.inner.watch(every, stop).await
    }
}

impl TlsEndpoint for PeerTls {
    const MUTUAL: bool = true;

    fn acceptor(&self) -> TlsAcceptor {
        PeerTls::acceptor(self)
    }

    fn handshake_failed(&self) {
        self.inner.note_handshake_failure();
    }
}
