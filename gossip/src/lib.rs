//! Node discovery for openfero over gossip ([chitchat]).
//!
//! Every openfero node runs one [`Gossip`] instance. It advertises a small,
//! typed [`NodeMeta`] (Raft id and address, API address, readiness, ...)
//! under the keys listed in [`keys`], and exposes the deduplicated cluster
//! view as [`Member`]s: pull it with [`Gossip::members`], watch it with
//! [`Gossip::subscribe`], or consume [`MembershipChange`]s from
//! [`Gossip::changes`].
//!
//! This crate knows nothing about Raft: Raft ids, addresses and the cluster
//! uuid are just values it carries.
//!
//! # Sealed gossip
//!
//! With [`Transport::Udp`] anyone who can send UDP to the gossip port becomes
//! a member. [`Transport::Sealed`] closes that: every datagram is sealed
//! with XChaCha20-Poly1305 under a shared 32-byte key, and a datagram that
//! does not open under one of our keys is dropped, counted in
//! [`SealConfig::rejected_packets`] and logged at debug (plus a warn at most
//! every 30 s). Such a sender never enters the view.
//!
//! ```no_run
//! # async fn run(config: openfero_gossip::GossipConfig, registry: &mut prometheus_client::registry::Registry) -> anyhow::Result<()> {
//! use openfero_gossip::{Gossip, SealConfig, SharedKeyring, Transport};
//! use prometheus_client::metrics::counter::Counter;
//!
//! let key_file = "/etc/openfero/gossip.keys"; // --gossip-key-file
//! let keyring = SharedKeyring::from_file(key_file)?;
//! let rejected = Counter::default();
//! // Exposed as `openfero_gossip_rejected_packets_total`.
//! registry.register(
//!     "openfero_gossip_rejected_packets",
//!     "Gossip datagrams dropped because they failed to open or decode",
//!     rejected.clone(),
//! );
//! let gossip = Gossip::start(config, Transport::Sealed(SealConfig::new(keyring.clone(), rejected))).await?;
//! // Later, on SIGHUP or when the file's mtime changes: no restart needed.
//! // On error the keyring in force stays.
//! let changed = keyring.reload_from_file(key_file)?;
//! # let _ = (gossip, changed); Ok(()) }
//! ```
//!
//! ## Packet format
//!
//! `version (1) | key id (4) | nonce (24) | ciphertext | tag (16)`: 45 bytes
//! over the chitchat datagram ([`SEAL_OVERHEAD`]), plus one kind byte inside
//! the ciphertext. The nonce is random per packet (192 bits: no collision
//! risk however long a key lives). The associated data binds a fixed
//! protocol tag, the version, the key id and the gossip cluster id, so
//! plain chitchat, another protocol or another cluster sharing the key is
//! rejected. The key id ([`KeyId`], from SHA-256 of the key) says which key
//! to try; it is safe to log.
//!
//! ## Size
//!
//! chitchat 0.13 bounds every datagram it builds at 65,507 bytes, the largest
//! UDP payload over IPv4 ([`MAX_DATAGRAM_LEN`]), and fills deltas up to it.
//! No sealed packet is larger: a datagram too big to seal whole (above
//! 65,461 bytes, i.e. a delta carrying ~64 KiB of state) is split into two
//! halves sealed separately and reassembled by the receiver. Such packets
//! are IP-fragmented on the way, as plain chitchat's large datagrams are.
//!
//! ## Key file
//!
//! One key per line, 32 bytes in standard base64 (44 characters, e.g.
//! `head -c 32 /dev/urandom | base64`, or [`Key::generate`] +
//! [`Key::to_base64`]) or hex (64 characters). Blank lines and `#` comments
//! are ignored. **The first key is the primary**: it seals what the node
//! sends. Every key in the file is accepted on receive. Parse errors name
//! the line, never its content, and no `Debug` output shows key bytes.
//!
//! ## Rotating the key (no restart, no split)
//!
//! The keyring is read on every packet, so a reloaded file applies to the
//! next packet. To replace key A with key B, do each step on **every** node,
//! one at a time, before starting the next step:
//!
//! 1. **Install** B as a secondary: file `A`, `B`; reload. Every node now
//!    accepts B but still sends with A.
//! 2. **Use** B: file `B`, `A`; reload. Nodes send with B, which all accept;
//!    packets from nodes not yet switched (A) are still accepted.
//! 3. **Remove** A: file `B`; reload.
//!
//! Doing step 2 on a node before step 1 is done everywhere makes the nodes
//! without B drop its packets (the counter rises; a warn is logged).
//! A node restarted with an old file (only A) after step 3 is kept out.
//!
//! ## Limits
//!
//! * No replay protection (as in Serf): a recorded packet can be re-sent.
//!   chitchat ignores stale state, so a replay can only repeat old news.
//! * chitchat 0.13 does not export its wire codec, so the transport turns
//!   envelopes into bytes and back through chitchat's own UDP socket on
//!   127.0.0.1 (see `codec.rs`). That socket only accepts datagrams from its
//!   paired socket; it is not reachable from the network.
//!
//! [chitchat]: https://docs.rs/chitchat/0.13
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
mod config;
mod error;
mod fragment;
mod gossip;
mod keyring;
pub mod keys;
mod member;
mod meta;
mod seal;
mod sealed_transport;

pub use chitchat::transport::ChannelTransport;

pub use crate::config::{
    format_node_id, parse_node_id, GossipConfig, DEFAULT_CLUSTER_ID, DEFAULT_DEAD_GRACE,
    DEFAULT_GOSSIP_INTERVAL, DEFAULT_GOSSIP_PORT,
};
pub use crate::error::{BoxError, Error, Result};
pub use crate::gossip::{Gossip, Transport};
pub use crate::keyring::{Key, KeyId, Keyring, SharedKeyring, KEY_LEN};
pub use crate::member::{Member, MembershipChange};
pub use crate::meta::NodeMeta;
pub use crate::seal::{MAX_DATAGRAM_LEN, SEAL_OVERHEAD};
pub use crate::sealed_transport::SealConfig;
