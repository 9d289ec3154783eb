//! The Alertmanager webhook body (`POST /alerts`, `POST /api/operarios/try`): any bytes.
//!
//! Invariants of an accepted body: at least one alert; every `startsAt`/`endsAt` is canonical
//! (parses back to itself, UTC, no leap second, so one Unix instant has one text); every
//! fingerprint is non-empty and, where the sender gave none, Alertmanager's own; the webhook
//! serialises to JSON that parses back to the same webhook; the command that records it
//! survives the Raft codec unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openfero::alerts::{fingerprint_of, normalize_time, parse_webhook};
use openfero::remediation::{Command, CommandV1, Ingest};

/// 2025-11-24T16:00:00.123Z, a time with milliseconds.
const RECEIVED_AT: i64 = 1_764_000_000_123;

fn canonical(field: &str, at: &str) {
    assert_eq!(
        normalize_time(at).as_deref(),
        Some(at),
        "{field} `{at}` is not canonical"
    );
    let t = chrono::DateTime::parse_from_rfc3339(at).expect("canonical text parses");
    assert!(
        t.timestamp_subsec_nanos() < 1_000_000_000,
        "{field} `{at}` keeps a leap second"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(hook) = parse_webhook(data, RECEIVED_AT) else {
        return;
    };
    assert!(!hook.alerts.is_empty(), "accepted without alerts");
    // serde_json skips an unknown field's string without checking its UTF-8, so an accepted
    // body need not be valid JSON as a whole: check the fingerprint rule where it is.
    let sent: Option<serde_json::Value> = serde_json::from_slice(data).ok();
    for (i, alert) in hook.alerts.iter().enumerate() {
        canonical("startsAt", &alert.starts_at);
        if !alert.ends_at.is_empty() {
            canonical("endsAt", &alert.ends_at);
        }
        assert!(
            !alert.fingerprint.is_empty(),
            "alert {i} without fingerprint"
        );
        if let Some(sent) = &sent {
            let given = sent
                .get("alerts")
                .and_then(|a| a.get(i)?.get("fingerprint")?.as_str());
            if given.is_none_or(str::is_empty) {
                assert_eq!(
                    alert.fingerprint,
                    fingerprint_of(&alert.labels).0,
                    "alert {i}"
                );
            }
        }
    }
    let json = serde_json::to_vec(&hook).expect("a webhook serialises");
    let again = parse_webhook(&json, RECEIVED_AT + 1).unwrap_or_else(|e| {
        panic!(
            "its own JSON is refused: {e}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(again, hook, "re-parsing changed the webhook");

    let command = Command::V1(CommandV1::IngestAlerts(Ingest::from_webhook(
        hook,
        RECEIVED_AT,
        7,
    )));
    let bytes = openfero_raft::codec::encode(&command).expect("a command encodes");
    let back: Command = openfero_raft::codec::decode(&bytes).expect("a command decodes");
    assert_eq!(back, command, "the Raft codec changed the command");
});
