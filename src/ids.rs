//! Identifiers that cross module boundaries.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An alert's fingerprint: the sender's identity of the alert. Alertmanager's is a stable hash
/// of the label set (16 hex digits), computed the same way when a sender gives none; another
/// sender's own value is kept verbatim (any text).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fingerprint(pub String);

/// One alert event: `(fingerprint, startsAt, status)`. Re-deliveries share it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventId(pub String);

/// One remediation: an alert event handled by one operarius.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RemediationId(pub String);

macro_rules! display_inner {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    )*};
}
display_inner!(Fingerprint, EventId, RemediationId);

/// First 16 hex digits (64 bits) of SHA-256 over the parts, each terminated by a NUL byte so
/// that `("ab", "c")` and `("a", "bc")` differ.
fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..8])
}

impl EventId {
    /// Deterministic id of the event `(fingerprint, startsAt, status)`; `starts_at` must already be
    /// normalised (see `alerts::normalize_time`).
    pub fn derive(fingerprint: &Fingerprint, starts_at: &str, status: &str) -> Self {
        Self(short_hash(&["event", &fingerprint.0, starts_at, status]))
    }
}

/// A Raft node id as every answer, log line and page shows it: 16 lowercase hex digits.
pub fn node_hex(id: u64) -> String {
    format!("{id:016x}")
}

impl RemediationId {
    /// Deterministic id of the remediation of `event` by the operarius `namespace/name`.
    pub fn derive(event: &EventId, operarius_key: &str) -> Self {
        Self(short_hash(&["remediation", &event.0, operarius_key]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_separate_their_parts() {
        let fp = Fingerprint("abc".into());
        let a = EventId::derive(&fp, "2024-01-01T00:00:00Z", "firing");
        assert_eq!(a, EventId::derive(&fp, "2024-01-01T00:00:00Z", "firing"));
        assert_ne!(a, EventId::derive(&fp, "2024-01-01T00:00:00Z", "resolved"));
        assert_eq!(a.0.len(), 16);
        let r1 = RemediationId::derive(&a, "default/op");
        assert_ne!(r1, RemediationId::derive(&a, "default/op2"));
        assert_ne!(
            EventId::derive(&Fingerprint("ab".into()), "c", "firing"),
            EventId::derive(&Fingerprint("a".into()), "bc", "firing")
        );
    }
}
