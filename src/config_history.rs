//! The history of every action configuration: each change made through the
//! management API (the configuration, a rule, a configuration document, a
//! restore) as a numbered version with who, when, what, and the whole
//! configuration before and after, so the portal can show a diff and put
//! any earlier state back.
//!
//! Configuration itself lives in KV, which has no order and no listing one
//! can trust right after a write; the history lives in this one SQLite
//! Durable Object, which numbers versions in the order they are recorded.
//! A change is recorded before it is written to KV and the record is
//! discarded when the write fails, so the history never misses a change
//! that was made (and shows one that was not only while a write is failing).

use actiongate_core::policy::config::ActionConfiguration;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use worker::{
    DurableObject, Env, Request, Response, Result, SqlStorageValue, State, durable_object,
};

use crate::http::{ApiError, json_response};
use crate::sql_rows::{FromRow, Row as SqlRow};

/// Binding name in wrangler.toml.
pub const BINDING: &str = "HISTORY";
/// The one history object's name.
const NAME: &str = "configuration-history";
/// Largest page of `list`.
pub const MAX_PAGE: usize = 100;
/// Versions kept per action code; older ones are dropped.
pub const KEPT: i64 = 500;

/// Who made a change: the name they gave (the portal asks for it; API
/// callers may send `X-ActionGate-Actor`) and the way they came in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Actor {
    /// A name, when one was given.
    pub name: Option<String>,
    /// `PORTAL` (a signed-in session) or `API` (the management secret).
    pub via: String,
}

/// A request to the history.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum HistoryCommand {
    /// A change about to be written; answers `{version}`. Refused (409)
    /// when the action's last recorded configuration is not the one the
    /// change was made to: `expect` is its `updatedAt` (None: there was
    /// none), so of two writers that read the same version, one is told.
    Record {
        action_code: String,
        at: i64,
        actor: Actor,
        change: String,
        before: Option<ActionConfiguration>,
        after: Option<ActionConfiguration>,
        #[serde(default)]
        expect: Option<i64>,
    },
    /// The action's configuration as last recorded: `{found, after}`
    /// (`found` false: nothing recorded yet).
    Latest { action_code: String },
    /// The write of a recorded change failed: forget it.
    Discard { version: i64 },
    /// A page of an action's versions, newest first, older than `before`.
    List {
        action_code: String,
        limit: usize,
        before: Option<i64>,
    },
    /// One version with the configuration before and after it.
    Get { action_code: String, version: i64 },
}

/// One recorded version, as `Get` answers it (configurations in their
/// stored form).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    /// Its number (increasing across all action codes).
    pub version: i64,
    /// The configuration before the change (None: there was none).
    pub before: Option<ActionConfiguration>,
    /// The configuration after it (None: it was deleted).
    pub after: Option<ActionConfiguration>,
    /// When (RFC 3339).
    pub at: String,
    /// Who.
    pub actor: Actor,
    /// What, in words.
    pub change: String,
}

async fn send(env: &Env, cmd: &HistoryCommand) -> std::result::Result<Response, ApiError> {
    crate::objects::send(env, BINDING, NAME, cmd).await
}

/// Send a command and pass its answer on (for the API's GET routes).
///
/// # Errors
/// 503 when the history cannot be reached.
pub async fn call(env: &Env, cmd: &HistoryCommand) -> std::result::Result<Response, ApiError> {
    send(env, cmd).await
}

