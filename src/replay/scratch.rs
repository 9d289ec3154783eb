//! The replay's own state machine: a temporary sled folder behind the raft crate's state
//! machine store, applying commands as log entries exactly as a replica applies them — the same
//! `RemediationMachine`, nothing proposed, nothing executed.
//!
//! Execution is simulated, so that concurrency slots, budgets and the loop breaker see runs
//! end:
//! - a remediation the history ran (same alert event, same operarius) starts when it started
//!   (or when the replay makes it pending, if later) and ends as it ended, after as long;
//! - one the history admitted but had not started when the history was read stays pending;
//! - any other (a new run) starts and succeeds at once, at the time it became pending.
//!
//! A remediation awaiting approval in the replay is approved when the history's run started,
//! denied when the history's denial ended it, expired when its expiry did (the operator's own
//! time is not recorded); without any of these it expires as the leader would expire it.
//! Commands due at the same millisecond as an alert are applied before it. Pauses and breaker
//! resets are not in the history and are not replayed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use openfero_raft::{codec, Payload, SmStore, Store};
use openraft::storage::RaftStateMachine;

use super::candidate::Candidate;
use super::error::ReplayError;
use super::line::Recorded;
use crate::ids::{EventId, Fingerprint, RemediationId};
use crate::remediation::{
    AlertRecord, Command, CommandV1, History, IngestSummary, LeaderId, Outcome, RemediationMachine,
    RemediationRecord, RemediationState, Response,
};

/// The leader every replayed entry is appended by (fencing checks `Start` against it).
const LEADER: LeaderId = LeaderId { term: 1, node: 1 };
/// What a simulated run records as its executor.
const EXECUTOR: &str = "replay";

/// How the history says a remediation ran.
#[derive(Debug, Clone)]
enum Run {
    /// Started at `at`; ended at `end.0` with `end.1`, unless it was still running.
    Started { at: i64, end: Option<(i64, Step)> },
    /// Admitted (pending or queued) but not started when the history was read.
    NotStarted,
    /// Denied by an operator at `at`.
    Denied { at: i64 },
    /// Expired, awaiting an approval nobody gave, at `at`.
    Expired { at: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// An operator's approval, at the time the history's run started.
    Approve,
    Deny,
    Expire,
    Start,
    Finish(OutcomeKey),
    Interrupt(String),
}

/// [`Outcome`] with an order, for the queue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum OutcomeKey {
    Succeeded(i32),
    Failed(Option<i32>, String),
}

impl From<OutcomeKey> for Outcome {
    fn from(o: OutcomeKey) -> Self {
        match o {
            OutcomeKey::Succeeded(exit_code) => Outcome::Succeeded { exit_code },
            OutcomeKey::Failed(exit_code, reason) => Outcome::Failed { exit_code, reason },
        }
    }
}

/// A simulated executor step due at `at` (then in the order it was planned).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: i64,
    order: u64,
    id: RemediationId,
    step: Step,
}

/// What ingesting one recorded alert gave.
#[derive(Debug)]
pub(super) struct Ingested {
    /// False when the event had been replayed already (a repeated line).
    pub new: bool,
    pub remediations: Vec<RemediationId>,
}

pub(super) struct Scratch {
    sm: SmStore<RemediationMachine>,
    history: History,
    _store: Store,
    _dir: tempfile::TempDir,
    index: u64,
    /// The latest time applied (apply's own clock never goes back either).
    clock: i64,
    order: u64,
    due: BinaryHeap<Reverse<Due>>,
    /// The history's runs by (event, operarius).
    runs: HashMap<(EventId, String), Run>,
    /// Remediations whose run is planned (or, admitted and not started in the history, left
    /// pending).
    planned: HashSet<RemediationId>,
    /// Some remediation was queued: a run ending may promote it.
    queued: bool,
    /// Some remediation awaited an approval: expiry is checked before each alert.
    approvals: bool,
    /// Commands applied.
    pub applied: u64,
}

