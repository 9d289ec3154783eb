//! The object store: every object of every resource type, one global resourceVersion counter,
//! a bounded history of changes for watch replay, and a broadcast of live changes.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
};

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::resource::{Registry, ResourceId};

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One committed change, as published to watchers.
#[derive(Clone, Debug)]
pub struct Change {
    pub rv: u64,
    pub resource: ResourceId,
    pub kind: ChangeKind,
    /// The object after the change (for deletions: the last state, stamped with the deletion rv).
    pub object: Value,
    /// The object before the change, for selector transitions.
    pub old: Option<Value>,
}

/// `(namespace, name)`; namespace is empty for cluster-scoped objects.
pub type ObjectKey = (String, String);

/// Log text of one pod: per container, `""` for "any container".
pub type PodLogs = BTreeMap<String, String>;

pub struct Store {
    rv: u64,
    objects: BTreeMap<ResourceId, BTreeMap<ObjectKey, Value>>,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    compacted_rv: u64,
    changes: broadcast::Sender<Arc<Change>>,
    rng: u64,
    pub registry: Registry,
    pub logs: BTreeMap<ObjectKey, PodLogs>,
}

/// RFC 3339 timestamp with second precision, as Kubernetes writes them.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Reads `metadata.namespace`/`metadata.name` of a stored object.
pub fn key_of(object: &Value) -> ObjectKey {
    let field = |f: &str| {
        object
            .pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (field("namespace"), field("name"))
}

fn set_rv(object: &mut Value, rv: u64) {
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    object["metadata"]["resourceVersion"] = json!(rv.to_string());
}

impl Store {
    pub fn new(history_limit: usize, seed: u64) -> Self {
        let (changes, _) = broadcast::channel(history_limit.max(16));
        Self {
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted_rv: 1,
            changes,
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
            registry: Registry::builtin(),
            logs: BTreeMap::new(),
        }
    }

    /// The latest committed resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// Watches from a resourceVersion older than this get `410 Expired`.
    pub fn compacted_rv(&self) -> u64 {
        self.compacted_rv
    }

    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A fresh UUID-shaped uid.
    pub fn uid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }

    /// A random suffix in the alphabet Kubernetes uses for `generateName`.
    pub fn suffix(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| {
                let i = (self.next_u64() % ALPHABET.len() as u64) as usize;
                char::from(ALPHABET[i])
            })
            .collect()
    }

    pub fn get(&self, id: &ResourceId, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(id)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
    }

    /// Objects of one resource type in `(namespace, name)` order, optionally in one namespace.
    pub fn objects<'a>(
        &'a self,
        id: &ResourceId,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .get(id)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(move |((n, _), _)| ns.is_none_or(|want| n == want))
            .map(|(_, v)| v)
    }

    /// Keys of every stored object of every type, for cascades.
    pub fn all_keys(&self) -> Vec<(ResourceId, ObjectKey)> {
        self.objects
            .iter()
            .flat_map(|(id, m)| m.keys().map(move |k| (id.clone(), k.clone())))
            .collect()
    }

    fn publish(&mut self, change: Change) {
        let change = Arc::new(change);
        self.history.push_back(change.clone());
        while self.history.len() > self.history_limit {
            if let Some(evicted) = self.history.pop_front() {
                self.compacted_rv = evicted.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.changes.send(change);
    }

    /// Stores a new object under a fresh resourceVersion and publishes ADDED.
    pub fn insert(&mut self, id: &ResourceId, object: Value) -> Value {
        self.write(id, object, ChangeKind::Added)
    }

    /// Replaces an existing object under a fresh resourceVersion and publishes MODIFIED.
    pub fn replace(&mut self, id: &ResourceId, object: Value) -> Value {
        self.write(id, object, ChangeKind::Modified)
    }

    fn write(&mut self, id: &ResourceId, mut object: Value, kind: ChangeKind) -> Value {
        self.rv += 1;
        set_rv(&mut object, self.rv);
        let key = key_of(&object);
        let old = self
            .objects
            .entry(id.clone())
            .or_default()
            .insert(key, object.clone());
        self.publish(Change {
            rv: self.rv,
            resource: id.clone(),
            kind,
            object: object.clone(),
            old,
        });
        object
    }

    /// Removes an object and publishes DELETED, stamped with the deletion's resourceVersion.
    pub fn remove(&mut self, id: &ResourceId, ns: &str, name: &str) -> Option<Value> {
        let old = self
            .objects
            .get_mut(id)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        let mut object = old.clone();
        set_rv(&mut object, self.rv);
        self.publish(Change {
            rv: self.rv,
            resource: id.clone(),
            kind: ChangeKind::Deleted,
            object: object.clone(),
            old: Some(old),
        });
        Some(object)
    }

    /// The objects of `id` (in `ns`, or all) as they were at resourceVersion `rv`, in key
    /// order: the current objects with every later change undone. `None` when the history no
    /// longer reaches back to `rv` (compacted), as the API server answers `410 Expired` then.
    pub fn objects_at(&self, id: &ResourceId, ns: Option<&str>, rv: u64) -> Option<Vec<Value>> {
        if rv < self.compacted_rv {
            return None;
        }
        let mut at: BTreeMap<ObjectKey, Value> = self
            .objects
            .get(id)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|((n, _), _)| ns.is_none_or(|want| n == want))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for c in self.history.iter().rev().take_while(|c| c.rv > rv) {
            if &c.resource != id {
                continue;
            }
            let key = key_of(&c.object);
            if ns.is_some_and(|want| key.0 != want) {
                continue;
            }
            match &c.old {
                Some(old) => at.insert(key, old.clone()),
                None => at.remove(&key),
            };
        }
        Some(at.into_values().collect())
    }

    /// Changes committed after `rv`, oldest first.
    pub fn history_after(&self, rv: u64) -> Vec<Arc<Change>> {
        self.history.iter().filter(|c| c.rv > rv).cloned().collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// Forgets the change history and advances the resourceVersion, so that any watch resuming
    /// from an earlier resourceVersion gets `410 Expired`.
    pub fn compact(&mut self) {
        self.rv += 1;
        self.compacted_rv = self.rv;
        self.history.clear();
    }

    /// Drops every object and log without publishing (watchers are expected to be dropped and
    /// to re-list), compacts history, and restores the built-in registry.
    pub fn clear(&mut self) {
        self.objects.clear();
        self.logs.clear();
        self.registry = Registry::builtin();
        self.compact();
    }
}
