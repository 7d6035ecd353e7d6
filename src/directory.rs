//! The user directory: one row per user in a D1 database (binding
//! `DIRECTORY`), so that users can be found across user objects by email,
//! phone number, username or id prefix (`queryUsers`, the portal's search).
//!
//! Each user object keeps its own row in step through its outbox (the
//! `directory` sink: an event whenever what the directory holds changes,
//! delivered in order, retried until D1 takes it), and `PATCH` and `DELETE
//! /v1/users/{id}` also write it before they answer, so a client that
//! changed a profile finds it at once (read-your-writes on that path;
//! everywhere else the directory follows within seconds). A row carries
//! the user object's `updatedAt`, and a write older than the row is
//! ignored, so a late outbox delivery never undoes a newer write; a
//! deleted user keeps a tombstone (their time of deletion) for the same
//! reason.
//!
//! A deployment without the binding has no directory: the outbox drops its
//! events (logged once per isolate) and the queries answer 503.

use std::cell::Cell;

use actiongate_core::actions::events::DirectoryChange;
use actiongate_core::user::DirectoryEntry;
use serde::Serialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::http::ApiError;

/// The binding's name.
pub const BINDING: &str = "DIRECTORY";

/// Most users one query returns.
pub const MAX_LIMIT: u32 = 100;

const SCHEMA: [&str; 7] = [
    "CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, email TEXT, email_verified INTEGER NOT NULL DEFAULT 0, phone_number TEXT, phone_number_verified INTEGER NOT NULL DEFAULT 0, username TEXT, updated_at INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS users_email ON users (email, user_id) WHERE email IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS users_phone ON users (phone_number, user_id) WHERE phone_number IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS users_username ON users (username, user_id) WHERE username IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS users_live ON users (deleted, user_id)",
    "CREATE TABLE IF NOT EXISTS credentials (credential_id TEXT NOT NULL, user_id TEXT NOT NULL, user_authenticator_id TEXT NOT NULL, PRIMARY KEY (credential_id, user_id))",
    "CREATE INDEX IF NOT EXISTS credentials_by_user ON credentials (user_id, user_authenticator_id)",
];

thread_local! {
    /// The schema was made by this isolate.
    static READY: Cell<bool> = const { Cell::new(false) };
    /// The missing binding was logged by this isolate.
    static SAID_MISSING: Cell<bool> = const { Cell::new(false) };
}

/// The directory, its tables made once per isolate; `None` without the binding.
async fn open(env: &Env) -> Result<Option<D1Database>, String> {
    let Ok(db) = env.d1(BINDING) else {
        if !SAID_MISSING.with(|s| s.replace(true)) {
            worker::console_warn!("no {BINDING} binding: the user directory is off");
        }
        return Ok(None);
    };
    if !READY.with(Cell::get) {
        let statements = SCHEMA.iter().map(|s| db.prepare(*s)).collect();
        db.batch(statements).await.map_err(|e| e.to_string())?;
        READY.with(|r| r.set(true));
    }
    Ok(Some(db))
}

/// Apply one change from a user's outbox.
///
/// # Errors
/// When D1 refuses (the outbox retries).
pub async fn apply(env: &Env, user_id: &str, change: &DirectoryChange) -> Result<(), String> {
    match change {
        DirectoryChange::Profile(entry) => {
            put(env, user_id, entry).await?;
            if entry.deleted {
                run(
                    env,
                    "DELETE FROM credentials WHERE user_id = ?1",
                    &[user_id],
                )
                .await?;
            }
            Ok(())
        }
        DirectoryChange::CredentialAdded {
            credential_id,
            user_authenticator_id,
        } => {
            run(
                env,
                // One row per user that has the id: a user who registers
                // another's credential id (a software key can choose it)
                // adds a row of their own, never takes over the other's.
                "INSERT INTO credentials (credential_id, user_id, user_authenticator_id) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (credential_id, user_id) DO UPDATE SET user_authenticator_id = excluded.user_authenticator_id",
                &[credential_id, user_id, user_authenticator_id],
            )
            .await
        }
        DirectoryChange::CredentialRemoved {
            user_authenticator_id,
        } => {
            run(
                env,
                "DELETE FROM credentials WHERE user_id = ?1 AND user_authenticator_id = ?2",
                &[user_id, user_authenticator_id],
            )
            .await
        }
    }
}

