//! Users, roles and the webhook's credentials, through the real router (`oneshot`): the role
//! matrix of every route in the table, 401/403 answers, cross-origin refusal, the trusted
//! proxy header, and the admin calls without an auth file.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use base64::Engine as _;
use openfero::auth::{hash_password_with, sha256_hex, Auth, AuthFile, AuthSettings, Cost};
use openfero::http::routes::{Access, MOUNTS};
use openfero::site::table;
use serde_json::json;
use tower::ServiceExt;

use crate::webhook::{node_with_auth, send};

const WEBHOOK_TOKEN: &str = "matrix-webhook-token";
/// (name, password, role) of the auth file's users.
const USERS: [(&str, &str, &str); 3] = [
    ("vera", "vera-password", "viewer"),
    ("otto", "otto-password", "operator"),
    ("ada", "ada-password", "admin"),
];

pub fn basic(user: &str, password: &str) -> String {
    let raw = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {raw}")
}

/// An auth file with [`USERS`] (cheap test hashes) and a `ci` token with `role`.
fn auth_file(extra: &str) -> AuthFile {
    let mut text = String::from("users:\n");
    for (name, password, role) in USERS {
        let hash = hash_password_with(password, Cost::Test).expect("hash");
        text.push_str(&format!(
            "  - {{name: {name}, role: {role}, passwordHash: \"{hash}\"}}\n"
        ));
    }
    text.push_str(&format!(
        "tokens:\n  - {{name: ci, role: operator, sha256: \"{}\"}}\n{extra}",
        sha256_hex(b"ci-token")
    ));
    AuthFile::parse(&text).expect("auth file")
}

fn enforced(metrics_open: bool) -> Auth {
    Auth::new(AuthSettings {
        file: Some(auth_file("")),
        webhook_token: Some(WEBHOOK_TOKEN.into()),
        metrics_open,
        ..AuthSettings::default()
    })
    .expect("auth")
}

/// A request for `path` as the table's handler expects it, with `authorization`.
fn request(method: &Method, path: &str, authorization: Option<&str>) -> Request<Body> {
    let mut b = Request::builder().method(method.clone()).uri(path);
    if let Some(a) = authorization {
        b = b.header(header::AUTHORIZATION, a);
    }
    let body = if path == "/operarios/try" {
        b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        "payload=".to_string()
    } else if path.ends_with("/autopilot") {
        b = b.header(header::CONTENT_TYPE, "application/json");
        json!({"paused": false}).to_string()
    } else {
        b = b.header(header::CONTENT_TYPE, "application/json");
        "{}".to_string()
    };
    b.body(Body::from(body)).expect("request")
}

async fn status_of(app: &Router, req: Request<Body>) -> StatusCode {
    // Only the status: the event stream's body never ends.
    app.clone().oneshot(req).await.expect("infallible").status()
}

fn outcome(s: StatusCode) -> &'static str {
    match s {
        StatusCode::UNAUTHORIZED => "401",
        StatusCode::FORBIDDEN => "403",
        _ => "allowed",
    }
}

