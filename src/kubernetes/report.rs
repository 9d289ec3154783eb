//! What the leader writes back to Kubernetes: the Operarius status (merge patch on `/status`,
//! never a full update) and Events on the Operarius.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::Client;
use serde_json::json;
use tracing::{debug, warn};

use crate::operarios::{Operarius, API_VERSION, KIND};
use crate::remediation::OperariusStats;

/// Status and Events are best effort and written from the executor's loop: a slow API server
/// must not hold remediations back for longer than this per write.
const REPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Writes status and Events for operarios. Cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    client: Client,
    recorder: Recorder,
}

impl Reporter {
    pub fn new(client: Client, instance: String) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            kube::runtime::events::Reporter {
                controller: "openfero".into(),
                instance: Some(instance),
            },
        );
        Self { client, recorder }
    }

    fn reference(namespace: &str, name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some(API_VERSION.into()),
            kind: Some(KIND.into()),
            namespace: Some(namespace.into()),
            name: Some(name.into()),
            ..Default::default()
        }
    }

    /// Publish an Event on the Operarius `namespace/name`; failures are logged, not fatal.
    pub async fn event(
        &self,
        namespace: &str,
        name: &str,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        let ev = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(note),
            action: reason.into(),
            secondary: None,
        };
        let reference = Self::reference(namespace, name);
        let publish = self.recorder.publish(&ev, &reference);
        match tokio::time::timeout(REPORT_TIMEOUT, publish).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!(error = %e, operarius = %format!("{namespace}/{name}"), reason, "cannot publish event")
            }
            Err(_) => {
                warn!(operarius = %format!("{namespace}/{name}"), reason, "cannot publish event: timed out")
            }
        }
    }

    /// Merge-patch the Operarius status from the replicated statistics.
    pub async fn patch_status(&self, namespace: &str, name: &str, stats: &OperariusStats) {
        let api: Api<Operarius> = Api::namespaced(self.client.clone(), namespace);
        let time = stats
            .last_execution_ms
            .and_then(|ms| k8s_openapi::jiff::Timestamp::from_millisecond(ms).ok())
            .map(Time);
        let patch = json!({
            "status": {
                "executionCount": stats.execution_count,
                "lastExecutionTime": time,
                "lastExecutedJobName": stats.last_job_name,
                "lastExecutionStatus": stats.last_status.map(|s| s.as_str()),
            }
        });
        let params = PatchParams::default();
        let patch = Patch::Merge(&patch);
        let call = api.patch_status(name, &params, &patch);
        match tokio::time::timeout(REPORT_TIMEOUT, call).await {
            Ok(Ok(_)) => debug!(operarius = %format!("{namespace}/{name}"), "status patched"),
            Ok(Err(e)) => {
                warn!(error = %e, operarius = %format!("{namespace}/{name}"), "cannot patch status")
            }
            Err(_) => {
                warn!(operarius = %format!("{namespace}/{name}"), "cannot patch status: timed out")
            }
        }
    }
}
