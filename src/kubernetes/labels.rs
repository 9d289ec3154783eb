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
}
