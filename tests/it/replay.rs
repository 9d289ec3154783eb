//! `openfero replay` and `GET /api/alerts/export`.
//!
//! Recording 10 000 webhooks over HTTP takes a debug build 105 s on the 2-core CI machine class
//! (measured, 95 webhooks/s with the node's executor running), so the 10 000-webhook history is
//! generated here as a JSON-lines file in the export's format, with what *did* happen computed
//! by this test's own model of the old catalog; the replay's counts are checked against the
//! same model run on the new catalog. A real node with a few hundred webhooks checks that its
//! export matches `GET /api/alerts` and replays without a difference from its API, from the
//! exported file and from its data dir once stopped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{client, eventually, free_port, get_json, webhook, OpenferoProcess};

/// One test operarius: the alertname and status it selects, the labels it requires, its
/// cooldown. Catalog entries never overlap, so at most one claims an alert.
#[derive(Clone)]
struct Op {
    name: &'static str,
    alertname: &'static str,
    status: &'static str,
    labels: &'static [(&'static str, &'static str)],
    cooldown_secs: Option<i64>,
}

impl Op {
    fn key(&self) -> String {
        format!("default/{}", self.name)
    }

    fn yaml(&self) -> String {
        let labels = if self.labels.is_empty() {
            String::new()
        } else {
            let pairs: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            format!("    labels: {{{}}}\n", pairs.join(", "))
        };
        let dedup = match self.cooldown_secs {
            Some(s) => format!("  deduplication: {{enabled: true, ttl: {s}}}\n"),
            None => String::new(),
        };
        format!(
            "apiVersion: openfero.io/v1alpha1\nkind: Operarius\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  alertSelector:\n    alertname: {alertname}\n    status: {status}\n{labels}{dedup}  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n            - name: fix\n              image: busybox\n              command: [\"/bin/sh\", \"-c\"]\n              args: [\"echo fixing {{{{ .Labels.pod }}}}\"]\n",
            name = self.name,
            alertname = self.alertname,
            status = self.status,
        )
    }

    fn selects(&self, a: &TestAlert) -> bool {
        a.alertname == self.alertname
            && a.status == self.status
            && self
                .labels
                .iter()
                .all(|(k, v)| a.labels.get(*k).map(String::as_str) == Some(*v))
    }
}

fn write_catalog(dir: &Path, ops: &[Op]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir catalog");
    for op in ops {
        std::fs::write(dir.join(format!("{}.yaml", op.name)), op.yaml()).expect("write op");
    }
    dir.to_path_buf()
}

struct TestAlert {
    at_ms: i64,
    alertname: String,
    status: &'static str,
    labels: BTreeMap<String, String>,
    fingerprint: String,
}

/// What the test's model decides for an alert: the operarius and whether it runs (else a
/// cooldown skipped it).
type Model = Option<(String, bool)>;

/// The test's own model of apply for these catalogs: the one operarius selecting the alert
/// runs it, unless it ran the same fingerprint less than its cooldown ago. Runs end at once
/// (the history says so), so no concurrency slot is ever taken when the next alert comes.
fn model(ops: &[Op], alerts: &[TestAlert]) -> Vec<Model> {
    let mut until: HashMap<(String, String), i64> = HashMap::new();
    alerts
        .iter()
        .map(|a| {
            let op = ops.iter().find(|op| op.selects(a))?;
            let key = (op.key(), a.fingerprint.clone());
            let cooled = until.get(&key).is_some_and(|u| a.at_ms < *u);
            if !cooled {
                if let Some(s) = op.cooldown_secs {
                    until.insert(key, a.at_ms + s * 1000);
                }
            }
            Some((op.key(), !cooled))
        })
        .collect()
}

/// RFC 3339 with milliseconds, as the export writes times.
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("in range")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// 2026-12-01T00:00:00Z.
const T0: i64 = 1_796_083_200_000;

