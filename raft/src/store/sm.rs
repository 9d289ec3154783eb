//! The state machine store: application keys plus the applied marker in the `sm` tree, and the
//! current snapshot in the `snapshot` tree.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder,
    Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::{Durability, TREE_SM, TREE_SNAPSHOT};
use crate::batch::{self, EntryForm};
use crate::codec;
use crate::kv::{KvTxn, APP, META};
use crate::state_machine::{ApplyContext, StateMachine};
use crate::types::{NodeId, NodeInfo, Payload, TypeConfig};

type StorageResult<T> = Result<T, StorageError<NodeId>>;
/// The applied marker and the membership it carries.
type Applied = (Option<LogId<NodeId>>, StoredMembership<NodeId, NodeInfo>);

const KEY_APPLIED: &[u8] = &[META, b'a'];
const KEY_MEMBERSHIP: &[u8] = &[META, b'm'];
const SNAP_META: &[u8] = b"meta";
const SNAP_DATA: &[u8] = b"data";

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

/// What a snapshot's bytes hold: every application key/value pair at its last log id.
#[derive(Serialize, Deserialize)]
pub(crate) struct SnapshotBody {
    pub(crate) kv: Vec<(Vec<u8>, Vec<u8>)>,
}

/// openraft's state machine over sled, applying commands through the application's
/// [`StateMachine`].
pub struct SmStore<A: StateMachine> {
    durability: Durability,
    sm: sled::Tree,
    snapshots: sled::Tree,
    app: Arc<A>,
    snapshot_seq: Arc<AtomicU64>,
}

impl<A: StateMachine> SmStore<A> {
    pub(crate) fn new(db: &sled::Db, durability: Durability, app: Arc<A>) -> crate::Result<Self> {
        Ok(Self {
            durability,
            sm: db.open_tree(TREE_SM)?,
            snapshots: db.open_tree(TREE_SNAPSHOT)?,
            app,
            snapshot_seq: Arc::new(AtomicU64::new(0)),
        })
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
        // Runs in order with apply, so this copy is consistent with the applied marker.
        let copy = (|| -> StorageResult<_> {
            let (applied, membership) = self.read_applied()?;
            let mut kv = Vec::new();
            for item in self.sm.scan_prefix([APP]) {
                let (k, v) = item.map_err(|e| sm_err(ErrorVerb::Read, e))?;
                kv.push((k.to_vec(), v.to_vec()));
            }
            Ok((applied, membership, kv))
        })();
        SnapshotBuilder {
            durability: self.durability.clone(),
            snapshots: self.snapshots.clone(),
            seq: self.snapshot_seq.fetch_add(1, Ordering::Relaxed),
            copy,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, NodeInfo>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let bytes = snapshot.into_inner();
        let body: SnapshotBody = codec::decode(&bytes).map_err(|e| snap_err(ErrorVerb::Read, e))?;
        let mut batch = sled::Batch::default();
        for item in self.sm.iter() {
            let (k, _) = item.map_err(|e| sm_err(ErrorVerb::Read, e))?;
            batch.remove(k);
        }
        for (k, v) in body.kv {
            batch.insert(k, v);
        }
        let applied = codec::encode(&meta.last_log_id).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        batch.insert(KEY_APPLIED, applied);
        let membership =
            codec::encode(&meta.last_membership).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        batch.insert(KEY_MEMBERSHIP, membership);
        self.sm
            .apply_batch(batch)
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        store_snapshot(&self.snapshots, meta, bytes)?;
        self.durability
            .flush()
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let meta = self
            .snapshots
            .get(SNAP_META)
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        let data = self
            .snapshots
            .get(SNAP_DATA)
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        match (meta, data) {
            (Some(meta), Some(data)) => {
                let meta: SnapshotMeta<NodeId, NodeInfo> =
                    codec::decode(&meta).map_err(|e| snap_err(ErrorVerb::Read, e))?;
                Ok(Some(Snapshot {
                    meta,
                    snapshot: Box::new(Cursor::new(data.to_vec())),
                }))
            }
            _ => Ok(None),
        }
    }
}

fn store_snapshot(
    tree: &sled::Tree,
    meta: &SnapshotMeta<NodeId, NodeInfo>,
    data: Vec<u8>,
) -> StorageResult<()> {
    let mut batch = sled::Batch::default();
    batch.insert(
        SNAP_META,
        codec::encode(meta).map_err(|e| snap_err(ErrorVerb::Write, e))?,
    );
    batch.insert(SNAP_DATA, data);
    tree.apply_batch(batch)
        .map_err(|e| snap_err(ErrorVerb::Write, e))
}

/// Builds a snapshot from the copy taken in `get_snapshot_builder`.
pub struct SnapshotBuilder {
    durability: Durability,
    snapshots: sled::Tree,
    seq: u64,
    #[allow(clippy::type_complexity)]
    copy: StorageResult<(
        Option<LogId<NodeId>>,
        StoredMembership<NodeId, NodeInfo>,
        Vec<(Vec<u8>, Vec<u8>)>,
    )>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let (applied, membership, kv) = std::mem::replace(
            &mut self.copy,
            Ok((None, StoredMembership::default(), Vec::new())),
        )?;
        let bytes =
            codec::encode(&SnapshotBody { kv }).map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let snapshot_id = match applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, self.seq),
            None => format!("0-0-{}", self.seq),
        };
        let meta = SnapshotMeta {
            last_log_id: applied,
            last_membership: membership,
            snapshot_id,
        };
        store_snapshot(&self.snapshots, &meta, bytes.clone())?;
        // The log may be purged behind this snapshot, so it (and the state it covers) must be
        // durable first.
        self.durability
            .flush()
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}
