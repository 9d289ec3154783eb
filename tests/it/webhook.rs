//! `POST /alerts` contract: what is acknowledged is stored; bad input gets a clear 4xx and
//! stores nothing; no leader gets 503 with Retry-After.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use openfero::catalog::Catalog;
use openfero::cluster::{Cluster, ClusterConfig};
use openfero::http::AppState;
use openfero::remediation::RemediationMachine;
use openfero::replica::Replica;
use openfero::site::router;
use openfero_gossip::{Gossip, GossipConfig, NodeMeta, Transport};
use openfero_raft::{NodeInfo, RaftConfig, RaftNode};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::webhook;

const LIMIT: usize = 64 * 1024;

fn raft_config() -> RaftConfig {
    RaftConfig {
        heartbeat_interval: Duration::from_millis(50),
        election_timeout_min: Duration::from_millis(200),
        election_timeout_max: Duration::from_millis(400),
        write_timeout: Duration::from_millis(800),
        ..RaftConfig::default()
    }
}

/// A node whose membership is `members_extra` plus itself; with unreachable extras it can never
/// elect a leader.
pub async fn node(dir: &std::path::Path, unreachable_peers: usize) -> (Router, Replica) {
    node_with_gossip(dir, unreachable_peers, None, 1, None).await
}

/// [`node`] with a gossip handle, a bootstrap expectation and a webhook token.
async fn node_with_gossip(
    dir: &std::path::Path,
    unreachable_peers: usize,
    gossip: Option<Gossip>,
    bootstrap_expect: u32,
    webhook_token: Option<&str>,
) -> (Router, Replica) {
    let auth = openfero::auth::Auth::new(openfero::auth::AuthSettings {
        webhook_token: webhook_token.map(str::to_string),
        ..Default::default()
    })
    .expect("auth settings");
    node_with(dir, unreachable_peers, gossip, bootstrap_expect, auth).await
}

/// A single-node router with these auth settings.
pub async fn node_with_auth(
    dir: &std::path::Path,
    auth: openfero::auth::Auth,
) -> (Router, Replica) {
    node_with(dir, 0, None, 1, auth).await
}

async fn node_with(
    dir: &std::path::Path,
    unreachable_peers: usize,
    gossip: Option<Gossip>,
    bootstrap_expect: u32,
    auth: openfero::auth::Auth,
) -> (Router, Replica) {
    openfero_raft::tls::install_default_provider();
    let raft = RaftNode::start(dir, raft_config(), RemediationMachine)
        .await
        .expect("start raft");
    let mut members = BTreeMap::new();
    members.insert(
        raft.id(),
        NodeInfo {
            raft_addr: "127.0.0.1:9".into(),
            api_addr: "127.0.0.1:9".into(),
        },
    );
    for i in 0..unreachable_peers {
        // Port 9 (discard) on loopback: nothing listens, connections are refused at once.
        members.insert(
            1000 + i as u64,
            NodeInfo {
                raft_addr: "127.0.0.1:9".into(),
                api_addr: "127.0.0.1:9".into(),
            },
        );
    }
    raft.initialize(members).await.expect("initialize");
    if unreachable_peers == 0 {
        raft.raft()
            .wait(Some(Duration::from_secs(10)))
            .current_leader(raft.id(), "single node leads")
            .await
            .expect("leader");
    }
    let replica = Replica::new(raft);
    let ops = dir.join("no-operarios");
    let cluster = Cluster::new(
        replica.clone(),
        gossip,
        ClusterConfig {
            node_name: "test".into(),
            api_advertise: "127.0.0.1:9".into(),
            raft_advertise: "127.0.0.1:9".into(),
            bootstrap_expect,
            max_voters: 5,
            dead_after: Duration::from_secs(300),
            promote_after: Duration::from_secs(10),
            tick: Duration::from_millis(100),
        },
    );
    let state = AppState {
        replica: replica.clone(),
        cluster,
        catalog: Catalog::load(vec![ops], "default"),
        body_limit: LIMIT,
        auth,
        http: reqwest::Client::new(),
        insecure_cluster: None,
        api_tls: None,
        metrics: openfero::metrics::Metrics::new(),
        jobs: None,
    };
    (router(state), replica)
}

pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, body)
}

