//! The live peer TLS handle: the current configs, swapped when the files change.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::{ClientConfig, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::config::PeerTlsConfig;
use super::error::TlsError;
use super::load::{Files, Loaded};
use super::peer::PeerIdentity;

/// Mutual TLS between peers, reloadable without restart. Cheap to clone; clones share state.
///
/// Every new connection (accepted or dialled) uses the configs current at that moment;
/// connections already open keep the certificate they were established with.
#[derive(Clone)]
pub struct PeerTls {
    inner: Arc<Inner>,
}

struct Inner {
    config: PeerTlsConfig,
    current: RwLock<Arc<Loaded>>,
    /// Successful loads so far (1 after [`PeerTls::load`]).
    generation: AtomicU64,
    handshake_failures: AtomicU64,
    /// The last reload error, so a file left broken is warned about once, not every interval.
    last_failure: Mutex<Option<String>>,
}

impl fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerTls")
            .field("config", &self.inner.config)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl PeerTls {
    /// Validate `config`, read its files and build the configs.
    pub fn load(config: PeerTlsConfig) -> Result<Self, TlsError> {
        config.validate()?;
        let files = Files::read(&config)?;
        let loaded = Loaded::build(&config, &files)?;
        tracing::info!(
            cert = %config.cert_file.display(),
            identity = %loaded.own,
            "peer tls loaded"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                current: RwLock::new(Arc::new(loaded)),
                generation: AtomicU64::new(1),
                handshake_failures: AtomicU64::new(0),
                last_failure: Mutex::new(None),
            }),
        })
    }

    fn current(&self) -> Arc<Loaded> {
        self.inner
            .current
            .read()
            .expect("peer tls lock poisoned")
            .clone()
    }

    pub fn config(&self) -> &PeerTlsConfig {
        &self.inner.config
    }

    /// The current server config (client certificate required).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.current().server.clone()
    }

    /// The current client config (presents this node's certificate, trusts the cluster CA).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.current().client.clone()
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
        self.current().http.clone()
    }

    /// This node's certificate identity, as peers see it now.
    pub fn identity(&self) -> PeerIdentity {
        self.current().own.clone()
    }

    /// How many times the files were loaded successfully (1 after [`PeerTls::load`]).
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Relaxed)
    }

    /// Incoming connections whose TLS handshake failed or timed out.
    pub fn handshake_failures(&self) -> u64 {
        self.inner.handshake_failures.load(Ordering::Relaxed)
    }

    pub(crate) fn note_handshake_failure(&self) {
        self.inner
            .handshake_failures
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Re-read the files; when their content changed and they make a valid identity, swap the
    /// configs and the client in. Answers whether a new generation is in use. On error (a file
    /// missing, half-written, or a key that does not match its certificate) the old configs
    /// stay in use; the error is logged as a warning the first time it is seen.
    ///
    /// The files are read and hashed on every call rather than trusting modification times:
    /// they are a few kilobytes, and a rewrite within the mtime granularity (or a Kubernetes
    /// secret update, which swaps a symlink) must not go unnoticed. Blocking file I/O: from
    /// async code, call it through `spawn_blocking` (as [`PeerTls::watch`] does).
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let config = &self.inner.config;
        let attempt = Files::read(config).and_then(|files| {
            if files.digest == self.current().digest {
                return Ok(None);
            }
            Loaded::build(config, &files).map(Some)
        });
        match attempt {
            Ok(None) => {
                self.forget_failure();
                Ok(false)
            }
            Ok(Some(loaded)) => {
                let identity = loaded.own.clone();
                *self.inner.current.write().expect("peer tls lock poisoned") = Arc::new(loaded);
                let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
                self.forget_failure();
                tracing::info!(
                    cert = %config.cert_file.display(),
                    %identity,
                    generation,
                    "peer tls reloaded"
                );
                Ok(true)
            }
            Err(e) => {
                let message = e.to_string();
                let mut last = self
                    .inner
                    .last_failure
                    .lock()
                    .expect("peer tls lock poisoned");
                if last.as_deref() != Some(message.as_str()) {
                    tracing::warn!(error = %message, "peer tls reload failed; keeping the current certificate");
                    *last = Some(message);
                } else {
                    tracing::debug!(error = %message, "peer tls reload still failing");
                }
                Err(e)
            }
        }
    }

    fn forget_failure(&self) {
        *self
            .inner
            .last_failure
            .lock()
            .expect("peer tls lock poisoned") = None;
    }

    /// Check the files every `every` until `stop` resolves. The application spawns this.
    pub async fn watch(self, every: Duration, stop: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the files were just loaded.
        tick.tick().await;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => {
                    let tls = self.clone();
                    // Errors are logged by the reload itself.
                    let _ = tokio::task::spawn_blocking(move || tls.reload_if_changed()).await;
                }
            }
        }
    }
}
