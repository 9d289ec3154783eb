//! The snapshot files: built by streaming, sent and installed, a crash in the middle of an
//! install, and the inline snapshots of earlier releases.

use std::path::Path;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{
    CommittedLeaderId, Entry, EntryPayload, LogId, Membership, RaftSnapshotBuilder, SnapshotMeta,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::sm::SnapshotBody;
use super::{SmStore, Store, SNAPSHOT_DIR, TREE_SM, TREE_SNAPSHOT};
use crate::codec;
use crate::kv::{app_key, KvError, KvTxn};
use crate::state_machine::{ApplyContext, StateMachine};
use crate::types::{NodeId, NodeInfo, Payload, TypeConfig};

#[derive(Debug, Serialize, Deserialize)]
enum Put {
    V1 { key: String, value: Vec<u8> },
}

struct App;

impl StateMachine for App {
    type Command = Put;
    type Response = ();

    fn apply(&self, kv: &mut KvTxn<'_>, _: ApplyContext, command: Put) -> Result<(), KvError> {
        let Put::V1 { key, value } = command;
        kv.put(key.as_bytes(), value);
        Ok(())
    }
}

fn open(dir: &Path) -> (Store, SmStore<App>) {
    let store = Store::open(dir).expect("open store");
    let sm = store.state_machine(Arc::new(App)).expect("state machine");
    (store, sm)
}

fn log_id(index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

async fn put_all(sm: &mut SmStore<App>, first_index: u64, keys: &[String]) {
    let entries: Vec<Entry<TypeConfig>> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| Entry {
            log_id: log_id(first_index + i as u64),
            payload: EntryPayload::Normal(Payload(
                codec::encode(&Put::V1 {
                    key: key.clone(),
                    value: vec![i as u8; 1000],
                })
                .expect("encode"),
            )),
        })
        .collect();
    sm.apply(entries).await.expect("apply");
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}/{i:05}")).collect()
}

fn app_keys(store: &Store) -> Vec<String> {
    let tree = store.db.open_tree(TREE_SM).expect("tree");
    tree.scan_prefix([crate::kv::APP])
        .map(|item| String::from_utf8(item.expect("read").0[1..].to_vec()).expect("utf8"))
        .collect()
}

fn published(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(SNAPSHOT_DIR))
        .expect("snapshot folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn read_all(mut file: tokio::fs::File) -> Vec<u8> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await.expect("read snapshot");
    bytes
}

/// Hand `bytes` to `sm` the way openraft's receiver does: chunks written into the file it
/// handed out, then shut down and installed.
async fn receive(
    sm: &mut SmStore<App>,
    meta: &SnapshotMeta<NodeId, NodeInfo>,
    bytes: &[u8],
) -> Result<(), openraft::StorageError<NodeId>> {
    let mut file = sm
        .begin_receiving_snapshot()
        .await
        .expect("begin receiving");
    for chunk in bytes.chunks(64 * 1024) {
        file.write_all(chunk).await.expect("write chunk");
    }
    file.shutdown().await.expect("shutdown");
    sm.install_snapshot(meta, file).await
}

#[tokio::test]
async fn a_snapshot_is_a_file_streamed_from_the_tree_and_installs_on_another_node() {
    let a_dir = tempfile::tempdir().expect("tempdir");
    let (a_store, mut a) = open(a_dir.path());
    put_all(&mut a, 1, &keys("alert", 3000)).await;
    let mut builder = a.get_snapshot_builder().await;
    let snap = builder.build_snapshot().await.expect("build");
    assert_eq!(snap.meta.last_log_id, Some(log_id(3000)));
    let bytes = read_all(*snap.snapshot).await;
    // Only a pointer in sled; the ~3 MB of state is in the file, in bincode's form of the body.
    let tree = a_store.db.open_tree(TREE_SNAPSHOT).expect("tree");
    let stored: usize = tree.iter().map(|kv| kv.expect("read").1.len()).sum();
    assert!(stored < 1024, "the snapshot tree holds {stored} bytes");
    let body: SnapshotBody = codec::decode(&bytes).expect("bincode body");
    assert_eq!(body.kv.len(), 3000);
    assert_eq!(published(a_dir.path()), vec![format!("1-3000-0.snap")]);

    // A second build replaces the first file.
    put_all(&mut a, 3001, &keys("alert", 1)).await;
    a.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");
    assert_eq!(published(a_dir.path()), vec![format!("1-3001-1.snap")]);

    // Another node with state of its own installs the first snapshot: exactly its keys.
    let b_dir = tempfile::tempdir().expect("tempdir");
    {
        let (b_store, mut b) = open(b_dir.path());
        put_all(&mut b, 1, &keys("stale", 10)).await;
        receive(&mut b, &snap.meta, &bytes).await.expect("install");
        assert_eq!(app_keys(&b_store), keys("alert", 3000));
        let (applied, _) = b.applied_state().await.expect("applied");
        assert_eq!(applied, Some(log_id(3000)));
    }
    // After a restart: the same state, and the snapshot it serves is the one installed.
    let (b_store, mut b) = open(b_dir.path());
    assert_eq!(app_keys(&b_store), keys("alert", 3000));
    let current = b
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a snapshot");
    assert_eq!(current.meta, snap.meta);
    assert_eq!(read_all(*current.snapshot).await, bytes);
    assert_eq!(published(b_dir.path()), vec![format!("1-3000-0.snap")]);
}

