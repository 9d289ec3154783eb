//! Alertmanager's webhook: the payload model, its validation and alert fingerprints.

mod fingerprint;
mod webhook;

pub use fingerprint::fingerprint_of;
pub use webhook::{parse_webhook, Alert, AlertStatus, ParseError, Webhook};

/// Parse an RFC 3339 timestamp and print it in one canonical form (UTC, `Z`, shortest
/// sub-second digits), so that the same instant always yields the same idempotency key.
pub fn normalize_time(s: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_instants_normalise_to_the_same_text() {
        let a = normalize_time("2024-05-01T10:00:00.500+02:00").expect("valid");
        let b = normalize_time("2024-05-01T08:00:00.5Z").expect("valid");
        assert_eq!(a, b);
        assert_eq!(a, "2024-05-01T08:00:00.500Z");
        assert!(normalize_time("yesterday").is_none());
    }
}
