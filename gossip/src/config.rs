//! Configuration of a gossip node and its translation into chitchat's.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chitchat::{ChitchatConfig, ChitchatId, FailureDetectorConfig, ProtocolVersion};

use crate::error::{Error, Result};
use crate::meta::NodeMeta;

/// Default gossip round interval.
pub const DEFAULT_GOSSIP_INTERVAL: Duration = Duration::from_millis(500);
/// Default time a dead member stays in the view before being forgotten.
pub const DEFAULT_DEAD_GRACE: Duration = Duration::from_secs(60 * 60);
/// Default cluster id (the chitchat "cluster", not the Raft cluster uuid).
pub const DEFAULT_CLUSTER_ID: &str = "openfero";
/// Default gossip port.
pub const DEFAULT_GOSSIP_PORT: u16 = 7946;

/// Chitchat's default upper bound on a heartbeat interval sample; we only ever
/// raise it (see [`GossipConfig::failure_detector_config`]).
const MIN_MAX_INTERVAL: Duration = Duration::from_secs(10);
/// Samples longer than `gossip_interval * MAX_INTERVAL_FACTOR` are ignored.
const MAX_INTERVAL_FACTOR: u32 = 20;
/// Smallest accepted gossip interval.
const MIN_GOSSIP_INTERVAL: Duration = Duration::from_millis(10);

/// Configuration of one gossip node.
#[derive(Debug, Clone)]
pub struct GossipConfig {
    /// Our node id (non-zero); gossiped as 16 lowercase hex digits.
    pub node_id: u64,
    /// Generation of this incarnation; `None` means "now" in nanoseconds since
    /// the Unix epoch. Must grow across restarts of the same node id.
    pub generation: Option<u64>,
    /// Gossip cluster id: nodes with different ids never merge.
    pub cluster_id: String,
    /// UDP address to bind.
    pub listen_addr: SocketAddr,
    /// Address peers use to reach us (must be routable, not `0.0.0.0`).
    pub advertise_addr: SocketAddr,
    /// Seed peers as `host:port`. IP literals are used as is; host names are
    /// resolved at start and re-resolved by chitchat every 60 s. Our own
    /// address may be in the list (chitchat skips it).
    pub seeds: Vec<String>,
    /// Interval between gossip rounds.
    pub gossip_interval: Duration,
    /// How long a dead member stays visible (as not alive) before chitchat
    /// garbage-collects it.
    pub dead_grace: Duration,
    /// Initial metadata.
    pub meta: NodeMeta,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            node_id: 0,
            generation: None,
            cluster_id: DEFAULT_CLUSTER_ID.to_string(),
            listen_addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_GOSSIP_PORT)),
            advertise_addr: SocketAddr::from(([127, 0, 0, 1], DEFAULT_GOSSIP_PORT)),
            seeds: Vec::new(),
            gossip_interval: DEFAULT_GOSSIP_INTERVAL,
            dead_grace: DEFAULT_DEAD_GRACE,
            meta: NodeMeta::default(),
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field,
        reason: reason.into(),
    }
}

impl GossipConfig {
    /// Checks the configuration; [`crate::Gossip::start`] calls it too.
    pub fn validate(&self) -> Result<()> {
        if self.node_id == 0 {
            return Err(invalid("node_id", "must not be `0`"));
        }
        if self.cluster_id.trim().is_empty() {
            return Err(invalid("cluster_id", "must not be empty"));
        }
        if self.gossip_interval < MIN_GOSSIP_INTERVAL {
            return Err(invalid(
                "gossip_interval",
                format!(
                    "must be at least `{MIN_GOSSIP_INTERVAL:?}`, got `{:?}`",
                    self.gossip_interval
                ),
            ));
        }
        if self.dead_grace <= self.gossip_interval {
            return Err(invalid(
                "dead_grace",
                format!(
                    "must be longer than the gossip interval `{:?}`, got `{:?}`",
                    self.gossip_interval, self.dead_grace
                ),
            ));
        }
        if self.listen_addr.port() == 0 {
            return Err(invalid(
                "listen_addr",
                format!("needs an explicit port, got `{}`", self.listen_addr),
            ));
        }
        if self.advertise_addr.port() == 0 || self.advertise_addr.ip().is_unspecified() {
            return Err(invalid(
                "advertise_addr",
                format!(
                    "must be a routable address with a port, got `{}`",
                    self.advertise_addr
                ),
            ));
        }
        for seed in &self.seeds {
            if !is_valid_seed(seed) {
                return Err(invalid(
                    "seeds",
                    format!("expected `host:port`, got `{seed}`"),
                ));
            }
        }
        Ok(())
    }

