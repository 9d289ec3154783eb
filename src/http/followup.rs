//! The follow-ups of a remediation as the API shows them (`followUp` of
//! `GET /api/remediations/{id}`): silences, the verification's verdict, notifications.

use serde::Serialize;
use utoipa::ToSchema;

use crate::remediation::FollowUpRecord;
use crate::time::format_ms;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FollowUpView {
    /// `verified`, `ineffective`, or absent while undecided (or not asked for).
    pub verification: Option<String>,
    pub verified_at: Option<String>,
    /// What the verdict rests on: a resolved notification, Alertmanager's alert list, or the
    /// window that passed.
    pub evidence: Option<String>,
    pub silences: Vec<SilenceView>,
    pub silenced_at: Option<String>,
    /// When the silences end by themselves (openfero expires them earlier).
    pub silenced_until: Option<String>,
    pub silences_expired_at: Option<String>,
    /// Alertmanagers that could not silence or expire (never blocks the remediation).
    pub warnings: Vec<String>,
    pub notifications: Vec<NotificationView>,
    /// Nothing is left to follow up.
    pub closed_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SilenceView {
    pub alertmanager: String,
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    pub event: String,
    pub delivered: bool,
    pub attempts: u32,
    pub error: Option<String>,
    pub at: String,
}

impl From<FollowUpRecord> for FollowUpView {
    fn from(f: FollowUpRecord) -> Self {
        let warnings = [f.silence_warning, f.expire_warning]
            .into_iter()
            .flatten()
            .collect();
        Self {
            verification: f.verification.as_ref().map(|v| {
                if v.verified {
                    "verified"
                } else {
                    "ineffective"
                }
                .to_owned()
            }),
            verified_at: f.verification.as_ref().map(|v| format_ms(v.at_ms)),
            evidence: f.verification.map(|v| v.evidence),
            silences: f
                .silences
                .into_iter()
                .map(|s| SilenceView {
                    alertmanager: s.alertmanager,
                    id: s.id,
                })
                .collect(),
            silenced_at: f.silenced_at_ms.map(format_ms),
            silenced_until: f.silence_until_ms.map(format_ms),
            silences_expired_at: f.silences_expired_at_ms.map(format_ms),
            warnings,
            notifications: f
                .notifications
                .into_iter()
                .map(|n| NotificationView {
                    event: n.event.as_str().to_owned(),
                    delivered: n.delivered,
                    attempts: n.attempts,
                    error: n.error,
                    at: format_ms(n.at_ms),
                })
                .collect(),
            closed_at: f.closed_at_ms.map(format_ms),
        }
    }
}
