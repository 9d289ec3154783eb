//! The Kubernetes REST surface: path routing to discovery, verbs, watches and pod logs, plus
//! the middleware that applies injected faults and records requests.

use std::{
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    body::{Body, Bytes},
    extract::{Query, Request, State},
    http::{header, HeaderMap, Method, StatusCode, Uri},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use crate::{
    discovery,
    patch::PatchKind,
    requests::RecordedRequest,
    selector::{FieldSelector, LabelSelector},
    shared::{lock, Shared},
    status::ApiError,
    verbs::{self, ListQuery, Target},
    watch::{self, WatchParams},
};

type Params = HashMap<String, String>;

fn json_response(code: StatusCode, body: Value) -> Response {
    (code, Json(body)).into_response()
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let yaml = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("yaml"));
    if yaml {
        serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("cannot parse body: {e}")))
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("cannot parse body: {e}")))
    }
}

fn list_query(params: &Params) -> Result<ListQuery, ApiError> {
    let text = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    Ok(ListQuery {
        labels: LabelSelector::parse(text("labelSelector")).map_err(ApiError::bad_request)?,
        fields: FieldSelector::parse(text("fieldSelector")).map_err(ApiError::bad_request)?,
        limit: params.get("limit").and_then(|l| l.parse().ok()),
        continue_token: params.get("continue").cloned(),
    })
}

fn flag(params: &Params, key: &str) -> bool {
    matches!(params.get(key).map(String::as_str), Some("true" | "1"))
}

fn not_found() -> ApiError {
    ApiError::with_code(404, "the server could not find the requested resource")
}

/// Handles every path that is not a control route.
pub async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match route(&shared, &method, &uri, &headers, &body) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn route(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let params: Params = Query::try_from_uri(uri)
        .map(|Query(p)| p)
        .unwrap_or_default();
    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let ok = |v: Value| Ok(json_response(StatusCode::OK, v));
    match segments.as_slice() {
        ["api"] => {
            let server = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            ok(discovery::core_versions(server))
        }
        ["apis"] => ok(discovery::groups(&lock(&shared.store).registry)),
        ["api", version] => ok(discovery::resources(
            &lock(&shared.store).registry,
            "",
            version,
        )?),
        ["apis", group] => ok(discovery::group(&lock(&shared.store).registry, group)?),
        ["apis", group, version] => ok(discovery::resources(
            &lock(&shared.store).registry,
            group,
            version,
        )?),
        ["api", version, rest @ ..] => {
            resource(shared, method, "", version, rest, &params, headers, body)
        }
        ["apis", group, version, rest @ ..] => {
            resource(shared, method, group, version, rest, &params, headers, body)
        }
        ["version"] => ok(discovery::version()),
        ["healthz" | "readyz" | "livez"] => Ok((StatusCode::OK, "ok").into_response()),
        _ => Err(not_found()),
    }
}

#[allow(clippy::too_many_arguments)]
fn resource(
    shared: &Shared,
    method: &Method,
    group: &str,
    version: &str,
    rest: &[&str],
    params: &Params,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let (ns, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
            (Some(ns.to_string()), [&[*plural][..], tail].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let Some(plural) = rest.first() else {
        return Err(not_found());
    };
    let rt = lock(&shared.store)
        .registry
        .lookup(group, version, plural)
        .cloned()
        .ok_or_else(not_found)?;
    if ns.is_some() && !rt.namespaced {
        return Err(not_found());
    }
    if ns.is_none() && rt.namespaced && rest.len() > 1 {
        return Err(not_found());
    }
    let t = Target {
        rt,
        version: version.to_string(),
        ns,
    };
    let dry_run = params.get("dryRun").is_some_and(|d| d == "All");
    let created = |v: Value| json_response(StatusCode::CREATED, v);
    let ok = |v: Value| json_response(StatusCode::OK, v);
    match (rest.len(), method.clone()) {
        (1, Method::GET) if flag(params, "watch") => {
            let resource_version = match params.get("resourceVersion").map(String::as_str) {
                None | Some("") => None,
                Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resourceVersion `{rv}`"))
                })?),
            };
            let p = WatchParams {
                target: t,
                query: list_query(params)?,
                resource_version,
                timeout: params
                    .get("timeoutSeconds")
                    .and_then(|s| s.parse().ok())
                    .map(Duration::from_secs),
                bookmarks: flag(params, "allowWatchBookmarks"),
                send_initial_events: flag(params, "sendInitialEvents"),
            };
            Ok(watch::start(shared, p))
        }
        (1, Method::GET) => Ok(ok(verbs::list(
            &lock(&shared.store),
            &t,
            &list_query(params)?,
        )?)),
        (1, Method::POST) => {
            let object = parse_body(headers, body)?;
            Ok(created(verbs::create(
                &mut lock(&shared.store),
                &t,
                object,
                dry_run,
            )?))
        }
        (1, Method::DELETE) => {
            let options = delete_options(headers, body, params)?;
            let q = list_query(params)?;
            Ok(ok(verbs::delete_collection(
                &mut lock(&shared.store),
                &t,
                &q,
                &options,
                dry_run,
            )?))
        }
        (2, Method::GET) => Ok(ok(verbs::get(&lock(&shared.store), &t, rest[1])?)),
        (2, Method::PUT) => {
            let object = parse_body(headers, body)?;
            Ok(ok(verbs::update(
                &mut lock(&shared.store),
                &t,
                rest[1],
                object,
                false,
                dry_run,
            )?))
        }
        (2, Method::PATCH) => patch(shared, &t, rest[1], headers, body, false, dry_run),
        (2, Method::DELETE) => {
            let options = delete_options(headers, body, params)?;
            Ok(ok(verbs::delete(
                &mut lock(&shared.store),
                &t,
                rest[1],
                &options,
                dry_run,
            )?))
        }
        (3, m) if rest[2] == "status" && t.rt.status_subresource => match m {
            Method::GET => Ok(ok(verbs::get(&lock(&shared.store), &t, rest[1])?)),
            Method::PUT => {
                let object = parse_body(headers, body)?;
                Ok(ok(verbs::update(
                    &mut lock(&shared.store),
                    &t,
                    rest[1],
                    object,
                    true,
                    dry_run,
                )?))
            }
            Method::PATCH => patch(shared, &t, rest[1], headers, body, true, dry_run),
            _ => Err(ApiError::with_code(
                405,
                format!("method `{m}` is not allowed on status"),
            )),
        },
        (3, Method::GET) if rest[2] == "log" && t.rt.log_subresource => {
            logs(shared, &t, rest[1], params)
        }
        (1 | 2, m) => Err(ApiError::with_code(
            405,
            format!("method `{m}` is not allowed here"),
        )),
        _ => Err(not_found()),
    }
}

