//! Per-hour counts of alerts and remediations, kept by apply so that the UI's 24 h chart reads 24
//! keys instead of scanning every recent record.
//!
//! An hour counts the alerts *received* in it (firing or resolved) and the remediations
//! *created* in it that ended succeeded or failed (interrupted counts as failed), among the
//! records still held: apply adds an alert when it records it, a remediation when it reaches
//! one of those states, and takes both away again when `Prune` deletes them. So the counts
//! always equal [`History::hourly_by_scan`] over the same hours (tested). Hours older than
//! [`KEEP_HOURS`] are dropped by `Prune`.
//!
//! A store written before these counts existed has no [`keys::HOURLY_READY`] marker: the first
//! command applied afterwards rebuilds the counts from the records (deterministically, on every
//! replica alike), and until then readers fall back to the scan.

use std::collections::BTreeMap;

use openfero_raft::{codec, KvError, KvTxn};
use serde::{Deserialize, Serialize};

use super::keys;
use super::query::History;
use super::record::{AlertRecord, RemediationRecord, RemediationState};

pub const HOUR_MS: i64 = 3_600_000;
/// Hours kept; the chart shows 24.
pub const KEEP_HOURS: u64 = 48;

/// The counts of one hour.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourCounts {
    pub firing: u64,
    pub resolved: u64,
    pub succeeded: u64,
    pub failed: u64,
}

/// The hour (since the epoch) a millisecond timestamp falls in; times before the epoch count
/// in hour 0.
pub fn hour_of(ms: i64) -> u64 {
    u64::try_from(ms.div_euclid(HOUR_MS)).unwrap_or(0)
}

/// The counter a record adds to, if any.
#[derive(Debug, Clone, Copy)]
enum Counter {
    Firing,
    Resolved,
    Succeeded,
    Failed,
}

impl Counter {
    fn of_alert(a: &AlertRecord) -> Self {
        if a.status == "firing" {
            Counter::Firing
        } else {
            Counter::Resolved
        }
    }

    fn of_remediation(state: RemediationState) -> Option<Self> {
        match state {
            RemediationState::Succeeded => Some(Counter::Succeeded),
            RemediationState::Failed | RemediationState::Interrupted => Some(Counter::Failed),
            _ => None,
        }
    }

    fn slot(self, c: &mut HourCounts) -> &mut u64 {
        match self {
            Counter::Firing => &mut c.firing,
            Counter::Resolved => &mut c.resolved,
            Counter::Succeeded => &mut c.succeeded,
            Counter::Failed => &mut c.failed,
        }
    }
}

fn change(kv: &mut KvTxn<'_>, at_ms: i64, counter: Counter, up: bool) -> Result<(), KvError> {
    let key = keys::with_seq(keys::HOURLY, hour_of(at_ms));
    let mut counts: HourCounts = match kv.get_as(&key)? {
        Some(c) => c,
        // Taking away from an hour already dropped (older than KEEP_HOURS) changes nothing.
        None if !up => return Ok(()),
        None => HourCounts::default(),
    };
    let slot = counter.slot(&mut counts);
    *slot = if up {
        slot.saturating_add(1)
    } else {
        slot.saturating_sub(1)
    };
    kv.put_as(&key, &counts)
}

/// A new alert record.
pub fn alert_added(kv: &mut KvTxn<'_>, a: &AlertRecord) -> Result<(), KvError> {
    change(kv, a.received_at_ms, Counter::of_alert(a), true)
}

/// An alert record deleted by retention.
pub fn alert_removed(kv: &mut KvTxn<'_>, a: &AlertRecord) -> Result<(), KvError> {
    change(kv, a.received_at_ms, Counter::of_alert(a), false)
}

/// A remediation that reached `r.state` (counted when terminal and not skipped).
pub fn remediation_ended(kv: &mut KvTxn<'_>, r: &RemediationRecord) -> Result<(), KvError> {
    match Counter::of_remediation(r.state) {
        Some(c) => change(kv, r.created_at_ms, c, true),
        None => Ok(()),
    }
}

