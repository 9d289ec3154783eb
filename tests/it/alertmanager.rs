//! End to end with a real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) as the
//! webhook client: firing → succeeded remediation; resolved → recorded and remediated. The
//! webhook requires a token, sent by Alertmanager as documented (`credentials_file`); or basic
//! auth (`basic_auth.password_file`), where a wrong password is refused and stores nothing;
//! over https (`--tls-cert-file`, Alertmanager's `tls_config.ca_file`) with basic auth and
//! with a bearer token.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{
    client, eventually, free_port, marker_operarios, ChildGuard, OpenferoProcess,
};

pub(crate) const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// An Alertmanager configuration sending every alert (firing and resolved, grouped by
/// alertname, without waiting) to openfero on `openfero_port`, with `http_config` (YAML lines
/// indented for the webhook's `http_config:` block; empty: none).
pub(crate) fn route_to_openfero(openfero_port: u16, http_config: &str) -> String {
    let http_config = if http_config.is_empty() {
        String::new()
    } else {
        format!("        http_config:\n{http_config}")
    };
    format!(
        r#"route:
  receiver: openfero
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: openfero
    webhook_configs:
      - url: http://127.0.0.1:{openfero_port}/alerts
        send_resolved: true
{http_config}"#
    )
}

fn alertmanager_config(dir: &Path, openfero_port: u16, token_file: &Path) -> std::path::PathBuf {
    let path = dir.join("alertmanager.yml");
    let auth = format!(
        "          authorization:\n            credentials_file: {}\n",
        token_file.display()
    );
    std::fs::write(&path, route_to_openfero(openfero_port, &auth))
        .expect("write alertmanager config");
    path
}

