//! A node that cannot persist never acknowledges: with the `chaos-faults` build's sync hook
//! failing its store flushes (EIO), a webhook gets no 200, the node logs why Raft stopped and
//! exits 75; restarted once the disk works again it has everything it acknowledged before.
//! (`/readyz`'s 503 with the reason, between the failure and the exit, is checked by the chaos
//! campaign's disk faults: the window of a single node without gossip is a few milliseconds.)

#![cfg(feature = "chaos-faults")]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{client, eventually, free_port, marker_operarios, webhook, ChildGuard};

fn start(data: &Path, ops: &Path, port: u16, trigger: &Path, log: &str) -> ChildGuard {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_openfero"));
    cmd.arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data)
        .arg("--operarios")
        .arg(ops)
        .env("OPENFERO_LOG", "info")
        .env("OPENFERO_CHAOS_FAIL_SYNC", trigger)
        .env_remove("OPENFERO_CHAOS_IGNORE_SYNC_ERRORS");
    ChildGuard::spawn("openfero", cmd, data.with_extension(log))
}

async fn ready(http: &reqwest::Client, url: &str) {
    eventually("openfero to be ready", Duration::from_secs(30), || {
        let (http, url) = (http.clone(), url.to_string());
        async move {
            let r = http.get(&url).send().await.ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_sync_fails_acknowledges_nothing_and_exits_75() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let trigger = tmp.path().join("fail-sync");
    let (ops, _marker) = marker_operarios(tmp.path(), &[("mark", "Disk", "firing")]);
    let http = client();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut node = start(&data, &ops, port, &trigger, "1.log");
    ready(&http, &format!("{base}/readyz")).await;

    let before = webhook("Disk", "pod-before", "firing", "2026-01-01T00:00:00Z");
    let resp = http
        .post(format!("{base}/alerts"))
        .json(&before)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    let acked = v["alerts"][0]["eventId"]
        .as_str()
        .expect("event id")
        .to_string();

    std::fs::write(&trigger, b"").expect("trigger");
    let during = webhook("Disk", "pod-during", "firing", "2026-01-01T00:00:00Z");
    // An answer other than 200, or none (the process is going away): never an acknowledgement.
    if let Ok(resp) = http
        .post(format!("{base}/alerts"))
        .json(&during)
        .send()
        .await
    {
        assert_ne!(resp.status(), 200, "acknowledged a write it could not sync");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let child = node.child.as_mut().expect("running");
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "still running with its store failing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    node.child = None;
    assert_eq!(status.code(), Some(75), "{}", node.log_tail());
    let log = node.log_tail();
    assert!(
        log.lines()
            .any(|l| l.contains("raft stopped: storage failed:") && l.contains("os error 5")),
        "{log}"
    );

    std::fs::remove_file(&trigger).expect("remove trigger");
    let _node = start(&data, &ops, port, &trigger, "2.log");
    ready(&http, &format!("{base}/readyz")).await;
    let alerts: Vec<Value> = http
        .get(format!("{base}/api/alerts?limit=100"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(
        alerts
            .iter()
            .any(|a| a["eventId"].as_str() == Some(acked.as_str())),
        "the acknowledged alert is gone: {alerts:?}"
    );
}
