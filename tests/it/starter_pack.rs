//! The starter pack in `operarios/<alert>/` (issue 15): for each kube-prometheus-stack alert, its
//! Operarius end to end in Kubernetes mode (a real openfero process against the API double:
//! the pack's manifest applied, the pack's `alert.json` posted, the Job it creates inspected),
//! its RBAC against what its script really runs, and the script itself, run by `sh` with a fake
//! `kubectl` on `PATH` that records every call and answers `get` with a canned object (and, on
//! demand, `-- --ignored`, through a real kubectl against the API double).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, PodSpec, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::Api;
use openfero::alerts::parse_webhook;
use openfero::ids::{EventId, RemediationId};
use openfero::kubernetes::labels;
use openfero::operarios::{label_env_name, load_paths, render, select, AlertContext, Operarius};
use openfero::remediation::job_name;
use serde_json::{json, Value};

use crate::kubernetes::{apply, env, job, post, wait_catalog, NS};

/// One remediation of the pack.
struct Pack {
    /// Folder under `operarios/`: the alert name in kebab case.
    dir: &'static str,
    /// `metadata.name` of its Operarius.
    name: &'static str,
    alertname: &'static str,
    /// The alert labels its script reads (as `OPENFERO_<LABEL>`).
    reads: &'static [&'static str],
    /// The labels its budgets and concurrency count by.
    target: &'static [&'static str],
    /// Whether each run waits for an operator's approval.
    approval: bool,
    /// Everything its RBAC grants: (API group, resource, verb).
    grants: &'static [(&'static str, &'static str, &'static str)],
}

static PACKS: [Pack; 5] = [
    Pack {
        dir: "kube-pod-crash-looping",
        name: "delete-crashlooping-pod",
        alertname: "KubePodCrashLooping",
        reads: &["namespace", "pod"],
        target: &["namespace", "container"],
        approval: false,
        grants: &[("", "pods", "get"), ("", "pods", "delete")],
    },
    Pack {
        dir: "kube-deployment-replicas-mismatch",
        name: "restart-mismatched-deployment",
        alertname: "KubeDeploymentReplicasMismatch",
        reads: &["namespace", "deployment"],
        target: &["namespace", "deployment"],
        approval: true,
        grants: &[
            ("apps", "deployments", "get"),
            ("apps", "deployments", "patch"),
        ],
    },
    Pack {
        dir: "kube-hpa-maxed-out",
        name: "raise-hpa-max-replicas",
        alertname: "KubeHpaMaxedOut",
        reads: &["namespace", "horizontalpodautoscaler"],
        target: &["namespace", "horizontalpodautoscaler"],
        approval: false,
        grants: &[
            ("autoscaling", "horizontalpodautoscalers", "get"),
            ("autoscaling", "horizontalpodautoscalers", "patch"),
        ],
    },
    Pack {
        dir: "kube-job-failed",
        name: "delete-failed-job",
        alertname: "KubeJobFailed",
        reads: &["namespace", "job_name"],
        target: &["namespace"],
        approval: false,
        grants: &[("batch", "jobs", "get"), ("batch", "jobs", "delete")],
    },
    Pack {
        dir: "kube-daemon-set-rollout-stuck",
        name: "restart-stuck-daemonset",
        alertname: "KubeDaemonSetRolloutStuck",
        reads: &["namespace", "daemonset"],
        target: &["namespace", "daemonset"],
        approval: true,
        grants: &[
            ("apps", "daemonsets", "get"),
            ("apps", "daemonsets", "patch"),
        ],
    },
];

fn pack(dir: &str) -> &'static Pack {
    PACKS
        .iter()
        .find(|p| p.dir == dir)
        .expect("a pack of that name")
}

fn operarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("operarios")
}

fn read(p: &Pack, file: &str) -> String {
    let path = operarios_dir().join(p.dir).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn operarius(p: &Pack) -> Operarius {
    serde_yaml::from_str(&read(p, "operarius.yaml"))
        .unwrap_or_else(|e| panic!("{}/operarius.yaml: {e}", p.dir))
}

fn pod_spec(op: &Operarius) -> &PodSpec {
    op.spec
        .job_template
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a pod spec")
}

fn container(op: &Operarius) -> &Container {
    &pod_spec(op).containers[0]
}

/// The script: the one argument of `/bin/sh -c`.
fn script(op: &Operarius) -> &str {
    let c = container(op);
    assert_eq!(
        c.command.as_deref(),
        Some(&["/bin/sh".to_owned(), "-c".to_owned()][..])
    );
    match c.args.as_deref() {
        Some([one]) => one,
        other => panic!("one script argument expected, got {other:?}"),
    }
}

fn alert_body(p: &Pack) -> Value {
    serde_json::from_str(&read(p, "alert.json"))
        .unwrap_or_else(|e| panic!("{}/alert.json: {e}", p.dir))
}

/// The first alert of a webhook as the selector and the templates see it (as apply builds it).
fn alert_context(body: &Value) -> AlertContext {
    let hook = parse_webhook(body.to_string().as_bytes(), 0).expect("a valid webhook");
    let a = &hook.alerts[0];
    AlertContext {
        status: a.status.as_str().to_owned(),
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        starts_at: a.starts_at.clone(),
        ends_at: a.ends_at.clone(),
        generator_url: a.generator_url.clone(),
        fingerprint: a.fingerprint().0,
        group_key: hook.group_key.clone(),
        receiver: hook.receiver.clone(),
        external_url: hook.external_url.clone(),
        common_labels: hook.common_labels.clone(),
        group_labels: hook.group_labels.clone(),
        common_annotations: hook.common_annotations.clone(),
    }
}

/// The remediation id and Job name openfero must use for the pack's alert, derived here from
/// the alert itself (fingerprint, canonical `startsAt`, status) and the operarius key.
fn expected_ids(p: &Pack, body: &Value) -> (RemediationId, String) {
    let hook = parse_webhook(body.to_string().as_bytes(), 0).expect("a valid webhook");
    let a = &hook.alerts[0];
    let event = EventId::derive(&a.fingerprint(), &a.starts_at, a.status.as_str());
    let id = RemediationId::derive(&event, &format!("{NS}/{}", p.name));
    let name = job_name(p.name, &id);
    (id, name)
}

/// The documents of a pack's `rbac.yaml`, each parsed into its k8s-openapi type.
struct Rbac {
    account: ServiceAccount,
    role: ClusterRole,
    binding: RoleBinding,
}

fn rbac(p: &Pack) -> Rbac {
    let text = read(p, "rbac.yaml");
    let (mut account, mut role, mut binding) = (None, None, None);
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(doc).expect("a yaml document");
        let kind = value["kind"].as_str().unwrap_or_default().to_owned();
        let what = format!("{}/rbac.yaml {kind}", p.dir);
        match kind.as_str() {
            "ServiceAccount" => {
                assert!(account.is_none(), "{what}: one only");
                account = Some(serde_json::from_value(value).expect(&what));
            }
            "ClusterRole" => {
                assert!(role.is_none(), "{what}: one only");
                role = Some(serde_json::from_value(value).expect(&what));
            }
            "RoleBinding" => {
                assert!(binding.is_none(), "{what}: one only");
                binding = Some(serde_json::from_value(value).expect(&what));
            }
            other => panic!("{}/rbac.yaml: unexpected kind `{other}`", p.dir),
        }
    }
    Rbac {
        account: account.expect("a ServiceAccount"),
        role: role.expect("a ClusterRole"),
        binding: binding.expect("a RoleBinding"),
    }
}

