//! The Job for a remediation: built from the rendered template, created exactly once.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobTemplateSpec};
use kube::api::{Api, PostParams};
use kube::Client;

use super::labels::{self, label_value};
use crate::remediation::RemediationRecord;

/// Jobs are kept this long after finishing unless the template says otherwise.
pub const DEFAULT_TTL_AFTER_FINISHED: i32 = 3600;
/// Deadline of a Job whose template sets none.
pub const DEFAULT_ACTIVE_DEADLINE: i64 = crate::operarios::DEFAULT_ACTIVE_DEADLINE_SECS;

/// Why a Job could not be made to exist.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Kubernetes refused it for good (403, 422, a name taken by another remediation, a
    /// template that does not parse): the remediation fails with this reason.
    #[error("{0}")]
    Refused(String),
    /// Worth retrying (5xx, timeouts, connection errors).
    #[error("{0}")]
    Transient(String),
}

/// The Job object for `rec`: deterministic name, openfero labels and annotations, defaults
/// for `ttlSecondsAfterFinished` and `activeDeadlineSeconds`. Never `generateName`. With the
/// notification's `group_key` (kept on the alert record, not on `rec`) the Job also carries
/// OpenFero's `openfero.io/group-key` label, hashed as OpenFero hashes it.
pub fn build_job(rec: &RemediationRecord, group_key: Option<&str>) -> Result<Job, JobError> {
    let rendered = rec
        .rendered
        .as_ref()
        .ok_or_else(|| JobError::Refused("no rendered job recorded".into()))?;
    let template: JobTemplateSpec = serde_json::from_str(&rendered.job_template_json)
        .map_err(|e| JobError::Refused(format!("rendered job template does not parse: {e}")))?;
    let operarius_name = rec
        .operarius
        .rsplit_once('/')
        .map(|(_, n)| n)
        .unwrap_or(&rec.operarius);
    let mut meta = template.metadata.unwrap_or_default();
    let mut labels_map: BTreeMap<String, String> = meta.labels.take().unwrap_or_default();
    labels_map.insert(labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into());
    labels_map.insert(labels::OPERARIUS.into(), label_value(operarius_name));
    labels_map.insert(labels::ALERT.into(), label_value(&rec.alertname));
    labels_map.insert(labels::STATUS.into(), label_value(&rec.alert_status));
    labels_map.insert(labels::REMEDIATION.into(), rec.id.to_string());
    if let Some(group_key) = group_key {
        labels_map.insert(labels::GROUP_KEY.into(), labels::group_key_value(group_key));
    }
    let mut annotations: BTreeMap<String, String> = meta.annotations.take().unwrap_or_default();
    annotations.insert(labels::ANN_REMEDIATION_ID.into(), rec.id.to_string());
    annotations.insert(labels::ANN_FINGERPRINT.into(), rec.fingerprint.clone());
    if let Some(leader) = rec.started_by {
        annotations.insert(labels::ANN_LEADER.into(), leader.to_string());
    }
    if let Some(index) = rec.start_index {
        annotations.insert(labels::ANN_LOG_INDEX.into(), index.to_string());
    }
    meta.name = Some(rec.job_name.clone());
    meta.generate_name = None;
    meta.namespace = Some(rec.namespace.clone());
    meta.labels = Some(labels_map.clone());
    meta.annotations = Some(annotations);
    let mut spec = template
        .spec
        .ok_or_else(|| JobError::Refused("job template has no spec".into()))?;
    spec.ttl_seconds_after_finished
        .get_or_insert(DEFAULT_TTL_AFTER_FINISHED);
    spec.active_deadline_seconds
        .get_or_insert(DEFAULT_ACTIVE_DEADLINE);
    // The pods carry the remediation labels too, so `kubectl get pods -l` finds them.
    let pod_meta = spec.template.metadata.get_or_insert_with(Default::default);
    let pod_labels = pod_meta.labels.get_or_insert_with(BTreeMap::new);
    for key in [labels::MANAGED_BY, labels::OPERARIUS, labels::REMEDIATION] {
        if let Some(v) = labels_map.get(key) {
            pod_labels.insert(key.into(), v.clone());
        }
    }
    Ok(Job {
        metadata: meta,
        spec: Some(spec),
        status: None,
    })
}

