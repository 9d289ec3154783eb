//! Operarios that fail validation but still claim their alerts.
//!
//! An operarius whose job template does not parse (or that is invalid in any other way) must not
//! let a lower-ranked operarius run in its place: the operator ranked it first, and running a
//! different remediation than the one ranked first is unsafe. OpenFero creates no Job in that
//! case; openfero does the same and says why. As long as the selector of a broken operarius can
//! be read (`metadata.name`, `spec.alertSelector.alertname` and `status`), it keeps claiming the
//! alerts that selector matches, and each claimed alert gets a remediation that fails at once with
//! the operarius' problems as its reason. Disabling it (`enabled: false`) releases its alerts.
//!
//! Matchers that do not parse are left out of the claim, so a broken operarius claims at least
//! what it was meant to: the safe direction, since a claim runs nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::def::SelectorDef;
use super::error::RenderError;
use super::matcher::parse_matchers;
use super::model::{STATUS_FIRING, STATUS_RESOLVED};

/// A broken operarius as replicated: enough to claim alerts and to say why it cannot run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenOperarius {
    pub namespace: String,
    pub name: String,
    pub priority: i32,
    pub enabled: bool,
    pub selector: SelectorDef,
    /// Every problem validation found, in order.
    pub problems: Vec<String>,
}

impl BrokenOperarius {
    /// `namespace/name`, unique within a catalog.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The reason a remediation claimed by this operarius fails with.
    pub fn reason(&self) -> String {
        self.error().to_string()
    }

    /// The error rendering a Job for this operarius gives.
    pub fn error(&self) -> RenderError {
        RenderError::InvalidOperarius {
            key: self.key(),
            problems: self.problems.join("; "),
        }
    }

    /// Read the claim of an invalid Operarius object (YAML or JSON, as a JSON value) whose
    /// validation found `problems`. `None` when not even its selector can be read: then it is
    /// only a problem and claims nothing.
    pub fn claim_of(
        object: &Value,
        default_namespace: &str,
        problems: Vec<String>,
    ) -> Option<BrokenOperarius> {
        let metadata = object.get("metadata")?;
        let name = metadata.get("name")?.as_str().filter(|n| !n.is_empty())?;
        let namespace = metadata
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(default_namespace);
        let spec = object.get("spec")?;
        let selector = spec.get("alertSelector")?;
        let alertname = selector
            .get("alertname")?
            .as_str()
            .filter(|a| !a.trim().is_empty())?;
        let status = selector
            .get("status")?
            .as_str()
            .filter(|s| *s == STATUS_FIRING || *s == STATUS_RESOLVED)?;
        let labels: BTreeMap<String, String> = selector
            .get("labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let matchers = spec
            .get("matchers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|m| parse_matchers(m).ok())
                    .flatten()
                    .collect()
            })
            .unwrap_or_default();
        let priority = spec
            .get("priority")
            .and_then(Value::as_i64)
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(0);
        // Go `*bool`, CRD default true: only an explicit `false` disables.
        let enabled = spec.get("enabled").and_then(Value::as_bool).unwrap_or(true);
        Some(BrokenOperarius {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            priority,
            enabled,
            selector: SelectorDef {
                alertname: alertname.to_owned(),
                status: status.to_owned(),
                labels,
                matchers,
            },
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        let v: serde_yaml::Value = serde_yaml::from_str(text).expect("yaml");
        serde_json::to_value(v).expect("json")
    }

    #[test]
    fn a_readable_selector_claims_with_the_problems_as_reason() {
        let v = yaml(
            r#"
metadata: {name: restart, namespace: ops}
spec:
  priority: 9
  alertSelector: {alertname: KubePodCrashLooping, status: firing, labels: {severity: critical}}
  matchers: ['namespace=~"prod-.*"', 'bad-name=x']
  jobTemplate: {spec: {template: {spec: {containers: [{name: c, command: ["{{ .Labels.pod "]}]}}}}
"#,
        );
        let b =
            BrokenOperarius::claim_of(&v, "openfero", vec!["cannot parse".into()]).expect("claims");
        assert_eq!(b.key(), "ops/restart");
        assert_eq!(b.priority, 9);
        assert!(b.enabled);
        assert_eq!(b.selector.labels["severity"], "critical");
        assert_eq!(b.selector.matchers.len(), 1, "the bad matcher is left out");
        assert_eq!(
            b.reason(),
            "operarius `ops/restart` is invalid: cannot parse"
        );
    }

    #[test]
    fn no_claim_without_name_alertname_or_a_known_status() {
        for text in [
            "metadata: {}\nspec: {alertSelector: {alertname: A, status: firing}}",
            "metadata: {name: x}\nspec: {alertSelector: {alertname: '', status: firing}}",
            "metadata: {name: x}\nspec: {alertSelector: {alertname: A, status: pending}}",
            "metadata: {name: x}\nspec: {}",
        ] {
            assert!(
                BrokenOperarius::claim_of(&yaml(text), "openfero", vec![]).is_none(),
                "{text}"
            );
        }
    }

    #[test]
    fn explicit_false_disables_and_default_namespace_applies() {
        let v = yaml(
            "metadata: {name: x}\nspec: {enabled: false, alertSelector: {alertname: A, status: resolved}}",
        );
        let b = BrokenOperarius::claim_of(&v, "openfero", vec!["p".into()]).expect("claims");
        assert!(!b.enabled);
        assert_eq!(b.namespace, "openfero");
    }
}
