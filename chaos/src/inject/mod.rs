//! Injecting one fault: resolve its target (the leader, a follower) from a seeded draw, do it,
//! and undo it. Process faults live here; network, disk, clock and upgrade faults in their
//! own modules.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::campaign::{Env, ADMIN_TOKEN, SPARES};
use crate::cluster::ELECTION_MAX;
use crate::faults::FaultKind;
use crate::observe;
use crate::report::FaultRecord;
use crate::rng::SeededRng;

mod clock;
mod disk;
mod net;
mod upgrade;

/// How long a fault keeps a node down or paused.
pub(crate) const DOWNTIME: Duration = Duration::from_secs(3);

/// A fault that this run cannot inject, and why (no root, no kernel feature, a binary without
/// the `chaos-faults` hooks): counted as skipped in the report, never as passed.
#[derive(Debug)]
pub struct Skipped(pub String);

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "skipped: {}", self.0)
    }
}

impl std::error::Error for Skipped {}

/// What an injected fault reports: its target and a note.
pub(crate) struct Done {
    pub target: String,
    pub note: String,
}

/// Node name of the current leader, from any live node's view.
pub(crate) async fn leader_name(env: &Env) -> Option<String> {
    let mut ids = BTreeMap::new();
    let mut leader = None;
    for n in env.cluster.live() {
        if let Ok(v) = observe::view(&env.http, &env.cluster.spec(&n).url("/admin/cluster")).await {
            ids.insert(v.node.clone(), n.clone());
            if leader.is_none() {
                leader = v.leader.clone();
            }
        }
    }
    leader.and_then(|l| ids.get(&l).cloned())
}

/// Inject `kind`, its target drawn from `draw`. A fault this run cannot inject comes back as a
/// record with `injected: false` (and `skipped` when the reason is [`Skipped`]).
pub(crate) async fn inject(env: &mut Env, kind: FaultKind, draw: u64) -> FaultRecord {
    match inject_inner(env, kind, draw).await {
        Ok(r) => r,
        Err(e) => FaultRecord {
            cycle: 0,
            kind,
            target: String::new(),
            duration_ms: 0,
            skipped: e.downcast_ref::<Skipped>().is_some(),
            note: match e.downcast_ref::<Skipped>() {
                Some(s) => s.to_string(),
                None => format!("could not inject: {e:#}"),
            },
            injected: false,
            stable_leader_ms: None,
            converged_ms: None,
        },
    }
}

