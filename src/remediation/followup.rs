//! The replicated record of what the leader did after (and beside) a run, for operarios with
//! follow-ups (`spec.silence`, `spec.verify`, `spec.notify`): the Alertmanager silences it
//! created (so a new leader expires what the old one made), the verification's verdict, the
//! notifications sent. Kept beside the remediation record (`fu/<seq>`), not in it, so records
//! written by earlier releases keep decoding.

use std::collections::BTreeMap;

use openfero_raft::KvError;
use serde::{Deserialize, Serialize};

use super::keys;
use super::query::History;
use crate::operarios::{FollowUpDef, NotifyEvent};

/// One silence in one Alertmanager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceRef {
    /// The Alertmanager's base URL, as `--alertmanager-url` gives it.
    pub alertmanager: String,
    pub id: String,
}

/// A step the leader records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FollowUpStep {
    /// Silences created, ending by themselves at `until_ms`; `warning` names the Alertmanagers
    /// that refused or could not be reached (silencing never blocks a remediation).
    Silenced {
        silences: Vec<SilenceRef>,
        until_ms: i64,
        warning: Option<String>,
    },
    /// The silences were expired (or were already gone); `warning` for any that could not be.
    SilencesExpired { warning: Option<String> },
    /// After a succeeded run: the alert resolved in time (`verified`), or it did not.
    Verified { verified: bool, evidence: String },
    /// A notification's end: delivered, or given up after `attempts`.
    Notified {
        event: NotifyEvent,
        delivered: bool,
        attempts: u32,
        error: Option<String>,
    },
    /// Nothing is left to follow up.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub verified: bool,
    pub at_ms: i64,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub event: NotifyEvent,
    pub delivered: bool,
    pub attempts: u32,
    pub error: Option<String>,
    pub at_ms: i64,
}

/// What was followed up for one remediation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpRecord {
    pub silences: Vec<SilenceRef>,
    pub silenced_at_ms: Option<i64>,
    pub silence_until_ms: Option<i64>,
    pub silence_warning: Option<String>,
    pub silences_expired_at_ms: Option<i64>,
    pub expire_warning: Option<String>,
    pub verification: Option<Verification>,
    pub notifications: Vec<NotificationRecord>,
    pub closed_at_ms: Option<i64>,
}

impl FollowUpRecord {
    /// Whether `event` was notified already (delivered or given up).
    pub fn notified(&self, event: NotifyEvent) -> bool {
        self.notifications.iter().any(|n| n.event == event)
    }
}

impl History {
    /// The replicated follow-ups by operarius (`None` before any were synced).
    pub fn followup_defs(&self) -> Result<Option<BTreeMap<String, FollowUpDef>>, KvError> {
        self.reader().get_as(keys::FOLLOWUP_DEFS)
    }

    /// What was followed up for remediation `seq` (`None`: nothing yet).
    pub fn followup(&self, seq: u64) -> Result<Option<FollowUpRecord>, KvError> {
        self.reader().get_as(&keys::with_seq(keys::FOLLOWUP, seq))
    }

    /// Remediations whose follow-ups are not closed, oldest first: the leader's work list.
    pub fn followups_open(&self) -> Result<Vec<u64>, KvError> {
        let mut out = Vec::new();
        for item in self.reader().iter_prefix(keys::FOLLOWUP_OPEN) {
            let (k, _) = item?;
            if let Some(seq) = keys::seq_of(&k) {
                out.push(seq);
            }
        }
        Ok(out)
    }
}

/// How many alert events after a remediation's own the verification reads for a resolved
/// notification of the same alert (a bound under an alert storm; Alertmanager is asked too).
const RESOLVED_SCAN_LIMIT: usize = 20_000;

impl History {
    /// The remediation with sequence number `seq`.
    pub fn remediation_at(&self, seq: u64) -> Result<Option<super::RemediationRecord>, KvError> {
        self.reader()
            .get_as(&keys::with_seq(keys::REMEDIATION, seq))
    }

    /// The first resolved event of the alert `fingerprint` recorded after alert event
    /// `after_seq` and received at or after `since_ms`, among the next
    /// [`RESOLVED_SCAN_LIMIT`] events; and the last event read (the next scan starts there).
    pub fn resolved_after(
        &self,
        after_seq: u64,
        fingerprint: &str,
        since_ms: i64,
    ) -> Result<(Option<super::AlertRecord>, u64), KvError> {
        let from = keys::with_seq(keys::ALERT, after_seq.saturating_add(1));
        let mut last = after_seq;
        for item in self
            .reader()
            .iter_prefix_from(keys::ALERT, &from)
            .take(RESOLVED_SCAN_LIMIT)
        {
            let (k, v) = item?;
            last = keys::seq_of(&k).unwrap_or(last);
            let rec: super::AlertRecord = openfero_raft::codec::decode(&v)?;
            if rec.fingerprint == fingerprint
                && rec.status == "resolved"
                && rec.received_at_ms >= since_ms
            {
                return Ok((Some(rec), last));
            }
        }
        Ok((None, last))
    }
}
