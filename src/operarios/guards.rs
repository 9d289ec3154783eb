//! Guard rails of an operarius (openfero extensions of the spec): budgets over time windows,
//! the target an alert is about, concurrency limits and the loop breaker.
//!
//! The spec types are what users write (`budgets: [{max: 3, per: 1h}]`); [`GuardsDef`] is the
//! validated plain form replicated beside the catalog (not inside [`super::OperariusDef`], so
//! entries written by earlier releases keep decoding) and read by apply.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::controls::Mode;
use super::policy::PolicyDef;

/// Labels that make the default target: one pod's alert of one name.
pub const DEFAULT_TARGET_LABELS: [&str; 3] = ["namespace", "alertname", "pod"];
/// Remediations of one target at once, unless the operarius says otherwise.
pub const DEFAULT_PER_TARGET: u32 = 1;

/// `spec.budgets[]`: at most `max` remediations started (admitted) per `per`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    pub max: u32,
    /// A duration: `90s`, `10m`, `1h`, `1h30m`, `7d`.
    pub per: String,
}

/// `spec.target`: which alert labels name the thing remediated (budgets, concurrency and the
/// breaker count per target). Default `[namespace, alertname, pod]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub labels: Vec<String>,
}

/// `spec.concurrency`: how many remediations may be admitted and not yet finished at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConcurrencySpec {
    /// Per target, across operarios that name targets alike (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_target: Option<u32>,
    /// Per operarius (default unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_operarius: Option<u32>,
}

/// `spec.breaker`: stop remediating a target after repeated failure or ineffective runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakerSpec {
    /// Open after this many ineffective runs within `window`: a succeeded run whose alert
    /// (same fingerprint) fires again within `ineffectiveWithin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ineffective: Option<u32>,
    /// Open after this many failed runs within `window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failed: Option<u32>,
    /// Default `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ineffective_within: Option<String>,
    /// Default `24h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// Close by itself this long after opening; without it, only an operator's reset closes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cool_off: Option<String>,
    /// Count interrupted runs (their executor died, or the Job timed out) as failed.
    #[serde(default = "yes")]
    #[schemars(default = "yes")]
    pub count_interrupted: bool,
}

fn yes() -> bool {
    true
}

impl Default for BreakerSpec {
    fn default() -> Self {
        Self {
            max_ineffective: None,
            max_failed: None,
            ineffective_within: None,
            window: None,
            cool_off: None,
            count_interrupted: true,
        }
    }
}

/// A budget window: at most `max` in any `per_ms` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WindowDef {
    pub max: u32,
    pub per_ms: i64,
}

impl fmt::Display for WindowDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per {}", self.max, format_duration_ms(self.per_ms))
    }
}

impl WindowDef {
    /// Parse `3/1h` (the form of the cluster-wide flags).
    pub fn parse_flag(s: &str) -> Result<Self, String> {
        let (max, per) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not MAX/DURATION (e.g. 100/1h)"))?;
        let max: u32 = max
            .trim()
            .parse()
            .map_err(|_| format!("`{max}` in `{s}` is not a count"))?;
        let window = Self {
            max,
            per_ms: parse_duration_ms(per.trim())?,
        };
        window.check().map(|()| window)
    }

    fn check(&self) -> Result<(), String> {
        if self.max == 0 {
            return Err("a budget of 0 would never run anything: use `enabled: false`".into());
        }
        Ok(())
    }
}

/// The loop breaker, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerDef {
    pub max_ineffective: Option<u32>,
    pub max_failed: Option<u32>,
    pub ineffective_within_ms: i64,
    pub window_ms: i64,
    pub cool_off_ms: Option<i64>,
    pub count_interrupted: bool,
}

/// The guard rails of one operarius, validated (bincode-safe plain types).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardsDef {
    pub budgets: Vec<WindowDef>,
    pub target_labels: Vec<String>,
    pub per_target: u32,
    pub per_operarius: Option<u32>,
    pub breaker: Option<BreakerDef>,
    /// `spec.mode` (`controls.rs`).
    pub mode: Mode,
    /// `spec.approval: required`: how long a remediation waits for an operator.
    pub approval_ttl_ms: Option<i64>,
    /// `spec.selfRemediation`: may remediate alerts about openfero's own Jobs and pods.
    pub self_remediation: bool,
}

impl Default for GuardsDef {
    fn default() -> Self {
        Self {
            budgets: Vec::new(),
            target_labels: DEFAULT_TARGET_LABELS.map(String::from).to_vec(),
            per_target: DEFAULT_PER_TARGET,
            per_operarius: None,
            breaker: None,
            mode: Mode::Enforce,
            approval_ttl_ms: None,
            self_remediation: false,
        }
    }
}

