//! The Alertmanager webhook body (version 4), parsed strictly enough to name what is wrong.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{fingerprint_of, normalize_time};
use crate::ids::Fingerprint;

/// An alert's (or a notification's) status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "firing" => Some(AlertStatus::Firing),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

/// The notification Alertmanager posts to a webhook receiver, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub version: String,
    pub group_key: String,
    pub truncated_alerts: u64,
    pub status: AlertStatus,
    pub receiver: String,
    pub group_labels: BTreeMap<String, String>,
    pub common_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

/// One alert of a notification; each is its own event with its own status.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// The body as sent. Alertmanager always sends every field; hand-written posts (OpenFero's
/// documented `curl` examples) and other senders leave many out, so everything but the JSON
/// types is optional here and [`parse_webhook`] fills in the defaults.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireWebhook {
    #[serde(default = "default_version")]
    version: String,
    #[serde(default)]
    group_key: String,
    #[serde(default)]
    truncated_alerts: u64,
    #[serde(default)]
    status: Option<AlertStatus>,
    #[serde(default)]
    receiver: String,
    #[serde(default)]
    group_labels: BTreeMap<String, String>,
    #[serde(default)]
    common_labels: BTreeMap<String, String>,
    #[serde(default)]
    common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL", default)]
    external_url: String,
    #[serde(default)]
    alerts: Vec<WireAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAlert {
    #[serde(default)]
    status: Option<AlertStatus>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: String,
    #[serde(rename = "generatorURL", default)]
    generator_url: String,
    #[serde(default)]
    fingerprint: String,
}

fn default_version() -> String {
    "4".to_string()
}

impl Alert {
    /// The fingerprint Alertmanager sent, or the one it would have computed.
    pub fn fingerprint(&self) -> Fingerprint {
        if self.fingerprint.is_empty() {
            fingerprint_of(&self.labels)
        } else {
            Fingerprint(self.fingerprint.clone())
        }
    }

