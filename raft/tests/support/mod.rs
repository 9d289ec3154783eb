//! A tiny key/value application used to exercise the replicated log.
#![allow(dead_code)]

pub mod pki;

use std::time::Duration;

use anyhow::{bail, Context};
use openfero_raft::{ApplyContext, KvError, KvTxn, NodeId, RaftNode, StateMachine};
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

/// How long the waits below wait.
pub const WAIT: Duration = Duration::from_secs(20);

/// Poll `done` every 10 ms until it holds, for at most [`WAIT`].
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("not within {WAIT:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// The leader every node agrees on (and that is not `exclude`), within [`WAIT`].
pub async fn wait_for_leader(
    nodes: &[&RaftNode<KvApp>],
    exclude: Option<NodeId>,
) -> anyhow::Result<NodeId> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let leaders: Vec<Option<NodeId>> = nodes.iter().map(|n| n.status().leader).collect();
        if let Some(Some(l)) = leaders.first() {
            if leaders.iter().all(|x| *x == Some(*l)) && Some(*l) != exclude {
                return Ok(*l);
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("no agreed leader within {WAIT:?}: {leaders:?}");
        }
        let mut m = nodes[0].metrics();
        let _ = tokio::time::timeout(Duration::from_millis(200), m.changed()).await;
    }
}

/// Wait until `node` applied `index`.
pub async fn wait_applied(node: &RaftNode<KvApp>, index: u64) -> anyhow::Result<()> {
    node.raft()
        .wait(Some(WAIT))
        .applied_index_at_least(Some(index), "applied")
        .await
        .with_context(|| format!("node {} did not apply {index}", node.id()))?;
    Ok(())
}
