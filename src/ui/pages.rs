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

/// What the operarios page's rules table shows beside the catalog: the replicated guard rails
/// (mode, approval), the global pause and the breakers, read once for every row.
struct RowContext {
    guards: crate::remediation::StoredGuards,
    paused: bool,
    breakers: Vec<crate::http::BreakerView>,
}

/// The operarius rows of the operarios page (table and definition cards), with what each has
/// run. Every number is a read of a replicated counter or index, never a scan: executions are
/// the per-operarius statistics apply keeps (`OperariusStats`: Jobs started, also the
/// Operarius status' `executionCount`), and the last Job's remediation is found from its name,
/// which ends with the remediation id (`remediation::job_name`).
fn operarius_rows(
    h: &History,
    ctx: &RowContext,
) -> Result<(Vec<Value>, Vec<OperariusDef>), ApiError> {
    let (defs, _) = h.catalog()?;
    let mut out = Vec::with_capacity(defs.len());
    for d in &defs {
        let stats = h.operarius_stats(&d.key())?;
        let view = OperariusView::from(d.clone());
        let mut v = serde_json::to_value(&view)
            .map_err(|e| ApiError::Internal(format!("operarius view: {e}")))?;
        v["yaml"] = json!(serde_yaml::to_string(&view.job_template).unwrap_or_default());
        v["images"] = json!(images(&view.job_template));
        v["lastJob"] = last_job(h, &d.key(), &stats)?;
        v["executions"] = json!(stats.execution_count);
        v["badges"] = json!(status_badges(&d.key(), d.enabled, &[], ctx));
        out.push(v);
    }
    for b in h.broken_operarios()? {
        let key = b.key();
        let stats = h.operarius_stats(&key)?;
        let badges = status_badges(&key, b.enabled, &b.problems, ctx);
        let view = OperariusView::from(b);
        let mut v = serde_json::to_value(&view)
            .map_err(|e| ApiError::Internal(format!("operarius view: {e}")))?;
        v["images"] = json!([]);
        v["lastJob"] = last_job(h, &key, &stats)?;
        v["executions"] = json!(stats.execution_count);
        v["badges"] = json!(badges);
        out.push(v);
    }
    for v in &mut out {
        let key = format!(
            "{}/{}",
            v["namespace"].as_str().unwrap_or(""),
            v["name"].as_str().unwrap_or("")
        );
        v["anchor"] = json!(anchor(&key));
        v["key"] = json!(key);
    }
    out.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    Ok((out, defs))
}

/// `op-<key>` with everything but ASCII letters and digits as `-`: an element id.
fn anchor(key: &str) -> String {
    let safe: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("op-{safe}")
}

/// The images of a job template's containers, in order.
fn images(job_template: &Value) -> Vec<String> {
    job_template["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["image"].as_str().map(str::to_string))
        .collect()
}

/// The last Job an operarius started: its name, when, and (while the record is held) the
/// remediation it ran for and that remediation's state. `null` when it never started one.
fn last_job(
    h: &History,
    key: &str,
    stats: &crate::remediation::OperariusStats,
) -> Result<Value, ApiError> {
    let Some(name) = &stats.last_job_name else {
        return Ok(Value::Null);
    };
    let rec = match name.rsplit_once('-') {
        Some((_, id)) => h.remediation(&crate::ids::RemediationId(id.to_string()))?,
        None => None,
    }
    .filter(|r| r.operarius == key && &r.job_name == name);
    Ok(json!({
        "name": name,
        "at": stats.last_execution_ms.map(format_ms),
        "id": rec.as_ref().map(|r| r.id.0.clone()),
        "state": rec.as_ref().map(|r| r.state.as_str()),
    }))
}

/// A status badge: its word, its CSS class (the colour) and what it means (a tooltip).
#[derive(Debug, Serialize)]
struct Badge {
    word: String,
    class: &'static str,
    title: String,
}

/// What an operarius does with the alerts it matches, as badges: broken, enabled or disabled,
/// paused (the global pause), its effective mode unless `enforce`, approval, open breakers.
fn status_badges(key: &str, enabled: bool, problems: &[String], ctx: &RowContext) -> Vec<Badge> {
    use crate::operarios::Mode;
    let mut out = Vec::new();
    if !problems.is_empty() {
        out.push(Badge {
            word: "broken".into(),
            class: "broken",
            title: format!(
                "invalid ({}): {}",
                if enabled {
                    "claims the alerts its selector matches and fails them"
                } else {
                    "disabled, claims nothing"
                },
                problems.join("; ")
            ),
        });
    }
    out.push(if enabled {
        Badge {
            word: "enabled".into(),
            class: "enabled",
            title: "matches alerts".into(),
        }
    } else {
        Badge {
            word: "disabled".into(),
            class: "disabled",
            title: "matches no alert".into(),
        }
    });
    if !enabled {
        return out;
    }
    if ctx.paused {
        out.push(Badge {
            word: "paused".into(),
            class: "paused",
            title: "every remediation is paused: new ones are queued, not run".into(),
        });
    }
    let guards = ctx.guards.operarios.get(key);
    let own = guards.map(|g| g.mode).unwrap_or_default();
    let mode = Mode::effective(own, ctx.guards.cluster.mode);
    if mode != Mode::Enforce {
        let what = match mode {
            Mode::DryRun => "renders and records the Job, creates nothing, counts nothing",
            _ => "renders and records the Job, creates nothing, counts it against budgets and the breaker",
        };
        let from = if ctx.guards.cluster.mode.is_some() {
            "--mode, cluster-wide"
        } else {
            "spec.mode"
        };
        out.push(Badge {
            word: format!("mode {}", mode.as_str()),
            class: mode.as_str(),
            title: format!("{what} ({from})"),
        });
    }
    if guards.is_some_and(|g| g.approval_ttl_ms.is_some()) {
        out.push(Badge {
            word: "approval required".into(),
            class: "approval",
            title: "each remediation waits for an operator to approve or deny it".into(),
        });
    }
    let open = ctx
        .breakers
        .iter()
        .filter(|b| b.open && b.operarius == key)
        .count();
    if open > 0 {
        out.push(Badge {
            word: "breaker open".into(),
            class: "breaker-open",
            title: format!(
                "the loop breaker is open on {open} target{}: see Guard rails",
                if open == 1 { "" } else { "s" }
            ),
        });
    }
    out
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

/// `GET /operarios`: the remediation rules (the catalog with what each operarius ran and its
/// status), the guard rails and the "try it" form.
pub async fn operarios(State(state): State<AppState>) -> Result<Html<String>, ApiError> {
    let banners = Banners::of(&state);
    let now = now_ms();
    let (ops, defs, ctx) = blocking(state.replica.history(), move |h| {
        let ctx = RowContext {
            guards: h.guards()?.unwrap_or_default(),
            paused: h.pause()?.paused,
            breakers: h
                .breakers()?
                .iter()
                .map(|b| crate::http::BreakerView::of(b, now))
                .collect(),
        };
        let (ops, defs) = operarius_rows(&h, &ctx)?;
        Ok((ops, defs, ctx))
    })
    .await?;
    render(
        "operarios.html",
        json!({
            "page": "operarios",
            "live": false,
            "about": about(),
            "banners": banners,
            "ops": ops,
            "payload": sample_webhook(&defs),
            "breakers": ctx.breakers,
            "paused": ctx.paused,
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
