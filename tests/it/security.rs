//! The cluster plane admits members only: a gossip sender without the cluster's key never
//! becomes a member (issue 11).

use std::time::Duration;

use crate::cluster_support::{free_tcp_port, free_udp_port, ClusterOptions, TestCluster};
use crate::support::{eventually, ChildGuard};

/// `openfero_gossip_rejected_packets_total` of one node.
async fn rejected_packets(http: &reqwest::Client, url: &str) -> Option<u64> {
    let text = http.get(url).send().await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("openfero_gossip_rejected_packets_total "))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gossip_sender_without_the_key_is_never_a_member() {
    let mut cluster = TestCluster::new(&["n1", "n2", "n3"], ClusterOptions::default());
    cluster.start_all();
    let names = cluster.running();
    let formed = cluster.wait_formed(&names, Duration::from_secs(60)).await;

    // A real openfero node with the same cluster id and seeds, but no gossip key: it knows
    // everything public about the cluster and speaks plain chitchat.
    let rogue_dir = cluster.tmp.path().join("rogue");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_openfero"));
    cmd.arg("serve")
        .args(["--node-name", "rogue"])
        .args(["--listen", &format!("127.0.0.1:{}", free_tcp_port())])
        .args(["--gossip-addr", &format!("127.0.0.1:{}", free_udp_port())])
        .args(["--seeds", &cluster.seeds.join(",")])
        .args(["--bootstrap-expect", "3"])
        .args(["--cluster-id", &cluster.opts.cluster_id])
        .arg("--data-dir")
        .arg(&rogue_dir)
        .arg("--operarios")
        .arg(&cluster.ops)
        .arg("--insecure-cluster")
        .args(&cluster.opts.flags);
    let _rogue = ChildGuard::spawn("rogue", cmd, cluster.tmp.path().join("rogue.log"));

    // Every member drops the rogue's packets (so they reach it), then several gossip rounds
    // later the rogue is still nowhere: not in gossip, not in Raft.
    let http = cluster.http.clone();
    for name in &names {
        let url = cluster.url(name, "/metrics");
        eventually(
            &format!("{name} to reject the rogue's packets"),
            Duration::from_secs(20),
            || {
                let (http, url) = (http.clone(), url.clone());
                async move { (rejected_packets(&http, &url).await? >= 3).then_some(()) }
            },
        )
        .await;
    }
    for name in &names {
        let url = cluster.url(name, "/metrics");
        let seen = rejected_packets(&http, &url).await.unwrap_or(0);
        eventually(
            "twenty more rejected packets",
            Duration::from_secs(20),
            || {
                let (http, url) = (http.clone(), url.clone());
                async move { (rejected_packets(&http, &url).await? >= seen + 20).then_some(()) }
            },
        )
        .await;
        let view = cluster.view(name).await.expect("cluster view");
        assert_eq!(view.nodes.len(), 3, "{name} sees only members: {view:?}");
        assert_eq!(view.voters.len(), 3, "{view:?}");
        assert!(
            view.learners.is_empty(),
            "never added as a learner: {view:?}"
        );
        assert!(
            view.nodes.iter().all(|n| n.name != "rogue"),
            "{name} lists the rogue: {view:?}"
        );
    }
    let after = cluster.wait_formed(&names, Duration::from_secs(10)).await;
    assert_eq!(after.uuid, formed.uuid, "still the one cluster");
    assert_eq!(after.ids.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_rpcs_from_a_client_without_a_cluster_certificate_change_nothing() {
    let mut cluster = TestCluster::new(&["n1", "n2", "n3"], ClusterOptions::default());
    cluster.start_all();
    let names = cluster.running();
    let formed = cluster.wait_formed(&names, Duration::from_secs(60)).await;
    let http = cluster.http.clone();
    // Settled first: the leader's catalog sync applied everywhere, so what follows is the
    // stranger's doing alone.
    for name in &names {
        let url = cluster.url(name, "/api/operarios");
        eventually("the catalog on every node", Duration::from_secs(20), || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let list: Vec<serde_json::Value> =
                    http.get(&url).send().await.ok()?.json().await.ok()?;
                (!list.is_empty()).then_some(())
            }
        })
        .await;
    }
    let leader = formed.leader_name();
    let before = eventually(
        "every node to apply the leader's log",
        Duration::from_secs(20),
        || {
            let cluster = &cluster;
            let names = names.clone();
            let leader = leader.clone();
            async move {
                let lead = cluster.view(&leader).await.ok()?;
                for n in &names {
                    let v = cluster.view(n).await.ok()?;
                    if v.applied_index != lead.last_log_index {
                        return None;
                    }
                }
                Some(lead)
            }
        },
    )
    .await;

    // A stranger that knows the cluster name, every node id and the uuid (all public).
    for name in &names {
        let spec = cluster.spec(name).clone();
        let raft = format!(
            "127.0.0.1:{}",
            spec.raft_port.expect("peer TLS has a raft port")
        );
        let id = &formed.ids[name];
        for rpc in ["append", "vote", "snapshot", "propose"] {
            for url in [
                format!("http://{raft}/raft/{rpc}"),
                format!("https://{raft}/raft/{rpc}"),
                spec.url(&format!("/raft/{rpc}")),
            ] {
                let answer = http
                    .post(&url)
                    .header("content-type", "application/x-openfero-raft")
                    .header(
                        "x-openfero-raft-target",
                        u64::from_str_radix(id, 16).expect("hex id").to_string(),
                    )
                    .header("x-openfero-raft-cluster", cluster.opts.cluster_id.as_str())
                    .header("x-openfero-raft-cluster-uuid", formed.uuid.as_str())
                    .header("x-openfero-raft-from", "1")
                    .body(vec![0u8; 64])
                    .send()
                    .await;
                match answer {
                    // The API listener does not serve Raft at all.
                    Ok(r) => assert_eq!(r.status(), 404, "{url} answered {}", r.status()),
                    // The peer listener: no TLS, or TLS without a client certificate.
                    Err(e) => assert!(url.contains(&raft), "{url}: {e}"),
                }
            }
        }
    }
    let after = cluster.wait_formed(&names, Duration::from_secs(10)).await;
    assert_eq!(
        (after.uuid, after.term),
        (formed.uuid, formed.term),
        "no election was caused"
    );
    let view = cluster.view(&names[0]).await.expect("view");
    assert_eq!(
        view.last_log_index, before.last_log_index,
        "nothing was appended"
    );
}
