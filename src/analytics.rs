//! Analytics shards: Durable Objects that count, per action code and UTC
//! day, what the user objects report (see `actiongate_core::analytics`).
//! A user's counts always go to the same one of
//! [`actiongate_core::analytics::SHARDS`] shards; reading asks every shard
//! and sums. Users send their counts in numbered batches and a shard keeps
//! the last number it applied for each user, so a resent batch counts once
//! (one row per user, however many events). Events that earlier versions
//! kept in users' outboxes come one by one with their ids, remembered for
//! three days, longer than an outbox retries.

use std::collections::BTreeMap;

use actiongate_core::analytics::{BUCKETS, Count, DayCounts, KINDS, Metric, SHARDS, shard_of};
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{
    DurableObject, Env, Request, Response, Result, SqlStorageValue, State, durable_object,
};

use crate::http::{ApiError, json_response};
use crate::sql_rows::{FromRow, Number, Row, Select};

/// Binding name in wrangler.toml.
pub const BINDING: &str = "ANALYTICS_SHARDS";
/// How long applied event ids are remembered, in ms.
const DEDUPE_MS: i64 = 3 * 24 * 3600 * 1000;
/// Longest range a query may span, in days.
pub const MAX_DAYS: i64 = 92;

/// A request to a shard.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ShardCommand {
    /// Count events (each once per event id), from outboxes written by
    /// earlier versions.
    Record {
        events: Vec<(String, Metric)>,
        now: i64,
    },
    /// A user object's numbered batch of counts (see `outbox::deliver_counts`).
    Add {
        user_id: String,
        batch: i64,
        counts: Vec<Count>,
    },
    /// The counts of days `from..=to` (`YYYY-MM-DD`), optionally of one action.
    Query {
        from: String,
        to: String,
        action_code: Option<String>,
    },
}

async fn call(
    env: &Env,
    shard: u32,
    cmd: &ShardCommand,
) -> std::result::Result<Response, ApiError> {
    crate::objects::send(env, BINDING, &format!("analytics-{shard}"), cmd).await
}

/// Count events of `user_id` (event id, metric) in its shard.
///
/// # Errors
/// Why they were not counted (the outbox retries).
pub async fn record_batch(
    env: &Env,
    user_id: &str,
    events: Vec<(String, Metric)>,
    now: i64,
) -> std::result::Result<(), String> {
    tell(env, user_id, &ShardCommand::Record { events, now }).await
}

/// Send a user's numbered batch of counts to their shard.
///
/// # Errors
/// When the shard cannot be reached or does not take the batch.
pub async fn add_batch(
    env: &Env,
    user_id: &str,
    batch: i64,
    counts: Vec<Count>,
) -> std::result::Result<(), String> {
    let cmd = ShardCommand::Add {
        user_id: user_id.to_owned(),
        batch,
        counts,
    };
    tell(env, user_id, &cmd).await
}

/// Send `user_id`'s shard a command that answers nothing but success.
async fn tell(env: &Env, user_id: &str, cmd: &ShardCommand) -> std::result::Result<(), String> {
    let resp = call(env, shard_of(user_id), cmd)
        .await
        .map_err(|e| e.description)?;
    if resp.status_code() == 200 {
        Ok(())
    } else {
        Err(format!("analytics shard answered {}", resp.status_code()))
    }
}

