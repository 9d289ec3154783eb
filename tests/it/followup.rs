//! Closing the loop with a real Alertmanager (Debian's `prometheus-alertmanager`): a firing
//! alert is silenced while it is remediated — exactly that alert — and the run is `verified`
//! when the alert resolves (its resolved notification is muted by the silence, so openfero
//! reads Alertmanager's alert list), or `ineffective` when it keeps firing: silence expired,
//! the outcome notified to a webhook receiver. With three nodes, a new leader expires the
//! silence its killed predecessor created.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::alertmanager::{
    post_to_alertmanager, route_to_openfero, start_alertmanager, ALERTMANAGER,
};
use crate::cluster_support::{ClusterOptions, TestCluster};
use crate::support::{client, eventually, free_port, OpenferoProcess};

fn operarius(name: &str, alertname: &str, command: &str, follow_ups: &str) -> String {
    format!(
        r#"apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata:
  name: {name}
  namespace: default
spec:
  alertSelector:
    alertname: {alertname}
    status: firing
{follow_ups}
  jobTemplate:
    spec:
      activeDeadlineSeconds: 60
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: fix
              image: busybox
              command: ["/bin/sh", "-c"]
              args: ["{command}"]
"#
    )
}

/// A webhook receiver on loopback: every JSON body POSTed to `/hook`.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>, tokio::task::JoinHandle<()>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = Arc::clone(&got);
    let app = Router::new().route(
        "/hook",
        post(move |Json(body): Json<Value>| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().expect("receiver lock").push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got, task)
}

static STARTED: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> = std::sync::OnceLock::new();

/// An alert as Prometheus hands it to Alertmanager; it started a minute before `now`.
fn am_alert(alertname: &str, pod: &str, ends_at: Option<&str>) -> Value {
    let started = *STARTED.get_or_init(|| chrono::Utc::now() - chrono::Duration::minutes(1));
    let mut a = json!({
        "labels": {"alertname": alertname, "pod": pod, "namespace": "shop"},
        "annotations": {"summary": "test"},
        "startsAt": started.to_rfc3339(),
    });
    if let Some(end) = ends_at {
        a["endsAt"] = json!(end);
    }
    a
}

/// Alertmanager's silences created by openfero.
async fn openfero_silences(http: &reqwest::Client, am: &str) -> Vec<Value> {
    let all: Vec<Value> = http
        .get(format!("{am}/api/v2/silences"))
        .send()
        .await
        .expect("list silences")
        .json()
        .await
        .expect("silences json");
    all.into_iter()
        .filter(|s| s["createdBy"] == "openfero")
        .collect()
}

/// The silence of `alertname`'s alert, once it is in state `want`.
async fn silence_in_state(http: &reqwest::Client, am: &str, alertname: &str, want: &str) -> Value {
    eventually(
        &format!("a {want} silence for {alertname}"),
        Duration::from_secs(30),
        || {
            let (http, am) = (http.clone(), am.to_owned());
            let alertname = alertname.to_owned();
            let want = want.to_owned();
            async move {
                openfero_silences(&http, &am).await.into_iter().find(|s| {
                    s["status"]["state"] == want.as_str()
                        && s["matchers"]
                            .as_array()
                            .is_some_and(|m| m.iter().any(|m| m["value"] == alertname.as_str()))
                })
            }
        },
    )
    .await
}

async fn remediation_of(http: &reqwest::Client, node: &str, alertname: &str) -> Value {
    eventually(
        &format!("a remediation of {alertname}"),
        Duration::from_secs(30),
        || {
            let (http, url) = (http.clone(), format!("{node}/api/remediations"));
            let alertname = alertname.to_owned();
            async move {
                let list: Vec<Value> = http.get(&url).send().await.ok()?.json().await.ok()?;
                list.into_iter()
                    .find(|r| r["alertname"] == alertname.as_str())
            }
        },
    )
    .await
}

/// The remediation `id` once `pick` finds what is wanted in it.
async fn remediation_until(
    http: &reqwest::Client,
    node: &str,
    id: &str,
    what: &str,
    pick: impl Fn(&Value) -> bool + Clone,
) -> Value {
    eventually(what, Duration::from_secs(40), || {
        let (http, url) = (http.clone(), format!("{node}/api/remediations/{id}"));
        let pick = pick.clone();
        async move {
            let r: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            pick(&r).then_some(r)
        }
    })
    .await
}

