//! Cluster time: the wall clock the cluster agrees on, for the times that decide things
//! (cooldowns, budget windows, breaker cool-offs), whatever one node's clock says.
//!
//! The rule:
//! - the **leader** measures every peer's wall clock on each AppendEntries round trip (the
//!   answer carries the follower's wall clock; the offset is taken against the middle of the
//!   round trip, so it is off by at most half of it) and its cluster time is its own wall clock
//!   moved to the **median** of its own and its followers' clocks — once more than half of the
//!   group agrees with that median within a second. Two clocks that disagree (one follower of
//!   two answering) decide nothing: the leader keeps the time it had as a follower, and a
//!   leader that never had one stays without;
//! - every **follower** takes the leader's cluster time from each AppendEntries it accepts (a
//!   leader without cluster time says `unknown`, and the follower keeps what it had);
//! - a node that has not learnt the time yet (just started, or a fresh leader whose clock no
//!   majority confirms) is [`calibrated`]` == false`: the application refuses to stamp with it;
//! - apply never lets decision time run backwards (the application's `max(stamped, latest
//!   applied)`).
//!
//! So a minority of clocks off by any amount, either way, changes no decision; a majority of
//! wrong clocks is believed. The clock is one per process: one process is one node.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::types::NodeId;

/// Header of an AppendEntries request: the sender's cluster time, ms since the epoch.
pub(crate) const HEADER_CLUSTER_MS: &str = "x-openfero-cluster-ms";
/// Header of every answer to a peer: the answering node's own wall clock, ms since the epoch.
pub(crate) const HEADER_WALL_MS: &str = "x-openfero-wall-ms";

/// Samples older than this no longer count toward the median.
const FRESH: Duration = Duration::from_secs(5);
/// Peers not measured for this long no longer count in the size of the group (removed).
const FORGET: Duration = Duration::from_secs(60);
/// Clocks this close agree.
const AGREE_MS: i64 = 1_000;

static OFFSET_MS: AtomicI64 = AtomicI64::new(0);
static CALIBRATED: AtomicBool = AtomicBool::new(false);
static SAMPLES: Mutex<BTreeMap<NodeId, (i64, Instant)>> = Mutex::new(BTreeMap::new());

/// This machine's wall clock, ms since the epoch.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Cluster time now, ms since the epoch: the wall clock moved by [`offset_ms`].
pub fn now_ms() -> i64 {
    wall_ms() + OFFSET_MS.load(Ordering::Relaxed)
}

/// How far this node moves its wall clock to reach cluster time.
pub fn offset_ms() -> i64 {
    OFFSET_MS.load(Ordering::Relaxed)
}

/// Whether this node knows cluster time: it has heard a leader, or measured its followers as
/// one, or runs alone ([`calibrate_alone`]).
pub fn calibrated() -> bool {
    CALIBRATED.load(Ordering::Relaxed)
}

/// The only voter is its own reference.
pub fn calibrate_alone() {
    if !calibrated() {
        OFFSET_MS.store(0, Ordering::Relaxed);
        CALIBRATED.store(true, Ordering::Relaxed);
    }
}

/// What a leader's AppendEntries says of the time.
pub(crate) enum LeaderTime {
    /// Its cluster time when it sent the request.
    Known(i64),
    /// It has not agreed on cluster time with its followers yet (the header says `unknown`).
    Unknown,
    /// No header: a release before cluster time. The follower's own clock stands.
    NotSent,
}

impl LeaderTime {
    pub(crate) fn parse(v: Option<&str>) -> Self {
        match v.map(str::trim) {
            None => Self::NotSent,
            Some(s) => s.parse().map(Self::Known).unwrap_or(Self::Unknown),
        }
    }

    /// The header value a leader sends now.
    pub(crate) fn header_now() -> String {
        if calibrated() {
            now_ms().to_string()
        } else {
            "unknown".to_string()
        }
    }
}