fn post(body: impl Into<Body>, content_type: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/alerts");
    if let Some(ct) = content_type {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    b.body(body.into()).expect("request")
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

/// [`post`] of JSON with an `Authorization` header.
fn post_with_auth(body: impl Into<Body>, authorization: &str) -> Request<Body> {
    let mut req = post(body, Some("application/json"));
    req.headers_mut().insert(
        header::AUTHORIZATION,
        authorization.parse().expect("header value"),
    );
    req
}

#[tokio::test]
async fn bad_input_gets_its_4xx_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, replica) = node(dir.path(), 0).await;
    let applied_before = replica.status().last_applied;
    let good = webhook(
        "KubePodCrashLooping",
        "web-1",
        "firing",
        "2026-01-01T00:00:00Z",
    )
    .to_string();

    let (s, _, b) = send(
        &app,
        post(
            "{\"status\": \"firing\", \"alerts\": [",
            Some("application/json"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["error"]
            .as_str()
            .unwrap_or("")
            .contains("invalid webhook"),
        "{b}"
    );

    let wrong_type = good.replace("\"pod\":\"web-1\"}", "\"pod\":7}");
    assert_ne!(wrong_type, good, "the replacement must hit");
    let (s, _, b) = send(&app, post(wrong_type, Some("application/json"))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["detail"]["field"], "alerts[0].labels.pod", "{b}");

    let bad_time = good.replace("2026-01-01T00:00:00Z", "last tuesday");
    let (s, _, b) = send(&app, post(bad_time, Some("application/json"))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["detail"]["field"], "alerts[0].startsAt", "{b}");

    let oversized = format!("{{\"pad\": \"{}\"}}", "x".repeat(LIMIT + 1));
    let (s, _, b) = send(&app, post(oversized, Some("application/json"))).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert_eq!(b["detail"]["limitBytes"], LIMIT as u64, "{b}");

    let (s, _, b) = send(&app, post(good.clone(), Some("text/plain"))).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{b}");
    assert!(
        b["error"].as_str().unwrap_or("").contains("text/plain"),
        "{b}"
    );
    let (s, _, _) = send(&app, post(good.clone(), None)).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Nothing of the above reached the log.
    assert_eq!(replica.status().last_applied, applied_before);
    let (s, _, b) = send(&app, get("/api/alerts")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b, serde_json::json!([]), "empty lists are []");

    // And the valid body is still accepted afterwards (charset parameter allowed).
    let (s, _, b) = send(&app, post(good, Some("application/json; charset=utf-8"))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["recorded"], 1);
}

#[tokio::test]
async fn redelivery_records_nothing_new_and_returns_the_same_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _replica) = node(dir.path(), 0).await;
    let body = webhook("DiskFull", "db-0", "firing", "2026-01-01T00:00:00Z").to_string();
    let (s1, _, first) = send(&app, post(body.clone(), Some("application/json"))).await;
    let (s2, _, second) = send(&app, post(body, Some("application/json"))).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first["recorded"], 1);
    assert_eq!(second["recorded"], 0);
    assert_eq!(second["duplicates"], 1);
    assert_eq!(
        first["alerts"][0]["eventId"],
        second["alerts"][0]["eventId"]
    );
    let (_, headers, alerts) = send(&app, get("/api/alerts?q=db-0")).await;
    assert_eq!(alerts.as_array().map(Vec::len), Some(1));
    let (s, _, consistent) = send(&app, get("/api/alerts?q=db-0&consistent=true")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        consistent, alerts,
        "a linearizable read on the leader sees the same"
    );
    assert!(headers.contains_key("x-openfero-applied-index"));
    // The resolved event of the same alert is a new event.
    let resolved = webhook("DiskFull", "db-0", "resolved", "2026-01-01T00:00:00Z").to_string();
    let (_, _, third) = send(&app, post(resolved, Some("application/json"))).await;
    assert_eq!(third["recorded"], 1);
    let (_, _, resolved_only) = send(&app, get("/api/alerts?status=resolved")).await;
    assert_eq!(resolved_only.as_array().map(Vec::len), Some(1));
    let (s, _, b) = send(&app, get("/api/alerts?status=sleeping")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
}

