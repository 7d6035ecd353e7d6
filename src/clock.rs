//! The one place the worker reads the time. The core never does: it takes
//! `now` as a parameter, so everything about time is tested with a fixed
//! clock. One reading, three units, one rule for the impossible case (a
//! clock beyond `i64` milliseconds saturates).

use actiongate_core::time::Millis;

/// Milliseconds since the epoch, as the runtime tells them (`Date.now()`,
/// without the `Date` object `worker::Date::now` makes: the pass-through
/// path reads it per request).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn now_ms_u64() -> u64 {
    worker::js_sys::Date::now() as u64
}

/// Milliseconds since the epoch, as the core counts them.
pub fn now_ms() -> Millis {
    Millis::try_from(now_ms_u64()).unwrap_or(Millis::MAX)
}

/// Seconds since the epoch (tokens, signatures).
pub fn now_secs() -> u64 {
    now_ms_u64() / 1000
}
