//! Skewed clocks: a follower restarted with its wall clock two hours ahead or behind
//! (libfaketime, preloaded; monotonic time left alone, as with a wrong NTP setting), then made
//! the leader (the others paused until its term is the highest). The guarded operarius's budget (3 per
//! hour) and the `clock` invariant (no recorded time outside the campaign's own span) show
//! whether its clock decided anything.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{leader_name, Done, Skipped};
use crate::campaign::Env;
use crate::cluster::{Overrides, ELECTION_MAX};
use crate::observe;
use crate::rng::SeededRng;

/// How far the skewed clock is off: past the guarded operarius's one-hour budget window.
pub const SKEW_SECS: i64 = 2 * 3600;

/// Where Debian's `faketime` package puts the preload library.
const LIBFAKETIME: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
];

/// Rounds tried before giving up on making the skewed node lead.
const TRIES: usize = 8;

pub(super) async fn inject(
    env: &mut Env,
    rng: &mut SeededRng,
    _leader: Option<&str>,
    followers: &[String],
) -> anyhow::Result<Done> {
    let lib = LIBFAKETIME
        .iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| {
            Skipped("libfaketime is not installed (Debian package `faketime`)".into())
        })?;
    let target = rng.pick(followers).clone();
    let ahead = rng.below(3) != 0;
    let skew = if ahead { SKEW_SECS } else { -SKEW_SECS };
    env.cluster.overrides.insert(
        target.clone(),
        Overrides {
            env: vec![
                ("LD_PRELOAD".into(), lib.to_string()),
                ("FAKETIME".into(), format!("{skew:+}")),
                ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
                // Without it libfaketime caches the fake time for 10 s at a time.
                ("FAKETIME_NO_CACHE".into(), "1".into()),
            ],
            ..Overrides::default()
        },
    );
    let restarted = restart(env, &target).await;
    let mut note = format!("{target} clock {skew:+} s; ");
    let led = match restarted {
        Ok(()) => make_leader(env, &target).await,
        Err(e) => Err(e),
    };
    match &led {
        Ok(d) => {
            note.push_str(&format!("leads after {} ms", d.as_millis()));
            // Lead under the cycle's load for a while.
            tokio::time::sleep(ELECTION_MAX * 3).await;
            note.push_str(&clock_state(env, &target).await);
        }
        Err(e) => note.push_str(&format!("did not lead: {e:#}")),
    }
    // Heal: the same node with a correct clock.
    env.cluster.overrides.remove(&target);
    let healed = restart(env, &target).await;
    led?;
    healed?;
    Ok(Done { target, note })
}

/// SIGTERM `name`, start it (with its overrides), wait until it is a voter with a leader.
async fn restart(env: &mut Env, name: &str) -> anyhow::Result<()> {
    env.cluster.terminate(name);
    env.cluster.start(name)?;
    let url = env.cluster.spec(name).url("/admin/cluster");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(v) = observe::view(&env.http, &url).await {
            if v.leader.is_some() && v.voters.contains(&v.node) {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("{name} not back as a voter with a leader within 30 s")
}

/// Make `name` lead: pause every other member for two election timeouts — alone, it keeps
/// campaigning and its term climbs past theirs — then resume them all; their votes go to the
/// highest term. Tried a few times (a log behind theirs loses the vote).
async fn make_leader(env: &mut Env, name: &str) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    for _ in 0..TRIES {
        if leader_name(env).await.as_deref() == Some(name) {
            return Ok(t0.elapsed());
        }
        let others: Vec<String> = env
            .cluster
            .live()
            .into_iter()
            .filter(|n| n != name && env.cluster.members.contains(n))
            .collect();
        // A candidate whose log is behind a voter's does not get its vote: pause the others
        // at a moment the target's log is as long as theirs.
        caught_up(env, name, &others).await;
        for o in &others {
            env.cluster.pause(o)?;
        }
        tokio::time::sleep(ELECTION_MAX * 2).await;
        for o in &others {
            env.cluster.resume(o)?;
        }
        wait_one_leader(env).await;
    }
    match leader_name(env).await {
        Some(l) if l == name => Ok(t0.elapsed()),
        _ => anyhow::bail!("{name} did not win in {TRIES} rounds"),
    }
}

/// Until `name`'s last log index is at least every one of `others`' (5 s at most).
async fn caught_up(env: &Env, name: &str, others: &[String]) {
    let last = |n: String| async move {
        let url = env.cluster.spec(&n).url("/admin/cluster");
        let v: Value = env
            .http
            .get(&url)
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v["lastLogIndex"].as_u64()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(mine) = last(name.to_string()).await {
            let mut behind = false;
            for o in others {
                if last(o.clone()).await.is_none_or(|theirs| theirs > mine) {
                    behind = true;
                    break;
                }
            }
            if !behind {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Until every live node names the same leader (at most a few election timeouts).
async fn wait_one_leader(env: &Env) {
    let deadline = Instant::now() + ELECTION_MAX * 5;
    while Instant::now() < deadline {
        let mut seen = std::collections::BTreeSet::new();
        let mut all = true;
        for n in env.cluster.live() {
            match observe::view(&env.http, &env.cluster.spec(&n).url("/admin/cluster")).await {
                Ok(v) => {
                    seen.insert(v.leader);
                }
                Err(_) => all = false,
            }
        }
        if all && seen.len() == 1 && !seen.contains(&None) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The skewed node's cluster-time offset as it reports it.
async fn clock_state(env: &Env, name: &str) -> String {
    let url = env.cluster.spec(name).url("/admin/cluster");
    let got: Result<Value, _> = async {
        env.http
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await?
            .json()
            .await
    }
    .await;
    match got {
        Ok(v) => format!(
            "; its cluster-time offset {} ms (calibrated {})",
            v["clockOffsetMs"], v["clockCalibrated"]
        ),
        Err(e) => format!("; no view: {e}"),
    }
}
