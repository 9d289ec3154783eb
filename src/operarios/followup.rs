//! Closing the loop with Alertmanager, per operarius (openfero extensions of the spec):
//! `silence` (silence the alert while it is remediated), `verify` (a succeeded run counts as
//! verified only when the alert resolves within a window, else ineffective) and `notify` (an
//! outgoing webhook on outcomes a team wants to hear about). The leader acts on them
//! (`executor/followup.rs`); apply keeps their replicated record (`remediation/followup.rs`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::guards::parse_duration_ms;

/// Grace after the Job's deadline (and the verification window) before a silence ends by
/// itself, when the spec gives none.
pub const DEFAULT_SILENCE_GRACE_MS: i64 = 5 * 60 * 1000;

/// `spec.silence`: while remediating, silence the alert in Alertmanager (`--alertmanager-url`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceSpec {
    /// Added to the Job's deadline (and the verification window) for the silence's end, e.g.
    /// `5m` (the default). openfero expires the silence earlier, when the remediation ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<String>,
}

/// `spec.verify`: a succeeded run is `verified` when its alert resolves within `within` of the
/// run's end, else `ineffective` (counted by the loop breaker, announced, notified).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifySpec {
    /// How long after a succeeded run the alert may take to resolve, e.g. `10m`.
    pub within: String,
}

/// An outcome `spec.notify.on` can name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyEvent {
    /// The run succeeded but the alert did not resolve within `verify.within`.
    Ineffective,
    /// The run failed (or could not be started, or was interrupted).
    Failed,
    /// Held by a budget, the concurrency limit, the breaker or the pause.
    Held,
    /// Waiting for an operator's approval.
    AwaitingApproval,
    /// Verified: the alert resolved after the run.
    Verified,
}

impl NotifyEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Ineffective => "ineffective",
            NotifyEvent::Failed => "failed",
            NotifyEvent::Held => "held",
            NotifyEvent::AwaitingApproval => "awaiting-approval",
            NotifyEvent::Verified => "verified",
        }
    }
}

/// `spec.notify`: POST a JSON document to `url` on each of the outcomes in `on` (retried with
/// backoff, the attempt recorded with the remediation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifySpec {
    /// An `http://` or `https://` URL (a chat or pager integration's incoming webhook).
    pub url: String,
    /// The outcomes to announce; default `[ineffective, failed]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on: Vec<NotifyEvent>,
}

/// The follow-ups of one operarius, validated and replicated (`SyncFollowUps`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpDef {
    /// Silence while remediating, with this grace (ms).
    pub silence_grace_ms: Option<i64>,
    /// Verification window after a succeeded run (ms).
    pub verify_within_ms: Option<i64>,
    pub notify: Option<NotifyDef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyDef {
    pub url: String,
    pub on: Vec<NotifyEvent>,
}

impl FollowUpDef {
    /// Whether `event` is to be notified.
    pub fn notifies(&self, event: NotifyEvent) -> bool {
        self.notify.as_ref().is_some_and(|n| n.on.contains(&event))
    }
}

/// The follow-ups of a spec (`None` when it sets none), or every problem with them.
pub(crate) fn followup_def(
    silence: Option<&SilenceSpec>,
    verify: Option<&VerifySpec>,
    notify: Option<&NotifySpec>,
) -> Result<Option<FollowUpDef>, Vec<String>> {
    if silence.is_none() && verify.is_none() && notify.is_none() {
        return Ok(None);
    }
    let mut problems = Vec::new();
    let mut def = FollowUpDef::default();
    if let Some(s) = silence {
        def.silence_grace_ms = Some(match s.grace.as_deref() {
            None => DEFAULT_SILENCE_GRACE_MS,
            Some(g) => parse_duration_ms(g).unwrap_or_else(|e| {
                problems.push(format!("spec.silence.grace: {e}"));
                0
            }),
        });
    }
    if let Some(v) = verify {
        match parse_duration_ms(&v.within) {
            Ok(ms) if ms > 0 => def.verify_within_ms = Some(ms),
            Ok(_) => problems.push("spec.verify.within: must be longer than 0s".into()),
            Err(e) => problems.push(format!("spec.verify.within: {e}")),
        }
    }
    if let Some(n) = notify {
        let url = n.url.trim();
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => problems.push(format!(
                "spec.notify.url: `{url}` is not an http:// or https:// URL"
            )),
        }
        let mut on = if n.on.is_empty() {
            vec![NotifyEvent::Ineffective, NotifyEvent::Failed]
        } else {
            n.on.clone()
        };
        on.sort();
        on.dedup();
        if on.contains(&NotifyEvent::Ineffective)
            && verify.is_none()
            && n.on.contains(&NotifyEvent::Ineffective)
        {
            problems.push(
                "spec.notify.on: `ineffective` needs spec.verify (nothing is verified without it)"
                    .into(),
            );
        }
        def.notify = Some(NotifyDef {
            url: url.to_owned(),
            on,
        });
    }
    if problems.is_empty() {
        Ok(Some(def))
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_ups_parse_with_defaults_and_name_their_problems() {
        assert_eq!(followup_def(None, None, None), Ok(None));
        let def = followup_def(
            Some(&SilenceSpec::default()),
            Some(&VerifySpec {
                within: "2m".into(),
            }),
            Some(&NotifySpec {
                url: "https://chat.example/hook".into(),
                on: vec![],
            }),
        )
        .expect("valid")
        .expect("set");
        assert_eq!(def.silence_grace_ms, Some(DEFAULT_SILENCE_GRACE_MS));
        assert_eq!(def.verify_within_ms, Some(120_000));
        assert!(def.notifies(NotifyEvent::Ineffective) && def.notifies(NotifyEvent::Failed));
        assert!(!def.notifies(NotifyEvent::Held));

        let problems = followup_def(
            Some(&SilenceSpec {
                grace: Some("soon".into()),
            }),
            Some(&VerifySpec {
                within: "0s".into(),
            }),
            Some(&NotifySpec {
                url: "ftp://x".into(),
                on: vec![NotifyEvent::Held],
            }),
        )
        .expect_err("three problems");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("spec.silence.grace"));
        assert!(problems[1].starts_with("spec.verify.within"));
        assert!(problems[2].starts_with("spec.notify.url"));

        let needs_verify = followup_def(
            None,
            None,
            Some(&NotifySpec {
                url: "http://127.0.0.1:1/".into(),
                on: vec![NotifyEvent::Ineffective],
            }),
        )
        .expect_err("ineffective without verify");
        assert!(
            needs_verify[0].contains("needs spec.verify"),
            "{needs_verify:?}"
        );
    }
}