async fn inject_inner(env: &mut Env, kind: FaultKind, draw: u64) -> anyhow::Result<FaultRecord> {
    let mut rng = SeededRng::new(draw);
    let leader = leader_name(env).await;
    let names = env.cluster.names();
    let followers: Vec<String> = names
        .iter()
        .filter(|n| Some(*n) != leader.as_ref())
        .cloned()
        .collect();
    let pick_leader = || leader.clone().context("no leader to fault");
    let mut note = String::new();
    let target = match kind {
        FaultKind::KillLeader => {
            let t = pick_leader()?;
            let t0 = Instant::now();
            env.cluster.kill(&t);
            note = failover_note(env, &t, t0).await;
            tokio::time::sleep(DOWNTIME.saturating_sub(t0.elapsed())).await;
            env.cluster.start(&t)?;
            t
        }
        FaultKind::KillFollower => {
            let t = rng.pick(&followers).clone();
            env.cluster.kill(&t);
            tokio::time::sleep(DOWNTIME).await;
            env.cluster.start(&t)?;
            t
        }
        FaultKind::PauseLeader | FaultKind::PauseFollower => {
            let t = if kind == FaultKind::PauseLeader {
                pick_leader()?
            } else {
                rng.pick(&followers).clone()
            };
            let t0 = Instant::now();
            env.cluster.pause(&t)?;
            if kind == FaultKind::PauseLeader {
                note = failover_note(env, &t, t0).await;
            }
            tokio::time::sleep((ELECTION_MAX * 3).saturating_sub(t0.elapsed())).await;
            env.cluster.resume(&t)?;
            t
        }
        FaultKind::WipeRestart => {
            let t = rng.pick(&names).clone();
            if Some(&t) == leader.as_ref() {
                note = "(the leader)".into();
            }
            env.cluster.kill(&t);
            env.cluster.wipe(&t)?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            env.cluster.start(&t)?;
            t
        }
        FaultKind::RollingRestart => {
            for n in &names {
                env.cluster.terminate(n);
                env.cluster.start(n)?;
                // Back as a voter with a leader before the next one goes.
                let url = env.cluster.spec(n).url("/admin/cluster");
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    if let Ok(v) = observe::view(&env.http, &url).await {
                        if v.leader.is_some() && v.voters.contains(&v.node) {
                            break;
                        }
                    }
                    if Instant::now() > deadline {
                        note.push_str(&format!("{n} not back within 30 s; "));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            "all".to_string()
        }
        FaultKind::ScaleOutIn => {
            note = scale_out_in(env).await?;
            "+2 -2".to_string()
        }
        FaultKind::IsolateLeader
        | FaultKind::IsolateFollower
        | FaultKind::Split
        | FaultKind::PacketLoss
        | FaultKind::SlowLinks
        | FaultKind::OneWay => {
            let done = net::inject(env, kind, &mut rng, leader.as_deref(), &followers).await?;
            note = done.note;
            done.target
        }
        FaultKind::DiskFull | FaultKind::SyncFail => {
            let done = disk::inject(env, kind, &mut rng, leader.as_deref(), &followers).await?;
            note = done.note;
            done.target
        }
        FaultKind::ClockSkew => {
            let done = clock::inject(env, &mut rng, leader.as_deref(), &followers).await?;
            note = done.note;
            done.target
        }
        FaultKind::RollingUpgrade => {
            let done = upgrade::inject(env).await?;
            note = done.note;
            done.target
        }
    };
    Ok(FaultRecord {
        cycle: 0,
        kind,
        target,
        duration_ms: 0,
        note,
        injected: true,
        skipped: false,
        stable_leader_ms: None,
        converged_ms: None,
    })
}

async fn wait_voters(env: &Env, want: usize, within: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        for n in env.cluster.live() {
            if let Ok(v) =
                observe::view(&env.http, &env.cluster.spec(&n).url("/admin/cluster")).await
            {
                if v.leader.is_some() && v.voters.len() == want {
                    return Some(t0.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// Scale out by the two spares, wait until they are voters, then scale in as docs/deploy.md
/// says: remove them through the admin API while they run, stop them, delete their data.
async fn scale_out_in(env: &mut Env) -> anyhow::Result<String> {
    let base = env.cluster.members.clone();
    let spares = env.cluster.spares();
    if spares.len() < SPARES {
        bail!("no spare nodes");
    }
    for s in &spares {
        env.cluster.wipe(s)?;
        env.cluster.start(s)?;
        env.cluster.members.push(s.clone());
    }
    let grown = env.cluster.members.len();
    let out = wait_voters(env, grown, Duration::from_secs(60)).await;
    let mut note = match out {
        Some(d) => format!("{} voters after {} ms; ", grown, d.as_millis()),
        None => format!("{grown} voters not reached within 60 s; "),
    };
    // Highest ordinal first, as a StatefulSet scales in.
    for s in spares.iter().rev() {
        let id = observe::view(&env.http, &env.cluster.spec(s).url("/admin/cluster"))
            .await
            .map(|v| v.node);
        let removed = match id {
            Ok(id) => remove_node(env, &base, &id).await,
            Err(e) => Err(anyhow::anyhow!(e)),
        };
        if let Err(e) = removed {
            note.push_str(&format!("remove {s}: {e:#}; "));
        }
        env.cluster.terminate(s);
        env.cluster.wipe(s)?;
        env.cluster.members.retain(|m| m != s);
    }
    match wait_voters(env, base.len(), Duration::from_secs(60)).await {
        Some(d) => note.push_str(&format!("{} voters after {} ms", base.len(), d.as_millis())),
        None => note.push_str(&format!("{} voters not reached within 60 s", base.len())),
    }
    Ok(note)
}

/// `POST /admin/cluster/nodes/{id}/remove` to the base members until one accepts (30 s).
async fn remove_node(env: &Env, via: &[String], id: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        for n in via {
            let url = env
                .cluster
                .spec(n)
                .url(&format!("/admin/cluster/nodes/{id}/remove"));
            match env.http.post(&url).bearer_auth(ADMIN_TOKEN).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
                Err(e) => last = e.to_string(),
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    bail!("not removed within 30 s: {last}")
}

/// How long until a live node other than `old` reports itself leader (at most the downtime).
pub(crate) async fn failover_note(env: &Env, old: &str, t0: Instant) -> String {
    let others: Vec<String> = env
        .cluster
        .live()
        .into_iter()
        .filter(|n| n != old)
        .collect();
    while t0.elapsed() < DOWNTIME {
        for n in &others {
            if let Ok(v) =
                observe::view(&env.http, &env.cluster.spec(n).url("/admin/cluster")).await
            {
                if v.leader.as_deref() == Some(v.node.as_str()) {
                    return format!("new leader {n} after {} ms", t0.elapsed().as_millis());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    format!("no new leader within {} ms", DOWNTIME.as_millis())
}
