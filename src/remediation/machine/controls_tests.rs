//! The controls, rule by rule, through apply with proposer-stamped times: modes, approvals,
//! policy, openfero's own objects, and the first release's guard-rails command.

use std::collections::BTreeMap;

use super::limits_tests::{admitted, alert, guards, ok, run, setup, state, HOUR, T0};
use super::tests::{history, notification, summary, Harness};
use super::*;
use crate::operarios::{ClusterGuards, GuardsDef, GuardsDefV1, Mode, PolicySpec, WindowDef};
use crate::remediation::command::{AlertEvent, Ingest, LeaderId};
use crate::remediation::record::RemediationState;

fn budget(max: u32) -> Vec<WindowDef> {
    vec![WindowDef { max, per_ms: HOUR }]
}

fn with_cluster(g: GuardsDef, cluster: ClusterGuards) -> CommandV1 {
    CommandV1::SyncRails {
        guards: [("ops/restart".to_string(), g)].into(),
        cluster,
    }
}

fn start(h: &mut Harness, id: &RemediationId) -> Response {
    h.apply(CommandV1::Start {
        id: id.clone(),
        at_ms: T0,
        leader: LeaderId { term: 1, node: 7 },
        executor: "n".into(),
    })
}

fn decide(h: &mut Harness, id: &RemediationId, approve: bool, at_ms: i64) -> Response {
    h.apply(CommandV1::Decide {
        id: id.clone(),
        approve,
        by: "alice".into(),
        at_ms,
    })
}

#[test]
fn dry_run_records_the_rendered_job_creates_nothing_and_counts_nothing() {
    let mut h = setup(GuardsDef {
        budgets: budget(1),
        mode: Mode::DryRun,
        ..GuardsDef::default()
    });
    for n in 0..3 {
        let (id, st, reason) = admitted(&mut h, alert(T0 + n, "web-1", n as u32));
        assert_eq!(st, RemediationState::DryRun);
        assert!(reason.unwrap().starts_with("dry-run: Job `restart-"));
        let rec = history(&h).remediation(&id).unwrap().unwrap();
        assert!(
            rec.rendered.is_some(),
            "the Job it would create is recorded"
        );
        assert!(rec.finished_at_ms.is_some(), "dry-run is final");
        assert!(matches!(start(&mut h, &id), Response::Refused(_)));
    }
    assert!(history(&h).open_remediations().unwrap().is_empty());
    // Nothing was charged: enforcing now runs within the budget of one.
    h.apply(guards(GuardsDef {
        budgets: budget(1),
        ..GuardsDef::default()
    }));
    let (_, st, _) = admitted(&mut h, alert(T0 + 10, "web-1", 9));
    assert_eq!(st, RemediationState::Pending);
}

#[test]
fn shadow_takes_the_decisions_enforce_would_and_runs_nothing() {
    let mut h = setup(GuardsDef {
        budgets: budget(2),
        mode: Mode::Shadow,
        ..GuardsDef::default()
    });
    let a = admitted(&mut h, alert(T0, "web-1", 0));
    let b = admitted(&mut h, alert(T0 + 1, "web-1", 1));
    let c = admitted(&mut h, alert(T0 + 2, "web-1", 2));
    assert_eq!(a.1, RemediationState::DryRun);
    // The first freed its slot at once: the second would have run, not queued.
    assert!(b.2.as_deref().unwrap().contains("would have run"), "{b:?}");
    assert_eq!(c.1, RemediationState::Held);
    assert!(
        c.2.as_deref().unwrap().starts_with("shadow: budget:"),
        "{c:?}"
    );
    assert!(history(&h).open_remediations().unwrap().is_empty());
}

#[test]
fn the_cluster_mode_overrides_every_operarius() {
    let mut h = setup(GuardsDef::default());
    h.apply(with_cluster(
        GuardsDef::default(),
        ClusterGuards {
            mode: Some(Mode::Shadow),
            ..ClusterGuards::default()
        },
    ));
    let (_, st, reason) = admitted(&mut h, alert(T0, "web-1", 0));
    assert_eq!(st, RemediationState::DryRun);
    assert!(reason.unwrap().starts_with("shadow:"));
    h.apply(with_cluster(
        GuardsDef {
            mode: Mode::DryRun,
            ..GuardsDef::default()
        },
        ClusterGuards {
            mode: Some(Mode::Enforce),
            ..ClusterGuards::default()
        },
    ));
    let (_, st, _) = admitted(&mut h, alert(T0 + 1, "web-2", 0));
    assert_eq!(st, RemediationState::Pending, "--mode enforce forces it on");
}

fn approval(ttl_ms: i64) -> GuardsDef {
    GuardsDef {
        approval_ttl_ms: Some(ttl_ms),
        ..GuardsDef::default()
    }
}