/// Send a command and read its JSON answer.
///
/// # Errors
/// 503 when the history cannot be reached or answers with an error (its
/// own status and body when it said why).
pub async fn ask<T: serde::de::DeserializeOwned>(
    env: &Env,
    cmd: &HistoryCommand,
) -> std::result::Result<T, ApiError> {
    let mut r = send(env, cmd).await?;
    let text = r.text().await.map_err(ApiError::unavailable)?;
    if !(200..300).contains(&r.status_code()) {
        let body: Value = actiongate_core::encoding::from_json(&text).unwrap_or_default();
        let said = body
            .get("errorDescription")
            .and_then(Value::as_str)
            .unwrap_or("no answer")
            .to_owned();
        return Err(if r.status_code() == 404 {
            ApiError::new(404, "version_not_found", said)
        } else if r.status_code() == 409 {
            ApiError::new(409, "configuration_changed", said)
        } else {
            ApiError::unavailable(format!("configuration history: {said}"))
        });
    }
    actiongate_core::encoding::from_json(&text).map_err(ApiError::internal)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS versions (
  version INTEGER PRIMARY KEY AUTOINCREMENT,
  action_code TEXT NOT NULL,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  change TEXT NOT NULL,
  before TEXT,
  after TEXT
);
CREATE INDEX IF NOT EXISTS versions_by_code ON versions (action_code, version);
";

/// `version, at, actor, change, before, after`.
struct Row {
    version: f64,
    at: f64,
    actor: String,
    change: String,
    before: Option<String>,
    after: Option<String>,
}

impl FromRow for Row {
    fn from_row(row: &mut SqlRow) -> worker::Result<Self> {
        Ok(Row {
            version: row.number()?,
            at: row.number()?,
            actor: row.text()?,
            change: row.text()?,
            before: row.opt_text()?,
            after: row.opt_text()?,
        })
    }
}

impl Row {
    fn meta(&self) -> Value {
        let actor: Value = actiongate_core::encoding::from_json(&self.actor).unwrap_or_default();
        json!({
            "version": self.version as i64,
            "at": actiongate_core::time::to_rfc3339(self.at as i64),
            "actor": actor,
            "change": self.change,
        })
    }
}

/// The history object (`ConfigHistory` in wrangler.toml).
#[durable_object(fetch)]
pub struct ConfigHistory {
    state: State,
    ready: std::cell::Cell<bool>,
}

impl DurableObject for ConfigHistory {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            ready: std::cell::Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        crate::objects::answer(req, "history", |cmd| self.handle(cmd)).await
    }
}

fn json_text<T: Serialize>(v: &T) -> std::result::Result<String, ApiError> {
    serde_json::to_string(v).map_err(ApiError::internal)
}

