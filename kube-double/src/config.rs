//! Settings of one double instance.

use std::{net::SocketAddr, time::Duration};

/// Settings of one double instance; `Default` binds `127.0.0.1:0`.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen; must be a loopback address.
    pub listen: SocketAddr,
    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// How many changes are kept for watch replay; older resourceVersions get `410 Expired`.
    pub history_limit: usize,
    /// Seeds uids, generated names and probabilistic faults.
    pub seed: u64,
    /// How many requests the request log keeps.
    pub request_log_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            bookmark_interval: Duration::from_secs(1),
            history_limit: 4096,
            seed: 0x0fe0_000d_0b1e,
            request_log_limit: 100_000,
        }
    }
}
