//! The review queue: every action waiting in `REVIEW_REQUIRED`, across
//! users, oldest first.
//!
//! Each user's actions live in that user's Durable Object, which cannot be
//! listed across users, so this one object keeps an index: the user objects
//! send it `enter` and `leave` from their outboxes, in order, at least once
//! (both are idempotent). Only actions that enter or leave review touch it;
//! ordinary tracks never do. A reviewer's decision is made in the user's
//! object (where the action is), whose outbox then removes the entry here.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use worker::{
    DurableObject, Env, Request, Response, Result, SqlStorageValue, State, durable_object,
};

use crate::http::{ApiError, json_response};
use crate::sql_rows::{FromRow, Row as SqlRow};

/// Binding name in wrangler.toml.
pub const BINDING: &str = "REVIEWS";
/// The one queue object's name.
const NAME: &str = "review-queue";
/// Largest page of `list`.
pub const MAX_PAGE: usize = 100;

/// A request to the queue.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum QueueCommand {
    /// An action now waits for a reviewer (replaces an older entry).
    Enter {
        user_id: String,
        action_code: String,
        idempotency_key: String,
        created_at: i64,
        entered_at: i64,
        summary: Value,
    },
    /// It no longer does.
    Leave {
        user_id: String,
        action_code: String,
        idempotency_key: String,
    },
    /// None of the user's actions do (the user was deleted).
    LeaveAll { user_id: String },
    /// A page, oldest first, optionally of one action code, after a cursor.
    List {
        action_code: Option<String>,
        limit: usize,
        after: Option<Cursor>,
    },
}

/// Where a page ends: the last entry's sort key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cursor(pub i64, pub String, pub String, pub String);

impl Cursor {
    /// The opaque form in URLs.
    pub fn encode(&self) -> String {
        actiongate_core::encoding::b64url(
            serde_json::to_string(self).unwrap_or_default().as_bytes(),
        )
    }

    /// Parse the opaque form.
    ///
    /// # Errors
    /// 400 when it is not one this API gave out.
    pub fn decode(s: &str) -> std::result::Result<Self, ApiError> {
        use ct_codecs::{Base64UrlSafeNoPadding, Decoder as _};
        Base64UrlSafeNoPadding::decode_to_vec(s, None)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| ApiError::bad_request("cursor: not a cursor this API gave out"))
    }
}

/// Send a command to the queue.
///
/// # Errors
/// 503 when the queue cannot be reached.
pub async fn call(env: &Env, cmd: &QueueCommand) -> std::result::Result<Response, ApiError> {
    crate::objects::send(env, BINDING, NAME, cmd).await
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reviews (
  user_id TEXT NOT NULL,
  action_code TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  entered_at INTEGER NOT NULL,
  summary TEXT NOT NULL,
  PRIMARY KEY (user_id, action_code, idempotency_key)
);
CREATE INDEX IF NOT EXISTS reviews_oldest ON reviews (entered_at, user_id, action_code, idempotency_key);
CREATE INDEX IF NOT EXISTS reviews_by_code ON reviews (action_code, entered_at);
";

/// A row of `reviews`, its columns in the table's order.
struct Row {
    user_id: String,
    action_code: String,
    idempotency_key: String,
    created_at: f64,
    entered_at: f64,
    summary: String,
}

impl FromRow for Row {
    fn from_row(row: &mut SqlRow) -> worker::Result<Self> {
        Ok(Row {
            user_id: row.text()?,
            action_code: row.text()?,
            idempotency_key: row.text()?,
            created_at: row.number()?,
            entered_at: row.number()?,
            summary: row.text()?,
        })
    }
}

/// The queue object (`ReviewQueue` in wrangler.toml).
#[durable_object(fetch)]
pub struct ReviewQueue {
    state: State,
    /// Whether this instance made its tables already.
    ready: std::cell::Cell<bool>,
}

impl DurableObject for ReviewQueue {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            ready: std::cell::Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        crate::objects::answer(req, "queue", |cmd| self.handle(cmd)).await
    }
}

