//! The `Operarius` custom resource as OpenFero 0.18 defines it
//! (`api/v1alpha1/operarius_types.go`, group `openfero.io`, version `v1alpha1`).
//!
//! Field names and types follow the Go JSON tags exactly:
//! `spec.alertSelector.{alertname,status,labels}`, `spec.jobTemplate`
//! (a full `batch/v1` `JobTemplateSpec`), `spec.priority` (`int32`, default 0),
//! `spec.enabled` (`*bool`, CRD default `true`), and
//! `spec.deduplication.{enabled (bool), ttl (int32 seconds)}`.
//! `spec.matchers` is an openfero-rs extension (Alertmanager matcher strings), as are the guard
//! rails `spec.budgets`, `spec.target`, `spec.concurrency` and `spec.breaker` (`guards.rs`) and
//! the controls `spec.mode`, `spec.approval`, `spec.approvalTtl` and `spec.selfRemediation`
//! (`controls.rs`), and the follow-ups `spec.silence`, `spec.verify` and `spec.notify`
//! (`followup.rs`).

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::JobTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::controls::{Approval, Mode};
use super::followup::{NotifySpec, SilenceSpec, VerifySpec};
use super::guards::{BreakerSpec, BudgetSpec, ConcurrencySpec, TargetSpec};

/// The only accepted `apiVersion`.
pub const API_VERSION: &str = "openfero.io/v1alpha1";
/// The only accepted `kind`.
pub const KIND: &str = "Operarius";
/// Alert status of a firing alert.
pub const STATUS_FIRING: &str = "firing";
/// Alert status of a resolved alert.
pub const STATUS_RESOLVED: &str = "resolved";

/// `spec` of an `openfero.io/v1alpha1` `Operarius`. The derive generates the `Operarius`
/// resource type and its CRD (`openfero crd`); unknown fields in the spec are refused.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "openfero.io",
    version = "v1alpha1",
    kind = "Operarius",
    plural = "operariuses",
    shortname = "op",
    namespaced,
    status = "OperariusStatus",
    printcolumn = r#"{"name":"Alert","type":"string","jsonPath":".spec.alertSelector.alertname"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".spec.alertSelector.status"}"#,
    printcolumn = r#"{"name":"Enabled","type":"boolean","jsonPath":".spec.enabled"}"#,
    printcolumn = r#"{"name":"Executions","type":"integer","jsonPath":".status.executionCount"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperariusSpec {
    pub alert_selector: AlertSelector,
    /// openfero extension: Alertmanager matchers (`name="v"`, `name=~"re"`, or a braced list
    /// `{a="b", c!="d"}`), all of which must match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<String>,
    /// A `batch/v1` `JobTemplateSpec`: the Job created for each remediation.
    #[schemars(schema_with = "job_template_schema")]
    pub job_template: JobTemplateSpec,
    /// Higher wins (Go `int32`, omitted = 0); ties go by namespace/name.
    #[serde(default)]
    pub priority: i32,
    /// Go `*bool` with CRD default `true`: absent or `null` means enabled.
    #[serde(default = "default_true", deserialize_with = "null_as_true")]
    #[schemars(default = "default_true")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplication: Option<Deduplication>,
    /// openfero extension: at most `max` remediations per `per` for each target, e.g.
    /// `[{max: 3, per: 1h}, {max: 7, per: 24h}]`; over budget, a remediation is `held`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<BudgetSpec>,
    /// openfero extension: the alert labels that name what is remediated (default
    /// `[namespace, alertname, pod]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetSpec>,
    /// openfero extension: remediations at once per target (default 1) and per operarius;
    /// extras are `queued` and start in order when a slot frees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencySpec>,
    /// openfero extension: the loop breaker; after repeated failed or ineffective runs on a
    /// target, further ones are `held` until an operator resets it (or `coolOff` passes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerSpec>,
    /// openfero extension: `enforce` (default) creates the Job; `dry-run` renders and records
    /// it without creating it; `shadow` also counts it against budgets and the breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// openfero extension: `required` makes each remediation wait in `awaiting-approval` until
    /// an operator approves or denies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// openfero extension: how long a remediation waits for approval (default `1h`), then
    /// `expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_ttl: Option<String>,
    /// openfero extension: remediate alerts about openfero's own Jobs and pods too (off by
    /// default: they are recorded, never remediated).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_remediation: bool,
    /// openfero extension: silence the alert in Alertmanager while it is remediated
    /// (`--alertmanager-url`); expired when the remediation ends (after verification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence: Option<SilenceSpec>,
    /// openfero extension: a succeeded run is `verified` when the alert resolves within
    /// `within`, else `ineffective`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySpec>,
    /// openfero extension: POST outcomes (ineffective, failed, held, awaiting-approval,
    /// verified) to a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifySpec>,
}

