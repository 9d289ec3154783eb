//! `OPENFERO_*` environment variables derived from alert labels.
//!
//! OpenFero 0.18 (`CreateJobFromOperarius`) appends, to every container of the
//! job, one `OPENFERO_<LABEL>` variable per label of the (first) alert, where
//! the name is `strings.ToUpper(strings.ReplaceAll(label, "-", "_"))`. It adds
//! no other variables. Its appends come after the container's own `env`, so
//! when a template already defines the same name Kubernetes ends up using the
//! label value (the later duplicate wins). We produce that effective result
//! without the duplicate: the container's same-named entry is dropped and the
//! label variable is appended.
//!
//! Deliberate differences: names are sanitised further (every character
//! outside `[A-Z0-9_]` after upper-casing becomes `_`, which is identical for
//! Prometheus label names); labels are visited in sorted order, so when two
//! labels map to the same name (`a-b`, `a_b`) the later one in that order wins
//! deterministically (OpenFero's map order is random); and label values are
//! never executed as templates (OpenFero runs its template pass after the
//! append, so a label value containing `{{` would be executed).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;

/// Prefix of every label-derived variable.
pub const ENV_PREFIX: &str = "OPENFERO_";

/// `OPENFERO_` + the label upper-cased, non `[A-Z0-9_]` characters as `_`.
pub fn label_env_name(label: &str) -> String {
    let mut name = String::with_capacity(ENV_PREFIX.len() + label.len());
    name.push_str(ENV_PREFIX);
    for c in label.chars().flat_map(char::to_uppercase) {
        name.push(
            if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            },
        );
    }
    name
}

/// The label variables in label order, one per distinct name.
pub fn label_env_vars(labels: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = Vec::with_capacity(labels.len());
    for (label, value) in labels {
        let name = label_env_name(label);
        match vars.iter_mut().find(|(existing, _)| *existing == name) {
            Some(slot) => slot.1 = value.clone(),
            None => vars.push((name, value.clone())),
        }
    }
    vars
}

/// The container's env with the label variables applied (see module docs).
pub(crate) fn merge_env(existing: Vec<EnvVar>, label_vars: &[(String, String)]) -> Vec<EnvVar> {
    let mut merged: Vec<EnvVar> = existing
        .into_iter()
        .filter(|env| !label_vars.iter().any(|(name, _)| *name == env.name))
        .collect();
    merged.extend(label_vars.iter().map(|(name, value)| EnvVar {
        name: name.clone(),
        value: Some(value.clone()),
        value_from: None,
    }));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_uppercased_with_dashes_as_underscores() {
        assert_eq!(label_env_name("pod"), "OPENFERO_POD");
        assert_eq!(label_env_name("namespace"), "OPENFERO_NAMESPACE");
        assert_eq!(
            label_env_name("app-kubernetes-io_name"),
            "OPENFERO_APP_KUBERNETES_IO_NAME"
        );
        assert_eq!(label_env_name("alertname"), "OPENFERO_ALERTNAME");
        assert_eq!(label_env_name("k8s.io/zone"), "OPENFERO_K8S_IO_ZONE");
        assert_eq!(label_env_name("grüße"), "OPENFERO_GR_SSE");
    }

    #[test]
    fn colliding_labels_resolve_deterministically() {
        let labels: BTreeMap<String, String> = [("a-b", "dash"), ("a_b", "underscore"), ("c", "x")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(
            label_env_vars(&labels),
            vec![
                ("OPENFERO_A_B".to_owned(), "underscore".to_owned()),
                ("OPENFERO_C".to_owned(), "x".to_owned()),
            ]
        );
    }

    #[test]
    fn label_variable_replaces_same_named_template_entry() {
        let existing = vec![
            EnvVar {
                name: "KEEP".to_owned(),
                value: Some("1".to_owned()),
                value_from: None,
            },
            EnvVar {
                name: "OPENFERO_POD".to_owned(),
                value: Some("from-template".to_owned()),
                value_from: None,
            },
        ];
        let merged = merge_env(existing, &[("OPENFERO_POD".to_owned(), "web-1".to_owned())]);
        let pairs: Vec<(&str, Option<&str>)> = merged
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            vec![("KEEP", Some("1")), ("OPENFERO_POD", Some("web-1"))]
        );
    }
}