async fn remediations(http: &reqwest::Client, url: &str) -> Option<Vec<Value>> {
    http.get(url).send().await.ok()?.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_firing_and_resolved_notifications_are_remediated() {
    assert!(
        Path::new(ALERTMANAGER).exists(),
        "{ALERTMANAGER} is missing: install Debian's prometheus-alertmanager (.ci/run does)"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ops, marker) = marker_operarios(
        tmp.path(),
        &[
            ("restart-pod", "KubePodCrashLooping", "firing"),
            ("note-recovery", "KubePodCrashLooping", "resolved"),
        ],
    );

    // openfero's and Alertmanager's copies of the token, each with a trailing newline as
    // files from Secrets often have.
    let token = "e2e-webhook-token-71c2";
    let of_token = tmp.path().join("openfero-webhook-token");
    let am_token = tmp.path().join("alertmanager-webhook-token");
    std::fs::write(&of_token, format!("{token}\n")).expect("write token");
    std::fs::write(&am_token, format!("{token}\n")).expect("write token");

    let http = client();
    let of_port = free_port();
    let openfero = OpenferoProcess::start(
        &tmp.path().join("data"),
        &ops,
        of_port,
        &[
            "--webhook-token-file",
            of_token.to_str().expect("utf-8 path"),
        ],
    );
    openfero.wait_ready(&http).await;
    // Without the token a sender is refused, whatever it sends.
    let r = http
        .post(openfero.url("/alerts"))
        .json(&crate::support::webhook(
            "KubePodCrashLooping",
            "intruder",
            "firing",
            "2026-01-01T00:00:00Z",
        ))
        .send()
        .await
        .expect("post to openfero");
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);

    let am_port = free_port();
    let config = alertmanager_config(tmp.path(), of_port, &am_token);
    let mut cmd = Command::new(ALERTMANAGER);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            tmp.path().join("am").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=");
    let _am = ChildGuard::spawn("alertmanager", cmd, tmp.path().join("alertmanager.log"));
    let am = format!("http://127.0.0.1:{am_port}");
    eventually("alertmanager to be ready", Duration::from_secs(30), || {
        let http = http.clone();
        let url = format!("{am}/-/ready");
        async move {
            http.get(&url)
                .send()
                .await
                .ok()?
                .status()
                .is_success()
                .then_some(())
        }
    })
    .await;

    let starts = chrono::Utc::now() - chrono::Duration::seconds(5);
    let labels = json!({"alertname": "KubePodCrashLooping", "pod": "web-1", "namespace": "shop"});
    let post = |ends: Option<chrono::DateTime<chrono::Utc>>| {
        let mut alert = json!({
            "labels": labels,
            "annotations": {"summary": "web-1 is crash looping"},
            "startsAt": starts.to_rfc3339(),
            "generatorURL": "http://prometheus.test/graph"
        });
        if let Some(e) = ends {
            alert["endsAt"] = json!(e.to_rfc3339());
        }
        let (http, am) = (http.clone(), am.clone());
        async move { post_to_alertmanager(&http, &am, alert).await }
    };
    post(None).await;

    let rem_url = openfero.url("/api/remediations");
    let firing = eventually(
        "the firing remediation to succeed",
        Duration::from_secs(60),
        || {
            let http = http.clone();
            let url = rem_url.clone();
            async move {
                let list = remediations(&http, &url).await?;
                list.into_iter()
                    .find(|r| r["operarius"] == "default/restart-pod" && r["state"] == "succeeded")
            }
        },
    )
    .await;
    assert_eq!(firing["alertStatus"], "firing");
    assert_eq!(firing["exitCode"], 0);
    assert!(
        firing["outputTail"]
            .as_str()
            .unwrap_or("")
            .contains("remediating web-1"),
        "{firing}"
    );
    let alerts: Vec<Value> = crate::support::get_json(&http, &openfero.url("/api/alerts")).await;
    let a = &alerts[0];
    assert_eq!(a["receiver"], "openfero");
    assert_eq!(a["generatorURL"], "http://prometheus.test/graph");
    assert_eq!(
        a["fingerprint"].as_str().map(str::len),
        Some(16),
        "alertmanager's fingerprint"
    );

    // Resolve it: Alertmanager sends a resolved notification for the same alert.
    post(Some(chrono::Utc::now() - chrono::Duration::seconds(1))).await;
    let resolved = eventually(
        "the resolved remediation to succeed",
        Duration::from_secs(60),
        || {
            let http = http.clone();
            let url = rem_url.clone();
            async move {
                let list = remediations(&http, &url).await?;
                list.into_iter().find(|r| {
                    r["operarius"] == "default/note-recovery" && r["state"] == "succeeded"
                })
            }
        },
    )
    .await;
    assert_eq!(resolved["alertStatus"], "resolved");
    assert_eq!(resolved["alertFingerprint"], firing["alertFingerprint"]);
    let resolved_alerts: Vec<Value> = http
        .get(openfero.url("/api/alerts?status=resolved"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(resolved_alerts.len(), 1, "{resolved_alerts:?}");
    assert_ne!(resolved_alerts[0]["endsAt"], "0001-01-01T00:00:00Z");
    // One run per event: the firing one and the resolved one.
    let runs = std::fs::read_to_string(&marker).expect("marker");
    assert_eq!(runs.lines().count(), 2, "{runs}");
}

/// Start Alertmanager with `config` (YAML text) on a free loopback port; its URL.
pub(crate) async fn start_alertmanager(
    http: &reqwest::Client,
    dir: &Path,
    config: &str,
) -> (ChildGuard, String) {
    let path = dir.join("alertmanager-basic.yml");
    std::fs::write(&path, config).expect("write alertmanager config");
    let port = free_port();
    let mut cmd = Command::new(ALERTMANAGER);
    cmd.arg(format!("--config.file={}", path.display()))
        .arg(format!("--storage.path={}", dir.join("am-basic").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=");
    let guard = ChildGuard::spawn("alertmanager", cmd, dir.join("alertmanager-basic.log"));
    let url = format!("http://127.0.0.1:{port}");
    eventually("alertmanager to be ready", Duration::from_secs(30), || {
        let http = http.clone();
        let ready = format!("{url}/-/ready");
        async move {
            let r = http.get(&ready).send().await.ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;
    (guard, url)
}

/// Alertmanager's count of failed webhook notifications.
async fn failed_webhook_notifications(http: &reqwest::Client, am: &str) -> Option<f64> {
    let text = http
        .get(format!("{am}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(
        text.lines()
            .filter(|l| {
                l.starts_with("alertmanager_notifications_failed_total{")
                    && l.contains("integration=\"webhook\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_delivers_over_https_with_basic_auth_and_bearer_and_wrong_credentials_store_nothing(
) {
    assert!(
        Path::new(ALERTMANAGER).exists(),
        "{ALERTMANAGER} is missing: install Debian's prometheus-alertmanager (.ci/run does)"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ops, _marker) = marker_operarios(
        tmp.path(),
        &[("restart-pod", "KubePodCrashLooping", "firing")],
    );
    // The API listener's certificate, from a CA only Alertmanager and this test trust.
    let certs = tmp.path().join("certs");
    openfero::certs::init(&certs, &["api".to_string()], 1).expect("certs");
    let (cert, key) = openfero::certs::node_files(&certs, "api");
    let ca = certs.join("ca.pem");
    // openfero: basic auth for the webhook (as OpenFero's --authMethod basic), a bearer token
    // beside it, and users, so that reading the history needs credentials too.
    let basic_file = tmp.path().join("webhook-basic");
    std::fs::write(&basic_file, "alertmanager:am-basic-pass-3e1f\n").expect("write");
    let token_file = tmp.path().join("webhook-token");
    std::fs::write(&token_file, "am-bearer-token-9a0c\n").expect("write");
    let hash = openfero::auth::hash_password_with("reader-pass", openfero::auth::Cost::Test)
        .expect("hash");
    let auth_file = tmp.path().join("auth.yaml");
    std::fs::write(
        &auth_file,
        format!("users:\n  - {{name: reader, role: viewer, passwordHash: \"{hash}\"}}\n"),
    )
    .expect("write");
    // Alertmanager's copies: the right password, a wrong one, the token.
    let right = tmp.path().join("am-right-pass");
    std::fs::write(&right, "am-basic-pass-3e1f\n").expect("write");
    let wrong = tmp.path().join("am-wrong-pass");
    std::fs::write(&wrong, "not-the-password\n").expect("write");
    let am_token = tmp.path().join("am-token");
    std::fs::write(&am_token, "am-bearer-token-9a0c\n").expect("write");

    let http = client();
    let https = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .tls_certs_only([
            reqwest::Certificate::from_pem(&std::fs::read(&ca).expect("read ca")).expect("ca pem"),
        ])
        .build()
        .expect("https client");
    let of_port = free_port();
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    let (basic_arg, token_arg, auth_arg) = (path(&basic_file), path(&token_file), path(&auth_file));
    let (cert_arg, key_arg) = (path(&cert), path(&key));
    let openfero = OpenferoProcess::start(
        &tmp.path().join("data"),
        &ops,
        of_port,
        &[
            "--webhook-basic-auth-file",
            &basic_arg,
            "--webhook-token-file",
            &token_arg,
            "--auth-file",
            &auth_arg,
            "--tls-cert-file",
            &cert_arg,
            "--tls-key-file",
            &key_arg,
        ],
    );
    openfero.wait_ready(&https).await;
    assert!(
        http.get(format!("http://127.0.0.1:{of_port}/healthz"))
            .send()
            .await
            .is_err(),
        "the API listener speaks https only"
    );
    let alerts_url = openfero.url("/api/alerts");
    let stored = || {
        let (http, url) = (https.clone(), alerts_url.clone());
        async move {
            let r = http
                .get(&url)
                .basic_auth("reader", Some("reader-pass"))
                .send()
                .await
                .expect("get alerts");
            assert_eq!(r.status(), reqwest::StatusCode::OK);
            r.json::<Vec<Value>>().await.expect("json")
        }
    };

    // Three receivers, routed by a label: basic auth with the wrong password, with the right
    // one, and a bearer token; every one over https, trusting openfero's CA.
    let config = format!(
        r#"route:
  receiver: right
  group_by: ['alertname', 'cred']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: wrong
      matchers: ['cred="wrong"']
    - receiver: bearer
      matchers: ['cred="bearer"']
receivers:
  - name: wrong
    webhook_configs:
      - url: https://127.0.0.1:{of_port}/alerts
        http_config:
          tls_config: {{ca_file: {ca}}}
          basic_auth:
            username: alertmanager
            password_file: {wrong}
  - name: right
    webhook_configs:
      - url: https://127.0.0.1:{of_port}/alerts
        http_config:
          tls_config: {{ca_file: {ca}}}
          basic_auth:
            username: alertmanager
            password_file: {right}
  - name: bearer
    webhook_configs:
      - url: https://127.0.0.1:{of_port}/alerts
        http_config:
          tls_config: {{ca_file: {ca}}}
          authorization:
            credentials_file: {am_token}
"#,
        ca = ca.display(),
        wrong = wrong.display(),
        right = right.display(),
        am_token = am_token.display(),
    );
    let (_am, am) = start_alertmanager(&http, tmp.path(), &config).await;
    let post = |cred: &'static str, pod: &'static str| {
        let (http, am) = (http.clone(), am.clone());
        async move {
            let alert = json!({
                "labels": {"alertname": "KubePodCrashLooping", "pod": pod, "namespace": "shop", "cred": cred},
                "annotations": {"summary": "crash looping"},
                "startsAt": (chrono::Utc::now() - chrono::Duration::seconds(5)).to_rfc3339(),
                "generatorURL": "http://prometheus.test/graph"
            });
            post_to_alertmanager(&http, &am, alert).await
        }
    };

    // The wrong password: Alertmanager's delivery fails (401) and nothing is stored.
    post("wrong", "web-wrong").await;
    eventually(
        "alertmanager to record the refused delivery",
        Duration::from_secs(60),
        || {
            let (http, am) = (http.clone(), am.clone());
            async move { (failed_webhook_notifications(&http, &am).await? >= 1.0).then_some(()) }
        },
    )
    .await;
    assert_eq!(
        stored().await,
        Vec::<Value>::new(),
        "a refused delivery stores nothing"
    );
    let log =
        std::fs::read_to_string(tmp.path().join("alertmanager-basic.log")).unwrap_or_default();
    assert!(log.contains("401"), "alertmanager saw the 401: {log}");

    // The right password, then the bearer token: delivered over https and stored.
    let until_stored = |n: usize| {
        eventually(
            "the alerts to be stored",
            Duration::from_secs(60),
            move || {
                let fut = stored();
                async move {
                    let list = fut.await;
                    (list.len() >= n).then_some(list)
                }
            },
        )
    };
    post("right", "web-right").await;
    let alerts = until_stored(1).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["labels"]["pod"], "web-right");
    assert_eq!(alerts[0]["receiver"], "right");
    post("bearer", "web-bearer").await;
    let alerts = until_stored(2).await;
    let mut pods: Vec<&str> = alerts
        .iter()
        .filter_map(|a| a["labels"]["pod"].as_str())
        .collect();
    pods.sort_unstable();
    assert_eq!(pods, ["web-bearer", "web-right"], "{alerts:?}");

    // A wrong token sent directly is refused too, and stores nothing.
    let r = https
        .post(openfero.url("/alerts"))
        .bearer_auth("wrong")
        .json(&crate::support::webhook(
            "Bearer",
            "b-2",
            "firing",
            "2026-01-01T00:00:00Z",
        ))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(stored().await.len(), 2);
    // The plain request above was a failed handshake, visible to whoever scrapes.
    let metrics = https
        .get(openfero.url("/metrics"))
        .basic_auth("reader", Some("reader-pass"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let failures: f64 = metrics
        .lines()
        .find(|l| l.starts_with("openfero_tls_handshake_failures_total{listener=\"api\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no api handshake failures in {metrics}"));
    assert!(failures >= 1.0, "{failures}");
}

/// Hand one alert to Alertmanager's API, as Prometheus does.
pub(crate) async fn post_to_alertmanager(http: &reqwest::Client, am: &str, alert: Value) {
    let r = http
        .post(format!("{am}/api/v2/alerts"))
        .json(&json!([alert]))
        .send()
        .await
        .expect("post to alertmanager");
    assert!(
        r.status().is_success(),
        "alertmanager refused the alert: {}",
        r.status()
    );
}