    /// The generation to use: the configured one or the current time in ns.
    pub(crate) fn effective_generation(&self) -> u64 {
        self.generation.unwrap_or_else(now_nanos)
    }

    /// Failure detector tuned to our gossip interval.
    ///
    /// * `initial_interval` = gossip interval: chitchat uses it as the prior
    ///   mean heartbeat interval (weight 5 samples); with its 5 s default a
    ///   node seen only briefly takes ~40 s to be declared dead.
    /// * `max_interval` is raised to `20 x gossip_interval` if that exceeds
    ///   chitchat's 10 s, so slow intervals still produce samples.
    /// * `dead_node_grace_period` = [`GossipConfig::dead_grace`].
    /// * phi threshold and window size keep chitchat's defaults.
    pub fn failure_detector_config(&self) -> FailureDetectorConfig {
        let defaults = FailureDetectorConfig::default();
        let max_interval = self
            .gossip_interval
            .saturating_mul(MAX_INTERVAL_FACTOR)
            .max(MIN_MAX_INTERVAL);
        FailureDetectorConfig {
            initial_interval: self.gossip_interval,
            max_interval,
            dead_node_grace_period: self.dead_grace,
            ..defaults
        }
    }

    pub(crate) fn chitchat_config(&self, chitchat_id: ChitchatId) -> ChitchatConfig {
        ChitchatConfig {
            chitchat_id,
            cluster_id: self.cluster_id.clone(),
            gossip_interval: self.gossip_interval,
            listen_addr: self.listen_addr,
            seed_nodes: self.seeds.clone(),
            failure_detector_config: self.failure_detector_config(),
            // We never delete keys, so tombstones only come from foreign code;
            // keep them as long as dead nodes.
            marked_for_deletion_grace_period: self.dead_grace,
            catchup_callback: None,
            extra_liveness_predicate: None,
            // Pinned: V0 is the format every chitchat 0.13 node decodes. Moving
            // to V1 needs a two-step rolling upgrade (ship V1-capable decoders
            // first, then switch the sender), never a single deploy.
            protocol_version: ProtocolVersion::V0,
        }
    }
}

fn is_valid_seed(seed: &str) -> bool {
    if seed.parse::<SocketAddr>().is_ok() {
        return true;
    }
    match seed.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains(':')
                && !host.chars().any(char::is_whitespace)
                && port.parse::<u16>().is_ok_and(|p| p != 0)
        }
        None => false,
    }
}

fn now_nanos() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

/// Formats a node id the way it is gossiped: 16 lowercase hex digits.
pub fn format_node_id(node_id: u64) -> String {
    format!("{node_id:016x}")
}

