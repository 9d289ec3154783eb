//! The leader's execution loop.
//!
//! Protocol (exactly once, at most once on crashes): record the intent (`Start`, fenced by the
//! leader id, committed) → run → record the outcome (`Finish`). A remediation found `running`
//! that this process is not running was started by a process that is gone: it is recorded
//! `interrupted`, never re-run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use super::process::{run_process, ProcessEnd, ProcessResult, ProcessSpec};
use crate::ids::RemediationId;
use crate::remediation::{
    CommandV1, LeaderId, Outcome, RemediationRecord, RemediationState, Response,
};
use crate::replica::{ProposeError, Replica};
use crate::time::now_ms;

#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Remediations running at once on this node.
    pub max_concurrent: usize,
    /// Deadline when the job template sets no `activeDeadlineSeconds`.
    pub default_timeout: Duration,
    /// Re-scan interval when nothing else wakes the loop.
    pub poll_interval: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 4,
            default_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(1),
        }
    }
}

struct Finished {
    leader: LeaderId,
    id: RemediationId,
    result: ProcessResult,
}

/// Runs pending remediations while this node leads.
pub struct Executor {
    replica: Replica,
    config: ExecutorConfig,
    node_name: String,
}

/// Per-leadership state: a new leader id starts from scratch and cancels the old one's work.
struct Epoch {
    leader: LeaderId,
    cancel: CancellationToken,
    in_flight: HashMap<RemediationId, ()>,
    unreported: Vec<Finished>,
}

