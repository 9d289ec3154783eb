//! Snapshots as files, streamed: never a copy of the whole state in memory.
//!
//! A snapshot is a file in the node's `raft-snapshots` folder; the `snapshot` tree holds only a
//! pointer to the current one (its meta and file name), switched after the file is durable.
//!
//! The file's bytes are exactly the bincode encoding of
//! [`SnapshotBody`](super::sm::SnapshotBody) (a sequence of key/value byte strings), so a node of
//! an earlier release, which decodes a snapshot as one buffer, reads what this one streams:
//! bincode's varint length of the sequence (written in its 9-byte form, so it can be filled in
//! after the pairs are counted; bincode accepts any form), then per pair the two byte strings,
//! each a varint length and the bytes.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::kv::Pair;

/// bincode's varint markers: a value below [`SINGLE_MAX`] is one byte, otherwise a marker byte
/// and the value in 2, 4 or 8 little-endian bytes.
const SINGLE_MAX: u64 = 250;
const U16_MARK: u8 = 251;
const U32_MARK: u8 = 252;
const U64_MARK: u8 = 253;

/// Bytes of the sequence length at the start of a file ([`U64_MARK`] and a `u64`).
const COUNT_LEN: u64 = 9;
/// Write buffer of a snapshot being built.
const WRITE_BUFFER: usize = 256 * 1024;
/// File names: what a snapshot being built or received is called until it is published.
const BUILDING: &str = "building-";
const RECEIVING: &str = "receiving-";
const PUBLISHED: &str = ".snap";

fn write_varint(w: &mut impl Write, v: u64) -> io::Result<()> {
    if v <= SINGLE_MAX {
        w.write_all(&[v as u8])
    } else if let Ok(v) = u16::try_from(v) {
        w.write_all(&[U16_MARK])?;
        w.write_all(&v.to_le_bytes())
    } else if let Ok(v) = u32::try_from(v) {
        w.write_all(&[U32_MARK])?;
        w.write_all(&v.to_le_bytes())
    } else {
        w.write_all(&[U64_MARK])?;
        w.write_all(&v.to_le_bytes())
    }
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Write `pairs` as a snapshot file from the start of `file`; returns how many were written.
/// Keys and values are borrowed as they come (sled's own buffers): nothing is copied per pair.
pub(crate) fn write_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    file: File,
    pairs: impl Iterator<Item = io::Result<(K, V)>>,
) -> io::Result<(File, u64)> {
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, file);
    w.write_all(&[0; COUNT_LEN as usize])?;
    let mut count = 0u64;
    for pair in pairs {
        let (k, v) = pair?;
        let (k, v) = (k.as_ref(), v.as_ref());
        write_varint(&mut w, k.len() as u64)?;
        w.write_all(k)?;
        write_varint(&mut w, v.len() as u64)?;
        w.write_all(v)?;
        count += 1;
    }
    let mut file = w.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; COUNT_LEN as usize];
    head[0] = U64_MARK;
    head[1..].copy_from_slice(&count.to_le_bytes());
    file.write_all(&head)?;
    Ok((file, count))
}

/// The pairs of a snapshot file, read one at a time. Every length is checked against the bytes
/// left in the file before anything is allocated, and the file must end after the last pair.
pub(crate) struct PairReader {
    r: BufReader<File>,
    left_bytes: u64,
    left_pairs: u64,
}

impl PairReader {
    /// Read from the start of `file`.
    pub(crate) fn new(mut file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(0))?;
        let mut reader = Self {
            r: BufReader::with_capacity(WRITE_BUFFER, file),
            left_bytes: len,
            left_pairs: 0,
        };
        reader.left_pairs = reader.varint()?;
        Ok(reader)
    }

    /// Pairs not read yet.
    pub(crate) fn remaining(&self) -> u64 {
        self.left_pairs
    }

    fn take(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if (buf.len() as u64) > self.left_bytes {
            return Err(invalid("snapshot file ends inside a value"));
        }
        self.r.read_exact(buf)?;
        self.left_bytes -= buf.len() as u64;
        Ok(())
    }

    fn varint(&mut self) -> io::Result<u64> {
        let mut first = [0u8];
        self.take(&mut first)?;
        Ok(match first[0] {
            b if u64::from(b) <= SINGLE_MAX => u64::from(b),
            U16_MARK => {
                let mut b = [0u8; 2];
                self.take(&mut b)?;
                u64::from(u16::from_le_bytes(b))
            }
            U32_MARK => {
                let mut b = [0u8; 4];
                self.take(&mut b)?;
                u64::from(u32::from_le_bytes(b))
            }
            U64_MARK => {
                let mut b = [0u8; 8];
                self.take(&mut b)?;
                u64::from_le_bytes(b)
            }
            b => return Err(invalid(format!("snapshot file: bad length marker {b}"))),
        })
    }

    fn bytes(&mut self) -> io::Result<Vec<u8>> {
        let len = self.varint()?;
        if len > self.left_bytes {
            return Err(invalid(format!(
                "snapshot file: a value of {len} bytes with {} left",
                self.left_bytes
            )));
        }
        let mut v = vec![0u8; len as usize];
        self.take(&mut v)?;
        Ok(v)
    }

    fn next_pair(&mut self) -> io::Result<Option<Pair>> {
        if self.left_pairs == 0 {
            if self.left_bytes != 0 {
                return Err(invalid(format!(
                    "snapshot file: {} bytes after the last pair",
                    self.left_bytes
                )));
            }
            return Ok(None);
        }
        let k = self.bytes()?;
        let v = self.bytes()?;
        self.left_pairs -= 1;
        Ok(Some((k, v)))
    }
}

