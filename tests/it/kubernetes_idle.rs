//! Kubernetes mode while nothing happens (issue 17): a running Job costs no CPU, and an invalid
//! Operarius claims its alerts with a Warning Event instead of letting the next one run.

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use kube::api::Api;

use crate::kubernetes::{
    alert_body, apply, env, events_with_reason, expected_ids, job, operarius, post,
    remediation_state, wait_catalog, NS,
};

/// CPU time (user + system) of a process so far, from `/proc/<pid>/stat`, in seconds. Linux
/// reports it in clock ticks of `USER_HZ`, which is 100 on every Linux ABI.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let after = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_costs_no_cpu_while_nothing_happens() {
    let env = env().await;
    apply(&env, &operarius("slow-fix", "Slow", "firing", "")).await;
    wait_catalog(&env, &format!("{NS}/slow-fix")).await;
    let (id, job_name) = expected_ids("Slow", "web-1", "firing", "slow-fix");
    post(&env, &alert_body("Slow", "web-1", "firing")).await;
    job(&env, &job_name).await;
    remediation_state(&env, &id, "running").await;

    // The Job stays active in the double and nothing else happens: measure what openfero spends.
    let pid = env.node.guard.pid();
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let share = (cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64();
    eprintln!(
        "openfero idle CPU with one running Job: {:.2} % of a core",
        share * 100.0
    );
    // The bug spun a whole core (~80 %); the goal is < 2 %. The bound leaves room for a
    // loaded CI machine (a debug build's heartbeats, gossip off) while catching any spin.
    assert!(
        share < 0.15,
        "openfero used {:.1} % of a core while idle",
        share * 100.0
    );

    env.double.complete_job(NS, &job_name).expect("complete");
    remediation_state(&env, &id, "succeeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_operarius_claims_its_alerts_with_a_warning_event_and_no_job() {
    let env = env().await;
    apply(&env, &operarius("fallback", "Claimed", "firing", "")).await;
    let mut broken = operarius("broken", "Claimed", "firing", "");
    broken.spec.priority = 20;
    let containers = &mut broken
        .spec
        .job_template
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
        .expect("pod spec")
        .containers;
    containers[0].args = Some(vec!["{{ .Labels.pod ".into()]);
    apply(&env, &broken).await;
    wait_catalog(&env, &format!("{NS}/fallback")).await;
    wait_catalog(&env, &format!("{NS}/broken")).await;

    let answer = post(&env, &alert_body("Claimed", "web-1", "firing")).await;
    let rem = &answer["alerts"][0]["remediations"][0];
    assert_eq!(rem["operarius"], format!("{NS}/broken"), "{answer}");
    assert_eq!(rem["state"], "failed", "{answer}");
    let events = events_with_reason(&env, "RemediationFailed").await;
    let note = events[0].note.clone().unwrap_or_default();
    assert!(note.contains("is invalid"), "{note}");
    assert_eq!(events[0].type_.as_deref(), Some("Warning"));
    let (_, fallback_job) = expected_ids("Claimed", "web-1", "firing", "fallback");
    let jobs: Api<Job> = Api::namespaced(env.kube.clone(), NS);
    assert!(
        jobs.get_opt(&fallback_job).await.expect("get").is_none(),
        "the next operarius in rank must not run in place of the broken one"
    );
}
