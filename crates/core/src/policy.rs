//! What an action gets: its configuration (default outcome and methods),
//! the rules over its context, the decision they reach, the value lists they look things up in, and
//! the configuration document that holds them all.

pub mod config;
pub mod config_doc;
pub mod context;
pub mod decide;
pub mod lists;
pub mod rules;
