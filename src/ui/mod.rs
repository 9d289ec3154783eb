//! The web UI: server-rendered pages (minijinja templates compiled into the binary), a little
//! hand-written JS and CSS, live updates through Server-Sent Events. No CDN, no build step.

pub mod actions;
mod assets;
mod chart;
pub mod events;
pub mod pages;
pub mod remediation;
mod templates;

pub use assets::{app_css, app_js};
