//! The replicated commands. Plain serde types of our own (never Kubernetes structs) so that a
//! dependency upgrade cannot change the on-disk log format. The enum is versioned: a new shape is
//! a new variant of [`Command`], and old entries keep decoding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::followup::FollowUpStep;
use crate::alerts::Webhook;
use crate::ids::{EventId, RemediationId};
use crate::operarios::{
    BrokenOperarius, ClusterGuards, ClusterGuardsV1, FollowUpDef, GuardsDef, GuardsDefV1,
    OperariusDef,
};

/// Every command ever written to the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    V1(CommandV1),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CommandV1 {
    /// A webhook notification, fanned out into one event per alert.
    IngestAlerts(Ingest),
    /// Replace the replicated operarius catalog that apply matches against.
    SyncOperarios {
        catalog: Vec<OperariusDef>,
        fingerprint: String,
    },
    /// The leader is about to execute a pending remediation (the intent, recorded first).
    Start {
        id: RemediationId,
        at_ms: i64,
        /// The proposing leader's id; apply refuses the command if the entry was appended by
        /// another leader (fencing).
        leader: LeaderId,
        executor: String,
    },
    /// The outcome of a started remediation.
    Finish {
        id: RemediationId,
        at_ms: i64,
        outcome: Outcome,
        output_tail: String,
    },
    /// A running remediation whose executor is gone; it is never re-run silently.
    Interrupt {
        id: RemediationId,
        at_ms: i64,
        reason: String,
    },
    /// Retention: drop the oldest alerts beyond `keep_alerts` (at most `max_remove` of them) and
    /// expired cooldowns.
    Prune {
        keep_alerts: u64,
        max_remove: u64,
        now_ms: i64,
    },
    /// Pause or resume the membership autopilot (replicated, so a new leader keeps it).
    SetAutopilot { paused: bool },
    /// Node ids removed from the cluster: never re-added (a returning node with a removed id
    /// must rejoin under a new id, with a wiped data dir).
    ForgetNodes { ids: Vec<u64> },
    /// Replace the replicated catalog: valid operarios and broken ones, which keep claiming
    /// their alerts to fail them. Proposed only when some are broken (`SyncOperarios`
    /// otherwise), so a cluster that has none writes what older nodes can read.
    SyncCatalog {
        catalog: Vec<OperariusDef>,
        broken: Vec<BrokenOperarius>,
        fingerprint: String,
    },
    /// [`CommandV1::SetAutopilot`] with the identity that asked for it (a user or token name,
    /// `admin-token`, `loopback`; never a secret). Nodes of an earlier release cannot apply it:
    /// upgrade every node before pausing or resuming the autopilot.
    SetAutopilotBy { paused: bool, by: String },
    /// Replace the replicated guard rails: per operarius (`namespace/name`; absent = the
    /// defaults) and the cluster-wide budgets. Proposed only when some are set, and in this
    /// first shape while no control (mode, approval, self-remediation, policy) is set.
    SyncGuards {
        guards: BTreeMap<String, GuardsDefV1>,
        cluster: ClusterGuardsV1,
    },
    /// The global pause (kill switch): while paused, new remediations are queued, not run;
    /// resuming starts them in order. `by` is the operator's identity, `at_ms` the proposer's
    /// clock.
    SetPaused {
        paused: bool,
        by: String,
        at_ms: i64,
    },
    /// Close the loop breaker of `operarius` on `target` (an operator re-arms it).
    ResetBreaker {
        operarius: String,
        target: String,
        by: String,
        at_ms: i64,
    },
    /// [`CommandV1::SyncGuards`] with the controls: per-operarius mode, approval and
    /// self-remediation, the cluster-wide mode override and policy. Nodes of an earlier
    /// release cannot apply it: upgrade every node before setting a control.
    SyncRails {
        guards: BTreeMap<String, GuardsDef>,
        cluster: ClusterGuards,
    },
    /// An operator approves or denies a remediation awaiting approval (identity and the
    /// proposer's clock recorded).
    Decide {
        id: RemediationId,
        approve: bool,
        by: String,
        at_ms: i64,
    },
    /// Expire the remediations whose approval deadline has passed by `at_ms` (the leader's
    /// clock; apply uses `max(at_ms, latest applied)`).
    ExpireApprovals { at_ms: i64 },
    /// Replace the replicated follow-ups (silence, verify, notify) by operarius. Proposed only
    /// when some are set; nodes of an earlier release cannot apply it: upgrade every node
    /// before setting a follow-up.
    SyncFollowUps { defs: BTreeMap<String, FollowUpDef> },
    /// The leader records a follow-up step of remediation `id` (its clock; apply uses
    /// `max(at_ms, latest applied)`).
    FollowUp {
        id: RemediationId,
        at_ms: i64,
        step: FollowUpStep,
    },
}

/// A leader identity: term and node. Two leaders can share a term in openraft 0.9, never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LeaderId {
    pub term: u64,
    pub node: u64,
}

impl std::fmt::Display for LeaderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{:016x}", self.term, self.node)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ingest {
    /// Stamped by the proposer: apply never reads a clock.
    pub received_at_ms: i64,
    /// Node that accepted the webhook.
    pub received_by: u64,
    pub notification: Notification,
    pub alerts: Vec<AlertEvent>,
}

impl Ingest {
    /// A parsed webhook as the command that records it, stamped with the proposer's clock and
    /// id.
    pub fn from_webhook(hook: Webhook, received_at_ms: i64, received_by: u64) -> Self {
        Self {
            received_at_ms,
            received_by,
            notification: Notification {
                version: hook.version,
                group_key: hook.group_key,
                truncated_alerts: hook.truncated_alerts,
                status: hook.status.as_str().to_string(),
                receiver: hook.receiver,
                group_labels: hook.group_labels,
                common_labels: hook.common_labels,
                common_annotations: hook.common_annotations,
                external_url: hook.external_url,
            },
            alerts: hook
                .alerts
                .into_iter()
                .map(|a| AlertEvent {
                    fingerprint: a.fingerprint().0,
                    status: a.status.as_str().to_string(),
                    labels: a.labels,
                    annotations: a.annotations,
                    starts_at: a.starts_at,
                    ends_at: a.ends_at,
                    generator_url: a.generator_url,
                })
                .collect(),
        }
    }
}

/// Notification-level fields of a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub version: String,
    pub group_key: String,
    pub truncated_alerts: u64,
    pub status: String,
    pub receiver: String,
    pub group_labels: BTreeMap<String, String>,
    pub common_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
    pub external_url: String,
}

/// One alert of a notification, with canonical timestamps and a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub fingerprint: String,
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    pub generator_url: String,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded {
        exit_code: i32,
    },
    Failed {
        exit_code: Option<i32>,
        reason: String,
    },
}

/// What apply answers to the proposer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Ingested(IngestSummary),
    Done,
    /// The command was valid but did not apply to the current state (for example a `Start` of a
    /// remediation that is no longer pending). Deterministic on every replica.
    Refused(String),
    Pruned {
        alerts: u64,
        remediations: u64,
        cooldowns: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestSummary {
    pub alerts: Vec<IngestedAlert>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestedAlert {
    pub event_id: EventId,
    pub fingerprint: String,
    pub status: String,
    pub alertname: String,
    /// False when this event had been recorded before (a re-delivery).
    pub new: bool,
    pub remediations: Vec<RemediationRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationRef {
    pub id: RemediationId,
    pub operarius: String,
    pub state: super::RemediationState,
}