/// The job template is a whole `JobTemplateSpec`; the API server keeps it as given (like
/// OpenFero's CRD, which preserves unknown fields there) and openfero validates it itself.
fn job_template_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "description": "A batch/v1 JobTemplateSpec."
    })
}

/// `status` of an Operarius: OpenFero's fields plus conditions. Written by the leader only,
/// with merge patches on the status subresource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperariusStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_execution_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_executed_job_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_execution_status: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// `spec.alertSelector`: which alerts trigger the operarius.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSelector {
    /// Required by the CRD; an empty value is reported by validation.
    #[serde(default)]
    pub alertname: String,
    /// Required by the CRD (enum `firing`, `resolved`). OpenFero compares it
    /// verbatim with the webhook status, so there is no implicit default:
    /// an absent status is reported by validation.
    #[serde(default)]
    #[schemars(regex(pattern = "^(firing|resolved)$"))]
    pub status: Option<String>,
    /// Labels that must be present on the alert with exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `spec.deduplication`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deduplication {
    #[serde(default)]
    pub enabled: bool,
    /// Window in seconds (Go `int32`). Since OpenFero 0.18 a value `<= 0`
    /// disables time-based deduplication (it no longer defaults to 300).
    #[serde(default)]
    pub ttl: i32,
}

impl Deduplication {
    /// The effective cooldown: `Some(ttl)` only when enabled with a positive ttl.
    pub fn cooldown_secs(&self) -> Option<u64> {
        if self.enabled && self.ttl > 0 {
            u64::try_from(self.ttl).ok()
        } else {
            None
        }
    }
}

fn default_true() -> bool {
    true
}

fn null_as_true<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENFERO_018_MANIFEST: &str = r#"
apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata:
  name: podcrashlooping-operarius
  namespace: openfero
  labels:
    app: openfero
spec:
  alertSelector:
    alertname: KubePodCrashLooping
    status: firing
    labels:
      severity: warning
  jobTemplate:
    metadata:
      labels:
        remediation: pod-restart
    spec:
      backoffLimit: 2
      ttlSecondsAfterFinished: 600
      activeDeadlineSeconds: 120
      template:
        spec:
          restartPolicy: Never
          serviceAccountName: openfero-remediation
          containers:
            - name: pod-restarter
              image: bitnami/kubectl:latest
              env:
                - name: POD_NAME
                  value: "{{ .Alert.Labels.pod }}"
                - name: POD_NAMESPACE
                  value: "{{ .Labels.namespace }}"
              command:
                - /bin/sh
                - -c
                - |
                  echo "Restarting pod $POD_NAME in namespace $POD_NAMESPACE"
              resources:
                requests:
                  memory: "32Mi"
                  cpu: "25m"
  deduplication:
    enabled: true
    ttl: 600
  priority: 50
  enabled: true
status:
  executionCount: 3
