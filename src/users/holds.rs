//! Requests the edge proxy held back that nobody came back for: each one
//! expires at its `expiresAt` (`HELD_REQUEST_TTL_SECONDS` after it was
//! held, at most [`MAX_TTL`]); the user object's alarm then drops it
//! unreleased and its action's history says so
//! ([`actiongate_core::service::expire_hold`]).

use actiongate_core::store::UserStore;
use actiongate_core::time::{DAY, Millis};
use worker::State;

use crate::sql_rows::{FromRow, Row, Select};
use crate::users::sql_store::SqlUserStore;

/// The longest a request may be held for the person to come back.
pub const MAX_TTL: Millis = 7 * DAY;

/// For the alarm's `SELECT` of the next time anything is due: when the
/// next hold expires (from the `actions_held` index: only the actions
/// that hold a request have an entry, see `actions_table`).
pub const NEXT_EXPIRY: &str =
    "SELECT MIN(hold_due_at) AS at FROM actions WHERE hold_due_at IS NOT NULL";

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
        .select(
            "SELECT action_code, idempotency_key FROM actions WHERE hold_due_at <= ?",
            vec![now.into()],
        )
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
            // Its row said due and its record says not (a row written by
            // an earlier version, without the column kept): set the column
            // from the record, so the alarm does not come back for it.
            Ok(false) => {
                if let Err(e) = store
                    .get_action(&d.action_code, &d.idempotency_key)
                    .and_then(|r| r.map_or(Ok(()), |r| store.update_action(&r)))
                {
                    worker::console_error!(
                        "held request {}/{}: {e}",
                        d.action_code,
                        d.idempotency_key
                    )
                }
            }
            Err(e) => {
                worker::console_error!("held request {}/{}: {e}", d.action_code, d.idempotency_key)
            }
        }
    }
    Ok(dropped)
}
