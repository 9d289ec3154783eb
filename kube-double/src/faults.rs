//! Fault injection: rules matched against each API request (control calls are exempt).

use serde::{Deserialize, Serialize};

use crate::status::ApiError;

/// What a matching fault does to a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FaultAction {
    /// Answer with this HTTP code and a `Status` body instead of serving the request.
    Status {
        code: u16,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        message: Option<String>,
    },
    /// Wait this long, then serve the request normally.
    Delay { ms: u64 },
}

/// A fault rule. Every set matcher must match: method (exact, case-insensitive), a substring
/// of the path, a substring of the raw query. `times` limits how often it fires;
/// `probability` (0..=1) fires it at random, from the double's seeded generator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path_contains: Option<String>,
    #[serde(default)]
    pub query_contains: Option<String>,
    pub action: FaultAction,
    #[serde(default)]
    pub times: Option<u32>,
    #[serde(default)]
    pub probability: Option<f64>,
}

impl Fault {
    fn with(action: FaultAction) -> Self {
        Self {
            method: None,
            path_contains: None,
            query_contains: None,
            action,
            times: None,
            probability: None,
        }
    }

    /// Answer matching requests with `code` (reason chosen as Kubernetes would).
    pub fn status(code: u16) -> Self {
        Self::with(FaultAction::Status {
            code,
            reason: None,
            message: None,
        })
    }

    /// Delay matching requests by `ms` milliseconds.
    pub fn delay(ms: u64) -> Self {
        Self::with(FaultAction::Delay { ms })
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_string());
        self
    }

    pub fn path_contains(mut self, fragment: &str) -> Self {
        self.path_contains = Some(fragment.to_string());
        self
    }

    pub fn query_contains(mut self, fragment: &str) -> Self {
        self.query_contains = Some(fragment.to_string());
        self
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    pub fn probability(mut self, probability: f64) -> Self {
        self.probability = Some(probability);
        self
    }

    fn matches(&self, method: &str, path: &str, query: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
            && self
                .query_contains
                .as_deref()
                .is_none_or(|q| query.contains(q))
    }
}

/// The effect of the active faults on one request.
#[derive(Debug, Default)]
pub struct Decision {
    pub delay_ms: u64,
    pub fail: Option<ApiError>,
}

/// The active fault rules.
#[derive(Debug)]
pub struct Faults {
    rules: Vec<Fault>,
    rng: u64,
}

impl Faults {
    pub fn new(seed: u64) -> Self {
        Self {
            rules: Vec::new(),
            rng: seed | 1,
        }
    }

    pub fn add(&mut self, fault: Fault) {
        self.rules.push(fault);
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    fn roll(&mut self) -> f64 {
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Delays add up; the first matching status fault answers the request.
    pub fn decide(&mut self, method: &str, path: &str, query: &str) -> Decision {
        let mut decision = Decision::default();
        let mut i = 0;
        while i < self.rules.len() {
            let fires = self.rules[i].matches(method, path, query) && {
                let p = self.rules[i].probability;
                p.is_none_or(|p| self.roll() < p)
            };
            if !fires
                || (decision.fail.is_some()
                    && matches!(self.rules[i].action, FaultAction::Status { .. }))
            {
                i += 1;
                continue;
            }
            let rule = &mut self.rules[i];
            match &rule.action {
                FaultAction::Delay { ms } => decision.delay_ms += ms,
                FaultAction::Status {
                    code,
                    reason,
                    message,
                } => {
                    let reason = reason
                        .clone()
                        .unwrap_or_else(|| ApiError::reason_for(*code).to_string());
                    let message = message
                        .clone()
                        .unwrap_or_else(|| format!("injected fault: {code} {reason}"));
                    decision.fail = Some(ApiError::new(*code, &reason, message));
                }
            }
            if let Some(left) = rule.times.as_mut() {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    self.rules.remove(i);
                    continue;
                }
            }
            i += 1;
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_fault_fires_exactly_n_times_on_matching_requests() {
        let mut faults = Faults::new(7);
        faults.add(
            Fault::status(500)
                .method("post")
                .path_contains("/jobs")
                .times(2),
        );
        assert!(faults
            .decide("GET", "/apis/batch/v1/namespaces/a/jobs", "")
            .fail
            .is_none());
        for _ in 0..2 {
            let d = faults.decide("POST", "/apis/batch/v1/namespaces/a/jobs", "");
            assert_eq!(
                d.fail.map(|f| (f.code, f.reason)),
                Some((500, "InternalError".to_string()))
            );
        }
        assert!(faults
            .decide("POST", "/apis/batch/v1/namespaces/a/jobs", "")
            .fail
            .is_none());
    }

    #[test]
    fn probability_is_seeded_and_roughly_honoured() {
        let run = |seed| {
            let mut faults = Faults::new(seed);
            faults.add(Fault::status(503).probability(0.25));
            (0..1000)
                .filter(|_| faults.decide("GET", "/api/v1/pods", "").fail.is_some())
                .count()
        };
        let hits = run(42);
        assert_eq!(hits, run(42));
        assert!((150..350).contains(&hits), "hits = {hits}");
    }

    #[test]
    fn delays_accumulate_alongside_a_status() {
        let mut faults = Faults::new(1);
        faults.add(Fault::delay(5).query_contains("watch="));
        faults.add(Fault::status(403));
        let d = faults.decide("GET", "/api/v1/pods", "watch=true");
        assert_eq!(d.delay_ms, 5);
        assert_eq!(d.fail.map(|f| f.code), Some(403));
    }
}