fn delete_options(headers: &HeaderMap, body: &[u8], params: &Params) -> Result<Value, ApiError> {
    let mut options = parse_body(headers, body)?;
    if !options.is_object() {
        return Err(ApiError::bad_request("DeleteOptions must be a JSON object"));
    }
    if let Some(policy) = params.get("propagationPolicy") {
        options["propagationPolicy"] = json!(policy);
    }
    Ok(options)
}

fn patch(
    shared: &Shared,
    t: &Target,
    name: &str,
    headers: &HeaderMap,
    body: &[u8],
    status_only: bool,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let kind = PatchKind::from_content_type(content_type).ok_or_else(|| {
        ApiError::with_code(415, format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got `{content_type}`)"))
    })?;
    let (object, created) = verbs::patch(
        &mut lock(&shared.store),
        t,
        name,
        kind,
        body,
        status_only,
        dry_run,
    )?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(code, object))
}

fn logs(shared: &Shared, t: &Target, pod: &str, params: &Params) -> Result<Response, ApiError> {
    let store = lock(&shared.store);
    let ns = t.ns.clone().unwrap_or_default();
    let object = verbs::get(&store, t, pod)?;
    let containers: Vec<String> = object
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let container = params.get("container").filter(|c| !c.is_empty());
    if let Some(c) = container {
        if !containers.is_empty() && !containers.contains(c) {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {pod}"
            )));
        }
    } else if containers.len() > 1 {
        return Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {pod}, choose one of: [{}]",
            containers.join(" ")
        )));
    }
    let texts = store.logs.get(&(ns, pod.to_string()));
    let text = texts
        .and_then(|l| container.and_then(|c| l.get(c)).or_else(|| l.get("")))
        .cloned()
        .unwrap_or_default();
    let mut text = match params
        .get("tailLines")
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(n) => {
            let lines: Vec<&str> = text.lines().collect();
            let mut tail = lines[lines.len().saturating_sub(n)..].join("\n");
            if !tail.is_empty() && text.ends_with('\n') {
                tail.push('\n');
            }
            tail
        }
        None => text,
    };
    if let Some(limit) = params
        .get("limitBytes")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let mut cut = limit.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Ok(([(header::CONTENT_TYPE, "text/plain")], text).into_response())
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Applies injected faults and records the request and its outcome.
pub async fn intercept(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/_double") {
        return next.run(request).await;
    }
    let arrived = unix_ms();
    let seq = lock(&shared.requests).next_seq();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(b) => b,
        Err(e) => return ApiError::bad_request(format!("cannot read body: {e}")).into_response(),
    };
    let decision = lock(&shared.faults).decide(&method, &path, &query);
    if decision.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.delay_ms)).await;
    }
    let faulted = decision.fail.is_some();
    let recorded_body = matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE").then(|| {
        serde_json::from_slice::<Value>(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    });
    let response = match decision.fail {
        Some(error) => error.into_response(),
        None => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    };
    lock(&shared.requests).push(RecordedRequest {
        seq,
        method,
        path,
        query,
        status: response.status().as_u16(),
        unix_ms: arrived,
        body: recorded_body,
        faulted,
    });
    response
}
