//! Watches: kube-rs' watcher against the double, and the raw protocol.

mod common;

use std::time::Duration;

use common::{api_error, bounded, eventually, start};
use futures::StreamExt;
use k8s_openapi::api::{batch::v1::Job, core::v1::ConfigMap};
use kube::{
    api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams},
    runtime::{watcher, WatchStreamExt},
    Resource, ResourceExt,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Runs a watcher in the background and reports its events as short strings:
/// `init`, `init-apply:NAME`, `init-done`, `apply:NAME:SUMMARY`, `delete:NAME`, `error:TEXT`.
fn spawn_watcher<K>(api: Api<K>, summary: fn(&K) -> String) -> mpsc::UnboundedReceiver<String>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    spawn_watcher_with(api, watcher::Config::default(), summary)
}

fn spawn_watcher_with<K>(
    api: Api<K>,
    config: watcher::Config,
    summary: fn(&K) -> String,
) -> mpsc::UnboundedReceiver<String>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Errors are surfaced as events; the backoff keeps the watcher going.
        let mut stream = watcher(api, config).default_backoff().boxed();
        while let Some(event) = stream.next().await {
            let line = match event {
                Ok(watcher::Event::Init) => "init".to_string(),
                Ok(watcher::Event::InitApply(o)) => format!("init-apply:{}", o.name_any()),
                Ok(watcher::Event::InitDone) => "init-done".to_string(),
                Ok(watcher::Event::Apply(o)) => format!("apply:{}:{}", o.name_any(), summary(&o)),
                Ok(watcher::Event::Delete(o)) => format!("delete:{}", o.name_any()),
                Err(e) => format!("error:{e}"),
            };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for an event satisfying `want`, returning the events seen up to and including it.
async fn wait_for(
    rx: &mut mpsc::UnboundedReceiver<String>,
    what: &str,
    want: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<String>> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) => {
                let done = want(&event);
                seen.push(event);
                if done {
                    return Ok(seen);
                }
            }
            Ok(None) => anyhow::bail!("watcher ended while waiting for {what}; saw {seen:?}"),
            Err(_) => anyhow::bail!("timed out waiting for {what}; saw {seen:?}"),
        }
    }
}

fn cm_value(cm: &ConfigMap) -> String {
    cm.data
        .as_ref()
        .and_then(|d| d.get("k"))
        .cloned()
        .unwrap_or_default()
}

fn cm(name: &str, value: &str) -> anyhow::Result<ConfigMap> {
    Ok(serde_json::from_value(
        json!({"metadata": {"name": name}, "data": {"k": value}}),
    )?)
}

#[tokio::test]
async fn watcher_sees_added_modified_deleted_in_order() -> anyhow::Result<()> {
    bounded(async {
        let (double, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        cms.create(&PostParams::default(), &cm("before", "0")?)
            .await?;
        let mut rx = spawn_watcher(cms.clone(), cm_value);
        let init = wait_for(&mut rx, "initial list", |e| e == "init-done").await?;
        assert_eq!(init, ["init", "init-apply:before", "init-done"]);

        cms.create(&PostParams::default(), &cm("a", "1")?).await?;
        cms.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "2"}})),
        )
        .await?;
        cms.delete("a", &DeleteParams::default()).await?;
        let seen = wait_for(&mut rx, "deletion of a", |e| e == "delete:a").await?;
        assert_eq!(seen, ["apply:a:1", "apply:a:2", "delete:a"]);

        // kube's default watcher: one list with limit=500, then a watch with bookmarks.
        let requests = double.requests();
        let lists: Vec<_> = requests
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/configmaps") && !r.is_watch())
            .collect();
        assert_eq!(lists.len(), 1);
        assert!(
            lists[0].query.contains("limit=500"),
            "list query {}",
            lists[0].query
        );
        let watch = requests
            .iter()
            .find(|r| r.is_watch())
            .expect("a watch request");
        assert!(
            watch.query.contains("allowWatchBookmarks=true"),
            "watch query {}",
            watch.query
        );
        assert!(
            watch.query.contains("resourceVersion="),
            "watch query {}",
            watch.query
        );
        Ok(())
    })
    .await
}

fn list_requests(double: &openfero_kube_double::KubeDouble) -> usize {
    double
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/configmaps") && !r.is_watch())
        .count()
}

fn watch_requests(double: &openfero_kube_double::KubeDouble) -> usize {
    double.requests().iter().filter(|r| r.is_watch()).count()
}

