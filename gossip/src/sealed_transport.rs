//! chitchat over UDP, every datagram sealed (see `seal.rs`).
//!
//! [`SealedTransport`] implements chitchat's `Transport`. Its socket hands
//! every envelope to a worker task that owns the UDP socket bound to the
//! gossip address, the loopback codec (`codec.rs`) and the reassembler
//! (`fragment.rs`):
//!
//! * send: encode the envelope, split it if sealing would pass
//!   [`MAX_DATAGRAM_LEN`], seal every part with the primary key of the keyring
//!   in force, send;
//! * receive: open with the keyring in force (the key the packet names),
//!   reassemble, decode, and queue the envelope for chitchat. Anything that
//!   fails is dropped, counted in `rejected_packets` and logged at debug
//!   (plus one rate-limited warn); receiving goes on. chitchat stops its
//!   gossip loop on a `recv` error, so `recv` fails only when the socket
//!   itself is broken.
//!
//! A worker, rather than doing the work inside `Socket::recv`, because chitchat
//! cancels `recv` on every gossip tick: the worker makes cancellation free
//! (queues are cancel-safe) and is never cancelled mid-packet. It stops when
//! chitchat drops the socket; [`crate::Gossip::shutdown`] waits for it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use async_trait::async_trait;
use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport};
use chitchat::ChitchatEnvelope;
use prometheus_client::metrics::counter::Counter;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::codec::{Decoded, LoopbackCodec};
use crate::fragment::{self, Reassembler};
use crate::keyring::SharedKeyring;
use crate::seal::{self, Rejection, MAX_DATAGRAM_LEN};

/// Envelopes chitchat has not picked up yet; more are dropped, as UDP would.
const DELIVERY_QUEUE: usize = 256;
/// Sends waiting for the worker (chitchat awaits each one).
const REQUEST_QUEUE: usize = 16;
/// At most one warn per this period about rejected packets.
const REJECT_WARN_EVERY: Duration = Duration::from_secs(30);
/// Receive buffer: larger than any UDP payload, so nothing is truncated.
const RECV_BUF_LEN: usize = 65_536;

/// What [`crate::Transport::Sealed`] needs: the keys, and where to count
/// dropped packets.
#[derive(Clone)]
pub struct SealConfig {
    /// Keys in force; keep a clone to rotate them at run time.
    pub keyring: SharedKeyring,
    /// Incremented for every datagram dropped because it could not be opened
    /// (not sealed, unknown key, tampered, another cluster) or decoded. The
    /// application registers it, as `openfero_gossip_rejected_packets`
    /// (exposed as `openfero_gossip_rejected_packets_total`).
    pub rejected_packets: Counter,
}

impl SealConfig {
    /// Sealing with `keyring`, counting rejects in `rejected_packets`.
    pub fn new(keyring: SharedKeyring, rejected_packets: Counter) -> SealConfig {
        SealConfig {
            keyring,
            rejected_packets,
        }
    }
}

impl fmt::Debug for SealConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealConfig")
            .field("keyring", &self.keyring)
            .field("rejected_packets", &self.rejected_packets.get())
            .finish()
    }
}

/// chitchat `Transport`: UDP with every datagram sealed.
pub(crate) struct SealedTransport {
    seal: SealConfig,
    cluster_id: String,
    worker: StdMutex<Option<JoinHandle<()>>>,
}

impl SealedTransport {
    pub(crate) fn new(seal: SealConfig, cluster_id: String) -> SealedTransport {
        SealedTransport {
            seal,
            cluster_id,
            worker: StdMutex::new(None),
        }
    }

