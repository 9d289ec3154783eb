//! Test helpers: a double plus a kube client configured through an ordinary kubeconfig.
#![allow(dead_code)]

use std::{future::Future, time::Duration};

use kube::config::{KubeConfigOptions, Kubeconfig};
use openfero_kube_double::{Config, KubeDouble};

/// Every test body runs under this deadline.
pub const TEST_DEADLINE: Duration = Duration::from_secs(60);

pub async fn client_for(kubeconfig_yaml: &str) -> anyhow::Result<kube::Client> {
    let kubeconfig = Kubeconfig::from_yaml(kubeconfig_yaml)?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// A double with fast bookmarks and a client for it.
pub async fn start() -> anyhow::Result<(KubeDouble, kube::Client)> {
    start_with(Config {
        bookmark_interval: Duration::from_millis(100),
        ..Config::default()
    })
    .await
}

pub async fn start_with(config: Config) -> anyhow::Result<(KubeDouble, kube::Client)> {
    let double = KubeDouble::start_with(config).await?;
    let client = client_for(&double.kubeconfig_yaml()).await?;
    Ok((double, client))
}

/// Runs a test body under [`TEST_DEADLINE`].
pub async fn bounded<F: Future<Output = anyhow::Result<()>>>(body: F) -> anyhow::Result<()> {
    tokio::time::timeout(TEST_DEADLINE, body)
        .await
        .map_err(|_| anyhow::anyhow!("test exceeded {TEST_DEADLINE:?}"))?
}

/// Polls `check` until it returns `Some`, or fails after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `(code, reason)` of a kube API error.
pub fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> anyhow::Result<(u16, String)> {
    match result {
        Err(kube::Error::Api(status)) => Ok((status.code, status.reason.clone())),
        other => anyhow::bail!("expected an API error, got {other:?}"),
    }
}

/// A small Operarius-like CRD (group openfero.io, v1alpha1, namespaced, status subresource).
pub const OPERARIUS_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: operariuses.openfero.io
spec:
  group: openfero.io
  scope: Namespaced
  names:
    kind: Operarius
    listKind: OperariusList
    plural: operariuses
    singular: operarius
    shortNames: [op]
  versions:
    - name: v1alpha1
      served: true
      storage: true
      subresources:
        status: {}
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#;
