//! Alertmanager's API v2 as the leader uses it for follow-ups: create a silence for exactly
//! one alert, expire it, and ask whether the alert is still active. One or several
//! Alertmanagers (an HA pair holds silences per member until they gossip them, so each gets
//! its own); credentials from files.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde_json::{json, Value};

use crate::time::format_ms;

/// How long one Alertmanager call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The Alertmanagers of `--alertmanager-url`.
#[derive(Clone)]
pub struct Alertmanagers {
    urls: Vec<String>,
    http: reqwest::Client,
    auth: Option<HeaderValue>,
}

impl std::fmt::Debug for Alertmanagers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alertmanagers")
            .field("urls", &self.urls)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Whether Alertmanager still lists an alert as active (firing, silenced or inhibited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Active,
    /// Not among its alerts: resolved (Alertmanager drops resolved alerts from the list).
    Gone,
}

impl Alertmanagers {
    /// `token_file`: a bearer token; `basic_file`: `user:password` on one line.
    pub fn new(
        urls: Vec<String>,
        token_file: Option<&std::path::Path>,
        basic_file: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        use base64::Engine;
        let read = |p: &std::path::Path| -> anyhow::Result<String> {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Ok(text.trim().to_owned())
        };
        let auth = match (token_file, basic_file) {
            (Some(t), _) => Some(format!("Bearer {}", read(t)?)),
            (None, Some(b)) => {
                let pair = read(b)?;
                anyhow::ensure!(
                    pair.contains(':'),
                    "{} must hold `user:password`",
                    b.display()
                );
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            (None, None) => None,
        };
        let auth = auth
            .map(|a| HeaderValue::from_str(&a).context("the Alertmanager credentials"))
            .transpose()?;
        for url in &urls {
            let u = reqwest::Url::parse(url)
                .with_context(|| format!("--alertmanager-url `{url}` is not a URL"))?;
            anyhow::ensure!(
                matches!(u.scheme(), "http" | "https"),
                "--alertmanager-url `{url}`: use http:// or https://"
            );
        }
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .context("the Alertmanager HTTP client")?;
        Ok(Self {
            urls: urls
                .into_iter()
                .map(|u| u.trim_end_matches('/').to_owned())
                .collect(),
            http,
            auth,
        })
    }

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    fn request(&self, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
        let req = self.http.request(method, url);
        match &self.auth {
            Some(a) => req.header(AUTHORIZATION, a.clone()),
            None => req,
        }
    }

    /// Silence exactly the alert with `labels` (every label an equality matcher: Alertmanager
    /// identifies an alert by its whole label set) from now until `until_ms`, in `url`.
    pub async fn silence(
        &self,
        url: &str,
        labels: &BTreeMap<String, String>,
        now_ms: i64,
        until_ms: i64,
        comment: &str,
    ) -> Result<String, String> {
        let matchers: Vec<Value> = labels
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v, "isRegex": false, "isEqual": true}))
            .collect();
        let body = json!({
            "matchers": matchers,
            "startsAt": format_ms(now_ms),
            "endsAt": format_ms(until_ms),
            "createdBy": "openfero",
            "comment": comment,
        });
        let resp = self
            .request(reqwest::Method::POST, format!("{url}/api/v2/silences"))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("{url} answered {status}: {}", text.trim()));
        }
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["silenceID"].as_str().map(str::to_owned))
            .ok_or_else(|| format!("{url}: no silenceID in `{}`", text.trim()))
    }

    /// Expire silence `id` in `url`; one that is already expired or unknown counts as done.
    pub async fn expire(&self, url: &str, id: &str) -> Result<(), String> {
        let resp = self
            .request(
                reqwest::Method::DELETE,
                format!("{url}/api/v2/silence/{id}"),
            )
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        // Alertmanager answers 500 "silence … already expired" for one that ended.
        if text.contains("already expired") {
            return Ok(());
        }
        Err(format!("{url} answered {status}: {}", text.trim()))
    }

    /// Whether the alert with `fingerprint` (named `alertname`) is among the active alerts of
    /// any Alertmanager: `Gone` only when every one answered without it.
    pub async fn listed(&self, alertname: &str, fingerprint: &str) -> Result<Listed, String> {
        let filter = format!("alertname=\"{}\"", alertname.replace('"', "\\\""));
        let mut errors = Vec::new();
        let mut answered = 0;
        for url in &self.urls {
            let query = serde_urlencoded::to_string([
                ("filter", filter.as_str()),
                ("active", "true"),
                ("silenced", "true"),
                ("inhibited", "true"),
                ("unprocessed", "true"),
            ])
            .map_err(|e| e.to_string())?;
            let resp = match self
                .request(reqwest::Method::GET, format!("{url}/api/v2/alerts?{query}"))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => {
                    errors.push(format!("{url} answered {}", r.status()));
                    continue;
                }
                Err(e) => {
                    errors.push(format!("{url}: {e}"));
                    continue;
                }
            };
            let alerts: Vec<Value> = match resp.json().await {
                Ok(a) => a,
                Err(e) => {
                    errors.push(format!("{url}: {e}"));
                    continue;
                }
            };
            answered += 1;
            if alerts
                .iter()
                .any(|a| a["fingerprint"].as_str() == Some(fingerprint))
            {
                return Ok(Listed::Active);
            }
        }
        if answered == self.urls.len() {
            Ok(Listed::Gone)
        } else {
            Err(errors.join("; "))
        }
    }
}
