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

use super::broken::BrokenOperarius;
use super::def::{OperariusDef, SelectorDef};

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

impl SelectorDef {
    /// Whether the selector matches the alert.
    pub fn matches(&self, alert: &AlertContext) -> bool {
        let labels = alert.effective_labels();
        let alertname = labels.get("alertname").map(String::as_str).unwrap_or("");
        alertname == self.alertname
            && alert.status == self.status
            && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.matchers.iter().all(|m| m.matches(&labels))
    }
}

impl SelectorDef {
    /// How many of the selector's conditions the alert meets, in the order they are checked
    /// (alertname, status, each label, each matcher), and the first one it fails.
    pub fn first_miss(&self, alert: &AlertContext) -> (usize, Option<String>) {
        let labels = alert.effective_labels();
        let alertname = labels.get("alertname").map(String::as_str).unwrap_or("");
        let mut met = 0;
        if alertname != self.alertname {
            return (
                met,
                Some(format!(
                    "alertname is `{alertname}`, the selector wants `{}`",
                    self.alertname
                )),
            );
        }
        met += 1;
        if alert.status != self.status {
            return (
                met,
                Some(format!(
                    "status is `{}`, the selector wants `{}`",
                    alert.status, self.status
                )),
            );
        }
        met += 1;
        for (k, v) in &self.labels {
            match labels.get(k) {
                Some(got) if got == v => met += 1,
                Some(got) => {
                    return (
                        met,
                        Some(format!("label `{k}` is `{got}`, the selector wants `{v}`")),
                    )
                }
                None => {
                    return (
                        met,
                        Some(format!("label `{k}` is missing, the selector wants `{v}`")),
                    )
                }
            }
        }
        for m in &self.matchers {
            if !m.matches(&labels) {
                return (met, Some(format!("matcher `{m}` does not match")));
            }
            met += 1;
        }
        (met, None)
    }
}

/// The operarius that came closest to matching an alert none matches — the most conditions
/// met, then the most similar alertname (a typo finds its operarius), then priority and key —
/// and the first condition it fails.
pub fn closest_miss(defs: &[OperariusDef], alert: &AlertContext) -> Option<(String, String)> {
    let labels = alert.effective_labels();
    let alertname = labels.get("alertname").map(String::as_str).unwrap_or("");
    let similarity = |d: &OperariusDef| strsim::jaro_winkler(alertname, &d.selector.alertname);
    defs.iter()
        .filter_map(|d| {
            let (met, miss) = d.selector.first_miss(alert);
            miss.map(|why| (met, similarity(d), d, why))
        })
        .min_by(|(ma, sa, a, _), (mb, sb, b, _)| {
            mb.cmp(ma)
                .then_with(|| sb.total_cmp(sa))
                .then_with(|| by_priority_then_key(a, b))
        })
        .map(|(_, _, d, why)| (d.key(), why))
}

