//! Entry points for the fuzz targets in `fuzz/`: not an API (hidden from the docs, changed at
//! will). Each body that crosses the network between peers is decoded here exactly as its
//! receiver decodes it: the request bodies of `POST /raft/{append,vote,snapshot,propose,
//! propose-batch}` as `network::server` does, their answers as `network::client` and the
//! proposer do, a received snapshot's bytes as the state machine's `install_snapshot` does,
//! and a replicated entry's payload as apply reads it (`batch::decode_entry`).

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{de::DeserializeOwned, Serialize};

use crate::batch::{self, EntryForm, BATCH_TAG, BATCH_V1};
use crate::codec;
use crate::error::WriteError;
use crate::proposer::{ForwardBatchRequest, ForwardRequest};
use crate::store::SnapshotBody;
use crate::types::{NodeId, TypeConfig};

/// A body one peer sends another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcBody {
    AppendRequest,
    AppendAnswer,
    VoteRequest,
    VoteAnswer,
    SnapshotRequest,
    SnapshotAnswer,
    /// The bytes of a whole received snapshot (the chunks' `data`, joined).
    SnapshotData,
    ProposeRequest,
    ProposeAnswer,
    ProposeBatchRequest,
    ProposeBatchAnswer,
    /// A log entry's payload (one command or a batch), as apply reads it.
    EntryPayload,
}

impl RpcBody {
    pub const ALL: [RpcBody; 12] = [
        RpcBody::AppendRequest,
        RpcBody::AppendAnswer,
        RpcBody::VoteRequest,
        RpcBody::VoteAnswer,
        RpcBody::SnapshotRequest,
        RpcBody::SnapshotAnswer,
        RpcBody::SnapshotData,
        RpcBody::ProposeRequest,
        RpcBody::ProposeAnswer,
        RpcBody::ProposeBatchRequest,
        RpcBody::ProposeBatchAnswer,
        RpcBody::EntryPayload,
    ];
}

/// Decode `body` as its receiver decodes a `kind`; when it decodes, the value's encoding.
pub fn decode_and_encode(kind: RpcBody, body: &[u8]) -> Result<Vec<u8>, String> {
    fn again<T: Serialize + DeserializeOwned>(body: &[u8]) -> Result<Vec<u8>, String> {
        let value: T = codec::decode(body).map_err(|e| e.to_string())?;
        codec::encode(&value).map_err(|e| e.to_string())
    }
    match kind {
        RpcBody::AppendRequest => again::<AppendEntriesRequest<TypeConfig>>(body),
        RpcBody::AppendAnswer => {
            again::<Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>>(body)
        }
        RpcBody::VoteRequest => again::<VoteRequest<NodeId>>(body),
        RpcBody::VoteAnswer => again::<Result<VoteResponse<NodeId>, RaftError<NodeId>>>(body),
        RpcBody::SnapshotRequest => again::<InstallSnapshotRequest<TypeConfig>>(body),
        RpcBody::SnapshotAnswer => again::<
            Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
        >(body),
        RpcBody::SnapshotData => again::<SnapshotBody>(body),
        RpcBody::ProposeRequest => again::<ForwardRequest>(body),
        RpcBody::ProposeAnswer => again::<Result<Vec<u8>, WriteError>>(body),
        RpcBody::ProposeBatchRequest => again::<ForwardBatchRequest>(body),
        RpcBody::ProposeBatchAnswer => again::<Vec<Result<Vec<u8>, WriteError>>>(body),
        RpcBody::EntryPayload => match batch::decode_entry(body).map_err(|e| e.to_string())? {
            EntryForm::Single(command) => Ok(command.to_vec()),
            EntryForm::Batch(commands) => {
                let mut out = vec![BATCH_TAG, BATCH_V1];
                out.extend(codec::encode(&commands).map_err(|e| e.to_string())?);
                Ok(out)
            }
        },
    }
}

