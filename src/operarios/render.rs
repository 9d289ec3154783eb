//! Rendering an operarius' job template for one alert.

use serde::{Deserialize, Serialize};

use super::def::OperariusDef;
use super::env::{label_env_vars, merge_env};
use super::error::RenderError;
use super::selector::AlertContext;
use super::template::{render_template, template_data};

/// The job to run for an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedJob {
    /// First container's image (empty when unset).
    pub image: String,
    /// First container's rendered command.
    pub command: Vec<String>,
    /// First container's rendered args.
    pub args: Vec<String>,
    /// First container's final env with literal values (rendered template env,
    /// then `OPENFERO_*`); `valueFrom` entries are only in `job_template_json`.
    pub env: Vec<(String, String)>,
    /// `jobTemplate.spec.activeDeadlineSeconds`.
    pub timeout_secs: Option<i64>,
    /// The whole rendered `JobTemplateSpec` as JSON.
    pub job_template_json: String,
}

/// Renders the job template like OpenFero 0.18 does: in every container (not
/// init containers) each non-empty env `value`, each `command` and each `args`
/// entry containing `{{` is executed as a Go template against the alert, then
/// the `OPENFERO_*` label variables are applied (see [`super::env`]).
pub fn render(def: &OperariusDef, alert: &AlertContext) -> Result<RenderedJob, RenderError> {
    let mut job_template = def.job_template()?;
    let data = template_data(alert);
    let label_vars = label_env_vars(&alert.labels);
    let no_containers = || RenderError::NoContainers { key: def.key() };

    let spec = job_template.spec.as_mut().ok_or_else(no_containers)?;
    let timeout_secs = spec.active_deadline_seconds;
    let pod = spec.template.spec.as_mut().ok_or_else(no_containers)?;
    if pod.containers.is_empty() {
        return Err(no_containers());
    }
    for container in &mut pod.containers {
        for env in container.env.iter_mut().flatten() {
            if let Some(value) = env.value.as_mut().filter(|v| !v.is_empty()) {
                *value = render_template(value, &data)?;
            }
        }
        for text in container
            .command
            .iter_mut()
            .flatten()
            .chain(container.args.iter_mut().flatten())
        {
            *text = render_template(text, &data)?;
        }
        let merged = merge_env(container.env.take().unwrap_or_default(), &label_vars);
        container.env = if merged.is_empty() {
            None
        } else {
            Some(merged)
        };
    }

    let first = &pod.containers[0];
    let rendered = RenderedJob {
        image: first.image.clone().unwrap_or_default(),
        command: first.command.clone().unwrap_or_default(),
        args: first.args.clone().unwrap_or_default(),
        env: first
            .env
            .iter()
            .flatten()
            .filter_map(|e| e.value.as_ref().map(|v| (e.name.clone(), v.clone())))
            .collect(),
        timeout_secs,
        job_template_json: String::new(),
    };
    let job_template_json =
        serde_json::to_string(&job_template).map_err(|err| RenderError::InvalidJobTemplate {
            key: def.key(),
            message: err.to_string(),
        })?;
    Ok(RenderedJob {
        job_template_json,
        ..rendered
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::batch::v1::JobTemplateSpec;

    use super::*;
    use crate::operarios::model::Operarius;

    const MANIFEST: &str = r#"
apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata: {name: restart, namespace: openfero}
spec:
  alertSelector: {alertname: KubePodCrashLooping, status: firing}
  jobTemplate:
    spec:
      activeDeadlineSeconds: 90
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: main
              image: busybox
              command: ["/bin/sh", "-c"]
              args: ['echo "restart {{ .Labels.pod }} in $OPENFERO_NAMESPACE"']
              env:
                - {name: POD_NAME, value: "{{ .Alert.Labels.pod }}"}
                - {name: SUMMARY, value: "{{ .Annotations.summary }}"}
                - {name: EMPTY, value: ""}
                - {name: OPENFERO_POD, value: overridden}
                - name: FROM_FIELD
                  valueFrom: {fieldRef: {fieldPath: metadata.name}}
            - name: sidecar
              image: busybox
              args: ["{{ .Status }}"]
"#;

    fn def() -> OperariusDef {
        let op: Operarius = serde_yaml::from_str(MANIFEST).expect("yaml");
        op.to_def("default").expect("valid")
    }

    fn alert() -> AlertContext {
        let labels: BTreeMap<String, String> = [
            ("alertname", "KubePodCrashLooping"),
            ("pod", "web-1"),
            ("namespace", "shop"),
            ("app-name", "web"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        AlertContext {
            status: "firing".to_owned(),
            labels,
            annotations: [("summary".to_owned(), "crashing".to_owned())]
                .into_iter()
                .collect(),
            ..AlertContext::default()
        }
    }

    #[test]
    fn renders_first_container_and_appends_label_env() {
        let job = render(&def(), &alert()).expect("render");
        assert_eq!(job.image, "busybox");
        assert_eq!(job.command, vec!["/bin/sh", "-c"]);
        assert_eq!(
            job.args,
            vec!["echo \"restart web-1 in $OPENFERO_NAMESPACE\""]
        );
        assert_eq!(job.timeout_secs, Some(90));
        let env: Vec<(&str, &str)> = job
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            vec![
                ("POD_NAME", "web-1"),
                ("SUMMARY", "crashing"),
                ("EMPTY", ""),
                ("OPENFERO_ALERTNAME", "KubePodCrashLooping"),
                ("OPENFERO_APP_NAME", "web"),
                ("OPENFERO_NAMESPACE", "shop"),
                ("OPENFERO_POD", "web-1"),
            ]
        );
    }

    #[test]
    fn every_container_is_rendered_and_gets_label_env_in_json() {
        let job = render(&def(), &alert()).expect("render");
        let jt: JobTemplateSpec = serde_json::from_str(&job.job_template_json).expect("json");
        let pod = jt.spec.and_then(|s| s.template.spec).expect("pod");
        let main_env = pod.containers[0].env.clone().expect("env");
        assert!(main_env
            .iter()
            .any(|e| e.name == "FROM_FIELD" && e.value_from.is_some()));
        let sidecar = &pod.containers[1];
        assert_eq!(sidecar.args.as_deref(), Some(&["firing".to_owned()][..]));
        let names: Vec<&str> = sidecar
            .env
            .iter()
            .flatten()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(
            names,
            vec![
                "OPENFERO_ALERTNAME",
                "OPENFERO_APP_NAME",
                "OPENFERO_NAMESPACE",
                "OPENFERO_POD"
            ]
        );
    }

    #[test]
    fn missing_label_in_any_container_fails_rendering() {
        let mut alert = alert();
        alert.labels.remove("pod");
        let err = render(&def(), &alert).expect_err("missing pod");
        assert_eq!(
            err,
            RenderError::MissingKey {
                field: ".Alert.Labels.pod".to_owned(),
                template: "{{ .Alert.Labels.pod }}".to_owned(),
            }
        );
    }

    #[test]
    fn broken_stored_json_is_reported() {
        let mut def = def();
        def.job_template_json = "{not json".to_owned();
        assert!(matches!(
            render(&def, &alert()),
            Err(RenderError::InvalidJobTemplate { .. })
        ));
    }
}
