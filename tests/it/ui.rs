//! The web UI through the real router: pages render what the store holds, filters and the
//! pagination cursor narrow on the server, the event stream announces applied entries.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use futures::StreamExt;
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
    let counted = |kind: &str| -> u64 {
        html.split("<title>alerts ")
            .skip(1)
            .filter_map(|t| t.split("</title>").next())
            .filter_map(|t| t.strip_suffix(&format!(" {kind}")))
            .filter_map(|t| t.rsplit(": ").next()?.parse::<u64>().ok())
            .sum()
    };
    assert_eq!((counted("firing"), counted("resolved")), (2, 1), "{html}");

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
