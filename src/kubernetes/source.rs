//! Operarios from the Kubernetes API: a watch per namespace scope over `Operarius` objects,
//! read as dynamic objects so that one malformed object never stops the others. Every change
//! rebuilds the catalog; invalid objects are logged and reported as `InvalidOperarius` Events.

use std::collections::{BTreeMap, HashSet};

use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{Namespaces, Reporter};
use crate::catalog::{Catalog, Rails};
use crate::operarios::{BrokenOperarius, GuardsDef, Operarius, Problem};
use crate::replica::Replica;

/// Watch Operarius objects until `stop`, keeping `catalog` equal to what the API server holds.
pub async fn watch_operarios(
    client: Client,
    namespaces: Namespaces,
    catalog: Catalog,
    replica: Replica,
    reporter: Reporter,
    stop: CancellationToken,
) {
    let resource = ApiResource::erase::<Operarius>(&());
    let changed = std::sync::Arc::new(Notify::new());
    let mut stores: Vec<Store<DynamicObject>> = Vec::new();
    for ns in namespaces.scopes() {
        let api: Api<DynamicObject> = match ns.as_str() {
            "" => Api::all_with(client.clone(), &resource),
            ns => Api::namespaced_with(client.clone(), ns, &resource),
        };
        let writer = reflector::store::Writer::new(resource.clone());
        let reader = writer.as_reader();
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default()).default_backoff(),
        )
        .touched_objects();
        let counted = catalog.clone();
        super::drive(
            stream,
            changed.clone(),
            stop.clone(),
            "operarios",
            move || counted.sync_failed(),
        );
        stores.push(reader);
    }
    // Invalid objects already reported, by (namespace/name, resourceVersion).
    let mut reported: HashSet<(String, String)> = HashSet::new();
    loop {
        let notified = changed.notified();
        rebuild(&stores, &catalog, &replica, &reporter, &mut reported).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = notified => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
        }
        // Let a burst of changes settle into one rebuild.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn rebuild(
    stores: &[Store<DynamicObject>],
    catalog: &Catalog,
    replica: &Replica,
    reporter: &Reporter,
    reported: &mut HashSet<(String, String)>,
) {
    let mut defs = BTreeMap::new();
    let mut broken = BTreeMap::new();
    let mut guards = BTreeMap::new();
    let mut followups = BTreeMap::new();
    let mut problems = Vec::new();
    let leader = replica.leader_id().is_some();
    for store in stores {
        for obj in store.state() {
            let namespace = obj.metadata.namespace.clone().unwrap_or_default();
            let name = obj.metadata.name.clone().unwrap_or_default();
            let key = format!("{namespace}/{name}");
            let value = serde_json::to_value(obj.as_ref()).map_err(|e| vec![e.to_string()]);
            let parsed = value.clone().and_then(|v| {
                serde_json::from_value::<Operarius>(v)
                    .map_err(|e| vec![e.to_string()])
                    .and_then(|op| {
                        let def = op.to_def(&namespace)?;
                        Ok((
                            def,
                            op.guards().unwrap_or_default(),
                            op.follow_up().ok().flatten(),
                        ))
                    })
            });
            match parsed {
                Ok((def, g, f)) => {
                    if g != GuardsDef::default() {
                        guards.insert(def.key(), g);
                    }
                    if let Some(f) = f {
                        followups.insert(def.key(), f);
                    }
                    defs.insert(def.key(), def);
                }
                Err(messages) => {
                    let message = messages.join("; ");
                    let version = obj.metadata.resource_version.clone().unwrap_or_default();
                    if reported.insert((key.clone(), version)) {
                        warn!(operarius = %key, problem = %message, "invalid operarius");
                        if leader {
                            reporter
                                .event(&namespace, &name, true, "InvalidOperarius", message.clone())
                                .await;
                        }
                    }
                    // It keeps claiming its alerts, to fail them: no other operarius may run
                    // in place of the one ranked first.
                    if let Some(b) = value
                        .ok()
                        .and_then(|v| BrokenOperarius::claim_of(&v, &namespace, messages))
                    {
                        broken.insert(b.key(), b);
                    }
                    problems.push(Problem {
                        file: format!("operarius {key}").into(),
                        document: 0,
                        name: Some(name),
                        message,
                    });
                }
            }
        }
    }
    if catalog.replace(
        defs.into_values().collect(),
        broken.into_values().collect(),
        Rails { guards, followups },
        problems,
    ) {
        info!("operarius catalog changed in kubernetes");
        if let Err(e) = catalog.ensure_replicated(replica).await {
            warn!(error = %e, "operarius catalog not replicated yet");
        }
    }
}
