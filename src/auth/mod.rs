//! Who is calling, and with which role. API and UI callers authenticate with HTTP basic (users of
//! the auth file, argon2 password hashes), a bearer token (named tokens of the auth file stored
//! as SHA-256, and `--admin-token-file`'s admin token), or a trusted proxy's header. The webhook
//! has credentials of its own (`--webhook-token-file`, `--webhook-basic-auth-file`), never the
//! users'. `http::access` asks [`Auth`] and compares the answer with each route's declared
//! access.

mod command;
mod credentials;
mod error;
mod file;
mod load;
mod password;
mod proxy;
mod role;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName};
use rand::RngCore;
use tokio::sync::Semaphore;

pub use command::{run as run_command, AuthCommand};
pub use credentials::{constant_time_eq, sha256_hex};
pub use error::{AuthError, Result};
pub use file::{AuthFile, ProxyRoles};
pub use load::{load, AuthSources, MetricsAuth};
pub use password::{hash_password, hash_password_with, verify_password, Cost};
pub use proxy::parse_cidr;
pub use role::{Identity, Role};

use credentials::{sha256, Credentials};
use proxy::{ProxyUser, TrustedProxy};

/// How long a verified password is remembered (by a keyed hash of the header that carried it),
/// so a page's requests do not each cost an argon2 check.
const VERIFIED_TTL: Duration = Duration::from_secs(300);
/// Most remembered credentials; the memory is cleared when full.
const VERIFIED_MAX: usize = 1024;
/// argon2 checks running at once: each takes tens of milliseconds and 19 MiB.
const CONCURRENT_CHECKS: usize = 2;

/// The plain settings [`Auth`] is built from (`load` reads them from the flags' files).
pub struct AuthSettings {
    /// `--auth-file`: with it, every non-open route needs a role.
    pub file: Option<AuthFile>,
    /// `--admin-token-file`: a bearer token with the admin role.
    pub admin_token: Option<String>,
    /// `--webhook-token-file`.
    pub webhook_token: Option<String>,
    /// `--webhook-basic-auth-file`: user and password.
    pub webhook_basic: Option<(String, String)>,
    /// `--auth-proxy-header`, trusted from `--auth-proxy-cidrs` only.
    pub proxy_header: Option<String>,
    pub proxy_cidrs: Vec<ipnet::IpNet>,
    /// `--metrics-auth open` (the default) or `viewer`.
    pub metrics_open: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            file: None,
            admin_token: None,
            webhook_token: None,
            webhook_basic: None,
            proxy_header: None,
            proxy_cidrs: Vec::new(),
            metrics_open: true,
        }
    }
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("file", &self.file)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "webhook_token",
                &self.webhook_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "webhook_basic",
                &self.webhook_basic.as_ref().map(|(u, _)| (u, "<redacted>")),
            )
            .field("proxy_header", &self.proxy_header)
            .field("proxy_cidrs", &self.proxy_cidrs)
            .field("metrics_open", &self.metrics_open)
            .finish()
    }
}

/// What the request's credentials say about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No credentials.
    Anonymous,
    Known(Identity),
    /// A proxy user the auth file gives no role.
    NoRole(String),
    /// Credentials that are wrong, malformed, or of a kind nobody here accepts.
    Invalid,
}

/// Which credentials the webhook accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSchemes {
    pub bearer: bool,
    pub basic: bool,
}

struct User {
    hash: String,
    role: Role,
}

struct Token {
    name: String,
    sha256: [u8; 32],
    role: Role,
}

struct Inner {
    /// `Some` with `--auth-file`: roles are enforced.
    users: Option<BTreeMap<String, User>>,
    tokens: Vec<Token>,
    admin_token: Option<[u8; 32]>,
    proxy: Option<TrustedProxy>,
    webhook_bearer: Option<[u8; 32]>,
    /// SHA-256 of `user:password`.
    webhook_basic: Option<[u8; 32]>,
    metrics_open: bool,
    /// Checked (and ignored) for unknown users, so a wrong name costs what a wrong password does.
    dummy_hash: Option<String>,
    verified: Mutex<HashMap<[u8; 32], (Identity, Instant)>>,
    cache_key: [u8; 32],
    checks: Semaphore,
}

/// The node's authentication settings; cheap to clone.
#[derive(Clone)]
pub struct Auth(Arc<Inner>);

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

impl Default for Auth {
    /// No auth file, no tokens: everything open except admin calls (loopback only).
    fn default() -> Self {
        Self::new(AuthSettings::default()).expect("the default settings are valid")
    }
}

