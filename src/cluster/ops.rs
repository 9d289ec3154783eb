//! Membership changes requested through the admin API, held to the autopilot's safety rule.

use std::collections::BTreeSet;

use openraft::ChangeMembers;
use tracing::info;

use super::autopilot::CAUGHT_UP_LAG;
use super::safety::check_voter_change;
use super::Cluster;
use crate::remediation::CommandV1;

/// A requested change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipOp {
    /// Learner → voter.
    Promote,
    /// Voter → learner.
    Demote,
    /// Out of the cluster.
    Remove,
}

impl MembershipOp {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "promote" => Some(Self::Promote),
            "demote" => Some(Self::Demote),
            "remove" => Some(Self::Remove),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("node `{0}` is not a member of the cluster")]
    NotFound(String),
    /// The change would break quorum or is not possible in the current state.
    #[error("refused: {0}")]
    Unsafe(String),
    #[error("this node is not the leader")]
    NotLeader,
    #[error("{0}")]
    Raft(String),
}

impl Cluster {
    /// Apply an admin membership change on the leader, asked for by `by` (logged with it).
    pub async fn change_membership(
        &self,
        id: u64,
        op: MembershipOp,
        by: &str,
    ) -> Result<(), ClusterError> {
        let replica = self.replica();
        if replica.leader_id().is_none() {
            return Err(ClusterError::NotLeader);
        }
        let _guard = self.lock_changes().await;
        let metrics = replica.raft().metrics().borrow().clone();
        let membership = metrics.membership_config.membership().clone();
        if membership.get_joint_config().len() > 1 {
            return Err(ClusterError::Unsafe(
                "a membership change is still being committed; retry".into(),
            ));
        }
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let learners: BTreeSet<u64> = membership.learner_ids().collect();
        let hex = format!("{id:016x}");
        if !voters.contains(&id) && !learners.contains(&id) {
            return Err(ClusterError::NotFound(hex));
        }
        let healthy = self.healthy_nodes(CAUGHT_UP_LAG).await;
        let (change, retain) = match op {
            MembershipOp::Promote => {
                if voters.contains(&id) {
                    return Err(ClusterError::Unsafe(format!(
                        "node `{hex}` is already a voter"
                    )));
                }
                if !healthy.contains(&id) {
                    return Err(ClusterError::Unsafe(format!(
                        "node `{hex}` is not healthy and caught up"
                    )));
                }
                let after: BTreeSet<u64> = voters.iter().copied().chain([id]).collect();
                check_voter_change(&voters, &after, &healthy).map_err(ClusterError::Unsafe)?;
                (ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            }
            MembershipOp::Demote | MembershipOp::Remove if voters.contains(&id) => {
                let after: BTreeSet<u64> = voters.iter().copied().filter(|v| *v != id).collect();
                check_voter_change(&voters, &after, &healthy).map_err(ClusterError::Unsafe)?;
                if after.len() < 3 && voters.len() >= 3 {
                    return Err(ClusterError::Unsafe(format!(
                        "the cluster would keep {} voters; at least 3 are needed to survive a failure",
                        after.len()
                    )));
                }
                (
                    ChangeMembers::RemoveVoters(BTreeSet::from([id])),
                    op == MembershipOp::Demote,
                )
            }
            MembershipOp::Demote => {
                return Err(ClusterError::Unsafe(format!("node `{hex}` is not a voter")));
            }
            MembershipOp::Remove => (ChangeMembers::RemoveNodes(BTreeSet::from([id])), false),
        };
        info!(node = %hex, ?op, by = %by, "admin membership change");
        replica
            .raft()
            .raft()
            .change_membership(change, retain)
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        if op == MembershipOp::Remove {
            replica
                .propose_local(CommandV1::ForgetNodes { ids: vec![id] })
                .await
                .map_err(|e| ClusterError::Raft(e.to_string()))?;
        }
        Ok(())
    }

    /// Pause or resume the autopilot, asked for by `by`; both are replicated, so every node's
    /// cluster view says who last changed it.
    pub async fn set_autopilot_paused(&self, paused: bool, by: &str) -> Result<(), ClusterError> {
        info!(paused, by = %by, "autopilot change");
        self.replica()
            .propose(CommandV1::SetAutopilotBy {
                paused,
                by: by.to_string(),
            })
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::Raft(e.to_string()))
    }
}