impl Scratch {
    /// An empty state machine in a temporary folder (removed when dropped).
    pub fn new() -> Result<Self, ReplayError> {
        let dir = tempfile::Builder::new()
            .prefix("openfero-replay-")
            .tempdir()
            .map_err(|e| ReplayError::Scratch(format!("cannot make a temporary folder: {e}")))?;
        let store = Store::open(dir.path()).map_err(|e| ReplayError::Scratch(e.to_string()))?;
        let sm = store
            .state_machine(Arc::new(RemediationMachine))
            .map_err(|e| ReplayError::Scratch(e.to_string()))?;
        let history = History::new(
            store
                .reader()
                .map_err(|e| ReplayError::Scratch(e.to_string()))?,
        );
        Ok(Self {
            sm,
            history,
            _store: store,
            _dir: dir,
            index: 0,
            clock: i64::MIN,
            order: 0,
            due: BinaryHeap::new(),
            runs: HashMap::new(),
            planned: HashSet::new(),
            queued: false,
            approvals: false,
            applied: 0,
        })
    }

    /// Replicate the candidate catalog and its guard rails, as the leader's catalog sync does.
    pub async fn sync(&mut self, candidate: &Candidate) -> Result<(), ReplayError> {
        let catalog = if candidate.broken.is_empty() {
            CommandV1::SyncOperarios {
                catalog: candidate.defs.clone(),
                fingerprint: candidate.fingerprint.clone(),
            }
        } else {
            CommandV1::SyncCatalog {
                catalog: candidate.defs.clone(),
                broken: candidate.broken.clone(),
                fingerprint: candidate.fingerprint.clone(),
            }
        };
        self.apply(catalog).await?;
        self.apply(CommandV1::SyncRails {
            guards: candidate.guards.clone(),
            cluster: candidate.cluster.clone(),
        })
        .await?;
        Ok(())
    }

    /// Apply the recorded alert as the `IngestAlerts` command that recorded it, at its recorded
    /// time, after every simulated step due by then.
    pub async fn ingest(&mut self, rec: &Recorded) -> Result<Ingested, ReplayError> {
        let at = rec.received_at_ms;
        self.run_due(at).await?;
        self.clock = self.clock.max(at);
        if self.approvals && self.history.approvals_due(self.clock)? {
            self.apply(CommandV1::ExpireApprovals { at_ms: self.clock })
                .await?;
        }
        if let Some(ev) = rec.ingest.alerts.first() {
            let event = EventId::derive(
                &Fingerprint(ev.fingerprint.clone()),
                &ev.starts_at,
                &ev.status,
            );
            for d in &rec.did {
                let run = match (d.started_at_ms, d.parsed) {
                    (Some(start), state) => Run::Started {
                        at: start,
                        end: end_of(state, d.finished_at_ms, d.exit_code, d.reason.as_deref()),
                    },
                    (None, Some(RemediationState::Pending | RemediationState::Queued)) => {
                        Run::NotStarted
                    }
                    (None, Some(RemediationState::Denied)) => match d.finished_at_ms {
                        Some(at) => Run::Denied { at },
                        None => continue,
                    },
                    (None, Some(RemediationState::Expired)) => match d.finished_at_ms {
                        Some(at) => Run::Expired { at },
                        None => continue,
                    },
                    (None, _) => continue,
                };
                self.runs.insert((event.clone(), d.operarius.clone()), run);
            }
        }
        let summary = match self
            .apply(CommandV1::IngestAlerts(rec.ingest.clone()))
            .await?
        {
            Response::Ingested(s) => s,
            other => return Err(ReplayError::Scratch(format!("ingest answered `{other:?}`"))),
        };
        let IngestSummary { alerts } = summary;
        let mut out = Ingested {
            new: alerts.iter().all(|a| a.new),
            remediations: Vec::new(),
        };
        for a in &alerts {
            for r in &a.remediations {
                out.remediations.push(r.id.clone());
                match r.state {
                    RemediationState::Pending => self.plan(&r.id)?,
                    RemediationState::Queued => self.queued = true,
                    RemediationState::AwaitingApproval => {
                        self.approvals = true;
                        self.plan_decision(&r.id, &a.event_id)?;
                    }
                    _ => {}
                }
            }
        }
        self.run_due(self.clock).await?;
        Ok(out)
    }

    /// Run every step still due: the end of the history.
    pub async fn finish(&mut self) -> Result<(), ReplayError> {
        self.run_due(i64::MAX).await
    }

    pub fn remediation(
        &self,
        id: &RemediationId,
    ) -> Result<Option<RemediationRecord>, ReplayError> {
        Ok(self.history.remediation(id)?)
    }

    pub fn alert(&self, seq: u64) -> Result<Option<AlertRecord>, ReplayError> {
        Ok(self.history.alert(seq)?)
    }

