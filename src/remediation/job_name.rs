//! Deterministic Job names: the same remediation always maps to the same name, so creating it
//! twice is detectable (AlreadyExists) instead of running twice.

use crate::ids::RemediationId;

/// Kubernetes' limit for a Job name that also labels its pods.
pub const MAX_LEN: usize = 63;

/// `<operarius name, DNS-1123-safe, shortened>-<remediation id>`, at most 63 characters, lowercase
/// alphanumerics and `-`, starting and ending with an alphanumeric. No leader term in it: a new
/// leader must arrive at the same name.
pub fn job_name(operarius_name: &str, id: &RemediationId) -> String {
    let suffix = id.as_str().to_ascii_lowercase();
    let room = MAX_LEN - suffix.len() - 1;
    let mut base: String = operarius_name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() {
                c
            } else {
                '-'
            }
        })
        .collect();
    base = base.trim_matches('-').to_string();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    base.truncate(room);
    let base = base.trim_end_matches('-');
    if base.is_empty() {
        format!("openfero-{suffix}")
    } else {
        format!("{base}-{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        name.len() <= MAX_LEN
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && name
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric())
    }

    #[test]
    fn names_are_dns1123_bounded_and_deterministic() {
        let id = RemediationId("0123456789abcdef".into());
        assert_eq!(job_name("restart-pod", &id), "restart-pod-0123456789abcdef");
        let long = "A_Very.Long--Operarius-Name-That-Goes-On-And-On-Forever-And-Ever";
        let n = job_name(long, &id);
        assert!(valid(&n), "{n}");
        assert_eq!(n, job_name(long, &id));
        assert!(valid(&job_name("---", &id)));
        assert!(valid(&job_name("x-".repeat(40).as_str(), &id)));
    }
}
