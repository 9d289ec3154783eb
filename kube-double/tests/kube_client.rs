//! Typed and dynamic kube-rs clients against the double.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::{api_error, bounded, eventually, start, OPERARIUS_CRD};
use k8s_openapi::{
    api::{
        batch::v1::Job,
        core::v1::{ConfigMap, Pod},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    api::{
        Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams,
    },
    core::GroupVersionKind,
    discovery, CustomResource, ResourceExt,
};
use openfero_kube_double::Fault;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        },
        "data": {"k": "v"},
    }))
    .expect("valid config map")
}

fn job(name: &str) -> Job {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"openfero.io/remediation": name}},
        "spec": {"template": {"metadata": {"labels": {"openfero.io/remediation": name}}, "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
        }}},
    }))
    .expect("valid job")
}

#[tokio::test]
async fn create_conflicts_and_missing_objects_answer_like_kubernetes() -> anyhow::Result<()> {
    bounded(async {
        let (double, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");

        let created = cms
            .create(&PostParams::default(), &config_map("a", &[]))
            .await?;
        let meta = &created.metadata;
        assert!(
            meta.uid.as_deref().is_some_and(|u| u.len() == 36),
            "uid {:?}",
            meta.uid
        );
        assert!(meta.resource_version.is_some());
        assert!(meta.creation_timestamp.is_some());
        assert_eq!(meta.generation, Some(1));
        assert_eq!(double.requests().last().map(|r| r.status), Some(201));

        let (code, reason) = api_error(
            cms.create(&PostParams::default(), &config_map("a", &[]))
                .await,
        )?;
        assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));
        match cms
            .create(&PostParams::default(), &config_map("a", &[]))
            .await
        {
            Err(kube::Error::Api(s)) => {
                let details = s.details.as_ref().expect("status details");
                assert_eq!(
                    (details.name.as_str(), details.kind.as_str()),
                    ("a", "configmaps")
                );
            }
            other => anyhow::bail!("expected AlreadyExists, got {other:?}"),
        }

        let (code, reason) = api_error(cms.get("missing").await)?;
        assert_eq!((code, reason.as_str()), (404, "NotFound"));
        assert!(cms.get_opt("missing").await?.is_none());

        // A stale resourceVersion on replace is a conflict; the current one succeeds.
        let mut stale = created.clone();
        cms.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "w"}})),
        )
        .await?;
        stale.data = Some(BTreeMap::from([("k".to_string(), "x".to_string())]));
        let (code, reason) = api_error(cms.replace("a", &PostParams::default(), &stale).await)?;
        assert_eq!((code, reason.as_str()), (409, "Conflict"));
        let mut fresh = cms.get("a").await?;
        assert_eq!(
            fresh
                .data
                .as_ref()
                .and_then(|d| d.get("k"))
                .map(String::as_str),
            Some("w")
        );
        fresh.data = Some(BTreeMap::from([("k".to_string(), "y".to_string())]));
        let replaced = cms.replace("a", &PostParams::default(), &fresh).await?;
        assert!(
            replaced
                .resource_version()
                .unwrap_or_default()
                .parse::<u64>()?
                > fresh
                    .resource_version()
                    .unwrap_or_default()
                    .parse::<u64>()?
        );

        // generateName
        let mut generated = config_map("", &[]);
        generated.metadata.name = None;
        generated.metadata.generate_name = Some("gen-".to_string());
        let generated = cms.create(&PostParams::default(), &generated).await?;
        assert!(generated.name_any().starts_with("gen-") && generated.name_any().len() == 9);

        // A no-op patch does not bump the resourceVersion.
        let before = cms.get("a").await?.resource_version();
        let after = cms
            .patch(
                "a",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"k": "y"}})),
            )
            .await?
            .resource_version();
        assert_eq!(before, after);
        double.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn label_selectors_of_every_operator_and_pagination_filter_lists() -> anyhow::Result<()> {
    bounded(async {
        let (_double, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let other: Api<ConfigMap> = Api::namespaced(client.clone(), "other");
        cms.create(
            &PostParams::default(),
            &config_map("web", &[("app", "web"), ("tier", "front")]),
        )
        .await?;
        cms.create(&PostParams::default(), &config_map("db", &[("app", "db")]))
            .await?;
        cms.create(&PostParams::default(), &config_map("plain", &[]))
            .await?;
        other
            .create(
                &PostParams::default(),
                &config_map("web", &[("app", "web")]),
            )
            .await?;

        let names = |sel: &'static str| {
            let cms = cms.clone();
            async move {
                let list = cms.list(&ListParams::default().labels(sel)).await?;
                let mut names: Vec<String> = list.items.iter().map(|c| c.name_any()).collect();
                names.sort();
                anyhow::Ok(names.join(","))
            }
        };
        assert_eq!(names("app=web").await?, "web");
        assert_eq!(names("app==db").await?, "db");
        assert_eq!(names("app!=web").await?, "db,plain");
        assert_eq!(names("app in (web,db)").await?, "db,web");
        assert_eq!(names("app notin (web)").await?, "db,plain");
        assert_eq!(names("tier").await?, "web");
        assert_eq!(names("!app").await?, "plain");
        assert_eq!(names("app,!tier").await?, "db");

        let by_name = cms
            .list(&ListParams::default().fields("metadata.name=db"))
            .await?;
        assert_eq!(by_name.items.len(), 1);
        let everywhere: Api<ConfigMap> = Api::all(client.clone());
        let all = everywhere
            .list(&ListParams::default().labels("app=web"))
            .await?;
        let mut where_: Vec<String> = all
            .items
            .iter()
            .map(|c| c.namespace().unwrap_or_default())
            .collect();
        where_.sort();
        assert_eq!(where_, ["default", "other"]);
        let in_other = everywhere
            .list(&ListParams::default().fields("metadata.namespace=other"))
            .await?;
        assert_eq!(in_other.items.len(), 1);

        // limit/continue walk the whole collection exactly once.
        let mut seen = Vec::new();
        let mut lp = ListParams::default().limit(2);
        loop {
            let page = everywhere.list(&lp).await?;
            assert!(page.items.len() <= 2);
            seen.extend(
                page.items
                    .iter()
                    .map(|c| format!("{}/{}", c.namespace().unwrap_or_default(), c.name_any())),
            );
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => lp = lp.continue_token(&token),
                None => break,
            }
        }
        assert_eq!(
            seen,
            ["default/db", "default/plain", "default/web", "other/web"]
        );
        let (code, _) = api_error(cms.list(&ListParams::default().labels("app in (web")).await)?;
        assert_eq!(code, 400);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn jobs_get_a_pod_and_deletion_propagates_by_policy() -> anyhow::Result<()> {
    bounded(async {
        let (double, client) = start().await?;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

        let created = jobs.create(&PostParams::default(), &job("fix-1")).await?;
        let uid = created.uid().unwrap_or_default();
        let pod_list = pods
            .list(&ListParams::default().labels("job-name=fix-1"))
            .await?;
        assert_eq!(pod_list.items.len(), 1);
        let pod = &pod_list.items[0];
        assert!(pod.name_any().starts_with("fix-1-"));
        let labels = pod.labels();
        assert_eq!(
            labels
                .get("batch.kubernetes.io/job-name")
                .map(String::as_str),
            Some("fix-1")
        );
        assert_eq!(labels.get("controller-uid"), Some(&uid));
        assert_eq!(
            labels.get("openfero.io/remediation").map(String::as_str),
            Some("fix-1")
        );
        let owner = &pod.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("Job", uid.as_str(), Some(true))
        );
        assert_eq!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Pending")
        );
        assert_eq!(double.job_pods("default", "fix-1"), [pod.name_any()]);
        let active = jobs.get("fix-1").await?;
        assert_eq!(active.status.as_ref().and_then(|s| s.active), Some(1));

        // Background deletes the pods; the default (orphan) keeps them without the owner.
        jobs.delete("fix-1", &DeleteParams::background()).await?;
        assert!(pods
            .list(&ListParams::default().labels("job-name=fix-1"))
            .await?
            .items
            .is_empty());
        assert!(jobs.get_opt("fix-1").await?.is_none());

        jobs.create(&PostParams::default(), &job("fix-2")).await?;
        jobs.delete("fix-2", &DeleteParams::foreground()).await?;
        assert!(pods
            .list(&ListParams::default().labels("job-name=fix-2"))
            .await?
            .items
            .is_empty());

        jobs.create(&PostParams::default(), &job("fix-3")).await?;
        jobs.delete("fix-3", &DeleteParams::default()).await?;
        let orphans = pods
            .list(&ListParams::default().labels("job-name=fix-3"))
            .await?;
        assert_eq!(orphans.items.len(), 1);
        assert!(orphans.items[0].owner_references().is_empty());

        // Names longer than 63 characters are invalid for Jobs.
        let (code, reason) = api_error(
            jobs.create(&PostParams::default(), &job(&"j".repeat(64)))
                .await,
        )?;
        assert_eq!((code, reason.as_str()), (422, "Invalid"));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn status_subresource_is_the_only_way_to_change_status() -> anyhow::Result<()> {
    bounded(async {
        let (_double, client) = start().await?;
        let jobs: Api<Job> = Api::namespaced(client, "default");
        jobs.create(&PostParams::default(), &job("s")).await?;

        let main = jobs
            .patch(
                "s",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}, "status": {"failed": 7}})),
            )
            .await?;
        assert_eq!(main.labels().get("x").map(String::as_str), Some("1"));
        assert_eq!(main.status.as_ref().and_then(|s| s.failed), None);
        assert_eq!(
            main.metadata.generation,
            Some(1),
            "labels do not bump generation"
        );

        let status = jobs
            .patch_status(
                "s",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"failed": 7}, "spec": {"parallelism": 5}})),
            )
            .await?;
        assert_eq!(status.status.as_ref().and_then(|s| s.failed), Some(7));
        assert_eq!(status.spec.as_ref().and_then(|s| s.parallelism), Some(1));

        let spec = jobs
            .patch(
                "s",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"parallelism": 2}})),
            )
            .await?;
        assert_eq!(
            spec.metadata.generation,
            Some(2),
            "spec changes bump generation"
        );
        assert_eq!(spec.status.as_ref().and_then(|s| s.failed), Some(7));
        Ok(())
    })
    .await
}

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "openfero.io",
    version = "v1alpha1",
    kind = "Operarius",
    plural = "operariuses",
    shortname = "op",
    namespaced,
    status = "OperariusStatus"
)]
struct OperariusSpec {
    priority: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct OperariusStatus {
    execution_count: u32,
}

#[tokio::test]
async fn crd_from_yaml_serves_dynamic_and_derived_clients() -> anyhow::Result<()> {
    bounded(async {
        let (double, client) = start().await?;
        let unknown: Api<Operarius> = Api::namespaced(client.clone(), "default");
        assert_eq!(api_error(unknown.list(&ListParams::default()).await)?.0, 404);

        assert_eq!(double.register_crd_yaml(OPERARIUS_CRD)?, ["operariuses.openfero.io"]);
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd = crds.get("operariuses.openfero.io").await?;
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established);

        // Discovery, as kube's dynamic clients use it.
        let gvk = GroupVersionKind::gvk("openfero.io", "v1alpha1", "Operarius");
        let (resource, caps) = discovery::pinned_kind(&client, &gvk).await?;
        assert_eq!(resource.plural, "operariuses");
        assert!(caps.subresources.iter().any(|(r, _)| r.plural == "operariuses/status" || r.plural == "status"));
        let full = discovery::Discovery::new(client.clone()).run().await?;
        assert!(full.has_group("openfero.io") && full.has_group("batch"));

        let dynamic: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
        let mut object = DynamicObject::new("restart-pod", &resource);
        object.data = json!({"spec": {"priority": 3}, "status": {"executionCount": 99}});
        let created = dynamic.create(&PostParams::default(), &object).await?;
        assert_eq!(created.data["spec"]["priority"], 3);
        assert!(created.data.get("status").is_none(), "status is dropped on create");

        let typed: Api<Operarius> = Api::namespaced(client.clone(), "default");
        let got = typed.get("restart-pod").await?;
        assert_eq!(got.spec.priority, 3);
        let patched = typed
            .patch_status(
                "restart-pod",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"executionCount": 1}})),
            )
            .await?;
        assert_eq!(patched.status.map(|s| s.execution_count), Some(1));
        let applied = typed
            .patch(
                "restart-pod",
                &PatchParams::apply("test").force(),
                &Patch::Apply(json!({"apiVersion": "openfero.io/v1alpha1", "kind": "Operarius", "spec": {"priority": 5}})),
            )
            .await?;
        assert_eq!(applied.spec.priority, 5);
        assert_eq!(applied.status.map(|s| s.execution_count), Some(1));
        let new = Operarius::new("second", OperariusSpec { priority: 1 });
        typed.create(&PostParams::default(), &new).await?;
        assert_eq!(typed.list(&ListParams::default()).await?.items.len(), 2);
        assert!(double.object("openfero.io", "v1alpha1", "operariuses", "default", "second").is_some());

        typed.delete("second", &DeleteParams::default()).await?;
        assert!(typed.get_opt("second").await?.is_none());

        // Deleting the CRD removes the type and its objects.
        crds.delete("operariuses.openfero.io", &DeleteParams::default()).await?;
        assert_eq!(api_error(typed.get("restart-pod").await)?.0, 404);

        // A CRD created through the API works the same way.
        let body: CustomResourceDefinition = serde_yaml::from_str(OPERARIUS_CRD)?;
        crds.create(&PostParams::default(), &body).await?;
        typed.create(&PostParams::default(), &new).await?;
        assert_eq!(typed.get("second").await?.spec.priority, 1);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn pod_logs_honour_tail_lines_and_containers() -> anyhow::Result<()> {
    bounded(async {
        let (double, client) = start().await?;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        jobs.create(&PostParams::default(), &job("logs")).await?;
        let pod = double
            .job_pods("default", "logs")
            .pop()
            .expect("job has a pod");
        double.set_pod_log("default", &pod, "one\ntwo\nthree\n");
        assert_eq!(
            pods.logs(&pod, &LogParams::default()).await?,
            "one\ntwo\nthree\n"
        );
        let tail = LogParams {
            tail_lines: Some(2),
            ..LogParams::default()
        };
        assert_eq!(pods.logs(&pod, &tail).await?, "two\nthree\n");
        let main = LogParams {
            container: Some("main".to_string()),
            ..LogParams::default()
        };
        double.set_container_log("default", &pod, "main", "from main\n");
        assert_eq!(pods.logs(&pod, &main).await?, "from main\n");
        let wrong = LogParams {
            container: Some("sidecar".to_string()),
            ..LogParams::default()
        };
        assert_eq!(api_error(pods.logs(&pod, &wrong).await)?.0, 400);
        assert_eq!(
            api_error(pods.logs("nope", &LogParams::default()).await)?.0,
            404
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn injected_faults_reach_the_client_and_requests_are_recorded() -> anyhow::Result<()> {
    bounded(async {
        let (double, client) = start().await?;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        double.inject(
            Fault::status(403)
                .method("POST")
                .path_contains("/configmaps")
                .times(1),
        );
        let (code, reason) = api_error(
            cms.create(&PostParams::default(), &config_map("f", &[]))
                .await,
        )?;
        assert_eq!((code, reason.as_str()), (403, "Forbidden"));
        assert!(
            cms.get_opt("f").await?.is_none(),
            "a faulted create stores nothing"
        );
        cms.create(&PostParams::default(), &config_map("f", &[]))
            .await?;
        assert_eq!(
            double.count_requests("POST", "/namespaces/default/configmaps"),
            2
        );
        let creates: Vec<_> = double
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect();
        assert_eq!(
            creates
                .iter()
                .map(|r| (r.status, r.faulted))
                .collect::<Vec<_>>(),
            [(403, true), (201, false)]
        );
        assert_eq!(
            creates[1]
                .body
                .as_ref()
                .and_then(|b| b.pointer("/metadata/name"))
                .and_then(|n| n.as_str()),
            Some("f")
        );

        for code in [409u16, 422, 500] {
            double.inject(Fault::status(code).method("PATCH").times(1));
            let result = cms
                .patch(
                    "f",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"a": "b"}})),
                )
                .await;
            assert_eq!(api_error(result)?.0, code);
        }

        double.inject(
            Fault::delay(300)
                .method("GET")
                .path_contains("/configmaps/f")
                .times(1),
        );
        let started = std::time::Instant::now();
        cms.get("f").await?;
        assert!(started.elapsed() >= Duration::from_millis(300));
        let fast = std::time::Instant::now();
        cms.get("f").await?;
        assert!(fast.elapsed() < Duration::from_millis(300));

        // Reset drops objects, faults and the request log.
        double.inject(Fault::status(500));
        double.reset()?;
        assert!(double.requests().is_empty());
        assert!(cms.get_opt("f").await?.is_none());
        eventually(
            "default namespace after reset",
            Duration::from_secs(5),
            || {
                let d = double.clone();
                async move { d.object("", "v1", "namespaces", "", "default") }
            },
        )
        .await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn finished_jobs_with_a_ttl_are_deleted_with_their_pods() -> anyhow::Result<()> {
    bounded(async {
        let (double, client) = start().await?;
        let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
        let pods: Api<Pod> = Api::namespaced(client, "default");
        let mut ttl = job("ttl");
        ttl.spec
            .as_mut()
            .expect("job spec")
            .ttl_seconds_after_finished = Some(0);
        jobs.create(&PostParams::default(), &ttl).await?;
        jobs.create(&PostParams::default(), &job("keep")).await?;
        double.complete_job("default", "ttl")?;
        double.complete_job("default", "keep")?;
        eventually("ttl job deleted", Duration::from_secs(10), || {
            let d = double.clone();
            async move {
                d.object("batch", "v1", "jobs", "default", "ttl")
                    .is_none()
                    .then_some(())
            }
        })
        .await?;
        assert!(pods
            .list(&ListParams::default().labels("job-name=ttl"))
            .await?
            .items
            .is_empty());
        assert!(
            jobs.get_opt("keep").await?.is_some(),
            "jobs without a ttl stay"
        );
        Ok(())
    })
    .await
}
