//! The executor stall of issue 16 item 6: a leader's executor sat in one tick while Kubernetes
//! writes it made from the loop (an Event per decision, the Operarius status per outcome) took
//! their time; no pending remediation started meanwhile. The loop now queues those writes.

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use kube::api::Api;
use openfero_kube_double::Fault;
use serde_json::{json, Value};

use crate::kubernetes::{
    apply, env, events_with_reason, expected_ids, operarius, post, wait_catalog, NS,
};

/// One webhook with `n` firing alerts of `alertname`, one per pod.
fn many_alerts(alertname: &str, n: usize) -> Value {
    let alerts: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "status": "firing",
                "labels": {"alertname": alertname, "pod": format!("p-{i}"), "namespace": "shop"},
                "annotations": {"summary": "crash looping"},
                "startsAt": "2026-01-01T00:00:00Z"
            })
        })
        .collect();
    json!({"version": "4", "groupKey": "held", "status": "firing", "receiver": "openfero",
        "alerts": alerts})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_an_api_server_does_not_answer_hold_no_remediation_back() {
    let env = env().await;
    // One remediation per hour on the target: every further alert is held, with an Event.
    apply(
        &env,
        &operarius(
            "held-fix",
            "Held",
            "firing",
            "target: {labels: [namespace, alertname]}\n  budgets: [{max: 1, per: 1h}]",
        ),
    )
    .await;
    apply(&env, &operarius("stall-fix", "Stall", "firing", "")).await;
    wait_catalog(&env, &format!("{NS}/held-fix")).await;
    wait_catalog(&env, &format!("{NS}/stall-fix")).await;

    // The API server takes a minute over every Event write (each is given up after 5 s).
    env.double
        .inject(Fault::delay(60_000).path_contains("/events"));
    const HELD: usize = 20;
    post(&env, &many_alerts("Held", HELD + 1)).await;
    // Awaited in the executor's loop, the 20 Held Events alone took 20 x 5 s.
    let (_, job_name) = expected_ids("Stall", "web-1", "firing", "stall-fix");
    let posted = Instant::now();
    post(
        &env,
        &crate::kubernetes::alert_body("Stall", "web-1", "firing"),
    )
    .await;
    let jobs: Api<Job> = Api::namespaced(env.kube.clone(), NS);
    loop {
        if jobs.get_opt(&job_name).await.ok().flatten().is_some() {
            break;
        }
        // The bug: ≥ 100 s. Fixed: about a poll interval. 20 s leaves room for a loaded machine.
        assert!(
            posted.elapsed() < Duration::from_secs(20),
            "job {job_name} not created within {:?} while Event writes hang; log:\n{}",
            posted.elapsed(),
            env.node.guard.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "job created {:?} after its alert, {HELD} Event writes hanging",
        posted.elapsed()
    );

    // The queued writes are still made once the API server answers again.
    env.double.clear_faults();
    let held = events_with_reason(&env, "Held").await;
    assert!(!held.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_create_the_api_server_never_answers_is_given_up_and_retried() {
    let env = env().await;
    apply(&env, &operarius("stall-fix", "Stall", "firing", "")).await;
    wait_catalog(&env, &format!("{NS}/stall-fix")).await;
    // The first create gets no answer for 10 minutes (kube's client has no read timeout).
    env.double.inject(
        Fault::delay(600_000)
            .method("POST")
            .path_contains("/jobs")
            .times(1),
    );
    let (_, job_name) = expected_ids("Stall", "web-1", "firing", "stall-fix");
    let posted = Instant::now();
    post(
        &env,
        &crate::kubernetes::alert_body("Stall", "web-1", "firing"),
    )
    .await;
    let jobs: Api<Job> = Api::namespaced(env.kube.clone(), NS);
    loop {
        if jobs.get_opt(&job_name).await.ok().flatten().is_some() {
            break;
        }
        // Given up after 30 s, ensured again by the next tick; unbounded, the remediation
        // stayed in flight (and its Job missing) for as long as the create hung.
        assert!(
            posted.elapsed() < Duration::from_secs(90),
            "job {job_name} not created within {:?}; log:\n{}",
            posted.elapsed(),
            env.node.guard.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("job created {:?} after its alert", posted.elapsed());
    let log = std::fs::read_to_string(&env.node.guard.log).expect("read the node log");
    assert!(
        log.contains("no answer from the api server within 30s"),
        "the hung create was not given up"
    );
}