impl Auth {
    pub fn new(s: AuthSettings) -> Result<Self> {
        let invalid = |field, reason: &str| AuthError::Invalid {
            field,
            reason: reason.to_string(),
        };
        let proxy = match (&s.proxy_header, s.proxy_cidrs.is_empty()) {
            (None, true) => None,
            (None, false) => {
                return Err(invalid(
                    "auth-proxy-cidrs",
                    "needs --auth-proxy-header (the header the proxy sets)",
                ))
            }
            (Some(_), true) => return Err(invalid(
                "auth-proxy-header",
                "needs --auth-proxy-cidrs: the header is trusted from the proxy's addresses only",
            )),
            (Some(h), false) => {
                let header = HeaderName::try_from(h.trim()).map_err(|_| AuthError::Invalid {
                    field: "auth-proxy-header",
                    reason: format!("`{h}` is not a header name"),
                })?;
                let Some(file) = &s.file else {
                    return Err(invalid(
                        "auth-proxy-header",
                        "needs --auth-file (its `proxy` section gives the proxy's users their roles)",
                    ));
                };
                if file.proxy.users.is_empty() && file.proxy.default_role.is_none() {
                    return Err(invalid(
                        "auth-proxy-header",
                        "the auth file's `proxy` section gives no user a role (`users` or `defaultRole`)",
                    ));
                }
                Some(TrustedProxy {
                    header,
                    cidrs: s.proxy_cidrs.clone(),
                    roles: ProxyRoles {
                        default_role: file.proxy.default_role,
                        users: file.proxy.users.clone(),
                    },
                })
            }
        };
        if let Some(f) = &s.file {
            if f.is_empty() && s.admin_token.is_none() {
                return Err(invalid(
                    "auth-file",
                    "the file names no user, token or proxy role: nobody could sign in",
                ));
            }
        }
        let mut users = None;
        let mut tokens = Vec::new();
        let mut dummy_hash = None;
        if let Some(file) = s.file {
            let mut map = BTreeMap::new();
            for u in file.users {
                map.insert(
                    u.name,
                    User {
                        hash: u.password_hash,
                        role: u.role,
                    },
                );
            }
            // A real user's hash: a wrong name then costs exactly what a wrong password does.
            dummy_hash = map.values().next().map(|u: &User| u.hash.clone());
            users = Some(map);
            for t in file.tokens {
                let mut sha = [0u8; 32];
                hex::decode_to_slice(t.sha256.to_ascii_lowercase(), &mut sha).map_err(|_| {
                    AuthError::Invalid {
                        field: "auth-file",
                        reason: format!("token `{}`: `sha256` is not hex", t.name),
                    }
                })?;
                tokens.push(Token {
                    name: t.name,
                    sha256: sha,
                    role: t.role,
                });
            }
        }
        Ok(Auth(Arc::new(Inner {
            users,
            tokens,
            admin_token: s.admin_token.map(|t| sha256(t.as_bytes())),
            proxy,
            webhook_bearer: s.webhook_token.map(|t| sha256(t.as_bytes())),
            webhook_basic: s
                .webhook_basic
                .map(|(u, p)| sha256(format!("{u}:{p}").as_bytes())),
            metrics_open: s.metrics_open,
            dummy_hash,
            verified: Mutex::new(HashMap::new()),
            cache_key: random_bytes(),
            checks: Semaphore::new(CONCURRENT_CHECKS),
        })))
    }

    /// Whether roles are enforced (`--auth-file` given). Without it every route but the admin
    /// calls is open, as before users existed.
    pub fn enforced(&self) -> bool {
        self.0.users.is_some()
    }

    pub fn has_admin_token(&self) -> bool {
        self.0.admin_token.is_some()
    }

    /// Whether `/metrics` is open (`--metrics-auth open`) rather than for viewers.
    pub fn metrics_open(&self) -> bool {
        self.0.metrics_open
    }

    pub fn webhook_schemes(&self) -> WebhookSchemes {
        WebhookSchemes {
            bearer: self.0.webhook_bearer.is_some(),
            basic: self.0.webhook_basic.is_some(),
        }
    }

    /// For the start log line: what is configured, never a secret.
    pub fn summary(&self) -> String {
        let i = &self.0;
        let users = match &i.users {
            Some(u) => format!("users={} tokens={}", u.len(), i.tokens.len()),
            None => "open (no --auth-file)".into(),
        };
        let hook = match (i.webhook_bearer.is_some(), i.webhook_basic.is_some()) {
            (false, false) => "open",
            (true, false) => "bearer",
            (false, true) => "basic",
            (true, true) => "bearer+basic",
        };
        format!(
            "api={users} admin_token={} proxy={} webhook={hook} metrics={}",
            i.admin_token.is_some(),
            i.proxy
                .as_ref()
                .map(|p| p.header.to_string())
                .unwrap_or_else(|| "none".into()),
            if i.metrics_open { "open" } else { "viewer" }
        )
    }

