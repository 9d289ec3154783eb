//! The API verbs (create, get, list, update, patch, delete, deletecollection) with the
//! Kubernetes semantics the double reproduces: metadata defaulting, conflicts, the status
//! subresource, finalizers and owner-reference cascades.

use serde_json::{json, Map, Value};

use crate::{
    jobs,
    patch::{self, PatchKind},
    resource::{self, ResourceId, ResourceType},
    selector::{FieldSelector, LabelSelector},
    status::ApiError,
    store::{now, Store},
};

/// Which collection a request addresses.
#[derive(Clone, Debug)]
pub struct Target {
    pub rt: ResourceType,
    /// The version in the request path; responses carry it in `apiVersion`.
    pub version: String,
    /// The namespace in the path; `None` for cluster-scoped or all-namespace requests.
    pub ns: Option<String>,
}

impl Target {
    /// Stamps `apiVersion`/`kind` for the version this request was served at.
    pub fn present(&self, mut object: Value) -> Value {
        object["apiVersion"] = json!(self.rt.api_version(&self.version));
        object["kind"] = json!(self.rt.kind);
        object
    }

    fn ns_key(&self) -> String {
        self.ns.clone().unwrap_or_default()
    }
}

/// How dependents of a deleted object are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

/// Parameters of a list (or deletecollection) request.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    match &mut object["metadata"] {
        Value::Object(m) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn check_types(t: &Target, object: &Value) -> Result<(), ApiError> {
    if let Some(api_version) = object.get("apiVersion").and_then(Value::as_str) {
        let served =
            t.rt.versions
                .iter()
                .any(|v| t.rt.api_version(v) == api_version);
        if !served {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                t.rt.api_version(&t.version)
            )));
        }
    }
    if let Some(kind) = object.get("kind").and_then(Value::as_str) {
        if kind != t.rt.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                t.rt.kind
            )));
        }
    }
    Ok(())
}

fn is_crd(rt: &ResourceType) -> bool {
    rt.id() == resource::crd_id()
}

fn crd_status(crd: &Value, rt: &ResourceType) -> Value {
    let at = now();
    json!({
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({})),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": at},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": at},
        ],
        "storedVersions": [rt.versions[0]],
    })
}

/// `POST` on a collection.
pub fn create(
    store: &mut Store,
    t: &Target,
    mut body: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let rt = &t.rt;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    check_types(t, &body)?;
    let ns = if rt.namespaced {
        let in_body = meta_str(&body, "namespace").map(str::to_string);
        match (&t.ns, in_body) {
            (Some(path), Some(b)) if *path != b => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            (Some(path), _) => path.clone(),
            (None, Some(b)) => b,
            (None, None) => {
                return Err(ApiError::bad_request(
                    "a namespaced resource must be created in a namespace",
                ))
            }
        }
    } else {
        String::new()
    };
    let name = match (meta_str(&body, "name"), meta_str(&body, "generateName")) {
        (Some(name), _) => name.to_string(),
        (None, Some(prefix)) => {
            let prefix = prefix.to_string();
            loop {
                let candidate = format!("{prefix}{}", store.suffix(5));
                if store.get(&rt.id(), &ns, &candidate).is_none() {
                    break candidate;
                }
            }
        }
        (None, None) => {
            return Err(ApiError::invalid(
                rt,
                "",
                "metadata.name: Required value: name or generateName is required",
            ))
        }
    };
    if !is_dns_subdomain(&name) {
        return Err(ApiError::invalid(
            rt,
            &name,
            "metadata.name: Invalid value: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
        ));
    }
    if rt.id() == jobs::job_id() && name.len() > 63 {
        return Err(ApiError::invalid(
            rt,
            &name,
            "metadata.name: Invalid value: must be no more than 63 characters",
        ));
    }
    if store.get(&rt.id(), &ns, &name).is_some() {
        return Err(ApiError::already_exists(rt, &name));
    }
    let uid = store.uid();
    {
        let meta = metadata_mut(&mut body);
        meta.insert("name".into(), json!(name));
        if rt.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(uid));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.insert("generation".into(), json!(1));
        for gone in [
            "resourceVersion",
            "deletionTimestamp",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(gone);
        }
    }
    let mut body = t.present(body);
    if rt.status_subresource {
        if let Some(obj) = body.as_object_mut() {
            obj.remove("status");
        }
    }
    let mut registered = None;
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => body["status"] = json!({"phase": "Active"}),
        ("", "pods") => body["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"}),
        ("batch", "jobs") => jobs::default_job(&mut body),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let served =
                resource::from_crd(&body).map_err(|why| ApiError::invalid(rt, &name, &why))?;
            body["status"] = crd_status(&body, &served);
            registered = Some(served);
        }
        _ => {}
    }
    if dry_run {
        return Ok(body);
    }
    if let Some(served) = registered {
        store.registry.register(served);
    }
    let stored = store.insert(&rt.id(), body);
    if rt.id() == jobs::job_id() {
        jobs::start(store, &stored);
    }
    Ok(t.present(stored))
}

