//! openfero: Alertmanager webhooks in, exactly-once remediations out, replicated with Raft.
//!
//! See ARCHITECTURE.md for the bird's-eye view and the invariants.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod certs;
pub mod client;
pub mod cluster;
pub mod config;
pub mod executor;
pub mod http;
pub mod ids;
pub mod kubernetes;
pub mod metrics;
pub mod operarios;
pub mod remediation;
pub mod replay;
pub mod replica;
pub mod site;
pub mod telemetry;
pub mod time;
pub mod ui;
pub mod validate;
