//! The operarios page: the "Remediation rules" table, the replicated catalog with its guard
//! rails, and the "try it" form (`POST /operarios/try`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::pages::{about, blocking, Banners};
use super::templates::render;
use crate::http::{try_webhook, ApiError, AppState, OperariusView, TryView};
use crate::operarios::{MatchOp, OperariusDef};
use crate::remediation::History;
use crate::time::{format_ms, now_ms};

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
