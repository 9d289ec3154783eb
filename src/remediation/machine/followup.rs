//! Follow-ups (`remediation/followup.rs`): which remediations have them, and the steps the
//! leader records. A step applies once: the first silence, the first verdict, one notification
//! per outcome — so a leader that lost its leadership half-way cannot record a second verdict.

use std::collections::{BTreeMap, BTreeSet};

use openfero_raft::{KvError, KvTxn};

use super::super::command::Response;
use super::super::followup::{FollowUpRecord, FollowUpStep, Verification};
use super::super::keys;
use super::super::record::{AlertRecord, RemediationRecord, RemediationState};
use super::limits::{clock, count_ineffective};
use super::load_remediation;
use crate::ids::RemediationId;
use crate::operarios::FollowUpDef;

/// The operarios that have follow-ups, read once per ingested webhook.
pub(super) struct Operarios(BTreeSet<String>);

impl Operarios {
    pub(super) fn load(kv: &KvTxn<'_>) -> Result<Self, KvError> {
        let defs: Option<BTreeMap<String, FollowUpDef>> = kv.get_as(keys::FOLLOWUP_DEFS)?;
        Ok(Self(defs.unwrap_or_default().into_keys().collect()))
    }

    /// A new remediation of an operarius with follow-ups joins the leader's work list.
    pub(super) fn opened(&self, kv: &mut KvTxn<'_>, rec: &RemediationRecord) {
        if self.0.contains(&rec.operarius) {
            kv.put(&keys::with_seq(keys::FOLLOWUP_OPEN, rec.seq), Vec::new());
        }
    }
}

pub(super) fn record(
    kv: &mut KvTxn<'_>,
    id: &RemediationId,
    at_ms: i64,
    step: FollowUpStep,
) -> Result<Response, KvError> {
    let Some(rec) = load_remediation(kv, id)? else {
        return Ok(Response::Refused(format!("unknown remediation `{id}`")));
    };
    let now = clock(kv, at_ms)?;
    let key = keys::with_seq(keys::FOLLOWUP, rec.seq);
    let mut fu: FollowUpRecord = kv.get_as(&key)?.unwrap_or_default();
    if fu.closed_at_ms.is_some() {
        return Ok(Response::Refused(format!(
            "the follow-ups of remediation `{id}` are closed"
        )));
    }
    match step {
        FollowUpStep::Silenced {
            silences,
            until_ms,
            warning,
        } => {
            if fu.silenced_at_ms.is_some() {
                return Ok(Response::Refused(format!(
                    "remediation `{id}` was silenced already"
                )));
            }
            fu.silences = silences;
            fu.silenced_at_ms = Some(now);
            fu.silence_until_ms = Some(until_ms);
            fu.silence_warning = warning;
        }
        FollowUpStep::SilencesExpired { warning } => {
            if fu.silences_expired_at_ms.is_some() {
                return Ok(Response::Refused(format!(
                    "the silences of remediation `{id}` were expired already"
                )));
            }
            fu.silences_expired_at_ms = Some(now);
            fu.expire_warning = warning;
        }
        FollowUpStep::Verified { verified, evidence } => {
            if rec.state != RemediationState::Succeeded {
                return Ok(Response::Refused(format!(
                    "remediation `{id}` is {}: only a succeeded run is verified",
                    rec.state.as_str()
                )));
            }
            if fu.verification.is_some() {
                return Ok(Response::Refused(format!(
                    "remediation `{id}` was verified already"
                )));
            }
            fu.verification = Some(Verification {
                verified,
                at_ms: now,
                evidence,
            });
            if !verified {
                let alert: Option<AlertRecord> =
                    kv.get_as(&keys::with_seq(keys::ALERT, rec.alert_seq))?;
                let labels = alert.map(|a| a.labels).unwrap_or_default();
                count_ineffective(kv, &rec, &labels, now)?;
            }
        }
        FollowUpStep::Notified {
            event,
            delivered,
            attempts,
            error,
        } => {
            if fu.notified(event) {
                return Ok(Response::Refused(format!(
                    "`{}` was notified already for remediation `{id}`",
                    event.as_str()
                )));
            }
            fu.notifications.push(super::super::NotificationRecord {
                event,
                delivered,
                attempts,
                error,
                at_ms: now,
            });
        }
        FollowUpStep::Closed => {
            fu.closed_at_ms = Some(now);
            kv.delete(&keys::with_seq(keys::FOLLOWUP_OPEN, rec.seq));
        }
    }
    kv.put_as(&key, &fu)?;
    Ok(Response::Done)
}