impl Iterator for PairReader {
    type Item = io::Result<Pair>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_pair().transpose()
    }
}

/// Read a whole snapshot file through, checking its form and that `key_ok` holds for every key;
/// returns its number of pairs.
pub(crate) fn check(file: File, key_ok: impl Fn(&[u8]) -> bool) -> io::Result<u64> {
    let mut reader = PairReader::new(file)?;
    let count = reader.remaining();
    for pair in &mut reader {
        let (k, _) = pair?;
        if !key_ok(&k) {
            return Err(invalid(
                "snapshot holds a key outside the application space",
            ));
        }
    }
    Ok(count)
}

/// The folder of snapshot files.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotDir {
    dir: PathBuf,
}

impl SnapshotDir {
    /// Open (creating) the folder and remove what a crash left half-written.
    pub(crate) fn open(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(BUILDING) || name.starts_with(RECEIVING) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(Self { dir })
    }

    /// A new file for a snapshot being built (`seq` is unique in this process).
    pub(crate) fn create_building(&self, seq: u64) -> io::Result<(PathBuf, File)> {
        self.create(format!("{BUILDING}{seq}"))
    }

    /// A new file for a snapshot being received.
    pub(crate) fn create_receiving(&self, seq: u64) -> io::Result<(PathBuf, File)> {
        self.create(format!("{RECEIVING}{seq}"))
    }

    fn create(&self, name: String) -> io::Result<(PathBuf, File)> {
        let path = self.dir.join(name);
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok((path, file))
    }

    /// The published file name of snapshot `id` (ids come from the leader: only a safe subset
    /// of characters is kept).
    pub(crate) fn file_name(id: &str) -> String {
        let safe: String = id
            .chars()
            .take(96)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{safe}{PUBLISHED}")
    }

    pub(crate) fn path(&self, file_name: &str) -> PathBuf {
        self.dir.join(file_name)
    }

    /// Make `from` durable and rename it to `file_name`, durably.
    pub(crate) fn publish(&self, from: &Path, file_name: &str) -> io::Result<PathBuf> {
        File::open(from)?.sync_all()?;
        let to = self.dir.join(file_name);
        fs::rename(from, &to)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(to)
    }

    /// Remove every published snapshot but `keep` (files being built or received stay; an
    /// open handle, e.g. one being sent to a follower, keeps reading what it opened).
    pub(crate) fn remove_all_but(&self, keep: &str) -> io::Result<()> {
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(PUBLISHED) && name != keep {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;
    use crate::store::SnapshotBody;

    fn pairs() -> Vec<Pair> {
        vec![
            (b"a".to_vec(), vec![]),
            (vec![1; 300], vec![2; 70_000]),
            (b"key".to_vec(), vec![7; 250]),
            (vec![], vec![9; 251]),
        ]
    }

    fn temp() -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("s"))
            .expect("create");
        (dir, file)
    }

    #[test]
    fn a_streamed_file_is_the_bincode_of_the_body_and_reads_back() {
        let (dir, file) = temp();
        let (_, n) = write_pairs(file, pairs().into_iter().map(Ok)).expect("write");
        assert_eq!(n, 4);
        let bytes = fs::read(dir.path().join("s")).expect("read");
        // What a node that decodes the whole buffer at once sees.
        let body: SnapshotBody = codec::decode(&bytes).expect("bincode reads the stream");
        assert_eq!(body.kv, pairs());
        let back: Vec<Pair> = PairReader::new(File::open(dir.path().join("s")).expect("open"))
            .expect("reader")
            .collect::<io::Result<_>>()
            .expect("pairs");
        assert_eq!(back, pairs());
    }

    #[test]
    fn the_reader_reads_what_bincode_wrote() {
        let (dir, mut file) = temp();
        let bytes = codec::encode(&SnapshotBody { kv: pairs() }).expect("encode");
        file.write_all(&bytes).expect("write");
        let back: Vec<Pair> = PairReader::new(file)
            .expect("reader")
            .collect::<io::Result<_>>()
            .expect("pairs");
        assert_eq!(back, pairs());
        drop(dir);
    }

    #[test]
    fn a_truncated_or_padded_file_is_an_error_without_a_large_allocation() {
        let (dir, file) = temp();
        write_pairs(file, pairs().into_iter().map(Ok)).expect("write");
        let path = dir.path().join("s");
        let full = fs::read(&path).expect("read");
        for cut in [0, 5, 9, 10, 400, full.len() - 1] {
            fs::write(&path, &full[..cut]).expect("write");
            let err = check(File::open(&path).expect("open"), |_| true).expect_err("truncated");
            assert!(matches!(
                err.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            ));
        }
        let mut padded = full.clone();
        padded.push(0);
        fs::write(&path, &padded).expect("write");
        let err = check(File::open(&path).expect("open"), |_| true).expect_err("padded");
        assert!(err.to_string().contains("after the last pair"), "{err}");
        // A pair count of 2⁶⁴−1 and a value length of 2⁶⁰: refused by the bytes left.
        let mut lying = vec![U64_MARK];
        lying.extend_from_slice(&u64::MAX.to_le_bytes());
        lying.push(U64_MARK);
        lying.extend_from_slice(&(1u64 << 60).to_le_bytes());
        fs::write(&path, &lying).expect("write");
        let err = check(File::open(&path).expect("open"), |_| true).expect_err("lying length");
        assert!(err.to_string().contains("bytes with"), "{err}");
    }

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(SnapshotDir::file_name("3-1200-7"), "3-1200-7.snap");
        assert_eq!(SnapshotDir::file_name("../../etc/x"), "______etc_x.snap");
    }
}
