//! Choosing the operarius for an alert.
//!
//! OpenFero 0.18 (`matchesHookMessage`) compares `alertSelector.status` with
//! the webhook status verbatim, takes `alertname` from the first alert's
//! labels (falling back to the common labels) and requires every selector
//! label to be present with the same value in the common labels overlaid by
//! the alert's labels. We do the same per alert, and additionally require
//! every matcher (openfero-rs extension) to match those labels. Among the
//! matches OpenFero keeps the first one with the strictly highest priority in
//! API list order; we break priority ties by `namespace/name` ascending so the
//! choice is deterministic.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::def::OperariusDef;

/// One alert as seen by the selector and the templates.
/// The alert name is `labels["alertname"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertContext {
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    pub generator_url: String,
    pub fingerprint: String,
    pub group_key: String,
    pub receiver: String,
    pub external_url: String,
    pub common_labels: BTreeMap<String, String>,
    pub group_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
}

impl AlertContext {
    /// The common labels overlaid by the alert's own labels.
    pub fn effective_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.common_labels.clone();
        labels.extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        labels
    }
}

impl OperariusDef {
    /// Whether the selector matches the alert. `enabled` is not considered.
    pub fn matches(&self, alert: &AlertContext) -> bool {
        let labels = alert.effective_labels();
        let selector = &self.selector;
        let alertname = labels.get("alertname").map(String::as_str).unwrap_or("");
        alertname == selector.alertname
            && alert.status == selector.status
            && selector
                .labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
            && selector.matchers.iter().all(|m| m.matches(&labels))
    }
}

fn by_priority_then_key(a: &OperariusDef, b: &OperariusDef) -> Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| a.key().cmp(&b.key()))
}

/// The enabled, matching operarius with the highest priority; ties go to the
/// smallest `namespace/name`.
pub fn select<'a>(defs: &'a [OperariusDef], alert: &AlertContext) -> Option<&'a OperariusDef> {
    defs.iter()
        .filter(|d| d.enabled && d.matches(alert))
        .min_by(|a, b| by_priority_then_key(a, b))
}

/// Every matching operarius, enabled or not, best first (the order [`select`]
/// uses). Meant for a "try it" view.
pub fn candidates<'a>(defs: &'a [OperariusDef], alert: &AlertContext) -> Vec<&'a OperariusDef> {
    let mut found: Vec<&OperariusDef> = defs.iter().filter(|d| d.matches(alert)).collect();
    found.sort_by(|a, b| by_priority_then_key(a, b));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operarios::def::SelectorDef;
    use crate::operarios::matcher::parse_matchers;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn def(ns: &str, name: &str, priority: i32) -> OperariusDef {
        OperariusDef {
            namespace: ns.to_owned(),
            name: name.to_owned(),
            priority,
            enabled: true,
            selector: SelectorDef {
                alertname: "KubePodCrashLooping".to_owned(),
                status: "firing".to_owned(),
                labels: BTreeMap::new(),
                matchers: Vec::new(),
            },
            cooldown_secs: None,
            job_template_json: "{}".to_owned(),
        }
    }

    fn alert() -> AlertContext {
        AlertContext {
            status: "firing".to_owned(),
            labels: map(&[
                ("alertname", "KubePodCrashLooping"),
                ("severity", "warning"),
                ("namespace", "prod-shop"),
            ]),
            ..AlertContext::default()
        }
    }

    #[test]
    fn matches_alertname_status_labels_and_matchers() {
        let mut d = def("of", "a", 0);
        assert!(d.matches(&alert()));
        d.selector.labels = map(&[("severity", "warning")]);
        assert!(d.matches(&alert()));
        d.selector.matchers = parse_matchers(r#"{namespace=~"prod-.*", team!="db"}"#).expect("m");
        assert!(d.matches(&alert()));
        d.selector.matchers = parse_matchers(r#"namespace=~"prod""#).expect("m");
        assert!(!d.matches(&alert()));

        let mut wrong_status = alert();
        wrong_status.status = "resolved".to_owned();
        assert!(!def("of", "a", 0).matches(&wrong_status));

        let mut other_name = alert();
        other_name
            .labels
            .insert("alertname".to_owned(), "Other".to_owned());
        assert!(!def("of", "a", 0).matches(&other_name));

        let mut needs_label = def("of", "a", 0);
        needs_label.selector.labels = map(&[("severity", "critical")]);
        assert!(!needs_label.matches(&alert()));
        needs_label.selector.labels = map(&[("team", "")]);
        assert!(
            !needs_label.matches(&alert()),
            "selector labels must be present"
        );
    }

    #[test]
    fn common_labels_fill_in_for_missing_alert_labels() {
        let mut a = alert();
        a.labels.remove("alertname");
        a.common_labels = map(&[("alertname", "KubePodCrashLooping"), ("cluster", "eu")]);
        let mut d = def("of", "a", 0);
        d.selector.labels = map(&[("cluster", "eu")]);
        assert!(d.matches(&a));
    }

    #[test]
    fn highest_priority_wins() {
        let defs = vec![
            def("of", "low", 1),
            def("of", "high", 10),
            def("of", "mid", 5),
        ];
        assert_eq!(
            select(&defs, &alert()).map(|d| d.name.as_str()),
            Some("high")
        );
    }

    #[test]
    fn priority_ties_break_by_key_ascending() {
        let defs = vec![
            def("of", "zeta", 3),
            def("b", "x", 3),
            def("of", "alpha", 3),
        ];
        assert_eq!(
            select(&defs, &alert()).map(|d| d.key()),
            Some("b/x".to_owned())
        );
        let mut reversed = defs.clone();
        reversed.reverse();
        assert_eq!(
            select(&reversed, &alert()).map(|d| d.key()),
            Some("b/x".to_owned())
        );
    }

    #[test]
    fn disabled_defs_are_skipped_by_select_but_listed_as_candidates() {
        let mut top = def("of", "top", 100);
        top.enabled = false;
        let mut other = def("of", "other", 1);
        other.selector.alertname = "Different".to_owned();
        let defs = vec![def("of", "b", 5), top, def("of", "a", 5), other];
        assert_eq!(select(&defs, &alert()).map(|d| d.name.as_str()), Some("a"));
        let names: Vec<&str> = candidates(&defs, &alert())
            .into_iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(names, vec!["top", "a", "b"]);
    }

    #[test]
    fn nothing_selected_when_nothing_matches() {
        let mut a = alert();
        a.status = "resolved".to_owned();
        assert!(select(&[def("of", "a", 0)], &a).is_none());
        assert!(candidates(&[def("of", "a", 0)], &a).is_empty());
    }
}