#[test]
fn an_approved_remediation_runs_once_and_a_second_approval_is_refused() {
    let mut h = setup(approval(HOUR));
    let (id, st, reason) = admitted(&mut h, alert(T0, "web-1", 0));
    assert_eq!(st, RemediationState::AwaitingApproval);
    assert!(reason.unwrap().starts_with("awaiting approval"));
    assert!(
        matches!(start(&mut h, &id), Response::Refused(_)),
        "never started before approval"
    );
    assert_eq!(decide(&mut h, &id, true, T0 + 1000), Response::Done);
    let rec = history(&h).remediation(&id).unwrap().unwrap();
    assert_eq!(rec.state, RemediationState::Pending);
    assert!(rec.reason.unwrap().starts_with("approved by alice at "));
    let again = decide(&mut h, &id, true, T0 + 2000);
    assert!(
        matches!(&again, Response::Refused(why) if why.contains("is pending, not awaiting approval")),
        "{again:?}"
    );
    run(&mut h, &id, T0 + 3000, ok());
    assert_eq!(state(&h, &id), RemediationState::Succeeded);
    assert!(matches!(start(&mut h, &id), Response::Refused(_)));
}

#[test]
fn approval_goes_through_the_limits_when_it_is_given() {
    let mut h = setup(GuardsDef {
        budgets: budget(1),
        ..approval(HOUR)
    });
    let (a, ..) = admitted(&mut h, alert(T0, "web-1", 0));
    let (b, ..) = admitted(&mut h, alert(T0 + 1, "web-1", 1));
    assert_eq!(decide(&mut h, &a, true, T0 + 10), Response::Done);
    assert_eq!(decide(&mut h, &b, true, T0 + 20), Response::Done);
    assert_eq!(state(&h, &a), RemediationState::Pending);
    let rec = history(&h).remediation(&b).unwrap().unwrap();
    assert_eq!(rec.state, RemediationState::Held, "{rec:?}");
    assert!(rec.reason.unwrap().contains("budget:"));
}

#[test]
fn denied_and_expired_remediations_never_run() {
    let mut h = setup(approval(60_000));
    let (denied, ..) = admitted(&mut h, alert(T0, "web-1", 0));
    assert_eq!(decide(&mut h, &denied, false, T0 + 10), Response::Done);
    let rec = history(&h).remediation(&denied).unwrap().unwrap();
    assert_eq!(rec.state, RemediationState::Denied);
    assert!(rec.reason.unwrap().starts_with("denied by alice"));
    assert!(matches!(
        decide(&mut h, &denied, true, T0 + 20),
        Response::Refused(_)
    ));

    // Expired by an approval that came too late...
    let (late, ..) = admitted(&mut h, alert(T0 + 100, "web-2", 0));
    let r = decide(&mut h, &late, true, T0 + 100 + 60_000);
    assert!(
        matches!(&r, Response::Refused(why) if why.contains("expired")),
        "{r:?}"
    );
    assert_eq!(state(&h, &late), RemediationState::Expired);

    // ...and by the leader's sweep, which leaves those not yet due.
    let (swept, ..) = admitted(&mut h, alert(T0 + 70_000, "web-3", 0));
    let (young, ..) = admitted(&mut h, alert(T0 + 100_000, "web-4", 0));
    assert!(!history(&h).approvals_due(T0 + 129_999).unwrap());
    assert!(history(&h).approvals_due(T0 + 130_000).unwrap());
    h.apply(CommandV1::ExpireApprovals {
        at_ms: T0 + 130_000,
    });
    assert_eq!(state(&h, &swept), RemediationState::Expired);
    assert_eq!(state(&h, &young), RemediationState::AwaitingApproval);
    assert!(!history(&h).approvals_due(T0 + 130_000).unwrap());
    for id in [&denied, &late, &swept] {
        assert!(matches!(start(&mut h, id), Response::Refused(_)));
    }
}

#[test]
fn a_clock_behind_cannot_approve_after_the_deadline() {
    let mut h = setup(approval(60_000));
    let (id, ..) = admitted(&mut h, alert(T0, "web-1", 0));
    // A later command moved the replicated clock past the deadline...
    admitted(&mut h, alert(T0 + 61_000, "web-2", 0));
    // ...so an approval stamped by a leader whose clock is behind is still too late.
    let r = decide(&mut h, &id, true, T0 + 1_000);
    assert!(matches!(r, Response::Refused(_)), "{r:?}");
    assert_eq!(state(&h, &id), RemediationState::Expired);
}

fn policy(yaml: &str) -> ClusterGuards {
    let spec: PolicySpec = serde_yaml::from_str(yaml).expect("policy");
    ClusterGuards {
        policy: Some(spec.to_def().expect("valid")),
        ..ClusterGuards::default()
    }
}