type Grant = (String, String, String);

/// What the ClusterRole grants, one (group, resource, verb) per combination; `*` anywhere,
/// resource names or non-resource URLs fail the test.
fn granted(p: &Pack, role: &ClusterRole) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for rule in role.rules.iter().flatten() {
        assert!(
            rule.resource_names.is_none() && rule.non_resource_urls.is_none(),
            "{}: {rule:?}",
            p.dir
        );
        let groups = rule.api_groups.clone().unwrap_or_default();
        let resources = rule.resources.clone().unwrap_or_default();
        for text in groups.iter().chain(&resources).chain(&rule.verbs) {
            assert!(!text.contains('*'), "{}: a wildcard in {rule:?}", p.dir);
        }
        for g in &groups {
            for r in &resources {
                for v in &rule.verbs {
                    out.insert((g.clone(), r.clone(), v.clone()));
                }
            }
        }
    }
    out
}

fn declared(p: &Pack) -> BTreeSet<Grant> {
    p.grants
        .iter()
        .map(|(g, r, v)| ((*g).to_owned(), (*r).to_owned(), (*v).to_owned()))
        .collect()
}

/// The permissions one recorded kubectl call needs. A call this does not know fails the test:
/// every kubectl command a script gains must be reviewed here against its RBAC.
fn needs(call: &[String]) -> Vec<Grant> {
    let mut args: Vec<&str> = Vec::new();
    let mut it = call.iter().map(String::as_str);
    while let Some(a) = it.next() {
        match a {
            "-n" | "--namespace" => {
                it.next();
            }
            a if a.starts_with("--request-timeout=") => {}
            a => args.push(a),
        }
    }
    let resource = |word: &str| -> (&'static str, &'static str) {
        match word.split('/').next().unwrap_or_default() {
            "pod" | "pods" => ("", "pods"),
            "deployment" | "deployments" => ("apps", "deployments"),
            "daemonset" | "daemonsets" => ("apps", "daemonsets"),
            "horizontalpodautoscaler" | "hpa" => ("autoscaling", "horizontalpodautoscalers"),
            "job" | "jobs" => ("batch", "jobs"),
            other => panic!("kubectl call on an unknown resource `{other}`: {call:?}"),
        }
    };
    let grant = |(g, r): (&str, &str), v: &str| (g.to_owned(), r.to_owned(), v.to_owned());
    match args.as_slice() {
        [verb @ ("get" | "delete" | "patch"), what, ..] => vec![grant(resource(what), verb)],
        // `kubectl rollout restart` reads the object, then patches its pod template.
        ["rollout", "restart", what, ..] => {
            vec![grant(resource(what), "get"), grant(resource(what), "patch")]
        }
        _ => panic!("an unknown kubectl command: {call:?}"),
    }
}

/// A fake `kubectl` in a folder of its own: it appends its arguments to `$FAKE_KUBECTL_LOG`
/// (tab-separated, a line per call), answers `get` with `$FAKE_KUBECTL_GET`, and fails like an
/// API server's 403 when its verb is `$FAKE_KUBECTL_FORBID`.
struct FakeKubectl {
    dir: tempfile::TempDir,
}

const FAKE_KUBECTL: &str = r#"#!/bin/sh
for a in "$@"; do printf '%s\t' "$a"; done >> "$FAKE_KUBECTL_LOG"
echo >> "$FAKE_KUBECTL_LOG"
case " $* " in
  *" ${FAKE_KUBECTL_FORBID:-none} "*)
    echo 'Error from server (Forbidden): the server does not allow this' >&2
    exit 1 ;;
  *" get "*) printf '%s' "${FAKE_KUBECTL_GET:-}" ;;
esac
"#;

/// Linux's "text file busy": the script was still open for writing in a process forked
/// meanwhile by another test thread (it closes it when it execs).
const ETXTBSY: i32 = 26;

impl FakeKubectl {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let path = bin.join("kubectl");
        std::fs::write(&path, FAKE_KUBECTL).expect("write the fake kubectl");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // Once one exec succeeds no writer is left, so the scripts' own execs cannot fail so.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Command::new(&path)
                .env("FAKE_KUBECTL_LOG", "/dev/null")
                .output()
            {
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(ETXTBSY) => {
                    assert!(std::time::Instant::now() < deadline, "{e}");
                    std::thread::yield_now();
                }
                Err(e) => panic!("run the fake kubectl: {e}"),
            }
        }
        Self { dir }
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }
}

/// One run of a pack's script.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    /// Every kubectl call, its arguments in order.
    calls: Vec<Vec<String>>,
}

/// The command the Job's container would run for `alert`, rendered as openfero renders it,
/// with only the rendered env and `env`.
fn script_command(p: &Pack, alert: &AlertContext, env: &[(&str, &str)]) -> Command {
    // The definition itself, whether or not its matchers take this alert: the script is what
    // is under test here (selection is tested on its own).
    let report = load_paths(&[operarios_dir().join(p.dir)], "openfero");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.operarios.len(), 1, "{}", p.dir);
    let rendered = render(&report.operarios[0], alert).expect("renders");
    let mut cmd = Command::new(&rendered.command[0]);
    cmd.args(&rendered.command[1..])
        .args(&rendered.args)
        .env_clear()
        .envs(rendered.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(env.iter().copied());
    cmd
}