/// Whether a failure is worth retrying.
fn classify(e: kube::Error, what: &str) -> JobError {
    match e {
        kube::Error::Api(status) if matches!(status.code, 400 | 403 | 404 | 422) => {
            JobError::Refused(format!(
                "kubernetes refused to {what} ({} {}): {}",
                status.code, status.reason, status.message
            ))
        }
        other => JobError::Transient(format!("cannot {what}: {other}")),
    }
}

/// Make the Job of `rec` exist, exactly once: create it; on AlreadyExists read it and accept it
/// only if it carries this remediation's id. Returns whether this call created it.
pub async fn ensure_job(
    client: &Client,
    rec: &RemediationRecord,
    group_key: Option<&str>,
) -> Result<bool, JobError> {
    let job = build_job(rec, group_key)?;
    let api: Api<Job> = Api::namespaced(client.clone(), &rec.namespace);
    match api.create(&PostParams::default(), &job).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = api
                .get(&rec.job_name)
                .await
                .map_err(|e| classify(e, "read the existing job"))?;
            let owner = existing
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(labels::ANN_REMEDIATION_ID))
                .cloned();
            if owner.as_deref() == Some(rec.id.as_str()) {
                #[cfg(feature = "chaos-faults")]
                chaos_duplicate(&api, &job).await;
                Ok(false)
            } else {
                Err(JobError::Refused(format!(
                    "a job named `{}` already exists in `{}` for another remediation (`{}`)",
                    rec.job_name,
                    rec.namespace,
                    owner.unwrap_or_else(|| "none".into())
                )))
            }
        }
        Err(e) => Err(classify(e, "create the job")),
    }
}

/// Test-only fault, compiled only with the cargo feature `chaos-faults` (never in default or
/// release builds): with `OPENFERO_CHAOS_BREAK_JOB_NAMES` set, adopting an existing Job also
/// creates a second one under another name — what a leader without deterministic Job names
/// would do when it re-ensures a running remediation — so that the chaos checker can be shown
/// to catch a duplicate Job end to end.
#[cfg(feature = "chaos-faults")]
async fn chaos_duplicate(api: &Api<Job>, job: &Job) {
    if std::env::var_os("OPENFERO_CHAOS_BREAK_JOB_NAMES").is_none() {
        return;
    }
    let mut dup = job.clone();
    let name = job.metadata.name.clone().unwrap_or_default();
    let suffix = format!("-dup{}", std::process::id() % 100_000);
    let base: String = name.chars().take(63 - suffix.len()).collect();
    dup.metadata.name = Some(format!("{}{suffix}", base.trim_end_matches('-')));
    let _ = api.create(&PostParams::default(), &dup).await;
}

