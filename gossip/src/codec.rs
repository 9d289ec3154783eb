//! chitchat envelopes to bytes and back, through chitchat's own UDP socket on
//! loopback.
//!
//! chitchat 0.13 keeps its wire format crate-private: `ChitchatEnvelope`'s
//! `serialize`/`deserialize` are `pub(crate)`, and the `Digest` inside SYN and
//! SYN-ACK messages has neither a public encoder nor public fields. The only
//! public code that turns an envelope into bytes, or bytes into an envelope,
//! is chitchat's `transport::UdpSocket`. So, rather than forking chitchat, the
//! codec owns one chitchat `UdpSocket` (the *codec socket*) and one plain
//! socket (the *tap*, connected to it), both on 127.0.0.1:
//!
//! * encode: the codec socket sends the envelope to the tap, which reads the
//!   bytes chitchat wrote;
//! * decode: the tap sends the bytes to the codec socket, then a *marker*
//!   (a SYN whose cluster id is a random per-codec token and a sequence
//!   number). The codec socket yields the decoded envelope, then the marker;
//!   when the bytes are not a chitchat datagram chitchat drops them and only
//!   the marker comes back, so decoding never hangs and never mixes up
//!   datagrams.
//!
//! The tap is connected, so the kernel keeps other senders away from it;
//! datagrams reaching the codec socket from anything but the tap are dropped
//! (a process on the same host would need to spoof a loopback source
//! address). The cost is four loopback syscalls per received datagram and
//! two per sent one, nothing at gossip rates. This is the only file to change
//! should chitchat export its codec.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{ensure, Context as _};
use chitchat::transport::{RecvOutcome, Socket as _, UdpSocket as ChitchatUdpSocket};
use chitchat::{ChitchatEnvelope, ChitchatMessage, ProtocolVersion};
use tracing::debug;

use crate::seal::MAX_DATAGRAM_LEN;

/// Upper bound on one loopback round trip (normally microseconds).
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(1);
const MARKER_TAG: &str = "openfero-gossip-codec-marker";

/// Result of decoding one datagram.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// A chitchat envelope.
    Envelope(ChitchatEnvelope),
    /// Not a chitchat datagram (chitchat logged why).
    Invalid,
}

pub(crate) struct LoopbackCodec {
    socket: ChitchatUdpSocket,
    tap: tokio::net::UdpSocket,
    tap_addr: SocketAddr,
    /// `"{MARKER_TAG}/{random token}/"`; a marker's cluster id is this
    /// followed by the sequence number in hex.
    marker_prefix: String,
    seq: u64,
    buf: Vec<u8>,
}

impl LoopbackCodec {
    /// Binds both sockets on 127.0.0.1 (ephemeral ports).
    pub(crate) async fn open() -> anyhow::Result<LoopbackCodec> {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let socket = ChitchatUdpSocket::open(loopback).await?;
        let socket_addr = socket.local_addr()?;
        let tap = tokio::net::UdpSocket::bind(loopback)
            .await
            .context("failed to bind the loopback codec tap")?;
        tap.connect(socket_addr)
            .await
            .context("failed to connect the loopback codec tap")?;
        let tap_addr = tap.local_addr()?;
        Ok(LoopbackCodec {
            socket,
            tap,
            tap_addr,
            marker_prefix: format!("{MARKER_TAG}/{:032x}/", rand::random::<u128>()),
            seq: 0,
            // One byte more than any datagram, so none can be truncated unseen.
            buf: vec![0; MAX_DATAGRAM_LEN + 1],
        })
    }

    /// The bytes chitchat puts on the wire for `envelope`.
    pub(crate) async fn encode(&mut self, envelope: ChitchatEnvelope) -> anyhow::Result<Vec<u8>> {
        // Leftovers of an encode cancelled half-way (not expected: the worker
        // owning the codec is never cancelled mid-call).
        while self.tap.try_recv(&mut self.buf).is_ok() {}
        let sent = self
            .socket
            .send(self.tap_addr, envelope)
            .await?
            .num_bytes_sent;
        let len = tokio::time::timeout(ROUND_TRIP_TIMEOUT, self.tap.recv(&mut self.buf))
            .await
            .context("loopback codec: encoded datagram did not arrive")?
            .context("loopback codec: tap receive failed")?;
        ensure!(
            len == sent,
            "loopback codec: expected `{sent}` bytes, read `{len}`"
        );
        Ok(self.buf[..len].to_vec())
    }