#[test]
fn a_rendered_job_that_breaks_the_policy_is_refused_with_the_rule() {
    let mut h = setup(GuardsDef::default());
    h.apply(with_cluster(
        GuardsDef::default(),
        policy("allowedImages: ['registry.example.com/*']\n"),
    ));
    let (id, st, reason) = admitted(&mut h, alert(T0, "web-1", 0));
    assert_eq!(st, RemediationState::Refused);
    let reason = reason.unwrap();
    assert!(
        reason.contains("policy `allowedImages`: image `busybox`"),
        "{reason}"
    );
    assert!(matches!(start(&mut h, &id), Response::Refused(_)));
    // The alert's namespace is checked too.
    h.apply(with_cluster(
        GuardsDef::default(),
        policy("allowedNamespaces: [ops]\n"),
    ));
    let (_, st, reason) = admitted(&mut h, alert(T0 + 1, "web-2", 0));
    assert_eq!(st, RemediationState::Refused);
    assert!(reason.unwrap().contains("namespace `shop`"));
    h.apply(with_cluster(
        GuardsDef::default(),
        policy("allowedNamespaces: [ops, shop]\nallowedImages: [busybox]\n"),
    ));
    let (_, st, _) = admitted(&mut h, alert(T0 + 2, "web-3", 0));
    assert_eq!(st, RemediationState::Pending);
}

fn alert_about(at_ms: i64, labels: &[(&str, &str)]) -> CommandV1 {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    CommandV1::IngestAlerts(Ingest {
        received_at_ms: at_ms,
        received_by: 7,
        notification: notification("firing"),
        alerts: vec![AlertEvent {
            fingerprint: format!("fp-{at_ms}"),
            status: "firing".into(),
            labels,
            annotations: BTreeMap::new(),
            starts_at: "2024-01-01T00:00:00Z".into(),
            ends_at: String::new(),
            generator_url: String::new(),
        }],
    })
}

#[test]
fn alerts_about_openferos_own_jobs_are_recorded_not_remediated_unless_opted_in() {
    let mut h = setup(GuardsDef::default());
    let (id, ..) = admitted(&mut h, alert(T0, "web-1", 0));
    let job = history(&h).remediation(&id).unwrap().unwrap().job_name;
    let pod = format!("{job}-x7k2p");
    let (_, st, reason) = admitted(
        &mut h,
        alert_about(T0 + 1, &[("alertname", "Crash"), ("pod", &pod)]),
    );
    assert_eq!(st, RemediationState::Skipped);
    assert!(reason.unwrap().starts_with("self-reference:"));
    let (_, st, _) = admitted(
        &mut h,
        alert_about(
            T0 + 2,
            &[
                ("alertname", "Crash"),
                ("pod", "other"),
                ("label_openfero_io_managed_by", "openfero"),
            ],
        ),
    );
    assert_eq!(st, RemediationState::Skipped);
    // A 16-hex token that is no remediation of ours is a stranger's pod.
    let (_, st, _) = admitted(
        &mut h,
        alert_about(
            T0 + 3,
            &[
                ("alertname", "Crash"),
                ("pod", "web-0123456789abcdef-abcde"),
            ],
        ),
    );
    assert_eq!(st, RemediationState::Pending);
    h.apply(guards(GuardsDef {
        self_remediation: true,
        per_target: 10,
        ..GuardsDef::default()
    }));
    let r = summary(h.apply(alert_about(
        T0 + 4,
        &[("alertname", "Crash"), ("pod", &pod)],
    )));
    assert_eq!(r.alerts[0].remediations[0].state, RemediationState::Pending);
}

#[test]
fn the_first_releases_guard_rails_command_still_applies() {
    let mut h = setup(GuardsDef::default());
    h.apply(CommandV1::SyncGuards {
        guards: [(
            "ops/restart".to_string(),
            GuardsDefV1 {
                budgets: budget(1),
                target_labels: vec!["pod".into()],
                per_target: 5,
                per_operarius: None,
                breaker: None,
            },
        )]
        .into(),
        cluster: Default::default(),
    });
    let stored = history(&h).guards().unwrap().expect("stored");
    let g = stored.of("ops/restart");
    assert_eq!((g.per_target, g.mode), (5, Mode::Enforce));
    assert_eq!(
        stored.as_v1().unwrap().operarios["ops/restart"].per_target,
        5
    );
    let (_, a, _) = admitted(&mut h, alert(T0, "web-1", 0));
    let (_, b, _) = admitted(&mut h, alert(T0 + 1, "web-1", 1));
    assert_eq!((a, b), (RemediationState::Pending, RemediationState::Held));
    // A control cannot be written in the first shape.
    let with_mode = StoredGuards {
        operarios: [(
            "ops/restart".to_string(),
            GuardsDef {
                mode: Mode::Shadow,
                ..GuardsDef::default()
            },
        )]
        .into(),
        cluster: ClusterGuards::default(),
    };
    assert!(with_mode.as_v1().is_none());
}
