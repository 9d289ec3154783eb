//! This node's replica of the remediation state: propose commands, read history, know who leads.

use openfero_raft::{NodeStatus, RaftNode, WriteError};
use openraft::ServerState;

use crate::remediation::{Command, CommandV1, History, LeaderId, RemediationMachine, Response};

/// Why a proposal did not commit.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        leader: Option<u64>,
        leader_api: Option<String>,
    },
    #[error("no quorum: {0}")]
    NoQuorum(String),
    /// This node has not learnt cluster time from a leader yet (see `openfero_raft::clock`):
    /// it stamps nothing with its own clock, which may be off by any amount.
    #[error("this node has not learnt the cluster's time from a leader yet; retry shortly")]
    NoClock,
    #[error("{0}")]
    Internal(String),
}

/// Longest wait for a quorum to confirm this node's leadership before it acts.
pub const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Cheap-to-clone handle over the Raft node and its applied state.
#[derive(Clone)]
pub struct Replica {
    raft: RaftNode<RemediationMachine>,
    history: History,
}

impl Replica {
    pub fn new(raft: RaftNode<RemediationMachine>) -> Self {
        let history = History::new(raft.reader().clone());
        Self { raft, history }
    }

    pub fn id(&self) -> u64 {
        self.raft.id()
    }

    pub fn raft(&self) -> &RaftNode<RemediationMachine> {
        &self.raft
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn status(&self) -> NodeStatus {
        self.raft.status()
    }

    /// Commit a command through Raft from any node (followers forward it to the leader) and
    /// return what apply answered.
    pub async fn propose(&self, command: CommandV1) -> Result<Response, ProposeError> {
        Self::map(self.raft.write(&Command::V1(command)).await)
    }

    /// Commit a command proposed by this node itself; refused when it does not lead. Used for
    /// side-effect bookkeeping, which only the leader may record.
    pub async fn propose_local(&self, command: CommandV1) -> Result<Response, ProposeError> {
        Self::map(self.raft.write_local(&Command::V1(command)).await)
    }

    fn map(r: Result<Response, WriteError>) -> Result<Response, ProposeError> {
        match r {
            Ok(r) => Ok(r),
            Err(WriteError::NotLeader { leader, node }) => Err(ProposeError::NotLeader {
                leader,
                leader_api: node.map(|n| n.api_addr),
            }),
            Err(WriteError::NoQuorum(d)) => Err(ProposeError::NoQuorum(format!(
                "not committed within {d:?}"
            ))),
            Err(e) => Err(ProposeError::Internal(e.to_string())),
        }
    }

    /// Cluster time now, for a command this node stamps (see `openfero_raft::clock`). Refused
    /// until a leader has told this node the time, unless it is the only voter.
    pub fn stamp_ms(&self) -> Result<i64, ProposeError> {
        if !openfero_raft::clock::calibrated() {
            let status = self.raft.status();
            if status.voters.len() <= 1 && status.leader == Some(status.id) {
                openfero_raft::clock::calibrate_alone();
            } else {
                return Err(ProposeError::NoClock);
            }
        }
        Ok(openfero_raft::clock::now_ms())
    }

    /// This node's leader identity, if it currently believes it leads.
    pub fn leader_id(&self) -> Option<LeaderId> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        (m.state == ServerState::Leader && m.current_leader == Some(m.id)).then_some(LeaderId {
            term: m.current_term,
            node: m.id,
        })
    }

    /// Confirm with a quorum that this node still leads (openraft 0.9 has no check-quorum
    /// step-down, so a partitioned leader would otherwise keep acting). Bounded: openraft's
    /// `ensure_linearizable` also waits for this node to apply up to the read index, without
    /// a deadline; a leader that cannot confirm within [`CONFIRM_TIMEOUT`] does not act now.
    pub async fn confirm_leadership(&self) -> bool {
        match tokio::time::timeout(CONFIRM_TIMEOUT, self.raft.raft().ensure_linearizable()).await {
            Ok(r) => r.is_ok(),
            Err(_) => {
                tracing::warn!(
                    timeout_ms = CONFIRM_TIMEOUT.as_millis() as u64,
                    "leadership not confirmed in time"
                );
                false
            }
        }
    }
}

/// What the background loops react to in Raft's metrics: who leads (and whether it is this
/// node), and how far this node has applied. Everything else in the metrics (heartbeat acks,
/// replication progress, `millis_since_quorum_ack`) changes several times a second while
/// nothing happened that a loop could act on — and a leadership confirmation itself changes
/// it, so a loop that woke on every metrics change and confirmed leadership spun forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StateKey {
    leader: Option<u64>,
    term: u64,
    is_leader: bool,
    applied: Option<u64>,
    membership: Option<u64>,
}

impl StateKey {
    fn of(m: &openraft::RaftMetrics<u64, openfero_raft::NodeInfo>) -> Self {
        Self {
            leader: m.current_leader,
            term: m.current_term,
            is_leader: m.state == ServerState::Leader,
            applied: m.last_applied.map(|l| l.index),
            membership: m.membership_config.log_id().map(|l| l.index),
        }
    }
}

/// A watch over the Raft state that wakes only when the leader, this node's role, the applied
/// index or the membership changed (see [`StateKey`]). Made by [`Replica::state_changes`].
pub struct StateChanges {
    rx: tokio::sync::watch::Receiver<openraft::RaftMetrics<u64, openfero_raft::NodeInfo>>,
    last: StateKey,
    /// Leadership only: the applied index and membership are left out of the key.
    leadership_only: bool,
}

impl StateChanges {
    /// Wait for the next relevant change; `Err` once Raft has shut down.
    pub async fn changed(&mut self) -> Result<(), tokio::sync::watch::error::RecvError> {
        loop {
            self.rx.changed().await?;
            let key = self.key_of_current();
            if key != self.last {
                self.last = key;
                return Ok(());
            }
        }
    }

    fn key_of_current(&mut self) -> StateKey {
        let key = StateKey::of(&self.rx.borrow_and_update());
        if self.leadership_only {
            StateKey {
                applied: None,
                membership: None,
                ..key
            }
        } else {
            key
        }
    }
}

impl Replica {
    /// Relevant changes of the Raft state, for loops that must not spin on metrics noise.
    pub fn state_changes(&self) -> StateChanges {
        Self::changes(self.raft.metrics(), false)
    }

    /// Changes of the leader, the term or this node's role only.
    pub fn leadership_changes(&self) -> StateChanges {
        Self::changes(self.raft.metrics(), true)
    }

    fn changes(
        rx: tokio::sync::watch::Receiver<openraft::RaftMetrics<u64, openfero_raft::NodeInfo>>,
        leadership_only: bool,
    ) -> StateChanges {
        let mut changes = StateChanges {
            rx,
            last: StateKey {
                leader: None,
                term: 0,
                is_leader: false,
                applied: None,
                membership: None,
            },
            leadership_only,
        };
        changes.last = changes.key_of_current();
        changes
    }
}