    /// Log a warning when the API listens beyond loopback without users.
    pub fn warn_if_open(&self, listen: SocketAddr) {
        if !self.enforced() && !listen.ip().is_loopback() {
            tracing::warn!(
                %listen,
                "no --auth-file: the UI and the API are open to anyone who reaches this address"
            );
        }
    }

    /// The webhook's own check: `Ok` with the sender's name when no webhook credentials are
    /// configured or the request carries one of them; `Err` with the schemes to ask for.
    pub fn webhook(&self, headers: &HeaderMap) -> std::result::Result<Identity, WebhookSchemes> {
        let schemes = self.webhook_schemes();
        if !schemes.bearer && !schemes.basic {
            return Ok(Identity::anonymous());
        }
        match credentials::from_headers(headers) {
            Ok(Some(Credentials::Bearer(t))) => {
                if let Some(expected) = &self.0.webhook_bearer {
                    if constant_time_eq(&sha256(t.as_bytes()), expected) {
                        return Ok(Identity::new("webhook-token", Role::Viewer));
                    }
                }
            }
            Ok(Some(Credentials::Basic { user, password })) => {
                if let Some(expected) = &self.0.webhook_basic {
                    let given = sha256(format!("{user}:{password}").as_bytes());
                    if constant_time_eq(&given, expected) {
                        return Ok(Identity::new(format!("webhook:{user}"), Role::Viewer));
                    }
                }
            }
            _ => {}
        }
        Err(schemes)
    }

    /// Who the request's credentials name (proxy header, bearer token or basic password).
    pub async fn identify(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Verdict {
        if let Some(p) = &self.0.proxy {
            match p.user(headers, peer) {
                ProxyUser::Absent => {}
                ProxyUser::Known(name, role) => {
                    return Verdict::Known(Identity::new(format!("proxy:{name}"), role))
                }
                ProxyUser::NoRole(name) => return Verdict::NoRole(name),
                ProxyUser::Malformed => return Verdict::Invalid,
            }
        }
        match credentials::from_headers(headers) {
            Ok(None) => Verdict::Anonymous,
            Err(()) => Verdict::Invalid,
            Ok(Some(Credentials::Bearer(token))) => self.bearer(&token),
            Ok(Some(Credentials::Basic { user, password })) => {
                let raw = headers
                    .get(axum::http::header::AUTHORIZATION)
                    .map(|v| v.as_bytes())
                    .unwrap_or_default();
                self.basic(raw, user, password).await
            }
        }
    }

    fn bearer(&self, token: &str) -> Verdict {
        let given = sha256(token.as_bytes());
        // Every hash is compared, so the time does not tell which one (nearly) matched.
        let mut found: Option<Identity> = None;
        if let Some(admin) = &self.0.admin_token {
            if constant_time_eq(&given, admin) {
                found = Some(Identity::new("admin-token", Role::Admin));
            }
        }
        for t in &self.0.tokens {
            if constant_time_eq(&given, &t.sha256) && found.is_none() {
                found = Some(Identity::new(format!("token:{}", t.name), t.role));
            }
        }
        found.map(Verdict::Known).unwrap_or(Verdict::Invalid)
    }

    async fn basic(&self, raw: &[u8], user: String, password: String) -> Verdict {
        let Some(users) = &self.0.users else {
            return Verdict::Invalid;
        };
        let key = {
            let mut k = self.0.cache_key.to_vec();
            k.extend_from_slice(raw);
            sha256(&k)
        };
        if let Some(id) = self.remembered(&key) {
            return Verdict::Known(id);
        }
        let (hash, role) = match users.get(&user) {
            Some(u) => (u.hash.clone(), Some(u.role)),
            None => match &self.0.dummy_hash {
                Some(d) => (d.clone(), None),
                None => return Verdict::Invalid,
            },
        };
        let ok = {
            let _slot = self
                .0
                .checks
                .acquire()
                .await
                .expect("the check semaphore is never closed");
            tokio::task::spawn_blocking(move || verify_password(&hash, &password))
                .await
                .unwrap_or(false)
        };
        match role {
            Some(role) if ok => {
                let id = Identity::new(user, role);
                self.remember(key, &id);
                Verdict::Known(id)
            }
            _ => {
                tracing::debug!(user = %user, "basic credentials refused");
                Verdict::Invalid
            }
        }
    }

    fn remembered(&self, key: &[u8; 32]) -> Option<Identity> {
        let map = self.0.verified.lock().expect("the credential memory lock");
        map.get(key)
            .filter(|(_, at)| at.elapsed() < VERIFIED_TTL)
            .map(|(id, _)| id.clone())
    }

    fn remember(&self, key: [u8; 32], id: &Identity) {
        let mut map = self.0.verified.lock().expect("the credential memory lock");
        if map.len() >= VERIFIED_MAX {
            map.clear();
        }
        map.insert(key, (id.clone(), Instant::now()));
    }
}

fn random_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    b
}

#[cfg(test)]
mod tests;