/// `GET` of one object.
pub fn get(store: &Store, t: &Target, name: &str) -> Result<Value, ApiError> {
    store
        .get(&t.rt.id(), &t.ns_key(), name)
        .cloned()
        .map(|o| t.present(o))
        .ok_or_else(|| ApiError::not_found(&t.rt, name))
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// The objects a list request selects, in `(namespace, name)` order, as of `rv` (`None`:
/// now); `None` when `rv` is older than the kept history.
fn selected(store: &Store, t: &Target, q: &ListQuery, rv: Option<u64>) -> Option<Vec<Value>> {
    let keep = |o: &Value| q.labels.matches(o) && q.fields.matches(o);
    match rv {
        None => Some(
            store
                .objects(&t.rt.id(), t.ns.as_deref())
                .filter(|o| keep(o))
                .cloned()
                .collect(),
        ),
        Some(rv) => Some(
            store
                .objects_at(&t.rt.id(), t.ns.as_deref(), rv)?
                .into_iter()
                .filter(keep)
                .collect(),
        ),
    }
}

/// `GET` of a collection (not a watch). Like the API server, every page of a paginated list
/// comes from one snapshot: the continue token carries the resourceVersion of the first page,
/// later pages show objects as they were then, and every page reports that resourceVersion
/// (a watch started from it replays everything that changed while the pages were read). A
/// token older than the kept history is answered `410 Expired`.
pub fn list(store: &Store, t: &Target, q: &ListQuery) -> Result<Value, ApiError> {
    let token = q.continue_token.as_deref().filter(|s| !s.is_empty());
    let (snapshot_rv, after) = match token {
        None => (store.current_rv(), None),
        Some(token) => {
            let bad = || ApiError::bad_request(format!("invalid continue token `{token}`"));
            let text = unhex(token).ok_or_else(bad)?;
            let mut parts = text.splitn(3, '/');
            let rv = parts
                .next()
                .and_then(|r| r.parse::<u64>().ok())
                .ok_or_else(bad)?;
            let ns = parts.next().ok_or_else(bad)?.to_string();
            let name = parts.next().ok_or_else(bad)?.to_string();
            (rv, Some((ns, name)))
        }
    };
    let mut items = match after {
        None => selected(store, t, q, None),
        Some(_) => selected(store, t, q, Some(snapshot_rv)),
    }
    .ok_or_else(|| {
        ApiError::expired(
            "The provided continue parameter is too old to display a consistent list result. \
             You can start a new list without the continue parameter.",
        )
    })?;
    if let Some(after) = &after {
        items.retain(|o| &crate::store::key_of(o) > after);
    }
    let mut metadata = json!({"resourceVersion": snapshot_rv.to_string()});
    if let Some(limit) = q.limit.filter(|l| *l > 0 && *l < items.len()) {
        let remaining = items.len() - limit;
        items.truncate(limit);
        if let Some(last) = items.last() {
            let (ns, name) = crate::store::key_of(last);
            metadata["continue"] = json!(hex(&format!("{snapshot_rv}/{ns}/{name}")));
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    let items: Vec<Value> = items.into_iter().map(|o| t.present(o)).collect();
    Ok(json!({
        "kind": format!("{}List", t.rt.kind),
        "apiVersion": t.rt.api_version(&t.version),
        "metadata": metadata,
        "items": items,
    }))
}

/// The object without its resourceVersion, to detect no-op writes.
fn without_rv(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    copy
}

/// Everything that counts for `generation`: the object without metadata and status.
fn spec_part(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        for key in ["metadata", "status", "apiVersion", "kind"] {
            map.remove(key);
        }
    }
    copy
}

/// Writes `new` over `old` (PUT and PATCH share this).
fn commit(
    store: &mut Store,
    t: &Target,
    old: Value,
    new: Value,
    status_only: bool,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let rt = &t.rt;
    let (ns, name) = crate::store::key_of(&old);
    if !new.is_object() {
        return Err(ApiError::invalid(
            rt,
            &name,
            "the object must be a JSON object",
        ));
    }
    if let (Some(want), Some(have)) = (
        meta_str(&new, "resourceVersion"),
        meta_str(&old, "resourceVersion"),
    ) {
        if want != have {
            return Err(ApiError::conflict(
                rt,
                &name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
    }
    let mut result = if status_only {
        let mut result = old.clone();
        match new.get("status") {
            Some(status) => result["status"] = status.clone(),
            None => {
                if let Some(map) = result.as_object_mut() {
                    map.remove("status");
                }
            }
        }
        result
    } else {
        let mut result = new;
        {
            let meta = metadata_mut(&mut result);
            for kept in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "generation",
                "resourceVersion",
            ] {
                match old.pointer(&format!("/metadata/{kept}")) {
                    Some(v) => meta.insert(kept.into(), v.clone()),
                    None => meta.remove(kept),
                };
            }
            meta.insert("name".into(), json!(name));
            if rt.namespaced {
                meta.insert("namespace".into(), json!(ns));
            }
        }
        if rt.status_subresource {
            match old.get("status") {
                Some(status) => result["status"] = status.clone(),
                None => {
                    if let Some(map) = result.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
        }
        if spec_part(&result) != spec_part(&old) {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            metadata_mut(&mut result).insert("generation".into(), json!(generation + 1));
        }
        result
    };
    result = t.present(result);
    if is_crd(rt) && !status_only {
        let served =
            resource::from_crd(&result).map_err(|why| ApiError::invalid(rt, &name, &why))?;
        if !dry_run {
            store.registry.register(served);
        }
    }
    if without_rv(&result) == without_rv(&t.present(old.clone())) || dry_run {
        return Ok(result);
    }
    let finalizers_gone = result
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_none_or(|f| f.is_empty());
    if meta_str(&result, "deletionTimestamp").is_some() && finalizers_gone {
        store.replace(&rt.id(), result);
        let removed = remove_now(store, &rt.id(), &ns, &name, Propagation::Background)
            .ok_or_else(|| ApiError::not_found(rt, &name))?;
        return Ok(t.present(removed));
    }
    Ok(t.present(store.replace(&rt.id(), result)))
}

/// `PUT` of an object or its status.
pub fn update(
    store: &mut Store,
    t: &Target,
    name: &str,
    body: Value,
    status_only: bool,
    dry_run: bool,
) -> Result<Value, ApiError> {
    check_types(t, &body)?;
    if let Some(in_body) = meta_str(&body, "name") {
        if in_body != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({in_body}) does not match the name on the URL ({name})"
            )));
        }
    }
    let old = store
        .get(&t.rt.id(), &t.ns_key(), name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt, name))?;
    commit(store, t, old, body, status_only, dry_run)
}

/// `PATCH` of an object or its status. Returns the object and whether it was created (apply).
pub fn patch(
    store: &mut Store,
    t: &Target,
    name: &str,
    kind: PatchKind,
    body: &[u8],
    status_only: bool,
    dry_run: bool,
) -> Result<(Value, bool), ApiError> {
    let patch: Value = match kind {
        PatchKind::Apply => serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("cannot parse apply patch: {e}")))?,
        _ => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("cannot parse patch: {e}")))?,
    };
    let Some(old) = store.get(&t.rt.id(), &t.ns_key(), name).cloned() else {
        if kind == PatchKind::Apply && !status_only {
            let mut body = patch;
            metadata_mut(&mut body).insert("name".into(), json!(name));
            return create(store, t, body, dry_run).map(|o| (o, true));
        }
        return Err(ApiError::not_found(&t.rt, name));
    };
    let mut new = old.clone();
    match kind {
        PatchKind::Json => patch::json_patch(&mut new, &patch)
            .map_err(|why| ApiError::invalid(&t.rt, name, &why))?,
        PatchKind::Merge | PatchKind::Strategic | PatchKind::Apply => {
            if kind == PatchKind::Apply {
                check_types(t, &patch)?;
            }
            patch::merge(&mut new, &patch)
        }
    }
    commit(store, t, old, new, status_only, dry_run).map(|o| (o, false))
}

