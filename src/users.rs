//! One Durable Object per user: the object and its command handlers, its
//! SQLite store, the outbox that delivers its events, and the expiry of the
//! requests it holds back.

pub mod actions_table;
pub mod client;
pub mod commands;
pub mod holds;
pub mod object;
pub mod outbox;
pub mod sql;
pub mod sql_store;
