//! The validated, plain form of an operarius that is replicated through the
//! Raft log. Only plain types: no JSON values, no k8s-openapi types, no
//! skipped/flattened/untagged serde constructs (bincode 2 serde-mode safe).

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::JobTemplateSpec;
use serde::{Deserialize, Serialize};

use super::controls::controls_def;
use super::error::RenderError;
use super::guards::{guards_def, GuardsDef};
use super::matcher::{parse_matchers, MatcherDef};
use super::model::{Operarius, STATUS_FIRING, STATUS_RESOLVED};
use super::template::{check_template, is_template};

/// A validated operarius.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperariusDef {
    pub namespace: String,
    pub name: String,
    pub priority: i32,
    pub enabled: bool,
    pub selector: SelectorDef,
    /// Deduplication window in seconds; `None` when deduplication is off or
    /// its ttl is `<= 0` (OpenFero 0.18 semantics).
    pub cooldown_secs: Option<u64>,
    /// `spec.jobTemplate` serialised as JSON (k8s-openapi field order).
    pub job_template_json: String,
}

/// Which alerts an operarius reacts to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectorDef {
    pub alertname: String,
    /// `firing` or `resolved`.
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub matchers: Vec<MatcherDef>,
}

impl OperariusDef {
    /// `namespace/name`, unique within a catalog.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The job template, read back from its JSON form.
    pub fn job_template(&self) -> Result<JobTemplateSpec, RenderError> {
        serde_json::from_str(&self.job_template_json).map_err(|err| {
            RenderError::InvalidJobTemplate {
                key: self.key(),
                message: err.to_string(),
            }
        })
    }
}

impl Operarius {
    /// The guard rails of the spec, validated (defaults when it sets none).
    pub fn guards(&self) -> Result<GuardsDef, Vec<String>> {
        let (mut def, mut problems) = match guards_def(
            &self.spec.budgets,
            self.spec.target.as_ref(),
            self.spec.concurrency.as_ref(),
            self.spec.breaker.as_ref(),
        ) {
            Ok(def) => (def, Vec::new()),
            Err(problems) => (GuardsDef::default(), problems),
        };
        controls_def(
            self.spec.mode,
            self.spec.approval,
            self.spec.approval_ttl.as_deref(),
            self.spec.self_remediation,
            &mut def,
            &mut problems,
        );
        if problems.is_empty() {
            Ok(def)
        } else {
            Err(problems)
        }
    }

    /// The follow-ups of the spec (silence, verify, notify), validated; `None` when it sets
    /// none.
    pub fn follow_up(&self) -> Result<Option<super::FollowUpDef>, Vec<String>> {
        super::followup::followup_def(
            self.spec.silence.as_ref(),
            self.spec.verify.as_ref(),
            self.spec.notify.as_ref(),
        )
    }

    /// Validates the object and converts it to its plain form. Every problem
    /// found is returned, not only the first. `default_namespace` is used when
    /// `metadata.namespace` is absent.
    pub fn to_def(&self, default_namespace: &str) -> Result<OperariusDef, Vec<String>> {
        let mut problems = Vec::new();

        let name = self.metadata.name.clone().unwrap_or_default();
        if name.is_empty() {
            problems.push("metadata.name is required".to_owned());
        } else if !is_dns1123_subdomain(&name) {
            problems.push(format!(
                "metadata.name `{name}` is not a valid DNS-1123 subdomain (lowercase alphanumerics, `-` and `.`, at most 253 characters)"
            ));
        }
        let namespace = match self.metadata.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => ns.to_owned(),
            _ => default_namespace.to_owned(),
        };
        if !is_dns1123_label(&namespace) {
            problems.push(format!(
                "namespace `{namespace}` is not a valid DNS-1123 label (lowercase alphanumerics and `-`, at most 63 characters)"
            ));
        }

        let selector = &self.spec.alert_selector;
        if selector.alertname.trim().is_empty() {
            problems.push("spec.alertSelector.alertname must not be empty".to_owned());
        }
        let status = match selector.status.as_deref() {
            Some(s @ (STATUS_FIRING | STATUS_RESOLVED)) => s.to_owned(),
            Some(other) => {
                problems.push(format!(
                    "spec.alertSelector.status `{other}` must be `{STATUS_FIRING}` or `{STATUS_RESOLVED}`"
                ));
                String::new()
            }
            None => {
                problems.push(format!(
                    "spec.alertSelector.status is required (`{STATUS_FIRING}` or `{STATUS_RESOLVED}`)"
                ));
                String::new()
            }
        };

        let mut matchers = Vec::new();
        for input in &self.spec.matchers {
            match parse_matchers(input) {
                Ok(parsed) => matchers.extend(parsed),
                Err(err) => problems.push(format!("spec.matchers: {err}")),
            }
        }

        check_job_template(&self.spec.job_template, &mut problems);
        if let Err(found) = self.guards() {
            problems.extend(found);
        }
        if let Err(found) = self.follow_up() {
            problems.extend(found);
        }

        let job_template_json = match serde_json::to_string(&self.spec.job_template) {
            Ok(json) => json,
            Err(err) => {
                problems.push(format!("spec.jobTemplate cannot be serialised: {err}"));
                String::new()
            }
        };

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(OperariusDef {
            namespace,
            name,
            priority: self.spec.priority,
            enabled: self.spec.enabled,
            selector: SelectorDef {
                alertname: selector.alertname.clone(),
                status,
                labels: selector.labels.clone(),
                matchers,
            },
            cooldown_secs: self
                .spec
                .deduplication
                .as_ref()
                .and_then(|d| d.cooldown_secs()),
            job_template_json,
        })
    }
}

