//! The leader's follow-ups of remediations whose operarius asks for them (`spec.silence`,
//! `spec.verify`, `spec.notify`): silence the alert in Alertmanager once the run starts, decide
//! `verified` or `ineffective` after a succeeded run, expire the silences when nothing is left
//! to wait for (a failure at once, so the page goes out), and notify outcomes. Every step is
//! recorded through Raft before the next (`FollowUp`), so a new leader continues from the
//! record: it expires the silences the old one created, and never decides a verdict twice.
//!
//! Silencing and notifying never block a remediation: a failure is recorded as a warning.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::alertmanager::{Alertmanagers, Listed};
use crate::kubernetes::Reporter;
use crate::metrics::{FollowUpLabels, Metrics};
use crate::operarios::{FollowUpDef, NotifyEvent};
use crate::remediation::{
    CommandV1, FollowUpRecord, FollowUpStep, RemediationRecord, RemediationState, SilenceRef,
};
use crate::replica::Replica;
use crate::time::{format_ms, now_ms};

/// Attempts of one notification, and the first pause between them (doubled each time).
const NOTIFY_ATTEMPTS: u32 = 5;
const NOTIFY_FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// What the follow-up loop needs.
pub struct FollowUps {
    pub replica: Replica,
    pub alertmanagers: Option<Alertmanagers>,
    pub metrics: Metrics,
    /// Kubernetes mode: Events on the Operarius (ineffective runs).
    pub reporter: Option<Reporter>,
    /// A Job's deadline when its template sets none (`--default-timeout-secs`).
    pub default_timeout_secs: u64,
    /// This node's name, in notifications.
    pub node: String,
    /// For notifications (one client for every delivery: its connections are reused).
    pub notify_http: reqwest::Client,
}

impl FollowUps {
    /// The client notifications are sent with: 5 s per attempt.
    pub fn notify_client() -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
    }
}

/// What this leader remembers between ticks (lost with the leadership; the record is not).
#[derive(Default)]
struct Memory {
    /// Per remediation: the last alert event already read for its resolved notification.
    scanned: HashMap<u64, u64>,
    /// Remediations whose alert this leader saw active in Alertmanager (so its absence there
    /// later means resolved, not "never sent through Alertmanager").
    seen_in_am: HashSet<u64>,
}