#[tokio::test]
async fn watcher_resumes_after_dropped_watches_and_relists_after_expiry() -> anyhow::Result<()> {
    bounded(async {
        let (double, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let mut rx = spawn_watcher(cms.clone(), cm_value);
        wait_for(&mut rx, "initial list", |e| e == "init-done").await?;
        cms.create(&PostParams::default(), &cm("one", "1")?).await?;
        wait_for(&mut rx, "one", |e| e.starts_with("apply:one")).await?;

        // Dropped streams: the watcher reconnects from its resourceVersion, without a re-list.
        double.drop_watches();
        eventually("a second watch request", Duration::from_secs(10), || {
            let n = watch_requests(&double);
            async move { (n >= 2).then_some(()) }
        })
        .await?;
        cms.create(&PostParams::default(), &cm("two", "2")?).await?;
        let seen = wait_for(&mut rx, "two", |e| e.starts_with("apply:two")).await?;
        assert!(
            !seen.iter().any(|e| e == "init"),
            "no re-list after a dropped watch: {seen:?}"
        );
        assert_eq!(list_requests(&double), 1);

        // Expired history: the resumed watch gets a 410 ERROR event and the watcher re-lists.
        double.expire_watches();
        let seen = wait_for(&mut rx, "re-list", |e| e == "init-done").await?;
        assert!(
            seen.iter()
                .any(|e| e.contains("410") || e.contains("Expired")),
            "saw {seen:?}"
        );
        assert!(seen.iter().any(|e| e == "init-apply:two"), "saw {seen:?}");
        assert_eq!(list_requests(&double), 2);
        cms.create(&PostParams::default(), &cm("three", "3")?)
            .await?;
        wait_for(&mut rx, "three", |e| e.starts_with("apply:three")).await?;
        Ok(())
    })
    .await
}

fn job_summary(job: &Job) -> String {
    let conditions = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .filter(|c| c.status == "True")
                .map(|c| format!("{}({})", c.type_, c.reason.clone().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("+")
        })
        .unwrap_or_default();
    let active = job.status.as_ref().and_then(|s| s.active).unwrap_or(0);
    format!("active={active};{conditions}")
}

#[tokio::test]
async fn job_completion_and_failure_are_observed_by_a_watcher() -> anyhow::Result<()> {
    bounded(async {
        let (double, client) = start().await?;
        let jobs: Api<Job> = Api::namespaced(client, "default");
        let mut rx = spawn_watcher(jobs.clone(), job_summary);
        wait_for(&mut rx, "initial list", |e| e == "init-done").await?;
        let job = |name: &str| -> anyhow::Result<Job> {
            Ok(serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox"}]}}},
            }))?)
        };
        jobs.create(&PostParams::default(), &job("ok")?).await?;
        jobs.create(&PostParams::default(), &job("bad")?).await?;
        wait_for(&mut rx, "bad active", |e| e == "apply:bad:active=1;").await?;

        double.complete_job("default", "ok")?;
        wait_for(&mut rx, "ok complete", |e| {
            e == "apply:ok:active=0;SuccessCriteriaMet(CompletionsReached)+Complete(CompletionsReached)"
        })
        .await?;
        double.fail_job("default", "bad", "DeadlineExceeded")?;
        wait_for(&mut rx, "bad failed", |e| {
            e == "apply:bad:active=0;FailureTarget(DeadlineExceeded)+Failed(DeadlineExceeded)"
        })
        .await?;

        let pod = double.job_pods("default", "ok").pop().expect("ok has a pod");
        let pod = double.object("", "v1", "pods", "default", &pod).expect("pod exists");
        assert_eq!(pod["status"]["phase"], "Succeeded");
        assert_eq!(pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], 0);
        let done = jobs.get("ok").await?;
        let status = done.status.expect("status");
        assert_eq!((status.succeeded, status.active), (Some(1), None));
        assert!(status.completion_time.is_some() && status.start_time.is_some());
        assert!(double.complete_job("default", "ok").is_err(), "a finished job cannot finish again");
        assert!(double.complete_job("default", "missing").is_err());
        Ok(())
    })
    .await
}

async fn raw_watch(url: &str) -> anyhow::Result<Vec<Value>> {
    let text = reqwest::get(url).await?.error_for_status()?.text().await?;
    text.lines().map(|l| Ok(serde_json::from_str(l)?)).collect()
}

#[tokio::test]
async fn raw_watch_replays_with_selector_transitions_bookmarks_and_timeout() -> anyhow::Result<()> {
    bounded(async {
        let (double, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        cms.create(&PostParams::default(), &cm("a", "1")?).await?;
        let from = double.resource_version();
        let label = |v: Value| Patch::Merge(json!({"metadata": {"labels": {"app": v}}}));
        cms.patch("a", &PatchParams::default(), &label(json!("x"))).await?;
        cms.patch("a", &PatchParams::default(), &json_data("2")).await?;
        cms.patch("a", &PatchParams::default(), &label(Value::Null)).await?;
        cms.create(&PostParams::default(), &cm("b", "1")?).await?;

        let started = std::time::Instant::now();
        let events = raw_watch(&format!(
            "{}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={from}&labelSelector=app%3Dx&allowWatchBookmarks=true&timeoutSeconds=1",
            double.url()
        ))
        .await?;
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5), "{elapsed:?}");
        let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        let changes: Vec<&str> = kinds.iter().copied().filter(|k| *k != "BOOKMARK").collect();
        assert_eq!(changes, ["ADDED", "MODIFIED", "DELETED"]);
        let bookmark = events.iter().find(|e| e["type"] == "BOOKMARK").expect("a bookmark");
        assert_eq!(bookmark["object"]["kind"], "ConfigMap");
        assert_eq!(
            bookmark["object"]["metadata"]["resourceVersion"],
            double.resource_version().to_string()
        );

        // Without a resourceVersion the watch starts with the current objects.
        let events = raw_watch(&format!(
            "{}/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1",
            double.url()
        ))
        .await?;
        let added: Vec<&str> = events
            .iter()
            .map(|e| e["object"]["metadata"]["name"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(added, ["a", "b"]);

        // An expired resourceVersion is a 410 ERROR event, then the stream ends.
        double.expire_watches();
        let events = raw_watch(&format!(
            "{}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={from}",
            double.url()
        ))
        .await?;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "ERROR");
        assert_eq!(events[0]["object"]["code"], 410);
        assert_eq!(events[0]["object"]["reason"], "Expired");
        Ok(())
    })
    .await
}

