//! The leader's execution loop.
//!
//! Protocol (exactly once; at most once across crashes): record the intent (`Start`, fenced by
//! the leader id, committed) → act → record the outcome (`Finish`).
//!
//! - Local processes: a remediation found `running` that this process is not running was
//!   started by a process that is gone; it is recorded `interrupted`, never re-run.
//! - Kubernetes Jobs: acting means "make the Job with the deterministic name exist"; a new
//!   leader repeats that for every `running` remediation (AlreadyExists with our id is success),
//!   then follows the Job's status to record the outcome.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

mod report;
mod timing;

use super::process::{run_process, ProcessEnd, ProcessResult, ProcessSpec};
use crate::ids::RemediationId;
use crate::kubernetes::{
    ensure_job, outcome, pod_log_tail, JobError, JobOutcome, JobTracker, Reporter,
};
use crate::metrics::{Metrics, OutcomeLabel, RemediationLabels};
use crate::remediation::{
    CommandV1, LeaderId, Outcome, RemediationRecord, RemediationState, Response,
};
use crate::replica::{ProposeError, Replica};
use crate::time::now_ms;
use k8s_openapi::api::batch::v1::Job;
use report::{open_breakers, Reports};
use timing::step;

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

/// Where remediations run.
#[derive(Clone)]
pub enum Backend {
    /// The first container's command as a local process (embedded mode).
    Local,
    /// A Kubernetes Job per remediation.
    Kubernetes(Arc<KubeBackend>),
}

/// What the Kubernetes backend needs.
pub struct KubeBackend {
    pub client: kube::Client,
    pub jobs: JobTracker,
    pub reporter: Reporter,
}

/// An action that ended; `outcome` is what to record through Raft (`None`: nothing to record
/// yet, e.g. a Job was created and is now followed through its status).
struct Finished {
    leader: LeaderId,
    id: RemediationId,
    operarius: String,
    outcome: Option<Outcome>,
    output_tail: String,
}

/// An outcome waiting to be recorded through Raft.
struct Unreported {
    id: RemediationId,
    operarius: String,
    outcome: Outcome,
    output_tail: String,
}

/// Per-leadership state: a new leader id starts from scratch and cancels the old one's work.
struct Epoch {
    leader: LeaderId,
    cancel: CancellationToken,
    /// Remediations this process is acting on right now.
    in_flight: HashSet<RemediationId>,
    /// When a Job was last ensured for a running remediation (Kubernetes).
    ensured: HashMap<RemediationId, Instant>,
    unreported: Vec<Unreported>,
    /// Highest remediation seq whose Skipped event was considered (Kubernetes).
    events_cursor: u64,
    /// Loop breakers seen open (operarius, target, opened at): each opening is announced once
    /// per leadership, and a new leader does not announce what was open before it led.
    breakers_seen: HashSet<(String, String, i64)>,
}

/// Runs pending remediations while this node leads.
pub struct Executor {
    replica: Replica,
    metrics: Metrics,
    config: ExecutorConfig,
    node_name: String,
    backend: Backend,
    /// Kubernetes status and Event writes, made by their own task (set by [`Executor::run`]).
    reports: Option<Reports>,
}

/// How long a running remediation's Job may be missing from the watch before it is ensured again.
const JOB_RECHECK: Duration = Duration::from_secs(5);

