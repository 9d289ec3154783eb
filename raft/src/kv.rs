//! The application's view of the state machine: a key/value space inside the `sm` sled tree.
//!
//! Application keys live under the [`APP`] prefix byte; the store keeps its own metadata under
//! [`META`]. Writes made during `apply` are buffered in a [`KvTxn`] and committed together with the
//! last-applied marker in one atomic sled batch, so a crash never leaves the application state and
//! the marker disagreeing.

use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};

use serde::{de::DeserializeOwned, Serialize};

use crate::codec::{self, CodecError};

/// Prefix byte of store metadata keys.
pub(crate) const META: u8 = 0;
/// Prefix byte of application keys.
pub(crate) const APP: u8 = 1;

/// A key/value pair as stored (key without the store's prefix byte).
pub type Pair = (Vec<u8>, Vec<u8>);

pub(crate) fn app_key(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(APP);
    k.extend_from_slice(key);
    k
}

/// Buffered writes of one apply batch over the current tree contents.
pub struct KvTxn<'a> {
    tree: &'a sled::Tree,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> KvTxn<'a> {
    pub(crate) fn new(tree: &'a sled::Tree) -> Self {
        Self {
            tree,
            writes: BTreeMap::new(),
        }
    }

    /// Read a key, seeing this batch's own writes.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, sled::Error> {
        let k = app_key(key);
        if let Some(v) = self.writes.get(&k) {
            return Ok(v.clone());
        }
        Ok(self.tree.get(&k)?.map(|v| v.to_vec()))
    }

    /// Read and decode a value.
    pub fn get_as<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, KvError> {
        match self.get(key)? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    pub fn put(&mut self, key: &[u8], value: Vec<u8>) {
        self.writes.insert(app_key(key), Some(value));
    }

    /// Encode and write a value.
    pub fn put_as<T: Serialize>(&mut self, key: &[u8], value: &T) -> Result<(), KvError> {
        self.put(key, codec::encode(value)?);
        Ok(())
    }

    pub fn delete(&mut self, key: &[u8]) {
        self.writes.insert(app_key(key), None);
    }

    /// Up to `limit` entries whose key starts with `prefix`, in ascending key order, merging this
    /// batch's writes over the tree. Keys are returned without the store's prefix byte.
    pub fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Vec<Pair>, sled::Error> {
        let start = app_key(prefix);
        let pending: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = self
            .writes
            .range::<Vec<u8>, _>((Bound::Included(&start), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&start))
            .collect();
        let mut pending = pending.into_iter().peekable();
        let mut stored = self.tree.scan_prefix(&start).peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            let next_stored = match stored.peek() {
                Some(Ok((k, _))) => Some(k.to_vec()),
                Some(Err(_)) => {
                    let err = stored.next().and_then(|r| r.err());
                    return Err(err.expect("peeked an error"));
                }
                None => None,
            };
            let take_pending = match (&next_stored, pending.peek()) {
                (None, None) => break,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(s), Some((p, _))) => p.as_slice() <= s.as_slice(),
            };
            if take_pending {
                let (k, v) = pending.next().expect("peeked");
                if next_stored.as_deref() == Some(k.as_slice()) {
                    stored.next();
                }
                if let Some(v) = v {
                    out.push((k[1..].to_vec(), v.clone()));
                }
            } else {
                let (k, v) = stored.next().expect("peeked")?;
                out.push((k[1..].to_vec(), v.to_vec()));
            }
        }
        Ok(out)
    }

    /// A transaction over a bare tree, for application unit tests.
    #[doc(hidden)]
    pub fn new_for_tests(tree: &'a sled::Tree) -> Self {
        Self::new(tree)
    }

    /// Commit the buffered writes, for application unit tests.
    #[doc(hidden)]
    pub fn commit_for_tests(self) -> Result<(), sled::Error> {
        let tree = self.tree;
        let mut batch = sled::Batch::default();
        self.into_batch(&mut batch);
        tree.apply_batch(batch)
    }

    pub(crate) fn into_batch(self, batch: &mut sled::Batch) {
        for (k, v) in self.writes {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
    }
}

