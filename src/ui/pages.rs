//! The pages: alerts, remediation detail, operarios (with the "try it" form), cluster.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{Html, IntoResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::chart;
use super::templates::render;
use crate::http::{try_webhook, ApiError, AppState, OperariusView, RemediationView, TryView};
use crate::ids::RemediationId;
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

fn about() -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": option_env!("OPENFERO_COMMIT").unwrap_or("unknown"),
    })
}

async fn blocking<T: Send + 'static>(
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
}

#[derive(Serialize)]
struct Group {
    alertname: String,
    alerts: Vec<AlertItem>,
}

fn item(history: &History, a: AlertRecord) -> Result<AlertItem, ApiError> {
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
    })
}

/// What every page says above its content: an insecure cluster, a global pause.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Banners {
    insecure: Option<String>,
    paused: Option<String>,
}

impl Banners {
    fn of(state: &AppState) -> Self {
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
        let mut groups: Vec<Group> = Vec::new();
        for a in page.alerts {
            let name = a.alertname.clone();
            let it = item(&h, a)?;
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

struct Step {
    name: &'static str,
    at_ms: Option<i64>,
    class: &'static str,
}

fn human(ms: i64) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms if ms < 3_600_000 => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
        ms => format!("{} h {} min", ms / 3_600_000, (ms % 3_600_000) / 60_000),
    }
}

/// `GET /remediations/{id}`.
pub async fn remediation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, ApiError> {
    let banners = Banners::of(&state);
    let rid = RemediationId(id.clone());
    let (rec, alert) = blocking(state.replica.history(), move |h| {
        let rec = h.remediation(&rid)?.ok_or_else(|| ApiError::NotFound {
            what: format!("remediation `{id}`"),
        })?;
        let alert = h.alert(rec.alert_seq)?;
        Ok((rec, alert))
    })
    .await?;
    let state_name = rec.state.as_str();
    let end_class = match state_name {
        "succeeded" => "done",
        "failed" | "interrupted" | "held" => "bad",
        _ => "",
    };
    let mut steps = vec![
        Step {
            name: "received",
            at_ms: alert.as_ref().map(|a| a.received_at_ms),
            class: "done",
        },
        Step {
            name: "matched",
            at_ms: Some(rec.created_at_ms),
            class: "done",
        },
    ];
    let done_if = |at: Option<i64>| if at.is_some() { "done" } else { "" };
    let job = state
        .jobs
        .as_ref()
        .and_then(|j| job_times(j, &rec.namespace, &rec.job_name, &rec.id));
    if rec.state.as_str() != "skipped" {
        match (&state.jobs, job) {
            // Kubernetes: the leader's committed start, then the Job as the API reports it.
            (Some(_), job) => {
                steps.push(Step {
                    name: "started by the leader",
                    at_ms: rec.started_at_ms,
                    class: done_if(rec.started_at_ms),
                });
                let (created, running) = job.unwrap_or_default();
                steps.push(Step {
                    name: "Job created",
                    at_ms: created,
                    class: done_if(created),
                });
                steps.push(Step {
                    name: "running",
                    at_ms: running,
                    class: done_if(running),
                });
            }
            // Local processes start when the start is committed.
            (None, _) => steps.push(Step {
                name: "running",
                at_ms: rec.started_at_ms,
                class: done_if(rec.started_at_ms),
            }),
        }
    }
    steps.push(Step {
        name: state_name,
        at_ms: rec.finished_at_ms,
        class: end_class,
    });
    let mut prev: Option<i64> = None;
    let timeline: Vec<Value> = steps
        .iter()
        .map(|s| {
            let took = match (prev, s.at_ms) {
                (Some(p), Some(t)) if t >= p => Some(human(t - p)),
                _ => None,
            };
            if s.at_ms.is_some() {
                prev = s.at_ms;
            }
            json!({
                "name": s.name,
                "at": s.at_ms.map(format_ms),
                "took": took,
                "class": s.class,
            })
        })
        .collect();
    let view = RemediationView::from(rec);
    let job_yaml = view
        .job
        .as_ref()
        .and_then(|j| serde_yaml::to_string(&j.job_template).ok());
    render(
        "remediation.html",
        json!({
            "page": "remediation",
            "about": about(),
            "banners": banners,
            "r": view,
            "timeline": timeline,
            "job_yaml": job_yaml,
        }),
    )
    .map(Html)
}

/// When the Job of remediation `id` was created and started, as this node's Job watch saw it
/// (second precision, from Kubernetes). `None` when the watch does not hold the Job (not
/// created yet, or expired by `ttlSecondsAfterFinished`) or it belongs to another remediation.
fn job_times(
    jobs: &crate::kubernetes::JobTracker,
    namespace: &str,
    name: &str,
    id: &RemediationId,
) -> Option<(Option<i64>, Option<i64>)> {
    let job = jobs.get(namespace, name)?;
    let owner = job
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::kubernetes::labels::ANN_REMEDIATION_ID));
    if owner.map(String::as_str) != Some(id.as_str()) {
        return None;
    }
    let created = job
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_millisecond());
    let started = job
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0.as_millisecond());
    Some((created, started))
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
    render(
        "operarios.html",
        json!({
            "page": "operarios",
            "live": false,
            "about": about(),
            "banners": banners,
            "ops": ops,
            "payload": sample_webhook(&defs),
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
