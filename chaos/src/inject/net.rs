//! Network faults, in the nodes' namespaces: isolation, splits and packet loss (nftables in a
//! node's namespace, never in the root one), slow and lossy links (a userspace TCP proxy between
//! every pair of nodes) and one-way partitions.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use anyhow::{bail, Context};

use super::{failover_note, Done};
use crate::campaign::Env;
use crate::cluster::ELECTION_MAX;
use crate::faults::FaultKind;
use crate::linkproxy::{LinkProxy, Shape};
use crate::netns::Redirect;
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
        FaultKind::SlowLinks => {
            note = slow_links(env, rng, &names).await?;
            "all".to_string()
        }
        FaultKind::OneWay => {
            // A hears B, B does not hear A. The leader is one of the two in two draws of three.
            let (a, b) = match (leader, rng.below(3)) {
                (Some(l), 0) if !followers.is_empty() => {
                    (l.to_string(), rng.pick(&followers).clone())
                }
                (Some(l), 1) if !followers.is_empty() => {
                    (rng.pick(&followers).clone(), l.to_string())
                }
                _ => {
                    let a = rng.pick(&names).clone();
                    let others: Vec<String> = names.iter().filter(|n| **n != a).cloned().collect();
                    let b = rng.pick(&others).clone();
                    (a, b)
                }
            };
            let net = env.net.clone().context("network faults need --netns")?;
            let t0 = Instant::now();
            let cut = net.one_way(&b, &a).await;
            tokio::time::sleep((ELECTION_MAX * 3).saturating_sub(t0.elapsed())).await;
            let during = super::leader_name(env).await;
            let healed = heal_all(env).await;
            cut?;
            healed?;
            let role = |n: &str| if Some(n) == leader { " (leader)" } else { "" };
            note = format!(
                "{b}{} does not hear {a}{} (connections {a} opens, its datagrams), {a} hears {b}, \
                 for {} ms; leader at the end: {}",
                role(&b),
                role(&a),
                t0.elapsed().as_millis(),
                during.as_deref().unwrap_or("none")
            );
            format!("{a}-/>{b}")
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

/// How long links stay slow: a few election timeouts.
const SLOW_FOR: std::time::Duration = ELECTION_MAX.saturating_mul(6);

/// One ordered pair of nodes and the proxies of its link, one per port of the receiver.
struct Link {
    from: String,
    to: String,
    shape: Shape,
    proxies: Vec<(SocketAddr, LinkProxy)>,
}

/// Every node's connections to every peer (Raft, forwarded writes and requests: the peer port;
/// the API port too, which nodes use for forwards without peer TLS) go through a proxy of the
/// harness for [`SLOW_FOR`], each ordered pair with a shape of its own; then the DNAT goes and
/// every proxied connection is closed, so the nodes reconnect directly. Fails when the proxies
/// carried nothing.
async fn slow_links(env: &Env, rng: &mut SeededRng, names: &[String]) -> anyhow::Result<String> {
    let net = env.net.clone().context("network faults need --netns")?;
    let harness: IpAddr = net.harness_ip.parse().context("harness address")?;
    let mut links = Vec::new();
    let mut ports = Vec::new();
    for from in names {
        for to in names.iter().filter(|n| *n != from) {
            let spec = env.cluster.spec(to);
            let ip: IpAddr = spec
                .ip
                .parse()
                .with_context(|| format!("address of {to}"))?;
            let shape = Shape::draw(rng, SLOW_FOR);
            let mut proxies = Vec::new();
            for port in [spec.raft_port, spec.api_port] {
                if !ports.contains(&port) {
                    ports.push(port);
                }
                let upstream = SocketAddr::new(ip, port);
                let p = LinkProxy::start(
                    SocketAddr::new(harness, 0),
                    upstream,
                    shape.clone(),
                    rng.next_u64(),
                )
                .await
                .with_context(|| format!("link proxy {from} → {upstream}"))?;
                proxies.push((upstream, p));
            }
            links.push(Link {
                from: from.clone(),
                to: to.clone(),
                shape,
                proxies,
            });
        }
    }
    let t0 = Instant::now();
    let mut res = Ok(());
    for from in names {
        let routes: Vec<Redirect> = links
            .iter()
            .filter(|l| l.from == *from)
            .flat_map(|l| &l.proxies)
            .map(|(to, p)| Redirect {
                to: *to,
                via: p.addr(),
            })
            .collect();
        let peers: Vec<String> = names.iter().filter(|p| *p != from).cloned().collect();
        res = res.and(net.redirect(from, &routes, &peers, &ports).await);
        if res.is_err() {
            break;
        }
    }
    if res.is_ok() {
        tokio::time::sleep(SLOW_FOR.saturating_sub(t0.elapsed())).await;
    }
    let slow_ms = t0.elapsed().as_millis();
    // The DNAT first (new connections go direct), then the proxied connections are closed.
    let healed = heal_all(env).await;
    let (mut conns, mut bytes) = (0, 0);
    let mut per_pair = Vec::new();
    for l in links {
        let (c, b) = l.proxies.iter().fold((0, 0), |(c, b), (_, p)| {
            (c + p.connections(), b + p.bytes())
        });
        conns += c;
        bytes += b;
        per_pair.push(format!(
            "{}→{} {}: {c} conn {} KiB",
            l.from,
            l.to,
            l.shape,
            b.div_ceil(1024)
        ));
        for (_, p) in l.proxies {
            p.close().await;
        }
    }
    res?;
    healed?;
    if conns == 0 || bytes == 0 {
        bail!("the link proxies carried nothing ({conns} connections, {bytes} bytes)");
    }
    Ok(format!(
        "slow links for {slow_ms} ms, proxied {conns} connections, {} KiB; {}",
        bytes.div_ceil(1024),
        per_pair.join("; ")
    ))
}