/// What a caller with `role` (None: anonymous) gets on a route of `access`.
fn expected(access: Access, role: Option<&str>) -> &'static str {
    let rank = |r: &str| ["viewer", "operator", "admin"].iter().position(|x| *x == r);
    let need = match access {
        Access::Open => return "allowed",
        Access::Webhook => return "401",
        Access::Viewer => 0,
        Access::Operator => 1,
        Access::Admin => 2,
    };
    match role.and_then(rank) {
        None => "401",
        Some(r) if r >= need => "allowed",
        Some(_) => "403",
    }
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_table_declares() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _replica) = node_with_auth(dir.path(), enforced(true)).await;
    let callers: Vec<(&str, Option<String>, Option<&str>)> =
        std::iter::once(("anonymous", None, None))
            .chain(
                USERS
                    .iter()
                    .map(|(n, p, r)| (*r, Some(basic(n, p)), Some(*r))),
            )
            .collect();

    let mut routes: Vec<(Method, String, Access)> = table(1024, Access::Open)
        .into_iter()
        .map(|r| {
            let path = r
                .path
                .replace("{id}", "0000000000000001")
                .replace("{op}", "promote");
            (r.method, path, r.role)
        })
        .collect();
    for (prefix, access) in MOUNTS {
        routes.push((Method::GET, format!("{prefix}/swagger-ui.css"), *access));
    }

    let mut lines = vec![format!(
        "{:<52} {:<9} {:<9} {:<9} {:<9} {:<9}",
        "route", "declared", "anonymous", "viewer", "operator", "admin"
    )];
    let mut wrong = Vec::new();
    for (method, path, access) in &routes {
        let mut cells = Vec::new();
        for (who, authorization, role) in &callers {
            let got =
                outcome(status_of(&app, request(method, path, authorization.as_deref())).await);
            let want = expected(*access, *role);
            if got != want {
                wrong.push(format!(
                    "{method} {path} as {who}: {got}, declared {access:?} means {want}"
                ));
            }
            cells.push(got);
        }
        lines.push(format!(
            "{:<52} {:<9} {:<9} {:<9} {:<9} {:<9}",
            format!("{method} {path}"),
            format!("{access:?}"),
            cells[0],
            cells[1],
            cells[2],
            cells[3]
        ));
    }
    println!("role matrix (--auth-file, --webhook-token-file, --metrics-auth open):");
    for l in &lines {
        println!("{l}");
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    // The declarations themselves, for the routes whose access matters most.
    let declared = |m: Method, p: &str| {
        routes
            .iter()
            .find(|(rm, rp, _)| *rm == m && rp == p)
            .map(|(_, _, a)| *a)
            .unwrap_or_else(|| panic!("{m} {p} is in the table"))
    };
    for p in ["/healthz", "/readyz", "/readiness", "/startupz", "/alerts"] {
        assert_eq!(declared(Method::GET, p), Access::Open, "{p}");
    }
    for p in ["/alerts", "/alert"] {
        assert_eq!(declared(Method::POST, p), Access::Webhook, "{p}");
    }
    assert_eq!(
        declared(Method::POST, "/admin/cluster/autopilot"),
        Access::Admin
    );
    assert_eq!(
        declared(
            Method::POST,
            "/admin/cluster/nodes/0000000000000001/promote"
        ),
        Access::Admin
    );
    for (m, p, a) in &routes {
        if *m == Method::GET && p.starts_with("/api/") {
            assert_eq!(*a, Access::Viewer, "{p}");
        }
    }

    // `--metrics-auth viewer`.
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _replica) = node_with_auth(dir.path(), enforced(false)).await;
    assert_eq!(
        status_of(&app, request(&Method::GET, "/metrics", None)).await,
        StatusCode::UNAUTHORIZED
    );
    let vera = basic("vera", "vera-password");
    assert_eq!(
        status_of(&app, request(&Method::GET, "/metrics", Some(&vera))).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn refusals_ask_for_credentials_and_name_the_missing_role() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _replica) = node_with_auth(dir.path(), enforced(true)).await;
    // A browser's anonymous page load: a basic challenge first, so it prompts.
    let (s, headers, body) = send(&app, request(&Method::GET, "/", None)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let challenges: Vec<&str> = headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert!(
        challenges[0].starts_with("Basic realm=\"openfero\""),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer")),
        "{challenges:?}"
    );
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("sign in")),
        "{body}"
    );
    assert!(body["detail"].is_null());

    // A wrong password, an unknown user, a wrong token: 401 alike.
    for a in [
        basic("ada", "wrong"),
        basic("nobody", "ada-password"),
        "Bearer wrong".to_string(),
        "Bearer ".to_string(),
    ] {
        let (s, _, _) = send(&app, request(&Method::GET, "/api/alerts", Some(&a))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // The operator token reads, and may not change the cluster.
    let (s, _, _) = send(
        &app,
        request(&Method::GET, "/api/alerts", Some("Bearer ci-token")),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, body) = send(
        &app,
        request(
            &Method::POST,
            "/admin/cluster/autopilot",
            Some("Bearer ci-token"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["error"],
        "`token:ci` has the operator role; this needs admin"
    );
    assert_eq!(
        body["detail"],
        json!({"role": "operator", "required": "admin"})
    );
}

#[tokio::test]
async fn the_admin_who_changed_the_autopilot_is_replicated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _replica) = node_with_auth(dir.path(), enforced(true)).await;
    let ada = basic("ada", "ada-password");
    let mut req = request(&Method::POST, "/admin/cluster/autopilot", Some(&ada));
    *req.body_mut() = Body::from(json!({"paused": true}).to_string());
    let (s, _, body) = send(&app, req).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, view) = send(&app, request(&Method::GET, "/admin/cluster", Some(&ada))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(view["autopilotPaused"], true, "{view}");
    assert_eq!(view["autopilotChangedBy"], "ada", "{view}");
}

#[tokio::test]
async fn form_posts_from_another_origin_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _replica) = node_with_auth(dir.path(), enforced(true)).await;
    let vera = basic("vera", "vera-password");
    let with = |pairs: &[(&'static str, &'static str)]| {
        let mut r = request(&Method::POST, "/operarios/try", Some(&vera));
        for (k, v) in pairs {
            r.headers_mut().insert(*k, v.parse().expect("value"));
        }
        r
    };
    for (what, pairs) in [
        (
            "cross-site fetch metadata",
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            "same-site, other origin",
            vec![("sec-fetch-site", "same-site")],
        ),
        (
            "foreign Origin",
            vec![
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:8080"),
            ],
        ),
    ] {
        let (s, _, body) = send(&app, with(&pairs)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{what}: {body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("cross-origin")),
            "{body}"
        );
    }
    // The UI's own form (same origin), and a client that is not a browser: evaluated (400: the
    // payload is empty).
    for pairs in [
        vec![
            ("sec-fetch-site", "same-origin"),
            ("origin", "http://127.0.0.1:8080"),
        ],
        vec![
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ],
        vec![],
    ] {
        let (s, _, _) = send(&app, with(&pairs)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{pairs:?}");
    }
    // The same for an admin call: cached basic credentials do not let a foreign page act.
    let ada = basic("ada", "ada-password");
    let mut r = request(&Method::POST, "/admin/cluster/autopilot", Some(&ada));
    r.headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().expect("value"));
    assert_eq!(status_of(&app, r).await, StatusCode::FORBIDDEN);
}

