//! What the harness sees of the cluster: `GET /admin/cluster` views, polled in the background
//! on every node, kept as observations (time, observer, term, leader) for the leader checks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::double::now_ms;

/// The part of `GET /admin/cluster` the campaign uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub node: String,
    pub leader: Option<String>,
    pub term: u64,
    pub voters: Vec<String>,
    pub applied_index: Option<u64>,
}

/// One view, reduced: who `observer` (node id) believed led which term, at `unix_ms`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub unix_ms: u64,
    pub observer: String,
    pub observer_name: String,
    pub term: u64,
    pub leader: Option<String>,
}

pub async fn view(http: &reqwest::Client, url: &str) -> Result<ClusterView, String> {
    let resp = http
        .get(url)
        .timeout(Duration::from_millis(800))
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("GET {url}: {e}"))
}

/// Polls every node's view every 200 ms until aborted.
pub fn spawn_observer(
    http: reqwest::Client,
    nodes: Vec<(String, String)>,
    out: Arc<Mutex<Vec<Observation>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let polls = nodes.iter().map(|(name, base)| {
                let http = http.clone();
                let url = format!("{base}/admin/cluster");
                let name = name.clone();
                async move { (name, view(&http, &url).await, now_ms()) }
            });
            for (name, v, t) in futures::future::join_all(polls).await {
                if let Ok(v) = v {
                    out.lock().expect("observations lock").push(Observation {
                        unix_ms: t,
                        observer: v.node,
                        observer_name: name,
                        term: v.term,
                        leader: v.leader,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}
