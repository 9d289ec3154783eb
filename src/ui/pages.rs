//! The pages: alerts and cluster (the operarios page and its "try it" form: `operarios.rs`;
//! one remediation: `remediation.rs`).

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::HeaderName;
use axum::response::{Html, IntoResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::chart;
use super::templates::render;
use crate::http::{ApiError, AppState};
use crate::operarios::OperariusDef;
use crate::remediation::{AlertFilter, AlertRecord, History};
use crate::time::{format_ms, now_ms};

const PAGE_SIZE: usize = 50;
const RANGES: &[(&str, &str)] = &[
    ("", "any time"),
    ("1", "last hour"),
    ("6", "last 6 hours"),
    ("24", "last 24 hours"),
    ("168", "last 7 days"),
];

pub(super) fn about() -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": option_env!("OPENFERO_COMMIT").unwrap_or("unknown"),
    })
}

pub(super) async fn blocking<T: Send + 'static>(
    history: &History,
    f: impl FnOnce(History) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let h = history.clone();
    tokio::task::spawn_blocking(move || f(h))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// The alerts page's query string; empty fields mean "any".
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AlertsQuery {
    pub q: String,
    pub status: String,
    pub severity: String,
    pub namespace: String,
    pub alertname: String,
    /// Hours back from now.
    pub since: String,
    /// Only alerts with a sequence number below this (the "older" cursor).
    pub before: String,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

impl AlertsQuery {
    fn filter(&self, now_ms: i64) -> Result<(AlertFilter, Option<u64>), ApiError> {
        let bad = |field: &str, v: &str| {
            ApiError::bad_request(format!("bad `{field}`: `{v}`"), json!({ "field": field }))
        };
        let since_ms = match some(&self.since) {
            None => None,
            Some(h) => {
                let hours: i64 = h.parse().map_err(|_| bad("since", &h))?;
                Some(now_ms - hours.saturating_mul(3_600_000))
            }
        };
        let before = match some(&self.before) {
            None => None,
            Some(b) => Some(b.parse().map_err(|_| bad("before", &b))?),
        };
        if let Some(s) = some(&self.status) {
            if crate::alerts::AlertStatus::parse(&s).is_none() {
                return Err(bad("status", &s));
            }
        }
        Ok((
            AlertFilter {
                q: some(&self.q),
                status: some(&self.status),
                severity: some(&self.severity),
                namespace: some(&self.namespace),
                alertname: some(&self.alertname),
                since_ms,
            },
            before,
        ))
    }

    fn href(&self, before: Option<u64>) -> String {
        let mut q = self.clone();
        q.before = before.map(|b| b.to_string()).unwrap_or_default();
        let pairs: Vec<(&str, &str)> = [
            ("q", &q.q),
            ("status", &q.status),
            ("severity", &q.severity),
            ("namespace", &q.namespace),
            ("alertname", &q.alertname),
            ("since", &q.since),
            ("before", &q.before),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.as_str()))
        .collect();
        match serde_urlencoded::to_string(pairs) {
            Ok(s) if !s.is_empty() => format!("/?{s}"),
            _ => "/".into(),
        }
    }
}

#[derive(Serialize)]
struct RemRef {
    id: String,
    operarius: String,
    state: String,
}

#[derive(Serialize)]
struct AlertItem {
    seq: u64,
    status: String,
    labels: BTreeMap<String, String>,
    summary: Option<String>,
    received_at: String,
    remediations: Vec<RemRef>,
    /// Why it has none, when it has none.
    why: Option<String>,
}

#[derive(Serialize)]
struct Group {
    alertname: String,
    alerts: Vec<AlertItem>,
}

fn item(
    history: &History,
    catalog: &[OperariusDef],
    a: AlertRecord,
) -> Result<AlertItem, ApiError> {
    let why = a
        .remediations
        .is_empty()
        .then(|| crate::remediation::why_unclaimed(catalog, &a));
    let mut remediations = Vec::with_capacity(a.remediations.len());
    for id in &a.remediations {
        if let Some(r) = history.remediation(id)? {
            remediations.push(RemRef {
                id: r.id.0,
                operarius: r.operarius,
                state: r.state.as_str().to_string(),
            });
        }
    }
    Ok(AlertItem {
        seq: a.seq,
        summary: a.annotations.get("summary").cloned(),
        status: a.status,
        labels: a.labels,
        received_at: format_ms(a.received_at_ms),
        remediations,
        why,
    })
}

