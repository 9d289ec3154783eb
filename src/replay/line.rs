//! The recorded history as lines: one alert event per line, as `GET /api/alerts/export` writes
//! it and `openfero replay --file` reads it. docs/replay.md describes the format.
//!
//! A line holds the notification as the node recorded it (with this one alert: a body that
//! `POST /alerts` accepts), when it was received, and what happened: its remediations. The
//! reading side ([`ReadLine`]) takes the webhook as raw JSON and parses it as `POST /alerts`
//! does, so a hand-written line gets the webhook's own defaults and errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::alerts::parse_webhook;
use crate::ids::node_hex;
use crate::remediation::{AlertRecord, Ingest, RemediationRecord, RemediationState};
use crate::time::format_ms;

/// The webhook payload version written: Alertmanager's version 4 (a record does not keep the
/// version received; openfero reads version 4 bodies only).
pub const WEBHOOK_VERSION: &str = "4";

/// One recorded alert event: the notification that carried it, when it was received, and the
/// remediations it led to.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryLine {
    /// Position in arrival order on the node that recorded it (1-based).
    pub seq: u64,
    /// The event's id: hash of fingerprint, startsAt and status.
    pub event_id: String,
    /// When the node received the webhook (RFC 3339, milliseconds): the time apply decided at.
    pub received_at: String,
    /// The node that accepted it (16 hex digits).
    pub received_by: String,
    /// Raft log index of the entry that recorded it.
    pub log_index: u64,
    /// The notification as recorded, with this one alert.
    pub webhook: LineWebhook,
    /// What happened: the remediations recorded for the event, none when no operarius claimed
    /// it.
    pub remediations: Vec<LineRemediation>,
}

/// The notification as recorded: what `POST /alerts` needs to record the same event again.
/// `groupLabels`, `commonLabels` and `commonAnnotations` are not recorded, so not written.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineWebhook {
    /// Always `4`.
    pub version: String,
    pub group_key: String,
    /// The alert's status (one alert per line).
    pub status: String,
    pub receiver: String,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// Exactly one alert.
    pub alerts: Vec<LineAlert>,
}

/// The alert, with canonical timestamps and its fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineAlert {
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    /// Empty when the sender gave none.
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// One remediation of the event as recorded when the line was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineRemediation {
    #[serde(default)]
    pub id: String,
    /// `namespace/name`.
    pub operarius: String,
    /// pending, running, succeeded, failed, skipped, interrupted, queued, held, dry-run,
    /// awaiting-approval, denied, expired, refused.
    pub state: String,
    /// Why it is in that state (cooldown, budget, breaker, policy, a run's failure, …).
    #[serde(default)]
    pub reason: Option<String>,
    /// When its run started (RFC 3339); null when it never ran.
    #[serde(default)]
    pub started_at: Option<String>,
    /// When it reached a final state (RFC 3339).
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
}

impl HistoryLine {
    /// The line of a recorded alert and its remediations (in the alert's order; a remediation
    /// missing from `remediations` is left out).
    pub fn from_records(alert: &AlertRecord, remediations: &[RemediationRecord]) -> Self {
        let remediations = alert
            .remediations
            .iter()
            .filter_map(|id| remediations.iter().find(|r| &r.id == id))
            .map(|r| LineRemediation {
                id: r.id.0.clone(),
                operarius: r.operarius.clone(),
                state: r.state.as_str().to_owned(),
                reason: r.reason.clone(),
                started_at: r.started_at_ms.map(format_ms),
                finished_at: r.finished_at_ms.map(format_ms),
                exit_code: r.exit_code,
            })
            .collect();
        Self {
            seq: alert.seq,
            event_id: alert.event_id.0.clone(),
            received_at: format_ms(alert.received_at_ms),
            received_by: node_hex(alert.received_by),
            log_index: alert.log_index,
            webhook: LineWebhook {
                version: WEBHOOK_VERSION.to_owned(),
                group_key: alert.group_key.clone(),
                status: alert.status.clone(),
                receiver: alert.receiver.clone(),
                external_url: alert.external_url.clone(),
                alerts: vec![LineAlert {
                    status: alert.status.clone(),
                    labels: alert.labels.clone(),
                    annotations: alert.annotations.clone(),
                    starts_at: alert.starts_at.clone(),
                    ends_at: alert.ends_at.clone(),
                    generator_url: alert.generator_url.clone(),
                    fingerprint: alert.fingerprint.clone(),
                }],
            },
            remediations,
        }
    }
}

