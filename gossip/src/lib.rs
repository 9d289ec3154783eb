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
//! [chitchat]: https://docs.rs/chitchat/0.13
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod error;
mod gossip;
pub mod keys;
mod member;
mod meta;

pub use chitchat::transport::ChannelTransport;

pub use crate::config::{
    format_node_id, parse_node_id, GossipConfig, DEFAULT_CLUSTER_ID, DEFAULT_DEAD_GRACE,
    DEFAULT_GOSSIP_INTERVAL, DEFAULT_GOSSIP_PORT,
};
pub use crate::error::{BoxError, Error, Result};
pub use crate::gossip::{Gossip, Transport};
pub use crate::member::{Member, MembershipChange};
pub use crate::meta::NodeMeta;