/// The variable the kubelet sets in every pod (the scripts refuse to run without it).
const IN_POD: (&str, &str) = ("KUBERNETES_SERVICE_HOST", "10.96.0.1");

/// Runs the pack's script for `alert` with the fake kubectl answering `get` (and refusing
/// `forbid`), inside a pod or not.
fn run_script(
    fake: &FakeKubectl,
    p: &Pack,
    alert: &AlertContext,
    get: &str,
    forbid: Option<&str>,
    in_pod: bool,
) -> Run {
    let log = fake.dir.path().join(format!("calls-{}.log", next_log_id()));
    let path = format!("{}:/usr/bin:/bin", fake.bin().display());
    let log_text = log.to_str().expect("utf-8 path");
    let mut env = vec![
        ("PATH", path.as_str()),
        ("FAKE_KUBECTL_LOG", log_text),
        ("FAKE_KUBECTL_GET", get),
    ];
    env.extend(forbid.map(|verb| ("FAKE_KUBECTL_FORBID", verb)));
    env.extend(in_pod.then_some(IN_POD));
    let out = script_command(p, alert, &env).output().expect("sh runs");
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            l.strip_suffix('\t')
                .unwrap_or(l)
                .split('\t')
                .map(str::to_owned)
                .collect()
        })
        .collect();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
        calls,
    }
}

fn next_log_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The pack's alert with `label` set to `value` (in the alert and the common labels), its
/// fingerprint left for openfero to compute, and a later `startsAt`: another alert event.
fn with_label(p: &Pack, label: &str, value: &str) -> Value {
    let mut body = alert_body(p);
    body["alerts"][0]["labels"][label] = json!(value);
    body["commonLabels"][label] = json!(value);
    body["alerts"][0]
        .as_object_mut()
        .expect("an alert object")
        .remove("fingerprint");
    body["alerts"][0]["startsAt"] = json!("2026-11-26T11:00:00Z");
    body
}

/// The arguments of a call after kubectl's global flags (`--request-timeout`, `-n <ns>`),
/// checking those are there: every call is bounded and namespaced to the alert's namespace.
fn after_globals<'a>(call: &'a [String], ns: &str) -> &'a [String] {
    assert!(
        call.len() > 3
            && call[0].starts_with("--request-timeout=")
            && call[1] == "-n"
            && call[2] == ns,
        "{call:?}"
    );
    &call[3..]
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// A scenario: what `kubectl get` answers, the one call the script then makes (none: it only
/// reports), and a phrase of what it says. Every scenario exits 0.
struct Case {
    get: &'static str,
    then: Option<&'static [&'static str]>,
    says: &'static str,
}

/// Runs the scenarios of a pack: the first call is always the `get` of the alert's object; the
/// script makes exactly the expected further call or none. Returns every call made.
fn check_cases(fake: &FakeKubectl, p: &Pack, kind: &str, cases: &[Case]) -> Vec<Vec<String>> {
    let alert = alert_context(&alert_body(p));
    let ns = &alert.labels["namespace"];
    let object = &alert.labels[p.reads[1]];
    let mut all = Vec::new();
    for case in cases {
        let run = run_script(fake, p, &alert, case.get, None, true);
        let context = format!("{} with `{}`: {run:?}", p.dir, case.get);
        assert_eq!(run.code, Some(0), "{context}");
        assert!(run.stdout.contains(case.says), "{context}");
        let get = after_globals(&run.calls[0], ns);
        assert_eq!(
            &get[..4],
            &strings(&["get", kind, object, "--ignore-not-found"])[..],
            "{context}"
        );
        let further: Vec<&[String]> = run.calls[1..]
            .iter()
            .map(|c| after_globals(c, ns))
            .collect();
        match case.then {
            None => assert!(further.is_empty(), "{context}"),
            Some(words) => {
                let expected: Vec<String> =
                    words.iter().map(|w| w.replace("{name}", object)).collect();
                assert_eq!(further, vec![&expected[..]], "{context}");
            }
        }
        all.extend(run.calls);
    }
    all
}

// --- Kubernetes mode, end to end --------------------------------------------------------------