/// An RFC 3339 time as milliseconds since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("`{s}` is not an RFC 3339 time: {e}"))
}

/// A line as read: everything but `receivedAt` and `webhook` may be left out.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReadLine {
    #[serde(default)]
    seq: Option<u64>,
    received_at: String,
    #[serde(default)]
    received_by: Option<String>,
    webhook: serde_json::Value,
    #[serde(default)]
    remediations: Vec<LineRemediation>,
}

/// One recorded alert event, ready to replay.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    /// The line's `seq`, else its line number.
    pub seq: u64,
    pub received_at_ms: i64,
    /// The `IngestAlerts` command that records it, with its one alert.
    pub ingest: Ingest,
    pub did: Vec<DidRemediation>,
}

/// A recorded remediation: what did happen.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DidRemediation {
    pub id: String,
    pub operarius: String,
    /// As written; `None` in `parsed` for a state this release does not know.
    pub state: String,
    pub parsed: Option<RemediationState>,
    pub reason: Option<String>,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub exit_code: Option<i32>,
}

impl ReadLine {
    /// Parse one line of text (`number` counts from 1, for the default `seq`).
    pub fn parse(text: &str, number: u64) -> Result<Recorded, String> {
        let line: ReadLine = serde_json::from_str(text).map_err(|e| e.to_string())?;
        line.recorded(number)
    }

