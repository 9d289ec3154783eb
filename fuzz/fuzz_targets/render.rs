//! Go-template rendering of an operarius' Job for an alert with hostile labels and annotations.
//!
//! Input: NUL-separated text. Part 0 is a template, rendered on its own and as the argument
//! of an operarius' container; the parts after it are `name`, `value` pairs overriding the
//! labels of the alert (a name starting with `@` names an annotation) for which the example
//! `operarios/kube-pod-crashlooping.yaml` is rendered too.
//!
//! Invariants: the example's own templates (`{{ .Labels.pod }}`, `{{ .Alert.Annotations.summary }}`)
//! render whatever the values hold, each value verbatim (a value is data, never executed, even
//! when it holds `{{`); every label becomes its `OPENFERO_*` variable with its value verbatim,
//! named `[A-Z0-9_]` only; a rendered Job template is JSON that parses back to itself and YAML
//! that parses back to the same object; a template renders alike alone and in a Job; a text
//! without `{{` renders as itself.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use k8s_openapi::api::batch::v1::JobTemplateSpec;
use libfuzzer_sys::fuzz_target;
use openfero::operarios::{
    label_env_vars, render, render_template, template_data, AlertContext, Operarius, OperariusDef,
    RenderedJob,
};

const EXAMPLE: &str = include_str!("../../operarios/kube-pod-crashlooping.yaml");

fn example_operarius() -> &'static Operarius {
    static OP: OnceLock<Operarius> = OnceLock::new();
    OP.get_or_init(|| serde_yaml::from_str(EXAMPLE).expect("the example parses"))
}

fn example() -> &'static OperariusDef {
    static DEF: OnceLock<OperariusDef> = OnceLock::new();
    DEF.get_or_init(|| {
        example_operarius()
            .to_def("openfero")
            .expect("the example is valid")
    })
}

/// An operarius whose one container runs `template` as its argument.
fn with_template(template: &str) -> OperariusDef {
    let job = serde_json::json!({"spec": {"template": {"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox", "args": [template]}],
    }}}});
    OperariusDef {
        job_template_json: job.to_string(),
        ..example().clone()
    }
}

fn alert(overrides: &[String]) -> AlertContext {
    let mut labels: BTreeMap<String, String> = [
        ("alertname", "KubePodCrashLooping"),
        ("pod", "web-1"),
        ("namespace", "shop"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut annotations: BTreeMap<String, String> =
        [("summary".to_owned(), "pod is crash looping".to_owned())].into();
    for pair in overrides.chunks(2) {
        let (name, value) = (&pair[0], pair.get(1).cloned().unwrap_or_default());
        match name.strip_prefix('@') {
            Some(annotation) => annotations.insert(annotation.to_owned(), value),
            None => labels.insert(name.clone(), value),
        };
    }
    AlertContext {
        status: "firing".into(),
        common_labels: labels.clone(),
        labels,
        annotations,
        starts_at: "2026-03-21T10:00:00Z".into(),
        fingerprint: "1111111111111111".into(),
        ..AlertContext::default()
    }
}

fn check_job(job: &RenderedJob) -> JobTemplateSpec {
    let spec: JobTemplateSpec =
        serde_json::from_str(&job.job_template_json).expect("rendered JSON parses");
    let json = serde_json::to_string(&spec).expect("serialises");
    assert_eq!(
        json, job.job_template_json,
        "rendered JSON does not round-trip"
    );
    let yaml = serde_yaml::to_string(&spec).expect("a Job template is YAML");
    let back: JobTemplateSpec = serde_yaml::from_str(&yaml)
        .unwrap_or_else(|e| panic!("its YAML does not parse: {e}\n{yaml}"));
    assert_eq!(back, spec, "YAML changed the Job template\n{yaml}");
    spec
}

fuzz_target!(|data: &[u8]| {
    let parts = openfero_fuzz::nul_parts(data);
    let (template, overrides) = parts.split_first().expect("split yields one part");
    let alert = alert(overrides);

    let job = render(example(), &alert).expect("the example renders for any values");
    check_job(&job);
    let env: BTreeMap<&str, &str> = job
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let labels = alert.effective_labels();
    assert_eq!(env.get("POD_NAME").copied(), Some(labels["pod"].as_str()));
    assert_eq!(
        env.get("SUMMARY").copied(),
        Some(alert.annotations["summary"].as_str())
    );
    for (name, value) in label_env_vars(&alert.labels) {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
            "env name `{name}`"
        );
        assert_eq!(
            env.get(name.as_str()).copied(),
            Some(value.as_str()),
            "{name}"
        );
    }

    let data = template_data(&alert);
    let rendered = render_template(template, &data);
    if !template.contains("{{") {
        assert_eq!(
            rendered.as_deref(),
            Ok(template.as_str()),
            "a plain text changed"
        );
    }
    match render(&with_template(template), &alert) {
        Ok(job) => {
            check_job(&job);
            assert_eq!(
                Ok(&job.args[0]),
                rendered.as_ref(),
                "rendered alone and in a Job"
            );
        }
        Err(err) => assert!(rendered.is_err(), "only in a Job: {err}"),
    }
});
