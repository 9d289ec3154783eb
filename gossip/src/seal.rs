//! The sealed packet: wire format, sealing and opening.
//!
//! ```text
//!  0         1             5                         29                      len-16     len
//!  +---------+-------------+-------------------------+-----------------------+----------+
//!  | version | key id (4)  | nonce (24, random)      | ciphertext            | tag (16) |
//!  +---------+-------------+-------------------------+-----------------------+----------+
//! ```
//!
//! * AEAD: XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`), 256-bit keys.
//!   Its 192-bit nonces are drawn at random per packet: with that many bits a
//!   collision is negligible however many packets a key seals, across every
//!   node sharing it, with no counter to keep in sync or persist.
//! * Associated data: [`PROTOCOL_TAG`] ‖ version ‖ key id ‖ cluster id. A
//!   packet from another protocol, another wire version or another gossip
//!   cluster (even one sharing the key) fails to open, as does any change to
//!   the header.
//! * The plaintext is a fragment payload (see `fragment.rs`): normally a kind
//!   byte and one chitchat datagram.
//!
//! Every constant of the sealed wire format lives here.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

use crate::keyring::{Key, KeyId, Keyring};

/// Version byte opening every sealed packet. A plain chitchat datagram
/// starts with `0x53` (its magic number, little endian), never with this.
pub(crate) const FRAME_VERSION: u8 = 1;
/// Fixed protocol tag bound into every packet's associated data.
pub(crate) const PROTOCOL_TAG: &[u8] = b"openfero-gossip";
/// Domain separation for key ids (see [`KeyId`]).
pub(crate) const KEY_ID_DOMAIN: &[u8] = b"openfero-gossip-key-id\0";

const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Version + key id + nonce.
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// Bytes a sealed packet adds to its plaintext: version (1) + key id (4) +
/// nonce (24) + tag (16).
pub const SEAL_OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// Largest UDP payload over IPv4 (65,535 − 20 IP − 8 UDP), and the bound
/// chitchat 0.13 puts on every datagram it builds (its crate-private
/// `MAX_UDP_DATAGRAM_PAYLOAD_SIZE`, which sizes its buffers and its delta
/// budget). No sealed packet is ever larger.
pub const MAX_DATAGRAM_LEN: usize = 65_507;

/// Largest plaintext one sealed packet can carry.
pub(crate) const MAX_SEALED_PAYLOAD: usize = MAX_DATAGRAM_LEN - SEAL_OVERHEAD;

/// Why an incoming datagram was dropped. Only [`Rejection::as_str`] is
/// logged, with the sender's address; never packet bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Shorter than an empty sealed packet.
    Truncated,
    /// First byte is not [`FRAME_VERSION`] (e.g. plain chitchat).
    UnknownVersion,
    /// Sealed with a key whose id is not in the keyring.
    UnknownKey,
    /// Authentication failed: tampered, wrong key, or another cluster.
    Forged,
    /// Opened, but the fragment header is invalid.
    Malformed,
    /// Opened and reassembled, but not a chitchat datagram.
    Undecodable,
}

impl Rejection {
    /// Stable, lowercase label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Rejection::Truncated => "truncated",
            Rejection::UnknownVersion => "unknown_version",
            Rejection::UnknownKey => "unknown_key",
            Rejection::Forged => "forged",
            Rejection::Malformed => "malformed",
            Rejection::Undecodable => "undecodable",
        }
    }
}

fn associated_data(header: &[u8], cluster_id: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(PROTOCOL_TAG.len() + header.len() + cluster_id.len());
    ad.extend_from_slice(PROTOCOL_TAG);
    ad.extend_from_slice(header);
    ad.extend_from_slice(cluster_id.as_bytes());
    ad
}

fn cipher(key: &Key) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.bytes().into())
}

/// Seals `payload` with `key` for `cluster_id`. The result is
/// `payload.len() + SEAL_OVERHEAD` bytes long.
pub(crate) fn seal(key: &Key, cluster_id: &str, payload: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let mut frame = Vec::with_capacity(payload.len() + SEAL_OVERHEAD);
    frame.push(FRAME_VERSION);
    frame.extend_from_slice(&key.id().0);
    frame.extend_from_slice(&nonce);
    let ad = associated_data(&frame[..1 + KEY_ID_LEN], cluster_id);
    let sealed = cipher(key)
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: payload,
                aad: &ad,
            },
        )
        .expect("XChaCha20-Poly1305 seals any payload below 256 GiB");
    frame.extend_from_slice(&sealed);
    frame
}

