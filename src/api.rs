//! ActionGate's own HTTP API: the router, the server API (the app's secret
//! key), the Client API and its passkey routes (action tokens), the
//! management API and the portal's sign-in; sessions (`api/sessions.rs`) and
//! server-side challenges (`api/challenges.rs`).

pub mod admin;
pub mod challenges;
pub mod client;
pub mod management;
pub mod passkey;
pub mod router;
pub mod server;
pub mod sessions;
