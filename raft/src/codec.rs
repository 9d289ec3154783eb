//! The one binary encoding used for log entries, snapshots, stored values and Raft RPC bodies:
//! bincode 2 in serde mode with the standard configuration.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

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

/// Deserialise a whole buffer; trailing bytes are an error (they mean a format mismatch).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, config())?;
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
}
