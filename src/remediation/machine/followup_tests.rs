//! Follow-ups through apply: who joins the work list, each step once, an ineffective verdict
//! counted by the loop breaker, closing.

use super::limits_tests::{admitted, alert, failed, ok, run, setup, T0};
use super::tests::{history, Harness};
use super::*;
use crate::ids::RemediationId;
use crate::operarios::{BreakerDef, FollowUpDef, GuardsDef, NotifyEvent};
use crate::remediation::followup::{FollowUpStep, SilenceRef};
use crate::remediation::record::RemediationState;

fn with_followups(h: &mut Harness) {
    let def = FollowUpDef {
        silence_grace_ms: Some(60_000),
        verify_within_ms: Some(120_000),
        notify: None,
    };
    let r = h.apply(CommandV1::SyncFollowUps {
        defs: [("ops/restart".to_string(), def)].into(),
    });
    assert_eq!(r, Response::Done);
}

fn step(h: &mut Harness, id: &RemediationId, at_ms: i64, step: FollowUpStep) -> Response {
    h.apply(CommandV1::FollowUp {
        id: id.clone(),
        at_ms,
        step,
    })
}

fn silenced() -> FollowUpStep {
    FollowUpStep::Silenced {
        silences: vec![SilenceRef {
            alertmanager: "http://am".into(),
            id: "s-1".into(),
        }],
        until_ms: T0 + 600_000,
        warning: None,
    }
}

#[test]
fn only_remediations_of_operarios_with_follow_ups_join_the_work_list() {
    let mut h = setup(GuardsDef::default());
    let (before, _, _) = admitted(&mut h, alert(T0, "web-1", 0));
    assert_eq!(history(&h).followups_open().unwrap(), Vec::<u64>::new());
    with_followups(&mut h);
    let (after, _, _) = admitted(&mut h, alert(T0 + 10, "web-1", 1));
    let seq = history(&h).remediation(&after).unwrap().unwrap().seq;
    assert_eq!(history(&h).followups_open().unwrap(), vec![seq]);
    assert!(history(&h).remediation(&before).unwrap().is_some());
}

#[test]
fn each_step_applies_once_and_closing_leaves_the_work_list() {
    let mut h = setup(GuardsDef::default());
    with_followups(&mut h);
    let (id, _, _) = admitted(&mut h, alert(T0, "web-1", 0));
    let seq = history(&h).remediation(&id).unwrap().unwrap().seq;
    assert_eq!(step(&mut h, &id, T0 + 1, silenced()), Response::Done);
    assert!(
        matches!(step(&mut h, &id, T0 + 2, silenced()), Response::Refused(_)),
        "a second leader's silence is refused: the first one is recorded"
    );
    // Not succeeded yet: no verdict.
    let verdict = FollowUpStep::Verified {
        verified: true,
        evidence: "resolved".into(),
    };
    assert!(matches!(
        step(&mut h, &id, T0 + 3, verdict.clone()),
        Response::Refused(_)
    ));
    run(&mut h, &id, T0 + 5, ok());
    assert_eq!(step(&mut h, &id, T0 + 20, verdict.clone()), Response::Done);
    assert!(matches!(
        step(&mut h, &id, T0 + 21, verdict),
        Response::Refused(_)
    ));
    let expired = FollowUpStep::SilencesExpired { warning: None };
    assert_eq!(step(&mut h, &id, T0 + 22, expired.clone()), Response::Done);
    assert!(matches!(
        step(&mut h, &id, T0 + 23, expired),
        Response::Refused(_)
    ));
    let notified = FollowUpStep::Notified {
        event: NotifyEvent::Verified,
        delivered: true,
        attempts: 1,
        error: None,
    };
    assert_eq!(step(&mut h, &id, T0 + 24, notified.clone()), Response::Done);
    assert!(matches!(
        step(&mut h, &id, T0 + 25, notified),
        Response::Refused(_)
    ));
    let fu = history(&h).followup(seq).unwrap().expect("recorded");
    assert_eq!(fu.silences.len(), 1);
    assert_eq!(fu.silenced_at_ms, Some(T0 + 1));
    assert_eq!(fu.verification.as_ref().map(|v| v.verified), Some(true));
    assert_eq!(fu.silences_expired_at_ms, Some(T0 + 22));
    assert!(fu.notified(NotifyEvent::Verified));
    assert_eq!(
        step(&mut h, &id, T0 + 30, FollowUpStep::Closed),
        Response::Done
    );
    assert!(history(&h).followups_open().unwrap().is_empty());
    assert!(matches!(
        step(
            &mut h,
            &id,
            T0 + 31,
            FollowUpStep::SilencesExpired { warning: None }
        ),
        Response::Refused(_)
    ));
}

#[test]
fn ineffective_runs_open_the_loop_breaker() {
    let mut h = setup(GuardsDef {
        breaker: Some(BreakerDef {
            max_failed: None,
            max_ineffective: Some(2),
            ineffective_within_ms: 30 * 60_000,
            window_ms: 24 * 3_600_000,
            cool_off_ms: None,
            count_interrupted: true,
        }),
        ..GuardsDef::default()
    });
    with_followups(&mut h);
    for n in 0..2u32 {
        let at = T0 + i64::from(n) * 1_000;
        let (id, s, _) = admitted(&mut h, alert(at, "web-1", n));
        assert_eq!(s, RemediationState::Pending, "run {n}");
        run(&mut h, &id, at + 1, ok());
        let r = step(
            &mut h,
            &id,
            at + 500,
            FollowUpStep::Verified {
                verified: false,
                evidence: "still firing".into(),
            },
        );
        assert_eq!(r, Response::Done);
    }
    let (_, s, reason) = admitted(&mut h, alert(T0 + 5_000, "web-1", 9));
    assert_eq!(s, RemediationState::Held);
    assert!(
        reason
            .as_deref()
            .unwrap_or("")
            .contains("2 ineffective runs"),
        "{reason:?}"
    );
    // A failed run is not verified at all.
    let (id, _, _) = admitted(&mut h, alert(T0 + 6_000, "web-2", 0));
    run(&mut h, &id, T0 + 6_001, failed());
    assert!(matches!(
        step(
            &mut h,
            &id,
            T0 + 6_100,
            FollowUpStep::Verified {
                verified: false,
                evidence: "x".into()
            }
        ),
        Response::Refused(_)
    ));
}