/// The Job openfero created for a pack's alert is the pack's template with the alert in its env
/// and nowhere else.
fn check_job(p: &Pack, op: &Operarius, job: &Job, alert: &AlertContext) {
    let what = p.dir;
    assert_eq!(job.metadata.namespace.as_deref(), Some(NS), "{what}");
    let labels = job.metadata.labels.as_ref().expect("labels");
    assert_eq!(labels["openfero.io/operarius"], p.name, "{what}");
    assert_eq!(labels["openfero.io/managed-by"], "openfero", "{what}");
    let spec = job.spec.as_ref().expect("job spec");
    let template = op.spec.job_template.spec.as_ref().expect("template spec");
    assert_eq!(spec.backoff_limit, Some(0), "{what}");
    assert_eq!(
        spec.active_deadline_seconds, template.active_deadline_seconds,
        "{what}"
    );
    assert!(
        spec.active_deadline_seconds.is_some_and(|s| s <= 300),
        "{what}"
    );
    assert_eq!(
        spec.ttl_seconds_after_finished, template.ttl_seconds_after_finished,
        "{what}"
    );
    let pod = spec.template.spec.as_ref().expect("pod spec");
    let account = rbac(p).account.metadata.name.expect("account name");
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some(account.as_str()),
        "{what}"
    );
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"), "{what}");
    assert_eq!(pod.containers.len(), 1, "{what}");
    let c = &pod.containers[0];
    let t = container(op);
    assert_eq!(c.image, t.image, "{what}");
    assert!(
        c.image
            .as_deref()
            .is_some_and(|i| i.starts_with("bitnami/kubectl:1.")),
        "{what}: {:?}",
        c.image
    );
    assert_eq!(
        c.command.as_deref(),
        Some(&strings(&["/bin/sh", "-c"])[..]),
        "{what}"
    );
    // The script exactly as written: nothing of the alert was rendered into it.
    assert_eq!(c.args, t.args, "{what}");
    let script = script(op);
    for label in p.reads {
        let value = &alert.labels[*label];
        assert!(
            !script.contains(value.as_str()),
            "{what}: `{value}` in the script"
        );
        let var = label_env_name(label);
        assert!(
            script.contains(&format!("${{{var}:-}}")),
            "{what}: the script reads {var}"
        );
    }
    let env: BTreeMap<String, String> = c
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect();
    for (label, value) in &alert.labels {
        assert_eq!(
            env.get(&label_env_name(label)),
            Some(value),
            "{what}: {label}"
        );
    }
    for own in t.env.iter().flatten() {
        assert_eq!(
            env.get(&own.name),
            own.value.as_ref(),
            "{what}: {}",
            own.name
        );
    }
    let limits = c
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .expect("limits");
    assert!(
        limits.contains_key("cpu") && limits.contains_key("memory"),
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pack_alert_creates_its_job_with_the_alert_only_in_env() {
    let env = env().await;
    for p in &PACKS {
        let mut op = operarius(p);
        op.metadata.namespace = Some(NS.to_owned());
        apply(&env, &op).await;
    }
    for p in &PACKS {
        wait_catalog(&env, &format!("{NS}/{}", p.name)).await;
    }
    let jobs: Api<Job> = Api::namespaced(env.kube.clone(), NS);
    let mut created = BTreeMap::new();
    for p in &PACKS {
        let body = alert_body(p);
        let alert = alert_context(&body);
        let (id, name) = expected_ids(p, &body);
        let answer = post(&env, &body).await;
        let r = &answer["alerts"][0]["remediations"][0];
        assert_eq!(r["id"], id.as_str(), "{}: {answer}", p.dir);
        assert_eq!(r["operarius"], format!("{NS}/{}", p.name), "{answer}");
        if p.approval {
            assert_eq!(r["state"], "awaiting-approval", "{}: {answer}", p.dir);
            assert!(
                jobs.get_opt(&name).await.expect("get").is_none(),
                "{}: no Job before the approval",
                p.dir
            );
            let approved = env
                .http
                .post(env.node.url(&format!("/api/remediations/{id}/approve")))
                .send()
                .await
                .expect("approve");
            assert!(approved.status().is_success(), "{}: {approved:?}", p.dir);
        } else {
            assert_eq!(r["state"], "pending", "{}: {answer}", p.dir);
        }
        let job = job(&env, &name).await;
        check_job(p, &operarius(p), &job, &alert);
        created.insert(p.dir, job);
    }
    assert_eq!(env.double.count_requests("POST", "/jobs"), PACKS.len());

    // Each of those Jobs, reported failed under a CronJob, is still never deleted by the
    // KubeJobFailed script: its labels, exactly as openfero wrote them, are enough.
    let p = pack("kube-job-failed");
    let fake = FakeKubectl::new();
    let alert = alert_context(&alert_body(p));
    for (dir, job) in &created {
        let labels = job.metadata.labels.clone().unwrap_or_default();
        let get = format!(
            "{}|CronJob|BackoffLimitExceeded|{}",
            alert.labels["job_name"],
            serde_json::to_string(&labels).expect("labels as kubectl prints them")
        );
        let run = run_script(&fake, p, &alert, &get, None, true);
        assert_eq!(run.code, Some(0), "{dir}: {run:?}");
        assert!(run.stdout.contains("kept as evidence"), "{dir}: {run:?}");
        assert_eq!(run.calls.len(), 1, "only the get: {dir}: {run:?}");
    }

    // KubeJobFailed never reaches openfero's own Jobs: not the one it just created (a name
    // ending in a remediation id), nor one kube-state-metrics reports with openfero's label.
    let own = created[p.dir].metadata.name.clone().expect("job name");
    for body in [
        with_label(p, "job_name", &own),
        with_label(p, "label_openfero_io_managed_by", "openfero"),
    ] {
        let answer = post(&env, &body).await;
        assert_eq!(
            answer["alerts"][0]["remediations"],
            json!([]),
            "no remediation for openfero's own Job: {answer}"
        );
    }
    assert_eq!(
        env.double.count_requests("POST", "/jobs"),
        PACKS.len(),
        "no Job for openfero's own Jobs"
    );
}

// --- The manifests ----------------------------------------------------------------------------

#[test]
fn the_pack_validates_and_its_rbac_documents_are_skipped_not_problems() {
    let validate = |args: &[&Path]| {
        let out = Command::new(env!("CARGO_BIN_EXE_openfero"))
            .arg("validate")
            .args(args)
            .output()
            .expect("run openfero validate");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let all = operarios_dir();
    let (ok, out) = validate(&[&all]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "{} operarius(es) valid, 0 problem(s), {} other document(s) skipped",
            PACKS.len() + 2,
            PACKS.len() * 3
        )),
        "the pack beside the two demos: {out}"
    );
    // The policy the pack's README proposes: its image, its service accounts, short deadlines
    // and the default forbid rules (privileged, host paths, host network, ...).
    let tmp = tempfile::tempdir().expect("tempdir");
    let policy = tmp.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "allowedImages: [\"bitnami/kubectl:1.31\"]\nallowedServiceAccounts: [\"openfero-*\"]\nmaxActiveDeadlineSeconds: 120\n",
    )
    .expect("write policy");
    for p in &PACKS {
        let dir = all.join(p.dir);
        let (ok, out) = validate(&[&dir, Path::new("--policy-file"), &policy]);
        assert!(ok, "{}: {out}", p.dir);
        assert!(
            out.contains("1 operarius(es) valid, 0 problem(s), 3 other document(s) skipped"),
            "{}: {out}",
            p.dir
        );
        for kind in ["ServiceAccount", "ClusterRole", "RoleBinding"] {
            assert!(
                out.contains(&format!("`{kind}`")),
                "{}: {kind} skipped: {out}",
                p.dir
            );
        }
    }
}