fn from(addr: &str, mut req: Request<Body>) -> Request<Body> {
    let addr: SocketAddr = addr.parse().expect("addr");
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

#[tokio::test]
async fn the_proxy_header_is_believed_from_the_proxy_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = Auth::new(AuthSettings {
        file: Some(auth_file(
            "proxy:\n  defaultRole: viewer\n  users:\n    pat@example.com: admin\n",
        )),
        proxy_header: Some("X-Auth-Request-User".into()),
        proxy_cidrs: vec![openfero::auth::parse_cidr("10.0.0.0/8").expect("cidr")],
        ..AuthSettings::default()
    })
    .expect("auth");
    let (app, _replica) = node_with_auth(dir.path(), auth).await;
    let as_user = |addr: &str, user: &'static str, method: Method, path: &str| {
        let mut r = request(&method, path, None);
        r.headers_mut()
            .insert("x-auth-request-user", user.parse().expect("value"));
        from(addr, r)
    };
    let proxy = "10.2.3.4:40000";
    let stranger = "192.0.2.7:40000";
    assert_eq!(
        status_of(
            &app,
            as_user(proxy, "sam@example.com", Method::GET, "/api/alerts")
        )
        .await,
        StatusCode::OK,
        "the default role"
    );
    assert_eq!(
        status_of(
            &app,
            as_user(stranger, "pat@example.com", Method::GET, "/api/alerts")
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "the header from elsewhere is ignored"
    );
    assert_eq!(
        status_of(
            &app,
            as_user(
                proxy,
                "sam@example.com",
                Method::POST,
                "/admin/cluster/autopilot"
            )
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_of(
            &app,
            as_user(
                proxy,
                "pat@example.com",
                Method::POST,
                "/admin/cluster/autopilot"
            )
        )
        .await,
        StatusCode::OK
    );
    let (_, _, view) = send(
        &app,
        as_user(proxy, "pat@example.com", Method::GET, "/admin/cluster"),
    )
    .await;
    assert_eq!(
        view["autopilotChangedBy"], "proxy:pat@example.com",
        "{view}"
    );
    // Users and tokens still work beside the proxy.
    let vera = basic("vera", "vera-password");
    assert_eq!(
        status_of(
            &app,
            from(stranger, request(&Method::GET, "/api/alerts", Some(&vera)))
        )
        .await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_an_auth_file_admin_calls_need_loopback_or_the_admin_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _replica) = node_with_auth(dir.path(), Auth::default()).await;
    let autopilot = || request(&Method::POST, "/admin/cluster/autopilot", None);
    assert_eq!(
        status_of(&app, from("127.0.0.1:5000", autopilot())).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(&app, from("192.0.2.1:5000", autopilot())).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_of(&app, autopilot()).await,
        StatusCode::FORBIDDEN,
        "no peer address"
    );
    let (_, _, view) = send(&app, request(&Method::GET, "/admin/cluster", None)).await;
    assert_eq!(view["autopilotChangedBy"], "loopback", "{view}");
    // Reads stay open, as before users existed.
    let (s, _, _) = send(&app, request(&Method::GET, "/api/alerts", None)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = send(&app, request(&Method::GET, "/", None)).await;
    assert_eq!(s, StatusCode::OK);

    let dir = tempfile::tempdir().expect("tempdir");
    let auth = Auth::new(AuthSettings {
        admin_token: Some("the-admin-token".into()),
        ..AuthSettings::default()
    })
    .expect("auth");
    let (app, _replica) = node_with_auth(dir.path(), auth).await;
    let (s, headers, body) = send(&app, from("127.0.0.1:5000", autopilot())).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the token is needed from loopback too: {body}"
    );
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    let with_token = request(
        &Method::POST,
        "/admin/cluster/autopilot",
        Some("Bearer the-admin-token"),
    );
    assert_eq!(
        status_of(&app, from("192.0.2.1:5000", with_token)).await,
        StatusCode::OK
    );
    let (_, _, view) = send(&app, request(&Method::GET, "/admin/cluster", None)).await;
    assert_eq!(view["autopilotChangedBy"], "admin-token", "{view}");
}

#[tokio::test]
async fn webhook_basic_auth_refuses_wrong_credentials_before_reading_the_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = Auth::new(AuthSettings {
        webhook_basic: Some(("alertmanager".into(), "am-s3cret".into())),
        // Users exist too: theirs are not the webhook's.
        file: Some(auth_file("")),
        ..AuthSettings::default()
    })
    .expect("auth");
    let (app, replica) = node_with_auth(dir.path(), auth).await;
    let applied_before = replica.status().last_applied;
    let good =
        crate::support::webhook("Basic", "web-1", "firing", "2026-01-01T00:00:00Z").to_string();
    let post = |body: Body, authorization: Option<&str>| {
        let mut b = Request::post("/alerts").header(header::CONTENT_TYPE, "application/json");
        if let Some(a) = authorization {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(body).expect("request")
    };
    let polled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = polled.clone();
    let chunk = good.clone();
    let watched = Body::from_stream(futures::stream::once(async move {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok::<_, std::io::Error>(chunk)
    }));
    let ada = basic("ada", "ada-password");
    let refused = vec![
        ("no credentials", post(Body::from(good.clone()), None)),
        (
            "wrong password",
            post(
                Body::from(good.clone()),
                Some(&basic("alertmanager", "wrong")),
            ),
        ),
        (
            "wrong user",
            post(Body::from(good.clone()), Some(&basic("am", "am-s3cret"))),
        ),
        ("an admin user", post(Body::from(good.clone()), Some(&ada))),
        (
            "watched body",
            post(watched, Some(&basic("alertmanager", "nope"))),
        ),
    ];
    for (what, req) in refused {
        let (s, headers, body) = send(&app, req).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(
            body["error"], "valid basic credentials are required",
            "{what}"
        );
        assert!(
            headers[header::WWW_AUTHENTICATE]
                .to_str()
                .expect("ascii")
                .starts_with("Basic realm=\"openfero\""),
            "{what}"
        );
    }
    assert!(
        !polled.load(std::sync::atomic::Ordering::SeqCst),
        "the body was never read"
    );
    assert_eq!(
        replica.status().last_applied,
        applied_before,
        "nothing reached the log"
    );
    let (s, _, b) = send(
        &app,
        post(Body::from(good), Some(&basic("alertmanager", "am-s3cret"))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["recorded"], 1);
    let (_, _, alerts) = send(&app, request(&Method::GET, "/api/alerts", Some(&ada))).await;
    assert_eq!(alerts.as_array().map(Vec::len), Some(1), "{alerts}");
}
