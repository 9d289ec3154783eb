//! Controls in Kubernetes mode, against the Kubernetes double (real REST and watches through
//! kube-rs): dry-run and shadow create no Job (the double's request log) and are announced as
//! Events; an approved remediation creates exactly one Job.

use serde_json::{json, Value};

use crate::kubernetes::{
    alert_body, apply, env, events_with_reason, expected_ids, job, operarius, post,
    remediation_state, wait_catalog, NS,
};

/// The remediation the webhook's answer names: id and state.
fn first(answer: &Value) -> (String, String) {
    let r = &answer["alerts"][0]["remediations"][0];
    (
        r["id"].as_str().unwrap_or_default().to_owned(),
        r["state"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_shadow_create_no_job_and_an_approval_creates_exactly_one() {
    let env = env().await;
    apply(
        &env,
        &operarius("rehearse", "Rehearse", "firing", "mode: dry-run"),
    )
    .await;
    apply(
        &env,
        &operarius(
            "shadowed",
            "Shadowed",
            "firing",
            "mode: shadow\n  budgets: [{max: 1, per: 1h}]",
        ),
    )
    .await;
    apply(
        &env,
        &operarius("gated", "Gated", "firing", "approval: required"),
    )
    .await;
    for key in ["ops/rehearse", "ops/shadowed", "ops/gated"] {
        wait_catalog(&env, key).await;
    }

    let answer = post(&env, &alert_body("Rehearse", "web-1", "firing")).await;
    assert_eq!(first(&answer).1, "dry-run", "{answer}");
    let dry = events_with_reason(&env, "DryRun").await;
    assert!(dry[0]
        .note
        .as_deref()
        .unwrap_or("")
        .contains("dry-run: Job"));

    // Shadow: the first would have run, the second is held by the budget it would have hit.
    let answer = post(&env, &alert_body("Shadowed", "web-1", "firing")).await;
    assert_eq!(first(&answer).1, "dry-run", "{answer}");
    let mut again = alert_body("Shadowed", "web-1", "firing");
    again["alerts"][0]["startsAt"] = json!("2026-01-01T00:05:00Z");
    let answer = post(&env, &again).await;
    assert_eq!(first(&answer).1, "held", "{answer}");
    let held = events_with_reason(&env, "Held").await;
    assert!(
        held[0]
            .note
            .as_deref()
            .unwrap_or("")
            .contains("shadow: budget"),
        "{held:?}"
    );

    // Approval: waits (an Event says so), then exactly one Job.
    let (id, name) = expected_ids("Gated", "web-2", "firing", "gated");
    let answer = post(&env, &alert_body("Gated", "web-2", "firing")).await;
    assert_eq!(first(&answer), (id.to_string(), "awaiting-approval".into()));
    events_with_reason(&env, "AwaitingApproval").await;
    assert_eq!(
        env.double.count_requests("POST", "/jobs"),
        0,
        "nothing before approval"
    );
    for _ in 0..2 {
        // The second approval is refused; it must not create a second Job.
        let _ = env
            .http
            .post(env.node.url(&format!("/api/remediations/{id}/approve")))
            .send()
            .await
            .expect("approve");
    }
    job(&env, &name).await;
    env.double.complete_job(NS, &name).expect("complete");
    remediation_state(&env, &id, "succeeded").await;
    assert_eq!(
        env.double.count_requests("POST", "/jobs"),
        1,
        "one Job: the approved remediation's; none for dry-run or shadow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opened_breaker_is_announced_once_and_holds_the_next_alert() {
    let env = env().await;
    apply(
        &env,
        &operarius("flaky", "Flaky", "firing", "breaker: {maxFailed: 1}"),
    )
    .await;
    wait_catalog(&env, "ops/flaky").await;
    let (id, name) = expected_ids("Flaky", "web-1", "firing", "flaky");
    post(&env, &alert_body("Flaky", "web-1", "firing")).await;
    job(&env, &name).await;
    env.double
        .fail_job(NS, &name, "BackoffLimitExceeded")
        .expect("fail");
    remediation_state(&env, &id, "failed").await;
    let opened = events_with_reason(&env, "BreakerOpened").await;
    let note = opened[0].note.clone().unwrap_or_default();
    assert!(
        note.contains("target namespace=shop,alertname=Flaky,pod=web-1")
            && note.contains("1 failed runs"),
        "{note}"
    );
    let mut again = alert_body("Flaky", "web-1", "firing");
    again["alerts"][0]["startsAt"] = json!("2026-01-01T00:05:00Z");
    let answer = post(&env, &again).await;
    assert_eq!(first(&answer).1, "held", "{answer}");
    events_with_reason(&env, "Held").await;
    assert_eq!(
        events_with_reason(&env, "BreakerOpened").await.len(),
        1,
        "announced once"
    );
    assert_eq!(env.double.count_requests("POST", "/jobs"), 1);
}
