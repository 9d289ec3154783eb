//! Secrets never leak: a real node with every secret configured (an auth file with a user's
//! password hash and a token's hash, the webhook token, the webhook's basic auth, the admin
//! token), logging at `trace`, used with those credentials (and wrong ones); then its whole
//! log, its command line and the answers of the API are searched for every secret.

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::{free_port, marker_operarios, webhook, OpenferoProcess};

const PASSWORD: &str = "pw-Secret-a71f0c2e";
const WRONG_PASSWORD: &str = "pw-Wrong-5d2b9e14";
const TOKEN: &str = "tok-Secret-c93e77d1";
const WEBHOOK_TOKEN: &str = "hook-Secret-0b4a6f38";
const WEBHOOK_PASSWORD: &str = "hookpw-Secret-e85c1d90";
const ADMIN_TOKEN: &str = "admin-Secret-47f2a6b3";

/// `openfero auth hash-password`, the password on standard input.
fn hash_with_the_binary(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_openfero"))
        .args(["auth", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openfero auth hash-password");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

fn basic(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_logs_argv_or_answers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ops, _) = marker_operarios(tmp.path(), &[("fix-disk", "DiskFull", "firing")]);
    let hash = hash_with_the_binary(PASSWORD);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let token_sha = openfero::auth::sha256_hex(TOKEN.as_bytes());
    let files = [
        (
            "auth.yaml",
            format!(
                "users:\n  - {{name: ada, role: admin, passwordHash: \"{hash}\"}}\n\
                 tokens:\n  - {{name: ci, role: viewer, sha256: \"{token_sha}\"}}\n"
            ),
        ),
        ("webhook-token", format!("{WEBHOOK_TOKEN}\n")),
        (
            "webhook-basic",
            format!("alertmanager:{WEBHOOK_PASSWORD}\n"),
        ),
        ("admin-token", format!("{ADMIN_TOKEN}\n")),
    ];
    for (name, text) in &files {
        std::fs::write(tmp.path().join(name), text).expect("write secret file");
    }
    let p = |name: &str| tmp.path().join(name).display().to_string();
    let (auth, hook, hook_basic, admin) = (
        p("auth.yaml"),
        p("webhook-token"),
        p("webhook-basic"),
        p("admin-token"),
    );
    // The API listener's TLS key is a secret too.
    let certs = tmp.path().join("certs");
    openfero::certs::init(&certs, &["api".to_string()], 1).expect("certs");
    let (cert_file, key_file) = openfero::certs::node_files(&certs, "api");
    let key_pem = std::fs::read_to_string(&key_file).expect("key");
    let key_body: Vec<String> = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect();
    assert!(!key_body.is_empty(), "{key_pem}");
    let (tls_cert, tls_key) = (
        cert_file.display().to_string(),
        key_file.display().to_string(),
    );
    let port = free_port();
    let mut node = OpenferoProcess::start_logging(
        &tmp.path().join("data"),
        &ops,
        port,
        &[
            "--auth-file",
            &auth,
            "--webhook-token-file",
            &hook,
            "--webhook-basic-auth-file",
            &hook_basic,
            "--admin-token-file",
            &admin,
            "--tls-cert-file",
            &tls_cert,
            "--tls-key-file",
            &tls_key,
        ],
        "trace",
    );
    let http = crate::support::client_trusting(&certs.join("ca.pem"));
    node.wait_ready(&http).await;
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", node.guard.pid())).expect("cmdline");
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");

    let url = |path: &str| node.url(path);
    let mut answers = Vec::new();
    // Webhooks with both kinds of webhook credentials, and refused ones.
    for (i, auth) in [
        format!("Bearer {WEBHOOK_TOKEN}"),
        format!("Basic {}", basic("alertmanager", WEBHOOK_PASSWORD)),
        format!("Basic {}", basic("alertmanager", WRONG_PASSWORD)),
        format!("Bearer {TOKEN}"),
    ]
    .iter()
    .enumerate()
    {
        let r = http
            .post(url("/alerts"))
            .header("authorization", auth)
            .json(&webhook(
                "DiskFull",
                &format!("db-{i}"),
                "firing",
                "2026-01-01T00:00:00Z",
            ))
            .send()
            .await
            .expect("post");
        let expect_ok = i < 2;
        assert_eq!(
            r.status().is_success(),
            expect_ok,
            "webhook {i}: {}",
            r.status()
        );
        answers.push(r.text().await.unwrap_or_default());
    }
    // Reads as the user, as the token and with a wrong password.
    let ada = format!("Basic {}", basic("ada", PASSWORD));
    let remediations: Vec<Value> = crate::support::eventually(
        "the remediation to finish",
        std::time::Duration::from_secs(30),
        || {
            let (http, url, ada) = (http.clone(), url("/api/remediations"), ada.clone());
            async move {
                let list: Vec<Value> = http
                    .get(&url)
                    .header("authorization", &ada)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                list.iter()
                    .any(|r| r["state"] == "succeeded")
                    .then_some(list)
            }
        },
    )
    .await;
    let id = remediations[0]["id"].as_str().expect("id").to_string();
    for (path, auth) in [
        ("/api/about", ada.clone()),
        ("/metrics", ada.clone()),
        ("/admin/cluster", format!("Bearer {TOKEN}")),
        ("/api/operarios", format!("Bearer {ADMIN_TOKEN}")),
        ("/api/alerts", ada.clone()),
        (&format!("/api/remediations/{id}") as &str, ada.clone()),
        (&format!("/remediations/{id}") as &str, ada.clone()),
        ("/", ada.clone()),
        ("/operarios", ada.clone()),
        ("/cluster", ada.clone()),
        ("/", format!("Basic {}", basic("ada", WRONG_PASSWORD))),
        ("/api/alerts", format!("Bearer {WEBHOOK_TOKEN}")),
    ] {
        let r = http
            .get(url(path))
            .header("authorization", auth)
            .send()
            .await
            .expect("get");
        answers.push(format!("{path}: {}", r.text().await.unwrap_or_default()));
    }
    // Mutations: the autopilot as the user and with the admin token; the try-it form.
    for auth in [ada.clone(), format!("Bearer {ADMIN_TOKEN}")] {
        let r = http
            .post(url("/admin/cluster/autopilot"))
            .header("authorization", auth)
            .json(&json!({"paused": false}))
            .send()
            .await
            .expect("post");
        assert!(r.status().is_success(), "{}", r.status());
        answers.push(r.text().await.unwrap_or_default());
    }
    let payload = webhook("DiskFull", "db-9", "firing", "2026-01-02T00:00:00Z").to_string();
    let r = http
        .post(url("/operarios/try"))
        .header("authorization", &ada)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("payload", payload)]).expect("form"))
        .send()
        .await
        .expect("try");
    assert!(r.status().is_success(), "{}", r.status());
    answers.push(r.text().await.unwrap_or_default());

    // SIGTERM: the log is complete once the process has exited.
    node.guard.terminate();
    let raw = std::fs::read_to_string(&node.guard.log).expect("log");
    // Without the terminal colours, which would split `by=ada`.
    let log = regex::Regex::new("\x1b\\[[0-9;]*m")
        .expect("regex")
        .replace_all(&raw, "")
        .into_owned();
    assert!(
        log.contains("TRACE") || log.contains("trace"),
        "logged at trace level"
    );
    assert!(
        log.contains("by=ada") || log.contains("by: ada"),
        "the caller is logged"
    );

    let mut secrets = vec![
        PASSWORD.to_string(),
        WRONG_PASSWORD.to_string(),
        TOKEN.to_string(),
        WEBHOOK_TOKEN.to_string(),
        WEBHOOK_PASSWORD.to_string(),
        ADMIN_TOKEN.to_string(),
        hash.clone(),
        // The hash's own parts, and the token's stored hash.
        hash.rsplit('$').next().expect("hash part").to_string(),
        token_sha.clone(),
        // Credentials as they travel in headers.
        basic("ada", PASSWORD),
        basic("ada", WRONG_PASSWORD),
        basic("alertmanager", WEBHOOK_PASSWORD),
    ];
    secrets.extend(key_body);
    let places = [
        ("the log", log.as_str()),
        ("the raw log", raw.as_str()),
        ("the command line", cmdline.as_str()),
        ("the answers", &answers.join("\n")),
    ];
    let mut leaks = Vec::new();
    for (place, text) in places {
        for s in &secrets {
            if text.contains(s.as_str()) {
                leaks.push(format!("`{s}` in {place}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets leaked: {leaks:#?} ({} log bytes searched)",
        log.len()
    );
    println!(
        "searched {} log bytes, the command line and {} answers for {} secrets: none found",
        log.len(),
        answers.len(),
        secrets.len()
    );
}
