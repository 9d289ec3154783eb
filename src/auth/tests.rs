use super::*;
use axum::http::{header, HeaderValue};
use base64::Engine as _;

fn headers(authorization: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(authorization).expect("header"),
    );
    h
}

fn basic(user: &str, password: &str) -> HeaderMap {
    let raw = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    headers(&format!("Basic {raw}"))
}

fn auth_with_users() -> Auth {
    let hash = hash_password_with("alice-pw", Cost::Test).expect("hash");
    let text = format!(
        "users:\n  - {{name: alice, role: admin, passwordHash: \"{hash}\"}}\n\
         tokens:\n  - {{name: ci, role: operator, sha256: \"{}\"}}\n",
        sha256_hex(b"ci-token")
    );
    Auth::new(AuthSettings {
        file: Some(AuthFile::parse(&text).expect("file")),
        admin_token: Some("admin-tok".into()),
        ..AuthSettings::default()
    })
    .expect("auth")
}

#[tokio::test]
async fn passwords_tokens_and_the_admin_token_name_their_callers() {
    let a = auth_with_users();
    assert!(a.enforced());
    assert_eq!(
        a.identify(&basic("alice", "alice-pw"), None).await,
        Verdict::Known(Identity::new("alice", Role::Admin))
    );
    // Remembered: the same header again is the same identity.
    assert_eq!(
        a.identify(&basic("alice", "alice-pw"), None).await,
        Verdict::Known(Identity::new("alice", Role::Admin))
    );
    assert_eq!(
        a.identify(&basic("alice", "wrong"), None).await,
        Verdict::Invalid
    );
    assert_eq!(
        a.identify(&basic("mallory", "alice-pw"), None).await,
        Verdict::Invalid
    );
    assert_eq!(
        a.identify(&headers("Bearer ci-token"), None).await,
        Verdict::Known(Identity::new("token:ci", Role::Operator))
    );
    assert_eq!(
        a.identify(&headers("Bearer admin-tok"), None).await,
        Verdict::Known(Identity::new("admin-token", Role::Admin))
    );
    assert_eq!(
        a.identify(&headers("Bearer nope"), None).await,
        Verdict::Invalid
    );
    assert_eq!(
        a.identify(&HeaderMap::new(), None).await,
        Verdict::Anonymous
    );
    assert_eq!(
        a.identify(&headers("Negotiate abc"), None).await,
        Verdict::Invalid
    );
}

#[test]
fn the_webhook_accepts_its_own_credentials_only() {
    let a = Auth::new(AuthSettings {
        webhook_token: Some("hook-tok".into()),
        webhook_basic: Some(("am".into(), "am-pw".into())),
        ..AuthSettings::default()
    })
    .expect("auth");
    assert_eq!(
        a.webhook(&headers("Bearer hook-tok")).map(|i| i.name),
        Ok("webhook-token".into())
    );
    assert_eq!(
        a.webhook(&basic("am", "am-pw")).map(|i| i.name),
        Ok("webhook:am".into())
    );
    let both = WebhookSchemes {
        bearer: true,
        basic: true,
    };
    assert_eq!(a.webhook(&basic("am", "wrong")), Err(both));
    assert_eq!(a.webhook(&basic("other", "am-pw")), Err(both));
    assert_eq!(a.webhook(&headers("Bearer am-pw")), Err(both));
    assert_eq!(a.webhook(&HeaderMap::new()), Err(both));
    assert!(Auth::default().webhook(&HeaderMap::new()).is_ok(), "open");
}

#[test]
fn debug_output_and_the_summary_hold_no_secret() {
    let settings = AuthSettings {
        admin_token: Some("admin-secret-1".into()),
        webhook_token: Some("hook-secret-2".into()),
        webhook_basic: Some(("am".into(), "basic-secret-3".into())),
        ..AuthSettings::default()
    };
    let debug = format!("{settings:?}");
    let auth = Auth::new(settings).expect("auth");
    let all = format!("{debug} {auth:?} {}", auth.summary());
    for secret in ["admin-secret-1", "hook-secret-2", "basic-secret-3"] {
        assert!(!all.contains(secret), "{all}");
    }
    assert!(all.contains("webhook=bearer+basic"), "{all}");
}

#[test]
fn proxy_settings_must_come_together() {
    let cidr = vec![parse_cidr("127.0.0.1").expect("cidr")];
    let err = Auth::new(AuthSettings {
        proxy_header: Some("X-Auth-Request-User".into()),
        ..AuthSettings::default()
    })
    .expect_err("no cidrs");
    assert!(err.to_string().contains("auth-proxy-cidrs"), "{err}");
    let err = Auth::new(AuthSettings {
        proxy_cidrs: cidr.clone(),
        ..AuthSettings::default()
    })
    .expect_err("no header");
    assert!(err.to_string().contains("auth-proxy-header"), "{err}");
    let err = Auth::new(AuthSettings {
        proxy_header: Some("X-Auth-Request-User".into()),
        proxy_cidrs: cidr.clone(),
        ..AuthSettings::default()
    })
    .expect_err("no file");
    assert!(err.to_string().contains("auth-file"), "{err}");
    let ok = Auth::new(AuthSettings {
        file: Some(AuthFile::parse("proxy: {defaultRole: viewer}").expect("file")),
        proxy_header: Some("X-Auth-Request-User".into()),
        proxy_cidrs: cidr,
        ..AuthSettings::default()
    });
    assert!(ok.is_ok());
    let err = Auth::new(AuthSettings {
        file: Some(AuthFile::default()),
        ..AuthSettings::default()
    })
    .expect_err("an empty file locks everyone out");
    assert!(err.to_string().contains("nobody"), "{err}");
}
