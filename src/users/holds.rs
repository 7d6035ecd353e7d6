//! Requests the edge proxy held back that nobody came back for: each one
//! expires at its `expiresAt` (`HELD_REQUEST_TTL_SECONDS` after it was
//! held, at most [`MAX_TTL`]); the user object's alarm then drops it
//! unreleased and its action's history says so
//! ([`actiongate_core::service::expire_hold`]).

use actiongate_core::time::{DAY, Millis};
use worker::State;

use crate::sql_rows::{FromRow, Row, rows};

use crate::users::sql_store::SqlUserStore;

/// The longest a request may be held for the person to come back.
pub const MAX_TTL: Millis = 7 * DAY;

/// Holds are looked for among actions created since this long ago (every
/// hold expires within [`MAX_TTL`] of its action's creation).
const WINDOW: Millis = MAX_TTL + DAY;

/// For the alarm's `SELECT` of the next time anything is due (one `?`:
/// the oldest creation time to look at): when the next hold expires.
pub const NEXT_EXPIRY: &str = "SELECT MIN(json_extract(data, '$.pendingRequest.expiresAt')) AS at
     FROM actions WHERE created_at >= ? AND state NOT IN ('REVIEW_REQUIRED', 'REVIEW_SUCCEEDED')
       AND json_extract(data, '$.replayedAt') IS NULL";

/// The oldest creation time [`NEXT_EXPIRY`] looks at, at `now`.
pub fn window_start(now: Millis) -> Millis {
    now.saturating_sub(WINDOW)
}

/// Drop every hold whose time is up at `now`; the number dropped.
///
/// # Errors
/// Why the actions could not be read or written.
pub fn sweep(state: &State, now: Millis) -> Result<usize, String> {
    struct Due {
        action_code: String,
        idempotency_key: String,
    }
    impl FromRow for Due {
        fn from_row(row: &mut Row) -> worker::Result<Self> {
            Ok(Due {
                action_code: row.text()?,
                idempotency_key: row.text()?,
            })
        }
    }
    let due: Vec<Due> = state
        .storage()
        .sql()
        .exec(
            "SELECT action_code, idempotency_key FROM actions
             WHERE created_at >= ? AND state NOT IN ('REVIEW_REQUIRED', 'REVIEW_SUCCEEDED')
               AND json_extract(data, '$.pendingRequest.expiresAt') <= ?
               AND json_extract(data, '$.replayedAt') IS NULL",
            vec![window_start(now).into(), now.into()],
        )
        .and_then(|c| rows(&c))
        .map_err(|e| e.to_string())?;
    if due.is_empty() {
        return Ok(0);
    }
    // Dropping a hold emits nothing, so the store needs no user id.
    let store = SqlUserStore::new(
        state.storage().sql(),
        String::new(),
        false,
        None,
        std::rc::Rc::new(std::cell::Cell::new(None)),
    );
    let mut dropped = 0;
    for d in due {
        // One that cannot be dropped now is logged, and the rest go on.
        match actiongate_core::service::expire_hold(&store, &d.action_code, &d.idempotency_key, now)
        {
            Ok(true) => dropped += 1,
            Ok(false) => {}
            Err(e) => {
                worker::console_error!("held request {}/{}: {e}", d.action_code, d.idempotency_key)
            }
        }
    }
    Ok(dropped)
}