#[tokio::test]
async fn a_bad_snapshot_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, mut sm) = open(dir.path());
    put_all(&mut sm, 1, &keys("kept", 5)).await;
    let meta = SnapshotMeta {
        last_log_id: Some(log_id(99)),
        last_membership: StoredMembership::new(None, Membership::new(vec![], None)),
        snapshot_id: "1-99-0".into(),
    };
    let good = codec::encode(&SnapshotBody {
        kv: vec![(app_key(b"x"), vec![1])],
    })
    .expect("encode");
    let truncated = &good[..good.len() - 1];
    let outside = codec::encode(&SnapshotBody {
        kv: vec![(b"\0a".to_vec(), vec![1])],
    })
    .expect("encode");
    for bad in [truncated, &outside[..], &b"\xfe"[..]] {
        receive(&mut sm, &meta, bad)
            .await
            .expect_err("a bad snapshot installs");
        assert_eq!(app_keys(&store), keys("kept", 5));
        assert_eq!(
            sm.applied_state().await.expect("applied").0,
            Some(log_id(5))
        );
        assert!(sm.get_current_snapshot().await.expect("read").is_none());
    }
}

#[tokio::test]
async fn an_install_cut_short_by_a_crash_is_finished_on_open() {
    let a_dir = tempfile::tempdir().expect("tempdir");
    let (_a_store, mut a) = open(a_dir.path());
    put_all(&mut a, 1, &keys("alert", 500)).await;
    let snap = a
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");
    let bytes = read_all(*snap.snapshot).await;

    let b_dir = tempfile::tempdir().expect("tempdir");
    {
        let (b_store, mut b) = open(b_dir.path());
        put_all(&mut b, 1, &keys("stale", 10)).await;
        // What `install_snapshot` has done when the process dies in the middle of applying: the
        // file published, the pointer and the marker durable, half the old state removed and
        // none of the new applied.
        let name = "1-500-0.snap";
        std::fs::write(b_dir.path().join(SNAPSHOT_DIR).join(name), &bytes).expect("write");
        b.files.set_current(&snap.meta, name).expect("pointer");
        let marker = codec::encode(&(&snap.meta, name)).expect("marker");
        b.sm.insert(super::sm::KEY_INSTALLING, marker)
            .expect("marker");
        for key in &keys("stale", 10)[..5] {
            b.sm.remove(app_key(key.as_bytes())).expect("remove");
        }
        b_store.flush().await.expect("flush");
    }
    let (b_store, mut b) = open(b_dir.path());
    assert_eq!(app_keys(&b_store), keys("alert", 500));
    assert_eq!(
        b.applied_state().await.expect("applied").0,
        Some(log_id(500))
    );
    assert!(b.sm.get(super::sm::KEY_INSTALLING).expect("read").is_none());
}

#[tokio::test]
async fn an_inline_snapshot_of_an_earlier_release_moves_to_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = SnapshotMeta::<NodeId, NodeInfo> {
        last_log_id: Some(log_id(7)),
        last_membership: StoredMembership::default(),
        snapshot_id: "1-7-0".into(),
    };
    let data = codec::encode(&SnapshotBody {
        kv: vec![(app_key(b"old"), b"value".to_vec())],
    })
    .expect("encode");
    {
        // The earlier release's layout: meta and the whole body as two values of the tree.
        let db = sled::open(dir.path()).expect("sled");
        let tree = db.open_tree(TREE_SNAPSHOT).expect("tree");
        tree.insert(b"meta", codec::encode(&meta).expect("meta"))
            .expect("insert");
        tree.insert(b"data", data.clone()).expect("insert");
        db.flush().expect("flush");
    }
    let (store, mut sm) = open(dir.path());
    let current = sm
        .get_current_snapshot()
        .await
        .expect("read")
        .expect("a snapshot");
    assert_eq!(current.meta, meta);
    assert_eq!(read_all(*current.snapshot).await, data);
    let tree = store.db.open_tree(TREE_SNAPSHOT).expect("tree");
    assert!(tree.get(b"data").expect("read").is_none());
    assert_eq!(published(dir.path()), vec!["1-7-0.snap".to_string()]);
}

/// A node whose store cannot sync never acknowledges: the write fails, Raft stops and says why
/// (`failure`, `failed`), and an ordered shutdown afterwards still returns.
#[cfg(feature = "chaos-faults")]
#[tokio::test]
async fn a_failed_sync_fails_the_write_and_stops_raft_with_the_reason() {
    use crate::{RaftConfig, RaftNode};
    use std::collections::BTreeMap;

    let dir = tempfile::tempdir().expect("tempdir");
    let trigger = dir.path().join("fail-sync");
    let data = dir.path().join("data");
    let mut store = Store::open(&data).expect("open store");
    store.fail_sync_while(trigger.clone(), false);
    let node = RaftNode::start_on(store, RaftConfig::default(), App)
        .await
        .expect("start");
    let info = NodeInfo {
        raft_addr: "127.0.0.1:1".into(),
        api_addr: "127.0.0.1:1".into(),
    };
    node.initialize(BTreeMap::from([(node.id(), info)]))
        .await
        .expect("initialize");
    let put = |key: &str| Put::V1 {
        key: key.into(),
        value: vec![1],
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while node.status().leader != Some(node.id()) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a leader");
    node.write(&put("before"))
        .await
        .expect("a write while syncs work");
    assert!(node.failure().is_none());

    std::fs::write(&trigger, b"").expect("trigger");
    node.write(&put("during"))
        .await
        .expect_err("acknowledged a write it could not sync");
    let why = tokio::time::timeout(std::time::Duration::from_secs(10), node.failed())
        .await
        .expect("raft stops");
    assert!(
        why.starts_with("storage failed:") && why.contains("os error 5"),
        "{why}"
    );
    assert_eq!(node.failure(), Some(why));
    let _ = node.shutdown().await;
    assert!(
        node.failure().is_some(),
        "a failure is not forgotten on shutdown"
    );
}
