//! Who this node is and which cluster it belongs to.
//!
//! The node id is random and created on first boot; the cluster uuid is created by the node that
//! initialises the cluster and adopted by every other member from the first append (or
//! snapshot) it accepts. Both are persisted in the `raft_meta` tree. RPCs carry both, so an
//! address that now belongs to another node, or a node of another cluster, is refused.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::codec;
use crate::store::Durability;
use crate::types::NodeId;

const KEY_CLUSTER_UUID: &[u8] = b"cluster_uuid";

/// Cheap-to-clone identity handle.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    node_id: NodeId,
    cluster_name: String,
    uuid: RwLock<Option<String>>,
    meta: sled::Tree,
    durability: Durability,
    /// Peers that answered a vote request with "not a member", and when.
    not_member: Mutex<HashMap<NodeId, Instant>>,
    /// The ids in this node's current membership (voters and learners), once known.
    members: RwLock<Option<BTreeSet<NodeId>>>,
}

/// A cluster uuid other than ours.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cluster uuid `{theirs}` is not this node's cluster `{ours}`")]
pub struct UuidMismatch {
    pub ours: String,
    pub theirs: String,
}

impl Identity {
    pub(crate) fn load(
        node_id: NodeId,
        cluster_name: String,
        meta: sled::Tree,
        durability: Durability,
    ) -> crate::Result<Self> {
        let uuid = match meta.get(KEY_CLUSTER_UUID)? {
            Some(v) => Some(codec::decode::<String>(&v)?),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                node_id,
                cluster_name,
                uuid: RwLock::new(uuid),
                meta,
                durability,
                not_member: Mutex::new(HashMap::new()),
                members: RwLock::new(None),
            }),
        })
    }

    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// The configured cluster name (also the gossip cluster id).
    pub fn cluster_name(&self) -> &str {
        &self.inner.cluster_name
    }

    /// The cluster uuid, once this node belongs to an initialised cluster.
    pub fn cluster_uuid(&self) -> Option<String> {
        self.inner
            .uuid
            .read()
            .expect("identity lock poisoned")
            .clone()
    }

    /// Persist `uuid` as ours if we have none; refuse a different one.
    pub async fn adopt(&self, uuid: &str) -> Result<bool, AdoptError> {
        {
            let current = self.inner.uuid.read().expect("identity lock poisoned");
            match current.as_deref() {
                Some(ours) if ours == uuid => return Ok(false),
                Some(ours) => {
                    return Err(AdoptError::Mismatch(UuidMismatch {
                        ours: ours.to_string(),
                        theirs: uuid.to_string(),
                    }))
                }
                None => {}
            }
        }
        let bytes = codec::encode(&uuid.to_string()).map_err(|e| AdoptError::Io(e.to_string()))?;
        self.inner
            .meta
            .insert(KEY_CLUSTER_UUID, bytes)
            .map_err(|e| AdoptError::Io(e.to_string()))?;
        self.inner
            .durability
            .flush()
            .await
            .map_err(|e| AdoptError::Io(e.to_string()))?;
        let mut current = self.inner.uuid.write().expect("identity lock poisoned");
        if current.is_none() {
            *current = Some(uuid.to_string());
            tracing::info!(cluster_uuid = %uuid, "joined cluster");
        }
        Ok(true)
    }

    /// Record that `peer` refused a vote request because this node is not a member there.
    pub(crate) fn note_not_member(&self, peer: NodeId) {
        self.inner
            .not_member
            .lock()
            .expect("identity lock poisoned")
            .insert(peer, Instant::now());
    }

    /// Peers that said "not a member" within `window`: when they are a majority of the other
    /// voters, this node has been removed from the cluster.
    pub fn not_member_of(&self, window: Duration) -> BTreeSet<NodeId> {
        self.inner
            .not_member
            .lock()
            .expect("identity lock poisoned")
            .iter()
            .filter(|(_, t)| t.elapsed() <= window)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Record the current membership (kept up to date by the node façade).
    pub(crate) fn set_members(&self, members: BTreeSet<NodeId>) {
        *self.inner.members.write().expect("identity lock poisoned") = Some(members);
    }

    /// `Some(false)` when `node` is known not to be in this node's membership.
    pub(crate) fn is_member(&self, node: NodeId) -> Option<bool> {
        self.inner
            .members
            .read()
            .expect("identity lock poisoned")
            .as_ref()
            .map(|m| m.contains(&node))
    }

    /// A fresh random cluster uuid (128 bits, hex).
    pub fn new_uuid() -> String {
        format!("{:032x}", rand::random::<u128>())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AdoptError {
    #[error(transparent)]
    Mismatch(#[from] UuidMismatch),
    #[error("cannot persist the cluster uuid: {0}")]
    Io(String),
}
