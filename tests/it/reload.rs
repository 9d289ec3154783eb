//! Operarius files are re-read every `--reload-secs`: added, changed and removed files reach the
//! replicated catalog on one node and on a 3-node cluster (issue 17: the re-read never ran,
//! because the reload sleep was re-armed by every Raft metrics change).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::cluster_support::{ClusterOptions, TestCluster};
use crate::support::{client, eventually, free_port, marker_operarius, OpenferoProcess};

/// Several reload intervals: the catalog must follow within this, or it does not follow.
const FOLLOWS_WITHIN: Duration = Duration::from_secs(8);

/// `namespace/name` → priority, as `GET /api/operarios` answers.
async fn catalog(http: &reqwest::Client, url: &str) -> Option<Vec<(String, i64)>> {
    let list: Vec<Value> = http.get(url).send().await.ok()?.json().await.ok()?;
    Some(
        list.iter()
            .map(|o| {
                (
                    format!(
                        "{}/{}",
                        o["namespace"].as_str().unwrap_or(""),
                        o["name"].as_str().unwrap_or("")
                    ),
                    o["priority"].as_i64().unwrap_or(0),
                )
            })
            .collect(),
    )
}

fn write_op(dir: &Path, name: &str, priority: i32) {
    let marker = dir.join("unused-marker");
    let text = marker_operarius(name, "Reloaded", "firing", &marker).replace(
        "spec:\n  alertSelector:",
        &format!("spec:\n  priority: {priority}\n  alertSelector:"),
    );
    std::fs::write(dir.join(format!("{name}.yaml")), text).expect("write operarius");
}

/// Wait until every url answers exactly `want`.
async fn follows(http: &reqwest::Client, urls: &[String], want: &[(&str, i64)], what: &str) {
    let want: Vec<(String, i64)> = want.iter().map(|(k, p)| (k.to_string(), *p)).collect();
    for url in urls {
        eventually(what, FOLLOWS_WITHIN, || {
            let (http, url, want) = (http.clone(), url.clone(), want.clone());
            async move { (catalog(&http, &url).await? == want).then_some(()) }
        })
        .await;
    }
}

/// Add, change and remove files in `dir`; each step reaches every url.
async fn add_change_remove(http: &reqwest::Client, dir: &Path, urls: &[String]) {
    follows(http, urls, &[("default/first", 1)], "the initial catalog").await;
    write_op(dir, "second", 2);
    follows(
        http,
        urls,
        &[("default/first", 1), ("default/second", 2)],
        "an added file to be replicated",
    )
    .await;
    write_op(dir, "second", 7);
    follows(
        http,
        urls,
        &[("default/first", 1), ("default/second", 7)],
        "a changed file to be replicated",
    )
    .await;
    std::fs::remove_file(dir.join("first.yaml")).expect("remove");
    follows(
        http,
        urls,
        &[("default/second", 7)],
        "a removed file to leave the catalog",
    )
    .await;
}

#[tokio::test]
async fn operarius_files_are_reread_on_a_single_node() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ops = tmp.path().join("operarios");
    std::fs::create_dir_all(&ops).expect("mkdir");
    write_op(&ops, "first", 1);
    let node = OpenferoProcess::start(
        &tmp.path().join("data"),
        &ops,
        free_port(),
        &["--reload-secs", "1"],
    );
    let http = client();
    node.wait_ready(&http).await;
    add_change_remove(&http, &ops, &[node.url("/api/operarios")]).await;
}

#[tokio::test]
async fn operarius_files_are_reread_on_a_three_node_cluster() {
    let mut cluster = TestCluster::new(
        &["n1", "n2", "n3"],
        ClusterOptions::default().with(&["--reload-secs", "1"]),
    );
    // Replace the cluster's marker operarius with this test's own.
    for entry in std::fs::read_dir(&cluster.ops).expect("read ops") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove");
    }
    let ops = cluster.ops.clone();
    write_op(&ops, "first", 1);
    cluster.start_all();
    let names = cluster.running();
    cluster.wait_formed(&names, Duration::from_secs(60)).await;
    let urls: Vec<String> = names
        .iter()
        .map(|n| cluster.url(n, "/api/operarios"))
        .collect();
    let http = cluster.http.clone();
    add_change_remove(&http, &ops, &urls).await;
}
