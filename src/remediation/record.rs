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

/// The life of a remediation: `pending → running → succeeded | failed`, or `skipped` (decided
/// not to run, with a reason) or `interrupted` (its executor died while it ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemediationState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Interrupted,
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
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Skipped,
            Self::Interrupted,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// No further transition happens from a terminal state.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }
}

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

/// Replicated per-operarius execution statistics: the source of the Operarius status that the
/// leader patches in Kubernetes (so a new leader patches the same numbers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperariusStats {
    pub execution_count: u64,
    pub last_execution_ms: Option<i64>,
    pub last_job_name: Option<String>,
    pub last_status: Option<RemediationState>,
}
