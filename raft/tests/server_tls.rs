//! TLS for a client-facing listener (the API): served over a real socket, plain HTTP refused
//! and counted, a rotated certificate applied to new connections, a broken rotation keeping
//! the old one.
#![cfg(feature = "peer-tls")]

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::{Extension, Router};
use openfero_raft::tls::{
    install_default_provider, serve_tls, PeerIdentity, ServerTls, ServerTlsConfig, TlsError,
};
use support::eventually;
use support::pki::{Files, TestCa};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A client that trusts only `ca` (a fresh client: its first request opens a new connection).
fn client_trusting(ca: &TestCa) -> reqwest::Client {
    install_default_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem.as_bytes()).expect("ca pem")])
        .build()
        .expect("client")
}

/// Answers the caller's address as the handler sees it, and whether a peer identity came
/// with the request (it must not, on a client listener).
async fn whoami(
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    peer: Option<Extension<PeerIdentity>>,
) -> String {
    format!("{} peer={}", remote.ip(), peer.is_some())
}

struct Served {
    url: String,
    tls: ServerTls,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(files: &Files) -> Self {
        let tls = ServerTls::load(ServerTlsConfig {
            cert_file: files.cert.clone(),
            key_file: files.key.clone(),
        })
        .expect("load");
        let listener = TcpListener::bind((LOOPBACK, 0)).await.expect("bind");
        let url = format!("https://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let router = Router::new().route("/whoami", get(whoami));
        let task = tokio::spawn(serve_tls(listener, router, tls.clone(), async move {
            let _ = stopped.await;
        }));
        Self {
            url,
            tls,
            stop: Some(stop),
            task,
        }
    }

    async fn get(&self, client: &reqwest::Client) -> reqwest::Result<String> {
        client
            .get(format!("{}/whoami", self.url))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("join").expect("serve");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_listener_serves_https_and_refuses_plain_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("api ca");
    let files = ca.write(dir.path(), "api", &ca.leaf(&["localhost"], &[LOOPBACK], 1));
    let served = Served::start(&files).await;

    let answer = served.get(&client_trusting(&ca)).await.expect("https");
    assert_eq!(
        answer, "127.0.0.1 peer=false",
        "no client identity is vouched for"
    );

    let before = served.tls.handshake_failures();
    let plain = openfero_raft::tls::http_only_client_builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
        .get(served.url.replacen("https://", "http://", 1) + "/whoami")
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP got an answer: {plain:?}");
    eventually("the plain request to count as a failed handshake", || {
        served.tls.handshake_failures() > before
    })
    .await
    .expect("counted");
    // A client that trusts another CA refuses the server.
    let stranger = TestCa::new("another ca");
    assert!(served.get(&client_trusting(&stranger)).await.is_err());
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_applies_to_new_connections_and_a_broken_one_keeps_the_old() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old_ca = TestCa::new("old ca");
    let files = old_ca.write(dir.path(), "api", &old_ca.leaf(&[], &[LOOPBACK], 1));
    let served = Served::start(&files).await;
    served.get(&client_trusting(&old_ca)).await.expect("old");
    assert!(!served.tls.reload_if_changed().expect("same files"));

    // cert-manager (or an operator) writes a certificate from a new CA.
    let new_ca = TestCa::new("new ca");
    new_ca.leaf(&[], &[LOOPBACK], 2).write(&files);
    assert!(served.tls.reload_if_changed().expect("reload"));
    assert_eq!(served.tls.generation(), 2);
    served
        .get(&client_trusting(&new_ca))
        .await
        .expect("new connections get the new certificate");
    assert!(
        served.get(&client_trusting(&old_ca)).await.is_err(),
        "the old certificate is no longer served"
    );

    // A half-written key: refused, the new certificate stays in use.
    std::fs::write(&files.key, "-----BEGIN PRIVATE KEY-----\nMIIE").expect("write");
    assert!(matches!(
        served.tls.reload_if_changed(),
        Err(TlsError::Pem { .. })
    ));
    assert_eq!(served.tls.generation(), 2);
    served.get(&client_trusting(&new_ca)).await.expect("kept");
    served.stop().await;
}

#[test]
fn a_key_of_another_certificate_is_refused_naming_both_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("api ca");
    let files = ca.write(dir.path(), "api", &ca.leaf(&[], &[LOOPBACK], 1));
    let other = ca.leaf(&[], &[LOOPBACK], 2);
    std::fs::write(&files.key, &other.key).expect("write");
    let err = ServerTls::load(ServerTlsConfig {
        cert_file: files.cert.clone(),
        key_file: files.key.clone(),
    })
    .expect_err("mismatched key");
    let text = err.to_string();
    assert!(
        matches!(err, TlsError::Identity { .. }) && text.contains("api.pem"),
        "{text}"
    );
    assert!(!text.contains("PRIVATE KEY"), "no key material: {text}");
}
