//! The log's batch form: several application commands in one Raft entry.
//!
//! openraft 0.9 flushes the log once per `client_write`, in series (its core waits for each
//! append's flush before it handles the next write), so one webhook per entry means one disk
//! sync per webhook. A batch entry carries many commands; it costs one flush on the leader and
//! one on each follower, and apply runs its commands in order within the same apply batch.
//!
//! Format. An entry's payload is either a single encoded application command, as every entry
//! written before batches existed, or `[BATCH_TAG, BATCH_V1] ++ bincode(Vec<command bytes>)`.
//! The two cannot be confused: application commands are enums ([`crate::StateMachine`]), and
//! bincode 2's standard encoding starts an enum with its variant index as a varint, whose first
//! byte is never `0xFF` (251..=254 announce wider integers, 255 is unused). [`check_command`]
//! refuses a command that would start with the tag anyway. A batch's response is
//! `bincode(Vec<response bytes>)`, one per command, in order.

use crate::codec::{self, CodecError};

/// First byte of a batch entry.
pub(crate) const BATCH_TAG: u8 = 0xFF;
/// Second byte: the version of the batch form.
pub(crate) const BATCH_V1: u8 = 1;

/// A log entry's payload, decoded as far as this crate knows it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EntryForm<'a> {
    /// One application command (every entry written before batches existed).
    Single(&'a [u8]),
    /// Several application commands, applied in order.
    Batch(Vec<Vec<u8>>),
}

/// Why a command cannot be logged as it is.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FormError {
    #[error(
        "an encoded command starts with the reserved batch tag `0xFF`: commands must be enums"
    )]
    Reserved,
    #[error("unknown batch form version `{0}`")]
    UnknownVersion(u8),
    #[error("batch entry: {0}")]
    Codec(#[from] CodecError),
}

/// Refuse a command whose encoding would read as a batch entry.
pub(crate) fn check_command(command: &[u8]) -> Result<(), FormError> {
    if command.first() == Some(&BATCH_TAG) {
        return Err(FormError::Reserved);
    }
    Ok(())
}

/// The payload of one entry carrying `commands`: a batch of one is written as a single command,
/// so a lone write stays readable by nodes that predate batches.
pub(crate) fn encode_entry(commands: &[&[u8]]) -> Result<Vec<u8>, FormError> {
    for c in commands {
        check_command(c)?;
    }
    if let [one] = commands {
        return Ok(one.to_vec());
    }
    let mut out = vec![BATCH_TAG, BATCH_V1];
    out.extend(codec::encode(commands)?);
    Ok(out)
}

/// Read an entry's payload.
pub(crate) fn decode_entry(bytes: &[u8]) -> Result<EntryForm<'_>, FormError> {
    match bytes {
        [BATCH_TAG, BATCH_V1, rest @ ..] => Ok(EntryForm::Batch(codec::decode(rest)?)),
        [BATCH_TAG, version, ..] => Err(FormError::UnknownVersion(*version)),
        [BATCH_TAG] => Err(FormError::UnknownVersion(0)),
        single => Ok(EntryForm::Single(single)),
    }
}

/// The response of a batch entry: each command's encoded response, in order.
pub(crate) fn encode_responses(responses: &[Vec<u8>]) -> Result<Vec<u8>, FormError> {
    Ok(codec::encode(responses)?)
}

pub(crate) fn decode_responses(bytes: &[u8]) -> Result<Vec<Vec<u8>>, FormError> {
    Ok(codec::decode(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    enum Versioned {
        V1(u64),
    }

    #[test]
    fn one_command_is_written_as_before_batches_existed() {
        let cmd = codec::encode(&Versioned::V1(7)).expect("encode");
        let entry = encode_entry(&[&cmd]).expect("entry");
        assert_eq!(entry, cmd);
        assert_eq!(
            decode_entry(&entry).expect("decode"),
            EntryForm::Single(&cmd)
        );
    }

    #[test]
    fn several_commands_round_trip_in_order() {
        let a = codec::encode(&Versioned::V1(1)).expect("encode");
        let b = codec::encode(&Versioned::V1(300)).expect("encode");
        let entry = encode_entry(&[&a, &b, &a]).expect("entry");
        assert_eq!(entry[..2], [BATCH_TAG, BATCH_V1]);
        assert_eq!(
            decode_entry(&entry).expect("decode"),
            EntryForm::Batch(vec![a.clone(), b, a])
        );
    }

    #[test]
    fn enum_encodings_never_start_with_the_tag_and_tagged_commands_are_refused() {
        // The widest variant index still starts with a varint marker below 0xFF.
        let wide = codec::encode(&u32::MAX).expect("encode");
        assert_ne!(wide[0], BATCH_TAG);
        assert!(matches!(
            encode_entry(&[&[BATCH_TAG, 0]]),
            Err(FormError::Reserved)
        ));
        assert!(matches!(
            decode_entry(&[BATCH_TAG, 9, 0]),
            Err(FormError::UnknownVersion(9))
        ));
    }
}