/// A remediation record deleted by retention.
pub fn remediation_removed(kv: &mut KvTxn<'_>, r: &RemediationRecord) -> Result<(), KvError> {
    match Counter::of_remediation(r.state) {
        Some(c) => change(kv, r.created_at_ms, c, false),
        None => Ok(()),
    }
}

/// Drop the hours older than [`KEEP_HOURS`] before `now_ms` (at most `limit` of them).
pub fn drop_old(kv: &mut KvTxn<'_>, now_ms: i64, limit: usize) -> Result<(), KvError> {
    let oldest_kept = hour_of(now_ms).saturating_sub(KEEP_HOURS);
    for (key, _) in kv.scan_prefix(keys::HOURLY, limit)? {
        if keys::seq_of(&key).is_some_and(|h| h < oldest_kept) {
            kv.delete(&key);
        } else {
            break;
        }
    }
    Ok(())
}

/// Build the counts from the records once, if this store does not have them yet.
pub fn ensure(kv: &mut KvTxn<'_>) -> Result<(), KvError> {
    if kv.get(keys::HOURLY_READY)?.is_some() {
        return Ok(());
    }
    let mut hours: BTreeMap<u64, HourCounts> = BTreeMap::new();
    for (_, v) in kv.scan_prefix(keys::ALERT, usize::MAX)? {
        let a: AlertRecord = codec::decode(&v)?;
        let c = hours.entry(hour_of(a.received_at_ms)).or_default();
        *Counter::of_alert(&a).slot(c) += 1;
    }
    for (_, v) in kv.scan_prefix(keys::REMEDIATION, usize::MAX)? {
        let r: RemediationRecord = codec::decode(&v)?;
        if let Some(counter) = Counter::of_remediation(r.state) {
            *counter.slot(hours.entry(hour_of(r.created_at_ms)).or_default()) += 1;
        }
    }
    for (hour, counts) in hours {
        kv.put_as(&keys::with_seq(keys::HOURLY, hour), &counts)?;
    }
    kv.put(keys::HOURLY_READY, Vec::new());
    Ok(())
}

impl History {
    /// The counts of the hours `first..=last`, oldest first (zero for an hour without any).
    /// Read from the counters apply keeps; by a scan on a store that has none yet.
    pub fn hourly(&self, first: u64, last: u64) -> Result<Vec<HourCounts>, KvError> {
        if self.reader().get(keys::HOURLY_READY)?.is_none() {
            return self.hourly_by_scan(first, last);
        }
        let mut out = vec![HourCounts::default(); hours_between(first, last)];
        let from = keys::with_seq(keys::HOURLY, first);
        for item in self.reader().iter_prefix_from(keys::HOURLY, &from) {
            let (k, v) = item?;
            let Some(hour) = keys::seq_of(&k).filter(|h| *h <= last) else {
                break;
            };
            out[(hour - first) as usize] = codec::decode(&v)?;
        }
        Ok(out)
    }

    /// [`History::hourly`] computed from the alert and remediation records themselves.
    pub fn hourly_by_scan(&self, first: u64, last: u64) -> Result<Vec<HourCounts>, KvError> {
        let mut out = vec![HourCounts::default(); hours_between(first, last)];
        let since = i64::try_from(first)
            .unwrap_or(i64::MAX)
            .saturating_mul(HOUR_MS);
        let slot = |ms: i64| {
            let h = hour_of(ms);
            (first..=last).contains(&h).then(|| (h - first) as usize)
        };
        self.for_each_alert_since(since, |a| {
            if let Some(i) = slot(a.received_at_ms) {
                *Counter::of_alert(a).slot(&mut out[i]) += 1;
            }
        })?;
        self.for_each_remediation_since(since, |r| {
            if let (Some(i), Some(c)) = (slot(r.created_at_ms), Counter::of_remediation(r.state)) {
                *c.slot(&mut out[i]) += 1;
            }
        })?;
        Ok(out)
    }
}

fn hours_between(first: u64, last: u64) -> usize {
    if last < first {
        return 0;
    }
    usize::try_from(last - first + 1).unwrap_or(0)
}
