//! One Durable Object per user: the object and its command handlers, its
//! SQLite store, and the outbox that delivers its events.

pub mod client;
pub mod commands;
pub mod object;
pub mod outbox;
pub mod sql;
pub mod sql_store;
