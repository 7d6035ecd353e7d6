//! ActionGate's pure core.
//!
//! Everything that decides what happens to an action lives here, with no
//! dependency on the Workers runtime: identifiers, the action state machine,
//! action configurations, signed action tokens, redirect allowlists and the
//! per-user service that the worker's Durable Object wraps. The core never
//! reads the clock or a random source: `now` and fresh identifiers are
//! parameters, so every rule about time is deterministic under test.
//!
//! **Nevers** (`scripts/check-shape.mjs` checks them on every test run):
//! - the core never imports `worker`, `wasm-bindgen` or `js-sys`, and never
//!   reads the clock or a random source;
//! - no import circles between modules;
//! - `policy/` and `auth/` never import `service` or `store`;
//! - nothing on a request path panics (clippy denies `unwrap`, `expect`,
//!   `panic!` and indexing outside tests).
//!
//! The HTTP wire format follows Authsignal's Server API v1 so that the
//! official SDKs work unchanged against an ActionGate deployment.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod actions;
pub mod analytics;
pub mod auth;
pub mod cache;
pub mod encoding;
pub mod error;
pub mod geo;
pub mod ids;
mod json_path;
pub mod policy;
pub mod present;
pub mod proxy;
pub mod redirect;
pub mod routes;
pub mod service;
pub mod store;
pub mod time;
pub mod user;
pub mod user_agent;
pub mod webhook;

pub use error::{CoreError, ErrorKind};
