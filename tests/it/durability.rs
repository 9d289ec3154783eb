//! Acknowledged means durable: SIGKILL after N acknowledged webhooks loses none of them, and a
//! remediation running at the crash is recorded `interrupted`, never re-run.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::Value;

use crate::support::{client, eventually, free_port, marker_operarios, webhook, OpenferoProcess};

const N: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_webhooks_survive_sigkill_and_nothing_runs_twice() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let (ops, marker) = marker_operarios(tmp.path(), &[("mark", "Durable", "firing")]);
    let http = client();
    let port = free_port();
    let mut node = OpenferoProcess::start(&data, &ops, port, &[]);
    node.wait_ready(&http).await;

    let mut acked = BTreeSet::new();
    for i in 0..N {
        let body = webhook(
            "Durable",
            &format!("pod-{i}"),
            "firing",
            "2026-01-01T00:00:00Z",
        );
        let resp = http
            .post(node.url("/alerts"))
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 200, "webhook {i}");
        let v: Value = resp.json().await.expect("json");
        acked.insert(
            v["alerts"][0]["eventId"]
                .as_str()
                .expect("event id")
                .to_string(),
        );
    }
    assert_eq!(acked.len(), N);
    node.guard.kill(); // SIGKILL: no graceful shutdown, no final flush.

    let node = OpenferoProcess::start(&data, &ops, port, &[]);
    node.wait_ready(&http).await;
    let alerts: Vec<Value> = http
        .get(node.url("/api/alerts?limit=1000"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let stored: BTreeSet<String> = alerts
        .iter()
        .map(|a| a["eventId"].as_str().expect("event id").to_string())
        .collect();
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost: {lost:?}",
        lost.len()
    );

    // Every remediation reaches a terminal state; interrupted ones were not run again.
    let url = node.url("/api/remediations?limit=1000");
    let states: HashMap<String, String> = eventually(
        "all remediations to finish",
        Duration::from_secs(60),
        || {
            let http = http.clone();
            let url = url.clone();
            async move {
                let list: Vec<Value> = http.get(&url).send().await.ok()?.json().await.ok()?;
                let all_done = list.len() == N
                    && list.iter().all(|r| {
                        matches!(
                            r["state"].as_str(),
                            Some("succeeded" | "interrupted" | "failed")
                        )
                    });
                all_done.then(|| {
                    list.iter()
                        .map(|r| {
                            (
                                r["alertFingerprint"].as_str().unwrap_or("").to_string(),
                                r["state"].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect()
                })
            }
        },
    )
    .await;
    assert_eq!(states.len(), N);
    let runs = std::fs::read_to_string(&marker).unwrap_or_default();
    let mut seen = HashMap::new();
    for line in runs.lines() {
        *seen.entry(line.to_string()).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "remediations ran twice: {twice:?}");
    let failed = states.values().filter(|s| *s == "failed").count();
    assert_eq!(failed, 0, "states: {states:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_in_order_and_the_data_stays_readable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let ops = tmp.path().join("operarios");
    std::fs::create_dir_all(&ops).expect("mkdir");
    let http = client();
    let port = free_port();
    let mut node = OpenferoProcess::start(&data, &ops, port, &[]);
    node.wait_ready(&http).await;
    let body = webhook("Graceful", "pod-0", "firing", "2026-01-01T00:00:00Z");
    let resp = http
        .post(node.url("/alerts"))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    let status = node.guard.terminate().expect("exit status");
    assert!(status.success(), "exit status {status:?}");
    let log = node.guard.log_tail();
    let requested = log.find("shutdown requested").expect("shutdown logged");
    let stopped = log.find("stopped").expect("stop logged");
    assert!(requested < stopped, "{log}");

    let node = OpenferoProcess::start(&data, &ops, port, &[]);
    node.wait_ready(&http).await;
    let alerts: Vec<Value> = http
        .get(node.url("/api/alerts?q=Graceful"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(alerts.len(), 1);
}
