//! Real UDP sockets on 127.0.0.1.

mod common;

use std::net::UdpSocket;

use common::{exactly_alive, local, member, node_config, DEADLINE};
use openfero_gossip::{Error, Gossip, GossipConfig, Transport};

/// A port that was free a moment ago (bind :0, read, release).
fn free_port() -> anyhow::Result<u16> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    Ok(socket.local_addr()?.port())
}

fn udp_config(node_id: u64, port: u16, seeds: Vec<String>) -> GossipConfig {
    GossipConfig {
        seeds,
        gossip_interval: std::time::Duration::from_millis(100),
        ..node_config(node_id, port, &[])
    }
}

#[tokio::test]
async fn three_nodes_over_udp() -> anyhow::Result<()> {
    let ports = [free_port()?, free_port()?, free_port()?];
    let seed = vec![local(ports[0]).to_string()];
    let n1 = Gossip::start(udp_config(1, ports[0], seed.clone()), Transport::Udp).await?;
    let n2 = Gossip::start(udp_config(2, ports[1], seed.clone()), Transport::Udp).await?;
    let n3 = Gossip::start(udp_config(3, ports[2], seed), Transport::Udp).await?;
    for node in [&n1, &n2, &n3] {
        let view = node
            .wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2, 3]))
            .await?;
        assert_eq!(
            member(&view, 3).map(|m| m.gossip_addr),
            Some(local(ports[2]))
        );
    }
    n1.set_ready(true).await;
    n3.wait_for(DEADLINE, |v| member(v, 1).is_some_and(|m| m.meta.ready))
        .await?;
    for node in [n1, n2, n3] {
        node.shutdown().await?;
    }
    Ok(())
}

#[tokio::test]
async fn dns_name_seed_over_udp() -> anyhow::Result<()> {
    let ports = [free_port()?, free_port()?];
    let n1 = Gossip::start(udp_config(1, ports[0], vec![]), Transport::Udp).await?;
    // Only a host name: node 1 has no seeds, so node 2 can only be found if
    // it reaches node 1 through the resolved name.
    let dns_seed = vec![format!("localhost:{}", ports[0])];
    let n2 = Gossip::start(udp_config(2, ports[1], dns_seed), Transport::Udp).await?;
    n1.wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2])).await?;
    n2.wait_for(DEADLINE, |v| exactly_alive(v, &[1, 2])).await?;
    n1.shutdown().await?;
    n2.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn start_fails_when_port_is_taken() -> anyhow::Result<()> {
    let taken = UdpSocket::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    let result = Gossip::start(udp_config(1, port, vec![]), Transport::Udp).await;
    match result {
        Err(err @ Error::Start { .. }) => {
            assert_eq!(
                err.to_string(),
                format!("failed to start gossip on `127.0.0.1:{port}`")
            );
            assert!(std::error::Error::source(&err).is_some());
        }
        Err(other) => anyhow::bail!("unexpected error: {other}"),
        Ok(_) => anyhow::bail!("started on a taken port"),
    }
    Ok(())
}