#[test]
fn each_pack_alert_is_a_full_webhook_that_selects_its_operarius() {
    let report = load_paths(&[operarios_dir()], "openfero");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    for p in &PACKS {
        let body = alert_body(p);
        for field in [
            "version",
            "groupKey",
            "truncatedAlerts",
            "status",
            "receiver",
            "groupLabels",
            "commonLabels",
            "commonAnnotations",
            "externalURL",
        ] {
            assert!(body.get(field).is_some(), "{}: {field}", p.dir);
        }
        assert_eq!(body["version"], "4");
        let alert = alert_context(&body);
        assert_eq!(alert.labels["alertname"], p.alertname, "{}", p.dir);
        assert_eq!(alert.status, "firing");
        for label in p.reads {
            assert!(alert.labels.contains_key(*label), "{}: {label}", p.dir);
        }
        // The fingerprint Alertmanager would have sent for these labels.
        assert_eq!(
            body["alerts"][0]["fingerprint"],
            openfero::alerts::fingerprint_of(&alert.labels).0,
            "{}",
            p.dir
        );
        let op = operarius(p);
        assert_eq!(op.metadata.name.as_deref(), Some(p.name));
        let own = load_paths(&[operarios_dir().join(p.dir)], "openfero");
        assert_eq!(own.operarios.len(), 1, "{}", p.dir);
        assert_eq!(
            select(&own.operarios, &alert).map(|d| d.name.as_str()),
            Some(p.name),
            "{}",
            p.dir
        );
        // With the whole folder loaded (the embedded default) each alert finds its pack
        // operarius, except KubePodCrashLooping: the echo-only demo outranks it (priority 10).
        let expected = if p.alertname == "KubePodCrashLooping" {
            "kube-pod-crashlooping"
        } else {
            p.name
        };
        assert_eq!(
            select(&report.operarios, &alert).map(|d| d.name.as_str()),
            Some(expected),
            "{}",
            p.dir
        );
        let guards = &report.guards[&format!("openfero/{}", p.name)];
        assert!(!guards.budgets.is_empty(), "{}: budgets", p.dir);
        assert_eq!(
            guards.approval_ttl_ms.is_some(),
            p.approval,
            "{}: approval",
            p.dir
        );
        assert_eq!(guards.target_labels, strings(p.target), "{}", p.dir);
        // Only KubePodCrashLooping's `pod` label names the object: on the others it is
        // kube-state-metrics' own pod, the same for every alert, so no target may use it.
        if !p.reads.contains(&"pod") {
            assert_ne!(
                alert.labels.get("pod").map(String::as_str),
                None,
                "{}: alert.json carries kube-state-metrics' pod label",
                p.dir
            );
            assert!(!p.target.contains(&"pod"), "{}", p.dir);
        }
    }
}

#[test]
fn kube_job_failed_matchers_leave_out_openferos_own_jobs() {
    let p = pack("kube-job-failed");
    let own = load_paths(&[operarios_dir().join(p.dir)], "openfero");
    let selected = |body: &Value| {
        select(&own.operarios, &alert_context(body))
            .map(|d| d.name.clone())
            .unwrap_or_default()
    };
    assert_eq!(selected(&alert_body(p)), p.name);
    let own_name = job_name(p.name, &RemediationId("0123456789abcdef".into()));
    for body in [
        with_label(p, "job_name", &own_name),
        with_label(p, "job_name", "restart-stuck-daemonset-fedcba9876543210"),
        with_label(p, "label_openfero_io_managed_by", "openfero"),
    ] {
        assert_eq!(selected(&body), "", "{body}");
    }
    // A CronJob's Job (`<cronjob>-<minutes since the epoch>`) still matches.
    assert_eq!(
        selected(&with_label(p, "job_name", "backup-29414520")),
        p.name
    );
}

#[test]
fn rbac_grants_exactly_what_each_script_runs_and_nothing_with_a_wildcard() {
    let fake = FakeKubectl::new();
    for p in &PACKS {
        let op = operarius(p);
        let Rbac {
            account,
            role,
            binding,
        } = rbac(p);
        let namespace = op.metadata.namespace.clone().expect("operarius namespace");
        let account_name = account.metadata.name.clone().expect("account name");
        assert_eq!(
            pod_spec(&op).service_account_name.as_deref(),
            Some(account_name.as_str()),
            "{}",
            p.dir
        );
        assert_eq!(
            account.metadata.namespace.as_deref(),
            Some(namespace.as_str()),
            "{}: the account lives where the Job runs",
            p.dir
        );
        let role_name = role.metadata.name.clone().expect("role name");
        assert_eq!(binding.role_ref.kind, "ClusterRole", "{}", p.dir);
        assert_eq!(binding.role_ref.name, role_name, "{}", p.dir);
        let subjects = binding.subjects.clone().unwrap_or_default();
        assert_eq!(subjects.len(), 1, "{}", p.dir);
        assert_eq!(subjects[0].kind, "ServiceAccount");
        assert_eq!(subjects[0].name, account_name);
        assert_eq!(
            subjects[0].namespace.as_deref(),
            Some(namespace.as_str()),
            "{}",
            p.dir
        );
        let alert = alert_context(&alert_body(p));
        assert_eq!(
            binding.metadata.namespace.as_deref(),
            Some(alert.labels["namespace"].as_str()),
            "{}: the example binding is for alert.json's namespace",
            p.dir
        );

        let granted = granted(p, &role);
        assert_eq!(granted, declared(p), "{}", p.dir);
        let calls = match p.dir {
            "kube-pod-crash-looping" => crashlooping_cases(&fake),
            "kube-deployment-replicas-mismatch" => deployment_cases(&fake),
            "kube-hpa-maxed-out" => hpa_cases(&fake),
            "kube-job-failed" => job_failed_cases(&fake),
            "kube-daemon-set-rollout-stuck" => daemonset_cases(&fake),
            other => panic!("no cases for {other}"),
        };
        let needed: BTreeSet<Grant> = calls.iter().flat_map(|c| needs(c)).collect();
        assert_eq!(
            needed, granted,
            "{}: every call granted, every grant used",
            p.dir
        );
    }
}

// --- The scripts, with a fake kubectl ---------------------------------------------------------

const POD_LABELS: &str = r#"{"app":"web","pod-template-hash":"7d9c6b5f4"}"#;