    /// The worker of the socket last opened (chitchat opens one).
    pub(crate) fn take_worker(&self) -> Option<JoinHandle<()>> {
        self.worker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

#[async_trait]
impl Transport for SealedTransport {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let public = UdpSocket::bind(listen_addr)
            .await
            .with_context(|| format!("failed to bind `{listen_addr}`/UDP for sealed gossip"))?;
        let local_addr = public.local_addr()?;
        let codec = LoopbackCodec::open()
            .await
            .context("failed to open the loopback codec")?;
        let (request_tx, requests) = mpsc::channel(REQUEST_QUEUE);
        let (delivery_tx, delivered) = mpsc::channel(DELIVERY_QUEUE);
        let worker = Worker {
            public,
            local_addr,
            codec,
            keyring: self.seal.keyring.clone(),
            rejected: self.seal.rejected_packets.clone(),
            cluster_id: self.cluster_id.clone(),
            reassembler: Reassembler::default(),
            next_message_id: rand::random(),
            requests,
            delivery: delivery_tx,
            reject_warn: RateLimit::default(),
            failure_warn: RateLimit::default(),
        };
        let handle = tokio::spawn(worker.run());
        if let Some(previous) = self
            .worker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(handle)
        {
            // Only if chitchat ever opened twice; that socket stops on its own.
            drop(previous);
        }
        Ok(Box::new(SealedSocket {
            local_addr,
            requests: request_tx,
            delivered,
        }))
    }
}

struct SendRequest {
    to: SocketAddr,
    envelope: ChitchatEnvelope,
    reply: oneshot::Sender<anyhow::Result<SendOutcome>>,
}

/// chitchat's end: two queues to the worker.
struct SealedSocket {
    local_addr: SocketAddr,
    requests: mpsc::Sender<SendRequest>,
    delivered: mpsc::Receiver<RecvOutcome>,
}

fn worker_gone() -> anyhow::Error {
    anyhow!("sealed gossip socket worker stopped")
}

#[async_trait]
impl Socket for SealedSocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    /// `num_bytes_sent` is the chitchat datagram's length, as with chitchat's
    /// own transports (the wire adds [`seal::SEAL_OVERHEAD`] per packet).
    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        let (reply, outcome) = oneshot::channel();
        self.requests
            .send(SendRequest {
                to,
                envelope,
                reply,
            })
            .await
            .map_err(|_| worker_gone())?;
        outcome.await.map_err(|_| worker_gone())?
    }

    /// Cancel-safe. Fails only once the worker is gone (broken socket).
    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        self.delivered.recv().await.ok_or_else(worker_gone)
    }
}

