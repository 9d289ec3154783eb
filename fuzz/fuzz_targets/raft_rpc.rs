//! Every body one Raft peer sends another, decoded as its receiver decodes it: the first byte
//! picks the kind (`openfero_raft::fuzzing::RpcBody::ALL`), the rest is the body.
//!
//! Invariants: decoding never allocates more than `max(1 MiB, 256 × body)` for bincode's
//! claims plus what the decoded value itself holds (bounded by a small multiple of the body);
//! a decoded body's encoding (the canonical one) decodes and re-encodes to itself. Its length
//! may differ from the body's: varints need not be minimal, and a `Duration`'s nanoseconds past
//! 1e9 carry into its seconds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openfero_fuzz::alloc::{peak_during, Counting};
use openfero_raft::codec::decode_limit;
use openfero_raft::fuzzing::{decode_and_encode, RpcBody};

#[global_allocator]
static ALLOC: Counting = Counting;

/// serde pre-allocates at most 1 MiB per open sequence; a few are open at once.
const SLACK: usize = 8 << 20;
/// The decoded value's own memory per body byte (a blank log entry takes 4 bytes on the wire
/// and about a hundred in memory).
const VALUE_PER_BYTE: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let kind = RpcBody::ALL[usize::from(selector) % RpcBody::ALL.len()];
    let (decoded, peak) = peak_during(|| decode_and_encode(kind, body));
    let bound = decode_limit(body.len()) + VALUE_PER_BYTE * body.len() + SLACK;
    assert!(
        peak <= bound,
        "{kind:?}: decoding {} bytes allocated {peak} bytes at once (bound {bound})",
        body.len()
    );
    let Ok(canonical) = decoded else {
        return;
    };
    let again = decode_and_encode(kind, &canonical)
        .unwrap_or_else(|e| panic!("{kind:?}: the canonical encoding does not decode: {e}"));
    assert_eq!(again, canonical, "{kind:?}: re-encoding is not stable");
});
