//! The shipped example operarii load, select, render and run harmlessly.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use openfero::operarios::{load_paths, render, select, AlertContext};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("operarios")
}

fn alert(status: &str) -> AlertContext {
    let labels: BTreeMap<String, String> = [
        ("alertname", "KubePodCrashLooping"),
        ("pod", "web-1"),
        ("namespace", "shop"),
        ("container", "app\"; echo injected; \""),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    AlertContext {
        status: status.to_owned(),
        labels,
        annotations: [("summary".to_owned(), "web-1 restarts".to_owned())]
            .into_iter()
            .collect(),
        group_key: "{}:{alertname=\"KubePodCrashLooping\"}".to_owned(),
        ..AlertContext::default()
    }
}

fn run(status: &str) -> (String, String) {
    let report = load_paths(&[examples()], "openfero");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // The two echo-only demos beside the starter pack's five remediations (one folder each,
    // tested in starter_pack.rs). The pack's KubePodCrashLooping operarius ranks below the
    // demo (priority 5 against 10), so the demo still answers the alert here.
    let names: Vec<&str> = report.operarios.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "delete-crashlooping-pod",
            "delete-failed-job",
            "kube-pod-crashlooping",
            "raise-hpa-max-replicas",
            "resolved-notify",
            "restart-mismatched-deployment",
            "restart-stuck-daemonset",
        ]
    );
    let alert = alert(status);
    let def = select(&report.operarios, &alert).expect("an example matches");
    let job = render(def, &alert).expect("renders");
    assert_eq!(job.command, vec!["/bin/sh", "-c"]);
    let output = Command::new(&job.command[0])
        .args(&job.command[1..])
        .args(&job.args)
        .env_clear()
        .envs(job.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("sh runs");
    assert!(output.status.success());
    (
        def.name.clone(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn crashlooping_example_only_echoes() {
    let (name, stdout) = run("firing");
    assert_eq!(name, "kube-pod-crashlooping");
    assert_eq!(
        stdout,
        "would restart pod web-1 in shop\ntemplated pod name: web-1\nsummary: web-1 restarts\n"
    );
}

#[test]
fn resolved_example_only_echoes() {
    let (name, stdout) = run("resolved");
    assert_eq!(name, "resolved-notify");
    assert_eq!(
        stdout,
        "alert KubePodCrashLooping resolved for pod web-1 in shop (group {}:{alertname=\"KubePodCrashLooping\"})\n"
    );
}
