//! The one binary encoding used for log entries, snapshots, stored values and Raft RPC bodies:
//! bincode 2 in serde mode with the standard configuration.
//!
//! Every decode is bounded by its input. bincode allocates a string or byte buffer as soon as it
//! has read its length prefix, before it knows the bytes are there, so without a limit one RPC
//! body of a few bytes announcing a 2⁴⁰-byte string aborted the process on a failed allocation.
//! bincode's `Limit` counts, before each allocation and read, the in-memory size of every
//! primitive and the length of every string and buffer ("claims"). A valid encoding never
//! claims more than [`CLAIMS_PER_BYTE`] bytes per input byte (a `u128`, the widest primitive,
//! takes at least one byte; a string of `n` bytes takes `n`), so a decode is limited to that
//! many times its input, rounded up to a bucket (the limit is a const generic, one
//! instantiation per bucket): valid values always decode, and no claim, hence no allocation
//! bincode makes, exceeds `max(1 MiB, 256 × input)`.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Most bytes a valid encoding claims per encoded byte (see the module documentation).
pub const CLAIMS_PER_BYTE: usize = 16;

/// Encoding failed or the bytes were not a value of the expected type.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("encode: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("decode: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("decode: {0} trailing bytes")]
    Trailing(usize),
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Serialise `value`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(bincode::serde::encode_to_vec(value, config())?)
}

const MIB: usize = 1 << 20;
/// `4 GiB` and `64 GiB` where `usize` holds them (on 32-bit targets both are `usize::MAX`).
const GIB_4: usize = saturating_shl(1, 32);
const GIB_64: usize = saturating_shl(1, 36);

const fn saturating_shl(v: usize, n: u32) -> usize {
    match v.checked_shl(n) {
        Some(s) => s,
        None => usize::MAX,
    }
}

/// The claim limit of a decode of `len` input bytes: the smallest of 1 MiB, 16 MiB, 256 MiB,
/// 4 GiB and 64 GiB that is at least [`CLAIMS_PER_BYTE`] × `len`; none (`usize::MAX`) above
/// 4 GiB of input.
pub fn decode_limit(len: usize) -> usize {
    match len.saturating_mul(CLAIMS_PER_BYTE) {
        n if n <= MIB => MIB,
        n if n <= 16 * MIB => 16 * MIB,
        n if n <= 256 * MIB => 256 * MIB,
        n if n <= GIB_4 => GIB_4,
        n if n <= GIB_64 => GIB_64,
        _ => usize::MAX,
    }
}

fn decode_within<T: DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(bytes, config().with_limit::<LIMIT>())
}

/// Deserialise a whole buffer; trailing bytes are an error (they mean a format mismatch). Claims
/// are limited by [`decode_limit`] of the buffer's length: a length prefix larger than the input
/// can hold is `LimitExceeded`, never an allocation.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, read) = match decode_limit(bytes.len()) {
        MIB => decode_within::<T, MIB>(bytes),
        l if l == 16 * MIB => decode_within::<T, { 16 * MIB }>(bytes),
        l if l == 256 * MIB => decode_within::<T, { 256 * MIB }>(bytes),
        GIB_4 => decode_within::<T, GIB_4>(bytes),
        GIB_64 => decode_within::<T, GIB_64>(bytes),
        _ => bincode::serde::decode_from_slice(bytes, config()),
    }?;
    if read != bytes.len() {
        return Err(CodecError::Trailing(bytes.len() - read));
    }
    Ok(value)
}

/// Deserialise the leading fields of a buffer, borrowing strings from it instead of allocating:
/// for scans that look at many stored records and keep few. `T` must declare a prefix of the
/// stored type's fields, in order; trailing bytes are expected and ignored.
pub fn decode_prefix<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CodecError> {
    Ok(bincode::serde::borrow_decode_from_slice(bytes, config())?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_trailing_bytes() {
        let v = (7u64, String::from("x"), vec![1u8, 2, 3]);
        let mut bytes = encode(&v).expect("encode");
        let back: (u64, String, Vec<u8>) = decode(&bytes).expect("decode");
        assert_eq!(back, v);
        bytes.push(0);
        assert!(matches!(
            decode::<(u64, String, Vec<u8>)>(&bytes),
            Err(CodecError::Trailing(1))
        ));
    }

    /// A string's varint length prefix (`0xfd` = u64 follows) announcing `len` bytes.
    fn string_header(len: u64) -> Vec<u8> {
        let mut bytes = vec![0xfd];
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes
    }

    /// Found by fuzzing the Raft RPC bodies: bincode allocates a string's buffer from its length
    /// prefix before reading it, so these 9 bytes made the process abort on a failed 1 TiB
    /// allocation (and a few GiB were simply allocated) before the limit existed.
    #[test]
    fn a_hostile_length_prefix_is_refused_before_allocating() {
        for len in [1u64 << 40, u64::MAX, 2 * 1024 * 1024] {
            let bytes = string_header(len);
            let err = decode::<String>(&bytes).expect_err("cannot hold the string");
            assert!(
                matches!(
                    err,
                    CodecError::Decode(bincode::error::DecodeError::LimitExceeded)
                ),
                "{len}: {err}"
            );
            let err = decode::<(u64, Vec<String>)>(&[[7, 1].as_slice(), &bytes].concat())
                .expect_err("nested too");
            assert!(matches!(err, CodecError::Decode(_)), "{err}");
        }
    }

    #[test]
    fn every_valid_encoding_fits_its_limit() {
        // Worst cases for claims per byte: u128s and u64s that encode in one byte each (16 and
        // 8 claimed), long strings, sequences of small numbers, nested options.
        let small_wide: Vec<u128> = (0..65_530).map(|i| i % 200).collect();
        let bytes = encode(&small_wide).expect("encode");
        assert!(
            bytes.len() <= 64 * 1024,
            "in the smallest bucket, at its edge"
        );
        assert_eq!(decode::<Vec<u128>>(&bytes).expect("decode"), small_wide);
        let small_u64: Vec<u64> = vec![3; 300_000];
        let bytes = encode(&small_u64).expect("encode");
        assert_eq!(decode::<Vec<u64>>(&bytes).expect("decode"), small_u64);
        let text = "x".repeat(3 * 1024 * 1024);
        let value = (
            Some(Some(1u8)),
            text,
            vec![Some(true); 70_000],
            '\u{10ffff}',
        );
        let bytes = encode(&value).expect("encode");
        assert_eq!(
            decode::<(Option<Option<u8>>, String, Vec<Option<bool>>, char)>(&bytes)
                .expect("decode"),
            value
        );
        assert_eq!(decode::<()>(&[]).expect("empty unit"), ());
    }

    #[test]
    fn the_limit_grows_with_the_input() {
        assert_eq!(decode_limit(0), 1 << 20);
        assert_eq!(decode_limit(64 * 1024), 1 << 20);
        assert_eq!(decode_limit(64 * 1024 + 1), 16 << 20);
        assert_eq!(decode_limit(16 << 20), 256 << 20);
        for len in [1, 1000, 1 << 20, 100 << 20, 1 << 30] {
            let limit = decode_limit(len);
            assert!(limit >= len * CLAIMS_PER_BYTE, "{len}");
            assert!(limit <= (len * CLAIMS_PER_BYTE * 16).max(1 << 20), "{len}");
        }
    }
}
