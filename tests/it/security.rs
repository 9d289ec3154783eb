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
