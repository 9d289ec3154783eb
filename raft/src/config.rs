//! Raft timing and snapshot settings.

use std::time::Duration;

use crate::batcher::BatchLimits;
use crate::error::{Error, Result};

/// Settings for one Raft node. `Default` is tuned for Kubernetes and 2-core CI machines rather
/// than for openraft's LAN defaults (see ARCHITECTURE.md).
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// Name shared by every member; RPCs from another cluster name are rejected.
    pub cluster_name: String,
    pub heartbeat_interval: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    pub install_snapshot_timeout: Duration,
    /// Build a snapshot after this many applied entries since the last one.
    pub snapshot_every: u64,
    /// Entries kept in the log behind a snapshot (lets lagging followers catch up without one).
    pub keep_behind_snapshot: u64,
    /// How long a client write may wait for commit before it is reported as `NoQuorum`.
    pub write_timeout: Duration,
    /// How concurrent writes are coalesced into entries and forwards.
    pub batch: BatchLimits,
    /// Most entries in one AppendEntries RPC. openraft 0.9 times an append out after the
    /// heartbeat interval, so this bounds its bytes (with `batch.max_bytes`) for a follower
    /// catching up.
    pub max_payload_entries: u64,
    /// sled's page cache, in bytes.
    pub cache_capacity: u64,
    /// Mutual TLS for every call between peers (RPCs and forwarded writes); `None`: plain HTTP.
    #[cfg(feature = "peer-tls")]
    pub peer_tls: Option<crate::tls::PeerTlsConfig>,
}

impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            cluster_name: "openfero".to_string(),
            heartbeat_interval: Duration::from_millis(150),
            election_timeout_min: Duration::from_millis(500),
            election_timeout_max: Duration::from_millis(900),
            install_snapshot_timeout: Duration::from_secs(10),
            snapshot_every: 1000,
            keep_behind_snapshot: 1000,
            write_timeout: Duration::from_secs(2),
            batch: BatchLimits::default(),
            max_payload_entries: 32,
            cache_capacity: crate::store::DEFAULT_CACHE_BYTES,
            #[cfg(feature = "peer-tls")]
            peer_tls: None,
        }
    }
}

impl RaftConfig {
    /// Check the settings and turn them into openraft's configuration.
    pub fn validate(&self) -> Result<openraft::Config> {
        let ms = |d: Duration| d.as_millis() as u64;
        if self.election_timeout_min <= self.heartbeat_interval {
            return Err(Error::Invalid {
                field: "election_timeout_min",
                reason: "must be longer than the heartbeat interval".into(),
            });
        }
        if self.election_timeout_max <= self.election_timeout_min {
            return Err(Error::Invalid {
                field: "election_timeout_max",
                reason: "must be longer than election_timeout_min".into(),
            });
        }
        if self.snapshot_every == 0 {
            return Err(Error::Invalid {
                field: "snapshot_every",
                reason: "must be at least 1".into(),
            });
        }
        if self.batch.max_commands == 0
            || self.batch.max_bytes == 0
            || self.batch.max_in_flight == 0
        {
            return Err(Error::Invalid {
                field: "batch",
                reason: "every bound must be at least 1".into(),
            });
        }
        if self.max_payload_entries == 0 {
            return Err(Error::Invalid {
                field: "max_payload_entries",
                reason: "must be at least 1".into(),
            });
        }
        #[cfg(feature = "peer-tls")]
        if let Some(tls) = &self.peer_tls {
            tls.validate().map_err(|e| Error::Invalid {
                field: "peer_tls",
                reason: e.to_string(),
            })?;
        }
        let config = openraft::Config {
            cluster_name: self.cluster_name.clone(),
            heartbeat_interval: ms(self.heartbeat_interval),
            election_timeout_min: ms(self.election_timeout_min),
            election_timeout_max: ms(self.election_timeout_max),
            install_snapshot_timeout: ms(self.install_snapshot_timeout),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.keep_behind_snapshot,
            max_payload_entries: self.max_payload_entries,
            ..Default::default()
        };
        config.validate().map_err(|e| Error::Invalid {
            field: "raft",
            reason: e.to_string(),
        })
    }
}
