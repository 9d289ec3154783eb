//! Time helpers. Only proposers read the clock; apply receives times inside commands.
//!
//! The clock is cluster time (`openfero_raft::clock`): this machine's wall clock moved to the
//! median of the voters' clocks, so a node whose clock is minutes off stamps what the others
//! would. Commands that decide by time take their stamp from `Replica::stamp_ms`, which also
//! refuses until the node has learnt cluster time.

/// Cluster time now, milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    openfero_raft::clock::now_ms()
}

/// RFC 3339 (UTC, milliseconds) for a millisecond timestamp.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}
