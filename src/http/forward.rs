//! Sending a request on to the leader's API (admin changes, consistent reads): with peer TLS
//! over mutual TLS to its peer listener, else to its API listener.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::AppState;

/// Marks a request already forwarded once, so it is never forwarded again.
pub const FORWARDED: &str = "x-openfero-forwarded";

/// Send the same request to the leader's API and relay its answer.
pub async fn forward(
    state: &AppState,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if headers.contains_key(FORWARDED) {
        return Err(ApiError::Unavailable {
            reason: "leadership moved while the request was forwarded; retry".into(),
            retry_after_secs: 1,
        });
    }
    let status = state.cluster.replica().status();
    let leader = status
        .leader
        .and_then(|l| status.nodes.get(&l).cloned())
        .ok_or_else(|| ApiError::Unavailable {
            reason: "no leader is known; retry shortly".into(),
            retry_after_secs: 1,
        })?;
    // With peer TLS the call goes to the leader's peer listener (which serves the API too),
    // presenting this node's certificate; without it, to the leader's API.
    let raft = state.replica.raft();
    let (client, url, target) = match raft.peer_tls() {
        Some(_) => (
            raft.peer_client(),
            raft.peer_url(&leader.raft_addr, path),
            &leader.raft_addr,
        ),
        None => (
            state.http.clone(),
            format!("http://{}{}", leader.api_addr, path),
            &leader.api_addr,
        ),
    };
    let mut req = client
        .request(method, url)
        .timeout(std::time::Duration::from_secs(10))
        .header(FORWARDED, "1")
        .body(body.to_vec());
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name, v);
        }
    }
    let resp = req.send().await.map_err(|e| ApiError::Unavailable {
        reason: format!("cannot reach the leader at `{target}`: {e}"),
        retry_after_secs: 1,
    })?;
    relay(resp).await
}

/// Turn a reqwest answer into ours, keeping status, content type and openfero headers.
pub async fn relay(resp: reqwest::Response) -> Result<Response, ApiError> {
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    for (name, value) in resp.headers() {
        let keep = name == reqwest::header::CONTENT_TYPE
            || name == reqwest::header::RETRY_AFTER
            || name.as_str().starts_with("x-openfero-");
        if keep {
            if let (Ok(n), Ok(v)) = (
                header::HeaderName::from_bytes(name.as_str().as_bytes()),
                header::HeaderValue::from_bytes(value.as_bytes()),
            ) {
                headers.insert(n, v);
            }
        }
    }
    let body = resp.bytes().await.map_err(|e| ApiError::Unavailable {
        reason: format!("the leader's answer was cut: {e}"),
        retry_after_secs: 1,
    })?;
    Ok((status, headers, body).into_response())
}
