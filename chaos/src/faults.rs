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
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::KillLeader,
        FaultKind::KillFollower,
        FaultKind::PauseLeader,
        FaultKind::PauseFollower,
        FaultKind::WipeRestart,
        FaultKind::RollingRestart,
    ];
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

/// Faults of every cycle. The first six cycles cover every kind once (in a seeded order), so
/// even a short CI campaign injects each; later cycles draw weighted kinds (rolling restarts
/// are slow, so rarer).
pub fn schedule(seed: u64, cycles: usize) -> Vec<FaultKind> {
    let mut rng = SeededRng::new(seed ^ 0x5eed_fa17);
    let mut first = FaultKind::ALL.to_vec();
    for i in (1..first.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        first.swap(i, j);
    }
    let weighted = [
        FaultKind::KillLeader,
        FaultKind::KillLeader,
        FaultKind::KillFollower,
        FaultKind::PauseLeader,
        FaultKind::PauseLeader,
        FaultKind::PauseFollower,
        FaultKind::WipeRestart,
        FaultKind::RollingRestart,
    ];
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
        let a = schedule(7, 20);
        assert_eq!(a, schedule(7, 20));
        let mut head = a[..6].to_vec();
        head.sort();
        assert_eq!(head, FaultKind::ALL.to_vec());
        assert_eq!(schedule(7, 3).len(), 3);
    }
}
