//! The `kube-double` binary and the HTTP control API.

mod common;

use std::{process::Stdio, time::Duration};

use common::{bounded, client_for, start, OPERARIUS_CRD};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    api::{Api, DynamicObject, ListParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    core::GroupVersionKind,
    discovery,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn binary_serves_and_writes_a_kubeconfig_kube_accepts() -> anyhow::Result<()> {
    bounded(async {
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        let crd = dir.path().join("operariuses.yaml");
        std::fs::write(&crd, OPERARIUS_CRD)?;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kube-double"))
            .args(["--listen", "127.0.0.1:0", "--kubeconfig-out"])
            .arg(&kubeconfig)
            .arg("--crd")
            .arg(&crd)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let url = BufReader::new(stdout)
            .lines()
            .next_line()
            .await?
            .ok_or_else(|| anyhow::anyhow!("binary printed no url"))?;
        assert!(url.starts_with("http://127.0.0.1:"), "url {url}");

        let parsed = Kubeconfig::read_from(&kubeconfig)?;
        let config =
            kube::Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default()).await?;
        assert_eq!(config.cluster_url.to_string().trim_end_matches('/'), url);
        assert_eq!(config.default_namespace, "default");
        let client = kube::Client::try_from(config)?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let names: Vec<String> = namespaces
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
        assert!(names.contains(&"default".to_string()), "{names:?}");

        let gvk = GroupVersionKind::gvk("openfero.io", "v1alpha1", "Operarius");
        let (resource, _) = discovery::pinned_kind(&client, &gvk).await?;
        let operarii: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
        let mut object = DynamicObject::new("from-binary", &resource);
        object.data = json!({"spec": {"priority": 1}});
        operarii.create(&PostParams::default(), &object).await?;

        // The control API resets the double, keeping the startup CRD.
        let http = reqwest::Client::new();
        let reset = http.post(format!("{url}/_double/reset")).send().await?;
        assert_eq!(reset.status(), 200);
        assert!(operarii
            .list(&ListParams::default())
            .await?
            .items
            .is_empty());

        child.start_kill()?;
        tokio::time::timeout(Duration::from_secs(10), child.wait()).await??;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn binary_refuses_non_loopback_addresses() -> anyhow::Result<()> {
    bounded(async {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_kube-double"))
            .args(["--listen", "0.0.0.0:0"])
            .output()
            .await?;
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("not a loopback address"));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn control_api_over_http_drives_faults_jobs_logs_and_requests() -> anyhow::Result<()> {
    bounded(async {
        let (double, _client) = start().await?;
        let url = double.url();
        let http = reqwest::Client::new();

        let fault = json!({"method": "GET", "pathContains": "/api/v1/namespaces", "times": 1,
                           "action": {"type": "status", "code": 500}});
        assert_eq!(
            http.post(format!("{url}/_double/faults"))
                .json(&fault)
                .send()
                .await?
                .status(),
            200
        );
        let failed = http.get(format!("{url}/api/v1/namespaces")).send().await?;
        assert_eq!(failed.status(), 500);
        let status: Value = failed.json().await?;
        assert_eq!(
            (status["kind"].as_str(), status["reason"].as_str()),
            (Some("Status"), Some("InternalError"))
        );
        assert_eq!(
            http.get(format!("{url}/api/v1/namespaces"))
                .send()
                .await?
                .status(),
            200
        );

        let job = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
        let created = http
            .post(format!("{url}/apis/batch/v1/namespaces/default/jobs"))
            .json(&job)
            .send()
            .await?;
        assert_eq!(created.status(), 201);
        let pods: Vec<String> = http
            .get(format!("{url}/_double/jobs/default/j/pods"))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(pods.len(), 1);
        let put = http
            .put(format!("{url}/_double/pods/default/{}/log", pods[0]))
            .body("hello\n")
            .send()
            .await?;
        assert_eq!(put.status(), 200);
        let log = http
            .get(format!(
                "{url}/api/v1/namespaces/default/pods/{}/log",
                pods[0]
            ))
            .send()
            .await?
            .text()
            .await?;
        assert_eq!(log, "hello\n");
        let failed = http
            .post(format!("{url}/_double/jobs/default/j/fail"))
            .json(&json!({"reason": "BackoffLimitExceeded"}))
            .send()
            .await?;
        assert_eq!(failed.status(), 200);
        let job: Value = failed.json().await?;
        assert_eq!(job["status"]["conditions"][1]["type"], "Failed");
        let missing = http
            .post(format!("{url}/_double/jobs/default/nope/complete"))
            .send()
            .await?;
        assert_eq!(missing.status(), 404);

        let requests: Vec<Value> = http
            .get(format!("{url}/_double/requests"))
            .send()
            .await?
            .json()
            .await?;
        let summary: Vec<(String, u64, bool)> = requests
            .iter()
            .map(|r| {
                (
                    format!(
                        "{} {}",
                        r["method"].as_str().unwrap_or_default(),
                        r["path"].as_str().unwrap_or_default()
                    ),
                    r["status"].as_u64().unwrap_or_default(),
                    r["faulted"].as_bool().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("GET /api/v1/namespaces".to_string(), 500, true),
                ("GET /api/v1/namespaces".to_string(), 200, false),
                (
                    "POST /apis/batch/v1/namespaces/default/jobs".to_string(),
                    201,
                    false
                ),
                (
                    format!("GET /api/v1/namespaces/default/pods/{}/log", pods[0]),
                    200,
                    false
                ),
            ]
        );

        let crd = http
            .post(format!("{url}/_double/crds"))
            .body(OPERARIUS_CRD)
            .send()
            .await?;
        assert_eq!(crd.status(), 200);
        let discovered: Value = http
            .get(format!("{url}/apis/openfero.io/v1alpha1"))
            .send()
            .await?
            .json()
            .await?;
        let names: Vec<&str> = discovered["resources"]
            .as_array()
            .map(|rs| rs.iter().filter_map(|r| r["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(names, ["operariuses", "operariuses/status"]);

        // A second client through the same kubeconfig sees the same state.
        let other = client_for(&double.kubeconfig_yaml()).await?;
        let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(other, "default");
        assert!(jobs.get_opt("j").await?.is_some());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn malformed_requests_get_status_errors() -> anyhow::Result<()> {
    bounded(async {
        let (double, _client) = start().await?;
        let url = double.url();
        let http = reqwest::Client::new();
        let cms = format!("{url}/api/v1/namespaces/default/configmaps");
        let created = http
            .post(&cms)
            .json(&json!({"metadata": {"name": "m"}}))
            .send()
            .await?;
        assert_eq!(created.status(), 201);
        let patch = |body: &'static str, content_type: &'static str| {
            http.patch(format!("{cms}/m"))
                .header("content-type", content_type)
                .body(body)
                .send()
        };
        let cases = [
            (patch("5", "application/merge-patch+json").await?, 422),
            (
                patch("{not json", "application/merge-patch+json").await?,
                400,
            ),
            (patch("{}", "text/plain").await?, 415),
            (
                patch(
                    r#"[{"op":"remove","path":"/nope"}]"#,
                    "application/json-patch+json",
                )
                .await?,
                422,
            ),
            (http.post(&cms).body("[1]").send().await?, 400),
            (http.delete(format!("{cms}/m")).body("7").send().await?, 400),
            (
                http.get(format!("{url}/apis/nope.io/v1/things"))
                    .send()
                    .await?,
                404,
            ),
            (
                http.get(format!("{cms}?labelSelector=a%20in%20(b"))
                    .send()
                    .await?,
                400,
            ),
        ];
        for (i, (response, code)) in cases.into_iter().enumerate() {
            assert_eq!(response.status().as_u16(), code, "case {i}");
            let body: Value = response.json().await?;
            assert_eq!(body["kind"], "Status", "case {i}");
            assert_eq!(body["code"], code, "case {i}");
        }
        // The object survived all of it and the server still answers.
        assert_eq!(http.get(format!("{cms}/m")).send().await?.status(), 200);
        Ok(())
    })
    .await
}
