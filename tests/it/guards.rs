//! Guard rails with real processes: a budget holds a burst exactly across a leader SIGKILL on
//! three nodes; the pause queues and resumes; the breaker opens on failures, survives a
//! restart, and an operator's reset re-arms it.

use std::path::Path;
use std::time::Duration;

use rand::seq::IndexedRandom;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cluster_support::{
    get_list, marker_lines, post_alert, seeded_rng, wait_for, ClusterOptions, TestCluster,
};
use crate::support::{client, free_port, get_json, marker_operarios, text, OpenferoProcess};

const BURST: &str = "GuardBurst";

/// An operarius for `alertname` that appends the alert's `n` label to `marker`, with `extra`
/// spec fields (indented as spec children) and a command exiting `exit`.
fn operarius(name: &str, alertname: &str, marker: &Path, extra: &str, exit: u8) -> String {
    format!(
        r#"apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata: {{name: {name}, namespace: default}}
spec:
  alertSelector: {{alertname: {alertname}, status: firing}}
{extra}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: fix
              image: busybox
              command: ["/bin/sh", "-c"]
              args: ["echo {{{{ .Labels.n }}}} >> {marker}; exit {exit}"]
"#,
        marker = marker.display()
    )
}

/// A one-alert webhook on pod `web-1`, made distinct by the label `n` (the fingerprint is
/// computed from the labels).
fn alert(alertname: &str, n: usize) -> Value {
    json!({
        "status": "firing",
        "alerts": [{
            "labels": {"alertname": alertname, "namespace": "shop", "pod": "web-1", "n": n.to_string()},
            "startsAt": "2026-12-01T10:00:00Z"
        }]
    })
}

