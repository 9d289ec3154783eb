//! OpenFero 0.18's command line on the real binary: a node started the way OpenFero's chart
//! starts OpenFero (its flag names, Go's `-flag value` and `--flag=value`) serves; a flag that carried a
//! secret on OpenFero's command line stops it at start with exit 64 and the replacement.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{eventually, free_port, marker_operarios, webhook, ChildGuard};

const TOKEN: &str = "hook-3b1d9e07c2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_with_openfero_s_flags_serves_the_webhook() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ops, marker) = marker_operarios(tmp.path(), &[("fix-disk", "DiskFull", "firing")]);
    let token_file = tmp.path().join("webhook-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_openfero"));
    // No `serve`: OpenFero's binary has no subcommands. Go's single-dash spelling, on a
    // loopback address (tests never listen on every interface; the `:port` form is checked by
    // the parser's unit tests).
    cmd.arg("-addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-logLevel=debug")
        .arg("--alertStoreType=memory")
        .arg("--alertStoreSize=100")
        .arg("--alertStoreClusterName=openfero")
        .arg("--operariusNamespace=monitoring")
        .arg("--authMethod=bearer")
        .arg(format!("--webhook-token-file={}", token_file.display()))
        .arg(format!("--data-dir={}", tmp.path().join("data").display()))
        .arg(format!("--operarios={}", ops.display()));
    let _node = ChildGuard::spawn("openfero", cmd, tmp.path().join("openfero.log"));
    let http = crate::support::client();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");

    // OpenFero's readiness probe path.
    eventually("the node to be ready", Duration::from_secs(30), || {
        let (http, url) = (http.clone(), url("/readiness"));
        async move {
            let r = http.get(&url).send().await.ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;
    let probe = http.get(url("/alerts")).send().await.expect("GET /alerts");
    assert_eq!(probe.status(), StatusCode::OK);

    let body = webhook("DiskFull", "disk-1", "firing", "2026-03-01T10:00:00Z");
    let open = http
        .post(url("/alerts"))
        .json(&body)
        .send()
        .await
        .expect("POST without the token");
    assert_eq!(
        open.status(),
        StatusCode::UNAUTHORIZED,
        "--authMethod=bearer with the token file"
    );
    let sent = http
        .post(url("/alerts"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("POST with the token");
    assert_eq!(sent.status(), StatusCode::OK);
    eventually("the remediation to run", Duration::from_secs(20), || {
        let marker = marker.clone();
        async move {
            let runs = std::fs::read_to_string(&marker).ok()?;
            (runs.trim() == "disk-1").then_some(())
        }
    })
    .await;
}

/// `openfero <args>`: its exit code and standard error.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_openfero"))
        .arg("--addr=127.0.0.1:0")
        .arg(format!("--data-dir={}", tmp.path().join("data").display()))
        .args(args)
        .output()
        .expect("run openfero");
    assert!(
        !tmp.path().join("data").exists(),
        "refused before it opened a store"
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_openfero_flag_without_an_equivalent_exits_64_naming_the_replacement() {
    let (code, stderr) = refused(&["--authMethod=bearer", &format!("--authBearerToken={TOKEN}")]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains("--authBearerToken") && stderr.contains("--webhook-token-file"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(TOKEN),
        "the token is never printed: {stderr}"
    );

    let (code, stderr) = refused(&["--alertStoreType=memberlist"]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains("--alertStoreType memberlist") && stderr.contains("--gossip-addr"),
        "{stderr}"
    );
}
