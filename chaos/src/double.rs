//! The shared Kubernetes API double (in-process), an operarius in it, one recording proxy per
//! node in front of it (so every Job create is attributed to the node that sent it), and the
//! background task that completes Jobs as they appear.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use futures::TryStreamExt;
use openfero_kube_double::{Config, KubeDouble};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// Namespace of the operarius and its Jobs.
pub const NS: &str = "ops";
/// The operarius' name and the alert it reacts to.
pub const OPERARIUS: &str = "chaos-fix";
pub const ALERTNAME: &str = "ChaosCrashLooping";
/// An operarius under guard rails: [`GUARD_BUDGET`] per hour on one target (every alert of
/// [`GUARDED_ALERT`] is the same target), one at a time.
pub const GUARDED: &str = "chaos-guarded";
pub const GUARDED_ALERT: &str = "ChaosGuarded";
pub const GUARD_BUDGET: usize = 3;
/// An operarius that needs an operator's approval, which the campaign never gives.
pub const GATED: &str = "chaos-gated";
pub const GATED_ALERT: &str = "ChaosGated";

pub const ANN_REMEDIATION: &str = "openfero.io/remediation-id";
pub const ANN_LEADER: &str = "openfero.io/leader";
pub const ANN_LOG_INDEX: &str = "openfero.io/log-index";

/// A `POST .../jobs` a node sent, with the double's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreateAttempt {
    pub node: String,
    pub unix_ms: u64,
    pub status: u16,
    pub job_name: String,
    pub remediation_id: String,
    /// `<term>-<node hex>` from the Job's annotation (the leader that recorded the intent).
    pub leader: String,
    pub log_index: String,
}

/// When the completer finished a Job (the end of its run).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub job_name: String,
    pub unix_ms: u64,
}

/// A Job as stored in the double.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobObs {
    pub name: String,
    pub remediation_id: String,
    pub leader: String,
    pub complete: bool,
}

pub fn now_ms() -> u64 {
    chrono::Utc::now().timestamp_millis() as u64
}

pub async fn start_double(crd: &Path) -> anyhow::Result<KubeDouble> {
    let double = KubeDouble::start_with(Config {
        bookmark_interval: Duration::from_millis(500),
        // Jobs of a long campaign must not expire from the request log.
        ..Config::default()
    })
    .await?;
    let yaml = std::fs::read_to_string(crd).with_context(|| format!("read `{}`", crd.display()))?;
    double.load_crd_yaml(&yaml)?;
    Ok(double)
}

/// Create the operarios the load's firing alerts match: the plain one, the guarded one and
/// the gated one.
pub async fn create_operarius(http: &reqwest::Client, double: &KubeDouble) -> anyhow::Result<()> {
    let job = json!({"spec": {"backoffLimit": 0, "template": {"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "fix", "image": "busybox",
            "command": ["sh", "-c", "echo fixing {{ .Labels.pod }}"]}]
    }}}});
    let specs = [
        (
            OPERARIUS,
            json!({"alertSelector": {"alertname": ALERTNAME, "status": "firing"}}),
        ),
        (
            GUARDED,
            json!({
                "alertSelector": {"alertname": GUARDED_ALERT, "status": "firing"},
                "target": {"labels": ["namespace", "alertname"]},
                "budgets": [{"max": GUARD_BUDGET, "per": "1h"}],
                "concurrency": {"perTarget": 1},
            }),
        ),
        (
            GATED,
            json!({
                "alertSelector": {"alertname": GATED_ALERT, "status": "firing"},
                "approval": "required",
                "approvalTtl": "24h",
            }),
        ),
    ];
    let url = format!(
        "{}/apis/openfero.io/v1alpha1/namespaces/{NS}/operariuses",
        double.url()
    );
    for (name, mut spec) in specs {
        spec["jobTemplate"] = job.clone();
        let body = json!({
            "apiVersion": "openfero.io/v1alpha1",
            "kind": "Operarius",
            "metadata": {"name": name, "namespace": NS},
            "spec": spec,
        });
        let r = http.post(&url).json(&body).send().await?;
        anyhow::ensure!(
            r.status().is_success(),
            "create operarius {name}: {}",
            r.status()
        );
    }
    Ok(())
}

