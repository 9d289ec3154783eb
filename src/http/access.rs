//! The one access check, built from the route table: each request is matched to its route's
//! declared [`Access`] and let through, or answered 401/403 before its handler (and its body)
//! is touched. Handlers find the caller as an [`Identity`] extension.
//!
//! Cross-site request forgery: a browser sends cached basic credentials with any request to
//! this origin, also one a foreign page submits. So every state-changing method on a role's
//! route must come from this origin: `Sec-Fetch-Site` (sent by every current browser) must be
//! `same-origin` or `none`, else `Origin`, when present, must name this host. Clients that
//! are not browsers (curl, Alertmanager, scripts) send neither and are not affected. This is
//! stateless (no session or token to keep in the form) and covers the JSON API as well as
//! the UI's forms.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::debug;

use super::error::{ApiError, Challenge};
use super::routes::{Access, RouteDef, MOUNTS};
use super::AppState;
use crate::auth::{Identity, Role, Verdict, WebhookSchemes};

/// Each route's access, looked up by method and matched path.
pub struct AccessTable {
    routes: HashMap<(Method, &'static str), Access>,
    /// The strictest access of any method on a path: for a method the path does not serve
    /// (answered 405 after the check).
    paths: HashMap<&'static str, Access>,
}

impl AccessTable {
    pub fn new(table: &[RouteDef]) -> Self {
        let mut routes = HashMap::new();
        let mut paths: HashMap<&'static str, Access> = HashMap::new();
        for r in table {
            routes.insert((r.method.clone(), r.path), r.role);
            let p = paths.entry(r.path).or_insert(r.role);
            *p = (*p).max(r.role);
        }
        Self { routes, paths }
    }

    /// The access of a request to `path` (the matched route) with `method`. A route nobody
    /// declared is for admins only: a new route cannot be opened by forgetting it.
    pub fn access(&self, method: &Method, path: &str) -> Access {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        if let Some(a) = self.routes.get(&(method.clone(), path)) {
            return *a;
        }
        if let Some(a) = self.paths.get(path) {
            return *a;
        }
        MOUNTS
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map(|(_, a)| *a)
            .unwrap_or(Access::Admin)
    }
}

/// Middleware over every routed request (the fallback's 404 excepted).
pub async fn enforce(
    State((state, table)): State<(AppState, Arc<AccessTable>)>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(path) = req.extensions().get::<MatchedPath>().cloned() else {
        return next.run(req).await;
    };
    let access = table.access(req.method(), path.as_str());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| *a);
    let decided = match access {
        Access::Open => Ok(Identity::anonymous()),
        Access::Webhook => state.auth.webhook(req.headers()).map_err(|schemes| {
            debug!(route = %path.as_str(), "webhook refused: missing or wrong credentials");
            webhook_refusal(schemes)
        }),
        Access::Viewer | Access::Operator | Access::Admin => {
            let need = access.role().expect("a role's access names its role");
            match cross_origin(req.method(), req.headers(), req.uri()) {
                Some(why) => Err(ApiError::Forbidden(why)),
                None => decide(&state, need, req.headers(), peer).await,
            }
        }
    };
    match decided {
        Ok(identity) => {
            req.extensions_mut().insert(identity);
            next.run(req).await
        }
        Err(e) => {
            debug!(route = %path.as_str(), method = %req.method(), status = e.status().as_u16(), "request refused");
            e.into_response()
        }
    }
}

fn webhook_refusal(s: WebhookSchemes) -> ApiError {
    let (reason, challenge) = match (s.bearer, s.basic) {
        (true, false) => ("a valid bearer token is required", Challenge::Bearer),
        (false, true) => ("valid basic credentials are required", Challenge::Basic),
        _ => (
            "a valid bearer token or basic credentials are required",
            Challenge::BasicOrBearer,
        ),
    };
    ApiError::Unauthorized {
        reason: reason.into(),
        challenge,
    }
}

