//! The state machine store: application keys plus the applied marker in the `sm` tree; the
//! current snapshot is a file (see [`super::snapshot`]) that the `snapshot` tree points at.

use std::io::Seek;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder,
    Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::snapshot::{self as files, PairReader, SnapshotDir};
use super::{Durability, TREE_SM, TREE_SNAPSHOT};
use crate::batch::{self, EntryForm};
use crate::codec;
use crate::kv::{KvTxn, APP, META};
use crate::state_machine::{ApplyContext, StateMachine};
use crate::types::{NodeId, NodeInfo, Payload, TypeConfig};

type StorageResult<T> = Result<T, StorageError<NodeId>>;
/// The applied marker and the membership it carries.
type Applied = (Option<LogId<NodeId>>, StoredMembership<NodeId, NodeInfo>);
type Meta = SnapshotMeta<NodeId, NodeInfo>;

const KEY_APPLIED: &[u8] = &[META, b'a'];
const KEY_MEMBERSHIP: &[u8] = &[META, b'm'];
/// Set while a received snapshot is being applied: its meta and file name.
pub(super) const KEY_INSTALLING: &[u8] = &[META, b'i'];
const SNAP_META: &[u8] = b"meta";
const SNAP_FILE: &[u8] = b"file";
/// Where releases before streamed snapshots kept the whole snapshot (moved to a file on open).
const SNAP_DATA: &[u8] = b"data";
/// Keys removed, and bytes inserted, per sled batch while a snapshot is installed.
const INSTALL_REMOVE_CHUNK: usize = 10_000;
const INSTALL_INSERT_BYTES: usize = 4 << 20;

fn io_err(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: impl std::error::Error + 'static,
) -> StorageError<NodeId> {
    StorageIOError::new(subject, verb, openraft::AnyError::new(&e)).into()
}

fn sm_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    io_err(ErrorSubject::StateMachine, verb, e)
}

fn snap_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    io_err(ErrorSubject::Snapshot(None), verb, e)
}

/// What a snapshot's bytes hold: every application key/value pair at its last log id. Files are
/// written and read pair by pair ([`super::snapshot`]); this is their bincode form as one value.
#[derive(Serialize, Deserialize)]
pub(crate) struct SnapshotBody {
    pub(crate) kv: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The snapshot folder and the pointer to the current snapshot, shared by the store and the
/// builders it hands out (a build finishes on its own task, possibly after an install).
#[derive(Clone)]
pub(crate) struct SnapshotFiles {
    dir: SnapshotDir,
    tree: sled::Tree,
    /// Serialises "compare with the current pointer, switch it, remove the other files".
    switch: Arc<Mutex<()>>,
}

impl SnapshotFiles {
    /// The current snapshot's meta and file name.
    fn current(&self) -> StorageResult<Option<(Meta, String)>> {
        let read = |key| self.tree.get(key).map_err(|e| snap_err(ErrorVerb::Read, e));
        match (read(SNAP_META)?, read(SNAP_FILE)?) {
            (Some(meta), Some(name)) => {
                let meta: Meta = codec::decode(&meta).map_err(|e| snap_err(ErrorVerb::Read, e))?;
                let name =
                    String::from_utf8(name.to_vec()).map_err(|e| snap_err(ErrorVerb::Read, e))?;
                Ok(Some((meta, name)))
            }
            _ => Ok(None),
        }
    }

    /// Point at `name` unless the current snapshot is newer; remove every other published file.
    /// Returns whether `name` is now current. Not durable until the next flush.
    pub(super) fn set_current(&self, meta: &Meta, name: &str) -> StorageResult<bool> {
        let _switching = self.switch.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.current()?;
        let newer = match &current {
            Some((cur, _)) => meta.last_log_id >= cur.last_log_id,
            None => true,
        };
        if newer {
            let mut batch = sled::Batch::default();
            batch.insert(
                SNAP_META,
                codec::encode(meta).map_err(|e| snap_err(ErrorVerb::Write, e))?,
            );
            batch.insert(SNAP_FILE, name.as_bytes());
            batch.remove(SNAP_DATA);
            self.tree
                .apply_batch(batch)
                .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        }
        let keep = if newer {
            name.to_string()
        } else {
            current.map(|(_, n)| n).unwrap_or_default()
        };
        self.dir
            .remove_all_but(&keep)
            .map_err(|e| snap_err(ErrorVerb::Delete, e))?;
        Ok(newer)
    }

