//! The highly available cluster, with real processes on loopback: gossip discovery and bootstrap
//! form exactly one cluster; webhooks are accepted on any node and replicated to all; a leader
//! SIGKILL under load loses no acknowledged webhook and runs no remediation twice; a node with a
//! wiped disk is a new member; scaling 3 -> 5 -> 3 keeps a quorum and an odd number of voters;
//! unsafe admin changes are refused.
//!
//! Every process is killed by PID through drop guards (on success and failure); every wait polls
//! a condition with a deadline. Schedules that use randomness print their seed; set
//! `OPENFERO_TEST_SEED` to replay one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cluster_support::{
    agreed, ids_of, post_alert, seeded_rng, view_at, wait_for, ClusterOptions, ClusterView, Formed,
    TestCluster, MARKED,
};
use crate::support::webhook;

/// Formation includes gossip discovery and the bootstrap's stability wait.
const FORM: Duration = Duration::from_secs(60);
const STARTS_AT: &str = "2026-01-01T00:00:00Z";

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Seeds for randomised schedules: `OPENFERO_TEST_SEED` if set, else a fixed few.
fn seeds(default: &[u64]) -> Vec<u64> {
    match std::env::var("OPENFERO_TEST_SEED") {
        Ok(s) => vec![s.parse().expect("OPENFERO_TEST_SEED is a u64")],
        Err(_) => default.to_vec(),
    }
}

/// Post `body` to `node` until it is acknowledged (503 without a leader is retried).
async fn post_until_ok(c: &TestCluster, node: &str, body: &Value) -> Value {
    wait_for(
        &format!("{node} to acknowledge a webhook"),
        Duration::from_secs(20),
        || async {
            let (status, answer) = c.post_alert(node, body).await?;
            if status == StatusCode::OK {
                Ok(answer)
            } else {
                Err(format!("{status} {answer}"))
            }
        },
    )
    .await
}

/// Wait until the remediation `id` is in a final state on `node`; that state.
async fn final_state(c: &TestCluster, node: &str, id: &str) -> String {
    let url = c.url(node, &format!("/api/remediations/{id}"));
    wait_for(
        &format!("remediation {id} to finish on {node}"),
        Duration::from_secs(30),
        || async {
            let r = c.http.get(&url).send().await.map_err(|e| e.to_string())?;
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            match v["state"].as_str() {
                Some(s @ ("succeeded" | "failed" | "interrupted" | "skipped")) => Ok(s.to_string()),
                other => Err(format!("state {other:?}")),
            }
        },
    )
    .await
}

