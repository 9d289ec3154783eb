//! The limits, rule by rule, through apply with proposer-stamped times.

use std::collections::BTreeMap;

use super::tests::{catalog, history, notification, summary, Harness, OP};
use super::*;
use crate::ids::RemediationId;
use crate::operarios::{BreakerDef, ClusterGuards, GuardsDef, WindowDef};
use crate::remediation::command::{AlertEvent, Ingest, LeaderId, Outcome};
use crate::remediation::record::RemediationState;

pub(super) const HOUR: i64 = 3_600_000;
pub(super) const T0: i64 = 1_700_000_000_000;

pub(super) fn guards(g: GuardsDef) -> CommandV1 {
    CommandV1::SyncRails {
        guards: [("ops/restart".to_string(), g)].into(),
        cluster: ClusterGuards::default(),
    }
}

/// One firing alert `Crash` on pod `pod` in namespace `shop`; `n` makes the fingerprint (and
/// so the alert) distinct, the pod keeps the target.
pub(super) fn alert(at_ms: i64, pod: &str, n: u32) -> CommandV1 {
    alert_with(at_ms, pod, n, "firing", "2024-01-01T00:00:00Z")
}

pub(super) fn alert_with(
    at_ms: i64,
    pod: &str,
    n: u32,
    status: &str,
    starts_at: &str,
) -> CommandV1 {
    let labels: BTreeMap<String, String> = [
        ("alertname", "Crash"),
        ("namespace", "shop"),
        ("pod", pod),
        ("container", &format!("c{n}")),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    CommandV1::IngestAlerts(Ingest {
        received_at_ms: at_ms,
        received_by: 7,
        notification: notification(status),
        alerts: vec![AlertEvent {
            fingerprint: format!("fp-{pod}-{n}"),
            status: status.into(),
            labels,
            annotations: BTreeMap::new(),
            starts_at: starts_at.into(),
            ends_at: String::new(),
            generator_url: String::new(),
        }],
    })
}

/// The remediation the alert led to: id, state, reason.
pub(super) fn admitted(
    h: &mut Harness,
    c: CommandV1,
) -> (RemediationId, RemediationState, Option<String>) {
    let s = summary(h.apply(c));
    let r = &s.alerts[0].remediations[0];
    let rec = history(h)
        .remediation(&r.id)
        .expect("read")
        .expect("recorded");
    assert_eq!(rec.state, r.state, "the answer says what was recorded");
    (r.id.clone(), rec.state, rec.reason)
}

pub(super) fn state(h: &Harness, id: &RemediationId) -> RemediationState {
    history(h)
        .remediation(id)
        .expect("read")
        .expect("recorded")
        .state
}

pub(super) fn run(h: &mut Harness, id: &RemediationId, at_ms: i64, outcome: Outcome) {
    let leader = LeaderId { term: 1, node: 7 };
    let r = h.apply(CommandV1::Start {
        id: id.clone(),
        at_ms,
        leader,
        executor: "n".into(),
    });
    assert_eq!(r, Response::Done, "started");
    let r = h.apply(CommandV1::Finish {
        id: id.clone(),
        at_ms: at_ms + 10,
        outcome,
        output_tail: String::new(),
    });
    assert_eq!(r, Response::Done, "finished");
}

pub(super) fn ok() -> Outcome {
    Outcome::Succeeded { exit_code: 0 }
}

pub(super) fn failed() -> Outcome {
    Outcome::Failed {
        exit_code: Some(1),
        reason: "exit 1".into(),
    }
}

pub(super) fn setup(g: GuardsDef) -> Harness {
    let mut h = Harness::new();
    // No cooldown: each distinct alert is its own remediation.
    h.apply(catalog(&OP.replace("ttl: 60", "ttl: 0")));
    h.apply(guards(g));
    h
}

#[test]
fn a_burst_on_one_target_runs_the_budget_and_holds_the_rest_with_the_window() {
    let mut h = setup(GuardsDef {
        budgets: vec![WindowDef {
            max: 3,
            per_ms: HOUR,
        }],
        ..GuardsDef::default()
    });
    let mut decided = Vec::new();
    for n in 0..50 {
        decided.push(admitted(&mut h, alert(T0 + i64::from(n), "web-1", n)));
    }
    let count = |s: RemediationState| decided.iter().filter(|d| d.1 == s).count();
    // One runs now (one per target at a time), two wait their turn, 47 are held.
    assert_eq!(count(RemediationState::Pending), 1);
    assert_eq!(count(RemediationState::Queued), 2);
    assert_eq!(count(RemediationState::Held), 47);
    let reason = decided[3].2.as_deref().expect("a reason");
    assert!(
        reason.contains("budget") && reason.contains("3 of 3 per 1h"),
        "{reason}"
    );
    assert!(reason.contains("namespace=shop,alertname=Crash,pod=web-1"));
    // The queued ones start in order as each run ends; exactly three ever run.
    let mut ran = 0;
    for (i, (id, _, _)) in decided.iter().take(3).enumerate() {
        assert_eq!(state(&h, id), RemediationState::Pending, "{i} is next");
        run(&mut h, id, T0 + 1_000 * (i as i64 + 1), ok());
        ran += 1;
    }
    assert_eq!(ran, 3);
    assert!(decided[3..]
        .iter()
        .all(|d| state(&h, &d.0) == RemediationState::Held));
    // Another target has its own budget; the window slides.
    assert_eq!(
        admitted(&mut h, alert(T0 + 5_000, "web-2", 0)).1,
        RemediationState::Pending
    );
    assert_eq!(
        admitted(&mut h, alert(T0 + HOUR + 1, "web-1", 100)).1,
        RemediationState::Pending,
        "an hour later a slot is free"
    );
}

#[test]
fn a_clock_behind_cannot_reopen_a_window() {
    let mut h = setup(GuardsDef {
        budgets: vec![WindowDef {
            max: 1,
            per_ms: HOUR,
        }],
        per_target: 5,
        ..GuardsDef::default()
    });
    assert_eq!(
        admitted(&mut h, alert(T0 + 2 * HOUR, "web-1", 0)).1,
        RemediationState::Pending
    );
    // A new leader whose clock is two hours behind stamps the next alert.
    let (_, s, reason) = admitted(&mut h, alert(T0, "web-1", 1));
    assert_eq!(s, RemediationState::Held, "{reason:?}");
}

#[test]
fn concurrency_queues_in_order_per_target_and_per_operarius() {
    let mut h = setup(GuardsDef {
        per_target: 1,
        per_operarius: Some(2),
        ..GuardsDef::default()
    });
    let a1 = admitted(&mut h, alert(T0, "a", 1));
    let a2 = admitted(&mut h, alert(T0 + 1, "a", 2));
    let b1 = admitted(&mut h, alert(T0 + 2, "b", 1));
    let c1 = admitted(&mut h, alert(T0 + 3, "c", 1));
    assert_eq!(a1.1, RemediationState::Pending);
    assert_eq!(a2.1, RemediationState::Queued);
    assert!(a2.2.as_deref().unwrap().contains("target"), "{:?}", a2.2);
    assert_eq!(b1.1, RemediationState::Pending);
    assert_eq!(c1.1, RemediationState::Queued, "two per operarius");
    assert!(c1
        .2
        .as_deref()
        .unwrap()
        .contains("`ops/restart` has 2 of 2"));
    // a1 ends: a2 (first in line, its target now free) starts; c1 still waits for the
    // operarius' second slot, which a2 took.
    run(&mut h, &a1.0, T0 + 10, ok());
    assert_eq!(state(&h, &a2.0), RemediationState::Pending);
    assert_eq!(state(&h, &c1.0), RemediationState::Queued);
    run(&mut h, &b1.0, T0 + 20, failed());
    assert_eq!(state(&h, &c1.0), RemediationState::Pending);
}

fn breaker(max_failed: Option<u32>, max_ineffective: Option<u32>) -> GuardsDef {
    GuardsDef {
        breaker: Some(BreakerDef {
            max_failed,
            max_ineffective,
            ineffective_within_ms: 30 * 60_000,
            window_ms: 24 * HOUR,
            cool_off_ms: None,
            count_interrupted: true,
        }),
        ..GuardsDef::default()
    }
}

#[test]
fn the_breaker_opens_after_failures_holds_until_reset_and_reset_rearms_it() {
    let mut h = setup(breaker(Some(2), None));
    for n in 0..2 {
        let (id, s, _) = admitted(&mut h, alert(T0 + i64::from(n) * 100, "web-1", n));
        assert_eq!(s, RemediationState::Pending);
        run(&mut h, &id, T0 + i64::from(n) * 100 + 1, failed());
    }
    let (_, s, reason) = admitted(&mut h, alert(T0 + 1_000, "web-1", 9));
    assert_eq!(s, RemediationState::Held);
    let reason = reason.unwrap();
    assert!(
        reason.contains("breaker open") && reason.contains("2 failed runs within 24h"),
        "{reason}"
    );
    assert!(reason.contains("until an operator resets it"), "{reason}");
    // Other targets are not affected.
    assert_eq!(
        admitted(&mut h, alert(T0 + 1_001, "web-2", 0)).1,
        RemediationState::Pending
    );
    let breakers = history(&h).breakers().unwrap();
    assert_eq!(breakers.len(), 1);
    assert!(breakers[0].is_open(T0 + 2 * HOUR), "it stays open");

    let target = "namespace=shop,alertname=Crash,pod=web-1".to_string();
    let r = h.apply(CommandV1::ResetBreaker {
        operarius: "ops/restart".into(),
        target: target.clone(),
        by: "alice".into(),
        at_ms: T0 + 2_000,
    });
    assert_eq!(r, Response::Done);
    let b = &history(&h).breakers().unwrap()[0];
    assert_eq!(b.reset_by.as_deref(), Some("alice"));
    assert!(!b.is_open(T0 + 2_000));
    let (id, s, _) = admitted(&mut h, alert(T0 + 3_000, "web-1", 10));
    assert_eq!(s, RemediationState::Pending, "re-armed");
    run(&mut h, &id, T0 + 3_001, failed());
    assert_eq!(
        admitted(&mut h, alert(T0 + 4_000, "web-1", 11)).1,
        RemediationState::Pending,
        "one failure after the reset is under the limit"
    );
    let r = h.apply(CommandV1::ResetBreaker {
        operarius: "ops/restart".into(),
        target: "nothing-here".into(),
        by: "alice".into(),
        at_ms: T0 + 5_000,
    });
    assert!(matches!(r, Response::Refused(_)), "{r:?}");
}

#[test]
fn an_alert_firing_again_soon_after_a_success_is_ineffective_and_opens_the_breaker() {
    let mut h = setup(breaker(None, Some(2)));
    // Run 1 succeeds; the same alert (fingerprint) fires again 5 minutes later.
    let (id, _, _) = admitted(
        &mut h,
        alert_with(T0, "web-1", 0, "firing", "2024-01-01T00:00:00Z"),
    );
    run(&mut h, &id, T0 + 10, ok());
    let (id, s, _) = admitted(
        &mut h,
        alert_with(T0 + 300_000, "web-1", 0, "firing", "2024-01-01T00:05:00Z"),
    );
    assert_eq!(s, RemediationState::Pending, "one ineffective run of two");
    run(&mut h, &id, T0 + 300_010, ok());
    // Again within 30 minutes: the second ineffective run opens the breaker and holds this one.
    let (_, s, reason) = admitted(
        &mut h,
        alert_with(T0 + 600_000, "web-1", 0, "firing", "2024-01-01T00:10:00Z"),
    );
    assert_eq!(s, RemediationState::Held);
    assert!(reason.unwrap().contains("2 ineffective runs"));
}

#[test]
fn a_success_that_stays_fixed_is_not_ineffective() {
    let mut h = setup(breaker(None, Some(1)));
    let (id, _, _) = admitted(&mut h, alert(T0, "web-1", 0));
    run(&mut h, &id, T0 + 10, ok());
    // The alert comes back only after ineffectiveWithin (30 min): a new problem, not a loop.
    let (_, s, _) = admitted(
        &mut h,
        alert_with(T0 + HOUR, "web-1", 0, "firing", "2024-01-01T01:00:00Z"),
    );
    assert_eq!(s, RemediationState::Pending);
}

#[test]
fn pause_queues_what_has_not_started_and_resume_runs_it_in_order() {
    let mut h = setup(GuardsDef {
        per_target: 10,
        ..GuardsDef::default()
    });
    let first = admitted(&mut h, alert(T0, "web-1", 0));
    h.apply(CommandV1::SetPaused {
        paused: true,
        by: "bob".into(),
        at_ms: T0 + 1,
    });
    assert_eq!(
        state(&h, &first.0),
        RemediationState::Queued,
        "not started yet"
    );
    let later = admitted(&mut h, alert(T0 + 2, "web-1", 1));
    assert_eq!(later.1, RemediationState::Queued);
    assert!(later.2.unwrap().contains("paused by bob"));
    assert!(history(&h).pause().unwrap().paused);
    h.apply(CommandV1::SetPaused {
        paused: false,
        by: "bob".into(),
        at_ms: T0 + 3,
    });
    assert_eq!(state(&h, &first.0), RemediationState::Pending);
    assert_eq!(state(&h, &later.0), RemediationState::Pending);
    assert!(!history(&h).pause().unwrap().paused);
}

#[test]
fn namespace_and_cluster_budgets_count_across_operarios_and_targets() {
    let mut h = Harness::new();
    h.apply(catalog(&OP.replace("ttl: 60", "ttl: 0")));
    h.apply(CommandV1::SyncRails {
        guards: BTreeMap::new(),
        cluster: ClusterGuards {
            global: vec![WindowDef {
                max: 3,
                per_ms: HOUR,
            }],
            per_namespace: vec![WindowDef {
                max: 2,
                per_ms: HOUR,
            }],
            ..ClusterGuards::default()
        },
    });
    let a = admitted(&mut h, alert(T0, "a", 0));
    let b = admitted(&mut h, alert(T0 + 1, "b", 0));
    let c = admitted(&mut h, alert(T0 + 2, "c", 0));
    assert_eq!(a.1, RemediationState::Pending);
    assert_eq!(b.1, RemediationState::Pending);
    assert_eq!(c.1, RemediationState::Held);
    assert!(c.2.unwrap().contains("namespace `shop` used 2 of 2 per 1h"));
}
