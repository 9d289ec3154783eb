//! `/api/openapi.json` and `/swagger/` from the real router; every route of the table reaches
//! its handler.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use openfero::http::routes::Access;
use openfero::site::table;
use tower::ServiceExt;

use crate::webhook::{get, node, send};

#[tokio::test]
async fn openapi_document_is_served_and_lists_the_webhook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _) = node(dir.path(), 0).await;
    let (status, headers, doc) = send(&app, get("/api/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert!(doc["paths"]["/alerts"]["post"].is_object(), "{doc}");
    assert!(doc["paths"]["/api/remediations/{id}"]["get"].is_object());
}

#[tokio::test]
async fn swagger_ui_is_served_from_embedded_assets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _) = node(dir.path(), 0).await;
    let (status, _, page) = send(&app, get("/swagger/")).await;
    assert_eq!(status, StatusCode::OK);
    let page = page.as_str().expect("html").to_string();
    assert!(page.contains("/api/openapi.json"));
    let assets: Vec<&str> = page
        .split(['"', '\''])
        .filter(|s| s.starts_with("/swagger/") && (s.ends_with(".js") || s.ends_with(".css")))
        .collect();
    assert_eq!(assets.len(), 2, "{page}");
    for asset in assets {
        let resp = app.clone().oneshot(get(asset)).await.expect("infallible");
        assert_eq!(resp.status(), StatusCode::OK, "{asset}");
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        assert!(
            bytes.len() > 10_000,
            "{asset} is only {} bytes",
            bytes.len()
        );
    }
    let resp = app
        .clone()
        .oneshot(get("/swagger"))
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(resp.headers()[header::LOCATION], "/swagger/");
}

#[tokio::test]
async fn every_route_in_the_table_reaches_a_handler() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _) = node(dir.path(), 0).await;
    for r in table(1024, Access::Open) {
        let path = r
            .path
            .replace("{id}", "0000000000000001")
            .replace("{op}", "promote");
        let req = Request::builder()
            .method(r.method.clone())
            .uri(&path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .expect("request");
        let resp = app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{} {path}",
            r.method
        );
        let content_type = resp.headers().get(header::CONTENT_TYPE);
        if content_type.is_some_and(|v| v == "text/event-stream") {
            // An endless stream: its content type already shows the handler answered.
            continue;
        }
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let fallback = body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("route `"));
        assert!(
            !fallback,
            "{} {path} fell through to the fallback: {body}",
            r.method
        );
    }
    let (status, _, body) = send(&app, get("/no/such/route")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("route `")),
        "{body}"
    );
}