fn crashlooping_cases(fake: &FakeKubectl) -> Vec<Vec<String>> {
    let p = pack("kube-pod-crash-looping");
    check_cases(
        fake,
        p,
        "pod",
        &[
            Case {
                get: concat!(
                    "web-7d9c6b5f4-x2x8q|ReplicaSet|CrashLoopBackOff|",
                    r#"{"app":"web","pod-template-hash":"7d9c6b5f4"}"#
                ),
                then: Some(&["delete", "pod", "{name}", "--wait=false"]),
                says: "deleted pod shop/web-7d9c6b5f4-x2x8q (owner: ReplicaSet)",
            },
            Case {
                get: "web-0|StatefulSet| CrashLoopBackOff|{}",
                then: Some(&["delete", "pod", "{name}", "--wait=false"]),
                says: "its controller creates a replacement",
            },
            Case {
                get: "",
                then: None,
                says: "is gone already",
            },
            Case {
                get: "x|ReplicaSet|CrashLoopBackOff|{\"openfero.io/managed-by\":\"openfero\"}",
                then: None,
                says: "openfero's own; not deleted",
            },
            Case {
                get: "x||CrashLoopBackOff|{}",
                then: None,
                says: "no controller that would replace it (owners: none)",
            },
            Case {
                get: "x|Job|CrashLoopBackOff|{}",
                then: None,
                says: "(owners: Job); not deleted",
            },
            Case {
                get: "x|ReplicaSet|ContainerCreating|{}",
                then: None,
                says: "no longer in CrashLoopBackOff",
            },
        ],
    )
}

fn deployment_cases(fake: &FakeKubectl) -> Vec<Vec<String>> {
    let p = pack("kube-deployment-replicas-mismatch");
    check_cases(
        fake,
        p,
        "deployment",
        &[
            Case {
                get: "checkout||4|4|3|3|1",
                then: Some(&["rollout", "restart", "deployment/checkout"]),
                says: "restarted deployment shop/checkout",
            },
            Case {
                // No availableReplicas at all: the API leaves zero out.
                get: "checkout||2|2|3|3|",
                then: Some(&["rollout", "restart", "deployment/checkout"]),
                says: "want 3, updated 3, available 0",
            },
            Case {
                get: "checkout||4|4|3|1|2",
                then: None,
                says: "a rollout of a new template is unfinished",
            },
            Case {
                get: "checkout|true|4|4|3|3|1",
                then: None,
                says: "paused",
            },
            Case {
                get: "checkout||5|4|3|3|1",
                then: None,
                says: "has not observed the latest spec",
            },
            Case {
                get: "checkout||4|4|3|3|3",
                then: None,
                says: "every replica is available again",
            },
            Case {
                get: "",
                then: None,
                says: "is gone",
            },
        ],
    )
}

fn hpa_cases(fake: &FakeKubectl) -> Vec<Vec<String>> {
    let p = pack("kube-hpa-maxed-out");
    let patch = |from: u32, to: u32| -> String {
        json!([
            {"op": "test", "path": "/spec/maxReplicas", "value": from},
            {"op": "replace", "path": "/spec/maxReplicas", "value": to},
        ])
        .to_string()
    };
    let calls = check_cases(
        fake,
        p,
        "horizontalpodautoscaler",
        &[
            Case {
                get: "web|20|20|20",
                then: None,
                says: "at or above the cap 20: not raised",
            },
            Case {
                get: "web|10|7|10",
                then: None,
                says: "no longer at its maximum",
            },
            Case {
                get: "",
                then: None,
                says: "is gone",
            },
        ],
    );
    // Raises: by the step, and never past the cap. The patch tests the value it read.
    let alert = alert_context(&alert_body(p));
    let mut all = calls;
    for (get, from, to) in [("web|5|5|5", 5, 7), ("web|19|19|19", 19, 20)] {
        let run = run_script(fake, p, &alert, get, None, true);
        assert_eq!(run.code, Some(0), "{run:?}");
        assert!(
            run.stdout.contains(&format!(
                "raised maxReplicas of hpa shop/web from {from} to {to}"
            )),
            "{run:?}"
        );
        assert_eq!(run.calls.len(), 2, "{run:?}");
        let call = after_globals(&run.calls[1], "shop");
        assert_eq!(
            call,
            &strings(&[
                "patch",
                "horizontalpodautoscaler",
                "web",
                "--type=json",
                "-p",
                &patch(from, to)
            ])[..]
        );
        all.extend(run.calls);
    }
    all
}

fn job_failed_cases(fake: &FakeKubectl) -> Vec<Vec<String>> {
    let p = pack("kube-job-failed");
    check_cases(
        fake,
        p,
        "job",
        &[
            Case {
                get: r#"nightly-report-29414520|CronJob|BackoffLimitExceeded|{"batch.kubernetes.io/controller-uid":"1b2c","batch.kubernetes.io/job-name":"nightly-report-29414520"}"#,
                then: Some(&["delete", "job", "{name}", "--wait=false"]),
                says: "failed: BackoffLimitExceeded",
            },
            // openfero's own Jobs, whatever else they look like: the evidence is kept.
            Case {
                get: r#"nightly-report-29414520|CronJob|BackoffLimitExceeded|{"openfero.io/managed-by":"openfero","openfero.io/operarius":"x"}"#,
                then: None,
                says: "an openfero remediation Job, kept as evidence; not deleted",
            },
            Case {
                get: r#"nightly-report-29414520|CronJob|BackoffLimitExceeded|{"app":"report","openfero.io/remediation":"0123456789abcdef"}"#,
                then: None,
                says: "carries openfero.io/ labels",
            },
            Case {
                get: r#"nightly-report-29414520||DeadlineExceeded|{"app":"report"}"#,
                then: None,
                says: "no CronJob owns it (owners: none): kept for investigation",
            },
            Case {
                get: r#"nightly-report-29414520|CronJob||{"app":"report"}"#,
                then: None,
                says: "has not failed (any more)",
            },
            Case {
                get: "",
                then: None,
                says: "is gone already",
            },
        ],
    )
}

fn daemonset_cases(fake: &FakeKubectl) -> Vec<Vec<String>> {
    let p = pack("kube-daemon-set-rollout-stuck");
    check_cases(
        fake,
        p,
        "daemonset",
        &[
            Case {
                get: "fluent-bit|RollingUpdate|3|3|5|5|4|0",
                then: Some(&["rollout", "restart", "daemonset/fluent-bit"]),
                says: "restarted daemonset logging/fluent-bit",
            },
            Case {
                get: "fluent-bit|RollingUpdate|3|3|5|5|5|1",
                then: Some(&["rollout", "restart", "daemonset/fluent-bit"]),
                says: "misscheduled 1",
            },
            Case {
                get: "fluent-bit|OnDelete|3|3|5|5|4|0",
                then: None,
                says: "OnDelete: a restart would replace no pod",
            },
            Case {
                get: "fluent-bit|RollingUpdate|3|3|5|2|4|0",
                then: None,
                says: "a rollout of a new template is unfinished",
            },
            Case {
                get: "fluent-bit|RollingUpdate|4|3|5|5|4|0",
                then: None,
                says: "has not observed the latest spec",
            },
            Case {
                get: "fluent-bit|RollingUpdate|3|3|5|5|5|",
                then: None,
                says: "every pod is available again",
            },
        ],
    )
}

