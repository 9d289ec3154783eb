//! sled-backed Raft storage: one sled database per node, with trees
//! `raft_meta` (node id, vote, committed, last purged), `raft_log` (big-endian index → entry),
//! `sm` (application keys and the applied marker, written atomically) and `snapshot` (a pointer
//! to the current snapshot file in `raft-snapshots/`).

mod log;
mod sm;
mod snapshot;
#[cfg(feature = "chaos-faults")]
mod sync_fault;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use log::LogStore;
pub use sm::SmStore;
pub(crate) use sm::SnapshotBody;

use crate::error::Result;
use crate::kv::KvReader;
use crate::state_machine::StateMachine;
use crate::types::NodeId;

pub(crate) const TREE_META: &str = "raft_meta";
pub(crate) const TREE_LOG: &str = "raft_log";
pub(crate) const TREE_SM: &str = "sm";
pub(crate) const TREE_SNAPSHOT: &str = "snapshot";
/// The folder of snapshot files inside a node's data directory (not sled's own `snap.*` files).
const SNAPSHOT_DIR: &str = "raft-snapshots";

const KEY_NODE_ID: &[u8] = b"node_id";
/// sled's page cache unless configured. The alert history lives on disk; this bounds what stays
/// in memory (sled's own accounting: RSS grows past it, see ARCHITECTURE.md).
pub(crate) const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// An open node database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    dir: PathBuf,
    durability: Durability,
}

/// Makes sled's writes durable on the device.
///
/// On Linux sled 0.34 makes a flushed log buffer stable with `sync_file_range`, which waits for
/// the write-out but neither flushes the device's volatile write cache nor file metadata. After
/// each sled flush we therefore `fdatasync` sled's data file through our own handle, so an
/// acknowledged entry survives power loss too, not only a process or kernel crash.
#[derive(Clone)]
pub(crate) struct Durability {
    db: sled::Db,
    file: Option<std::sync::Arc<std::fs::File>>,
    #[cfg(feature = "chaos-faults")]
    fault: sync_fault::SyncFault,
}

impl Durability {
    /// Flush sled's buffers, then the device cache. Every durability flush of the store (log,
    /// vote, state machine, snapshots, identity) goes through here or [`Self::flush_blocking`].
    pub(crate) async fn flush(&self) -> std::io::Result<()> {
        #[cfg(feature = "chaos-faults")]
        if let Some(injected) = self.fault.intercept() {
            return injected;
        }
        self.db.flush_async().await.map_err(std::io::Error::other)?;
        if let Some(file) = self.file.clone() {
            tokio::task::spawn_blocking(move || file.sync_data())
                .await
                .map_err(std::io::Error::other)??;
        }
        Ok(())
    }

    /// The same, blocking the calling thread (opening a store).
    pub(crate) fn flush_blocking(&self) -> std::io::Result<()> {
        #[cfg(feature = "chaos-faults")]
        if let Some(injected) = self.fault.intercept() {
            return injected;
        }
        self.db.flush().map_err(std::io::Error::other)?;
        if let Some(file) = &self.file {
            file.sync_data()?;
        }
        Ok(())
    }
}

impl Store {
    /// Open (or create) the database in `dir` with the default page cache.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Open (or create) the database in `dir` with a page cache of `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(cache_bytes)
            .open()?;
        // sled keeps its pages in `<dir>/db`.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join("db"))
            .ok()
            .map(std::sync::Arc::new);
        let durability = Durability {
            db: db.clone(),
            file,
            #[cfg(feature = "chaos-faults")]
            fault: sync_fault::SyncFault::from_env(),
        };
        Ok(Self {
            db,
            dir: dir.to_path_buf(),
            durability,
        })
    }

    /// This node's Raft id: read from the database, or chosen at random (non-zero) and stored
    /// durably on first boot. A wiped data directory therefore means a new node identity.
    pub fn node_id_or_create(&self) -> Result<NodeId> {
        let meta = self.db.open_tree(TREE_META)?;
        if let Some(v) = meta.get(KEY_NODE_ID)? {
            let id: NodeId = crate::codec::decode(&v)?;
            return Ok(id);
        }
        let id = loop {
            let id: NodeId = rand::random();
            if id != 0 {
                break id;
            }
        };
        meta.insert(KEY_NODE_ID, crate::codec::encode(&id)?)?;
        self.durability
            .flush_blocking()
            .map_err(|e| crate::Error::Raft(format!("sync node id: {e}")))?;
        Ok(id)
    }

    /// The store's flushes fail (or have their failure ignored) while `trigger` exists, from
    /// the next [`Store::log_store`] / [`Store::state_machine`] on.
    #[cfg(all(test, feature = "chaos-faults"))]
    pub(crate) fn fail_sync_while(&mut self, trigger: PathBuf, ignore: bool) {
        self.durability.fault = sync_fault::SyncFault::new(Some(trigger), ignore);
    }

    pub fn log_store(&self) -> Result<LogStore> {
        LogStore::new(&self.db, self.durability.clone())
    }

    pub fn state_machine<A: StateMachine>(&self, app: Arc<A>) -> Result<SmStore<A>> {
        SmStore::new(
            &self.db,
            self.durability.clone(),
            self.dir.join(SNAPSHOT_DIR),
            app,
        )
    }

    /// This node's identity (node id and cluster uuid) for the cluster named `cluster_name`.
    pub fn identity(&self, cluster_name: &str) -> Result<crate::identity::Identity> {
        let id = self.node_id_or_create()?;
        crate::identity::Identity::load(
            id,
            cluster_name.to_string(),
            self.db.open_tree(TREE_META)?,
            self.durability.clone(),
        )
    }

    /// Read-only view of the application state.
    pub fn reader(&self) -> Result<KvReader> {
        Ok(KvReader::new(self.db.open_tree(TREE_SM)?))
    }

    /// Flush everything to disk (used on graceful shutdown).
    pub async fn flush(&self) -> Result<()> {
        self.durability
            .flush()
            .await
            .map_err(|e| crate::Error::Raft(format!("flush: {e}")))
    }
}

/// Open the store and build both halves of openraft's storage.
pub fn open_store<A: StateMachine>(
    dir: &Path,
    app: Arc<A>,
) -> Result<(Store, LogStore, SmStore<A>)> {
    let store = Store::open(dir)?;
    let log = store.log_store()?;
    let sm = store.state_machine(app)?;
    Ok((store, log, sm))
}
