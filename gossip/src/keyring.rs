//! The gossip keyring: the keys that seal and open gossip packets.
//!
//! Serf/Consul's model: one *primary* key seals every outgoing packet, and
//! every installed key (the primary included) is tried on incoming packets.
//! That is what lets a cluster rotate its key node by node without a split
//! (see the crate docs for the procedure).

use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use tracing::info;
use zeroize::Zeroize as _;

use crate::error::{Error, Result};
use crate::seal::KEY_ID_DOMAIN;

/// Length of a gossip key in bytes (XChaCha20-Poly1305 takes 256-bit keys).
pub const KEY_LEN: usize = 32;
/// Length of a key written in standard base64 (with padding).
const BASE64_LEN: usize = 44;
/// Length of a key written in hex.
const HEX_LEN: usize = 64;

/// Public, loggable name of a key: the first 4 bytes of
/// SHA-256(`"openfero-gossip-key-id\0"` ‖ key), shown as 8 hex digits.
///
/// Every sealed packet carries the id of the key that sealed it, so a
/// receiver tries only that key. The id reveals nothing usable about the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub(crate) [u8; 4]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// One 32-byte gossip key. Its `Debug` shows only its [`KeyId`]; the bytes
/// are wiped when the value is dropped.
#[derive(Clone)]
pub struct Key {
    bytes: [u8; KEY_LEN],
    id: KeyId,
}

impl Key {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        let digest = Sha256::new()
            .chain_update(KEY_ID_DOMAIN)
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; 4];
        id.copy_from_slice(&digest[..4]);
        Key {
            bytes,
            id: KeyId(id),
        }
    }

    /// A fresh random key from the operating system's CSPRNG (through
    /// `rand`'s thread RNG).
    pub fn generate() -> Key {
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        Key::from_bytes(bytes)
    }

    /// The key in the key file format (standard base64, 44 characters).
    /// This is secret material: write it only to the key file.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.bytes)
    }

    /// The key's public id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// A primary key plus any number of other accepted keys.
///
/// The primary seals what this node sends; every key (primary first) is
/// accepted on receive. Never empty. `Debug` shows key ids only.
#[derive(Clone)]
pub struct Keyring {
    /// `keys[0]` is the primary; no two keys are equal.
    keys: Vec<Key>,
}

impl Keyring {
    /// A keyring holding only `primary`.
    pub fn new(primary: Key) -> Keyring {
        Keyring {
            keys: vec![primary],
        }
    }

    /// Adds an accepted (non-primary) key; a key already present is ignored.
    #[must_use]
    pub fn with_key(mut self, key: Key) -> Keyring {
        if !self.keys.iter().any(|k| k.bytes == key.bytes) {
            self.keys.push(key);
        }
        self
    }

    /// The first key is the primary; duplicates are dropped.
    /// [`Error::NoKey`] when `keys` is empty.
    pub fn from_keys(keys: impl IntoIterator<Item = Key>) -> Result<Keyring> {
        let mut keys = keys.into_iter();
        let primary = keys.next().ok_or(Error::NoKey)?;
        Ok(keys.fold(Keyring::new(primary), Keyring::with_key))
    }

    /// Parses the text of a key file: one key per line, standard base64
    /// (44 characters) or hex (64 characters); blank lines and `#` comments
    /// (whole-line or trailing) are ignored; the first key is the primary.
    ///
    /// Errors name the line ([`Error::InvalidKey`]) but never its content.
    pub fn parse(text: &str) -> Result<Keyring> {
        let mut keys = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let content = raw.split('#').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            keys.push(parse_key(content).map_err(|reason| Error::InvalidKey {
                line: index + 1,
                reason,
            })?);
        }
        Keyring::from_keys(keys)
    }

    /// Reads and parses a key file (see [`Keyring::parse`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Keyring> {
        let path = path.as_ref();
        let mut text = std::fs::read_to_string(path).map_err(|source| Error::KeyFileRead {
            path: path.to_path_buf(),
            source,
        })?;
        let parsed = Keyring::parse(&text);
        text.zeroize();
        parsed
    }

    /// The key that seals outgoing packets.
    pub fn primary(&self) -> &Key {
        &self.keys[0]
    }

    /// Every accepted key, primary first.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter()
    }

    /// Ids of every accepted key, primary first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(Key::id).collect()
    }

    /// The keys whose id is `id` (normally zero or one).
    pub(crate) fn with_id(&self, id: KeyId) -> impl Iterator<Item = &Key> {
        self.keys.iter().filter(move |key| key.id == id)
    }

    /// Same keys, same primary.
    fn same_as(&self, other: &Keyring) -> bool {
        self.keys.len() == other.keys.len()
            && self
                .keys
                .iter()
                .zip(&other.keys)
                .all(|(a, b)| a.bytes == b.bytes)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary().id)
            .field("keys", &self.key_ids())
            .finish()
    }
}

