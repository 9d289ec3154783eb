//! The web UI through the real router: pages render what the store holds, filters and the
//! pagination cursor narrow on the server, the event stream announces applied entries.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use futures::StreamExt;
use openfero::ids::RemediationId;
use openfero::remediation::{CommandV1, Outcome, Response};
use tower::ServiceExt;

use crate::support::{marker_operarius, webhook};
use crate::webhook::{get, node, send};

async fn page(app: &Router, path: &str) -> (StatusCode, String) {
    let (status, _, body) = send(app, get(path)).await;
    let text = match body {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    // minijinja escapes `/` too; the assertions read text as a browser shows it.
    (status, text.replace("&#x2f;", "/"))
}

async fn post_alert(app: &Router, alertname: &str, pod: &str, status: &str) -> serde_json::Value {
    let body = webhook(alertname, pod, status, "2026-01-01T00:00:00Z").to_string();
    let req = Request::post("/alerts")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request");
    let (s, _, b) = send(app, req).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

fn operarios_dir(dir: &std::path::Path) {
    let ops = dir.join("no-operarios");
    std::fs::create_dir_all(&ops).expect("mkdir");
    std::fs::write(
        ops.join("op.yaml"),
        marker_operarius("fix-disk", "DiskFull", "firing", &dir.join("marker")),
    )
    .expect("write operarius");
}

#[tokio::test]
async fn alerts_page_groups_filters_and_marks_unremediated_alerts() {
    let dir = tempfile::tempdir().expect("tempdir");
    operarios_dir(dir.path());
    let (app, _) = node(dir.path(), 0).await;
    post_alert(&app, "DiskFull", "db-1", "firing").await;
    post_alert(&app, "HighLatency", "web-1", "firing").await;
    post_alert(&app, "HighLatency", "web-2", "resolved").await;

    let (s, html) = page(&app, "/").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        html.matches(r#"<details class="card" open data-alertname="HighLatency">"#)
            .count(),
        1
    );
    assert_eq!(html.matches(r#"data-alertname="DiskFull""#).count(), 1);
    assert!(html.contains("fix-disk: pending"), "DiskFull is matched");
    assert_eq!(
        html.matches("no remediation</span>").count(),
        2,
        "both HighLatency alerts"
    );
    assert!(html.contains("<svg"), "the chart");
    // The chart's bars count what was just posted (summed, in case an hour began meanwhile).
    assert_eq!(
        (
            bar_total(&html, "alerts", "firing"),
            bar_total(&html, "alerts", "resolved")
        ),
        (2, 1),
        "{html}"
    );
    let (_, html) = page(&app, "/?status=resolved").await;
    assert!(
        html.contains("pod=web-2") && !html.contains("pod=web-1") && !html.contains("pod=db-1")
    );
    let (_, html) = page(&app, "/?q=DB-1").await;
    assert!(html.contains("pod=db-1") && !html.contains("pod=web-"));
    let (_, html) = page(&app, "/?alertname=HighLatency&namespace=shop&since=1").await;
    assert!(html.contains("pod=web-1") && html.contains("pod=web-2") && !html.contains("pod=db-1"));
    let (_, html) = page(&app, "/?namespace=other").await;
    assert!(html.contains("No alerts match."));
    let (s, _) = page(&app, "/?status=burning").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn alerts_page_paginates_with_an_older_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _) = node(dir.path(), 0).await;
    for i in 0..55 {
        post_alert(&app, "Flood", &format!("p{i:02}"), "firing").await;
    }
    let (_, first) = page(&app, "/?alertname=Flood").await;
    assert!(first.contains("50 alerts on this page"));
    assert!(first.contains("pod=p54") && !first.contains("pod=p04"));
    let href = first
        .split("href=\"")
        .find_map(|s| {
            s.split_once("\" rel=\"next\"")
                .map(|(h, _)| h.replace("&amp;", "&"))
        })
        .expect("an older link");
    let (_, second) = page(&app, &href).await;
    assert!(second.contains("5 alerts on this page"), "{href}");
    assert!(
        second.contains("pod=p04") && second.contains("pod=p00") && !second.contains("pod=p05")
    );
    assert!(
        !second.contains("rel=\"next\""),
        "the last page has no older link"
    );
}

#[tokio::test]
async fn remediation_operarios_and_cluster_pages_render() {
    let dir = tempfile::tempdir().expect("tempdir");
    operarios_dir(dir.path());
    let (app, replica) = node(dir.path(), 0).await;
    let ingest = post_alert(&app, "DiskFull", "db-1", "firing").await;
    let id = ingest["alerts"][0]["remediations"][0]["id"]
        .as_str()
        .expect("a remediation id")
        .to_string();

    let (s, html) = page(&app, &format!("/remediations/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains(&id) && html.contains("default/fix-disk"));
    assert!(
        html.contains("<strong>received</strong>") && html.contains("<strong>matched</strong>")
    );
    assert!(
        html.contains("image: busybox"),
        "the rendered job as YAML: {html}"
    );
    let (s, _) = page(&app, "/remediations/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, html) = page(&app, "/operarios").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("default/fix-disk") && html.contains("priority 0"));

    let (s, html) = page(&app, "/cluster").await;
    assert_eq!(s, StatusCode::OK);
    let me = format!("{:016x}", replica.id());
    assert!(
        html.contains(&me) && html.contains("badge leader"),
        "{html}"
    );
    assert!(
        html.contains(r#"data-refresh-ms="2000""#),
        "the cluster page re-renders itself: {html}"
    );
    assert!(
        html.contains(r#"<td class="lag">0</td>"#),
        "a single node has no lag: {html}"
    );
}

#[tokio::test]
async fn event_stream_announces_newly_applied_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, replica) = node(dir.path(), 0).await;
    let resp = app
        .clone()
        .oneshot(get("/api/events"))
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = resp.into_body().into_data_stream();
    let first = body.next().await.expect("a first event").expect("bytes");
    let start = replica.status().last_applied.unwrap_or(0);
    assert!(String::from_utf8_lossy(&first).starts_with("event: applied\n"));
    post_alert(&app, "Tick", "p", "firing").await;
    let after = replica.status().last_applied.unwrap_or(0);
    assert!(after > start);
    loop {
        let chunk = body.next().await.expect("more events").expect("bytes");
        let text = String::from_utf8_lossy(&chunk).to_string();
        let index: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .and_then(|d| d.parse().ok())
            .expect("an index");
        if index >= after {
            break;
        }
    }
}

#[tokio::test]
async fn ui_assets_are_embedded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _) = node(dir.path(), 0).await;
    for (path, mime) in [
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let resp = app.clone().oneshot(get(path)).await.expect("infallible");
        assert_eq!(resp.status(), StatusCode::OK);
        let ct = resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii");
        assert!(ct.starts_with(mime), "{path}: {ct}");
    }
    let (_, html) = page(&app, "/").await;
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no CDN"
    );
    assert!(html.contains(r#"<script src="/ui/app.js" defer></script>"#));
}

fn post_raw(path: &str, content_type: &str, body: String) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("request")
}

/// Applied index and alert count: what a side effect would move.
fn footprint(replica: &openfero::replica::Replica) -> (u64, u64, usize) {
    let h = replica.history();
    (
        replica.status().last_applied.unwrap_or(0),
        h.live_alerts().expect("count"),
        h.remediations(None, 1000).expect("list").len(),
    )
}

#[tokio::test]
async fn try_api_shows_matching_operarius_and_rendered_job_without_side_effects() {
    let dir = tempfile::tempdir().expect("tempdir");
    operarios_dir(dir.path());
    let (app, replica) = node(dir.path(), 0).await;
    // The first webhook replicates the catalog (the node's catalog task does it in a real node).
    post_alert(&app, "Warmup", "w", "firing").await;
    let before = footprint(&replica);

    let mut hook = webhook("DiskFull", "db-7", "firing", "2026-02-01T00:00:00Z");
    hook["alerts"].as_array_mut().expect("alerts").push(
        webhook("HighLatency", "web-1", "firing", "2026-02-01T00:00:00Z")["alerts"][0].clone(),
    );
    let (s, _, body) = send(
        &app,
        post_raw("/api/operarios/try", "application/json", hook.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["catalogSize"], 1);
    let disk = &body["alerts"][0];
    assert_eq!(disk["verdict"], "runs", "{disk}");
    assert_eq!(disk["selected"], "default/fix-disk");
    let c = &disk["candidates"][0];
    assert_eq!(c["selected"], true);
    assert!(c["jobName"]
        .as_str()
        .is_some_and(|n| n.starts_with("fix-disk-")));
    assert_eq!(c["job"]["image"], "busybox");
    let args = c["job"]["args"][0].as_str().expect("args");
    assert!(
        args.contains("echo db-7 >>"),
        "the template is rendered: {args}"
    );
    assert_eq!(c["job"]["env"]["OPENFERO_POD"], "db-7");
    let latency = &body["alerts"][1];
    assert_eq!(latency["verdict"], "noMatch");
    assert_eq!(
        latency["summary"],
        "no operarius matches; closest is default/fix-disk: alertname is `HighLatency`, the selector wants `DiskFull`"
    );
    assert_eq!(latency["closest"], "default/fix-disk");
    assert_eq!(latency["candidates"].as_array().map(Vec::len), Some(0));

    assert_eq!(
        footprint(&replica),
        before,
        "nothing proposed, stored or run"
    );
    assert!(
        !dir.path().join("marker").exists(),
        "the operarius did not run"
    );
}

#[tokio::test]
async fn try_api_refuses_bad_input_with_a_4xx_naming_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, replica) = node(dir.path(), 0).await;
    let before = footprint(&replica);
    let (s, _, body) = send(
        &app,
        post_raw(
            "/api/operarios/try",
            "application/json",
            "{\"status\": ".into(),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("EOF")),
        "{body}"
    );
    let bad_time = webhook("X", "p", "firing", "yesterday").to_string();
    let (s, _, body) = send(
        &app,
        post_raw("/api/operarios/try", "application/json", bad_time),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["detail"]["field"], "alerts[0].startsAt", "{body}");
    let (s, _, body) = send(
        &app,
        post_raw("/api/operarios/try", "text/plain", "{}".into()),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let (s, _, _) = send(
        &app,
        post_raw(
            "/api/operarios/try",
            "application/json",
            "x".repeat(70 * 1024),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(footprint(&replica), before);
}

fn form(payload: &str) -> String {
    serde_urlencoded::to_string([("payload", payload)]).expect("form")
}

#[tokio::test]
async fn try_form_renders_the_result_page_without_js() {
    let dir = tempfile::tempdir().expect("tempdir");
    operarios_dir(dir.path());
    let (app, replica) = node(dir.path(), 0).await;
    post_alert(&app, "Warmup", "w", "firing").await;

    let (s, html) = page(&app, "/operarios").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(r#"<form method="post" action="/operarios/try""#),
        "{html}"
    );
    assert!(
        html.contains("&quot;DiskFull&quot;"),
        "the sample payload matches the first operarius"
    );
    let before = footprint(&replica);

    let urlencoded = "application/x-www-form-urlencoded";
    let hook = webhook("DiskFull", "db-9", "firing", "2026-02-01T00:00:00Z").to_string();
    let (s, _, body) = send(&app, post_raw("/operarios/try", urlencoded, form(&hook))).await;
    let html = body.as_str().expect("html").replace("&#x2f;", "/");
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(
        html.contains("default/fix-disk") && html.contains("selected"),
        "{html}"
    );
    assert!(html.contains("image: busybox"), "the Job as YAML: {html}");
    assert!(
        html.contains("echo db-9 &gt;&gt;"),
        "the rendered command: {html}"
    );

    let other = webhook("Unknown", "x", "firing", "2026-02-01T00:00:00Z").to_string();
    let (s, _, body) = send(&app, post_raw("/operarios/try", urlencoded, form(&other))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body
        .as_str()
        .expect("html")
        .contains("no operarius matches"));

    let (s, _, body) = send(
        &app,
        post_raw("/operarios/try", urlencoded, form("{not json")),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let html = body.as_str().expect("html");
    assert!(
        html.contains("Cannot evaluate this payload") && html.contains("invalid webhook"),
        "{html}"
    );
    assert!(
        html.contains("{not json</textarea>"),
        "the payload is kept: {html}"
    );
    let (s, _, body) = send(&app, post_raw("/operarios/try", urlencoded, form("  "))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body
        .as_str()
        .expect("html")
        .contains("paste an Alertmanager webhook"));

    assert_eq!(
        footprint(&replica),
        before,
        "nothing proposed, stored or run"
    );
}

/// The chart's bar titles of `kind` (`alerts` or `remediations`), oldest first: the hour
/// (`09:00–10:00 UTC`) and its parts, top of the stack first (`[(2, "firing"), (1, "resolved")]`).
fn bar_titles<'a>(html: &'a str, kind: &str) -> Vec<(&'a str, Vec<(u64, &'a str)>)> {
    html.split("<title>")
        .skip(1)
        .filter_map(|t| t.split("</title>").next())
        .filter_map(|t| t.strip_prefix(kind)?.strip_prefix(' '))
        .filter_map(|t| {
            let (span, parts) = t.split_once(": ")?;
            let parts = parts
                .split(", ")
                .map(|p| {
                    let (n, word) = p.split_once(' ')?;
                    Some((n.parse().ok()?, word))
                })
                .collect::<Option<Vec<_>>>()?;
            Some((span, parts))
        })
        .collect()
}

/// The sum of one part (`firing`, `succeeded`, …) over the chart's bars of `kind`.
fn bar_total(html: &str, kind: &str, word: &str) -> u64 {
    bar_titles(html, kind)
        .iter()
        .flat_map(|(_, parts)| parts)
        .filter(|(_, w)| *w == word)
        .map(|(n, _)| n)
        .sum()
}

/// The text between the first `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("no `{start}` in {html}"));
    let rest = &html[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

fn current_hour() -> u64 {
    openfero::remediation::hourly::hour_of(openfero::time::now_ms())
}

async fn post_at(
    app: &Router,
    alertname: &str,
    pod: &str,
    status: &str,
    starts_at: &str,
) -> (String, String) {
    let body = webhook(alertname, pod, status, starts_at).to_string();
    let req = Request::post("/alerts")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request");
    let (s, _, b) = send(app, req).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let r = &b["alerts"][0]["remediations"][0];
    (
        r["id"]
            .as_str()
            .unwrap_or_else(|| panic!("a remediation: {b}"))
            .to_string(),
        r["state"].as_str().expect("a state").to_string(),
    )
}

async fn apply(replica: &openfero::replica::Replica, command: CommandV1) {
    let r = replica.propose(command.clone()).await.expect("committed");
    assert_eq!(r, Response::Done, "{command:?}");
}

/// The leader starts remediation `id`, as the executor would.
async fn start(replica: &openfero::replica::Replica, id: &str) {
    let leader = replica.leader_id().expect("a single node leads");
    apply(
        replica,
        CommandV1::Start {
            id: RemediationId(id.into()),
            at_ms: openfero::time::now_ms(),
            leader,
            executor: "test".into(),
        },
    )
    .await;
}

/// Start remediation `id` and finish it, succeeded or failed.
async fn run(replica: &openfero::replica::Replica, id: &str, ok: bool) {
    start(replica, id).await;
    let outcome = if ok {
        Outcome::Succeeded { exit_code: 0 }
    } else {
        Outcome::Failed {
            exit_code: Some(1),
            reason: "exit code 1".into(),
        }
    };
    apply(
        replica,
        CommandV1::Finish {
            id: RemediationId(id.into()),
            at_ms: openfero::time::now_ms(),
            outcome,
            output_tail: String::new(),
        },
    )
    .await;
}

/// `marker_operarius` with `extra` lines in its spec (indented by two spaces).
fn operarius_with(dir: &std::path::Path, name: &str, alertname: &str, extra: &str) {
    let ops = dir.join("no-operarios");
    std::fs::create_dir_all(&ops).expect("mkdir");
    let yaml = marker_operarius(name, alertname, "firing", &dir.join("marker")).replace(
        "spec:\n  alertSelector:",
        &format!("spec:\n{extra}  alertSelector:"),
    );
    assert!(extra.is_empty() || yaml.contains(extra), "{yaml}");
    std::fs::write(ops.join(format!("{name}.yaml")), yaml).expect("write operarius");
}

#[tokio::test]
async fn chart_has_axes_a_legend_and_a_title_per_bar_with_the_posted_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    operarios_dir(dir.path());
    let (app, replica) = node(dir.path(), 0).await;
    let before = current_hour();
    let (disk, _) = post_at(&app, "DiskFull", "db-1", "firing", "2026-01-01T00:00:00Z").await;
    post_alert(&app, "HighLatency", "web-1", "firing").await;
    post_alert(&app, "HighLatency", "web-2", "resolved").await;
    run(&replica, &disk, true).await;
    let (_, html) = page(&app, "/").await;
    let after = current_hour();
    let svg = between(&html, "<svg", "</svg>");

    assert!(
        svg.contains(r#"role="img" aria-label="Alerts and remediations per hour (UTC), last 24 hours: 3 alerts (2 firing, 1 resolved), 1 remediation ended (1 succeeded, 0 failed)""#),
        "{svg}"
    );
    for entry in [
        "alerts firing (2)",
        "alerts resolved (1)",
        "remediations succeeded (1)",
        "remediations failed (0)",
    ] {
        assert!(
            html.contains(&format!("></span>{entry}</li>")),
            "legend `{entry}`: {html}"
        );
    }
    assert_eq!(html.matches(r#"<li class="legend-item""#).count(), 4);

    let alerts = bar_titles(svg, "alerts");
    let remediations = bar_titles(svg, "remediations");
    assert_eq!(
        (alerts.len(), remediations.len()),
        (24, 24),
        "a bar pair per hour"
    );
    assert_eq!(bar_total(svg, "remediations", "succeeded"), 1);
    assert_eq!(bar_total(svg, "remediations", "failed"), 0);
    assert_eq!(
        (
            bar_total(svg, "alerts", "firing"),
            bar_total(svg, "alerts", "resolved")
        ),
        (2, 1)
    );

    // The hour axis: a label every 3 hours from the first bar's hour, then "now".
    let hours: Vec<&str> = svg
        .split(r#"class="tick-x""#)
        .skip(1)
        .filter_map(|t| t.split_once('>').and_then(|(_, t)| t.split_once('<')))
        .map(|(label, _)| label)
        .collect();
    let first = after - 23;
    let expected: Vec<String> = (0..8)
        .map(|i| format!("{:02}:00", (first + 3 * i) % 24))
        .chain(["now".to_string()])
        .collect();
    assert_eq!(hours, expected, "{svg}");

    if before == after {
        // No hour began meanwhile: the current hour holds everything, and it sets the scale.
        let span = format!("{:02}:00–{:02}:00 UTC", after % 24, (after + 1) % 24);
        assert_eq!(
            alerts[23],
            (span.as_str(), vec![(2, "firing"), (1, "resolved")])
        );
        assert_eq!(
            remediations[23],
            (span.as_str(), vec![(0, "failed"), (1, "succeeded")])
        );
        assert!(alerts[..23]
            .iter()
            .all(|(_, p)| p.iter().all(|(n, _)| *n == 0)));
        // The count axis: 0..=3 (the tallest bar), a gridline each.
        let ticks: Vec<&str> = svg
            .split(r#"class="tick-y""#)
            .skip(1)
            .filter_map(|t| t.split_once('>').and_then(|(_, t)| t.split_once('<')))
            .map(|(label, _)| label)
            .collect();
        assert_eq!(ticks, ["0", "1", "2", "3"], "{svg}");
        assert_eq!(svg.matches(r#"<line class="grid"#).count(), 4);
    }
    assert!(
        !svg.contains("chart-empty"),
        "a chart with data is not empty"
    );

    // An empty store draws the axes and says there is nothing.
    let empty_dir = tempfile::tempdir().expect("tempdir");
    let (empty, _) = node(empty_dir.path(), 0).await;
    let (_, html) = page(&empty, "/").await;
    assert!(html.contains("No alerts or remediations in the last 24 hours"));
    assert!(html.contains(">alerts firing (0)</li>"));
}

#[tokio::test]
async fn operarios_table_shows_each_rule_with_its_executions_last_job_and_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    operarius_with(d, "fix-disk", "DiskFull", "");
    operarius_with(d, "rehearse", "Rehearse", "  mode: dry-run\n");
    operarius_with(d, "gated", "Gated", "  approval: required\n");
    operarius_with(d, "off", "Off", "  enabled: false\n");
    operarius_with(d, "broken", "Broken", "");
    let broken = d.join("no-operarios/broken.yaml");
    let yaml = std::fs::read_to_string(&broken).expect("read");
    std::fs::write(
        &broken,
        yaml.replace("{{ .Labels.pod }}", "{{ .Labels.pod "),
    )
    .expect("write");
    let (app, replica) = node(d, 0).await;

    let (first, _) = post_at(&app, "DiskFull", "db-1", "firing", "2026-01-01T00:00:00Z").await;
    run(&replica, &first, true).await;
    let (second, _) = post_at(&app, "DiskFull", "db-2", "firing", "2026-01-01T00:01:00Z").await;
    run(&replica, &second, false).await;
    let (_, state) = post_at(&app, "Rehearse", "r-1", "firing", "2026-01-01T00:02:00Z").await;
    assert_eq!(state, "dry-run");
    let job = replica
        .history()
        .remediation(&RemediationId(second.clone()))
        .expect("read")
        .expect("held")
        .job_name;

    let (s, html) = page(&app, "/operarios").await;
    assert_eq!(s, StatusCode::OK);
    let table = between(&html, r#"<table class="rules">"#, "</table>");
    let headers: Vec<&str> = table
        .split("<th ")
        .skip(1)
        .filter_map(|t| t.split_once('>').and_then(|(_, t)| t.split_once("</th>")))
        .map(|(h, _)| h)
        .collect();
    assert_eq!(
        headers,
        [
            "Operarius",
            "Alert",
            "Image",
            "Executions",
            "Last Job",
            "Status"
        ]
    );
    let row = |key: &str| between(table, &format!(r#"<tr data-operarius="{key}">"#), "</tr>");
    assert_eq!(
        table.matches("<tr data-operarius=").count(),
        5,
        "a row per operarius, broken ones too: {table}"
    );

    let disk = row("default/fix-disk");
    assert!(
        disk.contains(r##"<a href="#op-default-fix-disk">default/fix-disk</a>"##),
        "{disk}"
    );
    assert!(
        disk.contains(r#"<span class="label">alertname=DiskFull</span><span class="label">status=firing</span>"#),
        "{disk}"
    );
    assert!(disk.contains("<code>busybox</code>"), "{disk}");
    assert!(
        disk.contains(r#"<td class="num executions">2</td>"#),
        "{disk}"
    );
    assert!(
        disk.contains(&format!(
            r#"<a href="/remediations/{second}"><code>{job}</code></a>"#
        )),
        "the last Job links its remediation: {disk}"
    );
    assert!(
        disk.contains(r#"<span class="state failed">failed</span>"#),
        "{disk}"
    );
    assert!(disk.contains("<time datetime=\""), "when: {disk}");
    assert!(disk.contains(r#"<span class="badge enabled" title="matches alerts">enabled</span>"#));
    assert!(
        !disk.contains("paused") && !disk.contains("mode "),
        "{disk}"
    );

    let rehearse = row("default/rehearse");
    assert!(
        rehearse.contains(r#"<td class="num executions">0</td>"#),
        "a dry run starts nothing"
    );
    assert!(rehearse.contains("never run"), "{rehearse}");
    assert!(
        rehearse.contains(r#">mode dry-run</span>"#)
            && rehearse.contains(r#"class="badge dry-run""#)
    );
    let gated = row("default/gated");
    assert!(
        gated.contains(r#"class="badge approval""#) && gated.contains(">approval required</span>")
    );
    let off = row("default/off");
    assert!(off.contains(r#"class="badge disabled""#) && off.contains(">disabled</span>"));
    assert!(!off.contains(">enabled</span>"), "{off}");
    let broken = row("default/broken");
    assert!(
        broken.contains(r#"class="badge broken""#) && broken.contains(">broken</span>"),
        "{broken}"
    );
    assert!(
        broken.contains(r#"<td class="image"><span class="muted">—</span></td>"#),
        "{broken}"
    );

    // The definitions below keep the Job template, under the anchor the table links.
    assert!(html.contains(r#"<details class="card" id="op-default-fix-disk">"#));
    assert!(html.contains("image: busybox"));

    // The global pause shows on every enabled rule, not on a disabled one.
    apply(
        &replica,
        CommandV1::SetPaused {
            paused: true,
            by: "tester".into(),
            at_ms: openfero::time::now_ms(),
        },
    )
    .await;
    let (_, html) = page(&app, "/operarios").await;
    let table = between(&html, r#"<table class="rules">"#, "</table>");
    let row = |key: &str| between(table, &format!(r#"<tr data-operarius="{key}">"#), "</tr>");
    assert!(row("default/fix-disk").contains(r#"class="badge paused""#));
    assert!(row("default/gated").contains(">paused</span>"));
    assert!(!row("default/off").contains("paused"));
}

#[tokio::test]
async fn every_state_is_a_badge_with_its_word_and_a_colour() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    operarius_with(d, "fix-disk", "DiskFull", "");
    operarius_with(d, "rehearse", "Rehearse", "  mode: dry-run\n");
    operarius_with(d, "gated", "Gated", "  approval: required\n");
    operarius_with(d, "tight", "Tight", "  budgets: [{max: 1, per: 1h}]\n");
    operarius_with(
        d,
        "dedup",
        "Dedup",
        "  deduplication: {enabled: true, ttl: 300}\n",
    );
    let (app, replica) = node(d, 0).await;
    let at = |minute: u32| format!("2026-01-01T00:{minute:02}:00Z");
    let mut seen: Vec<(String, String, &str)> = Vec::new();
    let post = |alertname: &'static str, pod: &'static str, minute: u32| {
        let app = app.clone();
        let at = at(minute);
        async move { post_at(&app, alertname, pod, "firing", &at).await }
    };

    let (id, s) = post("DiskFull", "p-pending", 0).await;
    assert_eq!(s, "pending");
    seen.push((id, s, "default/fix-disk"));
    let (id, s) = post("DiskFull", "p-pending", 1).await;
    assert_eq!(s, "queued", "the target's one slot is taken");
    seen.push((id, s, "default/fix-disk"));
    let (id, _) = post("DiskFull", "p-running", 0).await;
    start(&replica, &id).await;
    seen.push((id, "running".into(), "default/fix-disk"));
    let (id, _) = post("DiskFull", "p-ok", 0).await;
    run(&replica, &id, true).await;
    seen.push((id, "succeeded".into(), "default/fix-disk"));
    let (id, _) = post("DiskFull", "p-bad", 0).await;
    run(&replica, &id, false).await;
    seen.push((id, "failed".into(), "default/fix-disk"));
    let (id, _) = post("DiskFull", "p-gone", 0).await;
    start(&replica, &id).await;
    apply(
        &replica,
        CommandV1::Interrupt {
            id: RemediationId(id.clone()),
            at_ms: openfero::time::now_ms(),
            reason: "the executor is gone".into(),
        },
    )
    .await;
    seen.push((id, "interrupted".into(), "default/fix-disk"));
    let (_, s) = post("Tight", "t-1", 0).await;
    assert_eq!(s, "pending");
    let (id, s) = post("Tight", "t-1", 1).await;
    assert_eq!(s, "held", "over the budget");
    seen.push((id, s, "default/tight"));
    let (_, s) = post("Dedup", "d-1", 0).await;
    assert_eq!(s, "pending");
    let (id, s) = post("Dedup", "d-1", 1).await;
    assert_eq!(s, "skipped", "within the cooldown");
    seen.push((id, s, "default/dedup"));
    let (id, s) = post("Rehearse", "r-1", 0).await;
    assert_eq!(s, "dry-run");
    seen.push((id, s, "default/rehearse"));
    let (id, s) = post("Gated", "g-late", 0).await;
    assert_eq!(s, "awaiting-approval");
    apply(
        &replica,
        CommandV1::ExpireApprovals {
            at_ms: openfero::time::now_ms() + 2 * 3_600_000,
        },
    )
    .await;
    seen.push((id, "expired".into(), "default/gated"));
    let (id, _) = post("Gated", "g-no", 0).await;
    apply(
        &replica,
        CommandV1::Decide {
            id: RemediationId(id.clone()),
            approve: false,
            by: "tester".into(),
            at_ms: openfero::time::now_ms(),
        },
    )
    .await;
    seen.push((id, "denied".into(), "default/gated"));
    let (id, s) = post("Gated", "g-wait", 0).await;
    seen.push((id, s, "default/gated"));
    post_alert(&app, "Calm", "c-1", "resolved").await;

    let css = {
        let (s, css) = page(&app, "/ui/app.css").await;
        assert_eq!(s, StatusCode::OK);
        css
    };
    let (_, alerts) = page(&app, "/").await;
    for (id, state, operarius) in &seen {
        let rec = replica
            .history()
            .remediation(&RemediationId(id.clone()))
            .expect("read")
            .expect("held");
        assert_eq!(rec.state.as_str(), state, "{id}");
        // On the alerts page: a badge with the state's class and word, linking the remediation.
        let badge = format!(
            r#"<a class="state {state}" href="/remediations/{id}">{operarius}: {state}</a>"#
        );
        assert!(alerts.contains(&badge), "{badge} in {alerts}");
        // On its own page: the same class and word in the heading.
        let (_, detail) = page(&app, &format!("/remediations/{id}")).await;
        let heading = format!(r#"<span class="state {state}">{state}</span></h1>"#);
        assert!(detail.contains(&heading), "{heading} in {detail}");
        assert!(toned(&css, state), "`.{state}` has a colour in app.css");
    }
    let states: Vec<&str> = seen.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(
        states.len(),
        12,
        "every state but refused (needs a policy file): {states:?}"
    );
    for status in ["firing", "resolved"] {
        let badge = format!(r#"<span class="badge {status}">{status}</span>"#);
        assert!(alerts.contains(&badge), "{badge} in {alerts}");
        assert!(toned(&css, status));
    }
    assert!(toned(&css, "refused"));
    assert!(!toned(&css, "no-such-state"), "the check can fail");
}

/// Whether `app.css` gives the badges of `class` a tone (a rule
/// `:is(.badge, .state):is(…, .class, …)`).
fn toned(css: &str, class: &str) -> bool {
    css.lines()
        .filter_map(|l| l.strip_prefix(":is(.badge, .state):is("))
        .filter_map(|l| l.split_once(')').map(|(classes, _)| classes))
        .any(|classes| classes.split(", ").any(|c| c == format!(".{class}")))
}
