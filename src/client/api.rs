//! One node's API as the client calls it: base address, credentials, TLS trust, timeouts; each
//! answer is JSON or a [`ClientError`] that knows its exit code.

use std::time::Duration;

use base64::Engine;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{ClientArgs, Exit};

/// Why a call did not give an answer to show.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The arguments cannot be used (an unreadable token file, a bad `--server`).
    #[error("{0}")]
    Usage(String),
    /// No HTTP answer: connection refused, TLS, timeout.
    #[error("cannot reach {server}: {reason}")]
    Unreachable { server: String, reason: String },
    /// The node answered with an error status; `message` is its JSON body's `error`.
    #[error("{status}: {message}")]
    Status { status: StatusCode, message: String },
    /// The node answered 2xx with something that is not the API's JSON.
    #[error("unexpected answer from {path}: {reason}")]
    Answer { path: String, reason: String },
}

impl ClientError {
    pub fn exit(&self) -> Exit {
        match self {
            ClientError::Usage(_)
            | ClientError::Unreachable { .. }
            | ClientError::Answer { .. } => Exit::Failed,
            ClientError::Status { status, .. } => match status.as_u16() {
                404 => Exit::NotFound,
                401 | 403 => Exit::Denied,
                400 | 409 | 413 | 415 | 422 => Exit::Refused,
                _ => Exit::Failed,
            },
        }
    }
}

/// A node's API.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
    auth: Option<HeaderValue>,
    timeout: Duration,
}

fn read_secret(path: &std::path::Path, what: &str) -> Result<String, ClientError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ClientError::Usage(format!("cannot read {what} {}: {e}", path.display())))?;
    let secret = text.trim_end_matches(['\n', '\r']).to_owned();
    if secret.is_empty() {
        return Err(ClientError::Usage(format!(
            "{what} {} is empty",
            path.display()
        )));
    }
    Ok(secret)
}

impl Api {
    pub fn new(args: &ClientArgs) -> Result<Api, ClientError> {
        let base = args.server.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base).map_err(|e| {
            ClientError::Usage(format!(
                "--server `{}` is not an address such as http://127.0.0.1:8080: {e}",
                args.server
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::Usage(format!(
                "--server `{}`: use http:// or https://",
                args.server
            )));
        }
        let auth = match (&args.token_file, &args.user, &args.password_file) {
            (Some(file), _, _) => {
                let token = read_secret(file, "token file")?;
                Some(header(&format!("Bearer {token}"))?)
            }
            (None, Some(user), Some(file)) => {
                let password = read_secret(file, "password file")?;
                let pair =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                Some(header(&format!("Basic {pair}"))?)
            }
            _ => None,
        };
        // reqwest's rustls backend is compiled in (peer TLS) without a default provider.
        openfero_raft::tls::install_default_provider();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(args.request_timeout)
            .user_agent(concat!("openfero-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &args.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                ClientError::Usage(format!("cannot read --ca-file {}: {e}", ca.display()))
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                ClientError::Usage(format!("--ca-file {} is not PEM: {e}", ca.display()))
            })?;
            builder = builder.tls_certs_only([cert]);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(Api {
            base,
            http,
            auth,
            timeout: args.request_timeout,
        })
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(ACCEPT, "application/json");
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        req
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason = format!("{reason}: {s}");
            source = s.source();
        }
        ClientError::Unreachable {
            server: self.base.clone(),
            reason,
        }
    }

    async fn call(&self, req: reqwest::RequestBuilder, path: &str) -> Result<Value, ClientError> {
        let resp = req
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
            return Err(ClientError::Status { status, message });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Answer {
            path: path.to_owned(),
            reason: format!("not JSON: {e}"),
        })
    }

    /// `GET path` with these query parameters.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        let mut url = path.to_owned();
        if !query.is_empty() {
            let encoded = serde_urlencoded::to_string(query)
                .map_err(|e| ClientError::Usage(format!("cannot encode the query: {e}")))?;
            url = format!("{path}?{encoded}");
        }
        self.call(self.request(Method::GET, &url), path).await
    }

    /// `POST path` with a JSON body (or none).
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let mut req = self.request(Method::POST, path);
        if let Some(body) = body {
            req = req.json(body);
        }
        self.call(req, path).await
    }

    /// `GET path` whose body the caller reads as it comes (`GET /api/alerts/export`): no
    /// deadline on the whole answer, only on connecting. An error status is read as by
    /// [`Api::get`].
    pub async fn get_stream(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::Response, ClientError> {
        let mut url = path.to_owned();
        if !query.is_empty() {
            let encoded = serde_urlencoded::to_string(query)
                .map_err(|e| ClientError::Usage(format!("cannot encode the query: {e}")))?;
            url = format!("{path}?{encoded}");
        }
        let resp = self
            .request(Method::GET, &url)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(e))?;
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
        Err(ClientError::Status { status, message })
    }

    /// Why reading an answer's body failed, as [`ClientError::Unreachable`].
    pub fn broken_answer(&self, e: reqwest::Error) -> ClientError {
        self.unreachable(e)
    }

    /// The node's Server-Sent Events (`GET /api/events`): one chunk at least every 15 s (a
    /// keep-alive), one whenever the node applies new entries.
    pub async fn events(&self) -> Result<reqwest::Response, ClientError> {
        let resp = self
            .request(Method::GET, "/api/events")
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(ClientError::Status {
                status: resp.status(),
                message: "the event stream was refused".into(),
            });
        }
        Ok(resp)
    }
}

fn header(value: &str) -> Result<HeaderValue, ClientError> {
    HeaderValue::from_str(value).map_err(|_| {
        ClientError::Usage("the credentials contain characters a header cannot carry".into())
    })
}
