//! No panic or fatal line in any node's log, and no node exited without being asked to.

use super::{Evidence, Kind, Verdict};

/// Whether a log line reports a panic or a fatal error.
///
/// Not openraft's report that Raft stopped on a storage error (`core_call fatal error
/// error=StorageError(..)`): a node whose store fails — a full disk, a failed sync — must stop,
/// and openfero then exits with code 75. Whether that exit was expected (a disk fault) is
/// judged with the exits: anywhere else it is an unexpected exit, so nothing goes unreported.
pub fn is_fatal(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    if l.contains("core_call fatal error") && line.contains("StorageError(") {
        return false;
    }
    l.contains("panicked at") || l.contains(" fatal") || l.starts_with("fatal")
}

pub fn check(e: &Evidence) -> Verdict {
    let mut bad: Vec<String> = e
        .log_findings
        .iter()
        .map(|f| format!("{} ({}): {}", f.node, f.file, f.line))
        .collect();
    bad.extend(
        e.crashed
            .iter()
            .map(|(n, st)| format!("{n} exited unexpectedly: {st}")),
    );
    Verdict::new(
        "no-panic-or-fatal-log",
        Kind::Safety,
        format!(
            "{} fatal lines, {} unexpected exits",
            e.log_findings.len(),
            e.crashed.len()
        ),
        bad,
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::LogFinding;
    use super::*;

    #[test]
    fn panics_are_found_and_reported() {
        assert!(is_fatal(
            "thread 'tokio-runtime-worker' panicked at src/x.rs:1:2:"
        ));
        assert!(!is_fatal("2026 INFO openfero: became leader"));
        assert!(!is_fatal(
            "ERROR openraft::raft::raft_inner: core_call fatal error error=StorageError(IO { .. })"
        ));
        assert!(is_fatal(
            "ERROR openraft::raft::raft_inner: core_call fatal error error=Panicked"
        ));
        let mut e = healthy();
        e.log_findings.push(LogFinding {
            node: "n1".into(),
            file: "n1.1.log".into(),
            line: "thread 'main' panicked at src/app.rs:1:1".into(),
        });
        assert!(!check(&e).held);
    }
}
