//! Integration tests: real HTTP, real processes, real sled folders, real Alertmanager.

mod alertmanager;
mod auth;
mod browser;
mod chart;
mod claims;
mod cluster;
mod cluster_support;
mod controls;
mod crd;
mod durability;
mod examples;
mod guards;
mod kubernetes;
mod kubernetes_controls;
mod kubernetes_idle;
mod openapi;
mod reload;
mod secrets;
mod security;
mod support;
mod ui;
mod validate;
mod webhook;
