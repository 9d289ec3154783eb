//! Key material that lives in files and is re-read when they change: one generation at a time,
//! built whole from one read of every file and swapped in whole, or not at all.
//!
//! Shared by peer TLS ([`super::PeerTls`]: CA, certificate, key) and the API listener's TLS
//! ([`super::ServerTls`]: certificate, key), so both rotate the same way.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::error::TlsError;

/// The raw contents of a set of files, in the order asked for, and a digest over all of them
/// to tell whether any changed.
pub(crate) struct Files {
    parts: Vec<Vec<u8>>,
    digest: [u8; 32],
}

impl Files {
    pub fn read(paths: &[&Path]) -> Result<Self, TlsError> {
        let mut parts = Vec::with_capacity(paths.len());
        let mut hash = Sha256::new();
        for path in paths {
            let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(&bytes);
            parts.push(bytes);
        }
        Ok(Self {
            parts,
            digest: hash.finalize().into(),
        })
    }

    /// The bytes of the `i`-th file asked for.
    pub fn part(&self, i: usize) -> &[u8] {
        &self.parts[i]
    }
}

/// What one generation is built from and how.
pub(crate) trait Material: Sized + Send + Sync + 'static {
    type Config: fmt::Debug + Send + Sync + 'static;
    /// What this is, in logs: `peer tls`, `api tls`.
    const NAME: &'static str;
    /// The files of one generation, read in this order.
    fn paths(config: &Self::Config) -> Vec<PathBuf>;
    /// Build a generation from the files, or fail without side effects.
    fn build(config: &Self::Config, files: &Files) -> Result<Self, TlsError>;
    /// Who this generation says we are, for logs (never key material).
    fn describe(&self) -> String;
}

fn read<M: Material>(config: &M::Config) -> Result<Files, TlsError> {
    let paths = M::paths(config);
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    Files::read(&refs)
}

/// The current generation of `M`, its history and its handshake failures.
pub(crate) struct Reloading<M: Material> {
    config: M::Config,
    current: RwLock<(Arc<M>, [u8; 32])>,
    /// Successful loads so far (1 after [`Reloading::load`]).
    generation: AtomicU64,
    handshake_failures: AtomicU64,
    /// The last reload error, so a file left broken is warned about once, not every interval.
    last_failure: Mutex<Option<String>>,
}

impl<M: Material> fmt::Debug for Reloading<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(M::NAME)
            .field("config", &self.config)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl<M: Material> Reloading<M> {
    /// Read the files and build the first generation.
    pub fn load(config: M::Config) -> Result<Self, TlsError> {
        let files = read::<M>(&config)?;
        let loaded = M::build(&config, &files)?;
        tracing::info!(identity = %loaded.describe(), "{} loaded", M::NAME);
        Ok(Self {
            config,
            current: RwLock::new((Arc::new(loaded), files.digest)),
            generation: AtomicU64::new(1),
            handshake_failures: AtomicU64::new(0),
            last_failure: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &M::Config {
        &self.config
    }

    pub fn current(&self) -> Arc<M> {
        self.current.read().expect("tls lock poisoned").0.clone()
    }

    fn digest(&self) -> [u8; 32] {
        self.current.read().expect("tls lock poisoned").1
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    pub fn handshake_failures(&self) -> u64 {
        self.handshake_failures.load(Ordering::Relaxed)
    }

    pub fn note_handshake_failure(&self) {
        self.handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Re-read the files; when their content changed and they build cleanly, swap the new
    /// generation in. Answers whether a new generation is in use. On error (a file missing,
    /// half-written, or a key that does not match its certificate) the old generation stays
    /// in use; the error is logged as a warning the first time it is seen.
    ///
    /// The files are read and hashed on every call rather than trusting modification times:
    /// they are a few kilobytes, and a rewrite within the mtime granularity (or a Kubernetes
    /// secret update, which swaps a symlink) must not go unnoticed. Blocking file I/O: from
    /// async code, call it through `spawn_blocking` (as [`Reloading::watch`] does).
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let attempt = read::<M>(&self.config).and_then(|files| {
            if files.digest == self.digest() {
                return Ok(None);
            }
            M::build(&self.config, &files).map(|m| Some((m, files.digest)))
        });
        match attempt {
            Ok(None) => {
                self.forget_failure();
                Ok(false)
            }
            Ok(Some((loaded, digest))) => {
                let identity = loaded.describe();
                *self.current.write().expect("tls lock poisoned") = (Arc::new(loaded), digest);
                let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
                self.forget_failure();
                tracing::info!(%identity, generation, "{} reloaded", M::NAME);
                Ok(true)
            }
            Err(e) => {
                let message = e.to_string();
                let mut last = self.last_failure.lock().expect("tls lock poisoned");
                if last.as_deref() != Some(message.as_str()) {
                    tracing::warn!(error = %message, "{} reload failed; keeping the current certificate", M::NAME);
                    *last = Some(message);
                } else {
                    tracing::debug!(error = %message, "{} reload still failing", M::NAME);
                }
                Err(e)
            }
        }
    }

    fn forget_failure(&self) {
        *self.last_failure.lock().expect("tls lock poisoned") = None;
    }

    /// Check the files every `every` until `stop` resolves.
    pub async fn watch(self: Arc<Self>, every: Duration, stop: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the files were just loaded.
        tick.tick().await;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => {
                    let this = self.clone();
                    // Errors are logged by the reload itself.
                    let _ = tokio::task::spawn_blocking(move || this.reload_if_changed()).await;
                }
            }
        }
    }
}