/// A follower accepted an AppendEntries from the leader: take its cluster time.
pub(crate) fn follow(leader: LeaderTime, received_wall_ms: i64) {
    match leader {
        LeaderTime::Known(t) => {
            OFFSET_MS.store(t - received_wall_ms, Ordering::Relaxed);
            CALIBRATED.store(true, Ordering::Relaxed);
        }
        LeaderTime::Unknown => {}
        LeaderTime::NotSent => CALIBRATED.store(true, Ordering::Relaxed),
    }
}

/// The leader measured `peer`'s wall clock: `peer_wall_ms` answered to a request sent at
/// `sent_wall_ms` whose round trip took `rtt`.
pub(crate) fn measured(peer: NodeId, peer_wall_ms: i64, sent_wall_ms: i64, rtt: Duration) {
    let mid = sent_wall_ms + (rtt.as_millis() as i64) / 2;
    recompute(Some((peer, peer_wall_ms - mid)));
}

/// A follower of a release before cluster time answered (no clock in its answer): it does
/// not count, and a leader with only such followers keeps its own clock.
pub(crate) fn peer_without_clock() {
    recompute(None);
}

fn recompute(sample: Option<(NodeId, i64)>) {
    let now = Instant::now();
    let mut samples = SAMPLES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((peer, offset)) = sample {
        samples.insert(peer, (offset, now));
    }
    samples.retain(|_, (_, at)| now.duration_since(*at) < FORGET);
    // Every peer measured lately counts in the size of the group, answering or not.
    let known = samples.len() + 1;
    let fresh: Vec<i64> = samples
        .values()
        .filter(|(_, at)| now.duration_since(*at) < FRESH)
        .map(|(o, _)| *o)
        .collect();
    drop(samples);
    if let Some(next) = agreed_offset(&fresh, known, calibrated().then(offset_ms)) {
        OFFSET_MS.store(next, Ordering::Relaxed);
        CALIBRATED.store(true, Ordering::Relaxed);
    }
}

/// The offset a leader takes from its fresh `peers`' offsets (relative to its own clock) in
/// a group of `known` nodes (itself included), given the offset it had (`None`: it never
/// knew cluster time): the median of all clocks, its own included, once more than half the
/// group agrees with it within [`AGREE_MS`]. Without such a majority: `None`, keep what it had.
fn agreed_offset(peers: &[i64], known: usize, had: Option<i64>) -> Option<i64> {
    let mut all: Vec<i64> = peers.to_vec();
    all.push(0);
    all.sort_unstable();
    let n = all.len();
    let m = if n % 2 == 1 {
        all[n / 2]
    } else {
        // Two middle candidates: the one nearer what it had (its own clock if nothing).
        let (a, b) = (all[n / 2 - 1], all[n / 2]);
        let had = had.unwrap_or(0);
        if (a - had).abs() <= (b - had).abs() {
            a
        } else {
            b
        }
    };
    let agree = all.iter().filter(|o| (**o - m).abs() <= AGREE_MS).count();
    (agree * 2 > known).then_some(m)
}

/// A header value as ms since the epoch.
pub(crate) fn parse_ms(v: Option<&str>) -> Option<i64> {
    v.and_then(|s| s.trim().parse::<i64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn a_skewed_leader_takes_the_median_of_its_followers() {
        // This node is two hours ahead: both followers read 120 minutes behind it.
        assert_eq!(
            agreed_offset(&[-120 * MIN, -120 * MIN - 3], 3, None),
            Some(-120 * MIN)
        );
        // One skewed follower among four changes nothing.
        assert_eq!(agreed_offset(&[5, -3, 90 * MIN, 1], 5, Some(0)), Some(1));
    }

    #[test]
    fn two_clocks_that_disagree_decide_nothing() {
        // A skewed node that just became leader, one follower answering of two: it keeps the
        // offset it followed with...
        assert_eq!(agreed_offset(&[-120 * MIN], 3, Some(-120 * MIN + 4)), None);
        // ...and one that never followed does not calibrate on its own clock.
        assert_eq!(agreed_offset(&[-120 * MIN], 3, None), None);
        // Two that agree are a majority of three.
        assert_eq!(agreed_offset(&[40], 3, None), Some(0));
        // A node alone agrees with itself.
        assert_eq!(agreed_offset(&[], 1, None), Some(0));
    }
}