    /// A pending remediation's simulated run.
    fn plan(&mut self, id: &RemediationId) -> Result<(), ReplayError> {
        let Some(rec) = self.history.remediation(id)? else {
            return Ok(());
        };
        self.plan_record(&rec);
        Ok(())
    }

    fn plan_record(&mut self, rec: &RemediationRecord) {
        let id = &rec.id;
        if !self.planned.insert(id.clone()) {
            return;
        }
        match self
            .runs
            .get(&(rec.event_id.clone(), rec.operarius.clone()))
            .cloned()
        {
            Some(Run::NotStarted | Run::Denied { .. } | Run::Expired { .. }) => {}
            Some(Run::Started { at, end }) => {
                let start = at.max(self.clock);
                self.push(start, id, Step::Start);
                if let Some((ended, step)) = end {
                    let ended = ended.saturating_add(start - at).max(start);
                    self.push(ended, id, step);
                }
            }
            None => {
                let now = self.clock;
                self.push(now, id, Step::Start);
                self.push(now, id, Step::Finish(OutcomeKey::Succeeded(0)));
            }
        }
    }

    /// The history's decision on a remediation the replay has awaiting approval, if it tells
    /// one.
    fn plan_decision(&mut self, id: &RemediationId, event: &EventId) -> Result<(), ReplayError> {
        let Some(rec) = self.history.remediation(id)? else {
            return Ok(());
        };
        let step = match self.runs.get(&(event.clone(), rec.operarius)) {
            Some(Run::Started { at, .. }) => (*at, Step::Approve),
            Some(Run::Denied { at }) => (*at, Step::Deny),
            Some(Run::Expired { at }) => (*at, Step::Expire),
            _ => return Ok(()),
        };
        self.push(step.0, id, step.1);
        Ok(())
    }

    fn push(&mut self, at: i64, id: &RemediationId, step: Step) {
        self.order += 1;
        self.due.push(Reverse(Due {
            at,
            order: self.order,
            id: id.clone(),
            step,
        }));
    }

    /// Apply the steps due at or before `until`, in time order; an ended run may promote
    /// queued remediations, and an approval admit one, whose runs join the queue. Steps after
    /// which nothing needs to be looked at are applied together, as a replica applies several
    /// committed entries at once.
    async fn run_due(&mut self, until: i64) -> Result<(), ReplayError> {
        let mut batch = Vec::new();
        while self.due.peek().is_some_and(|Reverse(d)| d.at <= until) {
            let Reverse(d) = self.due.pop().expect("peeked");
            self.clock = self.clock.max(d.at);
            let at_ms = self.clock;
            let ends = matches!(d.step, Step::Finish(_) | Step::Interrupt(_));
            let approve = d.step == Step::Approve;
            let decided = approve.then(|| d.id.clone());
            let command = match d.step {
                Step::Approve | Step::Deny => CommandV1::Decide {
                    approve,
                    id: d.id,
                    by: EXECUTOR.into(),
                    at_ms,
                },
                Step::Expire => CommandV1::ExpireApprovals { at_ms },
                Step::Start => CommandV1::Start {
                    id: d.id,
                    at_ms,
                    leader: LEADER,
                    executor: EXECUTOR.into(),
                },
                Step::Finish(outcome) => CommandV1::Finish {
                    id: d.id,
                    at_ms,
                    outcome: outcome.into(),
                    output_tail: String::new(),
                },
                Step::Interrupt(reason) => CommandV1::Interrupt {
                    id: d.id,
                    at_ms,
                    reason,
                },
            };
            batch.push(command);
            if !((ends && self.queued) || decided.is_some()) {
                continue;
            }
            self.apply_all(std::mem::take(&mut batch)).await?;
            if ends {
                self.promoted()?;
            }
            if let Some(id) = decided {
                match self.history.remediation(&id)? {
                    Some(rec) if rec.state == RemediationState::Pending => self.plan_record(&rec),
                    Some(rec) if rec.state == RemediationState::Queued => self.queued = true,
                    _ => {}
                }
            }
        }
        self.apply_all(batch).await.map(drop)
    }

    /// Plan the runs of queued remediations that are now pending (the open ones, pending and
    /// running, are few next to the queued ones).
    fn promoted(&mut self) -> Result<(), ReplayError> {
        if !self.queued {
            return Ok(());
        }
        for rec in self.history.open_remediations()? {
            if rec.state == RemediationState::Pending {
                self.plan_record(&rec);
            }
        }
        Ok(())
    }