/// A read failed or a stored value did not decode.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("codec: {0}")]
    Codec(#[from] CodecError),
}

/// Read-only view of the applied application state, cheap to clone.
#[derive(Clone)]
pub struct KvReader {
    tree: sled::Tree,
}

impl KvReader {
    pub(crate) fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    /// A reader over a bare tree, for application unit tests.
    #[doc(hidden)]
    pub fn new_for_tests(tree: sled::Tree) -> Self {
        Self { tree }
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, sled::Error> {
        Ok(self.tree.get(app_key(key))?.map(|v| v.to_vec()))
    }

    /// A transaction over the applied state whose writes are never committed (dropping it
    /// discards them): the read side runs apply's own decision code to say what *would*
    /// happen, and nothing changes.
    pub fn rehearsal(&self) -> KvTxn<'_> {
        KvTxn::new(&self.tree)
    }

    pub fn get_as<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, KvError> {
        match self.get(key)? {
            Some(bytes) => Ok(Some(codec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Entries under `prefix` from `from` (inclusive) on, in ascending key order.
    pub fn iter_prefix_from(
        &self,
        prefix: &[u8],
        from: &[u8],
    ) -> impl Iterator<Item = Result<Pair, sled::Error>> {
        let prefix = app_key(prefix);
        self.tree
            .range(app_key(from)..)
            .take_while(move |r| r.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
            .map(|r| r.map(|(k, v)| (k[1..].to_vec(), v.to_vec())))
    }

    /// Entries under `prefix` whose key sorts before `before`, in descending key order.
    pub fn iter_prefix_rev_before(
        &self,
        prefix: &[u8],
        before: &[u8],
    ) -> impl Iterator<Item = Result<Pair, sled::Error>> {
        self.tree
            .range(app_key(prefix)..app_key(before))
            .rev()
            .map(|r| r.map(|(k, v)| (k[1..].to_vec(), v.to_vec())))
    }

    /// Calls `f` with each entry under `prefix` whose key sorts before `before`, in descending
    /// key order, until it answers `Break`. The bytes are lent, not copied: for scans over many
    /// entries that keep few.
    pub fn scan_rev_before<E: From<sled::Error>>(
        &self,
        prefix: &[u8],
        before: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>, E>,
    ) -> Result<(), E> {
        for item in self.tree.range(app_key(prefix)..app_key(before)).rev() {
            let (k, v) = item?;
            if f(&k[1..], &v)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Entries under `prefix` in ascending key order (keys without the store's prefix byte).
    pub fn iter_prefix(
        &self,
        prefix: &[u8],
    ) -> impl DoubleEndedIterator<Item = Result<Pair, sled::Error>> {
        self.tree
            .scan_prefix(app_key(prefix))
            .map(|r| r.map(|(k, v)| (k[1..].to_vec(), v.to_vec())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, sled::Tree) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("open");
        let tree = db.open_tree("sm").expect("tree");
        (dir, tree)
    }

    #[test]
    fn scan_merges_pending_writes_over_stored_entries() {
        let (_dir, tree) = tree();
        for k in [b"a/1", b"a/3", b"a/5", b"b/1"] {
            tree.insert(app_key(k), k.to_vec()).expect("insert");
        }
        let mut txn = KvTxn::new(&tree);
        txn.put(b"a/2", b"two".to_vec());
        txn.delete(b"a/3");
        txn.put(b"a/5", b"five".to_vec());
        let got = txn.scan_prefix(b"a/", 10).expect("scan");
        let keys: Vec<_> = got.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(
            keys,
            vec![b"a/1".to_vec(), b"a/2".to_vec(), b"a/5".to_vec()]
        );
        assert_eq!(got[2].1, b"five".to_vec());
        assert_eq!(txn.scan_prefix(b"a/", 2).expect("scan").len(), 2);
        assert_eq!(txn.get(b"a/3").expect("get"), None);
        assert_eq!(txn.get(b"a/2").expect("get"), Some(b"two".to_vec()));
    }
}