#[tokio::test]
async fn no_leader_answers_503_with_retry_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, replica) = node(dir.path(), 2).await;
    let body = webhook("X", "p", "firing", "2026-01-01T00:00:00Z").to_string();
    let (s, headers, b) = send(&app, post(body, Some("application/json"))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert!(b["error"].is_string());
    let (s, _, _) = send(&app, get("/readyz")).await;
    assert_eq!(
        s,
        StatusCode::SERVICE_UNAVAILABLE,
        "not ready without a leader"
    );
    let (s, _, _) = send(&app, get("/healthz")).await;
    assert_eq!(s, StatusCode::OK, "alive regardless of raft");
    replica.raft().shutdown().await.expect("shutdown");
}

/// In-memory gossip node `id` on 127.0.0.1:`port`, expecting three nodes.
async fn gossip_node(net: &Transport, id: u64, port: u16, seeds: &[u16]) -> Gossip {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let config = GossipConfig {
        node_id: id,
        generation: Some(1),
        listen_addr: addr,
        advertise_addr: addr,
        seeds: seeds.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        gossip_interval: Duration::from_millis(50),
        meta: NodeMeta {
            raft_id: id,
            node_name: format!("openfero-{id}"),
            bootstrap_expect: 3,
            ..NodeMeta::default()
        },
        ..GossipConfig::default()
    };
    Gossip::start(config, net.clone()).await.expect("gossip")
}

#[tokio::test]
async fn readiness_without_leader_follows_gossip_not_raft() {
    let dir = tempfile::tempdir().expect("tempdir");
    let net = Transport::in_memory();
    let own = gossip_node(&net, 1, 17001, &[17002]).await;
    // Two unreachable voters: no leader, ever.
    let (app, replica) = node_with_gossip(dir.path(), 2, Some(own.clone()), 3, None).await;
    let (s, _, b) = send(&app, get("/readyz?leader=false")).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "alone in gossip: {b}");
    assert_eq!(b["gossip"], false, "{b}");

    let peer = gossip_node(&net, 2, 17002, &[17001]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, _, b) = send(&app, get("/readyz?leader=false")).await;
        if s == StatusCode::OK {
            assert_eq!(b["gossip"], true, "{b}");
            assert!(b["leader"].is_null(), "ready without a leader: {b}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never joined: {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _, _) = send(&app, get("/readyz")).await;
    assert_eq!(
        s,
        StatusCode::SERVICE_UNAVAILABLE,
        "plain /readyz needs a leader"
    );

    own.set_leaving(true).await;
    let (s, _, b) = send(&app, get("/readyz?leader=false")).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "leaving: {b}");
    replica.raft().shutdown().await.expect("shutdown");
    peer.shutdown().await.expect("peer shutdown");
}

#[tokio::test]
async fn probes_and_unknown_routes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _replica) = node(dir.path(), 0).await;
    let (s, _, b) = send(&app, get("/alerts")).await;
    assert_eq!((s, b), (StatusCode::OK, Value::String("OK".into())));
    let (s, _, b) = send(&app, get("/api/about")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["version"], env!("CARGO_PKG_VERSION"));
    let (s, _, b) = send(&app, get("/api/remediations/doesnotexist")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(b["error"].as_str().unwrap_or("").contains("doesnotexist"));
    let (s, _, _) = send(&app, get("/nope")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = send(&app, get("/api/remediations?limit=0")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, b) = send(&app, get("/readyz?leader=false")).await;
    assert_eq!(s, StatusCode::OK, "embedded mode: serving is enough: {b}");
}

#[tokio::test]
async fn metrics_count_this_process_and_read_replicated_gauges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _replica) = node(dir.path(), 0).await;
    let body = webhook("Metered", "p-1", "firing", "2026-01-01T00:00:00Z").to_string();
    let (s, _, _) = send(&app, post(body, Some("application/json"))).await;
    assert_eq!(s, StatusCode::OK);
    let resp = app
        .clone()
        .oneshot(get("/metrics"))
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers()[header::CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec(),
    )
    .expect("utf8");
    for needle in [
        "openfero_alerts_received_total{status=\"firing\"} 1",
        "openfero_alerts_stored 1",
        "openfero_raft_is_leader 1",
        "openfero_raft_voters 1",
        "openfero_http_request_duration_seconds_count{route=\"/alerts\",method=\"POST\",status=\"200\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
}