impl ConfigHistory {
    fn tables(&self) -> crate::objects::Tables<'_> {
        crate::objects::Tables {
            state: &self.state,
            ready: &self.ready,
            schema: SCHEMA,
        }
    }

    fn rows(&self, q: &str, b: Vec<SqlStorageValue>) -> std::result::Result<Vec<Row>, ApiError> {
        self.tables().rows(q, b)
    }

    fn run(&self, q: &str, b: Vec<SqlStorageValue>) -> std::result::Result<(), ApiError> {
        self.tables().run(q, b).map(|_| ())
    }

    fn handle(&self, cmd: HistoryCommand) -> std::result::Result<Response, ApiError> {
        match cmd {
            HistoryCommand::Record {
                action_code,
                at,
                actor,
                change,
                before,
                after,
                expect,
            } => {
                struct Last {
                    version: f64,
                    updated: Option<f64>,
                }
                impl FromRow for Last {
                    fn from_row(row: &mut SqlRow) -> worker::Result<Self> {
                        Ok(Last {
                            version: row.number()?,
                            updated: row.opt_number()?,
                        })
                    }
                }
                let last: Vec<Last> = self.tables().rows(
                    "SELECT version, json_extract(after, '$.updatedAt') AS updated FROM versions
                     WHERE action_code = ? ORDER BY version DESC LIMIT 1",
                    vec![action_code.clone().into()],
                )?;
                if let Some(l) = last.first()
                    && l.updated.map(|u| u as i64) != expect
                {
                    return Err(ApiError::new(
                        409,
                        "configuration_changed",
                        format!(
                            "This configuration changed since it was read (version {}). Read it again and repeat the change.",
                            l.version as i64
                        ),
                    ));
                }
                let opt = |c: &Option<ActionConfiguration>| {
                    c.as_ref().map(json_text).transpose().map(|t| match t {
                        Some(t) => SqlStorageValue::from(t),
                        None => SqlStorageValue::Null,
                    })
                };
                let rows = self.rows(
                    "INSERT INTO versions (action_code, at, actor, change, before, after) VALUES (?, ?, ?, ?, ?, ?) RETURNING version, at, actor, change, NULL AS before, NULL AS after",
                    vec![
                        action_code.clone().into(),
                        at.into(),
                        json_text(&actor)?.into(),
                        change.into(),
                        opt(&before)?,
                        opt(&after)?,
                    ],
                )?;
                let version = rows.first().map_or(0, |r| r.version as i64);
                // The newest KEPT of this action code stay (numbers are shared
                // by all codes, so they are counted, not subtracted).
                self.run(
                    "DELETE FROM versions WHERE action_code = ?1 AND version < (
                       SELECT MIN(version) FROM (SELECT version FROM versions WHERE action_code = ?1
                                                 ORDER BY version DESC LIMIT ?2))",
                    vec![action_code.into(), KEPT.into()],
                )?;
                json_response(200, &json!({ "version": version }))
            }
            HistoryCommand::Latest { action_code } => {
                let rows = self.rows(
                    "SELECT version, at, actor, change, NULL AS before, after FROM versions
                     WHERE action_code = ? ORDER BY version DESC LIMIT 1",
                    vec![action_code.into()],
                )?;
                let after: Value = rows
                    .first()
                    .and_then(|r| r.after.as_deref())
                    .and_then(|t| actiongate_core::encoding::from_json(t).ok())
                    .unwrap_or(Value::Null);
                json_response(200, &json!({ "found": !rows.is_empty(), "after": after }))
            }
            HistoryCommand::Discard { version } => {
                self.run(
                    "DELETE FROM versions WHERE version = ?",
                    vec![version.into()],
                )?;
                json_response(200, &json!({ "ok": true }))
            }
            HistoryCommand::List {
                action_code,
                limit,
                before,
            } => {
                let limit = limit.clamp(1, MAX_PAGE);
                let rows = self.rows(
                    "SELECT version, at, actor, change, NULL AS before, NULL AS after FROM versions WHERE action_code = ? AND version < ? ORDER BY version DESC LIMIT ?",
                    vec![
                        action_code.into(),
                        before.unwrap_or(i64::MAX).into(),
                        i64::try_from(limit + 1).unwrap_or(i64::MAX).into(),
                    ],
                )?;
                let more = rows.len() > limit;
                let page: Vec<Value> = rows.iter().take(limit).map(Row::meta).collect();
                let mut body = json!({ "versions": page });
                if more && let (Some(last), Some(o)) = (rows.get(limit - 1), body.as_object_mut()) {
                    o.insert("nextBefore".into(), json!(last.version as i64));
                }
                json_response(200, &body)
            }
            HistoryCommand::Get {
                action_code,
                version,
            } => {
                let rows = self.rows(
                    "SELECT version, at, actor, change, before, after FROM versions WHERE action_code = ? AND version = ?",
                    vec![action_code.into(), version.into()],
                )?;
                let Some(r) = rows.first() else {
                    return Err(ApiError::new(
                        404,
                        "version_not_found",
                        format!("No version {version} of this action configuration."),
                    ));
                };
                let parse = |t: &Option<String>| -> Value {
                    t.as_deref()
                        .and_then(|t| actiongate_core::encoding::from_json(t).ok())
                        .unwrap_or(Value::Null)
                };
                let mut body = r.meta();
                if let Some(o) = body.as_object_mut() {
                    o.insert("before".into(), parse(&r.before));
                    o.insert("after".into(), parse(&r.after));
                }
                json_response(200, &body)
            }
        }
    }
}
