//! Serving a router over TLS: to peers (mutual TLS) or to clients.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;
use tracing::Instrument;

use tokio_rustls::TlsAcceptor;

use super::peer::PeerIdentity;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after an accept error that is not about one connection (out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A TLS listener's live configuration: [`super::PeerTls`] (mutual, peers only) or
/// [`super::ServerTls`] (clients, no client certificate).
pub trait TlsEndpoint: Clone + Send + Sync + 'static {
    /// Whether every connection carries a verified client certificate, whose
    /// [`PeerIdentity`] requests then carry.
    const MUTUAL: bool;
    /// An acceptor over the config current now, for the next connection.
    fn acceptor(&self) -> TlsAcceptor;
    /// Count a handshake that failed or timed out.
    fn handshake_failed(&self);
}

/// Serve `router` on `listener` over TLS until `shutdown` resolves; then stop accepting, let
/// open connections finish their requests, and return. With [`super::PeerTls`] only peers
/// that present a certificate of the cluster CA (matching the SAN pattern) get through.
///
/// Each connection is accepted with the server config current at that moment, so a reload
/// applies to the next connection. A failed handshake (no certificate, another CA, a SAN
/// outside the pattern, plain HTTP) closes that connection only; it is logged at debug and
/// counted (`handshake_failures`). Requests carry `ConnectInfo<SocketAddr>` in their
/// extensions and, on a mutual listener, the caller's [`PeerIdentity`]; handlers' logs run
/// inside a span naming the remote (and the peer).
pub async fn serve_tls<T: TlsEndpoint>(
    listener: TcpListener,
    router: Router,
    tls: T,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    // Answers (forwarded writes, webhooks) are small: never hold one back for an ACK.
                    let _ = tcp.set_nodelay(true);
                    connections.spawn(connection(
                        tcp,
                        remote,
                        tls.clone(),
                        router.clone(),
                        stop_rx.clone(),
                    ));
                }
                Err(e) if is_connection_error(&e) => {
                    tracing::debug!(error = %e, "connection failed before accept");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept tls connections; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    // Ignored error: no connection is left to tell.
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // A dropped sender also means stop.
    let _ = stop.wait_for(|s| *s).await;
}

/// Handshake, then serve HTTP/1.1 on one connection until it closes or the server stops.
async fn connection<T: TlsEndpoint>(
    tcp: TcpStream,
    remote: SocketAddr,
    tls: T,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(tcp));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tls.handshake_failed();
                tracing::debug!(%remote, error = %e, "tls handshake failed");
                return;
            }
            Err(_) => {
                tls.handshake_failed();
                tracing::debug!(%remote, "tls handshake timed out");
                return;
            }
        },
        _ = stopped(&mut stop) => return,
    };
    // Only a mutual listener vouches for a peer: handlers trust a PeerIdentity extension.
    let peer = T::MUTUAL
        .then(|| stream.get_ref().1.peer_certificates())
        .flatten()
        .and_then(|chain| chain.first())
        .and_then(PeerIdentity::from_cert);
    if T::MUTUAL && peer.is_none() {
        // Unreachable with a mandatory client verifier; refuse rather than serve anonymously.
        tls.handshake_failed();
        tracing::debug!(%remote, "peer presented no readable certificate");
        return;
    }
    let span = match &peer {
        Some(peer) => tracing::debug_span!("peer", %remote, peer = %peer),
        None => tracing::debug_span!("client", %remote),
    };
    async move {
        tracing::debug!("connected");
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            if let Some(peer) = &peer {
                req.extensions_mut().insert(peer.clone());
            }
            req.extensions_mut().insert(ConnectInfo(remote));
            router.clone().oneshot(req)
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            _ = stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "tls connection ended with an error");
        }
    }
    .instrument(span)
    .await
}
