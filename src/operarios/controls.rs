//! How far an operarius may act on its own (openfero extensions of the spec): its mode
//! (`enforce`, `dry-run`, `shadow`), whether a human approves each run, and whether it may
//! remediate openfero's own Jobs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::guards::{parse_duration_ms, GuardsDef};

/// How long a remediation waits for approval unless `approvalTtl` says otherwise.
pub const DEFAULT_APPROVAL_TTL_MS: i64 = 3_600_000;

/// How far an operarius acts (`spec.mode`; `--mode` overrides it cluster-wide): `enforce`
/// (default) creates the Job; `dry-run` renders and records it without creating it; `shadow`
/// also counts it against budgets and the breaker.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Create the Job (the default).
    #[default]
    Enforce,
    /// Render and record the Job it would create; create nothing, count nothing.
    DryRun,
    /// Like dry-run, but count it against budgets and the breaker as if it had run, so the
    /// decisions show what enforcing would do.
    Shadow,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::DryRun => "dry-run",
            Self::Shadow => "shadow",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        [Self::Enforce, Self::DryRun, Self::Shadow]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a mode: enforce, dry-run or shadow"))
    }

    /// The mode a remediation runs in: the cluster override if set, else the operarius'.
    pub fn effective(own: Self, cluster: Option<Self>) -> Self {
        cluster.unwrap_or(own)
    }
}

/// `spec.approval`: `required` makes each remediation wait in `awaiting-approval` until an
/// operator approves or denies it (or `approvalTtl` passes); `none` (default) runs without
/// asking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Run without asking (the default).
    #[default]
    None,
    /// Wait in `awaiting-approval` until an operator approves or denies, or `approvalTtl`
    /// passes (then `expired`).
    Required,
}

/// Validate mode, approval and self-remediation into `def`; problems name their field.
pub(crate) fn controls_def(
    mode: Option<Mode>,
    approval: Option<Approval>,
    approval_ttl: Option<&str>,
    self_remediation: bool,
    def: &mut GuardsDef,
    problems: &mut Vec<String>,
) {
    def.mode = mode.unwrap_or_default();
    def.self_remediation = self_remediation;
    def.approval_ttl_ms = None;
    let required = approval == Some(Approval::Required);
    match (required, approval_ttl) {
        (true, ttl) => {
            def.approval_ttl_ms = Some(match ttl.map(parse_duration_ms) {
                None => DEFAULT_APPROVAL_TTL_MS,
                Some(Ok(ms)) => ms,
                Some(Err(e)) => {
                    problems.push(format!("spec.approvalTtl: {e}"));
                    0
                }
            });
        }
        (false, Some(_)) => {
            problems.push("spec.approvalTtl is set but spec.approval is not `required`".into());
        }
        (false, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_the_cluster_override_wins() {
        assert_eq!(Mode::parse("dry-run"), Ok(Mode::DryRun));
        assert!(Mode::parse("yolo")
            .unwrap_err()
            .contains("enforce, dry-run or shadow"));
        assert_eq!(
            Mode::effective(Mode::Enforce, Some(Mode::Shadow)),
            Mode::Shadow
        );
        assert_eq!(Mode::effective(Mode::DryRun, None), Mode::DryRun);
        let m: Mode = serde_yaml::from_str("shadow").unwrap();
        assert_eq!(m, Mode::Shadow);
    }

    #[test]
    fn approval_needs_required_for_a_ttl_and_defaults_to_an_hour() {
        let mut def = GuardsDef::default();
        let mut problems = Vec::new();
        controls_def(
            None,
            Some(Approval::Required),
            None,
            false,
            &mut def,
            &mut problems,
        );
        assert_eq!(def.approval_ttl_ms, Some(DEFAULT_APPROVAL_TTL_MS));
        assert!(problems.is_empty());
        controls_def(None, None, Some("10m"), false, &mut def, &mut problems);
        assert!(problems[0].contains("spec.approval is not `required`"));
        let mut problems = Vec::new();
        controls_def(
            None,
            Some(Approval::Required),
            Some("soon"),
            false,
            &mut def,
            &mut problems,
        );
        assert!(problems[0].contains("spec.approvalTtl"));
    }
}
