//! The state every request handler and the library handle share.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::{
    faults::{Fault, Faults},
    jobs::{self, Outcome},
    requests::{RecordedRequest, RequestLog},
    status::ApiError,
    store::Store,
    verbs::{self, Propagation, Target},
    Config,
};

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct Inner {
    pub config: Config,
    pub store: Mutex<Store>,
    pub faults: Mutex<Faults>,
    pub requests: Mutex<RequestLog>,
    /// Cancelled (and replaced) to drop every open watch.
    watches: Mutex<CancellationToken>,
    pub shutdown: CancellationToken,
    /// CRD documents loaded at startup, re-registered on reset.
    startup_crds: Mutex<Vec<Value>>,
}

/// Cheap-to-clone handle over the shared state.
#[derive(Clone)]
pub struct Shared(Arc<Inner>);

impl std::ops::Deref for Shared {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

fn crd_target(store: &Store) -> Result<Target, ApiError> {
    let rt = store
        .registry
        .lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .cloned()
        .ok_or_else(|| ApiError::with_code(500, "the crd resource type is missing"))?;
    Ok(Target {
        rt,
        version: "v1".to_string(),
        ns: None,
    })
}

impl Shared {
    pub fn new(config: Config) -> Self {
        let mut store = Store::new(config.history_limit, config.seed);
        Self::seed_namespaces(&mut store);
        Shared(Arc::new(Inner {
            faults: Mutex::new(Faults::new(config.seed)),
            requests: Mutex::new(RequestLog::new(config.request_log_limit)),
            store: Mutex::new(store),
            watches: Mutex::new(CancellationToken::new()),
            shutdown: CancellationToken::new(),
            startup_crds: Mutex::new(Vec::new()),
            config,
        }))
    }

    fn seed_namespaces(store: &mut Store) {
        for ns in ["default", "kube-system", "kube-public"] {
            if let Ok(t) = Self::namespaces_target(store) {
                let _ = verbs::create(store, &t, json!({"metadata": {"name": ns}}), false);
            }
        }
    }

    fn namespaces_target(store: &Store) -> Result<Target, ApiError> {
        let rt = store
            .registry
            .lookup("", "v1", "namespaces")
            .cloned()
            .ok_or_else(|| ApiError::with_code(500, "the namespace resource type is missing"))?;
        Ok(Target {
            rt,
            version: "v1".to_string(),
            ns: None,
        })
    }

    /// The token a new watch stops on; replaced by [`Shared::drop_watches`].
    pub fn watch_token(&self) -> CancellationToken {
        lock(&self.watches).clone()
    }

    pub fn drop_watches(&self) {
        let old = std::mem::replace(&mut *lock(&self.watches), CancellationToken::new());
        old.cancel();
    }

    /// Forgets watch history (so resuming watches get 410 and re-list) and drops open watches.
    pub fn expire_watches(&self) {
        lock(&self.store).compact();
        self.drop_watches();
    }

    /// Creates (or, when it exists, replaces) each CRD in a multi-document YAML string.
    pub fn register_crd_yaml(&self, yaml: &str, at_startup: bool) -> Result<Vec<String>, ApiError> {
        let mut names = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let value: Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| ApiError::bad_request(format!("cannot parse crd yaml: {e}")))?;
            if value.is_null() {
                continue;
            }
            let created = self.register_crd(value.clone())?;
            if at_startup {
                lock(&self.startup_crds).push(value);
            }
            names.push(created);
        }
        Ok(names)
    }

    fn register_crd(&self, crd: Value) -> Result<String, ApiError> {
        let mut store = lock(&self.store);
        let t = crd_target(&store)?;
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let stored = match verbs::create(&mut store, &t, crd.clone(), false) {
            Err(e) if e.reason == "AlreadyExists" => {
                let mut replacement = crd;
                if let Some(meta) = replacement
                    .get_mut("metadata")
                    .and_then(Value::as_object_mut)
                {
                    meta.remove("resourceVersion");
                }
                verbs::update(&mut store, &t, &name, replacement, false, false)?
            }
            other => other?,
        };
        Ok(stored
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    pub fn finish_job(&self, ns: &str, name: &str, outcome: Outcome) -> Result<Value, ApiError> {
        let job = jobs::finish(&mut lock(&self.store), ns, name, &outcome)?;
        if let Some(ttl) = job
            .pointer("/spec/ttlSecondsAfterFinished")
            .and_then(Value::as_u64)
        {
            let me = self.clone();
            let uid = job.pointer("/metadata/uid").cloned();
            let (ns, name) = (ns.to_string(), name.to_string());
            tokio::spawn(async move {
                tokio::select! {
                    _ = me.shutdown.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_secs(ttl)) => me.expire_job(&ns, &name, uid),
                }
            });
        }
        Ok(job)
    }

    /// The TTL-after-finished controller: deletes the Job (and its pods) if it is still the same one.
    fn expire_job(&self, ns: &str, name: &str, uid: Option<Value>) {
        let mut store = lock(&self.store);
        let same = store
            .get(&jobs::job_id(), ns, name)
            .is_some_and(|j| j.pointer("/metadata/uid") == uid.as_ref());
        if same {
            verbs::remove_now(
                &mut store,
                &jobs::job_id(),
                ns,
                name,
                Propagation::Background,
            );
        }
    }

    pub fn set_pod_phase(&self, ns: &str, pod: &str, phase: &str) -> Result<Value, ApiError> {
        jobs::set_pod_phase(&mut lock(&self.store), ns, pod, phase)
    }

    pub fn set_pod_log(&self, ns: &str, pod: &str, container: Option<&str>, text: &str) {
        lock(&self.store)
            .logs
            .entry((ns.to_string(), pod.to_string()))
            .or_default()
            .insert(container.unwrap_or_default().to_string(), text.to_string());
    }

    /// Names of the pods a Job owns.
    pub fn job_pods(&self, ns: &str, job: &str) -> Vec<String> {
        let store = lock(&self.store);
        let Some(uid) = store
            .get(&jobs::job_id(), ns, job)
            .and_then(|j| j.pointer("/metadata/uid"))
            .and_then(Value::as_str)
        else {
            return Vec::new();
        };
        store
            .objects(&jobs::pod_id(), Some(ns))
            .filter(|p| {
                p.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                    })
            })
            .filter_map(|p| p.pointer("/metadata/name").and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.faults).add(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).entries()
    }

    pub fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    /// Back to a fresh double: objects, logs, faults, request log and registered CRDs are
    /// dropped (startup CRDs are registered again); open watches are dropped and must re-list.
    pub fn reset(&self) -> Result<(), ApiError> {
        {
            let mut store = lock(&self.store);
            store.clear();
            Self::seed_namespaces(&mut store);
        }
        self.clear_faults();
        self.clear_requests();
        self.drop_watches();
        let crds = lock(&self.startup_crds).clone();
        for crd in crds {
            self.register_crd(crd)?;
        }
        Ok(())
    }

    /// A stored object, by group (`""` for core), version, plural, namespace (`""` when
    /// cluster-scoped) and name.
    pub fn object(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        ns: &str,
        name: &str,
    ) -> Option<Value> {
        let store = lock(&self.store);
        let rt = store.registry.lookup(group, version, plural)?.clone();
        let t = Target {
            ns: rt.namespaced.then(|| ns.to_string()),
            rt,
            version: version.to_string(),
        };
        verbs::get(&store, &t, name).ok()
    }
}
