//! Controls with real processes: approvals (approve runs once, a second approval is a 409, deny
//! and expiry never run), dry-run records without running, the policy refuses at validate time
//! and at render time, and "try it" says why.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cluster_support::{marker_lines, post_alert, wait_for};
use crate::support::{client, free_port, get_json, text, OpenferoProcess};

/// An operarius for `alertname` that appends the alert's `n` label to `marker`, with `extra`
/// spec fields and `container_extra` fields of its container (both indented as children).
fn operarius(
    name: &str,
    alertname: &str,
    marker: &Path,
    extra: &str,
    container_extra: &str,
) -> String {
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
{container_extra}
              command: ["/bin/sh", "-c"]
              args: ["echo {{{{ .Labels.n }}}} >> {marker}"]
"#,
        marker = marker.display()
    )
}

fn alert(alertname: &str, n: usize) -> Value {
    json!({
        "status": "firing",
        "alerts": [{
            "labels": {"alertname": alertname, "namespace": "shop", "pod": format!("web-{n}"), "n": n.to_string()},
            "startsAt": "2026-12-01T10:00:00Z"
        }]
    })
}

async fn post_json(http: &reqwest::Client, url: &str, body: Value) -> (StatusCode, Value) {
    let r = http
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

const POLICY: &str =
    "allowedImages: [busybox, 'docker.io/library/*']\nmaxActiveDeadlineSeconds: 900\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_dry_run_and_policy_decide_what_runs_and_say_why() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ops = tmp.path().join("operarios");
    std::fs::create_dir_all(&ops).expect("mkdir");
    let marker = tmp.path().join("runs.txt");
    let write = |file: &str, text: String| std::fs::write(ops.join(file), text).expect("write");
    write(
        "gated.yaml",
        operarius("gated", "Gated", &marker, "  approval: required", ""),
    );
    write(
        "hurried.yaml",
        operarius(
            "hurried",
            "Hurried",
            &marker,
            "  approval: required\n  approvalTtl: 1s",
            "",
        ),
    );
    write(
        "rehearsed.yaml",
        operarius("rehearsed", "Rehearsed", &marker, "  mode: dry-run", ""),
    );
    write(
        "risky.yaml",
        operarius(
            "risky",
            "Risky",
            &marker,
            "",
            "              securityContext: {privileged: true}",
        ),
    );
    write(
        "foreign.yaml",
        operarius("foreign", "Foreign", &marker, "", "")
            .replace("image: busybox", "image: evil.example.com/tool:1"),
    );
    let policy = tmp.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).expect("write policy");

    // At validate time: the privileged container breaks the policy, the rest pass.
    let out = Command::new(env!("CARGO_BIN_EXE_openfero"))
        .args(["validate", "--policy-file"])
        .arg(&policy)
        .arg(&ops)
        .output()
        .expect("run validate");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("risky.yaml#0 risky: refused by policy: policy `forbidPrivileged`: container `fix` is privileged"), "{report}");
    assert!(
        report.contains("foreign.yaml#0 foreign: refused by policy: container `fix`: policy `allowedImages`: image `evil.example.com/tool:1` matches none of `busybox`, `docker.io/library/*`"),
        "{report}"
    );
    assert_eq!(
        report.matches("refused by policy").count(),
        2,
        "only the privileged one and the foreign image: {report}"
    );

    let http = client();
    let node = OpenferoProcess::start(
        &tmp.path().join("data"),
        &ops,
        free_port(),
        &["--policy-file", policy.to_str().expect("utf8")],
    );
    node.wait_ready(&http).await;
    let url = |p: &str| node.url(p);
    let post = |body: Value| {
        let (http, url) = (http.clone(), url("/alerts"));
        async move {
            let (status, answer) = post_alert(&http, &url, &body).await.expect("post");
            assert_eq!(status, StatusCode::OK, "{answer}");
            let r = &answer["alerts"][0]["remediations"][0];
            (
                r["id"].as_str().unwrap_or_default().to_string(),
                r["state"].as_str().unwrap_or_default().to_string(),
            )
        }
    };
    let remediation = |id: &str| {
        let (http, url) = (http.clone(), url(&format!("/api/remediations/{id}")));
        async move { get_json::<Value>(&http, &url).await }
    };
    let await_state = |id: String, want: &'static str| {
        let http = http.clone();
        let url = url(&format!("/api/remediations/{id}"));
        async move {
            wait_for(
                &format!("remediation {id} {want}"),
                Duration::from_secs(30),
                || {
                    let (http, url) = (http.clone(), url.clone());
                    async move {
                        let v: Value = get_json(&http, &url).await;
                        (v["state"] == want)
                            .then_some(v.clone())
                            .ok_or(format!("{v}"))
                    }
                },
            )
            .await
        }
    };

    // Approve: it runs once; a second approval is a conflict.
    let (gated, state) = post(alert("Gated", 1)).await;
    assert_eq!(state, "awaiting-approval");
    let page = text(&http, &url(&format!("/remediations/{gated}"))).await;
    assert!(
        page.contains("id=\"approve\"") && page.contains("id=\"deny\""),
        "buttons"
    );
    let (status, view) = post_json(
        &http,
        &url(&format!("/api/remediations/{gated}/approve")),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["state"], "pending");
    assert!(view["reason"]
        .as_str()
        .unwrap()
        .starts_with("approved by loopback at "));
    let (status, again) = post_json(
        &http,
        &url(&format!("/api/remediations/{gated}/approve")),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert!(
        again["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not awaiting approval"),
        "{again}"
    );
    await_state(gated.clone(), "succeeded").await;

    // Deny: final, never runs.
    let (denied, _) = post(alert("Gated", 2)).await;
    let (status, view) = post_json(
        &http,
        &url(&format!("/api/remediations/{denied}/deny")),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, view["state"].as_str()),
        (StatusCode::OK, Some("denied"))
    );
    let (status, _) = post_json(
        &http,
        &url(&format!("/api/remediations/{denied}/approve")),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = post_json(
        &http,
        &url("/api/remediations/0000000000000000/approve"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nobody decides within a second: the leader expires it.
    let (hurried, state) = post(alert("Hurried", 3)).await;
    assert_eq!(state, "awaiting-approval");
    let expired = await_state(hurried.clone(), "expired").await;
    assert!(expired["reason"]
        .as_str()
        .unwrap()
        .starts_with("expired: nobody approved it"));
    let (status, _) = post_json(
        &http,
        &url(&format!("/api/remediations/{hurried}/approve")),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Dry-run: the Job is rendered and recorded, nothing runs.
    let (rehearsed, state) = post(alert("Rehearsed", 4)).await;
    assert_eq!(state, "dry-run");
    let rec = remediation(&rehearsed).await;
    assert!(
        rec["job"]["command"].is_array(),
        "the rendered Job is recorded: {rec}"
    );
    assert!(rec["reason"].as_str().unwrap().starts_with("dry-run:"));

    // Policy at render time: refused with the rule.
    let (risky, state) = post(alert("Risky", 5)).await;
    assert_eq!(state, "refused");
    let rec = remediation(&risky).await;
    assert!(
        rec["reason"].as_str().unwrap().contains("forbidPrivileged"),
        "{rec}"
    );
    let (_, state) = post(alert("Foreign", 9)).await;
    assert_eq!(
        state, "refused",
        "a disallowed image is refused at render time too"
    );
    let problems: Value = get_json(&http, &url("/api/operarios/problems")).await;
    assert!(
        problems.to_string().contains("refused by policy"),
        "{problems}"
    );

    // Try it: the decision apply would take, and why; the closest miss.
    let (status, tried) = post_json(&http, &url("/api/operarios/try"), alert("Gated", 6)).await;
    assert_eq!(status, StatusCode::OK, "{tried}");
    assert_eq!(tried["alerts"][0]["verdict"], "awaitingApproval", "{tried}");
    assert!(tried["alerts"][0]["why"]
        .as_str()
        .unwrap()
        .starts_with("awaiting approval"));
    let (_, tried) = post_json(&http, &url("/api/operarios/try"), alert("Risky", 7)).await;
    assert_eq!(tried["alerts"][0]["verdict"], "refused", "{tried}");
    let mut near = alert("Gated", 8);
    near["alerts"][0]["status"] = json!("resolved");
    near["status"] = json!("resolved");
    let (_, tried) = post_json(&http, &url("/api/operarios/try"), near).await;
    assert_eq!(tried["alerts"][0]["verdict"], "noMatch", "{tried}");
    assert_eq!(tried["alerts"][0]["closest"], "default/gated", "{tried}");
    assert!(
        tried["alerts"][0]["why"]
            .as_str()
            .unwrap()
            .contains("status is `resolved`"),
        "{tried}"
    );
    // Trying changed nothing.
    let (waiting, state) = post(alert("Gated", 6)).await;
    assert_eq!(state, "awaiting-approval");

    // The UI's buttons: same-origin form posts answered with a redirect back.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let form = |path: &str, fields: &[(&str, &str)], site: &str| {
        browser
            .post(url(path))
            .header("sec-fetch-site", site)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).expect("form"))
            .send()
    };
    let r = form(&format!("/remediations/{waiting}/deny"), &[], "cross-site")
        .await
        .expect("post");
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "a foreign page cannot press it"
    );
    let r = form(&format!("/remediations/{waiting}/deny"), &[], "same-origin")
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        format!("/remediations/{waiting}").as_str()
    );
    assert_eq!(remediation(&waiting).await["state"], "denied");
    let r = form("/guards/pause", &[("paused", "true")], "same-origin")
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let guards: Value = get_json(&http, &url("/api/guards")).await;
    assert_eq!(guards["pause"]["paused"], true, "{guards}");
    let page = text(&http, &url("/operarios")).await;
    assert!(
        page.contains("id=\"resume\""),
        "the banner offers to resume"
    );
    let r = form("/guards/pause", &[("paused", "maybe")], "same-origin")
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = form("/guards/pause", &[("paused", "false")], "same-origin")
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let guards: Value = get_json(&http, &url("/api/guards")).await;
    assert_eq!(guards["pause"]["paused"], false);
    let r = form(
        "/guards/breakers/reset",
        &[("operarius", "default/gated"), ("target", "nowhere")],
        "same-origin",
    )
    .await
    .expect("post");
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "no such breaker");

    // Why, after the fact: the timeline shows the wait and the decision, metrics count what
    // decided, and an alert no operarius took says which came closest.
    let page = text(&http, &url(&format!("/remediations/{gated}"))).await;
    assert!(
        page.contains("awaiting approval") && page.contains("approved by loopback"),
        "the timeline shows the wait and who ended it"
    );
    let metrics = text(&http, &url("/metrics")).await;
    for line in [
        r#"openfero_remediations_recent_decided{state="refused",reason="policy"} 2"#,
        r#"openfero_remediations_recent_decided{state="dry-run",reason="dry-run"} 1"#,
        r#"openfero_remediations_recent_decided{state="denied",reason="denied"} 2"#,
        r#"openfero_remediations_recent_decided{state="expired",reason="expired"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    let (status, _) = post_alert(&http, &url("/alerts"), &alert("Gatd", 10))
        .await
        .expect("post");
    assert_eq!(status, StatusCode::OK);
    let alerts: Value = get_json(&http, &url("/api/alerts?q=Gatd")).await;
    assert_eq!(
        alerts[0]["why"],
        "no operarius matches; closest is `default/gated`: alertname is `Gatd`, the selector wants `Gated`",
        "{alerts}"
    );

    let runs = marker_lines(&marker);
    assert_eq!(runs, vec!["1".to_string()], "only the approved one ran");
}
