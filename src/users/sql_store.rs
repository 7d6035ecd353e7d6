//! The user's SQLite database in its Durable Object, as a [`UserStore`]:
//! the schema, the history a track reads in one statement, and the outbox
//! rows events are written to in the same step as the change they report.

use std::cell::Cell;
use std::rc::Rc;

use actiongate_core::actions::model::ActionRecord;
use actiongate_core::auth::server_challenge::ServerChallenge;
use actiongate_core::auth::session::SessionRecord;
use actiongate_core::error::CoreError;
use actiongate_core::geo::Fix;
use actiongate_core::policy::context::History;
use actiongate_core::store::{ActionQuery, TrackSnapshot, UserStore};
use actiongate_core::time::Millis;
use actiongate_core::user::{Authenticator, UserRecord};
use serde::Serialize;
use worker::{SqlStorage, SqlStorageValue};

use crate::sql_rows::{FromRow, Row, Select, Text};
use crate::users::actions_table;
use crate::users::sql::{
    COUNT_COLUMNS, FACT_COLUMNS, HistoryRow, HistoryWithCounts, Sink, TRACK_TIMES_IN_DAY,
    count_tracks, history_bindings,
};

/// SQLite-backed [`UserStore`].
pub struct SqlUserStore {
    sql: SqlStorage,
    /// Whose store this is (for the outbox: events name no user).
    user_id: String,
    /// Whether webhooks are configured (otherwise only review events are kept).
    webhooks: bool,
    /// Whether analytics are counted: then how long counts wait before
    /// they travel to the user's shard (ms).
    analytics: Option<i64>,
    /// When the outbox wants delivering, if this store put events in it:
    /// at once (ms 0) for reviews, webhooks and replays, a little later for
    /// analytics alone, so a user's counts travel together.
    emitted: Rc<Cell<Option<i64>>>,
}

fn storage_err(e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(format!("sqlite: {e}"))
}

