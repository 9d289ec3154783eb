//! Following the Jobs openfero created: a reflector per watched namespace (or one for all),
//! outcomes read from Job conditions, and the tail of a failed Job's pod log.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::labels;
use super::Namespaces;

/// Bytes of pod log kept for a failed Job (the same bound as local output).
const LOG_TAIL_BYTES: usize = crate::remediation::OUTPUT_TAIL_BYTES;

/// How a Job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Not finished (pending or running).
    Active,
    Succeeded,
    Failed {
        reason: String,
    },
}

/// The outcome according to the Job's status: conditions first (`Complete`,
/// `SuccessCriteriaMet`, `Failed`), then the succeeded counter.
pub fn outcome(job: &Job) -> JobOutcome {
    let Some(status) = &job.status else {
        return JobOutcome::Active;
    };
    for c in status.conditions.iter().flatten() {
        if c.status != "True" {
            continue;
        }
        match c.type_.as_str() {
            "Complete" | "SuccessCriteriaMet" => return JobOutcome::Succeeded,
            "Failed" | "FailureTarget" => {
                let reason = c.reason.clone().unwrap_or_else(|| "Failed".into());
                let message = c.message.clone().unwrap_or_default();
                return JobOutcome::Failed {
                    reason: if message.is_empty() {
                        format!("job failed: {reason}")
                    } else {
                        format!("job failed: {reason}: {message}")
                    },
                };
            }
            _ => {}
        }
    }
    if status.succeeded.unwrap_or(0) > 0 && status.active.unwrap_or(0) == 0 {
        return JobOutcome::Succeeded;
    }
    JobOutcome::Active
}

/// Cheap-to-clone view of the managed Jobs.
#[derive(Clone)]
pub struct JobTracker {
    stores: Arc<HashMap<String, Store<Job>>>,
    changed: Arc<Notify>,
}

impl JobTracker {
    /// Start one reflector per namespace (key `""` = all namespaces).
    pub fn start(client: &Client, namespaces: &Namespaces, stop: CancellationToken) -> Self {
        let changed = Arc::new(Notify::new());
        let mut stores = HashMap::new();
        let config = watcher::Config::default().labels(&labels::managed_selector());
        for ns in namespaces.scopes() {
            let api: Api<Job> = match ns.as_str() {
                "" => Api::all(client.clone()),
                ns => Api::namespaced(client.clone(), ns),
            };
            let (reader, writer) = reflector::store();
            let stream =
                reflector::reflector(writer, watcher(api, config.clone()).default_backoff())
                    .applied_objects();
            super::drive(stream, changed.clone(), stop.clone(), "jobs", || {});
            stores.insert(ns, reader);
        }
        Self {
            stores: Arc::new(stores),
            changed,
        }
    }

    /// The Job `namespace/name`, if the watch has seen it.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Job>> {
        let key = ObjectRef::<Job>::new(name).within(namespace);
        self.stores
            .get(namespace)
            .or_else(|| self.stores.get(""))
            .and_then(|s| s.get(&key))
    }

    /// Resolves on the next Job change.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// The last bytes of the log of the newest pod of `job` (empty if none can be read).
pub async fn pod_log_tail(client: &Client, namespace: &str, job: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default().labels(&format!("job-name={job}"));
    let Ok(list) = pods.list(&lp).await else {
        return String::new();
    };
    let newest = list
        .items
        .into_iter()
        .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    let Some(name) = newest.and_then(|p| p.metadata.name) else {
        return String::new();
    };
    let params = LogParams {
        tail_lines: Some(500),
        limit_bytes: Some(LOG_TAIL_BYTES as i64),
        ..LogParams::default()
    };
    match pods.logs(&name, &params).await {
        Ok(text) => {
            let start = text.len().saturating_sub(LOG_TAIL_BYTES);
            let start = (start..=text.len())
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            text[start..].to_string()
        }
        Err(e) => format!("(pod log unavailable: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};

    fn job_with(conditions: Vec<(&str, &str)>, succeeded: i32) -> Job {
        Job {
            status: Some(JobStatus {
                conditions: Some(
                    conditions
                        .into_iter()
                        .map(|(t, s)| JobCondition {
                            type_: t.into(),
                            status: s.into(),
                            reason: Some("BackoffLimitExceeded".into()),
                            message: Some("Job has reached the specified backoff limit".into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                succeeded: Some(succeeded),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn outcomes_follow_conditions() {
        assert_eq!(outcome(&Job::default()), JobOutcome::Active);
        assert_eq!(
            outcome(&job_with(vec![("Complete", "True")], 1)),
            JobOutcome::Succeeded
        );
        assert_eq!(
            outcome(&job_with(vec![("Complete", "False")], 0)),
            JobOutcome::Active
        );
        let failed = outcome(&job_with(vec![("Failed", "True")], 0));
        assert!(
            matches!(failed, JobOutcome::Failed { ref reason } if reason.contains("BackoffLimitExceeded"))
        );
        assert_eq!(outcome(&job_with(vec![], 1)), JobOutcome::Succeeded);
    }
}
