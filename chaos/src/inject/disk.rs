//! Disk faults: a node's data dir fills up (its own size-limited tmpfs, as root), or its
//! store's sync fails with EIO (a hook of openfero's `chaos-faults` build).
//!
//! A node that cannot persist must never acknowledge; openfero then stops Raft, answers
//! `/readyz` 503 with the reason and exits with code 75. The harness acts as its supervisor:
//! that exit is expected in these faults (any other exit is not), and it restarts the node.

use std::path::Path;
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::{Done, Skipped};
use crate::campaign::Env;
use crate::cluster::{tmpfs, ELECTION_MAX};
use crate::faults::FaultKind;
use crate::rng::SeededRng;

/// openfero's exit code when Raft stopped on a storage error (`EX_TEMPFAIL`).
const EXIT_STORAGE: i32 = 75;
/// How long a disk stays full, or its sync failing.
const FAULT_TIME: Duration = Duration::from_millis(3 * ELECTION_MAX.as_millis() as u64);
/// How long the supervisor keeps restarting a node that exits again.
const RESTART_FOR: Duration = Duration::from_secs(30);
/// How long a restarted node may take to be ready (a leader known).
const READY_WITHIN: Duration = Duration::from_secs(20);
/// A node whose Raft stopped exits within this (openfero bounds its stop to 5 s).
const EXIT_WITHIN: Duration = Duration::from_secs(10);

pub(super) async fn inject(
    env: &mut Env,
    kind: FaultKind,
    rng: &mut SeededRng,
    leader: Option<&str>,
    followers: &[String],
) -> anyhow::Result<Done> {
    match kind {
        FaultKind::DiskFull => disk_full(env, rng, leader, followers).await,
        FaultKind::SyncFail => sync_fail(env, rng, leader, followers).await,
        _ => bail!("{kind} is no disk fault"),
    }
}

fn skipped(why: String) -> anyhow::Error {
    anyhow::Error::new(Skipped(why))
}

/// The leader or a follower, by the seeded draw: the node and which it was.
fn pick(
    rng: &mut SeededRng,
    leader: Option<&str>,
    followers: &[String],
) -> anyhow::Result<(String, &'static str)> {
    let lead = rng.chance(50);
    match leader {
        Some(l) if lead || followers.is_empty() => Ok((l.to_string(), "leader")),
        _ if !followers.is_empty() => Ok((rng.pick(followers).clone(), "follower")),
        _ => bail!("no node to fault"),
    }
}

/// What one node did while it could not persist.
#[derive(Default)]
struct Seen {
    /// When `/readyz` first said Raft had stopped, and why.
    raft_stopped: Option<(Duration, String)>,
    /// When the process was seen to have exited, and how.
    exited: Option<(Duration, ExitStatus)>,
}

impl Seen {
    fn describe(&self) -> String {
        let mut s = match &self.raft_stopped {
            Some((at, why)) => format!("readyz 503 `{why}` at {} ms", at.as_millis()),
            None => "raft kept running".to_string(),
        };
        if let Some((at, st)) = &self.exited {
            s.push_str(&format!(", exited ({st}) at {} ms", at.as_millis()));
        }
        s
    }
}

/// Why `/readyz` says Raft stopped, if it does.
async fn raft_stopped(env: &Env, name: &str) -> Option<String> {
    let url = env.cluster.spec(name).url("/readyz");
    let r = env
        .http
        .get(&url)
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .ok()?;
    if r.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let v: serde_json::Value = r.json().await.ok()?;
    v["raft_stopped"].as_str().map(str::to_string)
}

