//! What the Job controller and kubelet would do: a Job gets one Pod; tests finish it.

use serde_json::{json, Value};

use crate::{
    resource::ResourceId,
    status::ApiError,
    store::{now, Store},
};

/// Labels Kubernetes puts on a Job's pod template and pods.
pub const JOB_NAME_LABEL: &str = "job-name";
pub const JOB_NAME_LABEL_NEW: &str = "batch.kubernetes.io/job-name";
pub const CONTROLLER_UID_LABEL: &str = "controller-uid";
pub const CONTROLLER_UID_LABEL_NEW: &str = "batch.kubernetes.io/controller-uid";

pub fn job_id() -> ResourceId {
    ResourceId {
        group: "batch".to_string(),
        plural: "jobs".to_string(),
    }
}

pub fn pod_id() -> ResourceId {
    ResourceId {
        group: String::new(),
        plural: "pods".to_string(),
    }
}

/// How a test ends a Job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    Failed { reason: String, message: String },
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Defaulting on create (metadata already filled): selector, template labels, counts.
pub fn default_job(job: &mut Value) {
    let name = str_at(job, "/metadata/name").to_string();
    let uid = str_at(job, "/metadata/uid").to_string();
    if !job["spec"].is_object() {
        job["spec"] = json!({});
    }
    let spec = &mut job["spec"];
    if spec.get("selector").is_none() {
        spec["selector"] = json!({"matchLabels": {CONTROLLER_UID_LABEL_NEW: uid}});
    }
    for (field, default) in [("backoffLimit", 6), ("completions", 1), ("parallelism", 1)] {
        if spec.get(field).is_none() {
            spec[field] = json!(default);
        }
    }
    if !spec["template"].is_object() {
        spec["template"] = json!({});
    }
    if !spec["template"]["metadata"].is_object() {
        spec["template"]["metadata"] = json!({});
    }
    if !spec["template"]["metadata"]["labels"].is_object() {
        spec["template"]["metadata"]["labels"] = json!({});
    }
    let labels = &mut spec["template"]["metadata"]["labels"];
    labels[CONTROLLER_UID_LABEL_NEW] = json!(uid);
    labels[CONTROLLER_UID_LABEL] = json!(uid);
    labels[JOB_NAME_LABEL_NEW] = json!(name);
    labels[JOB_NAME_LABEL] = json!(name);
    job["status"] = json!({});
}

/// After a Job is stored: create its Pod and mark the Job active (unless suspended).
pub fn start(store: &mut Store, job: &Value) {
    if job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let name = str_at(job, "/metadata/name").to_string();
    let ns = str_at(job, "/metadata/namespace").to_string();
    let uid = str_at(job, "/metadata/uid").to_string();
    let template = job.pointer("/spec/template").cloned().unwrap_or_default();
    let mut prefix = format!("{name}-");
    prefix.truncate(58);
    let pod_name = loop {
        let candidate = format!("{prefix}{}", store.suffix(5));
        if store.get(&pod_id(), &ns, &candidate).is_none() {
            break candidate;
        }
    };
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "generateName": prefix,
            "namespace": ns,
            "uid": store.uid(),
            "creationTimestamp": now(),
            "generation": 1,
            "labels": template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
            "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or_else(|| json!({})),
            "ownerReferences": [{
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": name,
                "uid": uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({"containers": []})),
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    });
    store.insert(&pod_id(), pod);
    let mut active = job.clone();
    active["status"] = json!({
        "active": 1,
        "ready": 0,
        "terminating": 0,
        "startTime": now(),
        "uncountedTerminatedPods": {},
    });
    store.replace(&job_id(), active);
}

/// Pods controlled by the Job with `uid`, as `(namespace, name)`.
fn pods_of(store: &Store, ns: &str, uid: &str) -> Vec<String> {
    store
        .objects(&pod_id(), Some(ns))
        .filter(|p| {
            p.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                })
        })
        .map(|p| str_at(p, "/metadata/name").to_string())
        .collect()
}

fn job_finished(job: &Value) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                matches!(
                    c.get("type").and_then(Value::as_str),
                    Some("Complete" | "Failed")
                ) && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Sets a pod's phase (and container states for terminal phases).
pub fn set_pod_phase(
    store: &mut Store,
    ns: &str,
    pod: &str,
    phase: &str,
) -> Result<Value, ApiError> {
    let mut object = store
        .get(&pod_id(), ns, pod)
        .cloned()
        .ok_or_else(|| ApiError::new(404, "NotFound", format!("pods \"{pod}\" not found")))?;
    let at = now();
    let state = match phase {
        "Running" => json!({"running": {"startedAt": at}}),
        "Succeeded" => {
            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": at, "finishedAt": at}})
        }
        "Failed" => {
            json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": at, "finishedAt": at}})
        }
        _ => json!({"waiting": {"reason": "ContainerCreating"}}),
    };
    let statuses: Vec<Value> = object
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    json!({
                        "name": c.get("name").cloned().unwrap_or_default(),
                        "image": c.get("image").cloned().unwrap_or_default(),
                        "imageID": "",
                        "ready": phase == "Running",
                        "restartCount": 0,
                        "started": phase == "Running",
                        "state": state,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if !object["status"].is_object() {
        object["status"] = json!({});
    }
    object["status"]["phase"] = json!(phase);
    object["status"]["containerStatuses"] = json!(statuses);
    if phase == "Running" && object.pointer("/status/startTime").is_none() {
        object["status"]["startTime"] = json!(at);
    }
    Ok(store.replace(&pod_id(), object))
}

/// Moves a Job (and its pods) to Complete or Failed, as the Job controller would.
pub fn finish(
    store: &mut Store,
    ns: &str,
    name: &str,
    outcome: &Outcome,
) -> Result<Value, ApiError> {
    let job = store.get(&job_id(), ns, name).cloned().ok_or_else(|| {
        ApiError::new(404, "NotFound", format!("jobs.batch \"{name}\" not found"))
    })?;
    if job_finished(&job) {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!("job `{ns}/{name}` has already finished"),
        ));
    }
    let uid = str_at(&job, "/metadata/uid").to_string();
    let phase = match outcome {
        Outcome::Complete => "Succeeded",
        Outcome::Failed { .. } => "Failed",
    };
    for pod in pods_of(store, ns, &uid) {
        set_pod_phase(store, ns, &pod, phase)?;
    }
    let at = now();
    let start = job
        .pointer("/status/startTime")
        .cloned()
        .unwrap_or_else(|| json!(at));
    let condition = |kind: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": "True", "reason": reason, "message": message,
               "lastProbeTime": at, "lastTransitionTime": at})
    };
    let status = match outcome {
        Outcome::Complete => json!({
            "startTime": start,
            "completionTime": at,
            "succeeded": 1,
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
            "conditions": [
                condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
            ],
        }),
        Outcome::Failed { reason, message } => json!({
            "startTime": start,
            "failed": 1,
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
            "conditions": [
                condition("FailureTarget", reason, message),
                condition("Failed", reason, message),
            ],
        }),
    };
    let mut finished = job;
    finished["status"] = status;
    Ok(store.replace(&job_id(), finished))
}