fn to_json<T: Serialize>(v: &T) -> std::result::Result<String, CoreError> {
    serde_json::to_string(v).map_err(|e| CoreError::Internal(format!("encoding a record: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> std::result::Result<T, CoreError> {
    actiongate_core::encoding::from_json(s)
        .map_err(|e| CoreError::Internal(format!("decoding a record: {e}")))
}

impl SqlUserStore {
    /// Wrap the object's SQL storage (its tables made by `UserObject::ensure_schema`).
    pub fn new(
        sql: SqlStorage,
        user_id: String,
        webhooks: bool,
        analytics: Option<i64>,
        emitted: Rc<Cell<Option<i64>>>,
    ) -> Self {
        SqlUserStore {
            sql,
            user_id,
            webhooks,
            analytics,
            emitted,
        }
    }

    /// Whether this store counts the user's tracks for analytics.
    pub fn counts_analytics(&self) -> bool {
        self.analytics.is_some()
    }

    /// Set up counting the user's tracks for analytics (`on`), which reads
    /// the actions stored after a mark (`count_tracks`); the mark
    /// starts at the newest action stored so far, which the counters of
    /// earlier versions counted already. Analytics off: no mark, so turning
    /// it on again does not count the tracks made meanwhile.
    ///
    /// # Errors
    /// When SQLite refuses.
    pub fn start_counting(&self, on: bool) -> std::result::Result<(), CoreError> {
        if on {
            self.run(
                "INSERT INTO counting (id, user_id, counted_rowid)
                 SELECT 1, ?, COALESCE(MAX(rowid), 0) FROM actions WHERE true
                 ON CONFLICT (id) DO NOTHING",
                vec![self.user_id.as_str().into()],
            )
        } else {
            self.run("DELETE FROM counting", vec![])
        }
        .map(|_| ())
    }

    /// Every row of a statement.
    fn all<T: FromRow>(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> std::result::Result<Vec<T>, CoreError> {
        self.sql.select(query, bindings).map_err(storage_err)
    }

    /// The `data` column of every row.
    fn rows(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> std::result::Result<Vec<String>, CoreError> {
        let rows: Vec<Text> = self.all(query, bindings)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// A statement that returns exactly one row.
    fn one_row<T: FromRow>(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> std::result::Result<T, CoreError> {
        self.all(query, bindings)?
            .into_iter()
            .next()
            .ok_or_else(|| storage_err("a single-row query returned none"))
    }

    fn run(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> std::result::Result<usize, CoreError> {
        let cursor = self.sql.exec(query, bindings).map_err(storage_err)?;
        // Drain the cursor so the statement completes.
        let _ = cursor.raw().count();
        Ok(cursor.rows_written())
    }
}

impl UserStore for SqlUserStore {
    fn get_action(
        &self,
        code: &str,
        key: &str,
    ) -> std::result::Result<Option<ActionRecord>, CoreError> {
        self.rows(
            "SELECT data FROM actions WHERE idempotency_key = ? AND action_code = ?",
            vec![key.into(), code.into()],
        )?
        .first()
        .map(|d| from_json(d))
        .transpose()
    }

    fn insert_action(&self, r: &ActionRecord) -> std::result::Result<(), CoreError> {
        // A held request must be dropped when its time is up: the alarm
        // comes by then (outbox::deliver sweeps it).
        if let Some(at) = r.pending_request.as_ref().and_then(|p| p.expires_at) {
            let delay = at.saturating_sub(r.created_at).max(0);
            self.emitted
                .set(Some(self.emitted.get().map_or(delay, |d| d.min(delay))));
        }
        self.run(
            actions_table::INSERT,
            actions_table::insert_bindings(r, to_json(r)?),
        )
        .map(|_| ())
    }

    fn update_action(&self, r: &ActionRecord) -> std::result::Result<(), CoreError> {
        let n = self.run(
            actions_table::UPDATE,
            actions_table::update_bindings(r, to_json(r)?),
        )?;
        if n == 0 {
            return Err(CoreError::Internal("update of a missing action".into()));
        }
        Ok(())
    }

    fn query_actions(&self, q: &ActionQuery) -> std::result::Result<Vec<ActionRecord>, CoreError> {
        let mut sql = String::from("SELECT data FROM actions WHERE 1 = 1");
        let mut b: Vec<SqlStorageValue> = Vec::new();
        if let Some(from) = q.from {
            // Ids are time-ordered: a range of them, then the exact time.
            sql.push_str(" AND id >= ? AND created_at >= ?");
            b.push(actiongate_core::store::row_ids::first_id_from(from).into());
            b.push(from.into());
        }
        if !q.codes.is_empty() {
            sql.push_str(" AND action_code IN (");
            sql.push_str(&vec!["?"; q.codes.len()].join(", "));
            sql.push(')');
            b.extend(q.codes.iter().map(|c| c.as_str().into()));
        }
        if let Some(s) = q.state {
            sql.push_str(" AND state = ?");
            b.push(s.as_str().into());
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        let limit = q.limit.min(actiongate_core::store::MAX_PAGE_SIZE);
        b.push(i64::try_from(limit).unwrap_or(0).into());
        self.rows(&sql, b)?.iter().map(|d| from_json(d)).collect()
    }

    fn get_user(&self) -> std::result::Result<Option<UserRecord>, CoreError> {
        self.rows("SELECT data FROM profile WHERE id = 1", vec![])?
            .first()
            .map(|d| from_json(d))
            .transpose()
    }

    fn put_user(&self, user: &UserRecord) -> std::result::Result<(), CoreError> {
        self.run(
            "INSERT INTO profile (id, data) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            vec![to_json(user)?.into()],
        )
        .map(|_| ())
    }

    fn list_authenticators(&self) -> std::result::Result<Vec<Authenticator>, CoreError> {
        self.rows(
            "SELECT data FROM authenticators ORDER BY created_at, id",
            vec![],
        )?
        .iter()
        .map(|d| from_json(d))
        .collect()
    }

    fn put_authenticator(&self, a: &Authenticator) -> std::result::Result<(), CoreError> {
        self.run(
            "INSERT INTO authenticators (id, created_at, data) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            vec![
                a.user_authenticator_id.as_str().into(),
                a.created_at.into(),
                to_json(a)?.into(),
            ],
        )
        .map(|_| ())
    }

    fn delete_authenticator(&self, id: &str) -> std::result::Result<bool, CoreError> {
        Ok(self.run("DELETE FROM authenticators WHERE id = ?", vec![id.into()])? > 0)
    }

    fn history(
        &self,
        code: &str,
        device_id: Option<&str>,
        country: Option<&str>,
        now: Millis,
    ) -> std::result::Result<History, CoreError> {
        // One statement instead of six: each exec crosses into the runtime.
        let row: HistoryWithCounts = self.one_row(
            &format!("SELECT {FACT_COLUMNS}, {COUNT_COLUMNS}"),
            history_bindings(code, device_id, country, now),
        )?;
        row.0.into_history(device_id, country)
    }

    fn track_snapshot(
        &self,
        code: &str,
        device_id: Option<&str>,
        country: Option<&str>,
        now: Millis,
    ) -> std::result::Result<TrackSnapshot, CoreError> {
        struct Snapshot {
            profile: Option<String>,
            authenticators: String,
            track_times: String,
            history: HistoryRow,
        }
        impl FromRow for Snapshot {
            fn from_row(row: &mut Row) -> worker::Result<Self> {
                Ok(Snapshot {
                    profile: row.opt_text()?,
                    authenticators: row.text()?,
                    track_times: row.text()?,
                    history: HistoryRow::facts(row)?,
                })
            }
        }
        // The history's counts, and the creation times they count (which a
        // user object keeps: see actiongate_core::store::snapshot_cache).
        let row: Snapshot = self.one_row(
            &format!(
                "SELECT (SELECT data FROM profile WHERE id = 1) AS profile,
                        (SELECT json_group_array(data) FROM authenticators) AS authenticators,
                        (SELECT json_group_array(created_at) FROM ({TRACK_TIMES_IN_DAY})) AS track_times,
                        {FACT_COLUMNS}"
            ),
            history_bindings(code, device_id, country, now),
        )?;
        let mut authenticators = from_json::<Vec<String>>(&row.authenticators)?
            .iter()
            .map(|d| from_json::<Authenticator>(d))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        authenticators.sort_by(|a, b| {
            (a.created_at, &a.user_authenticator_id).cmp(&(b.created_at, &b.user_authenticator_id))
        });
        let track_times: Vec<Millis> = from_json(&row.track_times)?;
        let counted = History::counted(&track_times, now);
        Ok(TrackSnapshot {
            authenticators,
            user: row.profile.as_deref().map(from_json).transpose()?,
            history: History {
                actions_last_hour: counted.actions_last_hour,
                actions_last_day: counted.actions_last_day,
                ..row.history.into_history(device_id, country)?
            },
            track_times,
        })
    }

    fn remember(
        &self,
        device_id: Option<&str>,
        country: Option<&str>,
        fix: Option<Fix>,
        proved: bool,
        now: Millis,
    ) -> std::result::Result<(), CoreError> {
        if let Some(d) = device_id {
            self.run(
                "INSERT INTO devices (id, first_seen, last_seen) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                vec![d.into(), now.into(), now.into()],
            )?;
            if proved {
                self.run(
                    "INSERT INTO known_devices (id, proved_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET proved_at = excluded.proved_at",
                    vec![d.into(), now.into()],
                )?;
            }
        }
        if let Some(c) = country {
            self.run(
                "INSERT INTO countries (code, first_seen) VALUES (?, ?) ON CONFLICT (code) DO NOTHING",
                vec![c.into(), now.into()],
            )?;
            if proved {
                self.run(
                    "INSERT INTO known_countries (code, proved_at) VALUES (?, ?) ON CONFLICT (code) DO UPDATE SET proved_at = excluded.proved_at",
                    vec![c.into(), now.into()],
                )?;
            }
        }
        if let Some(f) = fix.filter(|_| proved) {
            self.run(
                "INSERT INTO meta (key, value) VALUES ('proved_fix', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                vec![to_json(&f)?.into()],
            )?;
        }
        Ok(())
    }

    fn consume_challenge(
        &self,
        challenge: &str,
        expires_at: i64,
        now: i64,
    ) -> std::result::Result<bool, CoreError> {
        self.run(
            "DELETE FROM used_challenges WHERE expires_at < ?",
            vec![now.into()],
        )?;
        Ok(self.run(
            "INSERT INTO used_challenges (challenge, expires_at) VALUES (?, ?) ON CONFLICT (challenge) DO NOTHING",
            vec![challenge.into(), expires_at.into()],
        )? > 0)
    }

    fn is_consumed(&self, challenge: &str, now: i64) -> std::result::Result<bool, CoreError> {
        Ok(!self
            .rows(
                "SELECT challenge AS data FROM used_challenges WHERE challenge = ? AND expires_at >= ?",
                vec![challenge.into(), now.into()],
            )?
            .is_empty())
    }

    fn get_session(&self, id: &str) -> std::result::Result<Option<SessionRecord>, CoreError> {
        self.rows("SELECT data FROM sessions WHERE id = ?", vec![id.into()])?
            .first()
            .map(|d| from_json(d))
            .transpose()
    }

    fn put_session(&self, session: &SessionRecord, now: i64) -> std::result::Result<(), CoreError> {
        self.run(
            "DELETE FROM sessions WHERE expires_at < ?",
            vec![now.into()],
        )?;
        self.run(
            "INSERT INTO sessions (id, expires_at, data) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, data = excluded.data",
            vec![
                session.id.as_str().into(),
                session.refresh_expires_at.into(),
                to_json(session)?.into(),
            ],
        )
        .map(|_| ())
    }

    fn list_sessions(&self) -> std::result::Result<Vec<SessionRecord>, CoreError> {
        self.rows("SELECT data FROM sessions ORDER BY id", vec![])?
            .iter()
            .map(|d| from_json(d))
            .collect()
    }

    fn get_server_challenge(
        &self,
        id: &str,
    ) -> std::result::Result<Option<ServerChallenge>, CoreError> {
        self.rows(
            "SELECT data FROM server_challenges WHERE id = ?",
            vec![id.into()],
        )?
        .first()
        .map(|d| from_json(d))
        .transpose()
    }

    fn put_server_challenge(
        &self,
        c: &ServerChallenge,
        now: i64,
    ) -> std::result::Result<(), CoreError> {
        self.run(
            "DELETE FROM server_challenges WHERE keep_until < ?",
            vec![now.into()],
        )?;
        self.run(
            "INSERT INTO server_challenges (id, created_at, keep_until, data) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET keep_until = excluded.keep_until, data = excluded.data",
            vec![
                c.id.as_str().into(),
                c.created_at.into(),
                c.keep_until().into(),
                to_json(c)?.into(),
            ],
        )
        .map(|_| ())
    }

    fn list_server_challenges(&self) -> std::result::Result<Vec<ServerChallenge>, CoreError> {
        self.rows(
            "SELECT data FROM server_challenges ORDER BY created_at DESC",
            vec![],
        )?
        .iter()
        .map(|d| from_json(d))
        .collect()
    }

    fn get_setting(&self, key: &str) -> std::result::Result<Option<String>, CoreError> {
        Ok(self
            .rows(
                "SELECT value AS data FROM meta WHERE key = ?",
                vec![format!("setting:{key}").into()],
            )?
            .into_iter()
            .next())
    }

    fn put_setting(&self, key: &str, value: &str) -> std::result::Result<(), CoreError> {
        self.run(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            vec![format!("setting:{key}").into(), value.into()],
        )
        .map(|_| ())
    }

    fn emit(
        &self,
        event: actiongate_core::actions::events::Event,
    ) -> std::result::Result<(), CoreError> {
        // Analytics: a track's stored action is counted when its batch is
        // made (`count_tracks`), so nothing more is written for it;
        // any other count moves one counter of this user's open batch (see
        // `outbox::deliver_counts`). No event is kept for either.
        use actiongate_core::analytics::Metric;
        let counted = match (self.analytics, Metric::of(&event)) {
            (Some(delay), Some(Metric::Tracked { .. })) => Some(delay),
            (Some(delay), Some(metric)) => match metric.counter() {
                Some((day, code, kind, bucket)) => {
                    self.run(
                        "INSERT INTO metrics (batch, user_id, day, action_code, kind, bucket, n) VALUES (0, ?, ?, ?, ?, ?, 1) ON CONFLICT (batch, day, action_code, kind, bucket) DO UPDATE SET n = n + 1",
                        vec![
                            self.user_id.as_str().into(),
                            day.into(),
                            code.into(),
                            kind.into(),
                            bucket.into(),
                        ],
                    )?;
                    Some(delay)
                }
                None => None,
            },
            _ => None,
        };
        let mut sinks = Vec::new();
        if event.review_change().is_some() {
            sinks.push(Sink::Review);
        }
        if self.webhooks && event.is_webhook() {
            sinks.push(Sink::Webhook);
        }
        if event.directory_change().is_some() {
            sinks.push(Sink::Directory);
        }
        if event.replay().is_some() {
            sinks.push(Sink::Replay);
        }
        // A bare new user (nothing to find them by but their id) reaches the
        // directory with the counts' alarm: an alarm of its own would send
        // the counts early (they wait so that more travel together).
        let can_wait = sinks == [Sink::Directory]
            && event.directory_entry().is_some_and(|e| {
                !e.deleted && e.email.is_none() && e.phone_number.is_none() && e.username.is_none()
            });
        if !sinks.is_empty() {
            let text = to_json(&event)?;
            for sink in sinks {
                self.run(
                    "INSERT INTO outbox (sink, user_id, event_id, event) VALUES (?, ?, ?, ?)",
                    vec![
                        sink.as_str().into(),
                        self.user_id.as_str().into(),
                        uuid::Uuid::new_v4().to_string().into(),
                        text.as_str().into(),
                    ],
                )?;
            }
            match self.analytics {
                Some(delay) if can_wait => self
                    .emitted
                    .set(Some(self.emitted.get().map_or(delay, |d| d.min(delay)))),
                _ => self.emitted.set(Some(0)),
            }
        } else if let Some(delay) = counted {
            // Counts wait, so that more of them travel together.
            self.emitted
                .set(Some(self.emitted.get().map_or(delay, |d| d.min(delay))));
        }
        Ok(())
    }

    fn delete_all(&self) -> std::result::Result<(), CoreError> {
        // Not the outbox or the counts: what happened must still be told.
        if let Some(delay) = self.analytics
            && count_tracks(&self.sql).map_err(storage_err)?
        {
            self.emitted
                .set(Some(self.emitted.get().map_or(delay, |d| d.min(delay))));
        }
        for table in [
            "used_challenges",
            "sessions",
            "server_challenges",
            "actions",
            "profile",
            "authenticators",
            "devices",
            "countries",
            "known_devices",
            "known_countries",
            "meta",
        ] {
            self.run(&format!("DELETE FROM {table}"), vec![])?;
        }
        // Row ids start again (from the next action's creation time).
        self.run("UPDATE counting SET counted_rowid = 0 WHERE id = 1", vec![])?;
        Ok(())
    }
}