/// Kills the remediation process whose pid is in the file (a local run outlives a SIGKILLed
/// leader: it is in its own process group), on success and on failure.
struct RunGuard(std::path::PathBuf);

impl Drop for RunGuard {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("write operarius");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remediated_alert_is_silenced_then_verified_or_found_ineffective_and_notified() {
    assert!(
        Path::new(ALERTMANAGER).exists(),
        "{ALERTMANAGER} is missing: install Debian's prometheus-alertmanager (scripts/test.sh does)"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let http = client();
    let (hook, received, _receiver) = receiver().await;
    let ops = tmp.path().join("operarios");
    std::fs::create_dir_all(&ops).expect("mkdir");
    write(
        &ops,
        "resolves.yaml",
        &operarius(
            "fix-resolves",
            "DiskFilling",
            "echo cleaned $OPENFERO_POD",
            &format!(
                "  silence: {{grace: 1m}}\n  verify: {{within: 2m}}\n  notify: {{url: \"{hook}\", on: [verified, ineffective]}}"
            ),
        ),
    );
    write(
        &ops,
        "ineffective.yaml",
        &operarius(
            "fix-ineffective",
            "QueueStuck",
            "echo restarted $OPENFERO_POD",
            &format!(
                "  silence: {{grace: 1m}}\n  verify: {{within: 3s}}\n  notify: {{url: \"{hook}\", on: [ineffective]}}"
            ),
        ),
    );
    let port = free_port();
    let (_am, am) = start_alertmanager(&http, tmp.path(), &route_to_openfero(port, "")).await;
    let node = OpenferoProcess::start(
        &tmp.path().join("data"),
        &ops,
        port,
        &["--alertmanager-url", &am],
    );
    node.wait_ready(&http).await;
    let server = node.url("");

    // 1. Fired through Alertmanager → remediated → silenced, exactly this alert.
    post_to_alertmanager(&http, &am, am_alert("DiskFilling", "db-0", None)).await;
    let rem = remediation_of(&http, &server, "DiskFilling").await;
    let id = rem["id"].as_str().expect("id").to_owned();
    let silence = silence_in_state(&http, &am, "DiskFilling", "active").await;
    let mut matchers: Vec<(String, String, bool)> = silence["matchers"]
        .as_array()
        .expect("matchers")
        .iter()
        .map(|m| {
            assert_eq!(m["isRegex"], false, "{m}");
            (
                m["name"].as_str().unwrap().to_owned(),
                m["value"].as_str().unwrap().to_owned(),
                m["isEqual"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    matchers.sort();
    assert_eq!(
        matchers,
        vec![
            ("alertname".into(), "DiskFilling".into(), true),
            ("namespace".into(), "shop".into(), true),
            ("pod".into(), "db-0".into(), true),
        ],
        "every label of the alert, nothing else"
    );
    assert!(
        silence["comment"].as_str().unwrap_or("").contains(&id),
        "{silence}"
    );
    let with_silence = remediation_until(&http, &server, &id, "the silence recorded", |r| {
        r["followUp"]["silences"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    })
    .await;
    assert_eq!(
        with_silence["followUp"]["silences"][0]["id"], silence["id"],
        "the replicated record names Alertmanager's silence"
    );
    assert_eq!(with_silence["state"], "succeeded");

    // The alert resolves in Alertmanager (its resolved notification is muted by the silence).
    post_to_alertmanager(
        &http,
        &am,
        am_alert(
            "DiskFilling",
            "db-0",
            Some(&chrono::Utc::now().to_rfc3339()),
        ),
    )
    .await;
    let verified = remediation_until(&http, &server, &id, "verified", |r| {
        r["followUp"]["verification"] == "verified"
    })
    .await;
    assert!(
        verified["followUp"]["evidence"]
            .as_str()
            .unwrap_or("")
            .contains("Alertmanager no longer lists"),
        "{verified}"
    );
    silence_in_state(&http, &am, "DiskFilling", "expired").await;

    // 2. An alert that keeps firing: ineffective after 3 s, silence expired, notified.
    post_to_alertmanager(&http, &am, am_alert("QueueStuck", "worker-2", None)).await;
    let rem = remediation_of(&http, &server, "QueueStuck").await;
    let stuck = rem["id"].as_str().expect("id").to_owned();
    silence_in_state(&http, &am, "QueueStuck", "active").await;
    let ineffective = remediation_until(&http, &server, &stuck, "ineffective", |r| {
        r["followUp"]["verification"] == "ineffective"
    })
    .await;
    assert!(
        ineffective["followUp"]["evidence"]
            .as_str()
            .unwrap_or("")
            .contains("still firing"),
        "{ineffective}"
    );
    silence_in_state(&http, &am, "QueueStuck", "expired").await;
    let notes = eventually("both notifications", Duration::from_secs(30), || {
        let got = received.lock().expect("receiver lock").clone();
        async move { (got.len() >= 2).then_some(got) }
    })
    .await;
    let events: Vec<(&str, &str)> = notes
        .iter()
        .map(|n| {
            (
                n["event"].as_str().unwrap_or(""),
                n["remediation"]["id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(events.contains(&("verified", id.as_str())), "{notes:?}");
    assert!(
        events.contains(&("ineffective", stuck.as_str())),
        "{notes:?}"
    );
    assert_eq!(notes.len(), 2, "one notification per outcome: {notes:?}");
    let closed = remediation_until(&http, &server, &stuck, "closed", |r| {
        r["followUp"]["closedAt"].is_string()
    })
    .await;
    assert_eq!(closed["followUp"]["notifications"][0]["delivered"], true);
    assert!(openfero_silences(&http, &am)
        .await
        .iter()
        .all(|s| s["status"]["state"] == "expired"));
    let metrics = crate::support::text(&http, &node.url("/metrics")).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("openfero_followups_total{")
                && l.contains("step=\"verify\"")
                && l.contains("result=\"ineffective\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_expires_the_silence_its_killed_predecessor_created() {
    assert!(
        Path::new(ALERTMANAGER).exists(),
        "{ALERTMANAGER} is missing"
    );
    let http = client();
    let am_dir = tempfile::tempdir().expect("tempdir");
    // Alertmanager only holds silences here: the alert is posted to openfero directly.
    let (_am, am) =
        start_alertmanager(&http, am_dir.path(), &route_to_openfero(free_port(), "")).await;
    let pids = tempfile::tempdir().expect("tempdir");
    let runs = pids.path().join("slow-fix.pid");
    let _runs = RunGuard(runs.clone());
    let mut c = TestCluster::new(
        &["n1", "n2", "n3"],
        ClusterOptions::default().with(&["--alertmanager-url", &am]),
    );
    write(
        &c.ops,
        "slow.yaml",
        &operarius(
            "slow-fix",
            "SlowFix",
            // Runs until the test stops it: its pid is written first, so the run the killed
            // leader leaves behind is killed by the guard below, not left to end by itself.
            &format!("echo $$ > {}; exec sleep 120", runs.display()),
            "  silence: {grace: 1m}",
        ),
    );
    c.start_all();
    let names: Vec<String> = ["n1", "n2", "n3"].iter().map(|s| s.to_string()).collect();
    let formed = c.wait_formed(&names, Duration::from_secs(30)).await;
    let leader = formed.leader_name();
    let follower = formed.followers()[0].clone();
    let body = crate::support::webhook("SlowFix", "api-1", "firing", "2026-12-03T10:00:00Z");
    let (status, answer) = c.post_alert(&follower, &body).await.expect("post");
    assert!(status.is_success(), "{status}: {answer}");
    let id = answer["alerts"][0]["remediations"][0]["id"]
        .as_str()
        .expect("a remediation")
        .to_owned();
    let silence = silence_in_state(&http, &am, "SlowFix", "active").await;
    let follower_url = c.url(&follower, "");
    let recorded = remediation_until(&http, &follower_url, &id, "the silence replicated", |r| {
        r["followUp"]["silences"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    })
    .await;
    assert_eq!(recorded["followUp"]["silences"][0]["id"], silence["id"]);
    assert_eq!(recorded["state"], "running");

    // The leader dies with the run and its silence; the new leader ends the run (interrupted)
    // and expires the silence it finds in the record.
    c.kill(&leader);
    let ended = remediation_until(&http, &follower_url, &id, "ended and closed", |r| {
        r["state"] != "running" && r["followUp"]["closedAt"].is_string()
    })
    .await;
    assert_eq!(ended["state"], "interrupted", "{ended}");
    assert!(
        ended["followUp"]["silencesExpiredAt"].is_string(),
        "{ended}"
    );
    let left: Vec<Value> = openfero_silences(&http, &am)
        .await
        .into_iter()
        .filter(|s| s["status"]["state"] != "expired")
        .collect();
    assert!(left.is_empty(), "no silence left behind: {left:?}");
}