    fn recorded(self, number: u64) -> Result<Recorded, String> {
        let received_at_ms =
            parse_time(&self.received_at).map_err(|e| format!("receivedAt: {e}"))?;
        let body = serde_json::to_vec(&self.webhook).map_err(|e| e.to_string())?;
        let hook = parse_webhook(&body, received_at_ms).map_err(|e| format!("webhook: {e}"))?;
        if hook.alerts.len() != 1 {
            return Err(format!(
                "webhook: holds {} alerts; a line holds exactly one alert event",
                hook.alerts.len()
            ));
        }
        let received_by = match self.received_by.as_deref() {
            None | Some("") => 0,
            Some(hex) => u64::from_str_radix(hex, 16)
                .map_err(|_| format!("receivedBy: `{hex}` is not a hex node id"))?,
        };
        let time = |what: &str, t: &Option<String>| -> Result<Option<i64>, String> {
            t.as_deref()
                .map(|s| parse_time(s).map_err(|e| format!("{what}: {e}")))
                .transpose()
        };
        let mut did = Vec::with_capacity(self.remediations.len());
        for (i, r) in self.remediations.into_iter().enumerate() {
            did.push(DidRemediation {
                parsed: RemediationState::parse(&r.state),
                started_at_ms: time(&format!("remediations[{i}].startedAt"), &r.started_at)?,
                finished_at_ms: time(&format!("remediations[{i}].finishedAt"), &r.finished_at)?,
                id: r.id,
                operarius: r.operarius,
                state: r.state,
                reason: r.reason,
                exit_code: r.exit_code,
            });
        }
        Ok(Recorded {
            seq: self.seq.unwrap_or(number),
            received_at_ms,
            ingest: Ingest::from_webhook(hook, received_at_ms, received_by),
            did,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EventId, RemediationId};

    fn alert() -> AlertRecord {
        AlertRecord {
            seq: 7,
            event_id: EventId("ev".into()),
            fingerprint: "fp".into(),
            status: "firing".into(),
            alertname: "Crash".into(),
            labels: [("alertname", "Crash"), ("pod", "web-1")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: [("summary".to_string(), "down".to_string())].into(),
            starts_at: "2026-12-01T10:00:00Z".into(),
            ends_at: String::new(),
            generator_url: "http://prometheus/graph".into(),
            group_key: "{}:{alertname=\"Crash\"}".into(),
            receiver: "openfero".into(),
            external_url: "http://alertmanager".into(),
            received_at_ms: 1_796_119_200_123,
            received_by: 0xab,
            log_index: 42,
            remediations: vec![RemediationId("r1".into())],
        }
    }

    fn remediation() -> RemediationRecord {
        RemediationRecord {
            seq: 3,
            id: RemediationId("r1".into()),
            event_id: EventId("ev".into()),
            alert_seq: 7,
            fingerprint: "fp".into(),
            alertname: "Crash".into(),
            alert_status: "firing".into(),
            operarius: "ops/restart".into(),
            namespace: "ops".into(),
            job_name: "restart-r1".into(),
            state: RemediationState::Failed,
            reason: Some("exit code 3".into()),
            created_at_ms: 1_796_119_200_123,
            started_at_ms: Some(1_796_119_200_200),
            finished_at_ms: Some(1_796_119_201_000),
            exit_code: Some(3),
            output_tail: String::new(),
            rendered: None,
            started_by: None,
            executor: None,
            start_index: None,
        }
    }

    #[test]
    fn a_replay_line_reads_back_what_the_export_wrote() {
        let line = HistoryLine::from_records(&alert(), &[remediation()]);
        let text = serde_json::to_string(&line).expect("json");
        assert!(!text.contains('\n'), "one line");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["receivedAt"], "2026-12-01T10:00:00.123Z");
        assert_eq!(v["webhook"]["externalURL"], "http://alertmanager");
        assert_eq!(
            v["webhook"]["alerts"][0]["generatorURL"],
            "http://prometheus/graph"
        );
        assert_eq!(
            v["remediations"][0]["startedAt"],
            "2026-12-01T10:00:00.200Z"
        );

        let rec = ReadLine::parse(&text, 99).expect("reads");
        assert_eq!(rec.seq, 7);
        assert_eq!(rec.received_at_ms, 1_796_119_200_123);
        assert_eq!(rec.ingest.received_by, 0xab);
        let n = &rec.ingest.notification;
        assert_eq!(
            (
                n.version.as_str(),
                n.group_key.as_str(),
                n.receiver.as_str()
            ),
            ("4", "{}:{alertname=\"Crash\"}", "openfero")
        );
        let ev = &rec.ingest.alerts[0];
        let a = alert();
        assert_eq!(
            (&ev.fingerprint, &ev.status, &ev.labels, &ev.annotations),
            (&a.fingerprint, &a.status, &a.labels, &a.annotations)
        );
        assert_eq!((&ev.starts_at, &ev.ends_at), (&a.starts_at, &a.ends_at));
        assert_eq!(rec.did.len(), 1);
        let d = &rec.did[0];
        assert_eq!(d.parsed, Some(RemediationState::Failed));
        assert_eq!(
            (d.started_at_ms, d.finished_at_ms, d.exit_code),
            (Some(1_796_119_200_200), Some(1_796_119_201_000), Some(3))
        );
    }

    #[test]
    fn a_hand_written_replay_line_gets_the_webhook_defaults_and_errors_name_the_field() {
        let rec = ReadLine::parse(
            r#"{"receivedAt": "2026-12-01T10:00:00Z", "webhook": {"status": "firing",
                "alerts": [{"labels": {"alertname": "A"}, "startsAt": "2026-12-01T11:00:00+01:00"}]}}"#,
            5,
        )
        .expect("reads");
        assert_eq!(rec.seq, 5, "the line number");
        let ev = &rec.ingest.alerts[0];
        assert_eq!(ev.starts_at, "2026-12-01T10:00:00Z", "normalised");
        assert_eq!(ev.fingerprint.len(), 16, "computed from the labels");
        assert!(rec.did.is_empty());

        for (text, want) in [
            (r#"{"webhook": {}}"#, "receivedAt"),
            (
                r#"{"receivedAt": "soon", "webhook": {"alerts": []}}"#,
                "receivedAt: `soon`",
            ),
            (
                r#"{"receivedAt": "2026-12-01T10:00:00Z", "webhook": {"status": "firing", "alerts": [{"startsAt": "x"}]}}"#,
                "alerts[0].startsAt",
            ),
            (
                r#"{"receivedAt": "2026-12-01T10:00:00Z", "webhook": {"status": "firing", "alerts": [{}, {}]}}"#,
                "exactly one alert",
            ),
        ] {
            let err = ReadLine::parse(text, 1).expect_err(text);
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