    pub fn alertname(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Why a body is not a webhook we can record; `field` is a JSON path such as `alerts[2].startsAt`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid webhook at `{field}`: {message}")]
pub struct ParseError {
    pub field: String,
    pub message: String,
}

/// Parse and validate a webhook body received at `received_at_ms`. Timestamps are normalised
/// (see `normalize_time`) and missing fingerprints are filled in, so what is stored is
/// canonical. Defaults for what a sender left out (Alertmanager sends everything):
/// - an alert without `status` takes the notification's; a notification without `status` is
///   `firing` when any alert fires, else `resolved` (one of the two must be given);
/// - no `alerts` (missing or empty) but `commonLabels`: one alert made of the common labels
///   and annotations, as OpenFero reads such a notification;
/// - `startsAt` missing: the time received, so each hand-written post is its own event;
/// - `fingerprint` missing: computed from the labels as Alertmanager does;
/// - `version` `4`; `labels`, `annotations`, `groupKey`, `receiver`, `endsAt`, `generatorURL`,
///   `externalURL`, the label maps: empty.
///
/// Wrong JSON types, bad timestamps and unknown statuses are still errors naming the field.
pub fn parse_webhook(body: &[u8], received_at_ms: i64) -> Result<Webhook, ParseError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let wire: WireWebhook = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ParseError {
            field: if path == "." { "$".to_string() } else { path },
            message: inner.to_string(),
        }
    })?;
    let mut wire_alerts = wire.alerts;
    if wire_alerts.is_empty() {
        if wire.common_labels.is_empty() {
            return Err(ParseError {
                field: "alerts".into(),
                message: "must hold at least one alert (or give `commonLabels`)".into(),
            });
        }
        wire_alerts.push(WireAlert {
            status: None,
            labels: wire.common_labels.clone(),
            annotations: wire.common_annotations.clone(),
            starts_at: None,
            ends_at: String::new(),
            generator_url: String::new(),
            fingerprint: String::new(),
        });
    }
    let status = match wire.status {
        Some(s) => s,
        None if wire_alerts.iter().all(|a| a.status.is_none()) => {
            return Err(ParseError {
                field: "status".into(),
                message: "missing: give the notification's or every alert's `status`".into(),
            })
        }
        None if wire_alerts
            .iter()
            .any(|a| a.status == Some(AlertStatus::Firing)) =>
        {
            AlertStatus::Firing
        }
        None => AlertStatus::Resolved,
    };
    let received = crate::time::format_ms(received_at_ms);
    let mut alerts = Vec::with_capacity(wire_alerts.len());
    for (i, a) in wire_alerts.into_iter().enumerate() {
        let given = a.starts_at.unwrap_or_else(|| received.clone());
        let starts_at = normalize_time(&given).ok_or_else(|| ParseError {
            field: format!("alerts[{i}].startsAt"),
            message: format!("`{given}` is not an RFC 3339 timestamp"),
        })?;
        let ends_at = if a.ends_at.is_empty() {
            String::new()
        } else {
            normalize_time(&a.ends_at).ok_or_else(|| ParseError {
                field: format!("alerts[{i}].endsAt"),
                message: format!("`{}` is not an RFC 3339 timestamp", a.ends_at),
            })?
        };
        let fingerprint = if a.fingerprint.is_empty() {
            fingerprint_of(&a.labels).0
        } else {
            a.fingerprint
        };
        alerts.push(Alert {
            status: a.status.unwrap_or(status),
            labels: a.labels,
            annotations: a.annotations,
            starts_at,
            ends_at,
            generator_url: a.generator_url,
            fingerprint,
        });
    }
    Ok(Webhook {
        version: wire.version,
        group_key: wire.group_key,
        truncated_alerts: wire.truncated_alerts,
        status,
        receiver: wire.receiver,
        group_labels: wire.group_labels,
        common_labels: wire.common_labels,
        common_annotations: wire.common_annotations,
        external_url: wire.external_url,
        alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "version": "4",
      "groupKey": "{}:{alertname=\"KubePodCrashLooping\"}",
      "truncatedAlerts": 0,
      "status": "firing",
      "receiver": "openfero",
      "groupLabels": {"alertname": "KubePodCrashLooping"},
      "commonLabels": {"alertname": "KubePodCrashLooping", "severity": "warning"},
      "commonAnnotations": {"summary": "crash"},
      "externalURL": "http://am:9093",
      "alerts": [
        {"status": "firing", "labels": {"alertname": "KubePodCrashLooping", "pod": "a"},
         "annotations": {"summary": "crash"}, "startsAt": "2024-05-01T10:00:00+02:00",
         "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph", "fingerprint": "1111111111111111"},
        {"status": "resolved", "labels": {"alertname": "KubePodCrashLooping", "pod": "b"},
         "startsAt": "2024-05-01T08:00:00Z", "endsAt": "2024-05-01T09:00:00Z"}
      ]
    }"#;

    #[test]
    fn parses_every_field_of_a_grouped_notification() {
        let hook = parse_webhook(SAMPLE.as_bytes(), 0).expect("valid");
        assert_eq!(hook.version, "4");
        assert_eq!(hook.receiver, "openfero");
        assert_eq!(hook.external_url, "http://am:9093");
        assert_eq!(hook.group_labels["alertname"], "KubePodCrashLooping");
        assert_eq!(hook.common_annotations["summary"], "crash");
        assert_eq!(hook.alerts.len(), 2);
        let a = &hook.alerts[0];
        assert_eq!(a.status, AlertStatus::Firing);
        assert_eq!(a.starts_at, "2024-05-01T08:00:00Z");
        assert_eq!(a.generator_url, "http://prom/graph");
        assert_eq!(a.fingerprint().0, "1111111111111111");
        let b = &hook.alerts[1];
        assert_eq!(
            b.status,
            AlertStatus::Resolved,
            "each alert keeps its own status"
        );
        assert_eq!(
            b.fingerprint,
            fingerprint_of(&b.labels).0,
            "missing fingerprint computed"
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let bad = SAMPLE.replace(r#""truncatedAlerts": 0"#, r#""truncatedAlerts": "none""#);
        let err = parse_webhook(bad.as_bytes(), 0).expect_err("wrong type");
        assert_eq!(err.field, "truncatedAlerts");
        let bad = SAMPLE.replace(r#""pod": "a"}"#, r#""pod": 5}"#);
        let err = parse_webhook(bad.as_bytes(), 0).expect_err("wrong type");
        assert_eq!(err.field, "alerts[0].labels.pod");
        let bad = SAMPLE.replace(r#""status": "resolved""#, r#""status": "sleeping""#);
        let err = parse_webhook(bad.as_bytes(), 0).expect_err("bad enum");
        assert_eq!(err.field, "alerts[1].status");
    }

    #[test]
    fn bad_timestamps_malformed_json_and_empty_lists_are_rejected() {
        let bad = SAMPLE.replace("2024-05-01T08:00:00Z\", \"endsAt\"", "soon\", \"endsAt\"");
        let err = parse_webhook(bad.as_bytes(), 0).expect_err("bad time");
        assert_eq!(err.field, "alerts[1].startsAt");
        let err = parse_webhook(b"{\"status\": ", 0).expect_err("truncated");
        assert!(err.message.contains("EOF"), "{err}");
        let err = parse_webhook(br#"{"status":"firing","alerts":[]}"#, 0).expect_err("empty");
        assert_eq!(err.field, "alerts");
        let err = parse_webhook(br#"{"status":"firing"}"#, 0).expect_err("missing alerts");
        assert_eq!(err.field, "alerts", "{err}");
        let err = parse_webhook(br#"{"alerts":[{"labels":{"a":"b"}}]}"#, 0).expect_err("status");
        assert_eq!(err.field, "status");
    }

    /// OpenFero's README posts `{"status", "alerts": [{"status", "labels"}]}` with `curl`.
    #[test]
    fn a_hand_written_post_gets_documented_defaults() {
        let at = 1_764_000_000_123;
        let body = br#"{"status": "firing", "alerts": [{"status": "firing",
            "labels": {"alertname": "KubeQuotaExceeded", "namespace": "shop"}}]}"#;
        let hook = parse_webhook(body, at).expect("accepted");
        assert_eq!(hook.version, "4");
        let a = &hook.alerts[0];
        assert_eq!(
            a.starts_at, "2025-11-24T16:00:00.123Z",
            "startsAt = time received"
        );
        assert_eq!(a.fingerprint, fingerprint_of(&a.labels).0);
        assert!(a.ends_at.is_empty() && a.generator_url.is_empty());
        let again = parse_webhook(body, at + 1).expect("accepted");
        assert_ne!(
            again.alerts[0].starts_at, a.starts_at,
            "each hand-written post is its own event"
        );
    }

    #[test]
    fn an_alert_without_status_takes_the_notifications() {
        let body = br#"{"status": "resolved", "alerts": [{"labels": {"alertname": "A"},
            "startsAt": "2024-05-01T08:00:00Z"}, {"status": "firing", "labels": {"alertname": "B"},
            "startsAt": "2024-05-01T08:00:00Z"}]}"#;
        let hook = parse_webhook(body, 0).expect("accepted");
        assert_eq!(hook.alerts[0].status, AlertStatus::Resolved);
        assert_eq!(hook.alerts[1].status, AlertStatus::Firing);
        let only_alerts = br#"{"alerts": [{"status": "resolved", "labels": {}}, {"status": "firing", "labels": {}}]}"#;
        assert_eq!(
            parse_webhook(only_alerts, 0).expect("accepted").status,
            AlertStatus::Firing
        );
    }

    /// Settles what an earlier fuzzing run reported: a webhook with a leap-second `startsAt` and
    /// a free-form `fingerprint`. The timestamp was a defect (two canonical texts for one Unix
    /// instant, see `alerts::normalize_time`); the fingerprint is not: it is the sender's own
    /// identity of the alert (Alertmanager's is its 16-digit hash of the labels, other senders
    /// have their own), kept verbatim so that re-deliveries are recognised. It is only ever
    /// hashed with NUL-terminated parts (the other parts never hold a NUL), put after the
    /// operarius key and a NUL in a cooldown key (DNS names hold none), an annotation value and
    /// escaped page text; its size is bounded by the body limit.
    #[test]
    fn a_leap_second_and_a_senders_own_fingerprint_round_trip() {
        let body = br#"{"status": "firing", "alerts": [{"labels": {"alertname": "A"},
            "startsAt": "2026-12-31T23:59:60.5-00:30", "fingerprint": "sender id: 42\n\u0000"}]}"#;
        let hook = parse_webhook(body, 0).expect("accepted");
        let a = &hook.alerts[0];
        assert_eq!(a.starts_at, "2027-01-01T00:30:00.500Z");
        assert_eq!(a.fingerprint, "sender id: 42\n\0");
        assert_ne!(
            a.fingerprint,
            fingerprint_of(&a.labels).0,
            "kept, not recomputed"
        );
        let json = serde_json::to_vec(&hook).expect("serialises");
        assert_eq!(parse_webhook(&json, 1).expect("re-parses"), hook);
        let same_instant = String::from_utf8_lossy(body)
            .replace("2026-12-31T23:59:60.5-00:30", "2027-01-01T00:30:00.5Z");
        let again = parse_webhook(same_instant.as_bytes(), 0).expect("accepted");
        let event = |a: &Alert| {
            crate::ids::EventId::derive(&a.fingerprint(), &a.starts_at, a.status.as_str())
        };
        assert_eq!(event(&again.alerts[0]), event(a), "one instant, one event");
    }

    #[test]
    fn common_labels_without_alerts_are_one_alert() {
        let body =
            br#"{"status": "firing", "commonLabels": {"alertname": "DiskFull", "node": "n1"},
            "commonAnnotations": {"summary": "full"}, "alerts": []}"#;
        let hook = parse_webhook(body, 5_000).expect("accepted");
        assert_eq!(hook.alerts.len(), 1);
        let a = &hook.alerts[0];
        assert_eq!(a.status, AlertStatus::Firing);
        assert_eq!(a.alertname(), "DiskFull");
        assert_eq!(a.labels["node"], "n1");
        assert_eq!(a.annotations["summary"], "full");
        let missing = br#"{"status": "firing", "commonLabels": {"alertname": "DiskFull"}}"#;
        assert_eq!(
            parse_webhook(missing, 5_000)
                .expect("accepted")
                .alerts
                .len(),
            1
        );
    }
}