/// Lets one warn through per [`REJECT_WARN_EVERY`], counting the rest.
#[derive(Default)]
struct RateLimit {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    /// `Some(events since the last warn)` when a warn is due.
    fn tick(&mut self, now: Instant) -> Option<u64> {
        self.suppressed += 1;
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= REJECT_WARN_EVERY);
        if !due {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

struct Worker {
    public: UdpSocket,
    local_addr: SocketAddr,
    codec: LoopbackCodec,
    keyring: SharedKeyring,
    rejected: Counter,
    cluster_id: String,
    reassembler: Reassembler,
    next_message_id: u32,
    requests: mpsc::Receiver<SendRequest>,
    delivery: mpsc::Sender<RecvOutcome>,
    reject_warn: RateLimit,
    failure_warn: RateLimit,
}

impl Worker {
    async fn run(mut self) {
        let mut buf = vec![0u8; RECV_BUF_LEN];
        loop {
            tokio::select! {
                request = self.requests.recv() => {
                    // `None`: chitchat dropped the socket.
                    let Some(request) = request else { break };
                    let outcome = self.send(request.to, request.envelope).await;
                    if let Err(error) = &outcome {
                        debug!(local_addr = %self.local_addr, to = %request.to, error = %error, "sealed gossip send failed");
                    }
                    let _ = request.reply.send(outcome);
                }
                received = self.public.recv_from(&mut buf) => match received {
                    Ok((len, from)) => self.receive(&buf[..len], from).await,
                    Err(error) if is_transient(&error) => {
                        debug!(local_addr = %self.local_addr, error = %error, "transient gossip UDP receive error");
                    }
                    Err(error) => {
                        warn!(local_addr = %self.local_addr, error = %error, "fatal gossip UDP receive error, stopping sealed gossip socket");
                        break;
                    }
                },
            }
        }
        debug!(local_addr = %self.local_addr, "sealed gossip socket worker stopped");
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        let message = self.codec.encode(envelope).await?;
        let keyring = self.keyring.current();
        let message_id = self.next_message_id;
        self.next_message_id = self.next_message_id.wrapping_add(1);
        for payload in fragment::split(&message, message_id) {
            let frame = seal::seal(keyring.primary(), &self.cluster_id, &payload);
            debug_assert!(frame.len() <= MAX_DATAGRAM_LEN);
            self.public
                .send_to(&frame, to)
                .await
                .with_context(|| format!("failed to send sealed gossip packet to `{to}`"))?;
        }
        Ok(SendOutcome {
            num_bytes_sent: message.len(),
        })
    }

    async fn receive(&mut self, frame: &[u8], from: SocketAddr) {
        let keyring = self.keyring.current();
        let payload = match seal::open(&keyring, &self.cluster_id, frame) {
            Ok(payload) => payload,
            Err(rejection) => return self.reject(from, frame.len(), rejection),
        };
        let message = match self.reassembler.accept(from, payload, Instant::now()) {
            Ok(Some(message)) => message,
            Ok(None) => return,
            Err(rejection) => return self.reject(from, frame.len(), rejection),
        };
        match self.codec.decode(&message).await {
            Ok(Decoded::Envelope(envelope)) => {
                let outcome = RecvOutcome {
                    from_addr: from,
                    envelope,
                    num_bytes_received: message.len(),
                };
                if self.delivery.try_send(outcome).is_err() {
                    debug!(local_addr = %self.local_addr, from = %from, "chitchat is not keeping up, dropped a gossip message");
                }
            }
            Ok(Decoded::Invalid) => self.reject(from, frame.len(), Rejection::Undecodable),
            Err(error) => {
                debug!(local_addr = %self.local_addr, from = %from, error = %error, "loopback codec failed, dropped a gossip message");
                if let Some(failures) = self.failure_warn.tick(Instant::now()) {
                    warn!(local_addr = %self.local_addr, failures, error = %error, "loopback codec failing, dropping gossip messages");
                }
            }
        }
    }

    fn reject(&mut self, from: SocketAddr, len: usize, rejection: Rejection) {
        self.rejected.inc();
        debug!(
            local_addr = %self.local_addr,
            from = %from,
            len,
            reason = rejection.as_str(),
            "dropped gossip packet"
        );
        if let Some(rejected) = self.reject_warn.tick(Instant::now()) {
            warn!(
                local_addr = %self.local_addr,
                from = %from,
                reason = rejection.as_str(),
                rejected,
                "dropping gossip packets that fail to open: a peer without our key, or not a gossip peer"
            );
        }
    }
}

/// Errors after which the socket still works (as chitchat's UDP socket).
fn is_transient(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::OutOfMemory
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use chitchat::transport::UdpSocket as ChitchatUdpSocket;
    use chitchat::{ChitchatMessage, ProtocolVersion};

    use super::*;
    use crate::keyring::{Key, Keyring, KEY_LEN};

    const CLUSTER: &str = "test-cluster";
    const WAIT: Duration = Duration::from_secs(5);

    fn syn(cluster_id: &str) -> ChitchatEnvelope {
        ChitchatEnvelope {
            version: ProtocolVersion::V0,
            message: ChitchatMessage::Syn {
                cluster_id: cluster_id.to_string(),
                digest: Default::default(),
            },
        }
    }

    fn key(byte: u8) -> Key {
        Key::from_bytes([byte; KEY_LEN])
    }

    struct Opened {
        socket: Box<dyn Socket>,
        worker: JoinHandle<()>,
        rejected: Counter,
        keyring: SharedKeyring,
    }

    impl Opened {
        async fn close(self) -> anyhow::Result<()> {
            drop(self.socket);
            tokio::time::timeout(WAIT, self.worker).await??;
            Ok(())
        }
    }

    async fn open(keyring: Keyring) -> anyhow::Result<Opened> {
        let keyring = SharedKeyring::new(keyring);
        let rejected = Counter::default();
        let transport = SealedTransport::new(
            SealConfig::new(keyring.clone(), rejected.clone()),
            CLUSTER.to_string(),
        );
        let socket = transport.open("127.0.0.1:0".parse()?).await?;
        let worker = transport.take_worker().expect("open spawned a worker");
        Ok(Opened {
            socket,
            worker,
            rejected,
            keyring,
        })
    }

    async fn recv(socket: &mut Box<dyn Socket>) -> anyhow::Result<RecvOutcome> {
        tokio::time::timeout(WAIT, socket.recv()).await?
    }

    /// Waits until `counter` reaches `at_least`.
    async fn wait_count(counter: &Counter, at_least: u64) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while counter.get() < at_least {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "counter stuck at {}",
                counter.get()
            );
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    #[tokio::test]
    async fn sealed_sockets_exchange_envelopes() -> anyhow::Result<()> {
        let mut a = open(Keyring::new(key(1))).await?;
        let mut b = open(Keyring::new(key(1))).await?;
        let b_addr = b.socket.local_addr()?;
        let outcome = a.socket.send(b_addr, syn(CLUSTER)).await?;
        let received = recv(&mut b.socket).await?;
        assert_eq!(received.envelope, syn(CLUSTER));
        assert_eq!(received.from_addr, a.socket.local_addr()?);
        assert_eq!(received.num_bytes_received, outcome.num_bytes_sent);
        // And back: the reply path works too.
        b.socket.send(received.from_addr, syn("reply")).await?;
        assert_eq!(recv(&mut a.socket).await?.envelope, syn("reply"));
        assert_eq!((a.rejected.get(), b.rejected.get()), (0, 0));
        a.close().await?;
        b.close().await
    }

    #[tokio::test]
    async fn plain_chitchat_and_foreign_keys_are_dropped_counted_and_receiving_goes_on(
    ) -> anyhow::Result<()> {
        let mut member = open(Keyring::new(key(1))).await?;
        let member_addr = member.socket.local_addr()?;

        // Plain chitchat, sent by chitchat's own UDP socket.
        let mut plain = ChitchatUdpSocket::open("127.0.0.1:0".parse()?).await?;
        plain.send(member_addr, syn(CLUSTER)).await?;
        wait_count(&member.rejected, 1).await?;

        // Sealed under another key.
        let stranger = open(Keyring::new(key(2))).await?;
        let mut stranger_socket = stranger.socket;
        stranger_socket.send(member_addr, syn(CLUSTER)).await?;
        wait_count(&member.rejected, 2).await?;

        // Junk.
        let raw = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        raw.send_to(b"hello?", member_addr).await?;
        raw.send_to(&[1u8; 200], member_addr).await?;
        wait_count(&member.rejected, 4).await?;

        // The member still receives genuine packets, and nothing else came through.
        let friend = open(Keyring::new(key(1))).await?;
        let mut friend_socket = friend.socket;
        friend_socket.send(member_addr, syn("genuine")).await?;
        let received = recv(&mut member.socket).await?;
        assert_eq!(received.envelope, syn("genuine"));
        assert_eq!(member.rejected.get(), 4);

        drop(stranger_socket);
        drop(friend_socket);
        tokio::time::timeout(WAIT, stranger.worker).await??;
        tokio::time::timeout(WAIT, friend.worker).await??;
        member.close().await
    }

    #[tokio::test]
    async fn keyring_replacement_applies_to_the_next_packet() -> anyhow::Result<()> {
        let mut a = open(Keyring::new(key(1))).await?;
        let mut b = open(Keyring::new(key(1))).await?;
        let b_addr = b.socket.local_addr()?;

        // a seals with key 2 now, b does not know it yet: rejected.
        a.keyring.replace(Keyring::new(key(2)).with_key(key(1)));
        a.socket.send(b_addr, syn("one")).await?;
        wait_count(&b.rejected, 1).await?;
        // b accepts key 2 as a secondary: accepted, no restart.
        b.keyring.replace(Keyring::new(key(1)).with_key(key(2)));
        a.socket.send(b_addr, syn("two")).await?;
        assert_eq!(recv(&mut b.socket).await?.envelope, syn("two"));
        assert_eq!(b.rejected.get(), 1);
        a.close().await?;
        b.close().await
    }

    #[tokio::test]
    async fn largest_chitchat_datagram_travels_as_two_packets_within_the_udp_bound(
    ) -> anyhow::Result<()> {
        let mut a = open(Keyring::new(key(1))).await?;
        let mut b = open(Keyring::new(key(1))).await?;
        // 4 header + 2 empty digest + 2 string length + cluster id = 65,507.
        let huge = "h".repeat(MAX_DATAGRAM_LEN - 8);

        // Through a raw socket first, to look at the packets themselves.
        let tap = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let outcome = a.socket.send(tap.local_addr()?, syn(&huge)).await?;
        assert_eq!(outcome.num_bytes_sent, MAX_DATAGRAM_LEN);
        let mut buf = vec![0u8; RECV_BUF_LEN];
        let mut frames = Vec::new();
        for _ in 0..2 {
            let len = tokio::time::timeout(WAIT, tap.recv(&mut buf)).await??;
            assert!(len <= MAX_DATAGRAM_LEN, "sealed packet of {len} bytes");
            frames.push(buf[..len].to_vec());
        }
        assert!(tap.try_recv(&mut buf).is_err(), "exactly two packets");

        // Replayed to b: reassembled into the original envelope.
        for frame in &frames {
            tap.send_to(frame, b.socket.local_addr()?).await?;
        }
        assert_eq!(recv(&mut b.socket).await?.envelope, syn(&huge));

        // And directly.
        a.socket.send(b.socket.local_addr()?, syn(&huge)).await?;
        assert_eq!(recv(&mut b.socket).await?.envelope, syn(&huge));
        // Small ones stay one packet.
        a.socket.send(tap.local_addr()?, syn(CLUSTER)).await?;
        let len = tokio::time::timeout(WAIT, tap.recv(&mut buf)).await??;
        assert_eq!(len, 4 + 2 + 2 + CLUSTER.len() + 1 + seal::SEAL_OVERHEAD);
        assert_eq!(b.rejected.get(), 0);
        a.close().await?;
        b.close().await
    }

    #[test]
    fn rate_limit_lets_one_warn_through_per_period() {
        let mut limit = RateLimit::default();
        let start = Instant::now();
        assert_eq!(limit.tick(start), Some(1));
        assert_eq!(limit.tick(start + Duration::from_secs(1)), None);
        assert_eq!(limit.tick(start + Duration::from_secs(2)), None);
        assert_eq!(limit.tick(start + REJECT_WARN_EVERY), Some(3));
    }
}
