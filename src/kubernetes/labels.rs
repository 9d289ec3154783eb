//! Label and annotation names openfero puts on Kubernetes objects: one place, since they form a
//! protocol with every other replica and with users' selectors.

/// `openfero.io/managed-by=openfero` marks every Job openfero creates (the Job watcher's selector).
pub const MANAGED_BY: &str = "openfero.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "openfero";
/// Operarius name.
pub const OPERARIUS: &str = "openfero.io/operarius";
/// Alert name (label-safe).
pub const ALERT: &str = "openfero.io/alert";
/// Alert status (`firing`/`resolved`).
pub const STATUS: &str = "openfero.io/status";
/// Remediation id.
pub const REMEDIATION: &str = "openfero.io/remediation";
/// OpenFero's hash of the notification's `groupKey` ([`group_key_value`]): OpenFero selects on
/// it (with [`OPERARIUS`]) for its deduplication, and dashboards group Jobs by it.
pub const GROUP_KEY: &str = "openfero.io/group-key";

/// Annotation: the remediation id (compared on AlreadyExists).
pub const ANN_REMEDIATION_ID: &str = "openfero.io/remediation-id";
/// Annotation: the leader that recorded the intent (`<term>-<node>`).
pub const ANN_LEADER: &str = "openfero.io/leader";
/// Annotation: the Raft log index of the intent.
pub const ANN_LOG_INDEX: &str = "openfero.io/log-index";
/// Annotation: the alert fingerprint.
pub const ANN_FINGERPRINT: &str = "openfero.io/alert-fingerprint";

/// Selector of the Jobs openfero manages.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}={MANAGED_BY_VALUE}")
}

/// A value usable as a label value: at most 63 characters of `[A-Za-z0-9._-]`, starting and
/// ending with an alphanumeric (empty if nothing is left).
pub fn label_value(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// The [`GROUP_KEY`] label value of a notification's `groupKey`, exactly as OpenFero 0.18
/// computes it (`utils.HashGroupKey`): a group key holds characters no label value may
/// (`{}:="`), so it is `g` followed by its 64-bit FNV-1a hash in base 36 (lowercase), at most
/// 14 characters; an empty group key gives an empty value.
pub fn group_key_value(group_key: &str) -> String {
    if group_key.is_empty() {
        return String::new();
    }
    let mut hash = fnv1a_64(group_key.as_bytes());
    let mut digits = Vec::with_capacity(13);
    loop {
        let digit = u32::try_from(hash % 36).expect("a remainder of 36 fits in u32");
        digits.push(char::from_digit(digit, 36).expect("a digit below the radix"));
        hash /= 36;
        if hash == 0 {
            break;
        }
    }
    std::iter::once('g')
        .chain(digits.into_iter().rev())
        .collect()
}

/// 64-bit FNV-1a, as Go's `hash/fnv.New64a`.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("KubePodCrashLooping"), "KubePodCrashLooping");
        assert_eq!(label_value("a b/c"), "a_b_c");
        assert_eq!(label_value("-x-"), "x");
        assert_eq!(label_value(&"y".repeat(100)).len(), 63);
    }

    #[test]
    fn group_keys_hash_as_openfero_does() {
        // FNV-1a test vectors (Fowler, Noll, Vo), the hash Go's `hash/fnv` implements.
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
        // `"g" + strconv.FormatUint(hash, 36)`.
        assert_eq!(group_key_value("a"), "g2o0ongoiv4rrg");
        assert_eq!(group_key_value("test-group"), "g331iakcj0idq3");
        assert_eq!(
            group_key_value("{}:{alertname=\"KubePodCrashLooping\"}"),
            "g246vz5bfl7wq2"
        );
        assert_eq!(group_key_value(""), "", "OpenFero leaves it empty");
        // Any group key, however long, gives a short valid label value.
        let long = group_key_value(&"{}/{x=\"y\"}:{".repeat(1000));
        assert!(long.len() <= 14 && long.starts_with('g'), "{long}");
        assert_eq!(label_value(&long), long);
    }
}