/// The propagation policy in `DeleteOptions`, or the resource's default.
pub fn propagation(rt: &ResourceType, options: &Value) -> Result<Propagation, ApiError> {
    match options.get("propagationPolicy").and_then(Value::as_str) {
        Some("Orphan") => Ok(Propagation::Orphan),
        Some("Background") => Ok(Propagation::Background),
        Some("Foreground") => Ok(Propagation::Foreground),
        Some(other) => Err(ApiError::bad_request(format!(
            "unknown propagationPolicy `{other}`"
        ))),
        None if options.get("orphanDependents").and_then(Value::as_bool) == Some(true) => {
            Ok(Propagation::Orphan)
        }
        // batch/v1 Jobs orphan their pods unless told otherwise, as in Kubernetes.
        None if rt.id() == jobs::job_id() => Ok(Propagation::Orphan),
        None => Ok(Propagation::Background),
    }
}

/// `DELETE` of one object, honouring preconditions, finalizers and propagation.
pub fn delete(
    store: &mut Store,
    t: &Target,
    name: &str,
    options: &Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let rt = &t.rt;
    let ns = t.ns_key();
    let old = store
        .get(&rt.id(), &ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(rt, name))?;
    for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
        let want = options
            .pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str);
        let have = meta_str(&old, field).unwrap_or_default();
        if let Some(want) = want.filter(|w| *w != have) {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!("Precondition failed: {label} in precondition: {want}, {label} in object meta: {have}"),
            ));
        }
    }
    let policy = propagation(rt, options)?;
    if dry_run {
        return Ok(t.present(old));
    }
    let has_finalizers = old
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if meta_str(&old, "deletionTimestamp").is_some() {
            return Ok(t.present(old));
        }
        let mut marked = old;
        let meta = metadata_mut(&mut marked);
        meta.insert("deletionTimestamp".into(), json!(now()));
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        return Ok(t.present(store.replace(&rt.id(), marked)));
    }
    remove_now(store, &rt.id(), &ns, name, policy)
        .map(|o| t.present(o))
        .ok_or_else(|| ApiError::not_found(rt, name))
}

