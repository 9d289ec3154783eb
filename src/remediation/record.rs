//! What the state machine stores about alerts and remediations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::command::LeaderId;
use crate::ids::{EventId, RemediationId};
use crate::operarios::RenderedJob;

/// One recorded alert event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Position in arrival order (1-based, never reused).
    pub seq: u64,
    pub event_id: EventId,
    pub fingerprint: String,
    pub status: String,
    pub alertname: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    pub generator_url: String,
    pub group_key: String,
    pub receiver: String,
    pub external_url: String,
    pub received_at_ms: i64,
    pub received_by: u64,
    pub log_index: u64,
    pub remediations: Vec<RemediationId>,
}

/// The leading fields of an encoded [`AlertRecord`] (same names, same order, up to
/// `received_at_ms`), borrowed from the stored bytes: what list scans filter on without
/// allocating a record per alert. A test keeps it in step with `AlertRecord`.
// Every field up to the last one read is declared: the encoding is positional.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
pub struct AlertHead<'a> {
    pub seq: u64,
    #[serde(borrow)]
    pub event_id: IdRef<'a>,
    pub fingerprint: &'a str,
    pub status: &'a str,
    pub alertname: &'a str,
    #[serde(borrow)]
    pub labels: Pairs<'a>,
    #[serde(borrow)]
    pub annotations: Pairs<'a>,
    pub starts_at: &'a str,
    pub ends_at: &'a str,
    pub generator_url: &'a str,
    pub group_key: &'a str,
    pub receiver: &'a str,
    pub external_url: &'a str,
    pub received_at_ms: i64,
}

/// A borrowed id newtype (`EventId`, `RemediationId`).
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
pub struct IdRef<'a>(pub &'a str);

/// A string map, borrowed, in stored (key) order.
#[derive(Debug, Default)]
pub struct Pairs<'a>(pub Vec<(&'a str, &'a str)>);

impl<'a> Pairs<'a> {
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Pairs<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of strings")
            }

            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Pairs<'a>, M::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some(pair) = m.next_entry::<&'de str, &'de str>()? {
                    out.push(pair);
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// The life of a remediation: `pending → running → succeeded | failed`, or `skipped` (decided
/// not to run, with a reason) or `interrupted` (its executor died while it ran). Guard rails add
/// `queued` (waiting for a concurrency slot or the end of a pause, then `pending`) and `held`
/// (a budget window is full or the loop breaker is open: final, with the reason). Controls add
/// `dry-run` (rendered and recorded, never created: final), `awaiting-approval` (until an
/// operator decides, then `pending`, `queued` or `held`), `denied` and `expired` (final), and
/// `refused` (the rendered Job breaks the policy: final). New states are appended: the stored
/// form is the variant index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemediationState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Interrupted,
    Queued,
    Held,
    DryRun,
    AwaitingApproval,
    Denied,
    Expired,
    Refused,
}

impl RemediationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Interrupted => "interrupted",
            Self::Queued => "queued",
            Self::Held => "held",
            Self::DryRun => "dry-run",
            Self::AwaitingApproval => "awaiting-approval",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Refused => "refused",
        }
    }

    /// Every state, in stored order.
    pub const ALL: [Self; 13] = [
        Self::Pending,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Skipped,
        Self::Interrupted,
        Self::Queued,
        Self::Held,
        Self::DryRun,
        Self::AwaitingApproval,
        Self::Denied,
        Self::Expired,
        Self::Refused,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No further transition happens from a terminal state.
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            Self::Pending | Self::Running | Self::Queued | Self::AwaitingApproval
        )
    }
}

/// Bytes of a run's output (a process' combined stdout/stderr, a Job's pod log) a record keeps:
/// the tail.
pub const OUTPUT_TAIL_BYTES: usize = 64 * 1024;

/// One remediation of one alert event by one operarius.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationRecord {
    pub seq: u64,
    pub id: RemediationId,
    pub event_id: EventId,
    pub alert_seq: u64,
    pub fingerprint: String,
    pub alertname: String,
    pub alert_status: String,
    /// `namespace/name` of the operarius.
    pub operarius: String,
    pub namespace: String,
    /// Deterministic Job name (DNS-1123, at most 63 characters).
    pub job_name: String,
    pub state: RemediationState,
    pub reason: Option<String>,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub exit_code: Option<i32>,
    pub output_tail: String,
    pub rendered: Option<RenderedJob>,
    /// Who executed it: the leader identity fenced into the `Start` entry, and its log index.
    pub started_by: Option<LeaderId>,
    pub executor: Option<String>,
    pub start_index: Option<u64>,
}

impl RemediationRecord {
    /// What decided a remediation that did not simply run, as a metric label: `cooldown`,
    /// `self-reference`, `budget`, `breaker`, `concurrency`, `pause`, `policy`, `dry-run`,
    /// `shadow`, `approval`, `denied`, `expired`, `template`, `invalid`, or `other`; `None` for a
    /// remediation that runs or ran.
    pub fn decided_by(&self) -> Option<&'static str> {
        decided_by(self.state, self.reason.as_deref())
    }
}