/// [`GuardsDef`] as the first guard-rails release wrote it (`SyncGuards`, `cfg/guards`): the
/// encoding is positional, so the old shape keeps its own type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardsDefV1 {
    pub budgets: Vec<WindowDef>,
    pub target_labels: Vec<String>,
    pub per_target: u32,
    pub per_operarius: Option<u32>,
    pub breaker: Option<BreakerDef>,
}

impl From<GuardsDefV1> for GuardsDef {
    fn from(v: GuardsDefV1) -> Self {
        Self {
            budgets: v.budgets,
            target_labels: v.target_labels,
            per_target: v.per_target,
            per_operarius: v.per_operarius,
            breaker: v.breaker,
            ..Self::default()
        }
    }
}

impl GuardsDef {
    /// The first release's shape, if nothing newer is set (so nodes of that release can apply
    /// it during a rolling upgrade).
    pub fn as_v1(&self) -> Option<GuardsDefV1> {
        let d = Self::default();
        (self.mode == d.mode
            && self.approval_ttl_ms == d.approval_ttl_ms
            && self.self_remediation == d.self_remediation)
            .then(|| GuardsDefV1 {
                budgets: self.budgets.clone(),
                target_labels: self.target_labels.clone(),
                per_target: self.per_target,
                per_operarius: self.per_operarius,
                breaker: self.breaker.clone(),
            })
    }
}

impl GuardsDef {
    /// The target an alert with `labels` is about: `label=value` pairs of the target labels,
    /// in their configured order, absent labels left out.
    pub fn target(&self, labels: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        for name in &self.target_labels {
            if let Some(v) = labels.get(name) {
                if !out.is_empty() {
                    out.push(',');
                }
                out.push_str(name);
                out.push('=');
                out.push_str(v);
            }
        }
        out
    }
}

/// Cluster-wide guard rails (flags of the leader, replicated with the catalog).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterGuards {
    /// Over every remediation of the cluster.
    pub global: Vec<WindowDef>,
    /// Per alert namespace (the `namespace` label; alerts without one share the empty
    /// namespace).
    pub per_namespace: Vec<WindowDef>,
    /// `--mode`: overrides every operarius' mode (`shadow` for a safe rollout).
    pub mode: Option<Mode>,
    /// `--policy-file`: what a rendered Job may do.
    pub policy: Option<PolicyDef>,
}

/// [`ClusterGuards`] as the first guard-rails release wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterGuardsV1 {
    pub global: Vec<WindowDef>,
    pub per_namespace: Vec<WindowDef>,
}

impl From<ClusterGuardsV1> for ClusterGuards {
    fn from(v: ClusterGuardsV1) -> Self {
        Self {
            global: v.global,
            per_namespace: v.per_namespace,
            mode: None,
            policy: None,
        }
    }
}

impl ClusterGuards {
    /// The first release's shape, if nothing newer is set.
    pub fn as_v1(&self) -> Option<ClusterGuardsV1> {
        (self.mode.is_none() && self.policy.is_none()).then(|| ClusterGuardsV1 {
            global: self.global.clone(),
            per_namespace: self.per_namespace.clone(),
        })
    }
}

/// Validate the guard fields of a spec; every problem, not only the first.
pub(crate) fn guards_def(
    budgets: &[BudgetSpec],
    target: Option<&TargetSpec>,
    concurrency: Option<&ConcurrencySpec>,
    breaker: Option<&BreakerSpec>,
) -> Result<GuardsDef, Vec<String>> {
    let mut problems = Vec::new();
    let mut def = GuardsDef::default();
    for (i, b) in budgets.iter().enumerate() {
        match parse_duration_ms(&b.per) {
            Ok(per_ms) => {
                let w = WindowDef { max: b.max, per_ms };
                match w.check() {
                    Ok(()) => def.budgets.push(w),
                    Err(e) => problems.push(format!("spec.budgets[{i}]: {e}")),
                }
            }
            Err(e) => problems.push(format!("spec.budgets[{i}].per: {e}")),
        }
    }
    def.budgets.sort();
    if let Some(t) = target {
        if t.labels.is_empty() || t.labels.iter().any(|l| l.trim().is_empty()) {
            problems.push("spec.target.labels must name at least one label, none empty".into());
        }
        def.target_labels = t.labels.clone();
    }
    if let Some(c) = concurrency {
        match c.per_target {
            Some(0) => problems.push("spec.concurrency.perTarget must be at least 1".into()),
            Some(n) => def.per_target = n,
            None => {}
        }
        match c.per_operarius {
            Some(0) => problems.push("spec.concurrency.perOperarius must be at least 1".into()),
            n => def.per_operarius = n,
        }
    }
    if let Some(b) = breaker {
        let mut ms = |field: &str, v: Option<&String>, default: &str| -> i64 {
            match parse_duration_ms(v.map(String::as_str).unwrap_or(default)) {
                Ok(ms) => ms,
                Err(e) => {
                    problems.push(format!("spec.breaker.{field}: {e}"));
                    0
                }
            }
        };
        let ineffective_within_ms = ms("ineffectiveWithin", b.ineffective_within.as_ref(), "30m");
        let window_ms = ms("window", b.window.as_ref(), "24h");
        let cool_off_ms = b.cool_off.as_ref().map(|c| ms("coolOff", Some(c), "0s"));
        if b.max_ineffective.is_none() && b.max_failed.is_none() {
            problems.push("spec.breaker needs maxIneffective or maxFailed".into());
        }
        if b.max_ineffective == Some(0) || b.max_failed == Some(0) {
            problems.push("spec.breaker limits must be at least 1".into());
        }
        def.breaker = Some(BreakerDef {
            max_ineffective: b.max_ineffective,
            max_failed: b.max_failed,
            ineffective_within_ms,
            window_ms,
            cool_off_ms,
            count_interrupted: b.count_interrupted,
        });
    }
    if problems.is_empty() {
        Ok(def)
    } else {
        Err(problems)
    }
}