/// Requires at least one container and checks that every template string
/// OpenFero would execute (container env values, command, args) parses.
fn check_job_template(template: &JobTemplateSpec, problems: &mut Vec<String>) {
    let containers = template
        .spec
        .as_ref()
        .and_then(|spec| spec.template.spec.as_ref())
        .map(|pod| pod.containers.as_slice())
        .unwrap_or_default();
    if containers.is_empty() {
        problems.push(
            "spec.jobTemplate.spec.template.spec.containers must hold at least one container"
                .to_owned(),
        );
    }
    for (index, container) in containers.iter().enumerate() {
        let at = format!("spec.jobTemplate.spec.template.spec.containers[{index}]");
        let mut check = |field: String, text: &str| {
            if is_template(text) {
                if let Err(err) = check_template(text) {
                    problems.push(format!("{at}.{field}: {err}"));
                }
            }
        };
        for (i, env) in container.env.iter().flatten().enumerate() {
            if let Some(value) = env.value.as_deref() {
                check(format!("env[{i}] `{}`", env.name), value);
            }
        }
        for (i, text) in container.command.iter().flatten().enumerate() {
            check(format!("command[{i}]"), text);
        }
        for (i, text) in container.args.iter().flatten().enumerate() {
            check(format!("args[{i}]"), text);
        }
    }
}

/// One dot-separated part of a DNS-1123 name: lowercase alphanumerics and `-`, starting and
/// ending with an alphanumeric. Kubernetes bounds its length only for labels (63).
fn is_dns1123_part(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_dns1123_part(s)
}

/// Kubernetes' `IsDNS1123Subdomain`, which object names follow: at most 253 characters in
/// all; its dot-separated parts have no length limit of their own (a 100-character name
/// without dots is a valid object name).
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operarios::matcher::MatchOp;

    fn parse(yaml: &str) -> Operarius {
        serde_yaml::from_str(yaml).expect("yaml")
    }

    const VALID: &str = r#"
apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata: {name: restart-pod}
spec:
  alertSelector:
    alertname: KubePodCrashLooping
    status: firing
    labels: {severity: warning}
  matchers: ['namespace=~"prod-.*"', '{team="sre", env!="dev"}']
  priority: 7
  deduplication: {enabled: true, ttl: 120}
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: c
              image: busybox
              env: [{name: POD, value: "{{ .Labels.pod }}"}]
"#;

    #[test]
    fn valid_manifest_converts_to_def() {
        let def = parse(VALID).to_def("openfero").expect("valid");
        assert_eq!(def.key(), "openfero/restart-pod");
        assert_eq!(def.priority, 7);
        assert!(def.enabled);
        assert_eq!(def.cooldown_secs, Some(120));
        assert_eq!(def.selector.alertname, "KubePodCrashLooping");
        assert_eq!(def.selector.status, "firing");
        assert_eq!(def.selector.matchers.len(), 3);
        assert_eq!(def.selector.matchers[0].op, MatchOp::Re);
        let jt = def.job_template().expect("job template");
        let pod = jt.spec.and_then(|s| s.template.spec).expect("pod");
        assert_eq!(pod.containers[0].image.as_deref(), Some("busybox"));
    }

    #[test]
    fn metadata_namespace_overrides_default() {
        let mut op = parse(VALID);
        op.metadata.namespace = Some("remediation".to_owned());
        assert_eq!(
            op.to_def("openfero").expect("valid").namespace,
            "remediation"
        );
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let yaml = r#"
apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata: {name: Bad_Name}
spec:
  alertSelector: {alertname: "", status: pending}
  matchers: ['a=~"("', 'bad-name=x']
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: c
              command: ["echo {{ .Labels.pod "]
"#;
        let problems = parse(yaml).to_def("openfero").expect_err("invalid");
        let all = problems.join("\n");
        for needle in [
            "metadata.name `Bad_Name`",
            "alertname must not be empty",
            "status `pending` must be `firing` or `resolved`",
            "invalid regex `(`",
            "invalid label name `bad-name`",
            "containers[0].command[0]: cannot parse template",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        assert_eq!(problems.len(), 6, "{all}");
    }

    #[test]
    fn missing_status_name_and_containers_are_problems() {
        let yaml = r#"
apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata: {}
spec:
  alertSelector: {alertname: A}
  jobTemplate: {spec: {template: {spec: {containers: []}}}}
"#;
        let problems = parse(yaml).to_def("openfero").expect_err("invalid");
        let all = problems.join("\n");
        assert!(all.contains("metadata.name is required"), "{all}");
        assert!(all.contains("status is required"), "{all}");
        assert!(all.contains("at least one container"), "{all}");
    }

    #[test]
    fn a_long_name_is_accepted() {
        let long = "restart-the-crash-looping-pod-of-the-checkout-service-in-production-eu-west";
        assert!(long.len() > 63);
        let mut op = parse(VALID);
        op.metadata.name = Some(long.to_owned());
        let def = op.to_def("openfero").expect("a 74-character name is valid");
        assert_eq!(
            def.name, long,
            "the name is kept; its Job name is shortened (job_name)"
        );
    }

    #[test]
    fn dns_names_are_checked() {
        assert!(is_dns1123_subdomain("a.b-c.d1"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(!is_dns1123_subdomain(&"a".repeat(254)));
        assert!(
            is_dns1123_subdomain(&"a".repeat(253)),
            "no 63-character limit on names"
        );
        assert!(is_dns1123_subdomain(&format!(
            "{}.{}",
            "b".repeat(100),
            "c".repeat(100)
        )));
        assert!(!is_dns1123_label(&"a".repeat(64)), "namespaces are labels");
        assert!(is_dns1123_label("openfero"));
        assert!(!is_dns1123_label("open.fero"));
        assert!(!is_dns1123_label(""));
    }
}
