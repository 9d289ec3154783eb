//! Mixed-version rolling upgrade: under the cycle's load, every member is rolled to the
//! previous release one at a time (SIGTERM, start the other binary on the same data dir, wait
//! until it is a voter with a leader), then rolled back to the build under test the same way.
//! Between the steps the cluster runs mixed: logs, snapshots and RPCs written by either
//! release must be read by the other. The previous release's binary comes from
//! `--previous-bin` (`.ci/chaos` builds and caches it from `chaos/previous-release`).

use std::time::{Duration, Instant};

use super::{Done, Skipped};
use crate::campaign::Env;
use crate::observe;

pub(super) async fn inject(env: &mut Env) -> anyhow::Result<Done> {
    let previous = env.previous_bin.clone().ok_or_else(|| {
        Skipped("no previous release to roll to (--previous-bin; .ci/chaos builds it)".into())
    })?;
    let names = env.cluster.names();
    let mut note = String::new();
    let mut worst = Duration::ZERO;
    for (step, bin) in [("to the previous release", Some(previous)), ("back", None)] {
        for n in &names {
            match &bin {
                Some(b) => {
                    env.cluster.overrides.entry(n.clone()).or_default().bin = Some(b.clone());
                }
                None => {
                    if let Some(o) = env.cluster.overrides.get_mut(n) {
                        o.bin = None;
                    }
                    drop_if_default(env, n);
                }
            }
            let t0 = Instant::now();
            env.cluster.terminate(n);
            env.cluster.start(n)?;
            back_as_voter(env, n).await.map_err(|e| {
                anyhow::anyhow!("rolling {step}: {e:#} (log: {})", last_log(env, n))
            })?;
            worst = worst.max(t0.elapsed());
        }
        note.push_str(&format!("rolled {step}; "));
    }
    note.push_str(&format!(
        "slowest node back as a voter after {} ms",
        worst.as_millis()
    ));
    Ok(Done {
        target: "all".into(),
        note,
    })
}

fn drop_if_default(env: &mut Env, name: &str) {
    if let Some(o) = env.cluster.overrides.get(name) {
        if o.env.is_empty() && o.wrapper.is_empty() && o.bin.is_none() {
            env.cluster.overrides.remove(name);
        }
    }
}

/// Until `name` reports a leader and itself among the voters (30 s at most).
async fn back_as_voter(env: &Env, name: &str) -> anyhow::Result<()> {
    let url = env.cluster.spec(name).url("/admin/cluster");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        match observe::view(&env.http, &url).await {
            Ok(v) if v.leader.is_some() && v.voters.contains(&v.node) => return Ok(()),
            Ok(v) => last = format!("leader {:?}, voters {:?}", v.leader, v.voters),
            Err(e) => last = e,
        }
        if let Some(r) = env.cluster.running.get(name) {
            if r.stopped {
                anyhow::bail!("{name} is paused");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("{name} not back as a voter with a leader within 30 s ({last})")
}

/// The node's newest log file, for the error.
fn last_log(env: &Env, name: &str) -> String {
    env.cluster
        .all_logs
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, p)| p.display().to_string())
        .unwrap_or_default()
}
