//! `RaftNode::serve` without peer TLS: plain HTTP, as before, with a graceful stop.

mod support;

use std::time::Duration;

use openfero_raft::{RaftConfig, RaftNode};
use support::KvApp;
use tokio::sync::oneshot;

#[tokio::test]
async fn serve_without_peer_tls_answers_plain_http_and_stops_on_request() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = RaftNode::start(dir.path(), RaftConfig::default(), KvApp).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = node.clone();
    let server = tokio::spawn(async move {
        serving
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await
    });

    let url = node.peer_url(&addr, "/raft/vote");
    assert_eq!(url, format!("http://{addr}/raft/vote"));
    // Addressed to nobody: refused by the header checks, so plain HTTP reached the router.
    let resp = node
        .peer_client()
        .post(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await?;
    assert_eq!(resp.status(), reqwest::StatusCode::CONFLICT);

    let _ = stop.send(());
    server.await??;
    node.shutdown().await?;
    Ok(())
}
