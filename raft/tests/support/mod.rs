//! A tiny key/value application used to exercise the replicated log.
#![allow(dead_code)]

pub mod pki;

use openfero_raft::{ApplyContext, KvError, KvTxn, StateMachine};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Cmd {
    V1(CmdV1),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CmdV1 {
    Set { key: String, value: String },
}

/// Answers the previous value and the log index the command was applied at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetResponse {
    pub previous: Option<String>,
    pub index: u64,
}

pub struct KvApp;

impl StateMachine for KvApp {
    type Command = Cmd;
    type Response = SetResponse;

    fn apply(
        &self,
        kv: &mut KvTxn<'_>,
        ctx: ApplyContext,
        command: Cmd,
    ) -> Result<SetResponse, KvError> {
        match command {
            Cmd::V1(CmdV1::Set { key, value }) => {
                let previous: Option<String> = kv.get_as(key.as_bytes())?;
                kv.put_as(key.as_bytes(), &value)?;
                Ok(SetResponse {
                    previous,
                    index: ctx.index,
                })
            }
        }
    }
}

pub fn set(key: &str, value: &str) -> Cmd {
    Cmd::V1(CmdV1::Set {
        key: key.to_string(),
        value: value.to_string(),
    })
}
