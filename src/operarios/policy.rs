//! Policy on what a remediation's Job may do: which images it runs, which service accounts and
//! namespaces it uses, whether it may be privileged or reach into its node, and how long it may
//! run. Cluster-wide (`--policy-file`), replicated with the guard rails, and checked three
//! times: by `openfero validate`, when the catalog is loaded, and in apply on the rendered Job
//! before it is created — where a violation makes the remediation `refused`.

use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use k8s_openapi::api::batch::v1::JobTemplateSpec;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde::{Deserialize, Serialize};

/// `activeDeadlineSeconds` openfero gives a Job whose template sets none.
pub const DEFAULT_ACTIVE_DEADLINE_SECS: i64 = 600;

/// The policy file as written (YAML). Every list is a set of globs (`*` matches any run of
/// characters, `/` included; `?` one character); an absent list allows everything. Once a
/// policy file is given, the `forbid*` rules default to on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    /// Images every container (init containers too) must match, e.g.
    /// `registry.example.com/*` or `docker.io/library/busybox:1.*`.
    #[serde(default)]
    pub allowed_images: Option<Vec<String>>,
    /// `serviceAccountName` of the pod (`default` when unset).
    #[serde(default)]
    pub allowed_service_accounts: Option<Vec<String>>,
    /// Namespaces a remediation may act in: the Job's own and the alert's `namespace` label.
    #[serde(default)]
    pub allowed_namespaces: Option<Vec<String>>,
    /// The longest `activeDeadlineSeconds` (unset in the template: openfero's default, 600).
    #[serde(default)]
    pub max_active_deadline_seconds: Option<i64>,
    #[serde(default = "on")]
    pub forbid_privileged: bool,
    /// `securityContext.capabilities.add` in any container.
    #[serde(default = "on")]
    pub forbid_added_capabilities: bool,
    #[serde(default = "on")]
    pub forbid_host_path: bool,
    #[serde(default = "on")]
    pub forbid_host_network: bool,
    /// `hostPID` and `hostIPC`.
    #[serde(default = "on")]
    pub forbid_host_pid: bool,
}

fn on() -> bool {
    true
}

/// The validated policy, replicated (plain types; globs are compiled where they are used).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDef {
    pub allowed_images: Option<Vec<String>>,
    pub allowed_service_accounts: Option<Vec<String>>,
    pub allowed_namespaces: Option<Vec<String>>,
    pub max_active_deadline_seconds: Option<i64>,
    pub forbid_privileged: bool,
    pub forbid_added_capabilities: bool,
    pub forbid_host_path: bool,
    pub forbid_host_network: bool,
    pub forbid_host_pid: bool,
}

impl PolicySpec {
    /// Check the globs and numbers; every problem, with its field.
    pub fn to_def(&self) -> Result<PolicyDef, Vec<String>> {
        let mut problems = Vec::new();
        for (field, list) in [
            ("allowedImages", &self.allowed_images),
            ("allowedServiceAccounts", &self.allowed_service_accounts),
            ("allowedNamespaces", &self.allowed_namespaces),
        ] {
            for (i, pattern) in list.iter().flatten().enumerate() {
                if let Err(e) = Glob::new(pattern) {
                    problems.push(format!("{field}[{i}]: `{pattern}` is not a glob: {e}"));
                }
            }
        }
        if let Some(n) = self.max_active_deadline_seconds {
            if n < 1 {
                problems.push("maxActiveDeadlineSeconds must be at least 1".into());
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(PolicyDef {
            allowed_images: self.allowed_images.clone(),
            allowed_service_accounts: self.allowed_service_accounts.clone(),
            allowed_namespaces: self.allowed_namespaces.clone(),
            max_active_deadline_seconds: self.max_active_deadline_seconds,
            forbid_privileged: self.forbid_privileged,
            forbid_added_capabilities: self.forbid_added_capabilities,
            forbid_host_path: self.forbid_host_path,
            forbid_host_network: self.forbid_host_network,
            forbid_host_pid: self.forbid_host_pid,
        })
    }
}

/// Read and validate a policy file.
pub fn load_policy(path: &Path) -> Result<PolicyDef, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read policy file {}: {e}", path.display()))?;
    let spec: PolicySpec =
        serde_yaml::from_str(&text).map_err(|e| format!("policy file {}: {e}", path.display()))?;
    spec.to_def()
        .map_err(|p| format!("policy file {}: {}", path.display(), p.join("; ")))
}

/// A list of globs, compiled; `None` allows everything.
struct Allowed<'a> {
    patterns: &'a [String],
    set: GlobSet,
}

