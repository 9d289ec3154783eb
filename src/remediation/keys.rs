//! Layout of the application keys in the replicated store. Sequence numbers are big-endian so
//! that key order is arrival order.

/// `alert/<seq>` → `AlertRecord`
pub const ALERT: &[u8] = b"al/";
/// `event/<event id>` → alert seq (the idempotency index)
pub const EVENT: &[u8] = b"ev/";
/// `rem/<seq>` → `RemediationRecord`
pub const REMEDIATION: &[u8] = b"rm/";
/// `remid/<remediation id>` → remediation seq
pub const REMEDIATION_ID: &[u8] = b"ri/";
/// `open/<seq>` → () for pending and running remediations (the executor's work list)
pub const OPEN: &[u8] = b"op/";
/// `cooldown/<operarius key>\0<fingerprint>` → until (ms)
pub const COOLDOWN: &[u8] = b"cd/";
/// Counters: next sequence numbers and live counts.
pub const NEXT_ALERT_SEQ: &[u8] = b"ct/next_alert";
pub const NEXT_REMEDIATION_SEQ: &[u8] = b"ct/next_rem";
pub const LIVE_ALERTS: &[u8] = b"ct/live_alerts";
/// `hourly/<hour since the epoch>` → `HourCounts` (see `hourly.rs`), and the marker saying the
/// counts were built for this store.
pub const HOURLY: &[u8] = b"hr/";
pub const HOURLY_READY: &[u8] = b"ct/hourly_ready";
/// The replicated operarius catalog and its fingerprint.
pub const CATALOG: &[u8] = b"cat/list";
pub const CATALOG_FINGERPRINT: &[u8] = b"cat/fp";
/// Broken operarios that still claim their alerts (absent: none).
pub const CATALOG_BROKEN: &[u8] = b"cat/broken";

/// `opstat/<operarius key>` → `OperariusStats` (what the Operarius status shows).
pub const OPERARIUS_STATS: &[u8] = b"os/";
/// `gone/<node id>` → () for node ids removed from the cluster.
pub const REMOVED_NODE: &[u8] = b"gn/";
/// Cluster settings changed through the admin API.
pub const AUTOPILOT_PAUSED: &[u8] = b"cfg/autopilot_paused";
/// Who last paused or resumed the autopilot (`SetAutopilotBy`).
pub const AUTOPILOT_BY: &[u8] = b"cfg/autopilot_by";

/// Guard rails (`limits.rs`). Replicated configuration: the per-operarius guards and the
/// cluster-wide budgets (absent: defaults everywhere).
pub const GUARDS: &[u8] = b"cfg/guards";
/// The guard rails as written since controls (mode, approval, policy) exist: preferred over
/// `cfg/guards` when present.
pub const RAILS: &[u8] = b"cfg/rails";
/// `aw/<seq>` → `Awaiting` (approval deadline, target) for remediations awaiting approval.
pub const AWAITING: &[u8] = b"aw/";
/// The global pause switch (`bool`) and who set it last (`PauseState`).
pub const PAUSE: &[u8] = b"cfg/pause";
/// The latest proposer time applied (ms): decisions use `max(stamped, this)`, so a leader with
/// a clock behind cannot reopen a window (issue 16's skew rule).
pub const CLOCK: &[u8] = b"ct/clock";
/// `bud/<scope>\0<key>` → admission times (ms) still inside the longest window of the scope.
pub const BUDGET: &[u8] = b"bud/";
/// `act/o/<operarius>` and `act/t/<target>` → admitted and not finished (pending + running).
pub const ACTIVE: &[u8] = b"act/";
/// `queue/<seq>` → () for queued remediations, in arrival order.
pub const QUEUED: &[u8] = b"qu/";
/// `brk/<operarius>\0<target>` → `BreakerRecord` (failures, ineffective runs, open or not).
pub const BREAKER: &[u8] = b"brk/";
/// `ok/<operarius>\0<fingerprint>` → when its last run succeeded (ms), until the alert fires
/// again (ineffective) or the window passes.
pub const LAST_SUCCESS: &[u8] = b"ok/";

/// The replicated follow-ups by operarius (`BTreeMap<String, FollowUpDef>`; absent: none).
pub const FOLLOWUP_DEFS: &[u8] = b"cfg/followups";
/// `fu/<seq>` → `FollowUpRecord` of a remediation whose operarius has follow-ups.
pub const FOLLOWUP: &[u8] = b"fu/";
/// `fuo/<seq>` → () while its follow-ups are not closed (the leader's follow-up work list).
pub const FOLLOWUP_OPEN: &[u8] = b"fuo/";

/// `prefix` + `a` + NUL + `b`.
pub fn pair(prefix: &[u8], a: &str, b: &str) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

pub fn with_seq(prefix: &[u8], seq: u64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub fn with_str(prefix: &[u8], s: &str) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(s.as_bytes());
    k
}

pub fn cooldown(operarius: &str, fingerprint: &str) -> Vec<u8> {
    pair(COOLDOWN, operarius, fingerprint)
}

/// The sequence number at the end of a `with_seq` key.
pub fn seq_of(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}