impl Executor {
    pub fn new(replica: Replica, config: ExecutorConfig, node_name: String) -> Self {
        Self {
            replica,
            config,
            node_name,
        }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
        let mut metrics = self.replica.raft().metrics();
        let mut epoch: Option<Epoch> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = metrics.changed() => {}
                Some(done) = done_rx.recv() => {
                    if let Some(e) = epoch.as_mut().filter(|e| e.leader == done.leader) {
                        e.in_flight.remove(&done.id);
                        e.unreported.push(done);
                    }
                }
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
            let leader = self.replica.leader_id();
            if epoch.as_ref().map(|e| e.leader) != leader {
                if let Some(old) = epoch.take() {
                    info!(leader = %old.leader, "leadership lost: cancelling running remediations");
                    old.cancel.cancel();
                }
                epoch = leader.map(|leader| {
                    info!(%leader, "leading: executor active");
                    Epoch {
                        leader,
                        cancel: shutdown.child_token(),
                        in_flight: HashMap::new(),
                        unreported: Vec::new(),
                    }
                });
            }
            if let Some(e) = epoch.as_mut() {
                if let Err(err) = self.tick(e, &done_tx).await {
                    debug!(error = %err, "executor tick stopped early");
                }
            }
        }
        if let Some(e) = epoch {
            e.cancel.cancel();
        }
    }

    #[instrument(skip_all, fields(leader = %epoch.leader))]
    async fn tick(
        &self,
        epoch: &mut Epoch,
        done_tx: &mpsc::UnboundedSender<Finished>,
    ) -> Result<(), ProposeError> {
        // Outcomes first: they free capacity and close remediations.
        while let Some(done) = epoch.unreported.pop() {
            let (outcome, tail) = outcome_of(done.result.clone());
            let cmd = CommandV1::Finish {
                id: done.id.clone(),
                at_ms: now_ms(),
                outcome,
                output_tail: tail,
            };
            if let Err(e) = self.replica.propose_local(cmd).await {
                epoch.unreported.push(done);
                return Err(e);
            }
        }
        let open = self
            .replica
            .history()
            .open_remediations()
            .map_err(|e| ProposeError::Internal(e.to_string()))?;
        let work: Vec<RemediationRecord> = open
            .into_iter()
            .filter(|r| !epoch.in_flight.contains_key(&r.id))
            .collect();
        if work.is_empty() {
            return Ok(());
        }
        // One quorum round trip per batch: a deposed leader must not act on stale beliefs.
        if !self.replica.confirm_leadership().await {
            return Err(ProposeError::NoQuorum("leadership not confirmed".into()));
        }
        for rec in work {
            match rec.state {
                RemediationState::Running => {
                    let by = rec
                        .started_by
                        .map(|l| l.to_string())
                        .unwrap_or_else(|| "unknown".into());
                    warn!(remediation = %rec.id, started_by = %by, "running remediation has no live executor: recording it interrupted");
                    self.replica
                        .propose_local(CommandV1::Interrupt {
                            id: rec.id.clone(),
                            at_ms: now_ms(),
                            reason: format!(
                                "the executor that started it (leader `{by}`) stopped while it ran; not re-run"
                            ),
                        })
                        .await?;
                }
                RemediationState::Pending => {
                    if epoch.in_flight.len() >= self.config.max_concurrent {
                        break;
                    }
                    self.start(epoch, rec, done_tx).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn start(
        &self,
        epoch: &mut Epoch,
        rec: RemediationRecord,
        done_tx: &mpsc::UnboundedSender<Finished>,
    ) -> Result<(), ProposeError> {
        epoch.in_flight.insert(rec.id.clone(), ());
        let cmd = CommandV1::Start {
            id: rec.id.clone(),
            at_ms: now_ms(),
            leader: epoch.leader,
            executor: self.node_name.clone(),
        };
        match self.replica.propose_local(cmd).await {
            Ok(Response::Done) => {}
            Ok(other) => {
                epoch.in_flight.remove(&rec.id);
                debug!(remediation = %rec.id, answer = ?other, "start refused");
                return Ok(());
            }
            Err(e) => {
                epoch.in_flight.remove(&rec.id);
                return Err(e);
            }
        }
        let Some(rendered) = rec.rendered.clone() else {
            // Pending remediations always carry their rendered job; report rather than panic.
            let _ = done_tx.send(Finished {
                leader: epoch.leader,
                id: rec.id.clone(),
                result: ProcessResult {
                    end: ProcessEnd::SpawnFailed("no rendered job recorded".into()),
                    output_tail: String::new(),
                },
            });
            return Ok(());
        };
        let timeout = rendered
            .timeout_secs
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .unwrap_or(self.config.default_timeout);
        let spec = ProcessSpec {
            command: rendered.command.clone(),
            args: rendered.args.clone(),
            env: rendered.env.clone(),
            timeout,
        };
        info!(remediation = %rec.id, operarius = %rec.operarius, job = %rec.job_name, "executing remediation");
        let cancel = epoch.cancel.clone();
        let tx = done_tx.clone();
        let leader = epoch.leader;
        let id = rec.id.clone();
        let spec = Arc::new(spec);
        tokio::spawn(async move {
            let result = run_process(&spec, &cancel).await;
            let _ = tx.send(Finished { leader, id, result });
        });
        Ok(())
    }
}

fn outcome_of(result: ProcessResult) -> (Outcome, String) {
    let outcome = match result.end {
        ProcessEnd::Exited(0) => Outcome::Succeeded { exit_code: 0 },
        ProcessEnd::Exited(code) => Outcome::Failed {
            exit_code: Some(code),
            reason: format!("exited with code {code}"),
        },
        ProcessEnd::Signalled(sig) => Outcome::Failed {
            exit_code: None,
            reason: format!("killed by signal {sig}"),
        },
        ProcessEnd::TimedOut => Outcome::Failed {
            exit_code: None,
            reason: "deadline exceeded (activeDeadlineSeconds)".into(),
        },
        ProcessEnd::Cancelled => Outcome::Failed {
            exit_code: None,
            reason: "cancelled: leadership changed or openfero stopped".into(),
        },
        ProcessEnd::SpawnFailed(msg) => Outcome::Failed {
            exit_code: None,
            reason: msg,
        },
    };
    (outcome, result.output_tail)
}