/// Decodes one key; the error is a reason without key material.
fn parse_key(content: &str) -> std::result::Result<Key, String> {
    let mut bytes = [0u8; KEY_LEN];
    match content.len() {
        BASE64_LEN => {
            let mut decoded = base64::engine::general_purpose::STANDARD
                .decode(content)
                .map_err(|_| "not valid standard base64".to_string())?;
            let ok = decoded.len() == KEY_LEN;
            if ok {
                bytes.copy_from_slice(&decoded);
            }
            decoded.zeroize();
            if !ok {
                return Err(format!("expected `{KEY_LEN}` bytes once decoded"));
            }
        }
        HEX_LEN => {
            let decoded = hex::decode_to_slice(content, &mut bytes);
            if decoded.is_err() {
                bytes.zeroize();
                return Err("not valid hex".to_string());
            }
        }
        _ => {
            return Err(format!(
                "expected `{BASE64_LEN}` base64 or `{HEX_LEN}` hex characters, got `{}`",
                content.chars().count()
            ))
        }
    }
    let key = Key::from_bytes(bytes);
    bytes.zeroize();
    Ok(key)
}

/// Cheap-to-clone handle on the keyring in force. Every clone sees the same
/// keyring; [`SharedKeyring::replace`] and [`SharedKeyring::reload_from_file`]
/// take effect for the very next packet sealed or opened, no restart needed.
#[derive(Clone)]
pub struct SharedKeyring {
    current: Arc<RwLock<Arc<Keyring>>>,
}

impl SharedKeyring {
    /// A handle starting with `keyring`.
    pub fn new(keyring: Keyring) -> SharedKeyring {
        SharedKeyring {
            current: Arc::new(RwLock::new(Arc::new(keyring))),
        }
    }

    /// A handle starting with the keyring read from `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<SharedKeyring> {
        Keyring::from_file(path).map(SharedKeyring::new)
    }

    /// The keyring in force now.
    pub fn current(&self) -> Arc<Keyring> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `keyring` in force.
    pub fn replace(&self, keyring: Keyring) {
        info!(
            primary_key_id = %keyring.primary().id,
            key_ids = ?keyring.key_ids(),
            "gossip keyring replaced"
        );
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keyring);
    }

    /// Re-reads `path` and puts it in force if it differs from the keyring in
    /// force. Returns whether it changed. On error the keyring in force stays.
    pub fn reload_from_file(&self, path: impl AsRef<Path>) -> Result<bool> {
        let keyring = Keyring::from_file(path)?;
        if keyring.same_as(&self.current()) {
            return Ok(false);
        }
        self.replace(keyring);
        Ok(true)
    }
}

