//! Webhook ingest benchmark on one node with fsync: latency of `POST /alerts` (sequential, one
//! connection), throughput with concurrent senders, and the process RSS after 10 000 alerts.
//!
//! Run with `cargo bench --bench ingest`. It starts the release `openfero` binary on a loopback
//! port with a fresh data dir and an operarius that matches nothing (pure ingest).

mod support;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

const SEQUENTIAL: usize = 2_000;
const TOTAL_FOR_RSS: usize = 10_000;

fn body(i: usize) -> serde_json::Value {
    json!({
        "version": "4", "groupKey": "{}:{alertname=\"Bench\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "openfero",
        "groupLabels": {"alertname": "Bench"}, "commonLabels": {"alertname": "Bench"},
        "commonAnnotations": {}, "externalURL": "http://am",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "Bench", "pod": format!("pod-{i}"), "namespace": "bench", "severity": "warning"},
            "annotations": {"summary": "benchmark alert with a realistic annotation text of some length"},
            "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph?g0.expr=up", "fingerprint": ""
        }]
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

async fn concurrent(
    client: &reqwest::Client,
    url: &str,
    senders: usize,
    per_sender: usize,
    offset: usize,
) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let client = client.clone();
        let url = url.to_string();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= senders * per_sender {
                    break;
                }
                let r = client
                    .post(&url)
                    .json(&body(offset + i))
                    .send()
                    .await
                    .expect("post");
                assert!(r.status().is_success(), "status {}", r.status());
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    (senders * per_sender) as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ops = tmp.path().join("operarios");
    std::fs::create_dir_all(&ops).expect("mkdir");
    let node = support::Node::start(&ops, &tmp.path().join("data"), 100_000);
    // reqwest's rustls backend is compiled in (peer TLS): clients need the process provider.
    openfero_raft::tls::install_default_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .expect("client");
    let base = node.base.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "openfero did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("{base}/alerts");
    let rss_start = node.rss_kib();

    let mut lat = Vec::with_capacity(SEQUENTIAL);
    for i in 0..SEQUENTIAL {
        let t = Instant::now();
        let r = client.post(&url).json(&body(i)).send().await.expect("post");
        assert!(r.status().is_success());
        lat.push(t.elapsed());
    }
    lat.sort();
    let total: Duration = lat.iter().sum();
    println!("sequential POST /alerts, 1 connection, {SEQUENTIAL} webhooks (fsync per commit):");
    println!(
        "  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  mean {:.2} ms  ({:.0} webhooks/s)",
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.90).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3 / SEQUENTIAL as f64,
        SEQUENTIAL as f64 / total.as_secs_f64()
    );
    let mut sent = SEQUENTIAL;
    for senders in [16usize, 64] {
        let per = 2_000 / senders;
        let rate = concurrent(&client, &url, senders, per, sent).await;
        sent += senders * per;
        println!("  {senders:>2} concurrent senders: {rate:.0} webhooks/s");
    }
    let rest = TOTAL_FOR_RSS.saturating_sub(sent);
    if rest > 0 {
        concurrent(&client, &url, 16, rest / 16 + 1, sent).await;
        sent += (rest / 16 + 1) * 16;
    }
    let alerts: Vec<serde_json::Value> = client
        .get(format!("{base}/api/alerts?limit=1"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(alerts.len(), 1);
    println!(
        "RSS: {} KiB at start, {} KiB after {sent} alerts",
        rss_start,
        node.rss_kib()
    );
}