/// One body of each kind as peers send them (with a command, a membership change, a snapshot
/// and errors): the seeds of the fuzz corpus (`fuzz/corpus/raft_rpc`, written by the ignored
/// test `write_seed_corpus`).
pub fn samples() -> Vec<(RpcBody, Vec<u8>)> {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use openraft::error::{Fatal, SnapshotMismatch};
    use openraft::{
        CommittedLeaderId, Entry, EntryPayload, LogId, Membership, SnapshotMeta, SnapshotSegmentId,
        StoredMembership, Vote,
    };

    use crate::types::{NodeInfo, Payload};

    let vote = Vote::new_committed(3, 1);
    let log_id = |index| LogId::new(CommittedLeaderId::new(3, 1), index);
    let info = |n: u8| NodeInfo {
        raft_addr: format!("127.0.0.{n}:7080"),
        api_addr: format!("127.0.0.{n}:8080"),
    };
    let voters: BTreeSet<NodeId> = [1, 2, 3].into();
    let nodes: BTreeMap<NodeId, NodeInfo> = [(1, info(1)), (2, info(2)), (3, info(3))].into();
    let membership = Membership::new(vec![voters], nodes);
    let command = br#"{"V1":{"IngestAlerts":{"alerts":[{"fingerprint":"1111111111111111"}]}}}"#;
    let append = AppendEntriesRequest::<TypeConfig> {
        vote,
        prev_log_id: Some(log_id(40)),
        entries: vec![
            Entry {
                log_id: log_id(41),
                payload: EntryPayload::Normal(Payload(command.to_vec())),
            },
            Entry {
                log_id: log_id(42),
                payload: EntryPayload::Membership(membership.clone()),
            },
            Entry {
                log_id: log_id(43),
                payload: EntryPayload::Blank,
            },
        ],
        leader_commit: Some(log_id(40)),
    };
    let snapshot_id = "3-43-0".to_string();
    let snapshot_data = SnapshotBody {
        kv: vec![
            (b"al/\0\0\0\0\0\0\0\x01".to_vec(), command.to_vec()),
            (b"ct/next_alert".to_vec(), vec![2]),
        ],
    };
    let snapshot = InstallSnapshotRequest::<TypeConfig> {
        vote,
        meta: SnapshotMeta {
            last_log_id: Some(log_id(43)),
            last_membership: StoredMembership::new(Some(log_id(42)), membership),
            snapshot_id: snapshot_id.clone(),
        },
        offset: 0,
        data: codec::encode(&snapshot_data).expect("plain bytes encode"),
        done: true,
    };
    let segment = |offset| SnapshotSegmentId {
        id: snapshot_id.clone(),
        offset,
    };
    let mismatch = InstallSnapshotError::SnapshotMismatch(SnapshotMismatch {
        expect: segment(0),
        got: segment(4096),
    });
    fn enc<T: Serialize>(value: &T) -> Vec<u8> {
        codec::encode(value).expect("rpc types always encode")
    }
    let mut out = vec![(RpcBody::AppendRequest, enc(&append))];
    let append_answers: [Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>; 5] = [
        Ok(AppendEntriesResponse::Success),
        Ok(AppendEntriesResponse::PartialSuccess(Some(log_id(41)))),
        Ok(AppendEntriesResponse::Conflict),
        Ok(AppendEntriesResponse::HigherVote(Vote::new(4, 2))),
        Err(RaftError::Fatal(Fatal::Stopped)),
    ];
    out.extend(
        append_answers
            .iter()
            .map(|a| (RpcBody::AppendAnswer, enc(a))),
    );
    out.push((
        RpcBody::VoteRequest,
        enc(&VoteRequest::new(Vote::new(4, 2), Some(log_id(43)))),
    ));
    let vote_answer: Result<VoteResponse<NodeId>, RaftError<NodeId>> =
        Ok(VoteResponse::new(Vote::new(4, 2), Some(log_id(43)), true));
    out.push((RpcBody::VoteAnswer, enc(&vote_answer)));
    out.push((RpcBody::SnapshotRequest, enc(&snapshot)));
    let snapshot_answers: [Result<
        InstallSnapshotResponse<NodeId>,
        RaftError<NodeId, InstallSnapshotError>,
    >; 2] = [
        Ok(InstallSnapshotResponse { vote }),
        Err(RaftError::APIError(mismatch)),
    ];
    out.extend(
        snapshot_answers
            .iter()
            .map(|a| (RpcBody::SnapshotAnswer, enc(a))),
    );
    out.push((RpcBody::SnapshotData, enc(&snapshot_data)));
    let forward = ForwardRequest {
        command: command.to_vec(),
        hops: 1,
    };
    out.push((RpcBody::ProposeRequest, enc(&forward)));
    let propose_answers: [Result<Vec<u8>, WriteError>; 4] = [
        Ok(br#"{"V1":{"Ingested":[]}}"#.to_vec()),
        Err(WriteError::NotLeader {
            leader: Some(2),
            node: Some(info(2)),
        }),
        Err(WriteError::NoQuorum(Duration::from_millis(2500))),
        Err(WriteError::Codec("decode: unexpected end".into())),
    ];
    out.extend(
        propose_answers
            .iter()
            .map(|a| (RpcBody::ProposeAnswer, enc(a))),
    );
    let second = ForwardRequest {
        command: br#"{"V1":{"Finish":{}}}"#.to_vec(),
        hops: 0,
    };
    out.push((
        RpcBody::ProposeBatchRequest,
        enc(&ForwardBatchRequest {
            items: vec![forward, second],
        }),
    ));
    let batch_answer: Vec<Result<Vec<u8>, WriteError>> = propose_answers.into_iter().collect();
    out.push((RpcBody::ProposeBatchAnswer, enc(&batch_answer)));
    out.push((RpcBody::EntryPayload, command.to_vec()));
    let commands: [&[u8]; 2] = [command, b"\x01\x02"];
    out.push((
        RpcBody::EntryPayload,
        batch::encode_entry(&commands).expect("commands without the batch tag"),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_decodes_as_its_kind_and_re_encodes_identically() {
        let samples = samples();
        for kind in RpcBody::ALL {
            assert!(
                samples.iter().any(|(k, _)| *k == kind),
                "no sample of {kind:?}"
            );
        }
        for (kind, body) in samples {
            let again = decode_and_encode(kind, &body).expect("a sample decodes");
            assert_eq!(again, body, "{kind:?}");
        }
    }

    /// Writes the seed corpus of the `raft_rpc` fuzz target: one file per sample, the kind's
    /// index in [`RpcBody::ALL`] as the first byte. Run with `--ignored` after changing a type.
    #[test]
    #[ignore = "writes fuzz/corpus/raft_rpc"]
    fn write_seed_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/raft_rpc");
        std::fs::create_dir_all(&dir).expect("corpus folder");
        for (i, (kind, body)) in samples().into_iter().enumerate() {
            let index = RpcBody::ALL
                .iter()
                .position(|k| *k == kind)
                .expect("listed");
            let mut bytes = vec![u8::try_from(index).expect("few kinds")];
            bytes.extend_from_slice(&body);
            let name = format!("{i:02}-{kind:?}").to_lowercase();
            std::fs::write(dir.join(name), bytes).expect("write seed");
        }
    }
}
