//! Test-only storage fault for the chaos suite, compiled only with the cargo feature
//! `chaos-faults` (never in default or release builds; chaos/README.md).
//!
//! With `OPENFERO_CHAOS_FAIL_SYNC=<path>` set, every durability flush of the store fails with
//! EIO while the file `<path>` exists — what a disk whose `fsync` fails does. With
//! `OPENFERO_CHAOS_IGNORE_SYNC_ERRORS=1` as well, the failure is logged and the flush reports
//! success instead: the broken build the chaos proof must catch losing acknowledged writes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The trigger file's path.
pub(crate) const FAIL_SYNC_ENV: &str = "OPENFERO_CHAOS_FAIL_SYNC";
/// `1`: log the injected failure and report success (the broken build).
pub(crate) const IGNORE_SYNC_ERRORS_ENV: &str = "OPENFERO_CHAOS_IGNORE_SYNC_ERRORS";

/// The injected sync failure of one store (inert without a trigger path).
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncFault {
    trigger: Option<PathBuf>,
    ignore: bool,
    /// Whether the current run of failures was logged already (one line per run, not per flush).
    logged: Arc<AtomicBool>,
}

impl SyncFault {
    /// Read from the process environment (the hook's only input in a real process).
    pub(crate) fn from_env() -> Self {
        let trigger = std::env::var_os(FAIL_SYNC_ENV)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        let ignore = std::env::var(IGNORE_SYNC_ERRORS_ENV).is_ok_and(|v| v == "1");
        if let Some(path) = &trigger {
            tracing::warn!(
                trigger = %path.display(),
                ignore,
                "chaos-faults build: store flushes fail with EIO while the trigger file exists"
            );
        }
        Self::new(trigger, ignore)
    }

    pub(crate) fn new(trigger: Option<PathBuf>, ignore: bool) -> Self {
        Self {
            trigger,
            ignore,
            logged: Arc::new(AtomicBool::new(false)),
        }
    }

    /// What a flush does instead of flushing: `None` — flush; `Some(Err(EIO))` — fail;
    /// `Some(Ok(()))` — report success without flushing (the failure ignored).
    pub(crate) fn intercept(&self) -> Option<std::io::Result<()>> {
        let path = self.trigger.as_ref()?;
        if !path.exists() {
            self.logged.store(false, Ordering::Relaxed);
            return None;
        }
        let first = !self.logged.swap(true, Ordering::Relaxed);
        if self.ignore {
            if first {
                tracing::error!(
                    trigger = %path.display(),
                    "chaos: store sync failed (injected EIO) and the failure is ignored"
                );
            }
            return Some(Ok(()));
        }
        if first {
            tracing::warn!(trigger = %path.display(), "chaos: store sync fails (injected EIO)");
        }
        Some(Err(std::io::Error::from_raw_os_error(5)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_fails_with_eio_only_while_the_trigger_exists_or_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let trigger = dir.path().join("fail");
        let fault = SyncFault::new(Some(trigger.clone()), false);
        assert!(fault.intercept().is_none());
        std::fs::write(&trigger, b"").expect("trigger");
        let err = fault.intercept().expect("intercepted").expect_err("fails");
        assert_eq!(err.raw_os_error(), Some(5));
        std::fs::remove_file(&trigger).expect("remove");
        assert!(fault.intercept().is_none());

        let ignoring = SyncFault::new(Some(trigger.clone()), true);
        std::fs::write(&trigger, b"").expect("trigger");
        assert!(matches!(ignoring.intercept(), Some(Ok(()))));
        assert!(SyncFault::default().intercept().is_none());
    }
}