impl OperariusDef {
    /// Whether the selector matches the alert. `enabled` is not considered.
    pub fn matches(&self, alert: &AlertContext) -> bool {
        self.selector.matches(alert)
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

/// Who claims an alert: a valid operarius, or a broken one, which claims its alerts only to
/// fail them (see [`BrokenOperarius`]).
#[derive(Debug, Clone, Copy)]
pub enum Claimant<'a> {
    Valid(&'a OperariusDef),
    Broken(&'a BrokenOperarius),
}

impl Claimant<'_> {
    pub fn key(&self) -> String {
        match self {
            Claimant::Valid(d) => d.key(),
            Claimant::Broken(b) => b.key(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Claimant::Valid(d) => &d.name,
            Claimant::Broken(b) => &b.name,
        }
    }

    pub fn namespace(&self) -> &str {
        match self {
            Claimant::Valid(d) => &d.namespace,
            Claimant::Broken(b) => &b.namespace,
        }
    }

    pub fn priority(&self) -> i32 {
        match self {
            Claimant::Valid(d) => d.priority,
            Claimant::Broken(b) => b.priority,
        }
    }

    pub fn enabled(&self) -> bool {
        match self {
            Claimant::Valid(d) => d.enabled,
            Claimant::Broken(b) => b.enabled,
        }
    }

    fn selector(&self) -> &SelectorDef {
        match self {
            Claimant::Valid(d) => &d.selector,
            Claimant::Broken(b) => &b.selector,
        }
    }
}

/// Every operarius, valid or broken, enabled or not, whose selector matches the alert: best
/// first (priority, then `namespace/name`).
pub fn claimants<'a>(
    defs: &'a [OperariusDef],
    broken: &'a [BrokenOperarius],
    alert: &AlertContext,
) -> Vec<Claimant<'a>> {
    let mut found: Vec<Claimant<'a>> = defs
        .iter()
        .map(Claimant::Valid)
        .chain(broken.iter().map(Claimant::Broken))
        .filter(|c| c.selector().matches(alert))
        .collect();
    found.sort_by(|a, b| {
        b.priority()
            .cmp(&a.priority())
            .then_with(|| a.key().cmp(&b.key()))
    });
    found
}

/// The enabled claimant of an alert: what [`select`] picks, unless a broken operarius ranks
/// at least as high — then it claims the alert and no other operarius runs for it.
pub fn claim<'a>(
    defs: &'a [OperariusDef],
    broken: &'a [BrokenOperarius],
    alert: &AlertContext,
) -> Option<Claimant<'a>> {
    claimants(defs, broken, alert)
        .into_iter()
        .find(Claimant::enabled)
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn the_closest_miss_has_the_most_conditions_met_then_the_nearest_alertname() {
        let mut labelled = def("ops", "labelled", 0);
        labelled.selector.labels = map(&[("namespace", "billing")]);
        let mut matched = def("ops", "matched", 0);
        matched.selector.matchers = parse_matchers(r#"pod=~"db-.*""#).unwrap();
        let mut typo = def("ops", "typo", 0);
        typo.selector.alertname = "KubePodCrashLoopin".into();
        let mut far = def("ops", "far", 9);
        far.selector.alertname = "DiskFull".into();
        let a = alert();
        let (key, why) = closest_miss(&[far.clone(), typo.clone(), labelled.clone()], &a).unwrap();
        assert_eq!(
            key, "ops/labelled",
            "alertname and status met beat a near alertname"
        );
        assert!(why.starts_with("label `namespace`"), "{why}");
        let (key, why) = closest_miss(&[far.clone(), typo], &a).unwrap();
        assert_eq!(
            key, "ops/typo",
            "then the nearest alertname, whatever the priority"
        );
        assert!(
            why.contains("the selector wants `KubePodCrashLoopin`"),
            "{why}"
        );
        let (_, why) = closest_miss(&[matched], &a).unwrap();
        assert!(why.starts_with("matcher `pod=~"), "{why}");
        assert!(closest_miss(&[], &a).is_none());
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
    fn a_broken_operarius_ranked_first_claims_and_a_disabled_one_does_not() {
        let broken = |priority: i32, enabled: bool| BrokenOperarius {
            namespace: "of".to_owned(),
            name: "broken".to_owned(),
            priority,
            enabled,
            selector: def("of", "x", 0).selector,
            problems: vec!["cannot parse template".to_owned()],
        };
        let defs = vec![def("of", "fallback", 5)];
        let top = [broken(10, true)];
        assert!(
            matches!(claim(&defs, &top, &alert()), Some(Claimant::Broken(b)) if b.name == "broken")
        );
        let names: Vec<String> = claimants(&defs, &top, &alert())
            .iter()
            .map(Claimant::key)
            .collect();
        assert_eq!(names, vec!["of/broken", "of/fallback"]);
        let below = [broken(1, true)];
        assert!(
            matches!(claim(&defs, &below, &alert()), Some(Claimant::Valid(d)) if d.name == "fallback")
        );
        let off = [broken(10, false)];
        assert!(
            matches!(claim(&defs, &off, &alert()), Some(Claimant::Valid(d)) if d.name == "fallback")
        );
    }

    #[test]
    fn nothing_selected_when_nothing_matches() {
        let mut a = alert();
        a.status = "resolved".to_owned();
        assert!(select(&[def("of", "a", 0)], &a).is_none());
        assert!(candidates(&[def("of", "a", 0)], &a).is_empty());
    }
}
