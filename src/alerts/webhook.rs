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

/// The notification Alertmanager posts to a webhook receiver.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: AlertStatus,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL", default)]
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

fn default_version() -> String {
    "4".to_string()
}

/// One alert of a notification; each is its own event with its own status.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
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

/// Parse and validate a webhook body. Timestamps are normalised (see `normalize_time`) and
/// missing fingerprints are filled in, so what is stored is canonical.
pub fn parse_webhook(body: &[u8]) -> Result<Webhook, ParseError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let mut hook: Webhook = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ParseError {
            field: if path == "." { "$".to_string() } else { path },
            message: inner.to_string(),
        }
    })?;
    if hook.alerts.is_empty() {
        return Err(ParseError {
            field: "alerts".into(),
            message: "must hold at least one alert".into(),
        });
    }
    for (i, alert) in hook.alerts.iter_mut().enumerate() {
        alert.starts_at = normalize_time(&alert.starts_at).ok_or_else(|| ParseError {
            field: format!("alerts[{i}].startsAt"),
            message: format!("`{}` is not an RFC 3339 timestamp", alert.starts_at),
        })?;
        if !alert.ends_at.is_empty() {
            alert.ends_at = normalize_time(&alert.ends_at).ok_or_else(|| ParseError {
                field: format!("alerts[{i}].endsAt"),
                message: format!("`{}` is not an RFC 3339 timestamp", alert.ends_at),
            })?;
        }
        if alert.fingerprint.is_empty() {
            alert.fingerprint = fingerprint_of(&alert.labels).0;
        }
    }
    Ok(hook)
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
        let hook = parse_webhook(SAMPLE.as_bytes()).expect("valid");
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
        let err = parse_webhook(bad.as_bytes()).expect_err("wrong type");
        assert_eq!(err.field, "truncatedAlerts");
        let bad = SAMPLE.replace(r#""pod": "a"}"#, r#""pod": 5}"#);
        let err = parse_webhook(bad.as_bytes()).expect_err("wrong type");
        assert_eq!(err.field, "alerts[0].labels.pod");
        let bad = SAMPLE.replace(r#""status": "resolved""#, r#""status": "sleeping""#);
        let err = parse_webhook(bad.as_bytes()).expect_err("bad enum");
        assert_eq!(err.field, "alerts[1].status");
    }

    #[test]
    fn bad_timestamps_malformed_json_and_empty_lists_are_rejected() {
        let bad = SAMPLE.replace("2024-05-01T08:00:00Z\", \"endsAt\"", "soon\", \"endsAt\"");
        let err = parse_webhook(bad.as_bytes()).expect_err("bad time");
        assert_eq!(err.field, "alerts[1].startsAt");
        let err = parse_webhook(b"{\"status\": ").expect_err("truncated");
        assert!(err.message.contains("EOF"), "{err}");
        let err = parse_webhook(br#"{"status":"firing","alerts":[]}"#).expect_err("empty");
        assert_eq!(err.field, "alerts");
        let err = parse_webhook(br#"{"status":"firing"}"#).expect_err("missing alerts");
        assert!(err.message.contains("alerts"), "{err}");
    }
}
