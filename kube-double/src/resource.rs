//! The resource types the double serves: built-ins plus CustomResourceDefinitions.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// Identifies a stored collection independently of the version it is served at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId {
    /// API group, `""` for core.
    pub group: String,
    /// Plural resource name, e.g. `jobs`.
    pub plural: String,
}

/// Everything the server needs to know about one resource type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceType {
    pub group: String,
    /// Served versions, storage/preferred version first.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    /// Has a `status` subresource: the main resource ignores status changes.
    pub status_subresource: bool,
    /// Has a `log` subresource (pods).
    pub log_subresource: bool,
}

impl ResourceType {
    fn builtin(
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
        short_names: &[&str],
        status_subresource: bool,
    ) -> Self {
        Self {
            group: group.to_string(),
            versions: vec![version.to_string()],
            plural: plural.to_string(),
            singular: kind.to_lowercase(),
            kind: kind.to_string(),
            namespaced,
            short_names: short_names.iter().map(|s| s.to_string()).collect(),
            status_subresource,
            log_subresource: false,
        }
    }

    pub fn id(&self) -> ResourceId {
        ResourceId {
            group: self.group.clone(),
            plural: self.plural.clone(),
        }
    }

    /// `apiVersion` for objects served at `version`.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// `jobs.batch`, or `pods` for core: how Kubernetes names a resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The APIResource entries for discovery (the resource and its subresources).
    pub fn discovery_entries(&self) -> Vec<Value> {
        let mut verbs = vec![
            "create", "delete", "get", "list", "patch", "update", "watch",
        ];
        if self.plural != "namespaces" {
            verbs.insert(1, "deletecollection");
        }
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": verbs,
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        let mut entries = vec![main];
        if self.status_subresource {
            entries.push(json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if self.log_subresource {
            entries.push(json!({
                "name": format!("{}/log", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get"],
            }));
        }
        entries
    }
}

/// The group/plural of CustomResourceDefinitions, which the store treats specially.
pub fn crd_id() -> ResourceId {
    ResourceId {
        group: "apiextensions.k8s.io".to_string(),
        plural: "customresourcedefinitions".to_string(),
    }
}

/// All resource types currently served.
#[derive(Clone, Debug)]
pub struct Registry {
    types: BTreeMap<ResourceId, ResourceType>,
}

impl Registry {
    /// The built-in types: core namespaces, pods, events, configmaps, secrets, services,
    /// serviceaccounts; batch jobs; events.k8s.io events; coordination leases; CRDs.
    pub fn builtin() -> Self {
        let mut pods = ResourceType::builtin("", "v1", "pods", "Pod", true, &["po"], true);
        pods.log_subresource = true;
        let types = [
            ResourceType::builtin("", "v1", "namespaces", "Namespace", false, &["ns"], true),
            pods,
            ResourceType::builtin("", "v1", "events", "Event", true, &["ev"], false),
            ResourceType::builtin("", "v1", "configmaps", "ConfigMap", true, &["cm"], false),
            ResourceType::builtin("", "v1", "secrets", "Secret", true, &[], false),
            ResourceType::builtin("", "v1", "services", "Service", true, &["svc"], true),
            ResourceType::builtin(
                "",
                "v1",
                "serviceaccounts",
                "ServiceAccount",
                true,
                &["sa"],
                false,
            ),
            ResourceType::builtin("batch", "v1", "jobs", "Job", true, &[], true),
            ResourceType::builtin(
                "events.k8s.io",
                "v1",
                "events",
                "Event",
                true,
                &["ev"],
                false,
            ),
            ResourceType::builtin(
                "coordination.k8s.io",
                "v1",
                "leases",
                "Lease",
                true,
                &[],
                false,
            ),
            ResourceType::builtin(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
                &["crd", "crds"],
                true,
            ),
        ];
        Self {
            types: types.into_iter().map(|t| (t.id(), t)).collect(),
        }
    }

    /// The type served at `group/version/plural`, if any.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        let id = ResourceId {
            group: group.to_string(),
            plural: plural.to_string(),
        };
        self.types
            .get(&id)
            .filter(|t| t.versions.iter().any(|v| v == version))
    }

    pub fn register(&mut self, rt: ResourceType) {
        self.types.insert(rt.id(), rt);
    }

    pub fn unregister(&mut self, id: &ResourceId) {
        self.types.remove(id);
    }

    /// Named groups (core excluded) with their versions, preferred first.
    pub fn groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in self.types.values().filter(|t| !t.group.is_empty()) {
            let versions = groups.entry(t.group.clone()).or_default();
            for v in &t.versions {
                if !versions.contains(v) {
                    versions.push(v.clone());
                }
            }
        }
        groups
    }

    /// The types served in `group/version`.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceType> + 'a {
        self.types
            .values()
            .filter(move |t| t.group == group && t.versions.iter().any(|v| v == version))
    }
}

/// Reads the served resource type out of a CustomResourceDefinition object (apiextensions v1).
pub fn from_crd(crd: &Value) -> Result<ResourceType, String> {
    let spec = crd.get("spec").ok_or("spec: Required value")?;
    let text = |v: Option<&Value>, field: &str| -> Result<String, String> {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("{field}: Required value"))
    };
    let group = text(spec.get("group"), "spec.group")?;
    let names = spec.get("names").ok_or("spec.names: Required value")?;
    let plural = text(names.get("plural"), "spec.names.plural")?;
    let kind = text(names.get("kind"), "spec.names.kind")?;
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let short_names = names
        .get("shortNames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let namespaced = match spec.get("scope").and_then(Value::as_str) {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        other => return Err(format!("spec.scope: Unsupported value: `{other:?}`")),
    };
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or("spec.versions: Required value")?;
    let mut served = Vec::new();
    let mut status_subresource = false;
    for v in versions {
        let name = text(v.get("name"), "spec.versions[].name")?;
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        if v.pointer("/subresources/status").is_some() {
            status_subresource = true;
        }
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            served.insert(0, name);
        } else {
            served.push(name);
        }
    }
    if served.is_empty() {
        return Err("spec.versions: no version is served".to_string());
    }
    let expected = format!("{plural}.{group}");
    let name = crd.pointer("/metadata/name").and_then(Value::as_str);
    if name != Some(expected.as_str()) {
        return Err(format!(
            "metadata.name: Invalid value: must be `{expected}`"
        ));
    }
    Ok(ResourceType {
        group,
        versions: served,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        status_subresource,
        log_subresource: false,
    })
}
