//! ActionGate worker: the thin shell around `actiongate-core`.
//!
//! This crate only routes requests, authenticates them, maps errors to HTTP
//! and talks to storage (a SQLite Durable Object per user, KV for
//! configuration). Every decision is made by the core.

mod analytics;
mod api;
mod clock;
mod config_store;
mod delivery;
mod http;
mod limits;
mod origin;
mod proxy;
mod request;
mod review_queue;
mod settings;
mod users;

pub use analytics::AnalyticsShard;
pub use review_queue::ReviewQueue;
pub use users::object::UserObject;

use worker::{Context, Env, Request, Result, event, web_sys};

/// Every request the JavaScript entry (src/entry.mjs) does not forward itself.
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, _ctx: Context) -> Result<web_sys::Response> {
    let response = match api::router::route(Request::from(req), &env).await {
        Ok(r) => r,
        Err(e) => e.into_response()?,
    };
    Ok(response.into())
}