/// Opens `frame` with the keyring's key named in its header.
pub(crate) fn open(
    keyring: &Keyring,
    cluster_id: &str,
    frame: &[u8],
) -> Result<Vec<u8>, Rejection> {
    if frame.len() < SEAL_OVERHEAD {
        return Err(Rejection::Truncated);
    }
    if frame[0] != FRAME_VERSION {
        return Err(Rejection::UnknownVersion);
    }
    let (header, sealed) = frame.split_at(HEADER_LEN);
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&header[1..1 + KEY_ID_LEN]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header[1 + KEY_ID_LEN..]);
    let nonce = XNonce::from(nonce);
    let ad = associated_data(&header[..1 + KEY_ID_LEN], cluster_id);
    let mut candidates = keyring.with_id(KeyId(id)).peekable();
    if candidates.peek().is_none() {
        return Err(Rejection::UnknownKey);
    }
    candidates
        .find_map(|key| {
            cipher(key)
                .decrypt(
                    &nonce,
                    Payload {
                        msg: sealed,
                        aad: &ad,
                    },
                )
                .ok()
        })
        .ok_or(Rejection::Forged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::KEY_LEN;

    const CLUSTER: &str = "test-cluster";

    fn key(byte: u8) -> Key {
        Key::from_bytes([byte; KEY_LEN])
    }

    #[test]
    fn seal_then_open_round_trips_with_fixed_overhead() {
        let keyring = Keyring::new(key(1));
        for len in [0, 1, 100, 1400, MAX_SEALED_PAYLOAD] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let frame = seal(keyring.primary(), CLUSTER, &payload);
            assert_eq!(frame.len(), len + SEAL_OVERHEAD);
            assert!(frame.len() <= MAX_DATAGRAM_LEN);
            assert_eq!(open(&keyring, CLUSTER, &frame), Ok(payload));
        }
        assert_eq!(SEAL_OVERHEAD, 45);
    }

    #[test]
    fn nonces_are_fresh_per_packet() {
        let a = seal(&key(1), CLUSTER, b"same");
        let b = seal(&key(1), CLUSTER, b"same");
        assert_ne!(a[5..29], b[5..29]);
        assert_ne!(a, b);
    }

    #[test]
    fn any_flipped_byte_is_rejected() {
        let keyring = Keyring::new(key(1));
        let frame = seal(keyring.primary(), CLUSTER, b"syn from node 1");
        for position in 0..frame.len() {
            let mut tampered = frame.clone();
            tampered[position] ^= 0x01;
            let expected = match position {
                0 => Rejection::UnknownVersion,
                1..=4 => Rejection::UnknownKey,
                _ => Rejection::Forged,
            };
            assert_eq!(
                open(&keyring, CLUSTER, &tampered),
                Err(expected),
                "byte {position}"
            );
        }
    }

    #[test]
    fn unknown_key_is_rejected_and_secondary_keys_are_accepted() {
        let frame = seal(&key(2), CLUSTER, b"hello");
        assert_eq!(
            open(&Keyring::new(key(1)), CLUSTER, &frame),
            Err(Rejection::UnknownKey)
        );
        let rotating = Keyring::new(key(1)).with_key(key(2));
        assert_eq!(open(&rotating, CLUSTER, &frame), Ok(b"hello".to_vec()));
    }

    #[test]
    fn a_forged_key_id_does_not_help() {
        // An attacker copying a member's key id into a packet sealed with
        // their own key gets past the id lookup, not past authentication.
        let member = key(1);
        let mut frame = seal(&key(9), CLUSTER, b"let me in");
        frame[1..5].copy_from_slice(&member.id().0);
        assert_eq!(
            open(&Keyring::new(member), CLUSTER, &frame),
            Err(Rejection::Forged)
        );
    }

    #[test]
    fn another_cluster_id_is_rejected_even_with_the_same_key() {
        let keyring = Keyring::new(key(1));
        let frame = seal(keyring.primary(), "other-cluster", b"hello");
        assert_eq!(open(&keyring, CLUSTER, &frame), Err(Rejection::Forged));
    }

    #[test]
    fn plain_chitchat_and_short_datagrams_are_rejected() {
        let keyring = Keyring::new(key(1));
        // A chitchat 0.13 V0 SYN for cluster "c" with an empty digest: magic
        // 45139 (LE), version 0, type 0, digest length 0, cluster id.
        let plain = [0x53, 0xb0, 0, 0, 0, 0, 1, 0, b'c'];
        assert_eq!(open(&keyring, CLUSTER, &plain), Err(Rejection::Truncated));
        let mut long_plain = plain.to_vec();
        long_plain.resize(200, 0);
        assert_eq!(
            open(&keyring, CLUSTER, &long_plain),
            Err(Rejection::UnknownVersion)
        );
        let frame = seal(keyring.primary(), CLUSTER, b"");
        for len in 0..frame.len() {
            assert_eq!(
                open(&keyring, CLUSTER, &frame[..len]),
                Err(Rejection::Truncated)
            );
        }
        assert_eq!(open(&keyring, CLUSTER, &frame), Ok(Vec::new()));
    }
}