/// Counts of days `from..=to`, summed over every shard, per day and action.
///
/// # Errors
/// 503 when a shard cannot be read.
pub async fn query(
    env: &Env,
    from: &str,
    to: &str,
    action_code: Option<String>,
) -> std::result::Result<Vec<serde_json::Value>, ApiError> {
    let cmd = ShardCommand::Query {
        from: from.to_owned(),
        to: to.to_owned(),
        action_code,
    };
    let answers = futures_util::future::join_all((0..SHARDS).map(|s| call(env, s, &cmd))).await;
    let mut total: BTreeMap<(String, String), DayCounts> = BTreeMap::new();
    for answer in answers {
        let resp = answer?;
        if resp.status_code() != 200 {
            return Err(ApiError::unavailable("an analytics shard failed"));
        }
        let rows: Vec<(String, String, DayCounts)> = crate::http::read_json(&resp)
            .await
            .map_err(ApiError::internal)?;
        for (day, code, counts) in rows {
            total.entry((day, code)).or_default().add(&counts);
        }
    }
    Ok(total
        .iter()
        .map(|((day, code), c)| c.to_wire(day, code))
        .collect())
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS applied (event_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS applied_at ON applied (at);
CREATE TABLE IF NOT EXISTS daily (
  day TEXT NOT NULL, action_code TEXT NOT NULL,
  allow INTEGER NOT NULL DEFAULT 0, challenge INTEGER NOT NULL DEFAULT 0,
  review INTEGER NOT NULL DEFAULT 0, block INTEGER NOT NULL DEFAULT 0,
  succeeded INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, action_code)
);
CREATE TABLE IF NOT EXISTS batches (user_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS durations (
  day TEXT NOT NULL, action_code TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (day, action_code, bucket)
);
";

/// A row of `daily`, its columns in [`DAILY_COLUMNS`]' order.
struct DailyRow {
    day: String,
    action_code: String,
    allow: f64,
    challenge: f64,
    review: f64,
    block: f64,
    succeeded: f64,
    failed: f64,
}

/// The columns of `daily` a query reads, in [`DailyRow`]'s order.
const DAILY_COLUMNS: &str = "day, action_code, allow, challenge, review, block, succeeded, failed";

impl FromRow for DailyRow {
    fn from_row(row: &mut Row) -> worker::Result<Self> {
        Ok(DailyRow {
            day: row.text()?,
            action_code: row.text()?,
            allow: row.number()?,
            challenge: row.number()?,
            review: row.number()?,
            block: row.number()?,
            succeeded: row.number()?,
            failed: row.number()?,
        })
    }
}

/// A row of `durations`: `day, action_code, bucket, n`.
struct BucketRow {
    day: String,
    action_code: String,
    bucket: f64,
    n: f64,
}

impl FromRow for BucketRow {
    fn from_row(row: &mut Row) -> worker::Result<Self> {
        Ok(BucketRow {
            day: row.text()?,
            action_code: row.text()?,
            bucket: row.number()?,
            n: row.number()?,
        })
    }
}

/// One analytics shard (`AnalyticsShard` in wrangler.toml).
#[durable_object(fetch)]
pub struct AnalyticsShard {
    state: State,
    /// Whether this instance created its tables already.
    schema_ready: std::cell::Cell<bool>,
}

impl DurableObject for AnalyticsShard {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            schema_ready: std::cell::Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        crate::objects::answer(req, "analytics", |cmd| self.handle(cmd)).await
    }
}

impl AnalyticsShard {
    fn exec(&self, q: &str, b: Vec<SqlStorageValue>) -> std::result::Result<usize, ApiError> {
        crate::objects::Tables {
            state: &self.state,
            ready: &self.schema_ready,
            schema: SCHEMA,
        }
        .run(q, b)
    }

    fn handle(&self, cmd: ShardCommand) -> std::result::Result<Response, ApiError> {
        crate::http::create_tables_once(&self.state, &self.schema_ready, SCHEMA)?;
        match cmd {
            ShardCommand::Record { events, now } => {
                self.exec(
                    "DELETE FROM applied WHERE at < ?",
                    vec![now.saturating_sub(DEDUPE_MS).into()],
                )?;
                let mut counted = 0;
                for (event_id, metric) in events {
                    let fresh = self.exec(
                        "INSERT INTO applied (event_id, at) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING",
                        vec![event_id.into(), now.into()],
                    )? > 0;
                    if fresh {
                        self.apply(metric)?;
                        counted += 1;
                    }
                }
                json_response(200, &json!({"counted": counted}))
            }
            ShardCommand::Add {
                user_id,
                batch,
                counts,
            } => {
                let last: Option<Number> = self
                    .state
                    .storage()
                    .sql()
                    .select(
                        "SELECT seq FROM batches WHERE user_id = ?",
                        vec![user_id.as_str().into()],
                    )
                    .map_err(ApiError::unavailable)?
                    .into_iter()
                    .next();
                if last.is_some_and(|l| l.0.is_some_and(|seq| seq as i64 >= batch)) {
                    // Applied already: the user object did not hear back.
                    return json_response(200, &json!({"counted": 0}));
                }
                let mut counted = 0;
                for c in &counts {
                    counted += self.add(c)?;
                }
                self.exec(
                    "INSERT INTO batches (user_id, seq) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET seq = excluded.seq",
                    vec![user_id.into(), batch.into()],
                )?;
                json_response(200, &json!({"counted": counted}))
            }
            ShardCommand::Query {
                from,
                to,
                action_code,
            } => self.query(&from, &to, action_code),
        }
    }

    /// Add one counter's batch count; what it added.
    fn add(&self, c: &Count) -> std::result::Result<i64, ApiError> {
        // The column comes from the fixed set, never from input.
        let Some(column) = KINDS.iter().find(|k| **k == c.kind) else {
            return Ok(0);
        };
        if c.n <= 0 {
            return Ok(0);
        }
        self.exec(
            &format!(
                "INSERT INTO daily (day, action_code, {column}) VALUES (?, ?, ?) ON CONFLICT (day, action_code) DO UPDATE SET {column} = {column} + excluded.{column}"
            ),
            vec![c.day.as_str().into(), c.action_code.as_str().into(), c.n.into()],
        )?;
        if *column == "succeeded" && c.bucket >= 0 {
            self.exec(
                "INSERT INTO durations (day, action_code, bucket, n) VALUES (?, ?, ?, ?) ON CONFLICT (day, action_code, bucket) DO UPDATE SET n = n + excluded.n",
                vec![
                    c.day.as_str().into(),
                    c.action_code.as_str().into(),
                    c.bucket.min(i64::from(BUCKETS) - 1).into(),
                    c.n.into(),
                ],
            )?;
        }
        Ok(c.n)
    }

    fn apply(&self, metric: Metric) -> std::result::Result<(), ApiError> {
        let (day, code, column) = match &metric {
            Metric::Tracked {
                action_code,
                day,
                outcome,
            } => (day, action_code, outcome.as_str()),
            Metric::ChallengeSucceeded {
                action_code, day, ..
            } => (day, action_code, "succeeded"),
            Metric::ChallengeFailed { action_code, day } => (day, action_code, "failed"),
        };
        // The column comes from the fixed set above, never from input.
        let column = match column {
            "allow" | "challenge" | "review" | "block" | "succeeded" | "failed" => column,
            _ => return Ok(()),
        };
        self.exec(
            &format!(
                "INSERT INTO daily (day, action_code, {column}) VALUES (?, ?, 1) ON CONFLICT (day, action_code) DO UPDATE SET {column} = {column} + 1"
            ),
            vec![day.as_str().into(), code.as_str().into()],
        )?;
        if let Metric::ChallengeSucceeded {
            action_code,
            day,
            bucket,
        } = metric
        {
            self.exec(
                "INSERT INTO durations (day, action_code, bucket, n) VALUES (?, ?, ?, 1) ON CONFLICT (day, action_code, bucket) DO UPDATE SET n = n + 1",
                vec![
                    day.into(),
                    action_code.into(),
                    i64::from(bucket.min(BUCKETS - 1)).into(),
                ],
            )?;
        }
        Ok(())
    }

    fn query(
        &self,
        from: &str,
        to: &str,
        action_code: Option<String>,
    ) -> std::result::Result<Response, ApiError> {
        let sql = self.state.storage().sql();
        let mut filter = String::from(" WHERE day >= ? AND day <= ?");
        let mut b: Vec<SqlStorageValue> = vec![from.into(), to.into()];
        if let Some(c) = &action_code {
            filter.push_str(" AND action_code = ?");
            b.push(c.as_str().into());
        }
        let daily: Vec<DailyRow> = sql
            .select(
                &format!("SELECT {DAILY_COLUMNS} FROM daily{filter}"),
                b.clone(),
            )
            .map_err(ApiError::unavailable)?;
        let buckets: Vec<BucketRow> = sql
            .select(
                &format!("SELECT day, action_code, bucket, n FROM durations{filter}"),
                b,
            )
            .map_err(ApiError::unavailable)?;
        let mut out: BTreeMap<(String, String), DayCounts> = BTreeMap::new();
        let n = |v: f64| v.max(0.0) as u64;
        for r in daily {
            let c = out.entry((r.day, r.action_code)).or_default();
            c.allow = n(r.allow);
            c.challenge = n(r.challenge);
            c.review = n(r.review);
            c.block = n(r.block);
            c.succeeded = n(r.succeeded);
            c.failed = n(r.failed);
        }
        for r in buckets {
            let c = out.entry((r.day, r.action_code)).or_default();
            let i = (r.bucket.max(0.0) as usize).min(BUCKETS as usize - 1);
            if c.buckets.len() <= i {
                c.buckets.resize(i + 1, 0);
            }
            if let Some(slot) = c.buckets.get_mut(i) {
                *slot += n(r.n);
            }
        }
        let rows: Vec<(String, String, DayCounts)> =
            out.into_iter().map(|((d, a), c)| (d, a, c)).collect();
        json_response(200, &rows)
    }
}