/// Milliseconds of a duration written as `90s`, `10m`, `1h30m`, `7d` (at least one second).
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let d: Duration = humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration like 90s, 10m, 1h or 7d ({e})"))?;
    if d < Duration::from_secs(1) {
        return Err(format!("`{s}` is shorter than a second"));
    }
    i64::try_from(d.as_millis()).map_err(|_| format!("`{s}` is too long"))
}

/// `1h`, `30m`, `90s`, `7d`: the largest unit that divides evenly (days from two on, so a
/// day reads `24h` as it is usually written).
pub fn format_duration_ms(ms: i64) -> String {
    let secs = ms / 1000;
    for (unit, size, from) in [("d", 86_400, 172_800), ("h", 3_600, 3_600), ("m", 60, 60)] {
        if secs >= from && secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn durations_parse_and_print_back() {
        assert_eq!(parse_duration_ms("1h").unwrap(), 3_600_000);
        assert_eq!(parse_duration_ms("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration_ms("7d").unwrap(), 604_800_000);
        assert!(parse_duration_ms("soon").is_err());
        assert!(parse_duration_ms("10ms").is_err());
        assert_eq!(format_duration_ms(3_600_000), "1h");
        assert_eq!(format_duration_ms(5_400_000), "90m");
        assert_eq!(format_duration_ms(86_400_000), "24h");
        assert_eq!(format_duration_ms(604_800_000), "7d");
        assert_eq!(format_duration_ms(45_000), "45s");
    }

    #[test]
    fn flags_take_max_slash_duration() {
        assert_eq!(
            WindowDef::parse_flag("100/1h").unwrap(),
            WindowDef {
                max: 100,
                per_ms: 3_600_000
            }
        );
        assert!(WindowDef::parse_flag("100").is_err());
        assert!(WindowDef::parse_flag("0/1h").unwrap_err().contains("never"));
        assert!(WindowDef::parse_flag("x/1h").is_err());
    }

    #[test]
    fn the_default_target_is_namespace_alertname_pod_in_that_order() {
        let g = GuardsDef::default();
        let l = labels(&[
            ("pod", "web-1"),
            ("alertname", "Crash"),
            ("namespace", "shop"),
        ]);
        assert_eq!(g.target(&l), "namespace=shop,alertname=Crash,pod=web-1");
        assert_eq!(
            g.target(&labels(&[("alertname", "Crash")])),
            "alertname=Crash"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let problems = guards_def(
            &[
                BudgetSpec {
                    max: 3,
                    per: "1h".into(),
                },
                BudgetSpec {
                    max: 0,
                    per: "1d".into(),
                },
                BudgetSpec {
                    max: 1,
                    per: "later".into(),
                },
            ],
            Some(&TargetSpec { labels: vec![] }),
            Some(&ConcurrencySpec {
                per_target: Some(0),
                per_operarius: Some(2),
            }),
            Some(&BreakerSpec::default()),
        )
        .unwrap_err();
        let text = problems.join("\n");
        for needle in [
            "spec.budgets[1]",
            "spec.budgets[2].per",
            "spec.target.labels",
            "perTarget",
            "maxIneffective or maxFailed",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert_eq!(problems.len(), 5, "{text}");
    }

    #[test]
    fn a_valid_spec_becomes_sorted_windows_and_defaults() {
        let g = guards_def(
            &[
                BudgetSpec {
                    max: 7,
                    per: "24h".into(),
                },
                BudgetSpec {
                    max: 3,
                    per: "1h".into(),
                },
            ],
            None,
            None,
            Some(&BreakerSpec {
                max_ineffective: Some(3),
                ..BreakerSpec::default()
            }),
        )
        .unwrap();
        assert_eq!(g.budgets[0].max, 3);
        assert_eq!(g.per_target, 1);
        let b = g.breaker.unwrap();
        assert_eq!(b.ineffective_within_ms, 1_800_000);
        assert_eq!(b.window_ms, 86_400_000);
        assert_eq!(b.cool_off_ms, None);
    }
}