/// `n` alerts one second apart: alertnames A–E in turn (nothing selects E), every seventh
/// resolved, four pods, severity critical on every third.
fn alerts(n: usize) -> Vec<TestAlert> {
    (0..n)
        .map(|i| {
            let alertname = ["A", "B", "C", "D", "E"][i % 5].to_string();
            let status = if i % 7 == 6 { "resolved" } else { "firing" };
            let pod = format!("pod-{}", i % 4);
            let severity = if i % 3 == 0 { "critical" } else { "warning" };
            let labels: BTreeMap<String, String> = [
                ("alertname", alertname.as_str()),
                ("namespace", "shop"),
                ("pod", pod.as_str()),
                ("severity", severity),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            TestAlert {
                at_ms: T0 + i as i64 * 1000,
                fingerprint: format!("{alertname}/{pod}/{severity}"),
                alertname,
                status,
                labels,
            }
        })
        .collect()
}

/// The history as the export writes it, with what the model of `ops` says did happen.
fn history_lines(alerts: &[TestAlert], did: &[Model]) -> String {
    let mut out = String::new();
    for (i, (a, d)) in alerts.iter().zip(did).enumerate() {
        let at = rfc3339(a.at_ms);
        let remediations = match d {
            None => json!([]),
            Some((op, true)) => json!([{
                "id": format!("did-{i}"), "operarius": op, "state": "succeeded", "reason": null,
                "startedAt": at, "finishedAt": at, "exitCode": 0
            }]),
            Some((op, false)) => json!([{
                "id": format!("did-{i}"), "operarius": op, "state": "skipped",
                "reason": format!("cooldown: `{op}` already remediated alert `{}`", a.fingerprint),
                "startedAt": null, "finishedAt": at, "exitCode": null
            }]),
        };
        let line = json!({
            "seq": i + 1,
            "eventId": "",
            "receivedAt": at,
            "receivedBy": "0000000000000001",
            "logIndex": i + 10,
            "webhook": {
                "version": "4",
                "groupKey": format!("{{}}:{{alertname=\"{}\"}}", a.alertname),
                "status": a.status,
                "receiver": "openfero",
                "externalURL": "http://alertmanager.test",
                "alerts": [{
                    "status": a.status,
                    "labels": a.labels,
                    "annotations": {"summary": "generated"},
                    "startsAt": at,
                    "endsAt": "",
                    "generatorURL": "http://prometheus.test/graph",
                    "fingerprint": a.fingerprint
                }]
            },
            "remediations": remediations
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// `openfero replay ARGS -o json`, bounded in time; the report.
async fn replay_json(args: &[&str]) -> Value {
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_openfero"))
            .arg("replay")
            .args(args)
            .args(["-o", "json"])
            .env_remove("OPENFERO_TOKEN_FILE")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the replay ends within 5 minutes")
    .expect("run openfero replay");
    assert!(
        out.status.success(),
        "openfero replay {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the report is JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Counts of the model's difference between two catalogs, per operarius as the report writes
/// them.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    changed: u64,
    new_runs: u64,
    removed_runs: u64,
    did_run: u64,
    would_run: u64,
}

fn expected(did: &[Model], would: &[Model]) -> (Counts, BTreeMap<String, Counts>, BTreeSet<u64>) {
    let mut all = Counts::default();
    let mut per: BTreeMap<String, Counts> = BTreeMap::new();
    let mut changed = BTreeSet::new();
    for (i, (d, w)) in did.iter().zip(would).enumerate() {
        if d != w {
            all.changed += 1;
            changed.insert(i as u64 + 1);
        }
        let runs = |m: &Model, op: &str| matches!(m, Some((o, true)) if o == op);
        let ops: BTreeSet<&String> = d.iter().chain(w.iter()).map(|(o, _)| o).collect();
        for op in ops {
            let c = per.entry(op.clone()).or_default();
            let (dr, wr) = (runs(d, op), runs(w, op));
            let same = d.as_ref().filter(|(o, _)| o == op) == w.as_ref().filter(|(o, _)| o == op);
            c.changed += u64::from(!same);
            c.did_run += u64::from(dr);
            c.would_run += u64::from(wr);
            c.new_runs += u64::from(wr && !dr);
            c.removed_runs += u64::from(dr && !wr);
            all.did_run += u64::from(dr);
            all.would_run += u64::from(wr);
            all.new_runs += u64::from(wr && !dr);
            all.removed_runs += u64::from(dr && !wr);
        }
    }
    (all, per, changed)
}

fn counts(v: &Value) -> Counts {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("`{k}` in {v}"));
    Counts {
        changed: n("changedDecisions"),
        new_runs: n("newRuns"),
        removed_runs: n("removedRuns"),
        did_run: n("didRun"),
        would_run: n("wouldRun"),
    }
}

fn old_catalog() -> Vec<Op> {
    vec![
        Op {
            name: "op-a",
            alertname: "A",
            status: "firing",
            labels: &[],
            cooldown_secs: None,
        },
        Op {
            name: "op-b",
            alertname: "B",
            status: "firing",
            labels: &[],
            cooldown_secs: None,
        },
        Op {
            name: "op-c",
            alertname: "C",
            status: "firing",
            labels: &[],
            cooldown_secs: Some(120),
        },
        Op {
            name: "op-d",
            alertname: "D",
            status: "resolved",
            labels: &[],
            cooldown_secs: None,
        },
    ]
}

/// op-a removed, op-b narrowed to critical alerts, op-c's cooldown shortened, op-d unchanged.
fn new_catalog() -> Vec<Op> {
    let mut ops = old_catalog();
    ops.remove(0);
    ops[0].labels = &[("severity", "critical")];
    ops[1].cooldown_secs = Some(30);
    ops
}

#[tokio::test]
async fn replay_of_ten_thousand_webhooks_counts_what_the_catalog_change_changes() {
    const N: usize = 10_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, new) = (old_catalog(), new_catalog());
    let old_dir = write_catalog(&dir.path().join("old"), &old);
    let new_dir = write_catalog(&dir.path().join("new"), &new);
    let alerts = alerts(N);
    let did = model(&old, &alerts);
    let would = model(&new, &alerts);
    let file = dir.path().join("history.jsonl");
    std::fs::write(&file, history_lines(&alerts, &did)).expect("write history");
    let (want, want_per, want_changed) = expected(&did, &would);
    // The catalogs differ where the test means them to: every kind of change happens.
    assert!(
        want.removed_runs > 0 && want.new_runs > 0 && want.changed > 0,
        "{want:?}"
    );
    let unchanged_op = &want_per["default/op-d"];
    assert!(unchanged_op.changed == 0 && unchanged_op.did_run == unchanged_op.would_run);

    let file_arg = file.to_str().expect("utf-8 path");
    let started = Instant::now();
    let report = replay_json(&[
        "--file",
        file_arg,
        "--catalog",
        new_dir.to_str().expect("utf-8 path"),
    ])
    .await;
    let took = started.elapsed();
    let summary = &report["summary"];
    assert_eq!(summary["alertsReplayed"], N as u64, "{summary}");
    assert_eq!(counts(summary), want, "{summary}");
    for (op, c) in &want_per {
        assert_eq!(&counts(&summary["perOperarius"][op]), c, "{op}: {summary}");
    }
    let reported_ops: BTreeSet<String> = summary["perOperarius"]
        .as_object()
        .expect("per operarius")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        reported_ops,
        want_per.keys().cloned().collect::<BTreeSet<_>>()
    );
    let rows = report["alerts"].as_array().expect("every alert");
    assert_eq!(rows.len(), N);
    let changed: BTreeSet<u64> = rows
        .iter()
        .filter(|r| r["changed"] == true)
        .map(|r| r["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(changed, want_changed, "the same alerts changed");
    // A row says what would run, with the rendered Job.
    let run = rows
        .iter()
        .find(|r| r["would"][0]["decision"] == "runs")
        .expect("some alert runs");
    let pod = run["labels"]["pod"].as_str().expect("pod");
    assert_eq!(
        run["would"][0]["job"]["args"][0],
        format!("echo fixing {pod}"),
        "{run}"
    );
    let skipped = rows
        .iter()
        .find(|r| r["would"][0]["decision"] == "skipped (cooldown)")
        .expect("a cooldown still skips");
    assert!(skipped["would"][0]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("within 30s")));
    eprintln!(
        "replayed {N} webhooks in {:.1}s ({:.0} webhooks/s; the replay itself: {:.0}/s)",
        took.as_secs_f64(),
        N as f64 / took.as_secs_f64(),
        report["replay"]["alertsPerSecond"].as_f64().unwrap_or(0.0)
    );

    // The old catalog decides as the history says: nothing differs.
    let same = replay_json(&[
        "--file",
        file_arg,
        "--catalog",
        old_dir.to_str().expect("utf-8 path"),
    ])
    .await;
    let summary = &same["summary"];
    assert_eq!(summary["alertsReplayed"], N as u64);
    assert_eq!(
        counts(summary),
        Counts {
            did_run: want.did_run,
            would_run: want.did_run,
            ..Counts::default()
        },
        "{summary}"
    );
    assert!(same["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .all(|r| r["changed"] == false));
}

/// An operarius for the real node: its Job echoes the pod; optionally a cooldown.
fn node_op(name: &str, alertname: &str, cooldown: Option<u32>) -> String {
    let dedup = cooldown
        .map(|s| format!("  deduplication: {{enabled: true, ttl: {s}}}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: openfero.io/v1alpha1\nkind: Operarius\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  alertSelector: {{alertname: {alertname}, status: firing}}\n{dedup}  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n            - name: fix\n              image: busybox\n              command: [\"/bin/sh\", \"-c\"]\n              args: [\"echo fixing {{{{ .Labels.pod }}}}\"]\n"
    )
}

async fn export_lines(http: &reqwest::Client, url: &str) -> Vec<Value> {
    let resp = http.get(url).send().await.expect("GET export");
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    assert!(resp.headers().get("x-openfero-applied-index").is_some());
    let text = resp.text().await.expect("export body");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a JSON line ({e}): {l}")))
        .collect()
}

#[tokio::test]
async fn export_of_a_real_node_matches_the_alerts_api_and_replays_without_differences() {
    const WEBHOOKS: usize = 300;
    const FLAP_PODS: usize = 5;
    let dir = tempfile::tempdir().expect("tempdir");
    let ops = dir.path().join("operarios");
    std::fs::create_dir_all(&ops).expect("mkdir");
    std::fs::write(ops.join("crash.yaml"), node_op("crash", "Crash", None)).expect("write");
    std::fs::write(ops.join("flap.yaml"), node_op("flap", "Flap", Some(3600))).expect("write");
    let data = dir.path().join("data");
    let port = free_port();
    let mut node = OpenferoProcess::start(&data, &ops, port, &[]);
    let http = client();
    node.wait_ready(&http).await;

    let (mut crash, mut flap) = (0, 0);
    let started = Instant::now();
    for i in 0..WEBHOOKS {
        let starts_at = rfc3339(T0 + i as i64 * 1000);
        let body = match i % 3 {
            0 => {
                crash += 1;
                webhook("Crash", &format!("web-{i}"), "firing", &starts_at)
            }
            1 => {
                flap += 1;
                webhook(
                    "Flap",
                    &format!("flap-{}", i % FLAP_PODS),
                    "firing",
                    &starts_at,
                )
            }
            _ if i % 2 == 0 => webhook("Crash", &format!("web-{i}"), "resolved", &starts_at),
            _ => webhook("Other", &format!("x-{i}"), "firing", &starts_at),
        };
        let r = http
            .post(node.url("/alerts"))
            .json(&body)
            .send()
            .await
            .expect("POST /alerts");
        assert_eq!(r.status(), 200, "webhook {i}");
    }
    let posted = started.elapsed();
    let runs = crash + FLAP_PODS;
    // Every run ends before the history is read, so what did happen is final.
    eventually("every run to end", Duration::from_secs(120), || {
        let http = http.clone();
        let url = node.url("/api/remediations?limit=1000");
        async move {
            let all: Vec<Value> = get_json(&http, &url).await;
            let ended = all.iter().filter(|r| r["state"] == "succeeded").count();
            (ended == runs).then_some(())
        }
    })
    .await;

    let started = Instant::now();
    let lines = export_lines(&http, &node.url("/api/alerts/export")).await;
    let exported = started.elapsed();
    eprintln!(
        "posted {WEBHOOKS} webhooks in {:.1}s; exported them in {} ms",
        posted.as_secs_f64(),
        exported.as_millis()
    );
    assert_eq!(lines.len(), WEBHOOKS);
    let seqs: Vec<u64> = lines
        .iter()
        .map(|l| l["seq"].as_u64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "oldest first");

    // Each line is the alert `GET /api/alerts` shows, with its remediations.
    let listed: Vec<Value> = get_json(&http, &node.url("/api/alerts?limit=1000")).await;
    assert_eq!(listed.len(), WEBHOOKS);
    let remediations: Vec<Value> = get_json(&http, &node.url("/api/remediations?limit=1000")).await;
    let by_id: HashMap<&str, &Value> = remediations
        .iter()
        .map(|r| (r["id"].as_str().expect("id"), r))
        .collect();
    for (line, alert) in lines.iter().zip(listed.iter().rev()) {
        let hook = &line["webhook"];
        let a = &hook["alerts"][0];
        assert_eq!(hook["alerts"].as_array().map(Vec::len), Some(1));
        for (got, want) in [
            (&line["seq"], &alert["seq"]),
            (&line["eventId"], &alert["eventId"]),
            (&line["receivedAt"], &alert["receivedAt"]),
            (&line["receivedBy"], &alert["receivedBy"]),
            (&line["logIndex"], &alert["logIndex"]),
            (&hook["groupKey"], &alert["groupKey"]),
            (&hook["receiver"], &alert["receiver"]),
            (&hook["status"], &alert["status"]),
            (&a["status"], &alert["status"]),
            (&a["labels"], &alert["labels"]),
            (&a["annotations"], &alert["annotations"]),
            (&a["startsAt"], &alert["startsAt"]),
            (&a["endsAt"], &alert["endsAt"]),
            (&a["generatorURL"], &alert["generatorURL"]),
            (&a["fingerprint"], &alert["fingerprint"]),
        ] {
            assert_eq!(got, want, "line {line}\nalert {alert}");
        }
        assert_eq!(hook["version"], "4");
        assert_eq!(hook["externalURL"], "http://alertmanager.test");
        let ids: Vec<&Value> = line["remediations"]
            .as_array()
            .expect("remediations")
            .iter()
            .map(|r| &r["id"])
            .collect();
        let want: Vec<&Value> = alert["remediations"]
            .as_array()
            .expect("ids")
            .iter()
            .collect();
        assert_eq!(ids, want);
        for r in line["remediations"].as_array().expect("remediations") {
            let api = by_id[r["id"].as_str().expect("id")];
            for k in [
                "operarius",
                "state",
                "reason",
                "startedAt",
                "finishedAt",
                "exitCode",
            ] {
                assert_eq!(r[k], api[k], "{k} of {r}");
            }
        }
    }

    // `since` and `until` select on the received time.
    let (from, to) = (&lines[100]["receivedAt"], &lines[200]["receivedAt"]);
    let window = export_lines(
        &http,
        &node.url(&format!(
            "/api/alerts/export?since={}&until={}",
            from.as_str().expect("time"),
            to.as_str().expect("time")
        )),
    )
    .await;
    let want: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["receivedAt"].as_str() >= from.as_str() && l["receivedAt"].as_str() < to.as_str()
        })
        .collect();
    assert_eq!(window.iter().collect::<Vec<_>>(), want);
    let bad = http
        .get(node.url("/api/alerts/export?since=yesterday"))
        .send()
        .await
        .expect("GET");
    assert_eq!(bad.status(), 400);

    // Replayed against the catalog that recorded it, from the API and from the exported file:
    // no difference.
    let file = dir.path().join("export.jsonl");
    let mut text = String::new();
    for l in &lines {
        text.push_str(&l.to_string());
        text.push('\n');
    }
    std::fs::write(&file, text).expect("write export");
    let ops_arg = ops.to_str().expect("utf-8 path");
    let unchanged = |report: &Value| {
        let s = &report["summary"];
        assert_eq!(s["alertsReplayed"], WEBHOOKS as u64, "{s}");
        assert_eq!(
            counts(s),
            Counts {
                did_run: runs as u64,
                would_run: runs as u64,
                ..Counts::default()
            },
            "{s}"
        );
        s.clone()
    };
    let from_api =
        unchanged(&replay_json(&["--server", &node.url(""), "--catalog", ops_arg]).await);
    let from_file = unchanged(
        &replay_json(&[
            "--file",
            file.to_str().expect("utf-8 path"),
            "--catalog",
            ops_arg,
        ])
        .await,
    );
    assert_eq!(from_api, from_file);

    // Without the cooldown every flapping alert runs: the ones it skipped are the new runs.
    let loose = dir.path().join("loose");
    std::fs::create_dir_all(&loose).expect("mkdir");
    std::fs::write(loose.join("crash.yaml"), node_op("crash", "Crash", None)).expect("write");
    std::fs::write(loose.join("flap.yaml"), node_op("flap", "Flap", None)).expect("write");
    let report = replay_json(&[
        "--server",
        &node.url(""),
        "--catalog",
        loose.to_str().expect("utf-8 path"),
    ])
    .await;
    let s = &report["summary"];
    assert_eq!(s["newRuns"], (flap - FLAP_PODS) as u64, "{s}");
    assert_eq!(s["removedRuns"], 0, "{s}");
    assert_eq!(s["changedDecisions"], (flap - FLAP_PODS) as u64, "{s}");

    // The table: the summary, per operarius, and the changed alerts.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_openfero"))
        .args(["replay", "--file"])
        .arg(&file)
        .arg("--catalog")
        .arg(&loose)
        .args(["--limit", "3"])
        .output()
        .expect("run openfero replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).expect("utf-8");
    let changed = flap - FLAP_PODS;
    for want in [
        format!("replayed {WEBHOOKS} alerts from"),
        "CHANGED".to_string(),
        "default/flap".to_string(),
        format!("changed alerts (3 of {changed}"),
        "default/flap: skipped (cooldown)".to_string(),
    ] {
        assert!(table.contains(&want), "`{want}` in\n{table}");
    }

    // A running node holds its data dir.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_openfero"))
        .args(["replay", "--data-dir"])
        .arg(&data)
        .args(["--catalog", ops_arg])
        .output()
        .expect("run openfero replay");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another process") && err.contains("--server"),
        "{err}"
    );

    // Stopped, its data dir replays as its export does.
    node.guard.terminate().expect("stopped");
    let from_dir = unchanged(
        &replay_json(&[
            "--data-dir",
            data.to_str().expect("utf-8 path"),
            "--catalog",
            ops_arg,
        ])
        .await,
    );
    assert_eq!(from_dir, from_file);
}

#[test]
fn the_export_is_a_viewer_route_of_the_api_and_in_its_document() {
    use openfero::http::routes::{Access, Listed};
    let route = openfero::site::table(1024, Access::Open)
        .into_iter()
        .find(|r| r.path == "/api/alerts/export")
        .expect("the export is routed");
    assert_eq!(route.method, axum::http::Method::GET);
    assert_eq!(route.role, Access::Viewer);
    assert_eq!(route.listed, Listed::Spec);
    let doc: Value =
        serde_json::from_str(openfero::http::openapi::spec_json()).expect("the document");
    let op = &doc["paths"]["/api/alerts/export"]["get"];
    assert!(
        op["responses"]["200"]["content"]["application/x-ndjson"].is_object(),
        "{op}"
    );
    assert!(doc["components"]["schemas"]["HistoryLine"].is_object());
}