    /// Move a snapshot an earlier release stored as one sled value into a file.
    fn migrate_inline(&self) -> crate::Result<()> {
        let (Some(meta), Some(data)) = (self.tree.get(SNAP_META)?, self.tree.get(SNAP_DATA)?)
        else {
            return Ok(());
        };
        if self.tree.get(SNAP_FILE)?.is_some() {
            self.tree.remove(SNAP_DATA)?;
            return Ok(());
        }
        let meta: Meta = codec::decode(&meta)?;
        let io = |e: std::io::Error| crate::Error::Raft(format!("snapshot file: {e}"));
        let (path, mut file) = self.dir.create_building(u64::MAX).map_err(io)?;
        std::io::Write::write_all(&mut file, &data).map_err(io)?;
        drop(file);
        let name = SnapshotDir::file_name(&meta.snapshot_id);
        self.dir.publish(&path, &name).map_err(io)?;
        self.set_current(&meta, &name)
            .map_err(|e| crate::Error::Raft(e.to_string()))?;
        Ok(())
    }
}

/// Whether the open `file` is the file at `path`.
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Read a received snapshot through: well-formed, and only application keys (a snapshot never
/// carries the store's own markers).
fn check_app_pairs(file: std::fs::File) -> StorageResult<u64> {
    files::check(file, |k| k.first() == Some(&APP)).map_err(|e| snap_err(ErrorVerb::Read, e))
}

/// openraft's state machine over sled, applying commands through the application's
/// [`StateMachine`].
pub struct SmStore<A: StateMachine> {
    durability: Durability,
    pub(super) sm: sled::Tree,
    pub(super) files: SnapshotFiles,
    app: Arc<A>,
    snapshot_seq: Arc<AtomicU64>,
    /// The file handed out by the last `begin_receiving_snapshot`.
    receiving: Option<PathBuf>,
}

impl<A: StateMachine> SmStore<A> {
    pub(crate) fn new(
        db: &sled::Db,
        durability: Durability,
        snapshot_dir: PathBuf,
        app: Arc<A>,
    ) -> crate::Result<Self> {
        let dir = SnapshotDir::open(snapshot_dir)
            .map_err(|e| crate::Error::Raft(format!("snapshot folder: {e}")))?;
        let files = SnapshotFiles {
            dir,
            tree: db.open_tree(TREE_SNAPSHOT)?,
            switch: Arc::new(Mutex::new(())),
        };
        let store = Self {
            durability,
            sm: db.open_tree(TREE_SM)?,
            files,
            app,
            snapshot_seq: Arc::new(AtomicU64::new(0)),
            receiving: None,
        };
        store.files.migrate_inline()?;
        store.recover_install()?;
        store
            .durability
            .flush_blocking()
            .map_err(|e| crate::Error::Raft(format!("flush: {e}")))?;
        Ok(store)
    }

    /// Finish an install that a crash interrupted: the marker names the (durable) file.
    fn recover_install(&self) -> crate::Result<()> {
        let Some(marker) = self.sm.get(KEY_INSTALLING)? else {
            return Ok(());
        };
        let (meta, name): (Meta, String) = codec::decode(&marker)?;
        tracing::warn!(snapshot = %meta.snapshot_id, "finishing a snapshot install a restart interrupted");
        self.apply_install(&meta, &name)
            .map_err(|e| crate::Error::Raft(format!("finish snapshot install: {e}")))
    }

    /// Replace the application state with the pairs of published snapshot `name`, in chunks,
    /// then set the applied marker and membership and clear the install marker in one batch.
    fn apply_install(&self, meta: &Meta, name: &str) -> StorageResult<()> {
        let read = |e: std::io::Error| snap_err(ErrorVerb::Read, e);
        let write = |e: sled::Error| sm_err(ErrorVerb::Write, e);
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for item in self.sm.scan_prefix([APP]).take(INSTALL_REMOVE_CHUNK) {
                let (k, _) = item.map_err(|e| sm_err(ErrorVerb::Read, e))?;
                batch.remove(k);
                n += 1;
            }
            if n == 0 {
                break;
            }
            self.sm.apply_batch(batch).map_err(write)?;
        }
        let file = std::fs::File::open(self.files.dir.path(name)).map_err(read)?;
        let mut batch = sled::Batch::default();
        let mut bytes = 0;
        for pair in PairReader::new(file).map_err(read)? {
            let (k, v) = pair.map_err(read)?;
            bytes += k.len() + v.len();
            batch.insert(k, v);
            if bytes >= INSTALL_INSERT_BYTES {
                self.sm
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(write)?;
                bytes = 0;
            }
        }
        let encode = |e| sm_err(ErrorVerb::Write, e);
        batch.insert(
            KEY_APPLIED,
            codec::encode(&meta.last_log_id).map_err(encode)?,
        );
        batch.insert(
            KEY_MEMBERSHIP,
            codec::encode(&meta.last_membership).map_err(encode)?,
        );
        batch.remove(KEY_INSTALLING);
        self.sm.apply_batch(batch).map_err(write)
    }

    /// Apply one encoded command and encode its response.
    fn apply_one(
        &self,
        txn: &mut KvTxn<'_>,
        log_id: LogId<NodeId>,
        bytes: &[u8],
    ) -> StorageResult<Vec<u8>> {
        let ctx = ApplyContext {
            index: log_id.index,
            term: log_id.leader_id.term,
            leader: log_id.leader_id.node_id,
        };
        let command: A::Command = codec::decode(bytes)
            .map_err(|e| io_err(ErrorSubject::Apply(log_id), ErrorVerb::Read, e))?;
        let response = self
            .app
            .apply(txn, ctx, command)
            .map_err(|e| io_err(ErrorSubject::Apply(log_id), ErrorVerb::Write, e))?;
        codec::encode(&response)
            .map_err(|e| io_err(ErrorSubject::Apply(log_id), ErrorVerb::Write, e))
    }

    fn read_applied(&self) -> StorageResult<Applied> {
        let applied = match self
            .sm
            .get(KEY_APPLIED)
            .map_err(|e| sm_err(ErrorVerb::Read, e))?
        {
            Some(v) => codec::decode(&v).map_err(|e| sm_err(ErrorVerb::Read, e))?,
            None => None,
        };
        let membership = match self
            .sm
            .get(KEY_MEMBERSHIP)
            .map_err(|e| sm_err(ErrorVerb::Read, e))?
        {
            Some(v) => codec::decode(&v).map_err(|e| sm_err(ErrorVerb::Read, e))?,
            None => StoredMembership::default(),
        };
        Ok((applied, membership))
    }

    /// Stream the application state into a new file (in order with apply).
    fn write_building(&self, seq: u64) -> StorageResult<Built> {
        let (applied, membership) = self.read_applied()?;
        let (path, file) = self
            .files
            .dir
            .create_building(seq)
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let pairs = self
            .sm
            .scan_prefix([APP])
            .map(|item| item.map_err(std::io::Error::other));
        files::write_pairs(file, pairs).map_err(|e| snap_err(ErrorVerb::Write, e))?;
        Ok(Built {
            path,
            applied,
            membership,
        })
    }
}

impl<A: StateMachine> RaftStateMachine<TypeConfig> for SmStore<A> {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> StorageResult<Applied> {
        self.read_applied()
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<Payload>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut txn = KvTxn::new(&self.sm);
        let mut responses = Vec::new();
        let mut last_applied = None;
        let mut membership = None;
        for entry in entries {
            let log_id = entry.log_id;
            last_applied = Some(log_id);
            match entry.payload {
                EntryPayload::Blank => responses.push(Payload::default()),
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembership::new(Some(log_id), m));
                    responses.push(Payload::default());
                }
                EntryPayload::Normal(Payload(bytes)) => {
                    // A command this binary cannot decode must stop the node: skipping it would
                    // make this replica diverge from the others.
                    let form = batch::decode_entry(&bytes)
                        .map_err(|e| io_err(ErrorSubject::Apply(log_id), ErrorVerb::Read, e))?;
                    let response = match form {
                        EntryForm::Single(command) => self.apply_one(&mut txn, log_id, command)?,
                        EntryForm::Batch(commands) => {
                            // In order, in this apply's one sled batch: each command sees the
                            // writes of the ones before it.
                            let mut each = Vec::with_capacity(commands.len());
                            for command in &commands {
                                each.push(self.apply_one(&mut txn, log_id, command)?);
                            }
                            batch::encode_responses(&each).map_err(|e| {
                                io_err(ErrorSubject::Apply(log_id), ErrorVerb::Write, e)
                            })?
                        }
                    };
                    responses.push(Payload(response));
                }
            }
        }
        let mut batch = sled::Batch::default();
        txn.into_batch(&mut batch);
        if let Some(applied) = last_applied {
            let v = codec::encode(&Some(applied)).map_err(|e| sm_err(ErrorVerb::Write, e))?;
            batch.insert(KEY_APPLIED, v);
        }
        if let Some(m) = membership {
            let v = codec::encode(&m).map_err(|e| sm_err(ErrorVerb::Write, e))?;
            batch.insert(KEY_MEMBERSHIP, v);
        }
        // One atomic batch: application writes and the applied marker land together.
        self.sm
            .apply_batch(batch)
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Runs in order with apply, so the file written here is consistent with the applied
        // marker: it is streamed from the tree, never held in memory.
        let seq = self.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let written = self.write_building(seq);
        SnapshotBuilder {
            durability: self.durability.clone(),
            files: self.files.clone(),
            seq,
            written: Some(written),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<tokio::fs::File>> {
        let seq = self.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let (path, file) = self
            .files
            .dir
            .create_receiving(seq)
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        self.receiving = Some(path);
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, NodeInfo>,
        snapshot: Box<tokio::fs::File>,
    ) -> StorageResult<()> {
        let file = snapshot.into_std().await;
        let err = |e: std::io::Error| snap_err(ErrorVerb::Read, e);
        let received = self.receiving.take();
        // Read it through before anything changes: a bad file is refused with the state intact.
        if let Err(e) = check_app_pairs(file.try_clone().map_err(err)?) {
            if let Some(path) = received.filter(|p| same_file(&file, p)) {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
        let from = match received {
            Some(path) if same_file(&file, &path) => path,
            // Not the file this store handed out: copy it into one of ours.
            _ => {
                let seq = self.snapshot_seq.fetch_add(1, Ordering::Relaxed);
                let (path, mut copy) = self.files.dir.create_receiving(seq).map_err(err)?;
                let mut src = file.try_clone().map_err(err)?;
                src.seek(std::io::SeekFrom::Start(0)).map_err(err)?;
                std::io::copy(&mut src, &mut copy).map_err(err)?;
                path
            }
        };
        drop(file);
        let name = SnapshotDir::file_name(&meta.snapshot_id);
        self.files
            .dir
            .publish(&from, &name)
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        // The pointer and the marker first: a crash from here on finishes the install at the
        // next start (`recover_install`) instead of leaving half the state applied.
        self.files.set_current(meta, &name)?;
        let marker = codec::encode(&(meta, &name)).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        self.sm
            .insert(KEY_INSTALLING, marker)
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        self.durability
            .flush()
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        self.apply_install(meta, &name)?;
        self.durability
            .flush()
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let Some((meta, name)) = self.files.current()? else {
            return Ok(None);
        };
        let file = tokio::fs::File::open(self.files.dir.path(&name))
            .await
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(file),
        }))
    }
}

