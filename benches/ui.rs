//! UI benchmark with a large history: the server time of the alerts page (`GET /`, which also
//! draws the 24 h chart) with 100 000 alerts held, with and without filters.
//!
//! Run with `cargo bench --bench ui`. It starts the release `openfero` binary on a loopback port
//! with a fresh data dir and retention raised above the history size, fills it through the real
//! webhook path (500 alerts per notification), lets the few matched remediations (`/bin/true`)
//! finish, then times each page `ROUNDS` times. The page's `Server-Timing` header splits the
//! server time into the list and the chart.

mod support;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ALERTS: usize = 100_000;
const PER_WEBHOOK: usize = 500;
const ROUNDS: usize = 20;

const OPERARIUS: &str = r#"apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata: {name: bench-sample, namespace: bench}
spec:
  alertSelector:
    alertname: Bench0
    status: firing
    labels: {sample: "yes"}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - {name: c, image: busybox, command: ["/bin/true"]}
"#;

/// Alert `i`: ten common alertnames and a rare one every 10 000, both statuses, two severities,
/// twenty namespaces; one in a hundred `Bench0` firing alerts is remediated.
fn alert(i: usize) -> Value {
    let name = if i.is_multiple_of(10_000) {
        "Rare".to_string()
    } else {
        format!("Bench{}", i % 10)
    };
    let status = if i.is_multiple_of(2) {
        "firing"
    } else {
        "resolved"
    };
    let mut labels = json!({
        "alertname": name, "pod": format!("pod-{i}"), "namespace": format!("ns-{}", i % 20),
        "severity": if i.is_multiple_of(3) { "critical" } else { "warning" },
    });
    if i.is_multiple_of(1000) {
        labels["sample"] = json!("yes");
    }
    json!({
        "status": status,
        "labels": labels,
        "annotations": {"summary": "benchmark alert with a realistic annotation text of some length"},
        "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph?g0.expr=up", "fingerprint": ""
    })
}

fn webhook(first: usize) -> Value {
    json!({
        "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing",
        "receiver": "openfero", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://am",
        "alerts": (first..first + PER_WEBHOOK).map(alert).collect::<Vec<_>>(),
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// `list;dur=1.2, chart;dur=3.4` → the named duration in ms.
fn server_timing(header: &str, name: &str) -> Option<f64> {
    header.split(',').find_map(|part| {
        let (n, rest) = part.trim().split_once(';')?;
        (n == name).then(|| rest.trim().strip_prefix("dur=")?.parse().ok())?
    })
}

async fn wait_for(client: &reqwest::Client, what: &str, url: &str, done: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(r) = client.get(url).send().await {
            if let Ok(v) = r.json::<Value>().await {
                if done(&v) {
                    return;
                }
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ops = tmp.path().join("operarios");
    std::fs::create_dir_all(&ops).expect("mkdir");
    std::fs::write(ops.join("sample.yaml"), OPERARIUS).expect("operarius");
    let node = support::Node::start(&ops, &tmp.path().join("data"), 200_000);
    // reqwest's rustls backend is compiled in (peer TLS): clients need the process provider.
    openfero_raft::tls::install_default_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let base = node.base.clone();
    wait_for(&client, "readiness", &format!("{base}/readyz"), |v| {
        v["ready"] == true
    })
    .await;

    let fill = Instant::now();
    for first in (0..ALERTS).step_by(PER_WEBHOOK) {
        let r = client
            .post(format!("{base}/alerts"))
            .json(&webhook(first))
            .send()
            .await
            .expect("post");
        assert!(r.status().is_success(), "status {}", r.status());
    }
    println!(
        "filled {ALERTS} alerts in {:.1} s ({PER_WEBHOOK} per webhook); RSS {} MiB",
        fill.elapsed().as_secs_f64(),
        node.rss_kib() / 1024
    );
    for state in ["pending", "running"] {
        let url = format!("{base}/api/remediations?state={state}&limit=1");
        wait_for(&client, "remediations to finish", &url, |v| {
            v.as_array().is_some_and(Vec::is_empty)
        })
        .await;
    }

    println!("GET / with {ALERTS} alerts held, {ROUNDS} requests each (ms):");
    println!(
        "  {:<42} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "page", "p50", "p99", "max", "list p50", "chart p50"
    );
    for path in [
        "/",
        "/?status=resolved",
        "/?alertname=Bench3",
        "/?severity=critical&namespace=ns-7&since=24",
        "/?q=pod-4242",
        "/?alertname=Rare",
        "/?q=no-such-text",
    ] {
        let mut total = Vec::with_capacity(ROUNDS);
        let mut list = Vec::with_capacity(ROUNDS);
        let mut chart = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let r = client
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("get");
            assert!(r.status().is_success(), "{path}: {}", r.status());
            let timing = r
                .headers()
                .get("server-timing")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = r.text().await.expect("body");
            total.push(t.elapsed().as_secs_f64() * 1e3);
            assert!(body.contains("<svg"), "{path}: the chart");
            list.push(server_timing(&timing, "list").unwrap_or(f64::NAN));
            chart.push(server_timing(&timing, "chart").unwrap_or(f64::NAN));
        }
        for v in [&mut total, &mut list, &mut chart] {
            v.sort_by(f64::total_cmp);
        }
        println!(
            "  {:<42} {:>8.1} {:>8.1} {:>8.1} {:>10.1} {:>10.1}",
            path,
            percentile(&total, 0.50),
            percentile(&total, 0.99),
            total[total.len() - 1],
            percentile(&list, 0.50),
            percentile(&chart, 0.50),
        );
    }
}
