//! Alert fingerprints computed the way Alertmanager computes them, for senders that omit one.

use std::collections::BTreeMap;

use crate::ids::Fingerprint;

const FNV_OFFSET: u64 = 0xcbf29ce484222325;
const FNV_PRIME: u64 = 0x100000001b3;
const SEPARATOR: u8 = 0xff;

/// FNV-1a (64 bit) over the label names and values in name order, each followed by a `0xff`
/// separator byte, printed as 16 hex digits — Prometheus' `LabelSet.Fingerprint`.
pub fn fingerprint_of(labels: &BTreeMap<String, String>) -> Fingerprint {
    let mut h = FNV_OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(FNV_PRIME);
        }
    };
    for (name, value) in labels {
        feed(name.as_bytes());
        feed(&[SEPARATOR]);
        feed(value.as_bytes());
        feed(&[SEPARATOR]);
    }
    Fingerprint(format!("{h:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_label_set_has_the_fnv_offset_basis() {
        assert_eq!(fingerprint_of(&BTreeMap::new()).0, "cbf29ce484222325");
    }

    #[test]
    fn fingerprint_depends_on_every_label() {
        let mut a = BTreeMap::new();
        a.insert("alertname".to_string(), "X".to_string());
        let fa = fingerprint_of(&a);
        assert_eq!(fa.0.len(), 16);
        a.insert("pod".to_string(), "p".to_string());
        assert_ne!(fa, fingerprint_of(&a));
    }
}