/// Whether `/readyz` answers 200 (the store answers, a leader is known).
async fn ready(env: &Env, name: &str) -> bool {
    let url = env.cluster.spec(name).url("/readyz");
    env.http
        .get(&url)
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Whether the node's process has exited (not reaped from the cluster yet).
fn has_exited(env: &mut Env, name: &str) -> Option<ExitStatus> {
    env.cluster
        .running
        .get_mut(name)
        .and_then(|r| r.guard.exited())
}

/// Watch `names` for `within` from `t0` (every 100 ms): readyz's verdict and exits. With
/// `until_exit`, return as soon as every one of them has exited.
async fn watch(
    env: &mut Env,
    names: &[String],
    t0: Instant,
    within: Duration,
    until_exit: bool,
) -> Vec<Seen> {
    let mut seen: Vec<Seen> = names.iter().map(|_| Seen::default()).collect();
    while t0.elapsed() < within {
        for (n, s) in names.iter().zip(seen.iter_mut()) {
            if s.exited.is_some() {
                continue;
            }
            if let Some(st) = has_exited(env, n) {
                s.exited = Some((t0.elapsed(), st));
                continue;
            }
            if s.raft_stopped.is_none() {
                if let Some(why) = raft_stopped(env, n).await {
                    s.raft_stopped = Some((t0.elapsed(), why));
                }
            }
        }
        if until_exit && seen.iter().all(|s| s.exited.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

/// Judge a reaped exit: a storage exit is what a disk fault expects; anything else is
/// reported as an unexpected exit.
fn judge(env: &mut Env, name: &str, st: ExitStatus) -> String {
    if st.code() == Some(EXIT_STORAGE) {
        format!("exit {EXIT_STORAGE} (expected)")
    } else {
        env.cluster
            .unexpected_exits
            .push((name.to_string(), format!("{st} during a disk fault")));
        format!("UNEXPECTED exit ({st})")
    }
}

/// Start `names` and wait until each is ready; restart one (a second later) while it exits
/// again, for [`RESTART_FOR`]: what a supervisor (the kubelet) does. One note per node.
async fn supervise(env: &mut Env, names: &[String]) -> anyhow::Result<Vec<String>> {
    let t0 = Instant::now();
    let n = names.len();
    let mut notes = vec![String::new(); n];
    let mut starts = vec![0u32; n];
    let mut started = vec![t0; n];
    let mut next_start = vec![Some(t0); n];
    let mut done = vec![false; n];
    while done.iter().any(|d| !d) {
        for i in 0..n {
            let name = &names[i];
            if done[i] {
                continue;
            }
            if let Some(at) = next_start[i] {
                if Instant::now() < at {
                    continue;
                }
                env.cluster.start(name)?;
                starts[i] += 1;
                started[i] = Instant::now();
                next_start[i] = None;
            }
            if let Some(st) = env.cluster.reap_exited(name) {
                let j = judge(env, name, st);
                notes[i].push_str(&format!("restart {} exited: {j}; ", starts[i]));
                if t0.elapsed() > RESTART_FOR {
                    bail!(
                        "{name} did not stay up within {RESTART_FOR:?}: {}",
                        notes[i]
                    );
                }
                next_start[i] = Some(Instant::now() + Duration::from_secs(1));
                continue;
            }
            if ready(env, name).await {
                done[i] = true;
                let times = if starts[i] > 1 {
                    format!(" {} times", starts[i])
                } else {
                    String::new()
                };
                notes[i].push_str(&format!(
                    "restarted{times}, ready after {} ms",
                    t0.elapsed().as_millis()
                ));
            } else if started[i].elapsed() > READY_WITHIN {
                bail!("{name} not ready within {READY_WITHIN:?} of a restart");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(notes)
}

/// After a disk fault: wait for a node whose Raft stopped to exit (it must: never a live
/// process with a dead Raft), judge the exit, and restart it; a node that kept running is
/// waited for until ready. The note says what happened.
async fn recover(env: &mut Env, name: &str, seen: &Seen) -> anyhow::Result<String> {
    let mut exited = seen.exited.as_ref().map(|(_, st)| *st);
    if exited.is_none() {
        // Raft may have stopped late in the fault, unseen: then the node exits now.
        let t0 = Instant::now();
        let wait = if seen.raft_stopped.is_some() {
            EXIT_WITHIN
        } else {
            READY_WITHIN
        };
        while t0.elapsed() < wait {
            if let Some(st) = has_exited(env, name) {
                exited = Some(st);
                break;
            }
            if seen.raft_stopped.is_none() && ready(env, name).await {
                return Ok(format!("ready {} ms after", t0.elapsed().as_millis()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    if exited.is_none() {
        match seen.raft_stopped {
            Some(_) => {
                bail!("{name}: raft stopped but the process still runs {EXIT_WITHIN:?} later")
            }
            None => bail!("{name} not ready within {READY_WITHIN:?} after the disk came back"),
        }
    }
    let st = env
        .cluster
        .reap_exited(name)
        .context("an exited node is no longer tracked")?;
    let j = judge(env, name, st);
    let back = supervise(env, &[name.to_string()]).await?.concat();
    Ok(format!("{j}; {back}"))
}

/// Fill the target's tmpfs during the load for three election timeouts (or until it exits),
/// free it, and supervise the node back.
async fn disk_full(
    env: &mut Env,
    rng: &mut SeededRng,
    leader: Option<&str>,
    followers: &[String],
) -> anyhow::Result<Done> {
    if let Some(why) = tmpfs::unavailable() {
        return Err(skipped(format!("disk-full: {why}")));
    }
    let (t, role) = pick(rng, leader, followers)?;
    let dir = env.cluster.spec(&t).data_dir.clone();
    if !tmpfs::is_mount_point(&dir) {
        return Err(skipped(format!(
            "disk-full: the data dir of {t} is not a tmpfs of its own"
        )));
    }
    let fill = dir.join("chaos-fill");
    let t0 = Instant::now();
    let bytes = {
        let fill = fill.clone();
        tokio::task::spawn_blocking(move || tmpfs::fill(&fill)).await??
    };
    let filled_ms = t0.elapsed().as_millis();
    let names = [t.clone()];
    let seen = watch(env, &names, t0, FAULT_TIME, true).await;
    let full_ms = t0.elapsed().as_millis();
    std::fs::remove_file(&fill).with_context(|| format!("free `{}`", fill.display()))?;
    let seen = &seen[0];
    let back = recover(env, &t, seen).await?;
    Ok(Done {
        target: t,
        note: format!(
            "({role}) {} MiB filled in {filled_ms} ms, full for {full_ms} ms: {}; space freed: {back}",
            bytes >> 20,
            seen.describe()
        ),
    })
}

/// Whether `bin` was built with the `chaos-faults` hooks (its `--version` says so).
fn has_hooks(bin: &Path) -> bool {
    static SEEN: OnceLock<std::sync::Mutex<Vec<(std::path::PathBuf, bool)>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let mut seen = seen.lock().expect("hooks cache lock");
    if let Some((_, has)) = seen.iter().find(|(b, _)| b == bin) {
        return *has;
    }
    let has = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("(chaos-faults)"));
    seen.push((bin.to_path_buf(), has));
    has
}

/// Wait (≤ 1 s) until the process of `name` is stopped (state `T` in `/proc`).
async fn stopped(env: &Env, name: &str) -> bool {
    let Some(pid) = env.cluster.running.get(name).and_then(|r| r.guard.pid()) else {
        return false;
    };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(1) {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // `pid (comm) S ...`: the state follows the last `)`.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.trim_start()) {
            if rest.starts_with('T') || rest.starts_with('t') {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The targets' store syncs fail for three election timeouts under load. A failed fsync means
/// the disk may have lost what was written since the last good one, so the fault is made
/// faithful: each target is stopped, its data dir copied aside and the trigger created, then
/// it runs on; at the heal it is killed, its data dir restored from the copy, the trigger
/// removed, and it is started again. A correct node never acknowledged what the copy lacks.
async fn sync_fail(
    env: &mut Env,
    rng: &mut SeededRng,
    leader: Option<&str>,
    followers: &[String],
) -> anyhow::Result<Done> {
    let bin = env.cluster.bin.clone();
    if !has_hooks(&bin) {
        return Err(skipped(format!(
            "sync-fail: `{}` has no chaos-faults hooks (build it with --features chaos-faults)",
            bin.display()
        )));
    }
    let (targets, what) = if env.cluster.sync_fail_all {
        (env.cluster.names(), "all nodes".to_string())
    } else {
        let (t, role) = pick(rng, leader, followers)?;
        (vec![t], format!("({role})"))
    };
    for t in &targets {
        env.cluster.pause(t)?;
    }
    let mut copied = 0u64;
    let mut prepared = Ok(());
    for t in &targets {
        let spec = env.cluster.spec(t).clone();
        let copy = spec.data_dir.with_extension("sync-fail-copy");
        let step = async {
            if !stopped(env, t).await {
                bail!("{t} did not stop on SIGSTOP");
            }
            if copy.exists() {
                std::fs::remove_dir_all(&copy)?;
            }
            copied += tmpfs::copy_tree(&spec.data_dir, &copy)?;
            std::fs::write(spec.sync_fail_trigger(), b"")
                .with_context(|| format!("create `{}`", spec.sync_fail_trigger().display()))?;
            Ok(())
        };
        prepared = step.await;
        if prepared.is_err() {
            break;
        }
    }
    for t in &targets {
        env.cluster.resume(t)?;
    }
    if let Err(e) = prepared {
        for t in &targets {
            let _ = std::fs::remove_file(env.cluster.spec(t).sync_fail_trigger());
        }
        return Err(e);
    }
    let t0 = Instant::now();
    let seen = watch(env, &targets, t0, FAULT_TIME, false).await;
    let mut notes = Vec::new();
    for (t, s) in targets.iter().zip(&seen) {
        let spec = env.cluster.spec(t).clone();
        let exit = match env.cluster.reap_exited(t) {
            Some(st) => judge(env, t, st),
            None => {
                env.cluster.kill(t);
                "killed".to_string()
            }
        };
        let copy = spec.data_dir.with_extension("sync-fail-copy");
        env.cluster.wipe(t)?;
        tmpfs::copy_tree(&copy, &spec.data_dir)?;
        std::fs::remove_dir_all(&copy)?;
        std::fs::remove_file(spec.sync_fail_trigger())?;
        notes.push(format!("{t}: {}; {exit}, restored", s.describe()));
    }
    // All at once: restarted one by one, a majority could not elect a leader to be ready.
    for (note, back) in notes.iter_mut().zip(supervise(env, &targets).await?) {
        note.push_str(&format!(", {back}"));
    }
    Ok(Done {
        target: targets.join(","),
        note: format!(
            "{what} syncs failing for {} ms ({} KiB copied aside): {}",
            FAULT_TIME.as_millis(),
            copied >> 10,
            notes.join("; ")
        ),
    })
}
