//! Network faults, in the nodes' namespaces: isolation, splits and packet loss (nftables in a
//! node's namespace, never in the root one), slow and lossy links (a userspace TCP proxy between
//! every pair of nodes) and one-way partitions.

use std::time::Instant;

use anyhow::Context;

use super::{failover_note, Done};
use crate::campaign::Env;
use crate::cluster::ELECTION_MAX;
use crate::faults::FaultKind;
use crate::rng::SeededRng;

pub(super) async fn inject(
    env: &mut Env,
    kind: FaultKind,
    rng: &mut SeededRng,
    leader: Option<&str>,
    followers: &[String],
) -> anyhow::Result<Done> {
    let names = env.cluster.names();
    let followers = followers.to_vec();
    let pick_leader = || leader.map(str::to_string).context("no leader to fault");
    let mut note = String::new();
    let target = match kind {
        FaultKind::IsolateLeader | FaultKind::IsolateFollower | FaultKind::Split => {
            let t = if kind == FaultKind::IsolateFollower {
                rng.pick(&followers).clone()
            } else {
                pick_leader()?
            };
            // The minority: the target alone, or (split) with followers up to (n - 1) / 2.
            let mut minority = vec![t.clone()];
            if kind == FaultKind::Split {
                let mut rest = followers.clone();
                while minority.len() < (names.len() - 1) / 2 && !rest.is_empty() {
                    let i = rng.below(rest.len() as u64) as usize;
                    minority.push(rest.remove(i));
                }
            }
            let majority: Vec<String> = names
                .iter()
                .filter(|n| !minority.contains(n))
                .cloned()
                .collect();
            let t0 = Instant::now();
            let cut = partition(env, &minority, &majority).await;
            if cut.is_ok() && Some(t.as_str()) == leader {
                note = failover_note(env, &t, t0).await;
            }
            tokio::time::sleep((ELECTION_MAX * 3).saturating_sub(t0.elapsed())).await;
            let healed = heal_all(env).await;
            cut?;
            healed?;
            minority.join("+")
        }
        FaultKind::PacketLoss => {
            let net = env.net.clone().context("network faults need --netns")?;
            let mut res = Ok(());
            for n in &names {
                let peers: Vec<String> = names.iter().filter(|p| *p != n).cloned().collect();
                res = res.and(net.lossy(n, &peers, LOSS_PERCENT).await);
            }
            tokio::time::sleep(ELECTION_MAX * 6).await;
            let healed = heal_all(env).await;
            res?;
            healed?;
            note = format!("{LOSS_PERCENT} % of peer packets dropped for 6 s");
            "all".to_string()
        }
        FaultKind::SlowLinks | FaultKind::OneWay => {
            anyhow::bail!("{kind} is not built yet")
        }
        _ => unreachable!("{kind} is not a network fault"),
    };
    Ok(Done { target, note })
}

/// Share of peer packets dropped by the packet-loss fault.
const LOSS_PERCENT: u8 = 20;

/// Cut `a` from `b` in both directions (rules in every node's namespace of both sides).
async fn partition(env: &Env, a: &[String], b: &[String]) -> anyhow::Result<()> {
    let net = env.net.clone().context("network faults need --netns")?;
    for n in a {
        net.cut(n, b).await?;
    }
    for n in b {
        net.cut(n, a).await?;
    }
    Ok(())
}

/// Remove every rule from every node's namespace.
async fn heal_all(env: &Env) -> anyhow::Result<()> {
    let Some(net) = env.net.clone() else {
        return Ok(());
    };
    let mut res = Ok(());
    for n in env.cluster.specs.keys() {
        res = res.and(net.heal(n).await);
    }
    res
}