    /// The envelope `datagram` encodes, if any.
    pub(crate) async fn decode(&mut self, datagram: &[u8]) -> anyhow::Result<Decoded> {
        if datagram.len() > MAX_DATAGRAM_LEN {
            return Ok(Decoded::Invalid);
        }
        self.seq += 1;
        let seq = self.seq;
        let marker = self.encode(self.marker(seq)).await?;
        self.tap
            .send(datagram)
            .await
            .context("loopback codec: tap send failed")?;
        self.tap
            .send(&marker)
            .await
            .context("loopback codec: tap send failed")?;
        let deadline = tokio::time::Instant::now() + ROUND_TRIP_TIMEOUT;
        let mut decoded = None;
        loop {
            let RecvOutcome {
                from_addr,
                envelope,
                ..
            } = tokio::time::timeout_at(deadline, self.socket.recv())
                .await
                .context("loopback codec: marker did not come back")??;
            if from_addr != self.tap_addr {
                debug!(from = %from_addr, "loopback codec dropped a datagram from another local socket");
                continue;
            }
            match self.marker_seq(&envelope) {
                Some(marker_seq) if marker_seq == seq => {
                    return Ok(decoded.map_or(Decoded::Invalid, Decoded::Envelope));
                }
                // The tail of an earlier round that timed out.
                Some(_) => decoded = None,
                None => decoded = Some(envelope),
            }
        }
    }

    fn marker(&self, seq: u64) -> ChitchatEnvelope {
        ChitchatEnvelope {
            version: ProtocolVersion::V0,
            message: ChitchatMessage::Syn {
                cluster_id: format!("{}{seq:016x}", self.marker_prefix),
                digest: Default::default(),
            },
        }
    }

    fn marker_seq(&self, envelope: &ChitchatEnvelope) -> Option<u64> {
        match &envelope.message {
            ChitchatMessage::Syn { cluster_id, .. } => cluster_id
                .strip_prefix(&self.marker_prefix)
                .and_then(|seq| u64::from_str_radix(seq, 16).ok()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn syn(cluster_id: &str) -> ChitchatEnvelope {
        ChitchatEnvelope {
            version: ProtocolVersion::V0,
            message: ChitchatMessage::Syn {
                cluster_id: cluster_id.to_string(),
                digest: Default::default(),
            },
        }
    }

    #[tokio::test]
    async fn encode_then_decode_round_trips() -> anyhow::Result<()> {
        let mut codec = LoopbackCodec::open().await?;
        for envelope in [
            syn("test-cluster"),
            ChitchatEnvelope {
                version: ProtocolVersion::V0,
                message: ChitchatMessage::BadCluster,
            },
        ] {
            let bytes = codec.encode(clone_of(&envelope)).await?;
            // chitchat's magic number, little endian.
            assert_eq!(bytes[..2], [0x53, 0xb0]);
            match codec.decode(&bytes).await? {
                Decoded::Envelope(decoded) => assert_eq!(decoded, envelope),
                Decoded::Invalid => anyhow::bail!("valid datagram reported invalid"),
            }
        }
        Ok(())
    }

    #[tokio::test]
    async fn invalid_bytes_decode_as_invalid_without_hanging() -> anyhow::Result<()> {
        let mut codec = LoopbackCodec::open().await?;
        for junk in [&b""[..], b"junk", &[0x53, 0xb0, 9, 9][..]] {
            assert!(matches!(codec.decode(junk).await?, Decoded::Invalid));
        }
        // And the codec still works afterwards.
        let bytes = codec.encode(syn("after")).await?;
        assert!(matches!(codec.decode(&bytes).await?, Decoded::Envelope(e) if e == syn("after")));
        Ok(())
    }

    #[tokio::test]
    async fn datagrams_from_other_local_sockets_are_ignored() -> anyhow::Result<()> {
        let mut codec = LoopbackCodec::open().await?;
        let intruder = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let injected = codec.encode(syn("injected")).await?;
        intruder
            .send_to(&injected, codec.socket.local_addr()?)
            .await?;
        let genuine = codec.encode(syn("genuine")).await?;
        match codec.decode(&genuine).await? {
            Decoded::Envelope(e) => assert_eq!(e, syn("genuine")),
            Decoded::Invalid => anyhow::bail!("genuine datagram lost"),
        }
        Ok(())
    }

    #[tokio::test]
    async fn largest_chitchat_datagram_round_trips() -> anyhow::Result<()> {
        let mut codec = LoopbackCodec::open().await?;
        // Header 4 + empty digest 2 + string length 2 + cluster id.
        let envelope = syn(&"x".repeat(MAX_DATAGRAM_LEN - 8));
        let bytes = codec.encode(clone_of(&envelope)).await?;
        assert_eq!(bytes.len(), MAX_DATAGRAM_LEN);
        assert!(matches!(codec.decode(&bytes).await?, Decoded::Envelope(e) if e == envelope));
        // One byte more is refused by the kernel (IPv4 UDP bound), by chitchat's own socket.
        assert!(codec
            .encode(syn(&"x".repeat(MAX_DATAGRAM_LEN - 7)))
            .await
            .is_err());
        Ok(())
    }

    /// `ChitchatEnvelope` is not `Clone`; rebuild the variants the tests use.
    pub(crate) fn clone_of(envelope: &ChitchatEnvelope) -> ChitchatEnvelope {
        match &envelope.message {
            ChitchatMessage::Syn { cluster_id, .. } => syn(cluster_id),
            ChitchatMessage::BadCluster => ChitchatEnvelope {
                version: envelope.version,
                message: ChitchatMessage::BadCluster,
            },
            other => panic!("not used in tests: {other:?}"),
        }
    }
}
