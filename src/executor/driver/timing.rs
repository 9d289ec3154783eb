//! How long the executor loop waits: a tick, or an await inside it, that takes longer than
//! [`SLOW`] is logged with its name and duration, so a stalled loop names the await it sat in.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

/// A tick (or one await in it) longer than this is logged.
pub(super) const SLOW: Duration = Duration::from_secs(1);

/// Await `f`, logging it as `what` when it took longer than [`SLOW`].
pub(super) async fn step<F: Future>(what: &'static str, f: F) -> F::Output {
    let started = Instant::now();
    let out = f.await;
    slow(what, started);
    out
}

/// Log `what`, begun at `started`, when it took longer than [`SLOW`].
pub(super) fn slow(what: &'static str, started: Instant) {
    let took = started.elapsed();
    if took >= SLOW {
        warn!(
            step = what,
            took_ms = took.as_millis() as u64,
            "executor loop was slow"
        );
    }
}