/// [`RemediationRecord::decided_by`] from a state and a reason alone (the replay compares
/// recorded and replayed decisions with it).
pub fn decided_by(state: RemediationState, reason: Option<&str>) -> Option<&'static str> {
    use RemediationState as S;
    if !matches!(
        state,
        S::Skipped
            | S::Queued
            | S::Held
            | S::Refused
            | S::DryRun
            | S::AwaitingApproval
            | S::Denied
            | S::Expired
    ) {
        return None;
    }
    let reason = reason.unwrap_or("");
    // An approval's own words come first; what the limits said follows.
    let reason = match reason.split_once("; ") {
        Some((head, rest)) if head.starts_with("approved by ") => rest,
        _ => reason,
    };
    let shadow = reason.strip_prefix("shadow: ");
    let inner = shadow.unwrap_or(reason);
    Some(match inner {
        r if r.starts_with("budget:") => "budget",
        r if r.starts_with("breaker open") => "breaker",
        r if r.starts_with("concurrency:") => "concurrency",
        r if r.starts_with("paused by") => "pause",
        _ if shadow.is_some() => "shadow",
        r if r.starts_with("cooldown:") => "cooldown",
        r if r.starts_with("self-reference:") => "self-reference",
        r if r.starts_with("refused:") => "policy",
        r if r.starts_with("dry-run:") => "dry-run",
        r if r.starts_with("awaiting approval") => "approval",
        r if r.starts_with("denied by") => "denied",
        r if r.starts_with("expired:") => "expired",
        _ => "other",
    })
}

/// Replicated per-operarius execution statistics: the source of the Operarius status that the
/// leader patches in Kubernetes (so a new leader patches the same numbers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperariusStats {
    pub execution_count: u64,
    pub last_execution_ms: Option<i64>,
    pub last_job_name: Option<String>,
    pub last_status: Option<RemediationState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_decided_a_remediation_is_read_from_its_reason() {
        let rec = |state, reason: &str| RemediationRecord {
            seq: 1,
            id: RemediationId("r".into()),
            event_id: EventId("e".into()),
            alert_seq: 1,
            fingerprint: String::new(),
            alertname: String::new(),
            alert_status: "firing".into(),
            operarius: "ops/x".into(),
            namespace: "ops".into(),
            job_name: "x-r".into(),
            state,
            reason: Some(reason.into()),
            created_at_ms: 0,
            started_at_ms: None,
            finished_at_ms: None,
            exit_code: None,
            output_tail: String::new(),
            rendered: None,
            started_by: None,
            executor: None,
            start_index: None,
        };
        use RemediationState as S;
        for (state, reason, want) in [
            (
                S::Held,
                "budget: `a` on target `t` used 3 of 3 per 1h",
                Some("budget"),
            ),
            (
                S::Held,
                "shadow: budget: `a` used 3 of 3 per 1h",
                Some("budget"),
            ),
            (
                S::Held,
                "breaker open for `a` on target `t` since …",
                Some("breaker"),
            ),
            (
                S::Queued,
                "concurrency: target `t` has 1 of 1",
                Some("concurrency"),
            ),
            (
                S::Queued,
                "approved by alice at 2026-12-03T07:00:00Z; paused by bob: starts when resumed",
                Some("pause"),
            ),
            (
                S::DryRun,
                "shadow: Job `x` rendered, not created; would have run",
                Some("shadow"),
            ),
            (
                S::DryRun,
                "dry-run: Job `x` rendered, not created",
                Some("dry-run"),
            ),
            (
                S::Refused,
                "refused: policy `forbidPrivileged`",
                Some("policy"),
            ),
            (S::Skipped, "self-reference: …", Some("self-reference")),
            (
                S::Skipped,
                "cooldown: `a` already remediated",
                Some("cooldown"),
            ),
            (
                S::AwaitingApproval,
                "awaiting approval by an operator until …",
                Some("approval"),
            ),
            (
                S::Expired,
                "expired: nobody approved it before …",
                Some("expired"),
            ),
            (S::Denied, "denied by alice at …", Some("denied")),
            (S::Pending, "approved by alice at …", None),
            (S::Succeeded, "", None),
        ] {
            assert_eq!(rec(state, reason).decided_by(), want, "{reason}");
        }
    }

    #[test]
    fn alert_head_reads_the_leading_fields_of_an_encoded_record() {
        let labels: BTreeMap<String, String> = [("alertname", "A"), ("pod", "p-1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let rec = AlertRecord {
            seq: 42,
            event_id: EventId("ev".into()),
            fingerprint: "fp".into(),
            status: "firing".into(),
            alertname: "A".into(),
            labels,
            annotations: [("summary".to_string(), "Ünïcode".to_string())].into(),
            starts_at: "s".into(),
            ends_at: "e".into(),
            generator_url: "g".into(),
            group_key: "k".into(),
            receiver: "r".into(),
            external_url: "x".into(),
            received_at_ms: -5,
            received_by: 9,
            log_index: 10,
            remediations: vec![RemediationId("r1".into())],
        };
        let bytes = openfero_raft::codec::encode(&rec).expect("encode");
        let head: AlertHead<'_> = openfero_raft::codec::decode_prefix(&bytes).expect("decode");
        assert_eq!(head.seq, 42);
        assert_eq!(head.event_id.0, "ev");
        assert_eq!(
            (head.fingerprint, head.status, head.alertname),
            ("fp", "firing", "A")
        );
        assert_eq!(head.labels.0, vec![("alertname", "A"), ("pod", "p-1")]);
        assert_eq!(head.labels.get("pod"), Some("p-1"));
        assert_eq!(head.annotations.get("summary"), Some("Ünïcode"));
        assert_eq!(
            (
                head.starts_at,
                head.ends_at,
                head.generator_url,
                head.group_key,
                head.receiver,
                head.external_url
            ),
            ("s", "e", "g", "k", "r", "x")
        );
        assert_eq!(head.received_at_ms, -5);
    }
}