"#;

    #[test]
    fn parses_openfero_018_manifest_unchanged() {
        let op: Operarius = serde_yaml::from_str(OPENFERO_018_MANIFEST).expect("parse");
        use kube::Resource;
        assert_eq!(Operarius::api_version(&()), API_VERSION);
        assert_eq!(Operarius::kind(&()), KIND);
        assert_eq!(
            op.status.as_ref().and_then(|s| s.execution_count),
            Some(3),
            "OpenFero's status fields are read"
        );
        assert_eq!(
            op.metadata.name.as_deref(),
            Some("podcrashlooping-operarius")
        );
        assert_eq!(op.metadata.namespace.as_deref(), Some("openfero"));
        assert_eq!(op.spec.alert_selector.alertname, "KubePodCrashLooping");
        assert_eq!(op.spec.alert_selector.status.as_deref(), Some("firing"));
        assert_eq!(
            op.spec
                .alert_selector
                .labels
                .get("severity")
                .map(String::as_str),
            Some("warning")
        );
        assert_eq!(op.spec.priority, 50);
        assert!(op.spec.enabled);
        assert!(op.spec.matchers.is_empty());
        let dedup = op.spec.deduplication.clone().expect("dedup");
        assert_eq!(
            dedup,
            Deduplication {
                enabled: true,
                ttl: 600
            }
        );
        assert_eq!(dedup.cooldown_secs(), Some(600));
        let job_spec = op.spec.job_template.spec.as_ref().expect("job spec");
        assert_eq!(job_spec.active_deadline_seconds, Some(120));
        assert_eq!(job_spec.backoff_limit, Some(2));
        let pod = job_spec.template.spec.as_ref().expect("pod spec");
        assert_eq!(pod.containers.len(), 1);
        let env = pod.containers[0].env.as_ref().expect("env");
        assert_eq!(env[0].value.as_deref(), Some("{{ .Alert.Labels.pod }}"));
    }

    #[test]
    fn enabled_defaults_to_true_when_absent_or_null() {
        let base = "apiVersion: openfero.io/v1alpha1\nkind: Operarius\nmetadata: {name: a}\nspec:\n  alertSelector: {alertname: A, status: firing}\n  jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: busybox}]}}}}\n";
        let absent: Operarius = serde_yaml::from_str(base).expect("absent");
        assert!(absent.spec.enabled);
        assert_eq!(absent.spec.priority, 0);
        assert!(absent.spec.deduplication.is_none());
        let null: Operarius =
            serde_yaml::from_str(&format!("{base}  enabled: null\n")).expect("null");
        assert!(null.spec.enabled);
        let off: Operarius =
            serde_yaml::from_str(&format!("{base}  enabled: false\n")).expect("false");
        assert!(!off.spec.enabled);
    }

    #[test]
    fn dedup_ttl_zero_or_disabled_means_no_cooldown() {
        assert_eq!(
            Deduplication {
                enabled: true,
                ttl: 0
            }
            .cooldown_secs(),
            None
        );
        assert_eq!(
            Deduplication {
                enabled: true,
                ttl: -5
            }
            .cooldown_secs(),
            None
        );
        assert_eq!(
            Deduplication {
                enabled: false,
                ttl: 300
            }
            .cooldown_secs(),
            None
        );
        assert_eq!(
            Deduplication {
                enabled: true,
                ttl: 1
            }
            .cooldown_secs(),
            Some(1)
        );
    }

    #[test]
    fn unknown_spec_field_is_rejected() {
        let doc = "apiVersion: openfero.io/v1alpha1\nkind: Operarius\nmetadata: {name: a}\nspec:\n  alertSelecter: {alertname: A}\n  alertSelector: {alertname: A, status: firing}\n  jobTemplate: {spec: {template: {spec: {containers: [{name: c}]}}}}\n";
        let err = serde_yaml::from_str::<Operarius>(doc).expect_err("typo must fail");
        assert!(err.to_string().contains("alertSelecter"), "{err}");
    }
}
