//! openraft's storage conformance suite against the sled store.

mod support;

use std::sync::Arc;

use openfero_raft::{open_store, LogStore, SmStore, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use support::KvApp;

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, SmStore<KvApp>, tempfile::TempDir> for SledBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, SmStore<KvApp>), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_store, log, sm) = open_store(dir.path(), Arc::new(KvApp)).expect("open store");
        Ok((dir, log, sm))
    }
}

#[test]
fn sled_store_passes_openraft_storage_suite() {
    if let Err(e) = Suite::test_all(SledBuilder) {
        panic!("storage suite failed: {e}");
    }
}