/// What every page says above its content: an insecure cluster, a global pause.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Banners {
    insecure: Option<String>,
    paused: Option<String>,
}

impl Banners {
    pub(super) fn of(state: &AppState) -> Self {
        let paused = state
            .replica
            .history()
            .pause()
            .ok()
            .filter(|p| p.paused)
            .map(|p| {
                format!(
                    "Remediations are paused (by {} at {}): new ones are queued, not run.",
                    p.by,
                    crate::time::format_ms(p.at_ms)
                )
            });
        Self {
            insecure: state.insecure_cluster.clone(),
            paused,
        }
    }
}

/// `GET /`: alerts grouped by alertname, filtered and paginated on the server. The
/// `Server-Timing` header splits the server time into the list and the chart.
pub async fn alerts(
    State(state): State<AppState>,
    query: Result<Query<AlertsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let banners = Banners::of(&state);
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), json!(null)))?;
    let now = now_ms();
    let (filter, before) = query.filter(now)?;
    let (groups, next, buckets, timing) = blocking(state.replica.history(), move |h| {
        let started = Instant::now();
        let page = h.alerts_page(&filter, before, PAGE_SIZE)?;
        let (catalog, _) = h.catalog()?;
        let mut groups: Vec<Group> = Vec::new();
        for a in page.alerts {
            let name = a.alertname.clone();
            let it = item(&h, &catalog, a)?;
            match groups.iter_mut().find(|g| g.alertname == name) {
                Some(g) => g.alerts.push(it),
                None => groups.push(Group {
                    alertname: name,
                    alerts: vec![it],
                }),
            }
        }
        let listed = Instant::now();
        let buckets = chart::buckets(&h, now)?;
        let timing = format!(
            "list;dur={:.2}, chart;dur={:.2}",
            (listed - started).as_secs_f64() * 1e3,
            listed.elapsed().as_secs_f64() * 1e3
        );
        Ok((groups, page.next_before, buckets, timing))
    })
    .await?;
    let count: usize = groups.iter().map(|g| g.alerts.len()).sum();
    let html = render(
        "alerts.html",
        json!({
            "page": "alerts",
            "about": about(),
            "banners": banners,
            "f": query,
            "ranges": RANGES,
            "groups": groups,
            "count": count,
            "chart": chart::html(&buckets),
            "older_href": next.map(|n| query.href(Some(n))),
            "newest_href": query.href(None),
        }),
    )?;
    Ok((
        [(HeaderName::from_static("server-timing"), timing)],
        Html(html),
    ))
}

/// How often the cluster page re-renders itself: gossip and replication progress are not log
/// entries, so the event stream alone would not show them.
const CLUSTER_REFRESH_MS: u64 = 2000;

/// `GET /cluster`: every node's Raft role, gossip state and replication progress; live.
pub async fn cluster(State(state): State<AppState>) -> Result<Html<String>, ApiError> {
    let banners = Banners::of(&state);
    let view = state.cluster.view().await;
    // Lag: entries the node has yet to apply, against the leader's last log index.
    let leader_last = view
        .nodes
        .iter()
        .find(|n| Some(&n.id) == view.leader.as_ref())
        .and_then(|n| n.last_log_index);
    let lags: Vec<Option<u64>> = view
        .nodes
        .iter()
        .map(|n| Some(leader_last?.saturating_sub(n.applied_index?)))
        .collect();
    render(
        "cluster.html",
        json!({
            "page": "cluster",
            "about": about(),
            "banners": banners,
            "c": view,
            "lags": lags,
            "refresh_ms": CLUSTER_REFRESH_MS,
            "as_of": format_ms(now_ms()),
        }),
    )
    .map(Html)
}
