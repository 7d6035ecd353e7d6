//! The `actions` table of the user object (its `CREATE` is in
//! [`crate::users::sql::SCHEMA`]), and the move of an object's actions
//! from the layout of earlier versions.
//!
//! One row per action:
//! - `id`, time-ordered: the action's creation time times [`ID_PER_MS`],
//!   or one more than the newest row's when that is larger. The table's
//!   b-tree grows at its end, listing newest first walks it backwards, and
//!   "created at or after" is a range of it ([`first_id_from`]).
//! - the columns actions are looked up by: `action_code` and
//!   `idempotency_key` (unique together, `actions_by_key`), `state`,
//!   `created_at` (with the code, `actions_by_code_created`, which the
//!   velocity counts read), and `hold_due_at`, when a request the edge proxy
//!   held back comes due ([`ActionRecord::hold_due_at`]; indexed only where
//!   set, `actions_held`, which the alarm reads);
//! - `data`, the whole record as JSON.
//!
//! Earlier versions keyed the rows by (code, key), which put a random key's
//! b-tree under every insert, and kept an index by creation time that only
//! listing and the holds' scan read. [`migrate`] moves an object's rows to
//! this layout the first time the object wakes on this version, in one
//! transaction, keeping their order and the analytics' count mark.
//!
//! [`ActionRecord::hold_due_at`]: actiongate_core::actions::model::ActionRecord::hold_due_at

use actiongate_core::actions::model::ActionRecord;
#[cfg(doc)]
use actiongate_core::store::row_ids::{ID_PER_MS, first_id_from};
use actiongate_core::store::row_ids::{new_ids, new_mark};
use actiongate_core::time::Millis;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use worker::{SqlStorage, SqlStorageValue, State};

use crate::sql_rows::{FromRow, Row, Select, Text};

/// Insert an action (bindings from [`insert_bindings`]), its id after the
/// newest row's and at least its creation time's ([`first_id_from`]: 1024
/// is [`ID_PER_MS`]).
pub const INSERT: &str = "INSERT INTO actions
     (id, action_code, idempotency_key, state, created_at, hold_due_at, data)
     VALUES (MAX(COALESCE((SELECT id FROM actions ORDER BY id DESC LIMIT 1) + 1, 0),
                 CAST(?4 AS INTEGER) * 1024),
             ?1, ?2, ?3, ?4, ?5, ?6)";

/// The bindings of [`INSERT`] for `r`, whose JSON is `data`.
pub fn insert_bindings(r: &ActionRecord, data: String) -> Vec<SqlStorageValue> {
    vec![
        r.action_code.as_str().into(),
        r.idempotency_key.as_str().into(),
        r.state.as_str().into(),
        r.created_at.into(),
        r.hold_due_at().into(),
        data.into(),
    ]
}

/// Update an action's state, hold and record, by code and key.
pub const UPDATE: &str = "UPDATE actions SET state = ?, hold_due_at = ?, data = ?
     WHERE idempotency_key = ? AND action_code = ?";

/// The bindings of [`UPDATE`] for `r`, whose JSON is `data`.
pub fn update_bindings(r: &ActionRecord, data: String) -> Vec<SqlStorageValue> {
    vec![
        r.state.as_str().into(),
        r.hold_due_at().into(),
        data.into(),
        r.idempotency_key.as_str().into(),
        r.action_code.as_str().into(),
    ]
}

/// `hold_due_at` of a row of the earlier layout, from its record:
/// [`ActionRecord::hold_due_at`] in SQL.
const HOLD_DUE_OF_OLD_ROW: &str = "CASE WHEN o.state NOT IN ('REVIEW_REQUIRED', 'REVIEW_SUCCEEDED')
          AND json_extract(o.data, '$.replayedAt') IS NULL
     THEN json_extract(o.data, '$.pendingRequest.expiresAt') END";

/// Rows copied per statement while migrating.
const CHUNK: usize = 200;