impl FollowUps {
    pub async fn run(self, cancel: CancellationToken) {
        let this = Arc::new(self);
        let in_flight: Arc<Mutex<HashSet<(u64, NotifyEvent)>>> = Arc::default();
        let mut memory = Memory::default();
        let mut changes = this.replica.state_changes();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut led = false;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = changes.changed() => if r.is_err() { return },
                _ = tick.tick() => {}
            }
            let leads = this.replica.leader_id().is_some();
            if leads != led {
                led = leads;
                memory = Memory::default();
            }
            if !leads {
                continue;
            }
            let open = match this.replica.history().followups_open() {
                Ok(open) => open,
                Err(e) => {
                    warn!(error = %e, "follow-ups: cannot read the work list");
                    continue;
                }
            };
            if open.is_empty() {
                continue;
            }
            let defs = match this.replica.history().followup_defs() {
                Ok(d) => d.unwrap_or_default(),
                Err(e) => {
                    warn!(error = %e, "follow-ups: cannot read their settings");
                    continue;
                }
            };
            if !this.replica.confirm_leadership().await {
                continue;
            }
            for seq in open {
                if let Err(e) = this.follow_up(seq, &defs, &mut memory, &in_flight).await {
                    debug!(seq, error = %e, "follow-up step not taken now");
                }
            }
        }
    }

    fn count(&self, rec: &RemediationRecord, step: &str, result: &str) {
        self.metrics
            .followups
            .get_or_create(&FollowUpLabels {
                operarius: rec.operarius.clone(),
                step: step.into(),
                result: result.into(),
            })
            .inc();
    }

    async fn record(&self, rec: &RemediationRecord, step: FollowUpStep) -> Result<(), String> {
        let command = CommandV1::FollowUp {
            id: rec.id.clone(),
            at_ms: self.replica.stamp_ms().map_err(|e| e.to_string())?,
            step,
        };
        match self.replica.propose_local(command).await {
            Ok(crate::remediation::Response::Refused(why)) => Err(why),
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn follow_up(
        self: &Arc<Self>,
        seq: u64,
        defs: &BTreeMap<String, FollowUpDef>,
        memory: &mut Memory,
        in_flight: &Arc<Mutex<HashSet<(u64, NotifyEvent)>>>,
    ) -> Result<(), String> {
        let history = self.replica.history();
        let rec = history
            .remediation_at(seq)
            .map_err(|e| e.to_string())?
            .ok_or("the remediation was pruned")?;
        let def = defs.get(&rec.operarius).cloned().unwrap_or_default();
        let mut fu = history
            .followup(seq)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let now = now_ms();

        // Verification: only a succeeded run, once.
        let verifying = rec.state == RemediationState::Succeeded && def.verify_within_ms.is_some();
        if verifying && fu.verification.is_none() {
            if let Some((verified, evidence)) = self.verdict(&rec, &def, &fu, memory, now).await {
                info!(remediation = %rec.id, verified, %evidence, "remediation verified");
                self.record(&rec, FollowUpStep::Verified { verified, evidence })
                    .await?;
                self.count(
                    &rec,
                    "verify",
                    if verified { "verified" } else { "ineffective" },
                );
                if !verified {
                    self.announce_ineffective(&rec).await;
                }
                fu = history
                    .followup(seq)
                    .map_err(|e| e.to_string())?
                    .unwrap_or_default();
            }
        }
        let waiting = !rec.state.is_terminal() || (verifying && fu.verification.is_none());

        // Silence once the run has started, while there is something to wait for.
        if def.silence_grace_ms.is_some()
            && fu.silenced_at_ms.is_none()
            && rec.started_at_ms.is_some()
            && waiting
        {
            if let Some(am) = &self.alertmanagers {
                self.silence(am, &rec, &def, now).await?;
                fu = history
                    .followup(seq)
                    .map_err(|e| e.to_string())?
                    .unwrap_or_default();
            }
        }

        self.notify_due(&rec, &def, &fu, in_flight);

        if waiting {
            return Ok(());
        }
        // Nothing left to wait for: expire the silences (a failure at once, so the page goes
        // out; a success after its verdict), then close.
        if !fu.silences.is_empty() && fu.silences_expired_at_ms.is_none() {
            self.expire(&rec, &fu.silences).await?;
        }
        let notifications_pending = notify_events(&rec, &fu)
            .into_iter()
            .any(|e| def.notifies(e) && !fu.notified(e));
        if !notifications_pending {
            self.record(&rec, FollowUpStep::Closed).await?;
            memory.scanned.remove(&seq);
            memory.seen_in_am.remove(&seq);
        }
        Ok(())
    }

    /// The verdict on a succeeded run, once there is one: resolved (a resolved notification
    /// recorded after the run started, or Alertmanager no longer listing an alert it listed or
    /// that openfero silenced there), or still firing when the window has passed.
    async fn verdict(
        &self,
        rec: &RemediationRecord,
        def: &FollowUpDef,
        fu: &FollowUpRecord,
        memory: &mut Memory,
        now: i64,
    ) -> Option<(bool, String)> {
        let within = def.verify_within_ms?;
        let finished = rec.finished_at_ms.unwrap_or(now);
        let since = rec.started_at_ms.unwrap_or(rec.created_at_ms);
        let after = *memory.scanned.get(&rec.seq).unwrap_or(&rec.alert_seq);
        match self
            .replica
            .history()
            .resolved_after(after, &rec.fingerprint, since)
        {
            Ok((Some(resolved), _)) => {
                return Some((
                    true,
                    format!(
                        "resolved notification received at {}",
                        format_ms(resolved.received_at_ms)
                    ),
                ))
            }
            Ok((None, last)) => {
                memory.scanned.insert(rec.seq, last);
            }
            Err(e) => warn!(error = %e, "verification: cannot read the history"),
        }
        if let Some(am) = &self.alertmanagers {
            match am.listed(&rec.alertname, &rec.fingerprint).await {
                Ok(Listed::Active) => {
                    memory.seen_in_am.insert(rec.seq);
                }
                Ok(Listed::Gone)
                    if memory.seen_in_am.contains(&rec.seq) || !fu.silences.is_empty() =>
                {
                    // A silenced alert's resolved notification is not sent: Alertmanager mutes
                    // it as it muted the firing ones. Its alert list is the evidence.
                    return Some((
                        true,
                        format!(
                            "Alertmanager no longer lists the alert ({})",
                            format_ms(now)
                        ),
                    ));
                }
                Ok(Listed::Gone) => {}
                Err(e) => debug!(error = %e, "verification: Alertmanager not asked"),
            }
        }
        (now >= finished.saturating_add(within)).then(|| {
            (
                false,
                format!(
                    "still firing at {}, {} after the run ended",
                    format_ms(now),
                    humantime::format_duration(Duration::from_millis(within as u64))
                ),
            )
        })
    }

    async fn silence(
        &self,
        am: &Alertmanagers,
        rec: &RemediationRecord,
        def: &FollowUpDef,
        now: i64,
    ) -> Result<(), String> {
        let alert = self
            .replica
            .history()
            .alert(rec.alert_seq)
            .map_err(|e| e.to_string())?
            .ok_or("the alert was pruned")?;
        let deadline_ms = rec
            .rendered
            .as_ref()
            .and_then(|r| r.timeout_secs)
            .map(|s| s.max(0) as u64)
            .unwrap_or(self.default_timeout_secs)
            .saturating_mul(1000) as i64;
        let until = now
            .saturating_add(deadline_ms)
            .saturating_add(def.verify_within_ms.unwrap_or(0))
            .saturating_add(def.silence_grace_ms.unwrap_or(0));
        let comment = format!(
            "openfero remediation {} by operarius {} (Job {}); expired when it ends",
            rec.id, rec.operarius, rec.job_name
        );
        let mut silences = Vec::new();
        let mut failures = Vec::new();
        for url in am.urls() {
            match am.silence(url, &alert.labels, now, until, &comment).await {
                Ok(id) => silences.push(SilenceRef {
                    alertmanager: url.clone(),
                    id,
                }),
                Err(e) => failures.push(e),
            }
        }
        let warning = (!failures.is_empty()).then(|| failures.join("; "));
        if let Some(w) = &warning {
            warn!(remediation = %rec.id, warning = %w, "could not silence the alert everywhere");
        }
        self.count(
            rec,
            "silence",
            if warning.is_none() { "ok" } else { "failed" },
        );
        let step = FollowUpStep::Silenced {
            silences: silences.clone(),
            until_ms: until,
            warning,
        };
        if let Err(e) = self.record(rec, step).await {
            // Not recorded (leadership lost, or another leader silenced first): take back what
            // this call created, so nothing is left that no record names.
            for s in &silences {
                let _ = am.expire(&s.alertmanager, &s.id).await;
            }
            return Err(e);
        }
        info!(remediation = %rec.id, silences = silences.len(), until = %format_ms(until), "alert silenced while remediating");
        Ok(())
    }

    async fn expire(&self, rec: &RemediationRecord, silences: &[SilenceRef]) -> Result<(), String> {
        let mut failures = Vec::new();
        match &self.alertmanagers {
            Some(am) => {
                for s in silences {
                    if let Err(e) = am.expire(&s.alertmanager, &s.id).await {
                        failures.push(e);
                    }
                }
            }
            None => failures.push("no --alertmanager-url to expire them in".into()),
        }
        let warning = (!failures.is_empty()).then(|| failures.join("; "));
        self.count(
            rec,
            "expire",
            if warning.is_none() { "ok" } else { "failed" },
        );
        if let Some(w) = &warning {
            // They end by themselves at their `endsAt`.
            warn!(remediation = %rec.id, warning = %w, "could not expire every silence");
        }
        self.record(rec, FollowUpStep::SilencesExpired { warning })
            .await
    }

    async fn announce_ineffective(&self, rec: &RemediationRecord) {
        if let Some(reporter) = &self.reporter {
            let (ns, name) = rec
                .operarius
                .split_once('/')
                .unwrap_or(("", &rec.operarius));
            reporter
                .event(
                    ns,
                    name,
                    true,
                    "Ineffective",
                    format!(
                        "remediation {} succeeded but alert {} did not resolve in time",
                        rec.id, rec.alertname
                    ),
                )
                .await;
        }
    }

    /// Start a notification for each outcome that happened, is asked for and was not sent.
    fn notify_due(
        self: &Arc<Self>,
        rec: &RemediationRecord,
        def: &FollowUpDef,
        fu: &FollowUpRecord,
        in_flight: &Arc<Mutex<HashSet<(u64, NotifyEvent)>>>,
    ) {
        let Some(notify) = &def.notify else {
            return;
        };
        for event in notify_events(rec, fu) {
            if !def.notifies(event) || fu.notified(event) {
                continue;
            }
            if !in_flight
                .lock()
                .expect("in-flight lock")
                .insert((rec.seq, event))
            {
                continue;
            }
            let this = Arc::clone(self);
            let rec = rec.clone();
            let fu = fu.clone();
            let url = notify.url.clone();
            let in_flight = Arc::clone(in_flight);
            tokio::spawn(async move {
                let step = this.send(&url, event, &rec, &fu).await;
                if let Err(e) = this.record(&rec, step).await {
                    debug!(remediation = %rec.id, error = %e, "notification not recorded");
                }
                in_flight
                    .lock()
                    .expect("in-flight lock")
                    .remove(&(rec.seq, event));
            });
        }
    }

    /// POST the outcome to `url`, retrying with backoff.
    async fn send(
        &self,
        url: &str,
        event: NotifyEvent,
        rec: &RemediationRecord,
        fu: &FollowUpRecord,
    ) -> FollowUpStep {
        let body = json!({
            "version": "1",
            "event": event.as_str(),
            "node": self.node,
            "remediation": {
                "id": rec.id.as_str(),
                "operarius": rec.operarius,
                "state": rec.state.as_str(),
                "reason": rec.reason,
                "jobName": rec.job_name,
                "createdAt": format_ms(rec.created_at_ms),
                "startedAt": rec.started_at_ms.map(format_ms),
                "finishedAt": rec.finished_at_ms.map(format_ms),
                "exitCode": rec.exit_code,
            },
            "alert": {
                "alertname": rec.alertname,
                "status": rec.alert_status,
                "fingerprint": rec.fingerprint,
                "eventId": rec.event_id.as_str(),
            },
            "verification": fu.verification.as_ref().map(|v| json!({
                "verified": v.verified, "at": format_ms(v.at_ms), "evidence": v.evidence,
            })),
        });
        let mut last_error = String::new();
        let mut backoff = NOTIFY_FIRST_BACKOFF;
        for attempt in 1..=NOTIFY_ATTEMPTS {
            match self.notify_http.post(url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    self.count(rec, "notify", "ok");
                    return FollowUpStep::Notified {
                        event,
                        delivered: true,
                        attempts: attempt,
                        error: None,
                    };
                }
                Ok(r) => last_error = format!("{url} answered {}", r.status()),
                Err(e) => last_error = format!("{url}: {e}"),
            }
            if attempt < NOTIFY_ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        warn!(remediation = %rec.id, event = event.as_str(), error = %last_error, "notification not delivered");
        self.count(rec, "notify", "failed");
        FollowUpStep::Notified {
            event,
            delivered: false,
            attempts: NOTIFY_ATTEMPTS,
            error: Some(last_error),
        }
    }
}

/// The outcomes of `rec` so far that a notification can announce.
fn notify_events(rec: &RemediationRecord, fu: &FollowUpRecord) -> Vec<NotifyEvent> {
    let mut out = Vec::new();
    match rec.state {
        RemediationState::Held => out.push(NotifyEvent::Held),
        RemediationState::AwaitingApproval => out.push(NotifyEvent::AwaitingApproval),
        RemediationState::Failed | RemediationState::Interrupted => out.push(NotifyEvent::Failed),
        _ => {}
    }
    match fu.verification.as_ref().map(|v| v.verified) {
        Some(true) => out.push(NotifyEvent::Verified),
        Some(false) => out.push(NotifyEvent::Ineffective),
        None => {}
    }
    out
}