/// One statement with text arguments (nothing without a directory).
async fn run(env: &Env, sql: &str, args: &[&str]) -> Result<(), String> {
    let Some(db) = open(env).await? else {
        return Ok(());
    };
    let args: Vec<JsValue> = args.iter().map(|a| JsValue::from_str(a)).collect();
    db.prepare(sql)
        .bind(&args)
        .map_err(|e| e.to_string())?
        .run()
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Most credential ids one `isAvailableOnDevice` asks about.
pub const MAX_CREDENTIAL_IDS: usize = 20;

/// Whether any of these credential ids is a passkey or security key that
/// some user has now.
///
/// # Errors
/// 503 when there is no directory or D1 cannot be reached.
pub async fn any_credential(env: &Env, ids: &[String]) -> Result<bool, ApiError> {
    let db = open(env)
        .await
        .map_err(|e| {
            worker::console_error!("user directory: {e}");
            ApiError::unavailable("The user directory cannot be reached. Retry later.")
        })?
        .ok_or_else(no_directory)?;
    let marks = (1..=ids.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let args: Vec<JsValue> = ids.iter().map(|a| JsValue::from_str(a)).collect();
    let found = db
        .prepare(format!(
            "SELECT credential_id FROM credentials WHERE credential_id IN ({marks}) LIMIT 1"
        ))
        .bind(&args)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .raw_js_value()
        .await
        .map_err(|e| {
            worker::console_error!("user directory: {e}");
            ApiError::unavailable("The user directory cannot be reached. Retry later.")
        })?;
    Ok(!found.is_empty())
}

fn no_directory() -> ApiError {
    ApiError::new(
        503,
        "directory_unavailable",
        "This deployment has no user directory (a D1 database bound as DIRECTORY).",
    )
}

/// Write a user's row (a newer write wins; an older one changes nothing).
///
/// # Errors
/// When D1 refuses (the outbox retries).
pub async fn put(env: &Env, user_id: &str, entry: &DirectoryEntry) -> Result<(), String> {
    let Some(db) = open(env).await? else {
        return Ok(());
    };
    let opt = |v: &Option<String>| v.as_deref().map_or(JsValue::NULL, JsValue::from_str);
    db.prepare(
        "INSERT INTO users (user_id, email, email_verified, phone_number, phone_number_verified, username, updated_at, deleted) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, email_verified = excluded.email_verified, \
         phone_number = excluded.phone_number, phone_number_verified = excluded.phone_number_verified, \
         username = excluded.username, updated_at = excluded.updated_at, deleted = excluded.deleted \
         WHERE excluded.updated_at >= users.updated_at",
    )
    .bind(&[
        JsValue::from_str(user_id),
        opt(&entry.email),
        JsValue::from_f64(f64::from(u8::from(entry.email_verified))),
        opt(&entry.phone_number),
        JsValue::from_f64(f64::from(u8::from(entry.phone_number_verified))),
        opt(&entry.username),
        // Milliseconds since the epoch: exact in an f64.
        #[allow(clippy::cast_precision_loss)]
        JsValue::from_f64(entry.updated_at as f64),
        JsValue::from_f64(f64::from(u8::from(entry.deleted))),
    ])
    .map_err(|e| e.to_string())?
    .run()
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// What a query looks for: exact email, phone number or username (any
/// given must all match), or a user id prefix.
#[derive(Debug, Default)]
pub struct Query {
    /// Exact email.
    pub email: Option<String>,
    /// Exact phone number.
    pub phone_number: Option<String>,
    /// Exact username.
    pub username: Option<String>,
    /// The start of the user id.
    pub id_prefix: Option<String>,
    /// Page size (1 to [`MAX_LIMIT`]).
    pub limit: u32,
    /// Users after this id (the last of the previous page).
    pub after: Option<String>,
}

/// One user found, as `queryUsers` returns it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    /// The user's id.
    pub user_id: String,
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether it was verified.
    pub email_verified: bool,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Whether it was verified.
    pub phone_number_verified: bool,
    /// Username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// A row as D1 gives it (`raw`: the columns in order; numbers as f64).
type Row = (
    String,
    Option<String>,
    f64,
    Option<String>,
    f64,
    Option<String>,
);

/// A page of users, by user id, and the id to ask the next page after
/// (when the page is full).
///
/// # Errors
/// 503 when there is no directory or D1 cannot be reached.
pub async fn query(env: &Env, q: &Query) -> Result<(Vec<Found>, Option<String>), ApiError> {
    let unavailable = |e: String| {
        worker::console_error!("user directory: {e}");
        ApiError::unavailable("The user directory cannot be reached. Retry later.")
    };
    let db = open(env)
        .await
        .map_err(unavailable)?
        .ok_or_else(no_directory)?;
    let mut sql = String::from(
        "SELECT user_id, email, email_verified, phone_number, phone_number_verified, username FROM users WHERE deleted = 0",
    );
    let mut args: Vec<JsValue> = Vec::new();
    for (column, value) in [
        ("email", &q.email),
        ("phone_number", &q.phone_number),
        ("username", &q.username),
    ] {
        if let Some(v) = value {
            args.push(JsValue::from_str(v));
            sql.push_str(&format!(" AND {column} = ?{}", args.len()));
        }
    }
    if let Some(prefix) = &q.id_prefix {
        // user_id >= prefix AND user_id < prefix + U+10FFFF: a range the
        // primary key serves, with no LIKE escaping to get wrong.
        args.push(JsValue::from_str(prefix));
        sql.push_str(&format!(" AND user_id >= ?{}", args.len()));
        args.push(JsValue::from_str(&format!("{prefix}\u{10FFFF}")));
        sql.push_str(&format!(" AND user_id < ?{}", args.len()));
    }
    if let Some(after) = &q.after {
        args.push(JsValue::from_str(after));
        sql.push_str(&format!(" AND user_id > ?{}", args.len()));
    }
    let limit = q.limit.clamp(1, MAX_LIMIT);
    sql.push_str(&format!(" ORDER BY user_id LIMIT {limit}"));
    // Read through JSON (serde_json is in the build already; the typed
    // `results` would add serde-wasm-bindgen's deserializer).
    let raw = db
        .prepare(sql)
        .bind(&args)
        .map_err(|e| unavailable(e.to_string()))?
        .raw_js_value()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let mut rows: Vec<Row> = Vec::with_capacity(raw.len());
    for value in raw {
        let text: String = js_sys::JSON::stringify(&value)
            .map_err(|_| unavailable("a row that is not JSON".into()))?
            .into();
        rows.push(
            actiongate_core::encoding::from_json(&text).map_err(|e| unavailable(e.to_string()))?,
        );
    }
    let full = rows.len() == limit as usize;
    let users: Vec<Found> = rows
        .into_iter()
        .map(|r| Found {
            user_id: r.0,
            email: r.1,
            email_verified: r.2 != 0.0,
            phone_number: r.3,
            phone_number_verified: r.4 != 0.0,
            username: r.5,
        })
        .collect();
    let next = if full {
        users.last().map(|u| u.user_id.clone())
    } else {
        None
    };
    Ok((users, next))
}