#[test]
fn kube_job_failed_script_never_deletes_an_openfero_job() {
    let fake = FakeKubectl::new();
    let p = pack("kube-job-failed");
    let alert = alert_context(&alert_body(p));
    // Every label openfero puts on its Jobs (src/kubernetes/labels.rs) is enough on its own.
    for label in [
        labels::MANAGED_BY,
        labels::OPERARIUS,
        labels::ALERT,
        labels::STATUS,
        labels::REMEDIATION,
        labels::GROUP_KEY,
    ] {
        let get = format!(
            "nightly-report-29414520|CronJob|BackoffLimitExceeded|{{\"app\":\"report\",\"{label}\":\"x\"}}"
        );
        let run = run_script(&fake, p, &alert, &get, None, true);
        assert_eq!(run.code, Some(0), "{label}: {run:?}");
        assert!(run.stdout.contains("not deleted"), "{label}: {run:?}");
        assert_eq!(run.calls.len(), 1, "only the get: {label}: {run:?}");
        assert!(
            !run.calls.iter().flatten().any(|a| a == "delete"),
            "{label}: {run:?}"
        );
    }
    // The same Job without them is deleted: the refusal above is the labels' doing.
    let get = "nightly-report-29414520|CronJob|BackoffLimitExceeded|{\"app\":\"report\"}";
    let run = run_script(&fake, p, &alert, get, None, true);
    assert!(run.calls.iter().flatten().any(|a| a == "delete"), "{run:?}");
}

#[test]
fn every_script_does_nothing_outside_a_pod_or_with_hostile_labels_and_fails_on_a_refusal() {
    let fake = FakeKubectl::new();
    for p in &PACKS {
        let alert = alert_context(&alert_body(p));
        // Outside a pod (a local executor on a laptop): kubectl would use that machine's own
        // kubeconfig, so nothing is called at all.
        let run = run_script(&fake, p, &alert, "", None, false);
        assert_eq!(run.code, Some(3), "{}: {run:?}", p.dir);
        assert!(run.calls.is_empty(), "{}: {run:?}", p.dir);
        assert!(
            run.stdout.contains("not running in a Kubernetes pod"),
            "{}: {run:?}",
            p.dir
        );
        // Label values that are no Kubernetes name never reach kubectl (`--all` would be a
        // flag; the others are shell, paths or not lowercase).
        for label in p.reads {
            for value in [
                "--all", "-n", "a;b", "$(id)", "a b", "../x", "Web", "x-", "",
            ] {
                let mut hostile = alert.clone();
                hostile.labels.insert((*label).to_owned(), value.to_owned());
                let run = run_script(&fake, p, &hostile, "", None, true);
                let context = format!("{} {label}=`{value}`: {run:?}", p.dir);
                assert_eq!(run.code, Some(2), "{context}");
                assert!(run.calls.is_empty(), "{context}");
            }
        }
    }
    // A refusal by the API server (403 on the delete) fails the run: never reported as done.
    let p = pack("kube-pod-crash-looping");
    let alert = alert_context(&alert_body(p));
    let get = format!("web-7d9c6b5f4-x2x8q|ReplicaSet|CrashLoopBackOff|{POD_LABELS}");
    let run = run_script(&fake, p, &alert, &get, Some("delete"), true);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.contains("Forbidden"), "{run:?}");
    assert!(!run.stdout.contains("deleted pod"), "{run:?}");
    // As does a refused get, before anything else is tried.
    let run = run_script(&fake, p, &alert, &get, Some("get"), true);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.calls.len(), 1, "{run:?}");
}

// --- The scripts, with a real kubectl ---------------------------------------------------------

/// apps/v1 and autoscaling/v2 served by the API double as custom resources, enough for kubectl
/// to get and patch them.
const WORKLOAD_CRDS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: deployments.apps}
spec:
  group: apps
  scope: Namespaced
  names: {plural: deployments, singular: deployment, kind: Deployment, listKind: DeploymentList}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: daemonsets.apps}
spec:
  group: apps
  scope: Namespaced
  names: {plural: daemonsets, singular: daemonset, kind: DaemonSet, listKind: DaemonSetList}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: horizontalpodautoscalers.autoscaling}
spec:
  group: autoscaling
  scope: Namespaced
  names:
    plural: horizontalpodautoscalers
    singular: horizontalpodautoscaler
    kind: HorizontalPodAutoscaler
    listKind: HorizontalPodAutoscalerList
  versions:
    - name: v2
      served: true
      storage: true
      subresources: {status: {}}
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;

/// The objects the five alert.json files are about, in the state that fires each alert.
const WORKLOADS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web-7d9c6b5f4-x2x8q
  namespace: shop
  labels: {app: web, pod-template-hash: 7d9c6b5f4}
  ownerReferences:
    - {apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9c6b5f4, uid: 0b0e0c3c-0000-4000-8000-000000000001, controller: true}
spec:
  containers: [{name: app, image: "web:1"}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: nightly-report-29414520
  namespace: shop
  ownerReferences:
    - {apiVersion: batch/v1, kind: CronJob, name: nightly-report, uid: 0b0e0c3c-0000-4000-8000-000000000002, controller: true}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: report, image: "report:1"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec: {containers: [{name: app, image: "checkout:1"}]}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: fluent-bit, namespace: logging}
spec:
  selector: {matchLabels: {app: fluent-bit}}
  updateStrategy: {type: RollingUpdate}
  template:
    metadata: {labels: {app: fluent-bit}}
    spec: {containers: [{name: fluent-bit, image: "fluent-bit:3"}]}
"#;