impl ReviewQueue {
    fn tables(&self) -> crate::objects::Tables<'_> {
        crate::objects::Tables {
            state: &self.state,
            ready: &self.ready,
            schema: SCHEMA,
        }
    }

    fn run(&self, q: &str, b: Vec<SqlStorageValue>) -> std::result::Result<(), ApiError> {
        self.tables().run(q, b).map(|_| ())
    }

    fn handle(&self, cmd: QueueCommand) -> std::result::Result<Response, ApiError> {
        match cmd {
            QueueCommand::Enter {
                user_id,
                action_code,
                idempotency_key,
                created_at,
                entered_at,
                summary,
            } => {
                self.run(
                    "INSERT INTO reviews (user_id, action_code, idempotency_key, created_at, entered_at, summary) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, action_code, idempotency_key) DO UPDATE SET entered_at = excluded.entered_at, summary = excluded.summary",
                    vec![
                        user_id.into(),
                        action_code.into(),
                        idempotency_key.into(),
                        created_at.into(),
                        entered_at.into(),
                        summary.to_string().into(),
                    ],
                )?;
                json_response(200, &json!({"ok": true}))
            }
            QueueCommand::Leave {
                user_id,
                action_code,
                idempotency_key,
            } => {
                self.run(
                    "DELETE FROM reviews WHERE user_id = ? AND action_code = ? AND idempotency_key = ?",
                    vec![user_id.into(), action_code.into(), idempotency_key.into()],
                )?;
                json_response(200, &json!({"ok": true}))
            }
            QueueCommand::LeaveAll { user_id } => {
                self.run(
                    "DELETE FROM reviews WHERE user_id = ?",
                    vec![user_id.into()],
                )?;
                json_response(200, &json!({"ok": true}))
            }
            QueueCommand::List {
                action_code,
                limit,
                after,
            } => self.list(action_code, limit.clamp(1, MAX_PAGE), after),
        }
    }

    fn list(
        &self,
        action_code: Option<String>,
        limit: usize,
        after: Option<Cursor>,
    ) -> std::result::Result<Response, ApiError> {
        let mut q = String::from(
            "SELECT user_id, action_code, idempotency_key, created_at, entered_at, summary
             FROM reviews WHERE 1 = 1",
        );
        let mut b: Vec<SqlStorageValue> = Vec::new();
        if let Some(code) = action_code {
            q.push_str(" AND action_code = ?");
            b.push(code.into());
        }
        if let Some(Cursor(at, user, code, key)) = after {
            q.push_str(" AND (entered_at, user_id, action_code, idempotency_key) > (?, ?, ?, ?)");
            b.extend([at.into(), user.into(), code.into(), key.into()]);
        }
        q.push_str(" ORDER BY entered_at, user_id, action_code, idempotency_key LIMIT ?");
        b.push(i64::try_from(limit + 1).unwrap_or(i64::MAX).into());
        let rows: Vec<Row> = self.tables().rows(&q, b)?;
        let more = rows.len() > limit;
        let page: Vec<&Row> = rows.iter().take(limit).collect();
        let next = more.then(|| page.last()).flatten().map(|r| {
            Cursor(
                r.entered_at as i64,
                r.user_id.clone(),
                r.action_code.clone(),
                r.idempotency_key.clone(),
            )
            .encode()
        });
        let items: Vec<Value> = page
            .iter()
            .map(|r| {
                let summary: Value =
                    actiongate_core::encoding::from_json(&r.summary).unwrap_or_default();
                json!({
                    "userId": r.user_id,
                    "actionCode": r.action_code,
                    "idempotencyKey": r.idempotency_key,
                    "createdAt": actiongate_core::time::to_rfc3339(r.created_at as i64),
                    "enteredReviewAt": actiongate_core::time::to_rfc3339(r.entered_at as i64),
                    "ruleIds": summary.get("ruleIds").cloned().unwrap_or_else(|| json!([])),
                    "custom": summary.get("custom").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        let mut body = json!({ "reviews": items });
        if let (Some(n), Some(o)) = (next, body.as_object_mut()) {
            o.insert("nextCursor".into(), json!(n));
        }
        json_response(200, &body)
    }
}
