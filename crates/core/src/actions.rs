//! Actions as stored: the state machine, the record with its audit trail
//! (the only place a state changes), and the events a change emits.

pub mod events;
pub mod model;
pub mod state;