/// Every Job in [`NS`].
pub async fn list_jobs(http: &reqwest::Client, double: &KubeDouble) -> anyhow::Result<Vec<JobObs>> {
    let url = format!("{}/apis/batch/v1/namespaces/{NS}/jobs", double.url());
    let v: Value = http.get(&url).send().await?.json().await?;
    let items = v["items"].as_array().cloned().unwrap_or_default();
    Ok(items.iter().map(job_obs).collect())
}

fn job_obs(j: &Value) -> JobObs {
    let ann = &j["metadata"]["annotations"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let complete = j["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Complete" || c["type"] == "Failed")
        })
        .unwrap_or(false);
    JobObs {
        name: s(&j["metadata"]["name"]),
        remediation_id: s(&ann[ANN_REMEDIATION]),
        leader: s(&ann[ANN_LEADER]),
        complete,
    }
}

/// How long a Job runs before the completer finishes it: long enough that leader failovers
/// find remediations running (and must adopt their Jobs, not duplicate them).
pub const JOB_RUNTIME: Duration = Duration::from_millis(1500);

/// Completes every Job [`JOB_RUNTIME`] after it first appears, as a cluster's Job controller
/// and a short remediation would.
pub fn spawn_completer(
    http: reqwest::Client,
    double: KubeDouble,
    completions: Arc<Mutex<Vec<Completion>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen: std::collections::HashMap<String, std::time::Instant> =
            std::collections::HashMap::new();
        loop {
            if let Ok(jobs) = list_jobs(&http, &double).await {
                for j in jobs.iter().filter(|j| !j.complete) {
                    let first = *seen
                        .entry(j.name.clone())
                        .or_insert_with(std::time::Instant::now);
                    if first.elapsed() >= JOB_RUNTIME && double.complete_job(NS, &j.name).is_ok() {
                        completions
                            .lock()
                            .expect("completions lock")
                            .push(Completion {
                                job_name: j.name.clone(),
                                unix_ms: now_ms(),
                            });
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

#[derive(Clone)]
struct ProxyState {
    node: String,
    upstream: String,
    http: reqwest::Client,
    creates: Arc<Mutex<Vec<CreateAttempt>>>,
}

/// A per-node proxy in front of the double; Job creates go to `creates`.
pub struct Proxy {
    pub url: String,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start_proxy(
    node: &str,
    ip: &str,
    double: &KubeDouble,
    creates: Arc<Mutex<Vec<CreateAttempt>>>,
) -> anyhow::Result<Proxy> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .build()?;
    let state = ProxyState {
        node: node.to_string(),
        upstream: double.url(),
        http,
        creates,
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind((ip, 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Proxy { url, task })
}

async fn forward(
    State(s): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = now_ms();
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = s
        .http
        .request(method.clone(), format!("{}{pq}", s.upstream));
    for name in ["content-type", "accept"] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v.clone());
        }
    }
    let is_create = method == Method::POST && uri.path().ends_with("/jobs");
    let sent = body.clone();
    let resp = match req.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::from(e.to_string()))
                .expect("static response");
        }
    };
    let status = resp.status();
    if is_create {
        let job: Value = serde_json::from_slice(&sent).unwrap_or(Value::Null);
        let ann = &job["metadata"]["annotations"];
        let s_ = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let attempt = CreateAttempt {
            node: s.node.clone(),
            unix_ms: started,
            status: status.as_u16(),
            job_name: s_(&job["metadata"]["name"]),
            remediation_id: s_(&ann[ANN_REMEDIATION]),
            leader: s_(&ann[ANN_LEADER]),
            log_index: s_(&ann[ANN_LOG_INDEX]),
        };
        s.creates.lock().expect("creates lock").push(attempt);
    }
    let mut builder = Response::builder().status(status.as_u16());
    if let Some(ct) = resp.headers().get("content-type") {
        builder = builder.header("content-type", ct.as_bytes());
    }
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    builder
        .body(Body::from_stream(stream))
        .expect("proxied response")
}
