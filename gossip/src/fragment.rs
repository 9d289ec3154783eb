//! Fitting chitchat datagrams into sealed packets: one packet normally, a
//! few when sealing would push a datagram past [`MAX_DATAGRAM_LEN`].
//!
//! chitchat fills its SYN-ACK/ACK deltas up to 65,507 bytes when it has that
//! much state to send, and that bound is crate-private (not configurable).
//! Sealing adds [`crate::seal::SEAL_OVERHEAD`] bytes, so such a datagram is
//! split in two halves, each sealed on its own, and put back together on
//! receipt. This happens only for datagrams above [`MAX_WHOLE_LEN`] bytes,
//! i.e. when a single delta carries about 64 KiB of state.
//!
//! The sealed plaintext starts with a kind byte:
//!
//! ```text
//! 0x00 WHOLE  | chitchat datagram
//! 0x01 PART   | message id (u32 LE) | index (u8) | count (u8) | slice of the datagram
//! ```
//!
//! Only authenticated payloads reach the reassembler, so only key holders can
//! occupy its (bounded) memory.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::seal::{Rejection, MAX_DATAGRAM_LEN, MAX_SEALED_PAYLOAD};

const KIND_WHOLE: u8 = 0;
const KIND_PART: u8 = 1;
const WHOLE_HEADER_LEN: usize = 1;
const PART_HEADER_LEN: usize = 1 + 4 + 1 + 1;

/// Largest chitchat datagram (what chitchat can ever build, and what the
/// loopback codec can carry back into chitchat).
pub(crate) const MAX_MESSAGE_LEN: usize = MAX_DATAGRAM_LEN;
/// Largest chitchat datagram sent as one sealed packet.
pub(crate) const MAX_WHOLE_LEN: usize = MAX_SEALED_PAYLOAD - WHOLE_HEADER_LEN;
const MAX_PART_LEN: usize = MAX_SEALED_PAYLOAD - PART_HEADER_LEN;
/// A message of [`MAX_MESSAGE_LEN`] bytes needs 2 parts; accept a little more.
const MAX_PARTS: u8 = 4;
/// Partial messages kept at once (all senders together).
const MAX_PENDING: usize = 16;
/// A partial message older than this is dropped.
const PART_TIMEOUT: Duration = Duration::from_secs(5);

/// The sealed payloads carrying `message`, in order. `message_id` tells the
/// parts of one message from another's; it only has to differ between
/// messages sent in a row.
pub(crate) fn split(message: &[u8], message_id: u32) -> Vec<Vec<u8>> {
    if message.len() <= MAX_WHOLE_LEN {
        let mut payload = Vec::with_capacity(WHOLE_HEADER_LEN + message.len());
        payload.push(KIND_WHOLE);
        payload.extend_from_slice(message);
        return vec![payload];
    }
    let count = message.len().div_ceil(MAX_PART_LEN);
    let part_len = message.len().div_ceil(count);
    let count = u8::try_from(count).expect("chitchat datagrams fit in a few parts");
    message
        .chunks(part_len)
        .enumerate()
        .map(|(index, chunk)| {
            let mut payload = Vec::with_capacity(PART_HEADER_LEN + chunk.len());
            payload.push(KIND_PART);
            payload.extend_from_slice(&message_id.to_le_bytes());
            payload.push(u8::try_from(index).expect("index below count, a u8"));
            payload.push(count);
            payload.extend_from_slice(chunk);
            payload
        })
        .collect()
}

struct Partial {
    parts: Vec<Option<Vec<u8>>>,
    len: usize,
    started: Instant,
}

/// Puts split messages back together.
#[derive(Default)]
pub(crate) struct Reassembler {
    pending: HashMap<(SocketAddr, u32), Partial>,
}

impl Reassembler {
    /// Takes one opened payload from `from`; returns the chitchat datagram
    /// once complete, `None` while parts are missing.
    pub(crate) fn accept(
        &mut self,
        from: SocketAddr,
        mut payload: Vec<u8>,
        now: Instant,
    ) -> Result<Option<Vec<u8>>, Rejection> {
        match payload.first() {
            Some(&KIND_WHOLE) => {
                payload.remove(0);
                Ok(Some(payload))
            }
            Some(&KIND_PART) if payload.len() > PART_HEADER_LEN => {
                let id = u32::from_le_bytes(
                    payload[1..5]
                        .try_into()
                        .expect("slice of 4 bytes is a [u8; 4]"),
                );
                let (index, count) = (payload[5], payload[6]);
                if !(2..=MAX_PARTS).contains(&count) || index >= count {
                    return Err(Rejection::Malformed);
                }
                let body = payload.split_off(PART_HEADER_LEN);
                self.insert(from, id, usize::from(index), usize::from(count), body, now)
            }
            _ => Err(Rejection::Malformed),
        }
    }