impl fmt::Debug for SharedKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.current(), f)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn key(byte: u8) -> Key {
        Key::from_bytes([byte; KEY_LEN])
    }

    fn line_of(err: &Error) -> usize {
        match err {
            Error::InvalidKey { line, .. } => *line,
            other => panic!("unexpected error: {other}"),
        }
    }

    #[test]
    fn first_key_is_primary_and_comments_and_blank_lines_are_ignored() {
        let a = key(1);
        let b = key(2);
        let c = key(3);
        let text = format!(
            "# gossip keys, primary first\n\n  {}  \n\t# old key, still accepted\n{} # trailing comment\n{}\n\n",
            a.to_base64(),
            b.to_base64(),
            hex::encode(c.bytes())
        );
        let keyring = Keyring::parse(&text).expect("valid key file");
        assert_eq!(keyring.primary().id(), a.id());
        assert_eq!(keyring.key_ids(), vec![a.id(), b.id(), c.id()]);
    }

    #[test]
    fn duplicate_keys_are_kept_once() {
        let a = key(1);
        let text = format!("{}\n{}\n", a.to_base64(), hex::encode(a.bytes()));
        assert_eq!(
            Keyring::parse(&text).expect("valid").key_ids(),
            vec![a.id()]
        );
    }

    #[test]
    fn bad_lines_are_named_by_number_without_their_content() {
        let good = key(1).to_base64();
        let cases = [
            // Wrong length (43 characters: one dropped).
            (format!("{good}\n\n{}\n", &good[..43]), 3, "got `43`"),
            // Right length, not base64.
            (format!("# c\n{}!\n", &good[..43]), 2, "base64"),
            // Right length, not hex.
            (format!("{}\n", "zz".repeat(32)), 1, "hex"),
            // Base64 of the wrong number of bytes (33 bytes, 44 characters).
            (
                format!(
                    "{good}\n{}\n",
                    base64::engine::general_purpose::STANDARD.encode([7u8; 33])
                ),
                2,
                "expected `32` bytes once decoded",
            ),
        ];
        for (text, line, needle) in cases {
            let err = Keyring::parse(&text).expect_err("invalid key file");
            assert_eq!(line_of(&err), line, "{text:?}: {err}");
            let message = err.to_string();
            assert!(message.contains(needle), "{message}");
            assert!(message.starts_with(&format!("invalid gossip key on line `{line}`")));
            for secretish in text.lines().filter(|l| l.len() > 8) {
                assert!(!message.contains(secretish.trim()), "{message}");
            }
        }
    }

    #[test]
    fn text_without_keys_is_rejected() {
        for text in ["", "\n\n", "# only a comment\n   \n"] {
            assert!(matches!(Keyring::parse(text), Err(Error::NoKey)));
        }
        assert_eq!(Error::NoKey.to_string(), "gossip key file holds no key");
    }

    #[test]
    fn debug_never_shows_key_material() {
        let a = key(0xab);
        let keyring = Keyring::new(a.clone()).with_key(key(0xcd));
        let shared = SharedKeyring::new(keyring.clone());
        for shown in [
            format!("{a:?}"),
            format!("{keyring:?}"),
            format!("{keyring:#?}"),
            format!("{shared:?}"),
        ] {
            assert!(!shown.contains(&a.to_base64()), "{shown}");
            assert!(!shown.contains(&hex::encode(a.bytes())), "{shown}");
            assert!(!shown.contains("abab"), "{shown}");
            assert!(!shown.contains("171, 171"), "{shown}");
            assert!(shown.contains(&a.id().to_string()), "{shown}");
        }
    }

    #[test]
    fn replace_is_seen_by_every_clone() {
        let shared = SharedKeyring::new(Keyring::new(key(1)));
        let clone = shared.clone();
        let before = clone.current();
        shared.replace(Keyring::new(key(2)).with_key(key(1)));
        assert_eq!(clone.current().primary().id(), key(2).id());
        // Holders of the old snapshot keep a consistent keyring.
        assert_eq!(before.primary().id(), key(1).id());
    }

    #[test]
    fn reload_from_file_swaps_only_valid_changed_keyrings() -> anyhow::Result<()> {
        let mut file = tempfile::NamedTempFile::new()?;
        writeln!(file, "{}", key(1).to_base64())?;
        let shared = SharedKeyring::from_file(file.path())?;
        assert!(!shared.reload_from_file(file.path())?, "unchanged file");

        std::fs::write(
            file.path(),
            format!("{}\n{}\n", key(2).to_base64(), key(1).to_base64()),
        )?;
        assert!(shared.reload_from_file(file.path())?);
        assert_eq!(shared.current().key_ids(), vec![key(2).id(), key(1).id()]);

        std::fs::write(file.path(), "not a key\n")?;
        let err = shared
            .reload_from_file(file.path())
            .expect_err("broken file");
        assert_eq!(line_of(&err), 1);
        assert_eq!(shared.current().primary().id(), key(2).id(), "kept");

        let missing = file.path().with_extension("missing");
        let err = shared.reload_from_file(&missing).expect_err("missing file");
        assert!(matches!(err, Error::KeyFileRead { .. }));
        assert_eq!(
            err.to_string(),
            format!("failed to read gossip key file `{}`", missing.display())
        );
        Ok(())
    }

    #[test]
    fn key_ids_differ_per_key_and_generate_is_random() {
        assert_ne!(key(1).id(), key(2).id());
        assert_eq!(key(1).id(), key(1).id());
        let (x, y) = (Key::generate(), Key::generate());
        assert_ne!(x.bytes(), y.bytes());
        let round_trip = Keyring::parse(&x.to_base64()).expect("generated key parses");
        assert_eq!(round_trip.primary().bytes(), x.bytes());
    }
}
