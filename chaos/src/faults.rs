//! The seeded fault schedule. Kinds are drawn up front from the seed; targets (which node is
//! leader, which follower) are resolved when the fault is injected, from another seeded draw.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL the leader, restart it a few seconds later.
    KillLeader,
    /// SIGKILL a follower, restart it a few seconds later.
    KillFollower,
    /// SIGSTOP the leader for three election timeouts, then SIGCONT.
    PauseLeader,
    /// SIGSTOP a follower for three election timeouts, then SIGCONT.
    PauseFollower,
    /// SIGKILL a node, wipe its data dir, start it again (a new node id).
    WipeRestart,
    /// SIGTERM and restart every node, one after the other.
    RollingRestart,
    /// Two fresh nodes join (3 → 5, or 5 → 7) and become voters; then the two are removed
    /// through the admin API and stopped, their data deleted, as docs/deploy.md describes.
    ScaleOutIn,
    /// nftables: the leader loses its peers (not its clients) for three election timeouts.
    IsolateLeader,
    /// nftables: a follower loses its peers for three election timeouts.
    IsolateFollower,
    /// nftables: a minority holding the leader (2 of 5; 1 of 3) is cut from the majority.
    Split,
    /// nftables `numgen`: every node drops 20 % of its peers' packets for six seconds.
    PacketLoss,
    /// A userspace TCP proxy between every pair of nodes delays, jitters, throttles and stalls
    /// their connections for a while.
    SlowLinks,
    /// nftables: one node stops hearing another, which still hears it (A hears B, B not A).
    OneWay,
    /// A node's data dir (its own small tmpfs) fills up under load, then is freed.
    DiskFull,
    /// A node's log store sync fails with EIO for a while (`chaos-faults` hook).
    SyncFail,
    /// A node restarted with its wall clock minutes off, then made the leader.
    ClockSkew,
    /// Every node rolled to the previous release and back, one at a time, under load.
    RollingUpgrade,
}

impl FaultKind {
    pub const PROCESS: [FaultKind; 7] = [
        FaultKind::KillLeader,
        FaultKind::KillFollower,
        FaultKind::PauseLeader,
        FaultKind::PauseFollower,
        FaultKind::WipeRestart,
        FaultKind::RollingRestart,
        FaultKind::ScaleOutIn,
    ];
    pub const NETWORK: [FaultKind; 6] = [
        FaultKind::IsolateLeader,
        FaultKind::IsolateFollower,
        FaultKind::Split,
        FaultKind::PacketLoss,
        FaultKind::SlowLinks,
        FaultKind::OneWay,
    ];
    /// Faults of disks, clocks and versions: always in the schedule; where one cannot be
    /// injected here (no root, no `faketime`, a build without the hooks) it is skipped with the
    /// reason, and counted as skipped.
    pub const ENVIRONMENT: [FaultKind; 4] = [
        FaultKind::DiskFull,
        FaultKind::SyncFail,
        FaultKind::ClockSkew,
        FaultKind::RollingUpgrade,
    ];

    /// Kinds a run schedules: network faults only with network namespaces.
    pub fn available(network: bool) -> Vec<FaultKind> {
        let mut v = Self::PROCESS.to_vec();
        v.extend(Self::ENVIRONMENT);
        if network {
            v.extend(Self::NETWORK);
        }
        v
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// Faults of every cycle. The first cycles cover every available kind once (in a seeded
/// order), so even a short CI campaign injects each; later cycles draw weighted kinds (rolling
/// restarts and scaling are slow, so rarer).
pub fn schedule(seed: u64, cycles: usize, network: bool) -> Vec<FaultKind> {
    let mut rng = SeededRng::new(seed ^ 0x5eed_fa17);
    let mut first = FaultKind::available(network);
    for i in (1..first.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        first.swap(i, j);
    }
    let mut weighted = vec![
        FaultKind::KillLeader,
        FaultKind::KillLeader,
        FaultKind::KillFollower,
        FaultKind::PauseLeader,
        FaultKind::PauseLeader,
        FaultKind::PauseFollower,
        FaultKind::WipeRestart,
        FaultKind::RollingRestart,
        FaultKind::ScaleOutIn,
        FaultKind::DiskFull,
        FaultKind::SyncFail,
        FaultKind::ClockSkew,
        FaultKind::RollingUpgrade,
    ];
    if network {
        weighted.extend([
            FaultKind::IsolateLeader,
            FaultKind::IsolateLeader,
            FaultKind::IsolateFollower,
            FaultKind::Split,
            FaultKind::Split,
            FaultKind::PacketLoss,
            FaultKind::SlowLinks,
            FaultKind::OneWay,
        ]);
    }
    (0..cycles)
        .map(|i| {
            if i < first.len() {
                first[i]
            } else {
                *rng.pick(&weighted)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_replays_and_covers_every_kind_early() {
        for network in [false, true] {
            let mut kinds = FaultKind::available(network);
            kinds.sort();
            let a = schedule(7, 30, network);
            assert_eq!(a, schedule(7, 30, network));
            let mut head = a[..kinds.len()].to_vec();
            head.sort();
            assert_eq!(head, kinds);
            assert_eq!(schedule(7, 3, network).len(), 3);
            assert!(
                a.iter().all(|k| network || !FaultKind::NETWORK.contains(k)),
                "no network fault without namespaces"
            );
        }
    }
}
