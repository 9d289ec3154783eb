//! Alertmanager's webhook: the payload model, its validation and alert fingerprints.

mod fingerprint;
mod webhook;

pub use fingerprint::fingerprint_of;
pub use webhook::{parse_webhook, Alert, AlertStatus, ParseError, Webhook};

/// Parse an RFC 3339 timestamp and print it in one canonical form (UTC, `Z`, shortest
/// sub-second digits), so that the same instant always yields the same idempotency key.
///
/// Instants are Unix time, as Alertmanager's clock counts them: a leap second (`23:59:60.5`,
/// which chrono accepts at any minute and in any offset) is the same instant as the next
/// second's `.5`, not a text of its own. An instant whose UTC year is outside 0000–9999 has no
/// RFC 3339 form (chrono would print `-0001-…` or `+10000-…`) and is refused. So the canonical
/// text always parses back to itself.
pub fn normalize_time(s: &str) -> Option<String> {
    use chrono::Datelike;
    const NANOS_PER_SEC: u32 = 1_000_000_000;
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    // chrono keeps a leap second as the second before it with nanoseconds past 1e9.
    let (secs, nanos) = match t.timestamp_subsec_nanos() {
        n if n >= NANOS_PER_SEC => (t.timestamp().checked_add(1)?, n - NANOS_PER_SEC),
        n => (t.timestamp(), n),
    };
    let utc = chrono::DateTime::from_timestamp(secs, nanos)?;
    if !(0..=9999).contains(&utc.year()) {
        return None;
    }
    Some(utc.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
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

    /// Found by fuzzing the webhook: chrono accepts second 60 in any minute and offset and
    /// printed it as its own text (`2027-01-01T00:29:60.500Z`), so one Unix instant had two
    /// canonical forms and two event ids. Alertmanager (Go) never sends one; a hand-written post
    /// may, and it now names the instant every clock means.
    #[test]
    fn a_leap_second_normalises_as_the_unix_instant_it_is() {
        let leap = normalize_time("2026-12-31T23:59:60.5-00:30").expect("valid RFC 3339");
        assert_eq!(leap, "2027-01-01T00:30:00.500Z");
        assert_eq!(
            normalize_time("2027-01-01T00:30:00.5Z").as_deref(),
            Some(leap.as_str())
        );
        assert_eq!(
            normalize_time("2016-12-31T23:59:60Z").as_deref(),
            Some("2017-01-01T00:00:00Z")
        );
        assert_eq!(
            normalize_time("9999-12-31T23:59:60.999999999Z"),
            None,
            "its next second is in year 10000"
        );
    }

    /// Found by fuzzing the webhook: an offset can move a valid timestamp out of years
    /// 0000–9999 in UTC; the canonical text (`-0001-12-31T00:01:00Z`) then no longer parsed, so
    /// a stored `startsAt` was not a timestamp and a re-sent webhook was refused.
    #[test]
    fn the_canonical_text_always_parses_back_to_itself() {
        for s in ["0000-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"] {
            assert!(
                chrono::DateTime::parse_from_rfc3339(s).is_ok(),
                "{s} is RFC 3339"
            );
            assert_eq!(normalize_time(s), None, "{s} has no RFC 3339 form in UTC");
        }
        for s in [
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2024-05-01T10:17:00.1234567891+05:45",
            "2024-05-01t10:17:00z",
            "2024-05-01T10:17:60+00:00",
        ] {
            let canonical = normalize_time(s).expect(s);
            assert_eq!(
                normalize_time(&canonical).as_deref(),
                Some(canonical.as_str()),
                "{s}"
            );
        }
    }
}
