//! The command-line client against a real node: `openfero alerts`, `remediations`,
//! `remediation ID --wait`, `operarios`, `cluster` and its admin calls, each as a process, with
//! the exit codes scripts rely on.

use std::path::Path;
use std::process::Output;

use openfero::auth::{sha256_hex, Role};
use serde_json::Value;

use crate::support::{client, free_port, marker_operarios, webhook, OpenferoProcess};

fn cli(server: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_openfero"))
        .args(args)
        .arg("--server")
        .arg(server)
        .env_remove("OPENFERO_TOKEN_FILE")
        .output()
        .expect("run the client")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

/// Runs the client; asserts it exited with `want`, printing what it said otherwise.
fn expect(server: &str, args: &[&str], want: i32) -> String {
    let out = cli(server, args);
    assert_eq!(
        code(&out),
        want,
        "openfero {args:?}: stdout {} stderr {}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

fn failing_operarius(dir: &Path) {
    std::fs::write(
        dir.join("broken-fix.yaml"),
        r#"apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata:
  name: broken-fix
  namespace: default
spec:
  alertSelector:
    alertname: CliFails
    status: firing
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: fix
              image: busybox
              command: ["/bin/sh", "-c"]
              args: ["echo cannot fix $OPENFERO_POD; exit 3"]
"#,
    )
    .expect("write operarius");
}

async fn post(node: &OpenferoProcess, body: &Value) -> String {
    let answer: Value = client()
        .post(node.url("/alerts"))
        .json(body)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("ingest answer");
    answer["alerts"][0]["remediations"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a remediation was started: {answer}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_lists_waits_and_changes_the_cluster_with_meaningful_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ops, marker) = marker_operarios(dir.path(), &[("fix", "CliWorks", "firing")]);
    failing_operarius(&ops);
    let port = free_port();
    let node = OpenferoProcess::start(&dir.path().join("data"), &ops, port, &[]);
    node.wait_ready(&client()).await;
    let server = node.url("");

    // Nothing recorded yet: an empty table is still a table, and a success.
    let empty = expect(&server, &["alerts"], 0);
    assert!(empty.contains("ALERTNAME"), "{empty}");

    let ok = post(
        &node,
        &webhook("CliWorks", "web-1", "firing", "2026-12-03T10:00:00Z"),
    )
    .await;
    let shown = expect(
        &server,
        &["remediation", &ok, "--wait", "--timeout", "30s"],
        0,
    );
    assert!(shown.contains("succeeded"), "{shown}");
    assert!(
        shown.contains("remediating web-1"),
        "the output tail: {shown}"
    );
    assert!(
        shown.contains("matched") && shown.contains("finished"),
        "timeline: {shown}"
    );
    let ran = std::fs::read_to_string(&marker).expect("the remediation ran");
    assert_eq!(ran.trim(), "web-1");

    let failed = post(
        &node,
        &webhook("CliFails", "db-0", "firing", "2026-12-03T10:01:00Z"),
    )
    .await;
    let out = cli(
        &server,
        &["remediation", &failed, "--wait", "--timeout", "30s"],
    );
    assert_eq!(code(&out), 6, "ended failed: {}", stdout(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ended failed"),
        "{out:?}"
    );
    assert!(stdout(&out).contains("cannot fix db-0"), "{}", stdout(&out));

    // JSON and YAML are the API's own answers.
    let all: Value =
        serde_json::from_str(&expect(&server, &["remediations", "-o", "json"], 0)).expect("json");
    let states: Vec<(&str, &str)> = all
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        vec![(failed.as_str(), "failed"), (ok.as_str(), "succeeded")]
    );
    let only_failed = expect(&server, &["remediations", "--state", "failed"], 0);
    assert!(
        only_failed.contains(&failed) && !only_failed.contains(&ok),
        "{only_failed}"
    );
    let of_fix = expect(&server, &["remediations", "--operarius", "fix"], 0);
    assert!(
        of_fix.contains(&ok) && !of_fix.contains(&failed),
        "{of_fix}"
    );
    let alerts: Value =
        serde_yaml::from_str(&expect(&server, &["alerts", "-o", "yaml"], 0)).expect("yaml");
    assert_eq!(alerts.as_array().map(Vec::len), Some(2), "{alerts}");
    let firing = expect(&server, &["alerts", "-q", "db-0"], 0);
    assert!(
        firing.contains("CliFails") && !firing.contains("CliWorks"),
        "{firing}"
    );

    let operarios = expect(&server, &["operarios"], 0);
    assert!(
        operarios.contains("default/fix") && operarios.contains("alertname=CliWorks"),
        "{operarios}"
    );

    let members = expect(&server, &["cluster"], 0);
    assert!(
        members.contains("voter (leader)") && members.contains("autopilot running"),
        "{members}"
    );
    expect(&server, &["cluster", "autopilot", "pause"], 0);
    let view: Value = serde_json::from_str(&expect(&server, &["cluster", "-o", "json"], 0))
        .expect("cluster json");
    assert_eq!(view["autopilotPaused"], true, "{view}");
    expect(&server, &["cluster", "autopilot", "resume"], 0);

    // Exit codes: unknown remediation 3; the last voter cannot be removed (409) 5; a node
    // nobody listens on 1.
    expect(&server, &["remediation", "0123456789abcdef"], 3);
    let me = view["node"].as_str().expect("node id").to_owned();
    expect(&server, &["cluster", "remove", &me], 5);
    expect(&server, &["cluster", "remove", "no-such-node"], 3);
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let out = cli(&nobody, &["alerts"]);
    assert_eq!(code(&out), 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_sends_its_token_and_a_refusal_is_exit_4() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ops, _) = marker_operarios(dir.path(), &[("fix", "CliAuth", "firing")]);
    let auth = dir.path().join("auth.yaml");
    std::fs::write(
        &auth,
        format!(
            "tokens:\n  - {{name: reader, role: {}, sha256: \"{}\"}}\n",
            Role::Viewer.as_str(),
            sha256_hex(b"reader-token")
        ),
    )
    .expect("auth file");
    let token = dir.path().join("token");
    std::fs::write(&token, "reader-token\n").expect("token file");
    let port = free_port();
    let node = OpenferoProcess::start(
        &dir.path().join("data"),
        &ops,
        port,
        &["--auth-file", auth.to_str().expect("utf-8 path")],
    );
    node.wait_ready(&client()).await;
    let server = node.url("");
    let token = token.to_str().expect("utf-8 path");

    let out = cli(&server, &["remediations"]);
    assert_eq!(code(&out), 4, "no credentials: {out:?}");
    expect(&server, &["remediations", "--token-file", token], 0);
    expect(&server, &["operarios", "--token-file", token], 0);
    // A viewer may look but not change membership.
    expect(
        &server,
        &["cluster", "autopilot", "pause", "--token-file", token],
        4,
    );
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-token").expect("write");
    expect(
        &server,
        &["alerts", "--token-file", wrong.to_str().expect("utf-8")],
        4,
    );
}