/// Test-only fault (feature `chaos-faults`, with `OPENFERO_CHAOS_BREAK_JOB_NAMES` set): a new
/// leader ignores its Job watch until it has re-ensured each running remediation once, as a
/// leader restarted with a cold watch does. With [`chaos_duplicate`] that makes every
/// leadership change adopt every running Job and create a duplicate, so the chaos checker's
/// proof does not depend on how often a restarted node happens to win an election.
pub fn chaos_cold_watch() -> bool {
    #[cfg(feature = "chaos-faults")]
    {
        std::env::var_os("OPENFERO_CHAOS_BREAK_JOB_NAMES").is_some()
    }
    #[cfg(not(feature = "chaos-faults"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EventId, RemediationId};
    use crate::operarios::RenderedJob;
    use crate::remediation::{LeaderId, RemediationState};

    pub(crate) fn record() -> RemediationRecord {
        let template = serde_json::json!({
            "metadata": {"labels": {"team": "sre"}},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "fix", "image": "bitnami/kubectl", "command": ["kubectl"],
                 "args": ["delete", "pod", "web-1"], "env": [{"name": "OPENFERO_POD", "value": "web-1"}]}
            ]}}}
        });
        RemediationRecord {
            seq: 1,
            id: RemediationId("0123456789abcdef".into()),
            event_id: EventId("e".into()),
            alert_seq: 1,
            fingerprint: "fp".into(),
            alertname: "KubePodCrashLooping".into(),
            alert_status: "firing".into(),
            operarius: "ops/restart-pod".into(),
            namespace: "ops".into(),
            job_name: "restart-pod-0123456789abcdef".into(),
            state: RemediationState::Running,
            reason: None,
            created_at_ms: 0,
            started_at_ms: Some(1),
            finished_at_ms: None,
            exit_code: None,
            output_tail: String::new(),
            rendered: Some(RenderedJob {
                image: "bitnami/kubectl".into(),
                command: vec!["kubectl".into()],
                args: vec![],
                env: vec![],
                timeout_secs: None,
                job_template_json: template.to_string(),
            }),
            started_by: Some(LeaderId {
                term: 3,
                node: 0xabc,
            }),
            executor: Some("n1".into()),
            start_index: Some(42),
        }
    }

    #[test]
    fn job_has_the_deterministic_name_labels_annotations_and_defaults() {
        let job = build_job(&record(), None).expect("builds");
        let meta = &job.metadata;
        assert_eq!(meta.name.as_deref(), Some("restart-pod-0123456789abcdef"));
        assert_eq!(meta.namespace.as_deref(), Some("ops"));
        assert!(meta.generate_name.is_none());
        let l = meta.labels.as_ref().expect("labels");
        assert_eq!(l["openfero.io/managed-by"], "openfero");
        assert_eq!(l["openfero.io/operarius"], "restart-pod");
        assert_eq!(l["openfero.io/alert"], "KubePodCrashLooping");
        assert_eq!(l["openfero.io/status"], "firing");
        assert_eq!(l["openfero.io/remediation"], "0123456789abcdef");
        assert_eq!(l["team"], "sre", "template labels kept");
        assert!(
            !l.contains_key("openfero.io/group-key"),
            "no group key given"
        );
        let a = meta.annotations.as_ref().expect("annotations");
        assert_eq!(a["openfero.io/remediation-id"], "0123456789abcdef");
        assert_eq!(a["openfero.io/leader"], "3-0000000000000abc");
        assert_eq!(a["openfero.io/log-index"], "42");
        let spec = job.spec.as_ref().expect("spec");
        assert_eq!(
            spec.ttl_seconds_after_finished,
            Some(DEFAULT_TTL_AFTER_FINISHED)
        );
        assert_eq!(spec.active_deadline_seconds, Some(DEFAULT_ACTIVE_DEADLINE));
        let pod_labels = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref())
            .expect("pod labels");
        assert_eq!(pod_labels["openfero.io/remediation"], "0123456789abcdef");
        let c = &spec.template.spec.as_ref().expect("pod spec").containers[0];
        assert_eq!(
            c.env.as_ref().expect("env")[0].value.as_deref(),
            Some("web-1")
        );
    }

    #[test]
    fn job_carries_openfero_s_group_key_label_hashed_as_openfero_does() {
        let group_key = "{}:{alertname=\"KubePodCrashLooping\"}";
        let job = build_job(&record(), Some(group_key)).expect("builds");
        let l = job.metadata.labels.as_ref().expect("labels");
        // OpenFero 0.18's `utils.HashGroupKey`: "g" + base-36 FNV-1a of the group key.
        assert_eq!(l["openfero.io/group-key"], "g246vz5bfl7wq2");
        // OpenFero's deduplication selects its Jobs by operarius and group key, and its Job
        // watch by managed-by: all of them are on the Job.
        for key in [
            "openfero.io/operarius",
            "openfero.io/group-key",
            "openfero.io/managed-by",
            "openfero.io/alert",
            "openfero.io/status",
        ] {
            assert!(l.contains_key(key), "{key}");
        }
        let empty = build_job(&record(), Some("")).expect("builds");
        assert_eq!(
            empty.metadata.labels.expect("labels")["openfero.io/group-key"],
            "",
            "an empty group key gives an empty value, as in OpenFero"
        );
    }

    #[test]
    fn template_deadlines_win_over_defaults() {
        let mut rec = record();
        let rendered = rec.rendered.as_mut().expect("rendered");
        let mut v: serde_json::Value =
            serde_json::from_str(&rendered.job_template_json).expect("json");
        v["spec"]["activeDeadlineSeconds"] = 30.into();
        v["spec"]["ttlSecondsAfterFinished"] = 60.into();
        rendered.job_template_json = v.to_string();
        let spec = build_job(&rec, None).expect("builds").spec.expect("spec");
        assert_eq!(spec.active_deadline_seconds, Some(30));
        assert_eq!(spec.ttl_seconds_after_finished, Some(60));
    }
}