/// Their status, as `(namespace, resource, name, status)` merge patches.
const WORKLOAD_STATUS: [(&str, &str, &str, &str); 5] = [
    (
        "shop",
        "pod",
        "web-7d9c6b5f4-x2x8q",
        r#"{"status":{"phase":"Running","containerStatuses":[{"name":"app","ready":false,"restartCount":7,"image":"web:1","imageID":"","state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}"#,
    ),
    (
        "shop",
        "job",
        "nightly-report-29414520",
        r#"{"status":{"failed":1,"conditions":[{"type":"Failed","status":"True","reason":"BackoffLimitExceeded"}]}}"#,
    ),
    (
        "shop",
        "deployment",
        "checkout",
        r#"{"status":{"observedGeneration":1,"replicas":3,"updatedReplicas":3,"availableReplicas":1}}"#,
    ),
    (
        "shop",
        "horizontalpodautoscaler",
        "web",
        r#"{"status":{"currentReplicas":5,"desiredReplicas":5}}"#,
    ),
    (
        "logging",
        "daemonset",
        "fluent-bit",
        r#"{"status":{"observedGeneration":1,"desiredNumberScheduled":5,"currentNumberScheduled":5,"updatedNumberScheduled":5,"numberAvailable":4,"numberMisscheduled":0}}"#,
    ),
];

/// The folder of a real `kubectl`: `OPENFERO_KUBECTL` (`.ci/chart --kubectl-path` installs one
/// and prints its path; `scripts/test.sh` sets it), else the one on `PATH`.
fn kubectl_dir() -> PathBuf {
    if let Some(path) = std::env::var_os("OPENFERO_KUBECTL") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file() && path.file_name().is_some_and(|n| n == "kubectl"),
            "OPENFERO_KUBECTL is `{}`, which is not a kubectl file",
            path.display()
        );
        return path.parent().expect("a file has a folder").to_path_buf();
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("kubectl").is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubectl not found: set OPENFERO_KUBECTL or put kubectl on PATH \
                 (`.ci/chart --kubectl-path` installs it and prints its path)"
            )
        })
}

/// Every pack's script through a real kubectl against the API double: the jsonpath templates,
/// `--ignore-not-found`, `rollout restart` and the JSON patch are kubectl's own, not a fake's.
/// The README's test command (`scripts/test.sh`) installs kubectl for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_act_through_a_real_kubectl_against_the_api_double() {
    let kubectl = kubectl_dir();
    let double =
        openfero_kube_double::KubeDouble::start_with(openfero_kube_double::Config::default())
            .await
            .expect("start the kubernetes double");
    double
        .register_crd_yaml(WORKLOAD_CRDS)
        .expect("register the workload types");
    let tmp = tempfile::tempdir().expect("tempdir");
    let kubeconfig = tmp.path().join("kubeconfig");
    double.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).expect("mkdir");
    let path = format!("{}:/usr/bin:/bin", kubectl.display());
    let kubectl = |args: &[&str], stdin: Option<&str>| -> String {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .args(args)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", &home)
            .env("KUBECONFIG", &kubeconfig)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run kubectl");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(stdin.unwrap_or_default().as_bytes())
            .expect("write stdin");
        drop(input);
        let out = child.wait_with_output().expect("kubectl output");
        assert!(out.status.success(), "kubectl {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Real kubectl, in a pod as far as the scripts can tell, pointed at the double.
    let run = |p: &Pack, alert: &AlertContext| {
        let env = [
            ("PATH", path.as_str()),
            ("KUBECONFIG", kubeconfig.to_str().expect("utf-8 path")),
            IN_POD,
        ];
        let out = script_command(p, alert, &env).output().expect("sh runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {text}", p.dir);
        text
    };
    kubectl(&["apply", "--validate=false", "-f", "-"], Some(WORKLOADS));
    for (ns, resource, name, status) in WORKLOAD_STATUS {
        let args = [
            "-n",
            ns,
            "patch",
            resource,
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ];
        kubectl(&args, None);
    }
    let get = |ns: &str, what: &str, jsonpath: &str| {
        kubectl(
            &[
                "-n",
                ns,
                "get",
                what,
                "--ignore-not-found",
                "-o",
                &format!("jsonpath={jsonpath}"),
            ],
            None,
        )
    };

    // An openfero-labelled failed Job of a CronJob is kept; the plain one is then deleted.
    let p = pack("kube-job-failed");
    let alert = alert_context(&alert_body(p));
    let job = "job/nightly-report-29414520";
    let own = format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE);
    kubectl(&["-n", "shop", "label", job, &own], None);
    let said = run(p, &alert);
    assert!(said.contains("kept as evidence"), "{said}");
    assert_eq!(
        get("shop", job, "{.metadata.name}"),
        "nightly-report-29414520"
    );
    kubectl(
        &[
            "-n",
            "shop",
            "label",
            job,
            &format!("{}-", labels::MANAGED_BY),
        ],
        None,
    );
    let said = run(p, &alert);
    assert!(said.contains("failed: BackoffLimitExceeded"), "{said}");
    assert_eq!(get("shop", job, "{.metadata.name}"), "", "deleted: {said}");

    let said = run(
        pack("kube-pod-crash-looping"),
        &alert_context(&alert_body(pack("kube-pod-crash-looping"))),
    );
    assert!(said.contains("(owner: ReplicaSet)"), "{said}");
    assert_eq!(
        get("shop", "pod/web-7d9c6b5f4-x2x8q", "{.metadata.name}"),
        "",
        "deleted: {said}"
    );

    let p = pack("kube-hpa-maxed-out");
    let said = run(p, &alert_context(&alert_body(p)));
    assert!(said.contains("from 5 to 7"), "{said}");
    assert_eq!(
        get("shop", "horizontalpodautoscaler/web", "{.spec.maxReplicas}"),
        "7"
    );

    for (dir, ns, what) in [
        (
            "kube-deployment-replicas-mismatch",
            "shop",
            "deployment/checkout",
        ),
        (
            "kube-daemon-set-rollout-stuck",
            "logging",
            "daemonset/fluent-bit",
        ),
    ] {
        let p = pack(dir);
        let said = run(p, &alert_context(&alert_body(p)));
        assert!(said.contains("restarted"), "{said}");
        let restarted = get(ns, what, "{.spec.template.metadata.annotations}");
        assert!(
            restarted.contains("kubectl.kubernetes.io/restartedAt"),
            "{dir}: {restarted}"
        );
    }
    double.shutdown().await.expect("stop the double");
}