/// Move this object's actions to the current layout if they are in the
/// earlier one (nothing when there is no `actions` table yet, or it is
/// current). All or nothing: one transaction.
///
/// # Errors
/// Why the rows could not be moved (nothing moved then).
pub fn migrate(state: &State, schema: &'static str) -> Result<(), String> {
    let sql = state.storage().sql();
    let create: Vec<Text> = sql
        .select(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'actions'",
            None,
        )
        .map_err(|e| e.to_string())?;
    match create.first() {
        Some(Text(layout)) if !layout.contains("hold_due_at") => {
            transaction_sync(state, move || move_rows(&sql, schema))
        }
        _ => Ok(()),
    }
}

fn move_rows(sql: &SqlStorage, schema: &str) -> Result<(), String> {
    struct Old(i64, Millis);
    impl FromRow for Old {
        fn from_row(row: &mut Row) -> worker::Result<Self> {
            Ok(Old(row.number()? as i64, row.number()? as Millis))
        }
    }
    let run = |statement: &str| {
        sql.exec(statement, None)
            .map(|c| {
                let _ = c.raw().count();
            })
            .map_err(|e| format!("{e} in `{}`", statement.get(..60).unwrap_or(statement)))
    };
    run("ALTER TABLE actions RENAME TO actions_v1")?;
    // The earlier indexes went with the table; their names are taken again.
    run("DROP INDEX IF EXISTS actions_by_created")?;
    run("DROP INDEX IF EXISTS actions_by_code_created")?;
    run(schema)?;
    let old: Vec<Old> = sql
        .select(
            "SELECT rowid, created_at FROM actions_v1 ORDER BY rowid",
            None,
        )
        .map_err(|e| e.to_string())?;
    let old: Vec<(i64, Millis)> = old.into_iter().map(|Old(r, c)| (r, c)).collect();
    let ids = new_ids(&old);
    for chunk in ids.chunks(CHUNK) {
        let pairs: Vec<String> = chunk
            .iter()
            .map(|(old, new)| format!("({new}, {old})"))
            .collect();
        run(&format!(
            "INSERT INTO actions (id, action_code, idempotency_key, state, created_at, hold_due_at, data)
             SELECT m.column1, o.action_code, o.idempotency_key, o.state, o.created_at,
                    {HOLD_DUE_OF_OLD_ROW}, o.data
             FROM (VALUES {}) AS m JOIN actions_v1 AS o ON o.rowid = m.column2
             ORDER BY m.column1",
            pairs.join(", ")
        ))?;
    }
    let marks: Vec<crate::sql_rows::Number> = sql
        .select("SELECT counted_rowid FROM counting WHERE id = 1", None)
        .map_err(|e| e.to_string())?;
    if let Some(mark) = marks.first().and_then(|m| m.0) {
        sql.exec(
            "UPDATE counting SET counted_rowid = ? WHERE id = 1",
            vec![new_mark(&ids, mark as i64).into()],
        )
        .map_err(|e| e.to_string())?;
    }
    run("DROP TABLE actions_v1")
}

/// Run `f` in one SQLite transaction of the object's storage
/// (`transactionSync`): what it wrote is rolled back when it fails.
fn transaction_sync(
    state: &State,
    f: impl FnOnce() -> Result<(), String> + 'static,
) -> Result<(), String> {
    let js = |e: JsValue| worker::Error::from(e).to_string();
    let raw: &JsValue = state.as_raw().as_ref();
    let storage = js_sys::Reflect::get(raw, &JsValue::from_str("storage")).map_err(js)?;
    let run = js_sys::Reflect::get(&storage, &JsValue::from_str("transactionSync"))
        .map_err(js)?
        .dyn_into::<js_sys::Function>()
        .map_err(|_| "the storage has no transactionSync".to_owned())?;
    let body = Closure::once(move || -> Result<JsValue, JsValue> {
        f().map(|()| JsValue::UNDEFINED)
            .map_err(|e| js_sys::Error::new(&e).into())
    });
    run.call1(&storage, body.as_ref()).map(|_| ()).map_err(js)
}