/// Longest wait for the API server on a remediation's Job: to create (or show) it — then the
/// attempt counts as transient and the next tick ensures the Job again — or to read a failed
/// Job's pod log. kube's client has no read timeout; these calls keep the remediation in flight.
const JOB_CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl Executor {
    pub fn new(
        replica: Replica,
        config: ExecutorConfig,
        node_name: String,
        backend: Backend,
        metrics: Metrics,
    ) -> Self {
        Self {
            replica,
            metrics,
            config,
            node_name,
            backend,
            reports: None,
        }
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        if let Backend::Kubernetes(k) = &self.backend {
            let reports = Reports::start(self.replica.clone(), k.clone(), shutdown.child_token());
            self.reports = Some(reports);
        }
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
        // Wakes on a new leader, role or applied entry only: waking on every metrics change
        // (heartbeat acks included) while a leadership confirmation itself produces one spun a
        // core whenever a Job was running (issue 17).
        let mut changes = self.replica.state_changes();
        let mut epoch: Option<Epoch> = None;
        let jobs = match &self.backend {
            Backend::Kubernetes(k) => Some(k.jobs.clone()),
            Backend::Local => None,
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = changes.changed() => if r.is_err() { break },
                Some(done) = done_rx.recv() => {
                    if let Some(e) = epoch.as_mut().filter(|e| e.leader == done.leader) {
                        e.in_flight.remove(&done.id);
                        if let Some(outcome) = done.outcome {
                            e.unreported.push(Unreported {
                                id: done.id,
                                operarius: done.operarius,
                                outcome,
                                output_tail: done.output_tail,
                            });
                        }
                    }
                }
                _ = async { if let Some(j) = &jobs { j.changed().await } else { std::future::pending().await } } => {}
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
                        in_flight: HashSet::new(),
                        ensured: HashMap::new(),
                        unreported: Vec::new(),
                        events_cursor: self.replica.history().last_remediation_seq().unwrap_or(0),
                        breakers_seen: open_breakers(&self.replica),
                    }
                });
            }
            if let Some(e) = epoch.as_mut() {
                let started = Instant::now();
                if let Err(err) = self.tick(e, &done_tx).await {
                    debug!(error = %err, "executor tick stopped early");
                }
                timing::slow("tick", started);
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
        while !epoch.unreported.is_empty() {
            // Stamped before the outcome leaves the queue: without cluster time it stays there.
            let at_ms = self.replica.stamp_ms()?;
            let Some(done) = epoch.unreported.pop() else {
                break;
            };
            let failed = matches!(done.outcome, Outcome::Failed { .. });
            let reason = match &done.outcome {
                Outcome::Failed { reason, .. } => reason.clone(),
                Outcome::Succeeded { .. } => String::new(),
            };
            let cmd = CommandV1::Finish {
                id: done.id.clone(),
                at_ms,
                outcome: done.outcome.clone(),
                output_tail: done.output_tail.clone(),
            };
            match step("propose finish", self.replica.propose_local(cmd)).await {
                Ok(_) => {
                    epoch.ensured.remove(&done.id);
                    self.observe(&done);
                    if let Some(reports) = &self.reports {
                        reports.status(&done.operarius);
                        if failed {
                            reports.event(
                                &done.operarius,
                                true,
                                "JobFailed",
                                format!("remediation {}: {reason}", done.id),
                            );
                        }
                    }
                }
                Err(e) => {
                    epoch.unreported.push(done);
                    return Err(e);
                }
            }
        }
        if let Some(reports) = &self.reports {
            self.report_skipped(epoch, reports);
            self.report_breakers(epoch, reports);
        }
        // Approvals nobody gave in time: expired by the leader's clock, decided in apply.
        let now = self.replica.stamp_ms()?;
        if self.replica.history().approvals_due(now).unwrap_or(false) {
            let expire = self
                .replica
                .propose_local(CommandV1::ExpireApprovals { at_ms: now });
            step("propose expiry", expire).await?;
        }
        let open = self
            .replica
            .history()
            .open_remediations()
            .map_err(|e| ProposeError::Internal(e.to_string()))?;
        let work: Vec<RemediationRecord> = open
            .into_iter()
            .filter(|r| !epoch.in_flight.contains(&r.id) && self.needs_action(epoch, r))
            .collect();
        if work.is_empty() {
            return Ok(());
        }
        // One quorum round trip per batch: a deposed leader must not act on stale beliefs.
        if !step("confirm leadership", self.replica.confirm_leadership()).await {
            return Err(ProposeError::NoQuorum("leadership not confirmed".into()));
        }
        for rec in work {
            match (rec.state, &self.backend) {
                (RemediationState::Running, Backend::Local) => {
                    step("propose interrupt", self.interrupt(&rec)).await?
                }
                (RemediationState::Running, Backend::Kubernetes(k)) => {
                    self.follow_job(epoch, k, rec, done_tx);
                }
                (RemediationState::Pending, _) => {
                    if epoch.in_flight.len() >= self.config.max_concurrent {
                        continue;
                    }
                    self.start(epoch, rec, done_tx).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether an open remediation has something for this tick to do. A Job that is still
    /// active needs nothing, so a running Job does not cost a quorum round trip per wake-up.
    fn needs_action(&self, epoch: &Epoch, rec: &RemediationRecord) -> bool {
        match (rec.state, &self.backend) {
            (RemediationState::Pending, _) => epoch.in_flight.len() < self.config.max_concurrent,
            (RemediationState::Running, Backend::Local) => true,
            (RemediationState::Running, Backend::Kubernetes(k)) => {
                match watched_job(epoch, k, rec) {
                    None => epoch
                        .ensured
                        .get(&rec.id)
                        .is_none_or(|t| t.elapsed() >= JOB_RECHECK),
                    Some(job) => !matches!(outcome(&job), JobOutcome::Active),
                }
            }
            _ => false,
        }
    }

    /// Count a recorded outcome and its duration (from the committed start).
    fn observe(&self, done: &Unreported) {
        let outcome = match done.outcome {
            Outcome::Succeeded { .. } => {
                self.metrics.jobs_succeeded.inc();
                "succeeded"
            }
            Outcome::Failed { .. } => {
                self.metrics.jobs_failed.inc();
                "failed"
            }
        };
        self.metrics
            .remediations
            .get_or_create(&RemediationLabels {
                operarius: done.operarius.clone(),
                outcome: outcome.into(),
            })
            .inc();
        let started = self
            .replica
            .history()
            .remediation(&done.id)
            .ok()
            .flatten()
            .and_then(|r| r.started_at_ms);
        if let Some(started) = started {
            let secs = (now_ms() - started).max(0) as f64 / 1000.0;
            self.metrics
                .executor_duration
                .get_or_create(&OutcomeLabel {
                    outcome: outcome.into(),
                })
                .observe(secs);
        }
    }

    async fn interrupt(&self, rec: &RemediationRecord) -> Result<(), ProposeError> {
        let by = rec
            .started_by
            .map(|l| l.to_string())
            .unwrap_or_else(|| "unknown".into());
        warn!(remediation = %rec.id, started_by = %by, "running remediation has no live executor: recording it interrupted");
        self.replica
            .propose_local(CommandV1::Interrupt {
                id: rec.id.clone(),
                at_ms: self.replica.stamp_ms()?,
                reason: format!(
                    "the executor that started it (leader `{by}`) stopped while it ran; not re-run"
                ),
            })
            .await
            .map(|_| ())
    }

    async fn start(
        &self,
        epoch: &mut Epoch,
        rec: RemediationRecord,
        done_tx: &mpsc::UnboundedSender<Finished>,
    ) -> Result<(), ProposeError> {
        // Stamped first: without cluster time nothing is marked in flight.
        let at_ms = self.replica.stamp_ms()?;
        epoch.in_flight.insert(rec.id.clone());
        let cmd = CommandV1::Start {
            id: rec.id.clone(),
            at_ms,
            leader: epoch.leader,
            executor: self.node_name.clone(),
        };
        match step("propose start", self.replica.propose_local(cmd)).await {
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
        // Act on the record as committed (it now carries the leader and log index).
        let rec = self
            .replica
            .history()
            .remediation(&rec.id)
            .ok()
            .flatten()
            .unwrap_or(rec);
        info!(remediation = %rec.id, operarius = %rec.operarius, job = %rec.job_name, "executing remediation");
        match &self.backend {
            Backend::Local => {
                self.metrics.jobs_created.inc();
                self.spawn_process(epoch, rec, done_tx)
            }
            Backend::Kubernetes(k) => self.spawn_ensure(epoch, k.clone(), rec, done_tx),
        }
        Ok(())
    }

    fn spawn_process(
        &self,
        epoch: &Epoch,
        rec: RemediationRecord,
        done_tx: &mpsc::UnboundedSender<Finished>,
    ) {
        let cancel = epoch.cancel.clone();
        let tx = done_tx.clone();
        let leader = epoch.leader;
        let default_timeout = self.config.default_timeout;
        tokio::spawn(async move {
            let result = match &rec.rendered {
                Some(rendered) => {
                    let timeout = rendered
                        .timeout_secs
                        .and_then(|s| u64::try_from(s).ok())
                        .filter(|s| *s > 0)
                        .map(Duration::from_secs)
                        .unwrap_or(default_timeout);
                    let spec = ProcessSpec {
                        command: rendered.command.clone(),
                        args: rendered.args.clone(),
                        env: rendered.env.clone(),
                        timeout,
                    };
                    run_process(&spec, &cancel).await
                }
                None => ProcessResult {
                    end: ProcessEnd::SpawnFailed("no rendered job recorded".into()),
                    output_tail: String::new(),
                },
            };
            let (outcome, output_tail) = outcome_of(result);
            let _ = tx.send(Finished {
                leader,
                id: rec.id,
                operarius: rec.operarius,
                outcome: Some(outcome),
                output_tail,
            });
        });
    }

    /// Make the Job exist; a refusal is the remediation's failure, a transient error is retried
    /// by the next tick (the remediation stays running).
    fn spawn_ensure(
        &self,
        epoch: &mut Epoch,
        k: Arc<KubeBackend>,
        rec: RemediationRecord,
        done_tx: &mpsc::UnboundedSender<Finished>,
    ) {
        epoch.in_flight.insert(rec.id.clone());
        epoch.ensured.insert(rec.id.clone(), Instant::now());
        let tx = done_tx.clone();
        let leader = epoch.leader;
        let replica = self.replica.clone();
        let jobs_created = self.metrics.jobs_created.clone();
        let reports = self.reports.clone();
        tokio::spawn(async move {
            // OpenFero's `openfero.io/group-key` label, from the alert's replicated record (gone
            // only when retention pruned the alert first: then the Job goes without it).
            let group_key = replica
                .history()
                .alert(rec.alert_seq)
                .ok()
                .flatten()
                .map(|a| a.group_key);
            // Bounded: kube's client has no read timeout, and a create that never answers
            // would keep the remediation in flight (a slot of `max_concurrent`) for good. A
            // create that did land is adopted by the next ensure (same name, same id).
            let ensure = ensure_job(&k.client, &rec, group_key.as_deref());
            let result = match tokio::time::timeout(JOB_CALL_TIMEOUT, ensure).await {
                Ok(r) => r,
                Err(_) => Err(JobError::Transient(format!(
                    "no answer from the api server within {JOB_CALL_TIMEOUT:?}"
                ))),
            };
            let outcome = match result {
                Ok(created) => {
                    if created {
                        jobs_created.inc();
                        info!(remediation = %rec.id, job = %rec.job_name, namespace = %rec.namespace, "job created");
                        if let Some(reports) = &reports {
                            reports.event(
                                &rec.operarius,
                                false,
                                "JobCreated",
                                format!("created job {} for alert {}", rec.job_name, rec.alertname),
                            );
                        }
                    } else {
                        info!(remediation = %rec.id, job = %rec.job_name, "job already exists for this remediation");
                    }
                    if let Some(reports) = &reports {
                        reports.status(&rec.operarius);
                    }
                    None
                }
                Err(JobError::Refused(reason)) => Some(Outcome::Failed {
                    exit_code: None,
                    reason,
                }),
                Err(JobError::Transient(reason)) => {
                    warn!(remediation = %rec.id, %reason, "job not created yet; will retry");
                    None
                }
            };
            // Always report back so the remediation leaves the in-flight set.
            let _ = tx.send(Finished {
                leader,
                id: rec.id.clone(),
                operarius: rec.operarius.clone(),
                outcome,
                output_tail: String::new(),
            });
        });
    }

    /// A running remediation on Kubernetes: record the Job's outcome once it has one; re-ensure
    /// the Job when the watch does not show it (after a failover, or a lost create).
    fn follow_job(
        &self,
        epoch: &mut Epoch,
        k: &Arc<KubeBackend>,
        rec: RemediationRecord,
        done_tx: &mpsc::UnboundedSender<Finished>,
    ) {
        match watched_job(epoch, k, &rec) {
            None => {
                let due = epoch
                    .ensured
                    .get(&rec.id)
                    .is_none_or(|t| t.elapsed() >= JOB_RECHECK);
                if due {
                    self.spawn_ensure(epoch, k.clone(), rec, done_tx);
                }
            }
            Some(job) => match outcome(&job) {
                JobOutcome::Active => {}
                JobOutcome::Succeeded => {
                    epoch.in_flight.insert(rec.id.clone());
                    let _ = done_tx.send(Finished {
                        leader: epoch.leader,
                        id: rec.id,
                        operarius: rec.operarius,
                        outcome: Some(Outcome::Succeeded { exit_code: 0 }),
                        output_tail: String::new(),
                    });
                }
                JobOutcome::Failed { reason } => {
                    epoch.in_flight.insert(rec.id.clone());
                    let tx = done_tx.clone();
                    let leader = epoch.leader;
                    let client = k.client.clone();
                    tokio::spawn(async move {
                        let tail = log_tail(&client, &rec).await;
                        let _ = tx.send(Finished {
                            leader,
                            id: rec.id,
                            operarius: rec.operarius,
                            outcome: Some(Outcome::Failed {
                                exit_code: None,
                                reason,
                            }),
                            output_tail: tail,
                        });
                    });
                }
            },
        }
    }
}

/// The tail of a failed Job's pod log, bounded by [`JOB_CALL_TIMEOUT`].
async fn log_tail(client: &kube::Client, rec: &RemediationRecord) -> String {
    let read = pod_log_tail(client, &rec.namespace, &rec.job_name);
    match tokio::time::timeout(JOB_CALL_TIMEOUT, read).await {
        Ok(tail) => tail,
        Err(_) => format!("(pod log unavailable: no answer within {JOB_CALL_TIMEOUT:?})"),
    }
}

/// The running remediation's Job as this node's watch shows it.
fn watched_job(epoch: &Epoch, k: &KubeBackend, rec: &RemediationRecord) -> Option<Arc<Job>> {
    if crate::kubernetes::chaos_cold_watch() && !epoch.ensured.contains_key(&rec.id) {
        return None;
    }
    k.jobs.get(&rec.namespace, &rec.job_name)
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
