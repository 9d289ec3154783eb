//! Kubernetes mode end to end: a real `openfero` process with a kubeconfig pointing at the
//! Kubernetes API test double (real protocol, real kube-rs client inside openfero).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use openfero::alerts::fingerprint_of;
use openfero::ids::{EventId, Fingerprint, RemediationId};
use openfero::operarios::Operarius;
use openfero::remediation::job_name;
use openfero_kube_double::{Config, Fault, KubeDouble};
use serde_json::{json, Value};

use crate::support::{client, eventually, free_port, OpenferoProcess};

pub(crate) const NS: &str = "ops";
const WAIT: Duration = Duration::from_secs(30);

pub(crate) struct Env {
    pub(crate) double: KubeDouble,
    pub(crate) kube: kube::Client,
    pub(crate) http: reqwest::Client,
    pub(crate) node: OpenferoProcess,
    _tmp: tempfile::TempDir,
}

/// A fresh API double with the Operarius CRD, its kubeconfig written under `dir`, and a client.
async fn start_double(dir: &std::path::Path) -> (KubeDouble, kube::Client, std::path::PathBuf) {
    let double = KubeDouble::start_with(Config {
        bookmark_interval: Duration::from_millis(200),
        ..Config::default()
    })
    .await
    .expect("start the kubernetes double");
    let crd = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("charts/openfero/crds/operariuses.yaml"),
    )
    .expect("crd file");
    double
        .load_crd_yaml(&crd)
        .expect("register the operarius crd");
    let kubeconfig = dir.join("kubeconfig");
    double.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let kc = Kubeconfig::from_yaml(&double.kubeconfig_yaml()).expect("parse kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    let kube = kube::Client::try_from(config).expect("client");
    (double, kube, kubeconfig)
}

pub(crate) async fn env() -> Env {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (double, kube, kubeconfig) = start_double(tmp.path()).await;
    let node = OpenferoProcess::start(
        &tmp.path().join("data"),
        &tmp.path().join("unused-operarios"),
        free_port(),
        &[
            "--kubeconfig",
            kubeconfig.to_str().expect("utf8 path"),
            "--watch-namespaces",
            NS,
        ],
    );
    let http = client();
    node.wait_ready(&http).await;
    Env {
        double,
        kube,
        http,
        node,
        _tmp: tmp,
    }
}

/// An OpenFero 0.18-style manifest (with an openfero `matchers` extension when asked).
pub(crate) fn operarius(name: &str, alertname: &str, status: &str, extra_spec: &str) -> Operarius {
    let yaml = format!(
        r#"
apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata:
  name: {name}
  namespace: {NS}
spec:
  alertSelector:
    alertname: {alertname}
    status: {status}
  priority: 10
  {extra_spec}
  jobTemplate:
    metadata:
      labels: {{team: sre}}
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: fix
              image: bitnami/kubectl:1.31
              command: ["kubectl", "delete", "pod", "{{{{ .Labels.pod }}}}", "-n", "{{{{ .Labels.namespace }}}}"]
              env:
                - name: SUMMARY
                  value: "{{{{ .Annotations.summary }}}}"
"#
    );
    serde_yaml::from_str(&yaml).expect("operarius yaml")
}

pub(crate) async fn apply(env: &Env, op: &Operarius) {
    let api: Api<Operarius> = Api::namespaced(env.kube.clone(), NS);
    api.create(&PostParams::default(), op)
        .await
        .expect("create operarius");
}

pub(crate) async fn wait_catalog(env: &Env, key: &str) {
    let url = env.node.url("/api/operarios");
    eventually(&format!("operarius {key} in the catalog"), WAIT, || {
        let http = env.http.clone();
        let url = url.clone();
        let key = key.to_string();
        async move {
            let list: Vec<Value> = http.get(&url).send().await.ok()?.json().await.ok()?;
            list.iter()
                .any(|o| {
                    format!(
                        "{}/{}",
                        o["namespace"].as_str().unwrap_or(""),
                        o["name"].as_str().unwrap_or("")
                    ) == key
                })
                .then_some(())
        }
    })
    .await;
}

