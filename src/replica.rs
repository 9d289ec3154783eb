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
