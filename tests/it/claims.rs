//! An invalid operarius keeps claiming the alerts its selector matches (issue 17): it is never
//! silently replaced by the next operarius in rank; its remediations fail with the reason, seen
//! in the ingest answer, the remediation, `try` and `GET /api/operarios`. Disabled, it releases
//! them. OpenFero's own minimal `curl` body on its `/alert` path is used throughout.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{client, eventually, free_port, get_json, marker_operarios, OpenferoProcess};

/// Ranked above the valid `fallback`; its args template does not parse.
fn broken(enabled: bool) -> String {
    format!(
        r#"apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata: {{name: broken, namespace: default}}
spec:
  priority: 10
  enabled: {enabled}
  alertSelector: {{alertname: Claimed, status: firing}}
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: fix
              image: busybox
              command: ["/bin/sh", "-c"]
              args: ["echo {{{{ .Labels.pod "]
"#
    )
}

/// The body OpenFero's README posts with curl: no startsAt, endsAt, fingerprint, groupKey...
fn openfero_curl_body(pod: &str) -> Value {
    json!({"status": "firing", "alerts": [{"status": "firing",
        "labels": {"alertname": "Claimed", "pod": pod, "namespace": "shop"}}]})
}

async fn post(http: &reqwest::Client, node: &OpenferoProcess, pod: &str) -> Value {
    let r = http
        .post(node.url("/alert"))
        .json(&openfero_curl_body(pod))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    r.json().await.expect("json")
}

#[tokio::test]
async fn an_invalid_operarius_claims_its_alerts_and_fails_them_until_disabled() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ops, marker) = marker_operarios(tmp.path(), &[("fallback", "Claimed", "firing")]);
    std::fs::write(ops.join("broken.yaml"), broken(true)).expect("write");
    let node = OpenferoProcess::start(
        &tmp.path().join("data"),
        &ops,
        free_port(),
        &["--reload-secs", "1"],
    );
    let http = client();
    node.wait_ready(&http).await;

    let answer = post(&http, &node, "web-1").await;
    let rems = answer["alerts"][0]["remediations"]
        .as_array()
        .expect("list");
    assert_eq!(rems.len(), 1, "{answer}");
    assert_eq!(rems[0]["operarius"], "default/broken", "{answer}");
    assert_eq!(rems[0]["state"], "failed", "{answer}");
    let id = rems[0]["id"].as_str().expect("id");
    let rec: Value = get_json(&http, &node.url(&format!("/api/remediations/{id}"))).await;
    let reason = rec["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("operarius `default/broken` is invalid") && reason.contains("template"),
        "{rec}"
    );

    let tried: Value = http
        .post(node.url("/api/operarios/try"))
        .json(&openfero_curl_body("web-2"))
        .send()
        .await
        .expect("try")
        .json()
        .await
        .expect("json");
    assert_eq!(tried["alerts"][0]["verdict"], "failed", "{tried}");
    assert_eq!(tried["alerts"][0]["selected"], "default/broken", "{tried}");

    let listed: Vec<Value> = get_json(&http, &node.url("/api/operarios")).await;
    let b = listed
        .iter()
        .find(|o| o["name"] == "broken")
        .expect("the broken operarius is listed");
    assert!(
        !b["problems"].as_array().expect("problems").is_empty(),
        "{b}"
    );

    // Disabled, it claims nothing: the next in rank runs.
    std::fs::write(ops.join("broken.yaml"), broken(false)).expect("write");
    let url = node.url("/api/operarios");
    eventually(
        "the disabled operarius to be replicated",
        Duration::from_secs(10),
        || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let list: Vec<Value> = http.get(&url).send().await.ok()?.json().await.ok()?;
                list.iter()
                    .any(|o| o["name"] == "broken" && o["enabled"] == false)
                    .then_some(())
            }
        },
    )
    .await;
    let answer = post(&http, &node, "web-3").await;
    assert_eq!(
        answer["alerts"][0]["remediations"][0]["operarius"], "default/fallback",
        "{answer}"
    );
    eventually("the fallback to run", Duration::from_secs(10), || {
        let marker = marker.clone();
        async move {
            let runs = std::fs::read_to_string(&marker).ok()?;
            runs.lines().any(|l| l == "web-3").then_some(runs)
        }
    })
    .await;
    let runs = std::fs::read_to_string(&marker).expect("marker");
    assert!(
        !runs.contains("web-1"),
        "nothing ran for the alert the broken operarius claimed: {runs}"
    );
}
