//! Cluster time on real processes: a node whose wall clock is two hours ahead (libfaketime
//! preloaded, monotonic time untouched) learns the cluster's time, and what it stamps — the
//! received time of an alert it accepts — is the others' time, not its own.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::cluster_support::{wait_for, ClusterOptions, TestCluster};
use crate::support::webhook;

const LIBFAKETIME: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
];

const AHEAD_MS: i64 = 2 * 3600 * 1000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_two_hours_ahead_stamps_the_clusters_time() {
    let lib = LIBFAKETIME
        .iter()
        .find(|p| Path::new(p).exists())
        .expect("libfaketime is needed (Debian package `faketime`; scripts/test.sh installs it)");
    let mut c = TestCluster::new(&["a", "b", "c"], ClusterOptions::default());
    let skewed = c.specs.get_mut("c").expect("spec c");
    skewed.env = vec![
        ("LD_PRELOAD".into(), lib.to_string()),
        ("FAKETIME".into(), format!("+{}", AHEAD_MS / 1000)),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
    ];
    c.start_all();
    let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    c.wait_formed(&names, Duration::from_secs(60)).await;

    // The skewed node learns an offset of about minus two hours, whether it leads or follows.
    let offset = wait_for(
        "c to learn cluster time",
        Duration::from_secs(30),
        || async {
            let v: Value = c
                .http
                .get(c.url("c", "/admin/cluster"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            match (v["clockCalibrated"].as_bool(), v["clockOffsetMs"].as_i64()) {
                (Some(true), Some(o)) if (o + AHEAD_MS).abs() < 5_000 => Ok(o),
                other => Err(format!("clock of c: {other:?}")),
            }
        },
    )
    .await;
    assert!((offset + AHEAD_MS).abs() < 5_000, "offset {offset}");

    // An alert accepted by the skewed node is recorded at the others' time. A 503 (no quorum
    // yet on a loaded machine) stores nothing; it is retried, as Alertmanager does.
    let body = webhook("ClockSkewed", "pod-1", "firing", "2026-12-01T10:00:00Z");
    let before = now_ms();
    wait_for("c to accept the alert", Duration::from_secs(30), || async {
        match c.post_alert("c", &body).await {
            Ok((status, _)) if status == 200 => Ok(()),
            Ok((status, answer)) if status == 503 => Err(format!("503: {answer}")),
            Ok((status, answer)) => panic!("c answered {status}: {answer}"),
            Err(e) => Err(e),
        }
    })
    .await;
    let after = now_ms();
    let alerts = c
        .get_list("a", "/api/alerts?limit=10&q=ClockSkewed")
        .await
        .expect("alerts on a");
    let received = alerts
        .iter()
        .find_map(|a| a["receivedAt"].as_str())
        .expect("the alert is listed on a");
    let received = chrono::DateTime::parse_from_rfc3339(received)
        .expect("RFC 3339")
        .timestamp_millis();
    assert!(
        received >= before - 5_000 && received <= after + 5_000,
        "received at {received}, the test ran from {before} to {after} (c's own clock is {AHEAD_MS} ms ahead)"
    );
}