    /// Apply one command as the next log entry, as a replica applies a committed entry.
    async fn apply(&mut self, command: CommandV1) -> Result<Response, ReplayError> {
        self.apply_all(vec![command])
            .await?
            .pop()
            .ok_or_else(|| ReplayError::Scratch("apply answered nothing".into()))
    }

    /// Apply commands as the next log entries, one each, in one apply: their responses.
    async fn apply_all(&mut self, commands: Vec<CommandV1>) -> Result<Vec<Response>, ReplayError> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let mut entries = Vec::with_capacity(commands.len());
        for command in commands {
            self.index += 1;
            self.applied += 1;
            let bytes = codec::encode(&Command::V1(command))
                .map_err(|e| ReplayError::Scratch(format!("encode: {e}")))?;
            entries.push(openraft::Entry {
                log_id: openraft::LogId::new(
                    openraft::CommittedLeaderId::new(LEADER.term, LEADER.node),
                    self.index,
                ),
                payload: openraft::EntryPayload::Normal(Payload(bytes)),
            });
        }
        let out = self
            .sm
            .apply(entries)
            .await
            .map_err(|e| ReplayError::Scratch(format!("apply: {e}")))?;
        out.iter()
            .map(|p| codec::decode(&p.0).map_err(|e| ReplayError::Scratch(format!("decode: {e}"))))
            .collect()
    }
}

