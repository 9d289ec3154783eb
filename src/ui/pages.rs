//! The pages: alerts, remediation detail, operarios (with the "try it" form), cluster.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{Html, IntoResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::chart;
use super::templates::render;
use crate::http::{try_webhook, ApiError, AppState, OperariusView, TryView};
use crate::operarios::{MatchOp, OperariusDef};
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
            "chart": chart::svg(&buckets),
            "older_href": next.map(|n| query.href(Some(n))),
            "newest_href": query.href(None),
        }),
    )?;
    Ok((
        [(HeaderName::from_static("server-timing"), timing)],
        Html(html),
    ))
}

/// The operarius cards of the operarios page.
fn operarius_cards(h: &History) -> Result<(Vec<Value>, Vec<OperariusDef>), ApiError> {
    let (defs, _) = h.catalog()?;
    let mut out = Vec::with_capacity(defs.len());
    for d in &defs {
        let stats = h.operarius_stats(&d.key())?;
        let view = OperariusView::from(d.clone());
        let mut v = serde_json::to_value(&view)
            .map_err(|e| ApiError::Internal(format!("operarius view: {e}")))?;
        v["yaml"] = json!(serde_yaml::to_string(&view.job_template).unwrap_or_default());
        v["executions"] = json!(stats.execution_count);
        v["lastStatus"] = json!(stats.last_status.map(|s| s.as_str()));
        v["lastExecution"] = json!(stats.last_execution_ms.map(format_ms));
        out.push(v);
    }
    for b in h.broken_operarios()? {
        let stats = h.operarius_stats(&b.key())?;
        let view = OperariusView::from(b);
        let mut v = serde_json::to_value(&view)
            .map_err(|e| ApiError::Internal(format!("operarius view: {e}")))?;
        v["executions"] = json!(stats.execution_count);
        out.push(v);
    }
    out.sort_by_key(|v| format!("{}/{}", v["namespace"], v["name"]));
    Ok((out, defs))
}

/// A webhook the first enabled operarius matches, to start the "try it" form from: its
/// alertname, status and selector labels, plus the labels and annotation the example operarios'
/// templates read.
fn sample_webhook(defs: &[OperariusDef]) -> String {
    let def = defs.iter().find(|d| d.enabled).or(defs.first());
    let (alertname, status) = def
        .map(|d| (d.selector.alertname.clone(), d.selector.status.clone()))
        .unwrap_or_else(|| ("KubePodCrashLooping".into(), "firing".into()));
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    labels.insert("alertname".into(), alertname.clone());
    labels.insert("namespace".into(), "default".into());
    labels.insert("pod".into(), "example-0".into());
    if let Some(d) = def {
        labels.extend(d.selector.labels.clone());
        for m in &d.selector.matchers {
            if m.op == MatchOp::Eq {
                labels.insert(m.name.clone(), m.value.clone());
            }
        }
    }
    let status = if status.is_empty() {
        "firing".to_string()
    } else {
        status
    };
    let hook = json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\"}}"),
        "status": status,
        "receiver": "openfero",
        "groupLabels": { "alertname": alertname },
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": { "summary": "an example alert" },
            "startsAt": format_ms(now_ms()),
            "generatorURL": "http://prometheus.example/graph"
        }]
    });
    serde_json::to_string_pretty(&hook).unwrap_or_default()
}

/// `GET /operarios`: the replicated catalog and the "try it" form.
pub async fn operarios(State(state): State<AppState>) -> Result<Html<String>, ApiError> {
    let banners = Banners::of(&state);
    let (ops, defs) = blocking(state.replica.history(), |h| operarius_cards(&h)).await?;
    let history = state.replica.history();
    let now = now_ms();
    let breakers: Vec<crate::http::BreakerView> = history
        .breakers()
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .iter()
        .map(|b| crate::http::BreakerView::of(b, now))
        .collect();
    let paused = history.pause().map(|p| p.paused).unwrap_or(false);
    render(
        "operarios.html",
        json!({
            "page": "operarios",
            "live": false,
            "about": about(),
            "banners": banners,
            "ops": ops,
            "payload": sample_webhook(&defs),
            "breakers": breakers,
            "paused": paused,
        }),
    )
    .map(Html)
}

/// The "try it" form's body.
#[derive(Debug, Deserialize)]
struct TryForm {
    #[serde(default)]
    payload: String,
}

/// `POST /operarios/try` (the form, `application/x-www-form-urlencoded`): the operarios that
/// would match each alert of the pasted webhook and what each would run, with nothing proposed,
/// stored or executed. Bad input is a 400 page that says what is wrong, with the payload kept
/// in the form.
pub async fn try_operarios(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<(StatusCode, Html<String>), ApiError> {
    let banners = Banners::of(&state);
    let body = match crate::http::read_body(&state, request).await {
        Ok(b) => b,
        Err(e) => return try_page(banners.clone(), e.status(), "", None, Some(e.to_string())),
    };
    let form: TryForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("cannot read the form: {e}");
            return try_page(
                banners.clone(),
                StatusCode::BAD_REQUEST,
                "",
                None,
                Some(msg),
            );
        }
    };
    if form.payload.trim().is_empty() {
        let msg = "paste an Alertmanager webhook payload (JSON) first".to_string();
        return try_page(
            banners.clone(),
            StatusCode::BAD_REQUEST,
            &form.payload,
            None,
            Some(msg),
        );
    }
    match try_webhook(&state, form.payload.as_bytes()).await {
        Ok(view) => try_page(
            banners.clone(),
            StatusCode::OK,
            &form.payload,
            Some(view),
            None,
        ),
        Err(e @ ApiError::BadRequest { .. }) => try_page(
            banners.clone(),
            StatusCode::BAD_REQUEST,
            &form.payload,
            None,
            Some(e.to_string()),
        ),
        Err(e) => Err(e),
    }
}

fn try_page(
    banners: Banners,
    status: StatusCode,
    payload: &str,
    result: Option<TryView>,
    error: Option<String>,
) -> Result<(StatusCode, Html<String>), ApiError> {
    let result = result.map(|r| {
        let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
        // The rendered Job as YAML and the local command line, for reading.
        if let Some(alerts) = v["alerts"].as_array_mut() {
            for c in alerts
                .iter_mut()
                .filter_map(|a| a["candidates"].as_array_mut())
                .flatten()
            {
                let job = c["job"].clone();
                if job.is_object() {
                    let argv: Vec<String> = job["command"]
                        .as_array()
                        .into_iter()
                        .chain(job["args"].as_array())
                        .flatten()
                        .filter_map(|a| a.as_str().map(shell_word))
                        .collect();
                    c["commandLine"] = json!(argv.join(" "));
                    c["yaml"] =
                        json!(serde_yaml::to_string(&job["jobTemplate"]).unwrap_or_default());
                }
            }
        }
        v
    });
    let html = render(
        "try.html",
        json!({
            "page": "operarios",
            "live": false,
            "about": about(),
            "banners": banners,
            "payload": payload,
            "result": result,
            "error": error,
        }),
    )?;
    Ok((status, Html(html)))
}

/// One word of a command line as a POSIX shell would need it quoted, for display.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
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