impl<'a> Allowed<'a> {
    fn new(patterns: Option<&'a Vec<String>>) -> Option<Self> {
        let patterns = patterns?;
        let mut builder = GlobSetBuilder::new();
        for p in patterns {
            // Validated when the policy was loaded; one that no longer compiles allows nothing.
            if let Ok(g) = Glob::new(p) {
                builder.add(g);
            }
        }
        Some(Self {
            patterns,
            set: builder.build().unwrap_or_else(|_| GlobSet::empty()),
        })
    }

    /// The refusal for `value`, if it matches none of the patterns.
    fn refuse(&self, rule: &str, what: &str, value: &str) -> Option<String> {
        (!self.set.is_match(value)).then(|| {
            format!(
                "policy `{rule}`: {what} `{value}` matches none of {}",
                self.patterns
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
}

impl PolicyDef {
    /// What an operarius' Job template breaks before any alert renders it, each as a problem
    /// message (`refused by policy: …`); its own namespace is the one it acts in.
    pub fn operarius_problems(&self, def: &super::OperariusDef) -> Vec<String> {
        let Ok(template) = def.job_template() else {
            return Vec::new();
        };
        self.violations(&template, &[def.namespace.as_str()])
            .into_iter()
            .map(|v| format!("refused by policy: {v}"))
            .collect()
    }

    /// Every rule the Job template breaks, each naming the rule. `namespaces` are those the
    /// remediation acts in (the Job's, and the alert's when known).
    pub fn violations(&self, job: &JobTemplateSpec, namespaces: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(allowed) = Allowed::new(self.allowed_namespaces.as_ref()) {
            for ns in namespaces {
                out.extend(allowed.refuse("allowedNamespaces", "namespace", ns));
            }
        }
        let Some(spec) = job.spec.as_ref() else {
            return out;
        };
        let ceiling = self.max_active_deadline_seconds;
        if let Some(max) = ceiling {
            let deadline = spec
                .active_deadline_seconds
                .unwrap_or(DEFAULT_ACTIVE_DEADLINE_SECS);
            if deadline > max {
                out.push(format!(
                    "policy `maxActiveDeadlineSeconds`: the Job may run {deadline}s, more than {max}s"
                ));
            }
        }
        if let Some(pod) = spec.template.spec.as_ref() {
            self.pod_violations(pod, &mut out);
        }
        out
    }

    fn pod_violations(&self, pod: &PodSpec, out: &mut Vec<String>) {
        if let Some(allowed) = Allowed::new(self.allowed_service_accounts.as_ref()) {
            let sa = pod
                .service_account_name
                .as_deref()
                .or(pod.service_account.as_deref())
                .filter(|s| !s.is_empty())
                .unwrap_or("default");
            out.extend(allowed.refuse("allowedServiceAccounts", "service account", sa));
        }
        if self.forbid_host_network && pod.host_network == Some(true) {
            out.push("policy `forbidHostNetwork`: the pod sets hostNetwork".into());
        }
        if self.forbid_host_pid {
            if pod.host_pid == Some(true) {
                out.push("policy `forbidHostPID`: the pod sets hostPID".into());
            }
            if pod.host_ipc == Some(true) {
                out.push("policy `forbidHostPID`: the pod sets hostIPC".into());
            }
        }
        if self.forbid_host_path {
            for v in pod.volumes.iter().flatten() {
                if v.host_path.is_some() {
                    out.push(format!(
                        "policy `forbidHostPath`: volume `{}` is a hostPath",
                        v.name
                    ));
                }
            }
        }
        let images = Allowed::new(self.allowed_images.as_ref());
        let containers: Vec<&Container> = pod
            .init_containers
            .iter()
            .flatten()
            .chain(pod.containers.iter())
            .collect();
        for c in containers {
            if let Some(allowed) = &images {
                let image = c.image.as_deref().unwrap_or("");
                if let Some(why) = allowed.refuse("allowedImages", "image", image) {
                    out.push(format!("container `{}`: {why}", c.name));
                }
            }
            let sc = c.security_context.as_ref();
            if self.forbid_privileged && sc.and_then(|s| s.privileged) == Some(true) {
                out.push(format!(
                    "policy `forbidPrivileged`: container `{}` is privileged",
                    c.name
                ));
            }
            if self.forbid_added_capabilities {
                let added = sc
                    .and_then(|s| s.capabilities.as_ref())
                    .and_then(|c| c.add.as_ref())
                    .filter(|a| !a.is_empty());
                if let Some(added) = added {
                    out.push(format!(
                        "policy `forbidAddedCapabilities`: container `{}` adds {}",
                        c.name,
                        added.join(", ")
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(yaml: &str) -> JobTemplateSpec {
        serde_yaml::from_str(yaml).expect("job template")
    }

    fn policy(yaml: &str) -> PolicyDef {
        serde_yaml::from_str::<PolicySpec>(yaml)
            .expect("policy")
            .to_def()
            .expect("valid")
    }

    const PRIVILEGED: &str = r#"
spec:
  template:
    spec:
      hostNetwork: true
      serviceAccountName: cluster-admin
      volumes:
        - name: root
          hostPath: {path: /}
      containers:
        - name: fix
          image: evil.example.com/tool:1
          securityContext:
            privileged: true
            capabilities: {add: [SYS_ADMIN]}
"#;

    const PLAIN: &str = r#"
spec:
  activeDeadlineSeconds: 120
  template:
    spec:
      serviceAccountName: restarter
      containers:
        - name: fix
          image: docker.io/library/busybox:1.36
"#;

    #[test]
    fn a_file_with_only_lists_forbids_privileged_and_host_access() {
        let p = policy("allowedImages: ['docker.io/library/*']\n");
        assert!(p.forbid_privileged && p.forbid_host_path && p.forbid_host_network);
        let v = p.violations(&job(PRIVILEGED), &["shop"]);
        let text = v.join("\n");
        for rule in [
            "allowedImages",
            "forbidPrivileged",
            "forbidAddedCapabilities",
            "forbidHostPath",
            "forbidHostNetwork",
        ] {
            assert!(text.contains(rule), "{rule} in {text}");
        }
        assert!(p.violations(&job(PLAIN), &["shop"]).is_empty());
    }

    #[test]
    fn lists_and_the_deadline_ceiling_name_what_they_refused() {
        let p = policy(
            "allowedServiceAccounts: [restarter]\nallowedNamespaces: ['shop-*']\nmaxActiveDeadlineSeconds: 60\n",
        );
        let v = p.violations(&job(PLAIN), &["shop-eu", "billing"]);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].contains("namespace `billing`"), "{v:?}");
        assert!(v[1].contains("120s, more than 60s"), "{v:?}");
        // Unset deadline: openfero's default counts.
        let unset = job("spec:\n  template:\n    spec:\n      containers: [{name: c, image: x}]\n");
        let v = p.violations(&unset, &["shop-eu"]);
        assert!(v.iter().any(|m| m.contains("600s")), "{v:?}");
        assert!(
            v.iter().any(|m| m.contains("service account `default`")),
            "{v:?}"
        );
    }

    #[test]
    fn switched_off_rules_allow_and_bad_globs_are_reported() {
        let p = policy(
            "forbidPrivileged: false\nforbidAddedCapabilities: false\nforbidHostPath: false\nforbidHostNetwork: false\n",
        );
        assert!(p.violations(&job(PRIVILEGED), &[]).is_empty());
        let bad: PolicySpec = serde_yaml::from_str("allowedImages: ['a[']\n").unwrap();
        assert!(bad.to_def().unwrap_err()[0].contains("allowedImages[0]"));
        assert!(serde_yaml::from_str::<PolicySpec>("allowImages: []\n").is_err());
    }
}