fn json_data(v: &str) -> Patch<Value> {
    Patch::Merge(json!({"data": {"k": v}}))
}

#[tokio::test]
async fn shutdown_ends_open_watches() -> anyhow::Result<()> {
    bounded(async {
        let (double, _client) = start().await?;
        let response = reqwest::get(format!("{}/api/v1/pods?watch=true", double.url())).await?;
        assert_eq!(response.status(), 200);
        let reader = tokio::spawn(async move { response.text().await });
        double.shutdown().await?;
        tokio::time::timeout(Duration::from_secs(5), reader).await???;
        assert!(reqwest::get(format!("{}/api", double.url())).await.is_err());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_then_changes() -> anyhow::Result<()> {
    bounded(async {
        let (double, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        cms.create(&PostParams::default(), &cm("before", "0")?)
            .await?;
        let mut rx = spawn_watcher_with(
            cms.clone(),
            watcher::Config::default().streaming_lists(),
            cm_value,
        );
        let init = wait_for(&mut rx, "initial events", |e| e == "init-done").await?;
        assert_eq!(init, ["init", "init-apply:before", "init-done"]);
        cms.create(&PostParams::default(), &cm("after", "1")?)
            .await?;
        wait_for(&mut rx, "after", |e| e == "apply:after:1").await?;
        assert_eq!(list_requests(&double), 0, "streaming lists do not list");
        Ok(())
    })
    .await
}

/// kube's watcher lists in pages of 500 and then watches from the list's resourceVersion. A
/// change to an object on an early page while later pages are read must still reach it: every
/// page comes from the first page's snapshot and carries its resourceVersion, so the watch from
/// there replays the change (found by the chaos campaign: a Job completed while a restarted
/// leader listed 1 000 Jobs was never seen).
#[tokio::test]
async fn paginated_list_is_one_snapshot_and_a_watch_from_it_misses_nothing() -> anyhow::Result<()> {
    bounded(async {
        let (double, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        for name in ["a", "b", "c", "d"] {
            cms.create(&PostParams::default(), &cm(name, "1")?).await?;
        }
        let first = cms.list(&ListParams::default().limit(2)).await?;
        let snapshot = first.metadata.resource_version.clone().expect("an rv");
        let names = |l: &kube::core::ObjectList<ConfigMap>| {
            l.items.iter().map(|c| c.name_any()).collect::<Vec<_>>()
        };
        assert_eq!(names(&first), ["a", "b"]);

        // Between the pages: a (already listed) changes, c (not yet listed) is deleted, e is new.
        cms.patch("a", &PatchParams::default(), &json_data("2")).await?;
        cms.delete("c", &Default::default()).await?;
        cms.create(&PostParams::default(), &cm("e", "1")?).await?;

        let token = first.metadata.continue_.clone().expect("a continue token");
        let second = cms
            .list(&ListParams::default().limit(2).continue_token(&token))
            .await?;
        assert_eq!(names(&second), ["c", "d"], "the snapshot of the first page");
        assert_eq!(second.metadata.resource_version.as_deref(), Some(snapshot.as_str()));
        assert_eq!(
            second.items[0].data.as_ref().and_then(|d| d.get("k")).map(String::as_str),
            Some("1")
        );

        let events = raw_watch(&format!(
            "{}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={snapshot}&timeoutSeconds=1",
            double.url()
        ))
        .await?;
        let seen: Vec<String> = events
            .iter()
            .map(|e| format!("{} {}", e["type"].as_str().unwrap_or("?"), e["object"]["metadata"]["name"].as_str().unwrap_or("?")))
            .collect();
        assert_eq!(seen, ["MODIFIED a", "DELETED c", "ADDED e"]);

        // A continue token older than the kept history: 410 Expired, as from the API server.
        double.expire_watches();
        let (code, message) =
            api_error(cms.list(&ListParams::default().limit(2).continue_token(&token)).await)?;
        assert_eq!(code, 410, "{message}");
        Ok(())
    })
    .await
}