/// The caller of a role's route, or why not.
async fn decide(
    state: &AppState,
    need: Role,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<Identity, ApiError> {
    let auth = &state.auth;
    let verdict = auth.identify(headers, peer).await;
    if auth.enforced() {
        return match verdict {
            Verdict::Known(id) if id.role >= need => Ok(id),
            Verdict::Known(id) => Err(ApiError::ForbiddenRole {
                who: id.name,
                has: id.role,
                needs: need,
            }),
            Verdict::NoRole(name) => Err(ApiError::Forbidden(format!(
                "proxy user `{name}` has no role in the auth file"
            ))),
            Verdict::Anonymous | Verdict::Invalid => Err(ApiError::Unauthorized {
                reason: "sign in: basic credentials or a bearer token are required".into(),
                challenge: Challenge::BasicOrBearer,
            }),
        };
    }
    // No auth file: reading is open, as before users existed; operator controls (pause, breaker
    // resets) and admin calls need the admin token when one is configured, else a loopback
    // caller.
    if need < Role::Operator {
        return Ok(match verdict {
            Verdict::Known(id) => id,
            _ => Identity::anonymous(),
        });
    }
    match verdict {
        Verdict::Known(id) if id.role >= need => Ok(id),
        _ if auth.has_admin_token() => Err(ApiError::Unauthorized {
            reason: "a valid bearer token is required".into(),
            challenge: Challenge::Bearer,
        }),
        _ if peer.is_some_and(|p| p.ip().is_loopback()) => {
            Ok(Identity::new("loopback", Role::Admin))
        }
        _ => Err(ApiError::Forbidden(
            "changes without --admin-token-file or --auth-file are accepted from loopback only"
                .into(),
        )),
    }
}

/// Why a state-changing request comes from another origin, if it does.
fn cross_origin(method: &Method, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => None,
            other => Some(format!(
                "cross-origin request refused (`Sec-Fetch-Site: {}`)",
                String::from_utf8_lossy(other)
            )),
        };
    }
    let origin = headers.get(header::ORIGIN)?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, authority)| authority);
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => None,
        _ => Some(format!(
            "cross-origin request refused (`Origin: {}` is not this host)",
            String::from_utf8_lossy(origin.as_bytes())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn state_changes_from_another_origin_are_refused() {
        let uri: Uri = "/operarios/try".parse().expect("uri");
        let post = Method::POST;
        assert!(cross_origin(&post, &h(&[]), &uri).is_none(), "curl");
        assert!(cross_origin(&post, &h(&[("sec-fetch-site", "same-origin")]), &uri).is_none());
        assert!(cross_origin(&post, &h(&[("sec-fetch-site", "cross-site")]), &uri).is_some());
        assert!(cross_origin(&post, &h(&[("sec-fetch-site", "same-site")]), &uri).is_some());
        let same = h(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(cross_origin(&post, &same, &uri).is_none());
        let foreign = h(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(cross_origin(&post, &foreign, &uri).is_some());
        let null = h(&[("origin", "null"), ("host", "127.0.0.1:8080")]);
        assert!(cross_origin(&post, &null, &uri).is_some());
        assert!(
            cross_origin(&Method::GET, &foreign, &uri).is_none(),
            "reads"
        );
    }

    #[test]
    fn an_undeclared_route_is_for_admins_and_mounts_have_their_access() {
        let table = super::super::routes::table(1024, Access::Open);
        let t = AccessTable::new(&table);
        assert_eq!(t.access(&Method::GET, "/healthz"), Access::Open);
        assert_eq!(t.access(&Method::HEAD, "/api/alerts"), Access::Viewer);
        assert_eq!(t.access(&Method::POST, "/alerts"), Access::Webhook);
        assert_eq!(t.access(&Method::GET, "/alerts"), Access::Open);
        assert_eq!(
            t.access(&Method::DELETE, "/alerts"),
            Access::Webhook,
            "another method: the strictest of the path"
        );
        assert_eq!(
            t.access(&Method::GET, "/swagger/dist/swagger-ui.css"),
            Access::Viewer
        );
        assert_eq!(t.access(&Method::GET, "/not/declared"), Access::Admin);
    }
}