/// How a run the history started ended, as the step that records it (`None`: still running).
fn end_of(
    state: Option<RemediationState>,
    finished: Option<i64>,
    exit_code: Option<i32>,
    reason: Option<&str>,
) -> Option<(i64, Step)> {
    let at = finished?;
    let step = match state? {
        RemediationState::Succeeded => Step::Finish(OutcomeKey::Succeeded(exit_code.unwrap_or(0))),
        RemediationState::Interrupted => Step::Interrupt(reason.unwrap_or_default().to_owned()),
        RemediationState::Running | RemediationState::Pending => return None,
        _ => Step::Finish(OutcomeKey::Failed(
            exit_code,
            reason.unwrap_or_default().to_owned(),
        )),
    };
    Some((at, step))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::operarios::ClusterGuards;
    use crate::replay::line::ReadLine;

    const OP: &str = "apiVersion: openfero.io/v1alpha1\nkind: Operarius\nmetadata: {name: fix, namespace: ops}\nspec:\n  alertSelector: {alertname: Crash, status: firing}\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{name: c, image: busybox, command: [\"/bin/echo\", \"{{ .Labels.pod }}\"]}]\n";

    fn ms(t: i64) -> String {
        crate::time::format_ms(1_796_083_200_000 + t)
    }

    /// A recorded alert about pod `web` received at `t` ms, with `did` as its remediations.
    fn line(n: u64, t: i64, did: serde_json::Value) -> Recorded {
        let text = json!({
            "receivedAt": ms(t),
            "webhook": {"status": "firing", "alerts": [{
                "labels": {"alertname": "Crash", "pod": "web"},
                "startsAt": ms(t),
            }]},
            "remediations": did,
        });
        ReadLine::parse(&text.to_string(), n).expect("a line")
    }

    fn ran(start: i64, end: i64) -> serde_json::Value {
        json!([{"operarius": "ops/fix", "state": "succeeded", "startedAt": ms(start), "finishedAt": ms(end), "exitCode": 0}])
    }

    async fn scratch() -> (tempfile::TempDir, Scratch) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("fix.yaml"), OP).expect("write");
        let candidate =
            Candidate::load(dir.path(), "default", ClusterGuards::default()).expect("catalog");
        assert_eq!(candidate.len(), 1, "{:?}", candidate.problems);
        let mut s = Scratch::new().expect("scratch");
        s.sync(&candidate).await.expect("sync");
        (dir, s)
    }

    async fn replayed(s: &mut Scratch, rec: &Recorded) -> RemediationRecord {
        let got = s.ingest(rec).await.expect("ingest");
        assert!(got.new);
        s.remediation(&got.remediations[0])
            .expect("read")
            .expect("a remediation")
    }

    fn at(t: i64) -> Option<i64> {
        Some(1_796_083_200_000 + t)
    }

    #[tokio::test]
    async fn replay_keeps_a_recorded_run_busy_for_as_long_as_it_ran() {
        let (_dir, mut s) = scratch().await;
        let first = replayed(&mut s, &line(1, 1_000, ran(1_000, 10_000))).await;
        let second = replayed(&mut s, &line(2, 5_000, ran(10_000, 10_500))).await;
        assert_eq!(second.state, RemediationState::Queued, "{second:?}");
        let third = replayed(&mut s, &line(3, 20_000, json!([]))).await;
        s.finish().await.expect("finish");
        let get = |r: &RemediationRecord| s.remediation(&r.id).expect("read").expect("held");
        let (first, second, third) = (get(&first), get(&second), get(&third));
        assert_eq!(
            (first.state, first.started_at_ms, first.finished_at_ms),
            (RemediationState::Succeeded, at(1_000), at(10_000))
        );
        assert_eq!(
            (second.state, second.started_at_ms, second.finished_at_ms),
            (RemediationState::Succeeded, at(10_000), at(10_500)),
            "promoted when the first run ended, then as long as it ran"
        );
        assert!(second
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("was queued: concurrency")));
        assert_eq!(
            (third.state, third.started_at_ms, third.finished_at_ms),
            (RemediationState::Succeeded, at(20_000), at(20_000)),
            "a new run succeeds at once"
        );
    }

    #[tokio::test]
    async fn replay_ends_a_new_run_at_once_so_the_next_alert_finds_its_slot_free() {
        let (_dir, mut s) = scratch().await;
        let first = replayed(&mut s, &line(1, 1_000, json!([]))).await;
        assert_eq!(
            (first.state, first.started_at_ms, first.finished_at_ms),
            (RemediationState::Succeeded, at(1_000), at(1_000)),
            "started and ended with the alert that made it pending"
        );
        let second = replayed(&mut s, &line(2, 1_001, json!([]))).await;
        assert_eq!(second.state, RemediationState::Succeeded, "{second:?}");
        assert_eq!(second.reason, None, "never queued");
    }

    #[tokio::test]
    async fn replay_approves_when_the_history_ran_and_denies_when_it_denied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gated = OP.replace("  jobTemplate:", "  approval: required\n  jobTemplate:");
        std::fs::write(dir.path().join("fix.yaml"), gated).expect("write");
        let candidate =
            Candidate::load(dir.path(), "default", ClusterGuards::default()).expect("catalog");
        assert!(candidate.problems.is_empty(), "{:?}", candidate.problems);
        let mut s = Scratch::new().expect("scratch");
        s.sync(&candidate).await.expect("sync");
        let approved = replayed(&mut s, &line(1, 1_000, ran(3_000, 4_000))).await;
        assert_eq!(approved.state, RemediationState::AwaitingApproval);
        let denied = json!([{"operarius": "ops/fix", "state": "denied", "finishedAt": ms(6_000)}]);
        let denied = replayed(&mut s, &line(2, 5_000, denied)).await;
        let waiting = replayed(&mut s, &line(3, 7_000, json!([]))).await;
        s.finish().await.expect("finish");
        let get = |r: &RemediationRecord| s.remediation(&r.id).expect("read").expect("held");
        let (approved, denied, waiting) = (get(&approved), get(&denied), get(&waiting));
        assert_eq!(
            (
                approved.state,
                approved.started_at_ms,
                approved.finished_at_ms
            ),
            (RemediationState::Succeeded, at(3_000), at(4_000))
        );
        assert_eq!(
            (denied.state, denied.finished_at_ms),
            (RemediationState::Denied, at(6_000))
        );
        assert_eq!(
            waiting.state,
            RemediationState::AwaitingApproval,
            "nobody decided; its approvalTtl (1h) has not passed"
        );
    }

    #[tokio::test]
    async fn replay_leaves_pending_what_the_history_had_not_started() {
        let (_dir, mut s) = scratch().await;
        let waiting = json!([{"operarius": "ops/fix", "state": "pending"}]);
        let first = replayed(&mut s, &line(1, 1_000, waiting)).await;
        let second = replayed(&mut s, &line(2, 2_000, json!([]))).await;
        s.finish().await.expect("finish");
        assert_eq!(
            s.remediation(&first.id).expect("read").map(|r| r.state),
            Some(RemediationState::Pending)
        );
        assert_eq!(
            s.remediation(&second.id).expect("read").map(|r| r.state),
            Some(RemediationState::Queued),
            "its slot is still taken"
        );
    }
}