/// Event ids in `node`'s local history.
async fn stored_events(c: &TestCluster, node: &str) -> Result<BTreeSet<String>, String> {
    let list = c.get_list(node, "/api/alerts?limit=1000").await?;
    Ok(list
        .iter()
        .filter_map(|a| a["eventId"].as_str().map(str::to_string))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// 1. Discovery and bootstrap form exactly one cluster.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_started_together_form_one_cluster() {
    let mut c = TestCluster::new(&["n1", "n2", "n3"], ClusterOptions::default());
    c.start_all();
    let all = c.running();
    let formed = c.wait_formed(&all, FORM).await;
    for n in &all {
        let v = c.view(n).await.expect("view");
        for want in &all {
            let entry = v
                .nodes
                .iter()
                .find(|e| &e.name == want)
                .unwrap_or_else(|| panic!("{n} does not list {want}: {v:?}"));
            assert_eq!(entry.id, formed.ids[want], "{n}'s entry for {want}");
            assert_eq!(entry.role, "voter", "{n}'s entry for {want}");
            let port = c.spec(want).api_port.to_string();
            assert!(
                entry.api_addr.ends_with(&format!(":{port}")),
                "{n} lists {want} with api address {}",
                entry.api_addr
            );
        }
        let ready = c
            .http
            .get(c.url(n, "/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(ready.status(), 200, "{n} /readyz");
    }
    // Every node reports every node's last log and applied index (others' through gossip).
    for n in &all {
        wait_for(
            &format!("{n} to show the indexes of every node"),
            FORM,
            || async {
                let v = c.view(n).await?;
                let complete = all.iter().all(|want| {
                    v.nodes.iter().any(|e| {
                        &e.name == want
                            && e.applied_index.is_some_and(|i| i > 0)
                            && e.last_log_index >= e.applied_index
                    })
                });
                if complete {
                    Ok(())
                } else {
                    Err(format!("{v:?}"))
                }
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_started_in_random_order_with_random_delays_form_one_cluster() {
    for seed in seeds(&[0x5eed_0001, 0x5eed_0002, 0x5eed_0003]) {
        let mut rng = seeded_rng(seed);
        let mut order = names(&["n1", "n2", "n3"]);
        order.shuffle(&mut rng);
        let delays: Vec<u64> = order.iter().map(|_| rng.random_range(0..1500u64)).collect();
        println!("seed {seed}: start order {order:?}, delays before each start {delays:?} ms");
        let mut c = TestCluster::new(&["n1", "n2", "n3"], ClusterOptions::default());
        for (name, delay) in order.iter().zip(&delays) {
            // A scenario delay (the schedule under test), not a synchronisation.
            tokio::time::sleep(Duration::from_millis(*delay)).await;
            c.start(name);
        }
        let all = c.running();
        let formed = c.wait_formed(&all, FORM).await;
        println!(
            "seed {seed}: one cluster {} led by {}",
            formed.uuid,
            formed.leader_name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_n1_started_after_the_others_still_gives_one_cluster() {
    let mut c = TestCluster::new(&["n1", "n2", "n3"], ClusterOptions::default());
    c.start("n2");
    c.start("n3");
    // n2 and n3 meet through gossip and, expecting 3, must not bootstrap on their own.
    wait_for("n2 and n3 to see each other", FORM, || async {
        for (me, other) in [("n2", "n3"), ("n3", "n2")] {
            let v = c.view(me).await?;
            if !v.names().contains(other) {
                return Err(format!("{me} lists {:?}", v.names()));
            }
        }
        Ok(())
    })
    .await;
    let watch_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < watch_until {
        for n in ["n2", "n3"] {
            let v = c.view(n).await.expect("view");
            assert!(
                v.cluster_uuid.is_none() && v.voters.is_empty(),
                "{n} bootstrapped with 2 of the 3 expected nodes: {v:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.start("n1");
    let all = c.running();
    let formed = c.wait_formed(&all, FORM).await;
    println!("late n1: leader {}", formed.leader_name());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_with_different_ids_on_the_same_seeds_never_merge() {
    let alpha_opts = ClusterOptions {
        cluster_id: "alpha".into(),
        ..Default::default()
    };
    let beta_opts = ClusterOptions {
        cluster_id: "beta".into(),
        ..Default::default()
    };
    let mut alpha = TestCluster::new(&["a1", "a2", "a3"], alpha_opts);
    let mut beta = TestCluster::new(&["b1", "b2", "b3"], beta_opts);
    let mut shared = alpha.seeds.clone();
    shared.extend(beta.seeds.clone());
    alpha.seeds = shared.clone();
    beta.seeds = shared;
    for (a, b) in [("a1", "b1"), ("a2", "b2"), ("a3", "b3")] {
        alpha.start(a);
        beta.start(b);
    }
    let fa = alpha.wait_formed(&alpha.running(), FORM).await;
    let fb = beta.wait_formed(&beta.running(), FORM).await;
    assert_ne!(fa.uuid, fb.uuid, "two clusters share a uuid");
    // Watch a few dozen gossip rounds: no node ever lists a member of the other cluster.
    let a_names: BTreeSet<String> = alpha.running().into_iter().collect();
    let b_names: BTreeSet<String> = beta.running().into_iter().collect();
    let watch_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < watch_until {
        for (c, own, formed) in [(&alpha, &a_names, &fa), (&beta, &b_names, &fb)] {
            for n in c.running() {
                let v = c.view(&n).await.expect("view");
                assert!(
                    v.names().is_subset(own),
                    "{n} lists foreign nodes: {:?}",
                    v.names()
                );
                assert_eq!(v.cluster_uuid.as_deref(), Some(formed.uuid.as_str()), "{n}");
                assert_eq!(v.voters.len(), 3, "{n}: {v:?}");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Any node takes webhooks; the history is on every node.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_sent_to_a_follower_is_acknowledged_and_replicated_to_every_node() {
    let opts = ClusterOptions {
        separate_raft_port: true,
        ..Default::default()
    };
    let mut c = TestCluster::new(&["n1", "n2", "n3"], opts);
    c.start_all();
    let all = c.running();
    let formed = c.wait_formed(&all, FORM).await;
    let followers = formed.followers();
    let (f, other) = (&followers[0], &followers[1]);

    let answer = post_until_ok(&c, f, &webhook(MARKED, "pod-follower", "firing", STARTS_AT)).await;
    assert_eq!(answer["recorded"], 1, "{answer}");
    let (event, remediation) = ids_of(&answer);
    let remediation = remediation.unwrap_or_else(|| panic!("no remediation in {answer}"));

    // A consistent read on the other follower reflects the acknowledged write at once.
    let r = c
        .http
        .get(c.url(other, "/api/alerts?consistent=true&limit=1000"))
        .send()
        .await
        .expect("consistent read");
    assert_eq!(r.status(), 200);
    let leader_header = r
        .headers()
        .get("x-openfero-leader")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let list: Vec<Value> = r.json().await.expect("json");
    assert!(
        list.iter().any(|a| a["eventId"] == event.as_str()),
        "consistent read on {other} misses acknowledged event {event}"
    );
    assert_eq!(leader_header.as_deref(), Some(formed.leader.as_str()));

    for n in &all {
        wait_for(
            &format!("event {event} on {n}"),
            Duration::from_secs(10),
            || async {
                let stored = stored_events(&c, n).await?;
                stored
                    .contains(&event)
                    .then_some(())
                    .ok_or(format!("{n} has {stored:?}"))
            },
        )
        .await;
        assert_eq!(final_state(&c, n, &remediation).await, "succeeded", "{n}");
    }
    assert_eq!(c.marker_lines(), vec!["pod-follower".to_string()]);
}

// ---------------------------------------------------------------------------------------------
// 3. Leader SIGKILL under load.

#[derive(Debug, Clone)]
struct Ack {
    event: String,
    remediation: Option<String>,
    pod: String,
    at: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_sigkill_under_load_loses_no_acknowledged_webhook_and_runs_nothing_twice() {
    let seed = seeds(&[0x5eed_0100])[0];
    println!("seed {seed}");
    let mut c = TestCluster::new(&["n1", "n2", "n3"], ClusterOptions::default());
    c.start_all();
    let all = c.running();
    let formed = c.wait_formed(&all, FORM).await;
    let old_leader = formed.leader_name();

    // Senders post distinct webhooks to random live nodes and record every acknowledgement.
    let live: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(
        all.iter().map(|n| c.url(n, "/alerts")).collect(),
    ));
    let acks: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let refused: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    const MAX_POSTS: usize = 900; // stays under one `limit=1000` page
    let mut senders = Vec::new();
    for s in 0..4u64 {
        let (live, acks, refused, stop, next) = (
            live.clone(),
            acks.clone(),
            refused.clone(),
            stop.clone(),
            next.clone(),
        );
        let http = c.http.clone();
        let mut rng = seeded_rng(seed ^ (s + 1));
        senders.push(tokio::spawn(async move {
            // Like Alertmanager: a refused notification is retried (after a short pause) until
            // it is acknowledged; then the next one.
            'posts: while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= MAX_POSTS {
                    break;
                }
                let pod = format!("pod-{i}");
                let body = webhook(MARKED, &pod, "firing", STARTS_AT);
                loop {
                    let url = {
                        let live = live.lock().expect("live");
                        live[rng.random_range(0..live.len())].clone()
                    };
                    let why = match post_alert(&http, &url, &body).await {
                        Ok((StatusCode::OK, answer)) => {
                            let (event, remediation) = ids_of(&answer);
                            acks.lock().expect("acks").push(Ack {
                                event,
                                remediation,
                                pod,
                                at: Instant::now(),
                            });
                            continue 'posts;
                        }
                        Ok((status, _)) => status.to_string(),
                        Err(_) => "error".to_string(),
                    };
                    *refused.lock().expect("refused").entry(why).or_default() += 1;
                    if stop.load(Ordering::Relaxed) {
                        break 'posts;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    let acked_since = |t: Instant| {
        acks.lock()
            .expect("acks")
            .iter()
            .filter(|a| a.at > t)
            .count()
    };
    let start = Instant::now() - Duration::from_secs(1);
    wait_for(
        "30 acknowledged webhooks before the kill",
        Duration::from_secs(30),
        || async {
            let n = acked_since(start);
            (n >= 30).then_some(()).ok_or(format!("{n} acknowledged"))
        },
    )
    .await;

    live.lock()
        .expect("live")
        .retain(|u| *u != c.url(&old_leader, "/alerts"));
    let killed_at = Instant::now();
    c.kill(&old_leader);
    let survivors: Vec<String> = all.iter().filter(|n| **n != old_leader).cloned().collect();

    let new_leader = wait_for(
        "a new leader among the survivors",
        Duration::from_secs(20),
        || async {
            let mut leaders = BTreeSet::new();
            for n in &survivors {
                let v = c.view(n).await?;
                leaders.insert(v.leader.clone());
            }
            match leaders.into_iter().collect::<Vec<_>>().as_slice() {
                [Some(l)] if *l != formed.leader => Ok(formed.name_of(l)),
                other => Err(format!("survivors see leaders {other:?}")),
            }
        },
    )
    .await;
    println!(
        "new leader {new_leader} seen {:?} after the kill of {old_leader}",
        killed_at.elapsed()
    );
    wait_for(
        "30 acknowledged webhooks after the kill",
        Duration::from_secs(30),
        || async {
            let n = acked_since(killed_at);
            (n >= 30).then_some(()).ok_or(format!(
                "{n} acknowledged, {} posted in all, refused {:?}",
                next.load(Ordering::Relaxed),
                refused.lock().expect("refused")
            ))
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.await.expect("sender");
    }
    let acks = acks.lock().expect("acks").clone();
    println!(
        "{} acknowledged, refused {:?}, first acknowledgement after the kill at {:?}",
        acks.len(),
        refused.lock().expect("refused"),
        acks.iter()
            .filter(|a| a.at > killed_at)
            .map(|a| a.at - killed_at)
            .min()
    );

    // Every acknowledged event is on every survivor.
    let acked: BTreeSet<String> = acks.iter().map(|a| a.event.clone()).collect();
    assert_eq!(
        acked.len(),
        acks.len(),
        "distinct webhooks got the same event id"
    );
    for n in &survivors {
        wait_for(
            &format!("every acknowledged event on {n}"),
            Duration::from_secs(20),
            || async {
                let stored = stored_events(&c, n).await?;
                let lost: Vec<_> = acked.difference(&stored).collect();
                lost.is_empty().then_some(()).ok_or(format!(
                    "{} missing, e.g. {:?}",
                    lost.len(),
                    lost.first()
                ))
            },
        )
        .await;
    }

    // No remediation stays open; each acknowledged one exists.
    let states: HashMap<String, String> = wait_for(
        "every remediation to reach a final state",
        Duration::from_secs(60),
        || async {
            let list = c
                .get_list(&new_leader, "/api/remediations?limit=1000")
                .await?;
            let open: Vec<_> = list
                .iter()
                .filter(|r| matches!(r["state"].as_str(), Some("pending" | "running")))
                .collect();
            if !open.is_empty() {
                return Err(format!("{} open, e.g. {}", open.len(), open[0]));
            }
            Ok(list
                .iter()
                .map(|r| {
                    (
                        r["id"].as_str().unwrap_or_default().to_string(),
                        r["state"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect())
        },
    )
    .await;
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for s in states.values() {
        *by_state.entry(s.as_str()).or_default() += 1;
    }
    println!("remediations by state: {by_state:?}");
    for a in &acks {
        let rid = a
            .remediation
            .as_ref()
            .unwrap_or_else(|| panic!("acknowledged {} without remediation", a.pod));
        let state = states
            .get(rid)
            .unwrap_or_else(|| panic!("remediation {rid} of {} is missing", a.pod));
        assert!(
            state == "succeeded" || state == "interrupted",
            "remediation of {} is {state}",
            a.pod
        );
    }

    // Exactly once: no pod in the marker twice; each succeeded acknowledged remediation once.
    let lines = c.marker_lines();
    let mut runs: HashMap<&str, usize> = HashMap::new();
    for l in &lines {
        *runs.entry(l.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "remediations ran more than once: {twice:?}"
    );
    for a in &acks {
        let rid = a.remediation.as_deref().expect("checked above");
        if states[rid] == "succeeded" {
            assert_eq!(runs.get(a.pod.as_str()), Some(&1), "{} succeeded", a.pod);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. A wiped data dir is a new node.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_restarted_with_a_wiped_data_dir_joins_as_a_new_id_and_the_stale_id_is_removed() {
    let opts = ClusterOptions::default().with(&["--dead-after-secs", "2"]);
    let mut c = TestCluster::new(&["n1", "n2", "n3"], opts);
    c.start_all();
    let all = c.running();
    let formed = c.wait_formed(&all, FORM).await;
    let answer = post_until_ok(
        &c,
        &formed.leader_name(),
        &webhook(MARKED, "pod-before", "firing", STARTS_AT),
    )
    .await;
    let (event, _) = ids_of(&answer);

    let victim = formed.followers()[0].clone();
    let old_id = formed.ids[&victim].clone();
    c.kill(&victim);
    std::fs::remove_dir_all(&c.spec(&victim).data_dir).expect("wipe the data dir");
    c.start(&victim);

    let again = wait_for(
        &format!("{victim} to be a voter under a new id, {old_id} removed"),
        FORM,
        || async {
            let mut views = BTreeMap::new();
            for n in &all {
                views.insert(n.clone(), c.view(n).await.map_err(|e| format!("{n}: {e}"))?);
            }
            if views[&victim].node == old_id {
                return Err(format!("{victim} came back with its old id {old_id}"));
            }
            for (n, v) in &views {
                if v.is_member(&old_id) {
                    return Err(format!("{n} still has {old_id} as a member: {v:?}"));
                }
                if v.nodes.iter().any(|e| e.id == old_id && e.role != "none") {
                    return Err(format!("{n} lists {old_id} with a role: {v:?}"));
                }
            }
            agreed(&views, 3)
        },
    )
    .await;
    assert_eq!(again.uuid, formed.uuid, "the cluster kept its uuid");
    // The new member holds the history written before it existed.
    wait_for(
        &format!("{victim} to hold the earlier event"),
        Duration::from_secs(10),
        || async {
            let stored = stored_events(&c, &victim).await?;
            stored
                .contains(&event)
                .then_some(())
                .ok_or(format!("{stored:?}"))
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 5. Scale 3 -> 5 -> 3.

/// One node's view in one observer round (printed when an assertion fails).
#[derive(Debug, Clone)]
#[allow(dead_code)]
struct Observation {
    at: Duration,
    round: usize,
    node: String,
    leader: Option<String>,
    term: u64,
    voters: usize,
    learners: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_three_to_five_to_three_keeps_quorum_and_an_odd_number_of_voters() {
    let opts = ClusterOptions::default().with(&["--dead-after-secs", "3"]);
    let mut c = TestCluster::new(&["n1", "n2", "n3"], opts);
    c.add_spec("n4");
    c.add_spec("n5");
    c.start("n1");
    c.start("n2");
    c.start("n3");
    let three = names(&["n1", "n2", "n3"]);
    c.wait_formed(&three, FORM).await;

    // Observe every live node's view each round until the end of the test.
    let watched: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(
        three
            .iter()
            .map(|n| (n.clone(), c.url(n, "/admin/cluster")))
            .collect(),
    ));
    let log: Arc<Mutex<Vec<Observation>>> = Arc::default();
    let leaderless_rounds: Arc<Mutex<Vec<usize>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let phase = |what: &str| println!("{:>8.2?} {what}", t0.elapsed());
    let observer = {
        let (watched, log, leaderless, stop, http) = (
            watched.clone(),
            log.clone(),
            leaderless_rounds.clone(),
            stop.clone(),
            c.http.clone(),
        );
        tokio::spawn(async move {
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let targets = watched.lock().expect("watched").clone();
                let mut any_leader = false;
                let mut answered = 0;
                for (node, url) in targets {
                    if let Ok(v) = view_at(&http, &url).await {
                        answered += 1;
                        any_leader |= v.leader.is_some();
                        log.lock().expect("log").push(Observation {
                            at: t0.elapsed(),
                            round,
                            node,
                            leader: v.leader.clone(),
                            term: v.term,
                            voters: v.voters.len(),
                            learners: v.learners.len(),
                        });
                    }
                }
                if answered > 0 && !any_leader {
                    leaderless.lock().expect("leaderless").push(round);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    phase("start n4 and n5");
    c.start("n4");
    c.start("n5");
    {
        let mut w = watched.lock().expect("watched");
        for n in ["n4", "n5"] {
            w.push((n.to_string(), c.url(n, "/admin/cluster")));
        }
    }
    let five = c.running();
    let formed5 = c.wait_formed(&five, FORM).await;
    phase(&format!("5 voters, leader {}", formed5.leader_name()));

    // Take away two nodes that do not lead: one leaves gracefully (SIGTERM), the other is paused
    // (SIGSTOP) until it is removed as dead, then continued: it must not disrupt the cluster.
    // The highest names among the followers (n5, n4 unless one of them leads).
    let mut others: Vec<String> = formed5.followers();
    others.sort();
    let leaver = others.pop().expect("a follower to stop");
    let zombie = others.pop().expect("a second follower to pause");
    let zombie_id = formed5.ids[&zombie].clone();
    watched
        .lock()
        .expect("watched")
        .retain(|(n, _)| *n != leaver && *n != zombie);
    phase(&format!("SIGSTOP {zombie}, SIGTERM {leaver}"));
    c.pause(&zombie);
    let status = c.terminate(&leaver);
    phase(&format!("{leaver} exited"));
    assert!(
        status.success(),
        "{leaver} exited with {status} after SIGTERM"
    );

    let remaining: Vec<String> = c.live();
    let removed_at = Instant::now();
    let formed3 = c.wait_formed(&remaining, FORM).await;
    phase(&format!(
        "back to 3 voters ({leaver} left, {zombie} paused) {:?} after {leaver} exited",
        removed_at.elapsed()
    ));
    assert!(!formed3.ids.values().any(|id| *id == zombie_id));
    for n in &remaining {
        let v = c.view(n).await.expect("view");
        assert!(!v.is_member(&zombie_id), "{n} still has {zombie}: {v:?}");
        assert!(
            !v.is_member(&formed5.ids[&leaver]),
            "{n} still has {leaver}: {v:?}"
        );
    }

    // Wait until the removal is committed (the leader lists the ids it will never re-add):
    // until then the leader still replicates to the removed nodes, as Raft requires.
    let leader_name = formed3
        .ids
        .iter()
        .find(|(_, id)| **id == formed3.leader)
        .map(|(n, _)| n.clone())
        .expect("leader is a remaining node");
    let leader_url = c.url(&leader_name, "/admin/cluster");
    let deadline = Instant::now() + FORM;
    loop {
        if let Ok(v) = view_at(&c.http, &leader_url).await {
            if v.removed.contains(&zombie_id) {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "removal of {zombie} never committed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The removed, paused node comes back: the cluster keeps its term and leader, and the
    // zombie does not keep campaigning (its term stops moving, or it stopped answering).
    let (term, leader) = (formed3.term, formed3.leader.clone());
    phase(&format!("SIGCONT {zombie}"));
    c.resume(&zombie);
    let zombie_url = c.url(&zombie, "/admin/cluster");
    let window = Instant::now();
    let mut zombie_terms: Vec<(Duration, u64, Option<String>)> = Vec::new();
    // (when, node, its (term, leader) or why it did not answer)
    type Seen = Result<(u64, Option<String>), String>;
    let mut disrupted: Vec<(Duration, String, Seen)> = Vec::new();
    while window.elapsed() < Duration::from_secs(5) {
        for n in &remaining {
            let seen = c.view(n).await.map(|v| (v.term, v.leader));
            if seen != Ok((term, Some(leader.clone()))) {
                disrupted.push((window.elapsed(), n.clone(), seen));
            }
        }
        if let Ok(v) = view_at(&c.http, &zombie_url).await {
            zombie_terms.push((window.elapsed(), v.term, v.leader.clone()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    observer.await.expect("observer");
    let log = log.lock().expect("log").clone();
    let mut last: HashMap<&str, (Option<&String>, u64, usize, usize)> = HashMap::new();
    for o in &log {
        // The timeline: one line each time what a node reports changes.
        let now = (o.leader.as_ref(), o.term, o.voters, o.learners);
        if last.insert(&o.node, now) != Some(now) {
            println!(
                "{:>8.2?} {} leader {:?} term {} voters {} learners {}",
                o.at, o.node, o.leader, o.term, o.voters, o.learners
            );
        }
    }

    // Every violation at once, so one run shows the whole picture.
    let mut failures = Vec::new();
    if !disrupted.is_empty() {
        failures.push(format!(
            "the cluster (term {term}, leader {leader}) was disrupted after removed {zombie} \
             came back: {} observations differ, first {:?}, last {:?}",
            disrupted.len(),
            disrupted.first(),
            disrupted.last()
        ));
    }
    let late: BTreeSet<u64> = zombie_terms
        .iter()
        .filter(|(at, _, _)| *at > Duration::from_secs(3))
        .map(|(_, t, _)| *t)
        .collect();
    if late.len() > 1 {
        failures.push(format!(
            "removed {zombie} keeps campaigning: terms {late:?} in the last 2 s"
        ));
    }
    let even: Vec<&Observation> = log
        .iter()
        .filter(|o| o.voters > 0 && o.voters % 2 == 0)
        .collect();
    if !even.is_empty() {
        failures.push(format!(
            "{} observations with an even number of voters, e.g. {:?}",
            even.len(),
            &even[..even.len().min(3)]
        ));
    }
    let leaderless = leaderless_rounds.lock().expect("leaderless").clone();
    if !leaderless.is_empty() {
        failures.push(format!(
            "no node knew a leader in {} observer rounds: {leaderless:?}",
            leaderless.len()
        ));
    }
    let terms: BTreeSet<u64> = log.iter().map(|o| o.term).collect();
    println!(
        "{} observations over {} rounds; terms seen {terms:?}; {zombie} reported (at, term, \
         leader) {zombie_terms:?}",
        log.len(),
        log.last().map(|o| o.round).unwrap_or(0)
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// 6. One event, two nodes at once: one remediation.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_webhook_posted_to_two_nodes_at_once_creates_one_remediation() {
    let seed = seeds(&[0x5eed_0600])[0];
    println!("seed {seed}");
    let mut rng = seeded_rng(seed);
    let mut c = TestCluster::new(&["n1", "n2", "n3"], ClusterOptions::default());
    c.start_all();
    let all = c.running();
    let formed = c.wait_formed(&all, FORM).await;
    const ROUNDS: usize = 8;
    let mut remediations = BTreeMap::new();
    for k in 0..ROUNDS {
        let mut pair = all.clone();
        pair.shuffle(&mut rng);
        let (a, b) = (&pair[0], &pair[1]);
        let pod = format!("pod-dup-{k}");
        let body = webhook(MARKED, &pod, "firing", STARTS_AT);
        let (ra, rb) = tokio::join!(post_until_ok(&c, a, &body), post_until_ok(&c, b, &body));
        let (ea, ia) = ids_of(&ra);
        let (eb, ib) = ids_of(&rb);
        assert_eq!(ea, eb, "{pod}: event ids from {a} and {b}");
        assert!(ia.is_some(), "{pod}: no remediation in {ra}");
        assert_eq!(ia, ib, "{pod}: remediation ids from {a} and {b}");
        let recorded = ra["recorded"].as_u64().unwrap_or(9) + rb["recorded"].as_u64().unwrap_or(9);
        assert_eq!(recorded, 1, "{pod} recorded twice: {ra} / {rb}");
        remediations.insert(pod, ia.expect("checked"));
    }
    let leader = formed.leader_name();
    for (pod, id) in &remediations {
        assert_eq!(final_state(&c, &leader, id).await, "succeeded", "{pod}");
    }
    let list = c
        .get_list(&leader, "/api/remediations?limit=1000")
        .await
        .expect("list");
    assert_eq!(list.len(), ROUNDS, "remediations: {list:?}");
    let mut lines = c.marker_lines();
    lines.sort();
    let mut want: Vec<String> = remediations.keys().cloned().collect();
    want.sort();
    assert_eq!(lines, want, "each remediation ran exactly once");
}

/// A gauge of `node`'s `/metrics`.
async fn gauge(c: &TestCluster, node: &str, name: &str) -> u64 {
    let text = c
        .http
        .get(c.url(node, "/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` in the metrics of {node}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_webhooks_to_leader_and_follower_share_entries_and_each_get_their_own_answer() {
    let mut c = TestCluster::new(&["n1", "n2", "n3"], ClusterOptions::default());
    c.start_all();
    let all = c.running();
    let formed = c.wait_formed(&all, FORM).await;
    let leader = formed.leader_name();
    let follower = formed.followers()[0].clone();
    const EACH: usize = 40;
    const REPEATED: usize = 5;
    // Distinct webhooks to the leader and to a follower at once, and the first few of the
    // leader's sent to the follower too.
    let mut sends: Vec<(String, String)> = Vec::new();
    for k in 0..EACH {
        sends.push((leader.clone(), format!("pod-l-{k}")));
        sends.push((follower.clone(), format!("pod-f-{k}")));
    }
    for k in 0..REPEATED {
        sends.push((follower.clone(), format!("pod-l-{k}")));
    }
    let answers = futures::future::join_all(sends.iter().map(|(node, pod)| {
        let body = webhook("Unclaimed", pod, "firing", STARTS_AT);
        let c = &c;
        async move { post_until_ok(c, node, &body).await }
    }))
    .await;

    // What was stored, on every node: each webhook's event exactly once.
    let mut pods_of_event: BTreeMap<String, String> = BTreeMap::new();
    for n in &all {
        let list = wait_for(
            &format!("{} events on {n}", 2 * EACH),
            Duration::from_secs(20),
            || async {
                let list = c.get_list(n, "/api/alerts?limit=1000").await?;
                (list.len() >= 2 * EACH)
                    .then_some(list.clone())
                    .ok_or(format!("{} stored", list.len()))
            },
        )
        .await;
        assert_eq!(list.len(), 2 * EACH, "{n} stored an event twice");
        let here: BTreeMap<String, String> = list
            .iter()
            .map(|a| {
                let event = a["eventId"].as_str().expect("event id").to_string();
                let pod = a["labels"]["pod"].as_str().expect("pod label").to_string();
                (event, pod)
            })
            .collect();
        let pods: BTreeSet<&String> = here.values().collect();
        assert_eq!(pods.len(), 2 * EACH, "{n}: one event per webhook");
        if pods_of_event.is_empty() {
            pods_of_event = here;
        } else {
            assert_eq!(here, pods_of_event, "{n} disagrees");
        }
    }

    // Each caller got the ids of its own event, whatever batch carried it.
    let mut recorded: BTreeMap<&str, u64> = BTreeMap::new();
    for ((node, pod), answer) in sends.iter().zip(&answers) {
        let (event, _) = ids_of(answer);
        assert_eq!(
            pods_of_event.get(&event).map(String::as_str),
            Some(pod.as_str()),
            "{node} answered {answer} for {pod}"
        );
        *recorded.entry(pod.as_str()).or_default() +=
            answer["recorded"].as_u64().expect("recorded");
    }
    assert!(
        recorded.values().all(|r| *r == 1),
        "each event recorded once over all its deliveries: {recorded:?}"
    );

    // The writes did share entries and forwards.
    let on_leader = gauge(&c, &leader, "openfero_raft_largest_write_batch").await;
    let on_follower = gauge(&c, &follower, "openfero_raft_largest_write_batch").await;
    assert!(on_leader > 1, "largest batch on the leader: {on_leader}");
    assert!(on_follower > 1, "largest forwarded batch: {on_follower}");
}

// ---------------------------------------------------------------------------------------------
// 7. Admin API safety.

async fn admin_status(
    c: &TestCluster,
    via: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    c.admin_post(via, path, body)
        .await
        .unwrap_or_else(|e| panic!("POST {path} via {via}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_changes_that_would_break_quorum_are_refused_with_409() {
    let mut c = TestCluster::new(&["n1", "n2", "n3"], ClusterOptions::default());
    c.start_all();
    let all = c.running();
    let formed = c.wait_formed(&all, FORM).await;
    let leader = formed.leader_name();
    let followers = formed.followers();
    let (f1, f2) = (&followers[0], &followers[1]);
    let id = |n: &str| formed.ids[n].clone();

    // Pausing the autopilot (through a follower: forwarded to the leader) is safe.
    let (s, body) = admin_status(
        &c,
        f1,
        "/admin/cluster/autopilot",
        Some(json!({"paused": true})),
    )
    .await;
    assert_eq!(s, 200, "pause: {body}");
    wait_for(
        "the leader to report the autopilot paused",
        Duration::from_secs(10),
        || async {
            let v = c.view(&leader).await?;
            v.autopilot_paused.then_some(()).ok_or(format!("{v:?}"))
        },
    )
    .await;

    // Demoting a voter of three would leave two.
    let (s, body) = admin_status(
        &c,
        f2,
        &format!("/admin/cluster/nodes/{}/demote", id(f1)),
        None,
    )
    .await;
    assert_eq!(s, 409, "demote {f1}: {body}");
    assert!(body["error"].is_string(), "409 without an error: {body}");
    let (s, body) = admin_status(
        &c,
        f1,
        &format!("/admin/cluster/nodes/{}/demote", id(&leader)),
        None,
    )
    .await;
    assert_eq!(s, 409, "demote the leader {leader}: {body}");

    // Removing a voter of three (let alone two) would leave fewer than three.
    for (victim, via) in [
        (f1, leader.as_str()),
        (f2, f1.as_str()),
        (&leader, f2.as_str()),
    ] {
        let (s, body) = admin_status(
            &c,
            via,
            &format!("/admin/cluster/nodes/{}/remove", id(victim)),
            None,
        )
        .await;
        assert_eq!(s, 409, "remove {victim} via {via}: {body}");
        assert!(body["error"].is_string(), "409 without an error: {body}");
    }
    let v = c.view(&leader).await.expect("view");
    assert_eq!(
        v.voter_set(),
        formed.ids.values().cloned().collect(),
        "{v:?}"
    );
    assert_eq!(v.leader.as_deref(), Some(formed.leader.as_str()), "{v:?}");

    // Unknown node ids.
    let unknown = "0123456789abcdef";
    assert!(!formed.ids.values().any(|i| i == unknown));
    for action in ["promote", "demote", "remove"] {
        let (s, body) = admin_status(
            &c,
            f2,
            &format!("/admin/cluster/nodes/{unknown}/{action}"),
            None,
        )
        .await;
        assert_eq!(s, 404, "{action} of an unknown node: {body}");
    }
    let (s, body) = admin_status(&c, f2, "/admin/cluster/nodes/not-an-id/remove", None).await;
    assert!(s.is_client_error(), "malformed id: {s} {body}");

    // Resuming is safe too.
    let (s, body) = admin_status(
        &c,
        &leader,
        "/admin/cluster/autopilot",
        Some(json!({"paused": false})),
    )
    .await;
    assert_eq!(s, 200, "resume: {body}");
    wait_for(
        "the leader to report the autopilot running",
        Duration::from_secs(10),
        || async {
            let v = c.view(&leader).await?;
            (!v.autopilot_paused).then_some(()).ok_or(format!("{v:?}"))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_token_is_required_when_configured() {
    let opts = ClusterOptions {
        bootstrap_expect: 1,
        ..Default::default()
    };
    let mut c = TestCluster::new(&["solo"], opts);
    let token_file = c.tmp.path().join("admin-token");
    std::fs::write(&token_file, "s3cret-token").expect("write token");
    c.specs.get_mut("solo").expect("spec").extra = vec![
        "--admin-token-file".into(),
        token_file.display().to_string(),
    ];
    c.start("solo");
    let formed: Formed = c.wait_formed(&names(&["solo"]), FORM).await;
    assert_eq!(formed.ids.len(), 1);
    let url = c.url("solo", "/admin/cluster/autopilot");
    let body = json!({"paused": true});
    for auth in [None, Some("Bearer wrong"), Some("s3cret-token")] {
        let mut req = c.http.post(&url).json(&body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.expect("post");
        assert_eq!(r.status(), 401, "authorization {auth:?}");
    }
    let r = c
        .http
        .post(&url)
        .header("authorization", "Bearer s3cret-token")
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let v: ClusterView = c.view("solo").await.expect("view");
    assert!(v.autopilot_paused, "{v:?}");
}