/// A snapshot file streamed in `get_snapshot_builder`, not yet published.
struct Built {
    path: PathBuf,
    applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, NodeInfo>,
}

/// Publishes the file written in `get_snapshot_builder`.
pub struct SnapshotBuilder {
    durability: Durability,
    files: SnapshotFiles,
    seq: u64,
    written: Option<StorageResult<Built>>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let built = self.written.take().unwrap_or_else(|| {
            Err(snap_err(
                ErrorVerb::Write,
                std::io::Error::other("snapshot builder used twice"),
            ))
        })?;
        let snapshot_id = match built.applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, self.seq),
            None => format!("0-0-{}", self.seq),
        };
        let meta = SnapshotMeta {
            last_log_id: built.applied,
            last_membership: built.membership,
            snapshot_id,
        };
        let name = SnapshotDir::file_name(&meta.snapshot_id);
        let dir = self.files.dir.clone();
        let from = built.path;
        let published = {
            let name = name.clone();
            tokio::task::spawn_blocking(move || dir.publish(&from, &name))
                .await
                .map_err(|e| snap_err(ErrorVerb::Write, std::io::Error::other(e)))?
                .map_err(|e| snap_err(ErrorVerb::Write, e))?
        };
        // Opened before the pointer moves: a newer snapshot may remove the file meanwhile.
        let file = tokio::fs::File::open(&published)
            .await
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        self.files.set_current(&meta, &name)?;
        // The log may be purged behind this snapshot, so it (and the state it covers) must be
        // durable first.
        self.durability
            .flush()
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(file),
        })
    }
}
