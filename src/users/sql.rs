//! The user object's SQLite schema and the statements that are more than
//! one line: what a track reads of the user's history in one `SELECT`, the
//! outbox's sinks, and counting tracks for analytics.

use actiongate_core::error::CoreError;
use actiongate_core::policy::context::History;
use actiongate_core::time::{HOUR, Millis};
use worker::{SqlStorage, SqlStorageValue};

use crate::sql_rows::{FromRow, Number, Row, Select};

/// The user's actions, one row each (see [`ACTIONS`]), then the rest.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS actions (
  id INTEGER PRIMARY KEY,
  action_code TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  hold_due_at INTEGER,
  data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS actions_by_key ON actions (idempotency_key, action_code);
CREATE INDEX IF NOT EXISTS actions_by_code_created ON actions (action_code, created_at);
CREATE INDEX IF NOT EXISTS actions_held ON actions (hold_due_at) WHERE hold_due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS countries (code TEXT PRIMARY KEY, first_seen INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS known_devices (id TEXT PRIMARY KEY, proved_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS known_countries (code TEXT PRIMARY KEY, proved_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS profile (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS used_challenges (challenge TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS server_challenges (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, keep_until INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sink TEXT NOT NULL,
  user_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_by_sink ON outbox (sink, id);
CREATE TABLE IF NOT EXISTS authenticators (
  id TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
  batch INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  day TEXT NOT NULL,
  action_code TEXT NOT NULL,
  kind TEXT NOT NULL,
  bucket INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (batch, day, action_code, kind, bucket)
);
CREATE TABLE IF NOT EXISTS counting (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  user_id TEXT NOT NULL,
  counted_rowid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics_batch (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL DEFAULT 0
);
";

/// What a user's history knows besides counts, for one `SELECT` (bindings
/// from [`history_bindings`]).
///
/// Seen devices and countries (`devices`, `countries`) are written by
/// the first track from each (a device's `last_seen` is its first time too:
/// earlier versions moved it on every track, and nothing read it); known ones (`known_devices`, `known_countries`, the
/// `proved_fix`) only when the user proved themselves there. (The `last_fix`
/// key of earlier versions, written by every track, is no longer read.)
pub(crate) const FACT_COLUMNS: &str = "
    (SELECT COUNT(*) FROM devices WHERE id = ?1) AS device_seen,
    (SELECT COUNT(*) FROM known_devices WHERE id = ?1) AS device_known,
    (SELECT first_seen FROM devices WHERE id = ?1) AS device_first_seen,
    (SELECT COUNT(*) FROM devices) AS device_count,
    (SELECT COUNT(*) FROM countries WHERE code = ?2) AS country_seen,
    (SELECT COUNT(*) FROM known_countries WHERE code = ?2) AS country_known,
    (SELECT value FROM meta WHERE key = 'proved_fix') AS last_fix";

/// The history's counts of tracks of the action code, for the same `SELECT`.
pub(crate) const COUNT_COLUMNS: &str = "
    (SELECT COUNT(*) FROM actions WHERE action_code = ?3 AND created_at >= ?4) AS last_hour,
    (SELECT COUNT(*) FROM actions WHERE action_code = ?3 AND created_at >= ?5) AS last_day";

/// The creation times of the tracks `last_day` counts, for the same `SELECT`.
pub(crate) const TRACK_TIMES_IN_DAY: &str = "SELECT created_at FROM actions WHERE action_code = ?3 AND created_at >= ?5 ORDER BY created_at";

pub(crate) fn history_bindings(
    code: &str,
    device_id: Option<&str>,
    country: Option<&str>,
    now: Millis,
) -> Vec<SqlStorageValue> {
    vec![
        device_id.unwrap_or("").into(),
        country.unwrap_or("").into(),
        code.into(),
        (now - HOUR).into(),
        (now - 24 * HOUR).into(),
    ]
}

/// The history's facts ([`FACT_COLUMNS`]), and the counts
/// ([`COUNT_COLUMNS`]) when the statement selects them.
pub(crate) struct HistoryRow {
    device_seen: f64,
    device_known: f64,
    device_first_seen: Option<f64>,
    device_count: f64,
    country_seen: f64,
    country_known: f64,
    last_fix: Option<String>,
    /// 0 when the counts come from creation times instead.
    last_hour: f64,
    last_day: f64,
}

/// A row of [`FACT_COLUMNS`] and then [`COUNT_COLUMNS`].
pub(crate) struct HistoryWithCounts(pub HistoryRow);

impl FromRow for HistoryWithCounts {
    fn from_row(row: &mut Row) -> worker::Result<Self> {
        let mut h = HistoryRow::facts(row)?;
        h.last_hour = row.number()?;
        h.last_day = row.number()?;
        Ok(HistoryWithCounts(h))
    }
}

impl HistoryRow {
    /// The columns of [`FACT_COLUMNS`], in their order.
    pub(crate) fn facts(row: &mut Row) -> worker::Result<Self> {
        Ok(HistoryRow {
            device_seen: row.number()?,
            device_known: row.number()?,
            device_first_seen: row.opt_number()?,
            device_count: row.number()?,
            country_seen: row.number()?,
            country_known: row.number()?,
            last_fix: row.opt_text()?,
            last_hour: 0.0,
            last_day: 0.0,
        })
    }

    pub(crate) fn into_history(
        self,
        device_id: Option<&str>,
        country: Option<&str>,
    ) -> std::result::Result<History, CoreError> {
        let n = |v: f64| v.max(0.0) as u64;
        Ok(History {
            device_seen: device_id.map(|_| self.device_seen > 0.0),
            device_known: device_id.map(|_| self.device_known > 0.0),
            device_first_seen: device_id.and(self.device_first_seen).map(|t| t as Millis),
            device_count: n(self.device_count),
            country_seen: country.map(|_| self.country_seen > 0.0),
            country_known: country.map(|_| self.country_known > 0.0),
            last_fix: self
                .last_fix
                .as_deref()
                .map(actiongate_core::encoding::from_json)
                .transpose()
                .map_err(|e| CoreError::Internal(format!("decoding a record: {e}")))?,
            actions_last_hour: n(self.last_hour),
            actions_last_day: n(self.last_day),
            is_enrolled: false,
        })
    }
}

/// The schema's stamp, kept in `meta` under `schema` once [`SCHEMA`] has
/// run: a hash of its text, so any change to the schema makes objects
/// stamped before it run the schema again when they wake. (Their actions
/// move only from an earlier layout, which [`wake`] finds by naming this
/// layout's column. A later change that moves rows without changing
/// `SCHEMA`'s text must change the text too, a comment naming it will do,
/// or stamped objects would never run it.)
pub const SCHEMA_STAMP: u64 = fnv1a(SCHEMA.as_bytes());

/// FNV-1a, 64 bits (computed when compiling, for [`SCHEMA_STAMP`]).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut rest = bytes;
    while let [byte, tail @ ..] = rest {
        hash ^= *byte as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        rest = tail;
    }
    hash
}

/// What a user object reads first when it wakes, in one statement instead
/// of the schema's twenty-odd: whether its tables are this version's.
pub struct Wake {
    /// [`SCHEMA`] ran on these tables (the stamp matches) and the actions
    /// are in this version's layout: nothing to create or move.
    pub current: bool,
    /// Whether the analytics mark is set (`counting` has its row), which
    /// `SqlUserStore::start_counting` would otherwise set or clear.
    pub counting: bool,
}

/// Read the [`Wake`] facts; an error (a table or column missing: an object
/// that never stored anything, or an earlier version's) means "not current".
///
/// # Errors
/// When SQLite refuses, or a table the read names is missing.
pub fn wake(sql: &SqlStorage) -> Result<Wake, String> {
    struct Facts {
        stamp: Option<String>,
        counting: f64,
    }
    impl FromRow for Facts {
        fn from_row(row: &mut Row) -> worker::Result<Self> {
            Ok(Facts {
                stamp: row.opt_text()?,
                counting: row.number()?,
            })
        }
    }
    // The last column names this layout's columns of `actions`: on an
    // earlier layout the statement fails, and the object moves its rows
    // whatever its stamp says (the column's value is never read).
    let facts = sql
        .select::<Facts>(
            "SELECT (SELECT value FROM meta WHERE key = 'schema') AS stamp,
                    (SELECT COUNT(*) FROM counting) AS counting,
                    (SELECT hold_due_at FROM actions WHERE id = 0) AS layout",
            None,
        )
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or("no row")?;
    Ok(Wake {
        current: facts.stamp.as_deref() == Some(stamp_text().as_str()),
        counting: facts.counting > 0.0,
    })
}

/// Stamp the tables as made by this version's [`SCHEMA`].
///
/// # Errors
/// When SQLite refuses.
pub fn stamp(sql: &SqlStorage) -> Result<(), String> {
    sql.exec(
        "INSERT INTO meta (key, value) VALUES ('schema', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        Some(vec![stamp_text().into()]),
    )
    .map(|c| {
        let _ = c.raw().count();
    })
    .map_err(|e| e.to_string())
}

fn stamp_text() -> String {
    format!("{SCHEMA_STAMP:016x}")
}

/// Whether this object's database has its tables (an object that never
/// stored anything has none), found out by reading only.
pub fn has_tables(sql: &SqlStorage) -> bool {
    sql.select::<Number>(
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'authenticators'",
        None,
    )
    .is_ok_and(|rows| rows.first().is_some_and(|r| r.0.unwrap_or(0.0) > 0.0))
}

/// Where an outbox row goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// The review queue object.
    Review,
    /// `WEBHOOK_URL`.
    Webhook,
    /// The app, with an approved held request.
    Replay,
    /// The user's analytics shard.
    Analytics,
    /// The user directory (D1, see `crate::directory`).
    Directory,
}

/// Count the tracks stored since the last count into the open batch
/// (number 0), and move the mark past them; `true` when there were any.
/// Tracks write no counter of their own: the stored actions are the count
/// (see `SqlUserStore::start_counting`). Nothing here awaits, so no track
/// comes between reading them and moving the mark.
///
/// # Errors
/// When SQLite refuses.
pub fn count_tracks(sql: &worker::SqlStorage) -> Result<bool, String> {
    use actiongate_core::actions::state::ActionState;
    struct Mark {
        user_id: String,
        counted_rowid: f64,
    }
    impl FromRow for Mark {
        fn from_row(row: &mut Row) -> worker::Result<Self> {
            Ok(Mark {
                user_id: row.text()?,
                counted_rowid: row.number()?,
            })
        }
    }
    struct Track {
        id: f64,
        created_at: f64,
        action_code: String,
        started: Option<String>,
    }
    impl FromRow for Track {
        fn from_row(row: &mut Row) -> worker::Result<Self> {
            Ok(Track {
                id: row.number()?,
                created_at: row.number()?,
                action_code: row.text()?,
                started: row.opt_text()?,
            })
        }
    }
    let err = |e: worker::Error| e.to_string();
    let Some(mark) = sql
        .select::<Mark>(
            "SELECT user_id, counted_rowid FROM counting WHERE id = 1",
            None,
        )
        .map_err(err)?
        .into_iter()
        .next()
    else {
        return Ok(false);
    };
    // The state each started in is the first of its audit trail.
    let tracks: Vec<Track> = sql
        .select(
            "SELECT rowid AS id, created_at, action_code,
                    json_extract(data, '$.history[0].to') AS started
             FROM actions WHERE rowid > ? ORDER BY rowid",
            vec![mark.counted_rowid.into()],
        )
        .map_err(err)?;
    let Some(last) = tracks.last().map(|t| t.id) else {
        return Ok(false);
    };
    let counts = actiongate_core::analytics::count_tracks(tracks.iter().filter_map(|t| {
        let state = ActionState::parse(t.started.as_deref()?, "state").ok()?;
        Some((t.created_at as i64, t.action_code.as_str(), state))
    }));
    for c in counts {
        sql.exec(
            "INSERT INTO metrics (batch, user_id, day, action_code, kind, bucket, n) VALUES (0, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch, day, action_code, kind, bucket) DO UPDATE SET n = n + excluded.n",
            vec![
                mark.user_id.as_str().into(),
                c.day.into(),
                c.action_code.into(),
                c.kind.into(),
                c.bucket.into(),
                c.n.into(),
            ],
        )
        .map_err(err)?;
    }
    sql.exec(
        "UPDATE counting SET counted_rowid = ? WHERE id = 1",
        vec![last.into()],
    )
    .map_err(err)?;
    Ok(true)
}

impl Sink {
    /// Its name in the `outbox` table.
    pub fn as_str(self) -> &'static str {
        match self {
            Sink::Review => "review",
            Sink::Webhook => "webhook",
            Sink::Replay => "replay",
            Sink::Analytics => "analytics",
            Sink::Directory => "directory",
        }
    }
}