#[tokio::test]
async fn without_a_webhook_token_any_sender_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _replica) = node(dir.path(), 0).await;
    let body = webhook("Open", "p-1", "firing", "2026-01-01T00:00:00Z").to_string();
    let (s, _, b) = send(&app, post(body, Some("application/json"))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // A sender configured with a token it does not need is not refused either.
    let body = webhook("Open", "p-2", "firing", "2026-01-01T00:00:00Z").to_string();
    let (s, _, b) = send(&app, post_with_auth(body, "Bearer unused")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["recorded"], 1);
}

#[tokio::test]
async fn webhook_token_refuses_senders_without_it_before_reading_the_body() {
    const TOKEN: &str = "hook-s3cret-5b1d";
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, replica) = node_with_gossip(dir.path(), 0, None, 1, Some(TOKEN)).await;
    let applied_before = replica.status().last_applied;
    let good = webhook("Guarded", "web-1", "firing", "2026-01-01T00:00:00Z").to_string();

    let mut refused = vec![
        ("no header", post(good.clone(), Some("application/json"))),
        ("wrong token", post_with_auth(good.clone(), "Bearer wrong")),
        (
            "a prefix of the token",
            post_with_auth(
                good.clone(),
                &format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]),
            ),
        ),
        (
            "the token and more",
            post_with_auth(good.clone(), &format!("Bearer {TOKEN}x")),
        ),
        ("no scheme", post_with_auth(good.clone(), TOKEN)),
        (
            "another scheme",
            post_with_auth(good.clone(), &format!("Basic {TOKEN}")),
        ),
        // Checked before the content type, the body limit and the parser.
        ("not JSON", post(good.clone(), Some("text/plain"))),
        (
            "oversized",
            post(
                format!("{{\"pad\": \"{}\"}}", "x".repeat(LIMIT + 1)),
                Some("application/json"),
            ),
        ),
        ("invalid", post("{\"alerts\": [", Some("application/json"))),
    ];
    // A body that records whether anyone read it.
    let polled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = polled.clone();
    let chunk = good.clone();
    let watched = Body::from_stream(futures::stream::once(async move {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok::<_, std::io::Error>(chunk)
    }));
    refused.push(("watched body", post_with_auth(watched, "Bearer wrong")));

    for (what, req) in refused {
        let (s, headers, b) = send(&app, req).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {b}");
        assert_eq!(
            b["error"], "a valid bearer token is required",
            "{what}: {b}"
        );
        assert!(b["detail"].is_null(), "{what}: {b}");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer", "{what}");
    }
    assert!(
        !polled.load(std::sync::atomic::Ordering::SeqCst),
        "the body of a refused request is never read"
    );
    assert_eq!(
        replica.status().last_applied,
        applied_before,
        "nothing of a refused request reached the log"
    );
    let (s, _, b) = send(&app, get("/api/alerts")).await;
    assert_eq!((s, b), (StatusCode::OK, serde_json::json!([])));

    // OpenFero's probe stays open.
    let (s, _, b) = send(&app, get("/alerts")).await;
    assert_eq!((s, b), (StatusCode::OK, Value::String("OK".into())));

    // The right token is accepted (the scheme in any case, as RFC 9110 allows).
    let (s, _, b) = send(&app, post_with_auth(good, &format!("Bearer {TOKEN}"))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["recorded"], 1);
    let other = webhook("Guarded", "web-2", "firing", "2026-01-01T00:00:00Z").to_string();
    let (s, _, b) = send(&app, post_with_auth(other, &format!("bearer {TOKEN}"))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, _, alerts) = send(&app, get("/api/alerts")).await;
    assert_eq!(alerts.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn an_empty_webhook_token_file_is_refused_at_start() {
    use clap::Parser;
    use openfero::config::{Cli, CliCommand};
    let dir = tempfile::tempdir().expect("tempdir");
    // An empty token would leave the webhook open although the operator asked for a token.
    let token = dir.path().join("webhook-token");
    std::fs::write(&token, " \n").expect("write token");
    let cli = Cli::try_parse_from([
        "openfero",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().join("data").to_str().expect("utf-8 path"),
        "--webhook-token-file",
        token.to_str().expect("utf-8 path"),
    ])
    .expect("valid flags");
    let CliCommand::Serve(args) = cli.into_command() else {
        panic!("serve");
    };
    let err = match openfero::app::start(*args).await {
        Ok(_) => panic!("started with an empty webhook token"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("is empty"), "{err}");
}