    fn insert(
        &mut self,
        from: SocketAddr,
        id: u32,
        index: usize,
        count: usize,
        body: Vec<u8>,
        now: Instant,
    ) -> Result<Option<Vec<u8>>, Rejection> {
        self.pending
            .retain(|_, partial| now.saturating_duration_since(partial.started) < PART_TIMEOUT);
        let key = (from, id);
        let partial = self.pending.entry(key).or_insert_with(|| Partial {
            parts: vec![None; count],
            len: 0,
            started: now,
        });
        if partial.parts.len() != count || partial.len + body.len() > MAX_MESSAGE_LEN {
            self.pending.remove(&key);
            return Err(Rejection::Malformed);
        }
        if partial.parts[index].is_some() {
            // A duplicate (replayed or re-sent) part: keep the first.
            return Ok(None);
        }
        partial.len += body.len();
        partial.parts[index] = Some(body);
        if partial.parts.iter().all(Option::is_some) {
            let partial = self.pending.remove(&key).expect("entry present");
            let mut message = Vec::with_capacity(partial.len);
            for part in partial.parts.into_iter().flatten() {
                message.extend_from_slice(&part);
            }
            return Ok(Some(message));
        }
        if self.pending.len() > MAX_PENDING {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, partial)| partial.started)
                .map(|(key, _)| *key)
                .expect("more than MAX_PENDING entries");
            self.pending.remove(&oldest);
        }
        Ok(None)
    }

    #[cfg(test)]
    fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn message(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 256) as u8).collect()
    }

    #[test]
    fn small_messages_travel_whole() {
        let mut reassembler = Reassembler::default();
        for len in [0, 1, 1400, MAX_WHOLE_LEN] {
            let payloads = split(&message(len), 7);
            assert_eq!(payloads.len(), 1, "len {len}");
            assert!(payloads[0].len() <= MAX_SEALED_PAYLOAD);
            let out = reassembler.accept(peer(1), payloads[0].clone(), Instant::now());
            assert_eq!(out, Ok(Some(message(len))));
        }
    }

    #[test]
    fn messages_past_the_bound_are_split_and_reassembled_in_any_order() {
        assert_eq!(MAX_WHOLE_LEN, 65_461);
        for len in [MAX_WHOLE_LEN + 1, 65_500, MAX_MESSAGE_LEN] {
            let payloads = split(&message(len), 42);
            assert_eq!(payloads.len(), 2, "len {len}");
            for payload in &payloads {
                assert!(payload.len() <= MAX_SEALED_PAYLOAD);
            }
            let mut reassembler = Reassembler::default();
            let now = Instant::now();
            assert_eq!(
                reassembler.accept(peer(1), payloads[1].clone(), now),
                Ok(None)
            );
            // A duplicate part changes nothing.
            assert_eq!(
                reassembler.accept(peer(1), payloads[1].clone(), now),
                Ok(None)
            );
            assert_eq!(
                reassembler.accept(peer(1), payloads[0].clone(), now),
                Ok(Some(message(len)))
            );
            assert_eq!(reassembler.pending(), 0);
        }
    }

    #[test]
    fn parts_from_different_senders_or_messages_do_not_mix() {
        let (a, b) = (
            split(&message(MAX_MESSAGE_LEN), 1),
            split(&message(65_480), 1),
        );
        let mut reassembler = Reassembler::default();
        let now = Instant::now();
        assert_eq!(reassembler.accept(peer(1), a[0].clone(), now), Ok(None));
        assert_eq!(reassembler.accept(peer(2), b[1].clone(), now), Ok(None));
        assert_eq!(
            reassembler.accept(peer(2), b[0].clone(), now),
            Ok(Some(message(65_480)))
        );
        assert_eq!(
            reassembler.accept(peer(1), a[1].clone(), now),
            Ok(Some(message(MAX_MESSAGE_LEN)))
        );
    }

    #[test]
    fn stale_and_excess_partials_are_dropped() {
        let mut reassembler = Reassembler::default();
        let start = Instant::now();
        for id in 0..(MAX_PENDING as u32 + 5) {
            let parts = split(&message(MAX_MESSAGE_LEN), id);
            assert_eq!(
                reassembler.accept(peer(1), parts[0].clone(), start),
                Ok(None)
            );
        }
        assert_eq!(reassembler.pending(), MAX_PENDING);
        let later = start + PART_TIMEOUT;
        let parts = split(&message(MAX_MESSAGE_LEN), 999);
        assert_eq!(
            reassembler.accept(peer(1), parts[0].clone(), later),
            Ok(None)
        );
        assert_eq!(reassembler.pending(), 1);
    }

    #[test]
    fn malformed_payloads_are_rejected() {
        let mut reassembler = Reassembler::default();
        let now = Instant::now();
        let part = |index: u8, count: u8| {
            let mut p = vec![KIND_PART, 1, 0, 0, 0, index, count];
            p.extend_from_slice(b"body");
            p
        };
        for payload in [
            Vec::new(),
            vec![9, 1, 2, 3],
            vec![KIND_PART, 1, 0, 0, 0, 0, 2],
            part(0, 1),
            part(2, 2),
            part(0, MAX_PARTS + 1),
        ] {
            assert_eq!(
                reassembler.accept(peer(1), payload.clone(), now),
                Err(Rejection::Malformed),
                "{payload:?}"
            );
        }
        // A part claiming another count than its siblings drops the message.
        assert_eq!(reassembler.accept(peer(1), part(0, 2), now), Ok(None));
        assert_eq!(
            reassembler.accept(peer(1), part(1, 3), now),
            Err(Rejection::Malformed)
        );
        assert_eq!(reassembler.pending(), 0);
    }

    #[test]
    fn oversized_reassembly_is_rejected() {
        let mut reassembler = Reassembler::default();
        let now = Instant::now();
        let big_part = |index: u8| {
            let mut p = vec![KIND_PART, 5, 0, 0, 0, index, 3];
            p.resize(MAX_SEALED_PAYLOAD, 0xee);
            p
        };
        assert_eq!(reassembler.accept(peer(1), big_part(0), now), Ok(None));
        assert_eq!(
            reassembler.accept(peer(1), big_part(1), now),
            Err(Rejection::Malformed)
        );
    }
}