/// `POST url` with a JSON body; panics on a transport error.
async fn send(http: &reqwest::Client, url: &str, body: Value) -> reqwest::Response {
    http.post(url)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// Remediations of `operarius` as a node lists them.
async fn remediations_of(
    http: &reqwest::Client,
    url: &str,
    operarius: &str,
) -> Result<Vec<Value>, String> {
    Ok(get_list(http, url)
        .await?
        .into_iter()
        .filter(|r| r["operarius"] == operarius)
        .collect())
}

fn count(list: &[Value], state: &str) -> usize {
    list.iter().filter(|r| r["state"] == state).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_of_three_per_hour_holds_47_of_50_across_a_leader_kill() {
    let mut cluster = TestCluster::new(&["a", "b", "c"], ClusterOptions::default());
    let marker = cluster.tmp.path().join("burst-runs.txt");
    std::fs::write(
        cluster.ops.join("burst.yaml"),
        operarius("burst", BURST, &marker, "  budgets: [{max: 3, per: 1h}]", 0),
    )
    .expect("write operarius");
    cluster.start_all();
    let names: Vec<String> = cluster.running();
    let formed = cluster.wait_formed(&names, Duration::from_secs(60)).await;
    let mut rng = seeded_rng(13);
    let mut killed = None;
    for n in 0..50 {
        if n == 20 {
            // Mid-burst: the leader dies, a survivor takes over.
            let leader = formed.leader_name();
            cluster.kill(&leader);
            killed = Some(leader);
        }
        let live: Vec<String> = cluster.running();
        let body = alert(BURST, n);
        // Acknowledged exactly once per alert; a 503 (no leader yet) is retried, and a
        // retried delivery that did commit is recognised by its event id.
        wait_for(
            &format!("alert {n} to be acknowledged"),
            Duration::from_secs(30),
            || {
                let node = live.choose(&mut rng).expect("a live node").clone();
                let url = cluster.url(&node, "/alerts");
                let (http, body) = (cluster.http.clone(), body.clone());
                async move {
                    match post_alert(&http, &url, &body).await? {
                        (StatusCode::OK, _) => Ok(()),
                        (status, answer) => Err(format!("{node}: {status} {answer}")),
                    }
                }
            },
        )
        .await;
    }
    let survivor = cluster.running()[0].clone();
    assert_ne!(Some(&survivor), killed.as_ref());
    let url = cluster.url(&survivor, "/api/remediations?limit=1000");
    let http = cluster.http.clone();
    let list = wait_for("every admitted run to end", Duration::from_secs(60), || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let list = remediations_of(&http, &url, "default/burst").await?;
            let open = list
                .iter()
                .filter(|r| {
                    ["pending", "queued", "running"].contains(&r["state"].as_str().unwrap_or(""))
                })
                .count();
            if list.len() == 50 && open == 0 {
                Ok(list)
            } else {
                Err(format!("{} remediations, {open} open", list.len()))
            }
        }
    })
    .await;
    let held = count(&list, "held");
    assert_eq!(held, 47, "{list:#?}");
    // The budget's use is visible: full, and when it frees.
    let guards: Value = get_json(&http, &cluster.url(&survivor, "/api/guards")).await;
    let budget = &guards["budgets"][0];
    assert_eq!(
        budget["scope"],
        "operarius `default/burst` on target `namespace=shop,alertname=GuardBurst,pod=web-1`",
        "{guards}"
    );
    assert_eq!(
        (&budget["windows"][0]["used"], &budget["windows"][0]["max"]),
        (&json!(3), &json!(3)),
        "{guards}"
    );
    assert!(budget["windows"][0]["freesAt"].is_string(), "{guards}");
    let metrics = text(&http, &cluster.url(&survivor, "/metrics")).await;
    assert!(
        metrics.lines().any(|l| l == "openfero_budgets_full 1"),
        "a full budget is visible to whoever scrapes"
    );
    let admitted: Vec<&Value> = list.iter().filter(|r| r["state"] != "held").collect();
    assert_eq!(admitted.len(), 3, "{admitted:#?}");
    for r in list.iter().filter(|r| r["state"] == "held") {
        let reason = r["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("3 of 3 per 1h"), "{reason}");
    }
    // What ran is what the record says ran: at most the three admitted, each at most once
    // (one may have been interrupted by the kill; it is never re-run).
    let runs = marker_lines(&marker);
    let succeeded = count(&list, "succeeded");
    assert_eq!(runs.len(), succeeded, "runs {runs:?}");
    assert!(succeeded >= 2, "{admitted:#?}");
    let mut unique = runs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        runs.len(),
        "a remediation ran twice: {runs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_queues_and_resumes_and_the_breaker_survives_a_restart_until_reset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ops, _) = marker_operarios(tmp.path(), &[]);
    let marker = tmp.path().join("guard-runs.txt");
    std::fs::write(
        ops.join("flaky.yaml"),
        operarius(
            "flaky",
            "GuardFlaky",
            &marker,
            "  breaker: {maxFailed: 2}",
            1,
        ),
    )
    .expect("write");
    std::fs::write(
        ops.join("steady.yaml"),
        operarius("steady", "GuardSteady", &marker, "", 0),
    )
    .expect("write");
    let data = tmp.path().join("data");
    let port = free_port();
    let http = client();
    let node = OpenferoProcess::start(&data, &ops, port, &[]);
    node.wait_ready(&http).await;
    // The same address before and after the restart.
    let base = node.url("");
    let url = |p: &str| format!("{base}{p}");
    let remediations = |op: &'static str| {
        let (http, url) = (http.clone(), url("/api/remediations?limit=100"));
        async move { remediations_of(&http, &url, op).await }
    };
    let post = |body: Value| {
        let (http, url) = (http.clone(), url("/alerts"));
        async move {
            let (status, answer) = post_alert(&http, &url, &body).await.expect("post");
            assert_eq!(status, StatusCode::OK, "{answer}");
            answer["alerts"][0]["remediations"][0]["state"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };

    // Pause: the webhook is recorded, its remediation waits.
    let r = send(&http, &url("/api/guards/pause"), json!({"paused": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let guards: Value = get_json(&http, &url("/api/guards")).await;
    assert_eq!(guards["pause"]["paused"], true);
    assert_eq!(guards["pause"]["by"], "loopback");
    assert_eq!(post(alert("GuardSteady", 1)).await, "queued");
    let page = text(&http, &url("/")).await;
    assert!(
        page.contains("id=\"paused-banner\"") && page.contains("paused (by loopback"),
        "every page says so"
    );
    let bad = send(&http, &url("/api/guards/pause"), json!({"paused": "yes"})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(marker_lines(&marker).is_empty(), "nothing ran while paused");
    let r = send(&http, &url("/api/guards/pause"), json!({"paused": false})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = text(&http, &url("/")).await;
    assert!(
        !page.contains("paused-banner"),
        "the banner goes with the pause"
    );
    wait_for("the queued run to succeed", Duration::from_secs(30), || {
        let fut = remediations("default/steady");
        async move {
            let l = fut.await?;
            (count(&l, "succeeded") == 1)
                .then_some(())
                .ok_or(format!("{l:?}"))
        }
    })
    .await;

    // Two failures open the breaker; the third alert is held.
    for n in 0..2 {
        assert_eq!(post(alert("GuardFlaky", n)).await, "pending");
        wait_for(
            "the failure to be recorded",
            Duration::from_secs(30),
            || {
                let fut = remediations("default/flaky");
                async move {
                    let l = fut.await?;
                    (count(&l, "failed") == n + 1)
                        .then_some(())
                        .ok_or(format!("{l:?}"))
                }
            },
        )
        .await;
    }
    assert_eq!(post(alert("GuardFlaky", 2)).await, "held");
    drop(node);

    // A restart keeps it open.
    let node = OpenferoProcess::start(&data, &ops, port, &[]);
    node.wait_ready(&http).await;
    assert_eq!(post(alert("GuardFlaky", 3)).await, "held");
    let guards: Value = get_json(&http, &url("/api/guards")).await;
    let breaker = &guards["breakers"][0];
    assert_eq!(breaker["open"], true, "{guards}");
    let metrics = text(&http, &url("/metrics")).await;
    assert!(
        metrics.lines().any(|l| l == "openfero_breakers_open 1"),
        "the open breaker is visible to whoever scrapes"
    );
    assert_eq!(breaker["failures"], 2);
    let target = breaker["target"].as_str().expect("target").to_string();
    assert_eq!(target, "namespace=shop,alertname=GuardFlaky,pod=web-1");

    // An operator resets it: the next alert runs again.
    let r = send(
        &http,
        &url("/api/guards/breakers/reset"),
        json!({"operarius": "default/flaky", "target": target}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let view: Value = r.json().await.expect("json");
    assert_eq!(view["open"], false);
    assert_eq!(view["resetBy"], "loopback");
    assert_eq!(post(alert("GuardFlaky", 4)).await, "pending");
    let missing = send(
        &http,
        &url("/api/guards/breakers/reset"),
        json!({"operarius": "default/flaky", "target": "nowhere"}),
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let runs = marker_lines(&marker);
    assert_eq!(
        runs.iter()
            .filter(|l| l.as_str() == "2" || l.as_str() == "3")
            .count(),
        0,
        "held alerts never ran: {runs:?}"
    );
    drop(node);
}
