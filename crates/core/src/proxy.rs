//! The edge proxy's configuration and pure decisions: which route of the
//! app a request hits, which action it is, what its `custom` attributes
//! are, who the user is, and how the worker signs what it forwards.
//!
//! The worker does the I/O (reading the body, calling the origin, the
//! user's Durable Object); everything here is a function of plain values.

pub mod forward;
pub mod path;
pub mod request;
pub mod routes;
pub mod session;

pub use forward::*;
pub use path::*;
pub use request::{
    RequestParts, body_method_overrides, parse_strict_json, read_custom, strict_number,
};
pub use routes::*;
pub use session::*;

#[cfg(test)]
mod tests;