pub(crate) fn alert_body(alertname: &str, pod: &str, status: &str) -> Value {
    json!({
        "version": "4", "groupKey": "g", "status": status, "receiver": "openfero",
        "alerts": [{
            "status": status,
            "labels": {"alertname": alertname, "pod": pod, "namespace": "shop"},
            "annotations": {"summary": format!("{pod} is crash looping")},
            "startsAt": "2026-01-01T00:00:00Z"
        }]
    })
}

/// The remediation id and Job name openfero will use for this alert.
pub(crate) fn expected_ids(
    alertname: &str,
    pod: &str,
    status: &str,
    op_name: &str,
) -> (RemediationId, String) {
    let labels: BTreeMap<String, String> = [
        ("alertname", alertname),
        ("pod", pod),
        ("namespace", "shop"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let fp: Fingerprint = fingerprint_of(&labels);
    let event = EventId::derive(&fp, "2026-01-01T00:00:00Z", status);
    let id = RemediationId::derive(&event, &format!("{NS}/{op_name}"));
    let name = job_name(op_name, &id);
    (id, name)
}

pub(crate) async fn post(env: &Env, body: &Value) -> Value {
    let r = env
        .http
        .post(env.node.url("/alerts"))
        .json(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

pub(crate) async fn remediation_state(env: &Env, id: &RemediationId, want: &str) -> Value {
    let url = env.node.url(&format!("/api/remediations/{id}"));
    eventually(&format!("remediation {id} {want}"), WAIT, || {
        let http = env.http.clone();
        let url = url.clone();
        let want = want.to_string();
        async move {
            let v: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            (v["state"] == want.as_str()).then_some(v)
        }
    })
    .await
}

pub(crate) async fn job(env: &Env, name: &str) -> Job {
    let api: Api<Job> = Api::namespaced(env.kube.clone(), NS);
    let name = name.to_string();
    eventually(&format!("job {name}"), WAIT, || {
        let api = api.clone();
        let name = name.clone();
        async move { api.get_opt(&name).await.ok().flatten() }
    })
    .await
}

pub(crate) async fn events_with_reason(env: &Env, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(env.kube.clone(), NS);
    let reason = reason.to_string();
    eventually(&format!("an event {reason}"), WAIT, || {
        let api = api.clone();
        let reason = reason.clone();
        async move {
            let list = api.list(&ListParams::default()).await.ok()?;
            let hits: Vec<Event> = list
                .items
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some(reason.as_str()))
                .collect();
            (!hits.is_empty()).then_some(hits)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_creates_exactly_one_job_and_its_outcome_reaches_status_and_events() {
    let env = env().await;
    apply(
        &env,
        &operarius("restart-pod", "KubePodCrashLooping", "firing", ""),
    )
    .await;
    wait_catalog(&env, "ops/restart-pod").await;

    let body = alert_body("KubePodCrashLooping", "web-1", "firing");
    let (id, name) = expected_ids("KubePodCrashLooping", "web-1", "firing", "restart-pod");
    let answer = post(&env, &body).await;
    assert_eq!(answer["alerts"][0]["remediations"][0]["id"], id.as_str());

    let job = job(&env, &name).await;
    let meta = &job.metadata;
    let labels = meta.labels.as_ref().expect("labels");
    assert_eq!(labels["openfero.io/managed-by"], "openfero");
    assert_eq!(labels["openfero.io/operarius"], "restart-pod");
    assert_eq!(labels["openfero.io/alert"], "KubePodCrashLooping");
    assert_eq!(labels["openfero.io/status"], "firing");
    assert_eq!(labels["openfero.io/remediation"], id.as_str());
    assert_eq!(labels["team"], "sre");
    // OpenFero's label, from the notification's groupKey (`alert_body` sends "g"); the hash
    // itself is checked against OpenFero's in the unit tests of `kubernetes::labels`.
    assert_eq!(
        labels["openfero.io/group-key"],
        openfero::kubernetes::labels::group_key_value("g")
    );
    assert!(labels["openfero.io/group-key"].starts_with('g'));
    let ann = meta.annotations.as_ref().expect("annotations");
    assert_eq!(ann["openfero.io/remediation-id"], id.as_str());
    assert!(ann.contains_key("openfero.io/leader") && ann.contains_key("openfero.io/log-index"));
    let spec = job.spec.as_ref().expect("spec");
    assert_eq!(spec.ttl_seconds_after_finished, Some(3600));
    assert_eq!(spec.active_deadline_seconds, Some(600));
    let c = &spec.template.spec.as_ref().expect("pod spec").containers[0];
    assert_eq!(
        c.command.as_ref().expect("command"),
        &vec!["kubectl", "delete", "pod", "web-1", "-n", "shop"]
    );
    let env_vars: BTreeMap<String, String> = c
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(env_vars["SUMMARY"], "web-1 is crash looping");
    assert_eq!(env_vars["OPENFERO_POD"], "web-1");
    assert_eq!(env_vars["OPENFERO_ALERTNAME"], "KubePodCrashLooping");

    // Re-delivery creates nothing new.
    let again = post(&env, &body).await;
    assert_eq!(again["duplicates"], 1);
    assert_eq!(
        env.double.count_requests("POST", "/jobs"),
        1,
        "one create attempt"
    );

    // Concurrent delivery of another alert (as an Alertmanager HA pair does): one Job.
    let twin = alert_body("KubePodCrashLooping", "web-2", "firing");
    let (a, b) = tokio::join!(post(&env, &twin), post(&env, &twin));
    assert_eq!(
        a["alerts"][0]["remediations"][0]["id"],
        b["alerts"][0]["remediations"][0]["id"]
    );
    let (twin_id, twin_name) =
        expected_ids("KubePodCrashLooping", "web-2", "firing", "restart-pod");
    crate::kubernetes::job(&env, &twin_name).await;
    let jobs: Api<Job> = Api::namespaced(env.kube.clone(), NS);
    let listed = jobs
        .list(&ListParams::default().labels(&format!("openfero.io/remediation={twin_id}")))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    assert_eq!(
        env.double.count_requests("POST", "/jobs"),
        2,
        "one create per remediation"
    );

    env.double.complete_job(NS, &name).expect("complete");
    let done = remediation_state(&env, &id, "succeeded").await;
    assert_eq!(done["jobName"], name.as_str());
    // The remediation page shows the Job's own steps, as the Job watch saw them.
    let page = env
        .http
        .get(env.node.url(&format!("/remediations/{id}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    for step in [
        "started by the leader",
        "Job created",
        "running",
        "succeeded",
    ] {
        let at = page
            .find(&format!("<strong>{step}</strong>"))
            .unwrap_or_else(|| panic!("step {step} in {page}"));
        let item = &page[at..page[at..].find("</li>").map_or(page.len(), |e| at + e)];
        assert!(
            item.contains("<time datetime="),
            "{step} has a time: {item}"
        );
    }
    env.double.complete_job(NS, &twin_name).expect("complete");
    remediation_state(&env, &twin_id, "succeeded").await;
    events_with_reason(&env, "JobCreated").await;
    let ops: Api<Operarius> = Api::namespaced(env.kube.clone(), NS);
    let status = eventually("operarius status patched", WAIT, || {
        let ops = ops.clone();
        async move {
            let op = ops.get("restart-pod").await.ok()?;
            let st = op.status?;
            (st.last_execution_status.as_deref() == Some("succeeded")).then_some(st)
        }
    })
    .await;
    assert_eq!(status.execution_count, Some(2));
    assert_eq!(
        status.last_executed_job_name.as_deref(),
        Some(twin_name.as_str())
    );
    assert!(
        env.double
            .count_requests("PATCH", "/operariuses/restart-pod/status")
            >= 1,
        "status written with patches on /status"
    );
    assert_eq!(
        env.double.count_requests("PUT", "/operariuses/"),
        0,
        "never a full update"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_job_records_the_pod_log_tail_and_a_resolved_alert_runs_its_operarius() {
    let env = env().await;
    apply(
        &env,
        &operarius("restart-pod", "KubePodCrashLooping", "firing", ""),
    )
    .await;
    apply(
        &env,
        &operarius("on-recovery", "KubePodCrashLooping", "resolved", ""),
    )
    .await;
    wait_catalog(&env, "ops/on-recovery").await;
    wait_catalog(&env, "ops/restart-pod").await;

    let (id, name) = expected_ids("KubePodCrashLooping", "api-7", "firing", "restart-pod");
    post(&env, &alert_body("KubePodCrashLooping", "api-7", "firing")).await;
    job(&env, &name).await;
    let pods = env.double.job_pods(NS, &name);
    assert_eq!(pods.len(), 1, "{pods:?}");
    env.double
        .set_pod_log(NS, &pods[0], "error: pods \"api-7\" is forbidden\n");
    env.double
        .fail_job(NS, &name, "BackoffLimitExceeded")
        .expect("fail");
    let failed = remediation_state(&env, &id, "failed").await;
    assert!(
        failed["outputTail"]
            .as_str()
            .unwrap_or("")
            .contains("is forbidden"),
        "{failed}"
    );
    assert!(
        failed["reason"]
            .as_str()
            .unwrap_or("")
            .contains("BackoffLimitExceeded"),
        "{failed}"
    );
    events_with_reason(&env, "JobFailed").await;

    let (rid, rname) = expected_ids("KubePodCrashLooping", "api-7", "resolved", "on-recovery");
    post(
        &env,
        &alert_body("KubePodCrashLooping", "api-7", "resolved"),
    )
    .await;
    let rjob = job(&env, &rname).await;
    assert_eq!(
        rjob.metadata.labels.as_ref().expect("labels")["openfero.io/status"],
        "resolved"
    );
    env.double.complete_job(NS, &rname).expect("complete");
    remediation_state(&env, &rid, "succeeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_job_is_adopted_only_when_it_belongs_to_the_remediation() {
    let env = env().await;
    apply(
        &env,
        &operarius("restart-pod", "KubePodCrashLooping", "firing", ""),
    )
    .await;
    wait_catalog(&env, "ops/restart-pod").await;
    let jobs: Api<Job> = Api::namespaced(env.kube.clone(), NS);
    let pre = |name: &str, owner: &str| -> Job {
        serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": NS,
                         "labels": {"openfero.io/managed-by": "openfero"},
                         "annotations": {"openfero.io/remediation-id": owner}},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "busybox"}]}}}
        }))
        .expect("job")
    };
    // Left by an earlier leader for this very remediation: success, no second Job.
    let (id, name) = expected_ids("KubePodCrashLooping", "db-1", "firing", "restart-pod");
    jobs.create(&PostParams::default(), &pre(&name, id.as_str()))
        .await
        .expect("pre-create");
    post(&env, &alert_body("KubePodCrashLooping", "db-1", "firing")).await;
    remediation_state(&env, &id, "running").await;
    env.double.complete_job(NS, &name).expect("complete");
    remediation_state(&env, &id, "succeeded").await;

    // A Job of the same name that belongs to something else: a recorded error.
    let (id2, name2) = expected_ids("KubePodCrashLooping", "db-2", "firing", "restart-pod");
    jobs.create(&PostParams::default(), &pre(&name2, "someone-else"))
        .await
        .expect("pre-create");
    post(&env, &alert_body("KubePodCrashLooping", "db-2", "firing")).await;
    let failed = remediation_state(&env, &id2, "failed").await;
    assert!(
        failed["reason"]
            .as_str()
            .unwrap_or("")
            .contains("another remediation"),
        "{failed}"
    );

    // Forbidden by the API server: failed with what Kubernetes said.
    env.double.inject(
        Fault::status(403)
            .method("POST")
            .path_contains("/jobs")
            .times(1),
    );
    let (id3, _) = expected_ids("KubePodCrashLooping", "db-3", "firing", "restart-pod");
    post(&env, &alert_body("KubePodCrashLooping", "db-3", "firing")).await;
    let forbidden = remediation_state(&env, &id3, "failed").await;
    assert!(
        forbidden["reason"].as_str().unwrap_or("").contains("403"),
        "{forbidden}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_operarios_are_reported_and_watches_survive_drops_and_expiry() {
    let env = env().await;
    // An invalid object next to a valid one: the valid one still loads.
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
        env.kube.clone(),
        NS,
        &kube::api::ApiResource::erase::<Operarius>(&()),
    );
    let bad: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "openfero.io/v1alpha1", "kind": "Operarius",
        "metadata": {"name": "broken", "namespace": NS},
        "spec": {"alertSelector": {"alertname": "X", "status": "sideways"},
                 "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}
    }))
    .expect("object");
    api.create(&PostParams::default(), &bad)
        .await
        .expect("create invalid");
    apply(&env, &operarius("good", "Good", "firing", "")).await;
    wait_catalog(&env, "ops/good").await;
    let invalid = events_with_reason(&env, "InvalidOperarius").await;
    let note = invalid[0].note.clone().unwrap_or_default();
    assert!(note.contains("sideways"), "{note}");

    // The watches reconnect after being dropped and after their history expired.
    env.double.drop_watches();
    apply(&env, &operarius("after-drop", "AfterDrop", "firing", "")).await;
    wait_catalog(&env, "ops/after-drop").await;
    env.double.expire_watches();
    env.double.drop_watches();
    apply(
        &env,
        &operarius("after-expiry", "AfterExpiry", "firing", ""),
    )
    .await;
    wait_catalog(&env, "ops/after-expiry").await;
    let (id, name) = expected_ids("AfterExpiry", "p", "firing", "after-expiry");
    post(&env, &alert_body("AfterExpiry", "p", "firing")).await;
    job(&env, &name).await;
    env.double.drop_watches();
    env.double.complete_job(NS, &name).expect("complete");
    remediation_state(&env, &id, "succeeded").await;
}

/// Three nodes share one API double; the leader is SIGKILLed while its Job create is in flight
/// (held by an injected delay): the new leader makes the same Job exist — exactly one — and the
/// remediation reaches its final state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_during_job_creation_gives_exactly_one_job() {
    use crate::cluster_support::{ClusterOptions, TestCluster};

    let kc_dir = tempfile::tempdir().expect("tempdir");
    let (double, kube, kubeconfig) = start_double(kc_dir.path()).await;
    let ops: Api<Operarius> = Api::namespaced(kube.clone(), NS);
    ops.create(
        &PostParams::default(),
        &operarius("restart-pod", "KubePodCrashLooping", "firing", ""),
    )
    .await
    .expect("operarius");

    let kubeconfig_arg = kubeconfig.to_str().expect("utf8").to_string();
    let mut c = TestCluster::new(
        &["n1", "n2", "n3"],
        ClusterOptions::default().with(&[
            "--kubeconfig",
            &kubeconfig_arg,
            "--watch-namespaces",
            NS,
        ]),
    );
    c.start_all();
    let all = c.running();
    let formed = c.wait_formed(&all, Duration::from_secs(30)).await;
    let leader = formed.leader_name();
    let follower = all
        .iter()
        .find(|n| **n != leader)
        .expect("a follower")
        .clone();

    // Every node has the operarius in its replicated catalog.
    let url = c.url(&follower, "/api/operarios");
    eventually("operarius replicated", WAIT, || {
        let http = c.http.clone();
        let url = url.clone();
        async move {
            let list: Vec<Value> = http.get(&url).send().await.ok()?.json().await.ok()?;
            (!list.is_empty()).then_some(())
        }
    })
    .await;

    // Hold the leader's first Job create for a while, and kill it meanwhile.
    double.inject(
        Fault::delay(2_000)
            .method("POST")
            .path_contains("/jobs")
            .times(1),
    );
    let (id, name) = expected_ids("KubePodCrashLooping", "web-9", "firing", "restart-pod");
    let r = c
        .http
        .post(c.url(&follower, "/alerts"))
        .json(&alert_body("KubePodCrashLooping", "web-9", "firing"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let rem_url = c.url(&follower, &format!("/api/remediations/{id}"));
    eventually("the intent is committed", WAIT, || {
        let http = c.http.clone();
        let url = rem_url.clone();
        async move {
            let v: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            (v["state"] == "running").then_some(())
        }
    })
    .await;
    c.kill(&leader);

    let jobs: Api<Job> = Api::namespaced(kube.clone(), NS);
    let job = eventually("the job exists", Duration::from_secs(30), || {
        let jobs = jobs.clone();
        let name = name.clone();
        async move { jobs.get_opt(&name).await.ok().flatten() }
    })
    .await;
    assert_eq!(
        job.metadata.annotations.as_ref().expect("annotations")["openfero.io/remediation-id"],
        id.as_str()
    );
    double.complete_job(NS, &name).expect("complete");
    let done = eventually(
        "the remediation succeeds on a survivor",
        Duration::from_secs(30),
        || {
            let http = c.http.clone();
            let url = rem_url.clone();
            async move {
                let v: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
                (v["state"] == "succeeded").then_some(v)
            }
        },
    )
    .await;
    assert_eq!(done["jobName"], name.as_str());
    let all_jobs = jobs
        .list(&ListParams::default().labels(&format!("openfero.io/remediation={id}")))
        .await
        .expect("list");
    assert_eq!(
        all_jobs.items.len(),
        1,
        "exactly one Job for the remediation"
    );
    let creates = double
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/jobs") && r.status == 201)
        .count();
    assert_eq!(creates, 1, "one successful create");
}

/// A second firing of the same alert (same fingerprint, a new `startsAt`) within the
/// operarius' deduplication ttl is recorded as skipped, creates no Job, and is announced with a
/// `Skipped` Event on the Operarius that names the cooldown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_within_the_cooldown_is_skipped_with_an_event_and_no_job() {
    let env = env().await;
    apply(
        &env,
        &operarius(
            "cooled",
            "DiskFull",
            "firing",
            "deduplication: {enabled: true, ttl: 3600}",
        ),
    )
    .await;
    wait_catalog(&env, "ops/cooled").await;

    let first = alert_body("DiskFull", "db-1", "firing");
    let (id, name) = expected_ids("DiskFull", "db-1", "firing", "cooled");
    post(&env, &first).await;
    job(&env, &name).await;
    env.double.complete_job(NS, &name).expect("complete");
    remediation_state(&env, &id, "succeeded").await;

    let mut again = first.clone();
    again["alerts"][0]["startsAt"] = json!("2026-01-01T01:00:00Z");
    let answer = post(&env, &again).await;
    let second = &answer["alerts"][0]["remediations"][0];
    assert_eq!(second["state"], "skipped", "{answer}");
    assert_ne!(second["id"], id.as_str(), "a new event, a new remediation");

    let skipped = events_with_reason(&env, "Skipped").await;
    let note = skipped[0].note.clone().unwrap_or_default();
    assert!(note.contains("cooldown"), "{note}");
    assert_eq!(
        skipped[0]
            .regarding
            .as_ref()
            .and_then(|r| r.name.as_deref()),
        Some("cooled")
    );
    assert_eq!(
        env.double.count_requests("POST", "/jobs"),
        1,
        "no Job for the skipped remediation"
    );
}
