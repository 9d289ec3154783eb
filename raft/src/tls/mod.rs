//! Mutual TLS between peers, and TLS for the API listener (feature `peer-tls`).
//!
//! [`ServerTls`] is the plain server side for the API and UI: a certificate and key, no client
//! certificate, reloaded like peer TLS. The rest of this page is about peers.
//!
//! Threat: anyone who reaches a node's Raft port. Headers (cluster name, target node id,
//! cluster uuid) are public and only catch mistakes; a certificate signed by the cluster CA
//! says who is a member, as etcd's `--peer-client-cert-auth` does.
//!
//! # Identity
//! A peer is whoever presents a certificate that chains to a CA in `ca_file` and, when
//! [`PeerTlsConfig::san_pattern`] is set, has a DNS subject alternative name matching it. Both
//! ends apply the same rule:
//! - as a server, a client certificate is **required** (rustls' `WebPkiClientVerifier`, then
//!   the pattern); a connection without one, with one from another CA, or outside the pattern
//!   fails its handshake;
//! - as a client, the server's chain is verified against the cluster CA and the pattern, but
//!   **not against the address dialled**. Peers are addressed by pod IP, service DNS name or
//!   `127.0.0.x` in tests, and which of those a certificate lists differs per deployment;
//!   hostname checks would either fail closed for no security gain or push operators to list
//!   every address. This is safe because the CA is the cluster's own: every certificate it
//!   signs belongs to a member, so talking to "the wrong member" at an address is no breach of
//!   confidentiality or integrity, and the Raft layer already refuses an RPC addressed to
//!   another node id (the target header). Do not point `ca_file` at a CA that signs anything
//!   else (a public or company-wide CA): every holder of its certificates would be a peer.
//!
//! The verified peer identity ([`PeerIdentity`]: DNS SANs and serial) is put into each
//! request's extensions by [`serve_tls`]. Certificates need both `serverAuth` and
//! `clientAuth` extended key usages (or none). No revocation lists: revoke by rotating to
//! short-lived certificates (cert-manager) or a new CA.
//!
//! # Rotation
//! [`PeerTls`] holds the current server config, client config and HTTPS client behind one
//! lock and swaps all three at once. [`PeerTls::reload_if_changed`] re-reads the files and
//! swaps only when they changed and load cleanly (certificate, key and CA consistent); a
//! broken or half-written set keeps the old configs and logs a warning. [`PeerTls::watch`]
//! runs that check on an interval; the application spawns it. New connections use the new
//! certificate; open ones keep theirs until they close.
//!
//! # Crypto provider
//! Every config is built with ring via `builder_with_provider`, so nothing here depends on a
//! process-level default provider. Enabling this feature compiles reqwest's rustls backend,
//! which does: see [`install_default_provider`].

mod config;
mod error;
mod load;
mod pattern;
mod peer;
mod peer_tls;
pub(crate) mod provider;
mod reload;
mod serve;
mod server_tls;
mod verify;

pub use config::PeerTlsConfig;
pub use error::TlsError;
pub use pattern::SanPattern;
pub use peer::PeerIdentity;
pub use peer_tls::PeerTls;
pub use provider::{http_only_client_builder, install_default_provider};
pub use serve::{serve_tls, TlsEndpoint};
pub use server_tls::{ServerTls, ServerTlsConfig};