/// Parses a gossiped node id; `None` for anything that is not exactly 16
/// lowercase hex digits (e.g. a foreign chitchat node).
pub fn parse_node_id(raw: &str) -> Option<u64> {
    let well_formed = raw.len() == 16
        && raw
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed {
        return None;
    }
    u64::from_str_radix(raw, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> GossipConfig {
        GossipConfig {
            node_id: 1,
            seeds: vec!["192.0.2.1:7946".into(), "openfero-headless:7946".into()],
            ..GossipConfig::default()
        }
    }

    fn field_of(config: &GossipConfig) -> Option<&'static str> {
        match config.validate() {
            Ok(()) => None,
            Err(Error::InvalidConfig { field, .. }) => Some(field),
            Err(other) => panic!("unexpected error: {other}"),
        }
    }

    #[test]
    fn default_with_node_id_is_valid() {
        assert_eq!(field_of(&valid()), None);
    }

    #[test]
    fn default_alone_is_rejected_for_node_id_zero() {
        assert_eq!(field_of(&GossipConfig::default()), Some("node_id"));
    }

    #[test]
    fn rejects_bad_values() {
        let cases: Vec<(&str, GossipConfig)> = vec![
            (
                "node_id",
                GossipConfig {
                    node_id: 0,
                    ..valid()
                },
            ),
            (
                "cluster_id",
                GossipConfig {
                    cluster_id: String::new(),
                    ..valid()
                },
            ),
            (
                "cluster_id",
                GossipConfig {
                    cluster_id: "  ".into(),
                    ..valid()
                },
            ),
            (
                "gossip_interval",
                GossipConfig {
                    gossip_interval: Duration::ZERO,
                    ..valid()
                },
            ),
            (
                "dead_grace",
                GossipConfig {
                    dead_grace: Duration::from_millis(100),
                    ..valid()
                },
            ),
            (
                "listen_addr",
                GossipConfig {
                    listen_addr: "0.0.0.0:0".parse().expect("addr"),
                    ..valid()
                },
            ),
            (
                "advertise_addr",
                GossipConfig {
                    advertise_addr: "0.0.0.0:7946".parse().expect("addr"),
                    ..valid()
                },
            ),
            (
                "advertise_addr",
                GossipConfig {
                    advertise_addr: "192.0.2.1:0".parse().expect("addr"),
                    ..valid()
                },
            ),
            (
                "seeds",
                GossipConfig {
                    seeds: vec!["no-port".into()],
                    ..valid()
                },
            ),
            (
                "seeds",
                GossipConfig {
                    seeds: vec!["host:notaport".into()],
                    ..valid()
                },
            ),
            (
                "seeds",
                GossipConfig {
                    seeds: vec![":7946".into()],
                    ..valid()
                },
            ),
            (
                "seeds",
                GossipConfig {
                    seeds: vec!["host:0".into()],
                    ..valid()
                },
            ),
        ];
        for (field, config) in cases {
            assert_eq!(field_of(&config), Some(field), "config: {config:?}");
        }
    }

    #[test]
    fn error_message_style() {
        let err = GossipConfig {
            node_id: 0,
            ..valid()
        }
        .validate()
        .expect_err("node id 0 is invalid");
        assert_eq!(
            err.to_string(),
            "invalid gossip config: `node_id` must not be `0`"
        );
    }

    #[test]
    fn accepts_ipv6_and_dns_seeds() {
        let config = GossipConfig {
            seeds: vec!["[::1]:7946".into(), "localhost:7946".into()],
            ..valid()
        };
        assert_eq!(field_of(&config), None);
    }

    #[test]
    fn failure_detector_is_tuned_to_gossip_interval() {
        let config = GossipConfig {
            gossip_interval: Duration::from_millis(500),
            dead_grace: Duration::from_secs(3600),
            ..valid()
        };
        let fd = config.failure_detector_config();
        assert_eq!(fd.initial_interval, Duration::from_millis(500));
        assert_eq!(fd.dead_node_grace_period, Duration::from_secs(3600));
        assert_eq!(fd.max_interval, Duration::from_secs(10));
        assert_eq!(
            fd.phi_threshold,
            FailureDetectorConfig::default().phi_threshold
        );

        let slow = GossipConfig {
            gossip_interval: Duration::from_secs(2),
            ..valid()
        };
        assert_eq!(
            slow.failure_detector_config().max_interval,
            Duration::from_secs(40)
        );
    }

    #[test]
    fn node_id_formatting_roundtrips() {
        for id in [1u64, 0xdead_beef, u64::MAX] {
            let s = format_node_id(id);
            assert_eq!(s.len(), 16);
            assert_eq!(parse_node_id(&s), Some(id));
        }
        assert_eq!(format_node_id(255), "00000000000000ff");
        assert_eq!(parse_node_id("00000000000000FF"), None);
        assert_eq!(parse_node_id("ff"), None);
        assert_eq!(parse_node_id("node-1"), None);
    }

    #[test]
    fn generation_defaults_to_now_and_respects_override() {
        let fixed = GossipConfig {
            generation: Some(42),
            ..valid()
        };
        assert_eq!(fixed.effective_generation(), 42);
        let a = valid().effective_generation();
        let b = valid().effective_generation();
        assert!(a > 1_600_000_000_000_000_000, "ns since epoch, got {a}");
        assert!(b >= a);
    }
}