/// `DELETE` on a collection: deletes every selected object; returns them as a list.
pub fn delete_collection(
    store: &mut Store,
    t: &Target,
    q: &ListQuery,
    options: &Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let mut deleted = Vec::new();
    for object in selected(store, t, q, None).unwrap_or_default() {
        let (ns, name) = crate::store::key_of(&object);
        let scoped = Target {
            ns: t.rt.namespaced.then_some(ns),
            ..t.clone()
        };
        deleted.push(delete(store, &scoped, &name, options, dry_run)?);
    }
    Ok(json!({
        "kind": format!("{}List", t.rt.kind),
        "apiVersion": t.rt.api_version(&t.version),
        "metadata": {"resourceVersion": store.current_rv().to_string()},
        "items": deleted,
    }))
}

/// Removes an object now and applies what Kubernetes' controllers would: owner-reference
/// cascades (or orphaning), namespace contents, a CRD's objects, a pod's logs.
pub fn remove_now(
    store: &mut Store,
    id: &ResourceId,
    ns: &str,
    name: &str,
    policy: Propagation,
) -> Option<Value> {
    let removed = store.remove(id, ns, name)?;
    let uid = meta_str(&removed, "uid").unwrap_or_default().to_string();
    for (dep_id, (dep_ns, dep_name)) in store.all_keys() {
        let Some(dependent) = store.get(&dep_id, &dep_ns, &dep_name) else {
            continue;
        };
        let owned = dependent
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|refs| {
                refs.iter()
                    .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid.as_str()))
            });
        let in_namespace = id.group.is_empty() && id.plural == "namespaces" && dep_ns == name;
        let of_crd = *id == resource::crd_id()
            && removed.pointer("/spec/group").and_then(Value::as_str)
                == Some(dep_id.group.as_str())
            && removed
                .pointer("/spec/names/plural")
                .and_then(Value::as_str)
                == Some(dep_id.plural.as_str());
        if in_namespace || of_crd || (owned && policy != Propagation::Orphan) {
            remove_now(store, &dep_id, &dep_ns, &dep_name, Propagation::Background);
        } else if owned {
            let mut orphan = dependent.clone();
            if let Some(refs) = orphan
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
            }
            store.replace(&dep_id, orphan);
        }
    }
    if *id == resource::crd_id() {
        if let Some(served) = removed.pointer("/spec/group").and_then(Value::as_str).zip(
            removed
                .pointer("/spec/names/plural")
                .and_then(Value::as_str),
        ) {
            store.registry.unregister(&ResourceId {
                group: served.0.to_string(),
                plural: served.1.to_string(),
            });
        }
    }
    if id.group.is_empty() && id.plural == "pods" {
        store.logs.remove(&(ns.to_string(), name.to_string()));
    }
    Some(removed)
}
