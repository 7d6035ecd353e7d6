//! ActionGate worker: the thin shell around `actiongate-core`.
//!
//! This crate only routes requests, authenticates them, maps errors to HTTP
//! and talks to storage (a SQLite Durable Object per user, KV for
//! configuration). Every decision is made by the core.
//!
//! **Nevers** (`scripts/check-shape.mjs` checks the first five on every
//! test run):
//! - no import circles between modules;
//! - only `clock.rs` reads the time; only `bridge.rs` exports to JavaScript
//!   (`entry.mjs` drives I/O and asks the bridge what to do);
//! - nothing below `api/` imports `api/` (the bridge is the entry, above it);
//!   `api/` and `proxy` reach a user object only through `users/client.rs`;
//! - `users/` never imports `proxy` or `api/`;
//! - no file over ~600 lines outside tests (being worked towards: see
//!   docs/layout.md);
//! - new error kinds are `CoreError` variants; the shell only maps them.

mod aaguids;
mod analytics;
mod api;
mod bridge;
mod clock;
mod config_history;
mod config_store;
mod delivery;
mod directory;
mod http;
mod limits;
mod objects;
mod origin;
mod proxy;
mod request;
mod review_queue;
mod settings;
mod sql_rows;
mod users;

pub use analytics::AnalyticsShard;
pub use config_history::ConfigHistory;
pub use review_queue::ReviewQueue;
pub use users::object::UserObject;
