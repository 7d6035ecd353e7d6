//! Delivering a user's events from their Durable Object's outbox: to the
//! review queue; when `WEBHOOK_URL` is set, to the app as webhooks
//! (`action.created`, `action.state_changed`, `authenticator.created`,
//! `authenticator.deleted`, in Authsignal's envelope, signed with
//! `X-Signature-V2`); and, for edge-proxy routes with `replayOnApproval`,
//! the held request itself to the app once a reviewer approves it (claimed
//! first, so it runs at most once; released again if the app is down).
//!
//! The service writes events into the outbox in the same step as the
//! change they report, so nothing is lost if the object is evicted. The
//! object then sets an alarm; the alarm delivers each sink's events in
//! order, at least once: an event that fails is retried with exponential
//! backoff (2 s, 4 s, … up to an hour) and holds back the events after it
//! in the same sink, so the review queue never sees a `leave` before its
//! `enter`. After [`MAX_ATTEMPTS`] an event is dropped and logged.

use actiongate_core::actions::events::{Event, ReviewChange};
use std::cell::Cell;
use worker::{Env, SqlStorageValue, State};

use crate::clock::now_ms;
use crate::review_queue::{self, QueueCommand};
use crate::settings;
use crate::sql_rows::{FromRow, Number, Row as SqlRow, Select, Text};
use crate::users::sql::{Sink, count_tracks};
use crate::users::sql_store::SqlUserStore;

/// How long a user's analytics counts wait before they travel to the
/// user's shard (`ANALYTICS_FLUSH_SECONDS`), so that the counts of a busy
/// user's actions travel together: one alarm and one shard request for
/// all of them, where each would otherwise cost its own.
pub const DEFAULT_ANALYTICS_FLUSH_SECONDS: u64 = 60;

/// [`DEFAULT_ANALYTICS_FLUSH_SECONDS`] or the variable, 1 to 3,600 s, in ms.
pub fn analytics_delay_ms(env: &Env) -> i64 {
    let secs = settings::var_u64(
        env,
        "ANALYTICS_FLUSH_SECONDS",
        DEFAULT_ANALYTICS_FLUSH_SECONDS,
    )
    .clamp(1, 3_600);
    i64::try_from(secs).map_or(60_000, |s| s * 1_000)
}

/// Make sure an alarm fires within `delay` ms (an earlier one is kept).
/// `known` is the alarm this object set itself and has not seen fire yet,
/// which saves reading it back on every request; `None` (while the alarm
/// handler runs and sets alarms itself) asks the runtime.
///
/// # Errors
/// When the alarm cannot be read or set.
/// Whether an alarm already set (`current`, ms since the epoch) serves for
/// one wanted at `at`: it fires no later, and `at` is not due now (an alarm
/// due now is always set again). The one rule for the Rust path
/// ([`schedule`]) and the JavaScript class's tracks (through the bridge).
pub fn alarm_serves(current: Option<i64>, at: i64, now: i64) -> bool {
    at > now && current.is_some_and(|c| c <= at)
}

pub async fn schedule(
    state: &State,
    delay: i64,
    known: Option<&Cell<Option<i64>>>,
) -> worker::Result<()> {
    let now = now_ms();
    if delay > 0 {
        let at = match known.and_then(Cell::get) {
            Some(at) => Some(at),
            None => state.storage().get_alarm().await?,
        };
        if let Some(at) = at
            && alarm_serves(Some(at), now.saturating_add(delay), now)
        {
            if let Some(k) = known {
                k.set(Some(at));
            }
            return Ok(());
        }
    }
    state.storage().set_alarm(delay).await?;
    if let Some(k) = known {
        k.set(Some(now.saturating_add(delay)));
    }
    Ok(())
}

/// Attempts before an event is given up (about a day of backoff).
pub const MAX_ATTEMPTS: i64 = 30;
/// Events delivered per sink per alarm.
const BATCH: usize = 50;

/// Whether analytics are counted (`ANALYTICS` is not `off`).
pub fn analytics_enabled(env: &Env) -> bool {
    settings::var(env, "ANALYTICS").trim() != "off"
}

/// Whether webhooks are configured.
pub fn webhooks_enabled(env: &Env) -> bool {
    !settings::var(env, "WEBHOOK_URL").trim().is_empty()
}

/// An outbox row: `id, user_id, event_id, event, attempts, next_at`.
struct Row {
    id: f64,
    user_id: String,
    event_id: String,
    event: String,
    attempts: f64,
    next_at: f64,
}

impl FromRow for Row {
    fn from_row(row: &mut SqlRow) -> worker::Result<Self> {
        Ok(Row {
            id: row.number()?,
            user_id: row.text()?,
            event_id: row.text()?,
            event: row.text()?,
            attempts: row.number()?,
            next_at: row.number()?,
        })
    }
}

/// Backoff after `attempts` failures, in ms.
fn backoff(attempts: i64) -> i64 {
    2_000_i64
        .saturating_mul(1_i64 << attempts.clamp(0, 20))
        .min(3_600_000)
}

/// Deliver what is due, then schedule the next alarm if anything is left.
pub async fn deliver(state: &State, env: &Env) {
    // Only the sinks that hold events (often none: analytics alone).
    let waiting: Vec<String> = state
        .storage()
        .sql()
        .select::<Text>(
            "SELECT json_group_array(DISTINCT sink) AS sinks FROM outbox",
            None,
        )
        .ok()
        .and_then(|rows| rows.into_iter().next())
        .and_then(|r| actiongate_core::encoding::from_json(&r.0).ok())
        // Unreadable: try every sink.
        .unwrap_or_else(|| {
            ["review", "webhook", "replay", "analytics", "directory"]
                .map(String::from)
                .to_vec()
        });
    for sink in [
        Sink::Review,
        Sink::Webhook,
        Sink::Replay,
        Sink::Analytics,
        Sink::Directory,
    ] {
        if !waiting.iter().any(|w| w == sink.as_str()) {
            continue;
        }
        if let Err(e) = deliver_sink(state, env, sink).await {
            worker::console_error!("outbox ({}): {e}", sink.as_str());
        }
    }
    if let Err(e) = deliver_counts(state, env).await {
        worker::console_error!("analytics counts: {e}");
    }
    if let Err(e) = crate::users::holds::sweep(state, now_ms()) {
        worker::console_error!("held requests: {e}");
    }
    // The next alarm: the outbox's next event, a batch of counts waiting
    // for its retry, counts that came in since, or a held request's expiry.
    let next = state
        .storage()
        .sql()
        .select::<Number>(
            &format!(
                "SELECT MIN(at) AS next_at FROM (
                 {}
                 UNION ALL
                 SELECT MIN(next_at) AS at FROM outbox
                 UNION ALL
                 SELECT CASE WHEN EXISTS (SELECT 1 FROM metrics WHERE batch > 0)
                             THEN (SELECT next_at FROM metrics_batch WHERE id = 1)
                             WHEN EXISTS (SELECT 1 FROM metrics)
                               OR EXISTS (SELECT 1 FROM actions WHERE rowid >
                                            (SELECT counted_rowid FROM counting WHERE id = 1))
                             THEN ? END
             )",
                crate::users::holds::NEXT_EXPIRY
            ),
            vec![now_ms().saturating_add(analytics_delay_ms(env)).into()],
        )
        .map(|rows| rows.first().and_then(|r| r.0))
        .unwrap_or_else(|e| {
            // Unknown (storage failing, or the actions not yet moved to
            // this version's layout): look again later rather than never.
            worker::console_error!("outbox: when to deliver next: {e}");
            Some(now_ms().saturating_add(UNKNOWN_NEXT_RETRY_MS) as f64)
        });
    if let Some(at) = next {
        // Whatever is due still failed just now: not again at once (a hold
        // that cannot be dropped must not spin the alarm).
        let delay = (at as i64).saturating_sub(now_ms()).max(1000);
        if let Err(e) = state.storage().set_alarm(delay).await {
            worker::console_error!("could not schedule outbox delivery: {e}");
        }
    }
}

/// When the next delivery cannot be worked out, the alarm comes back this
/// much later (ms).
const UNKNOWN_NEXT_RETRY_MS: i64 = 60_000;

async fn deliver_sink(state: &State, env: &Env, sink: Sink) -> Result<(), String> {
    if sink == Sink::Analytics {
        return deliver_analytics(state, env).await;
    }
    let sql = state.storage().sql();
    for _ in 0..BATCH {
        let rows: Vec<Row> = sql
            .select(
                "SELECT id, user_id, event_id, event, attempts, next_at FROM outbox WHERE sink = ? ORDER BY id LIMIT 1",
                vec![SqlStorageValue::from(sink.as_str())],
            )
            .map_err(|e| e.to_string())?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(());
        };
        // The head waits for its retry time, and everything after it too.
        if row.next_at as i64 > now_ms() {
            return Ok(());
        }
        let id = row.id as i64;
        let outcome = match actiongate_core::encoding::from_json::<Event>(&row.event) {
            Ok(event) => send(state, env, sink, &row, &event).await,
            Err(e) => Err(format!("undecodable event {id}: {e}")),
        };
        let attempts = row.attempts as i64 + 1;
        match outcome {
            Ok(()) => {
                sql.exec("DELETE FROM outbox WHERE id = ?", vec![id.into()])
                    .map_err(|e| e.to_string())?;
            }
            Err(e) if attempts >= MAX_ATTEMPTS => {
                worker::console_error!(
                    "outbox ({}): giving up on event {} after {attempts} attempts: {e}",
                    sink.as_str(),
                    row.event_id
                );
                sql.exec("DELETE FROM outbox WHERE id = ?", vec![id.into()])
                    .map_err(|e| e.to_string())?;
            }
            Err(e) => {
                worker::console_log!(
                    "outbox ({}): event {} failed (attempt {attempts}): {e}",
                    sink.as_str(),
                    row.event_id
                );
                sql.exec(
                    "UPDATE outbox SET attempts = ?, next_at = ? WHERE id = ?",
                    vec![
                        attempts.into(),
                        now_ms().saturating_add(backoff(attempts - 1)).into(),
                        id.into(),
                    ],
                )
                .map_err(|e| e.to_string())?;
                return Ok(());
            }
        }
    }
    Ok(())
}

async fn send(
    state: &State,
    env: &Env,
    sink: Sink,
    row: &Row,
    event: &Event,
) -> Result<(), String> {
    match sink {
        Sink::Replay => replay(state, env, &row.user_id, event).await,
        // Delivered in batches by `deliver_analytics`.
        Sink::Analytics => Ok(()),
        Sink::Directory => match event.directory_change() {
            Some(change) => crate::directory::apply(env, &row.user_id, &change).await,
            None => Ok(()),
        },
        Sink::Review => {
            let Some(change) = event.review_change() else {
                return Ok(());
            };
            let user_id = row.user_id.clone();
            let cmd = match change {
                ReviewChange::Enter {
                    action_code,
                    idempotency_key,
                    created_at,
                    entered_at,
                    summary,
                } => QueueCommand::Enter {
                    user_id,
                    action_code,
                    idempotency_key,
                    created_at,
                    entered_at,
                    summary,
                },
                ReviewChange::Leave {
                    action_code,
                    idempotency_key,
                } => QueueCommand::Leave {
                    user_id,
                    action_code,
                    idempotency_key,
                },
                ReviewChange::LeaveAll => QueueCommand::LeaveAll { user_id },
            };
            let resp = review_queue::call(env, &cmd)
                .await
                .map_err(|e| e.description)?;
            if resp.status_code() == 200 {
                Ok(())
            } else {
                Err(format!("review queue answered {}", resp.status_code()))
            }
        }
        Sink::Webhook => {
            let url = settings::var(env, "WEBHOOK_URL");
            if url.trim().is_empty() {
                // Turned off since: nothing to deliver to.
                return Ok(());
            }
            let secret = settings::secret(env, "API_SECRET_KEY").map_err(|e| e.description)?;
            let body = crate::delivery::webhook_envelope(
                env,
                event.webhook_type(),
                &row.event_id,
                event.webhook_data(&row.user_id),
            )
            .to_string();
            crate::delivery::post_signed(url.trim(), &body, &secret).await
        }
    }
}

/// Send an approved held request to the app, at most once.
async fn replay(state: &State, env: &Env, user_id: &str, event: &Event) -> Result<(), String> {
    use actiongate_core::service::{self, Claim, ClaimError};
    let Some((code, key)) = event.replay() else {
        return Ok(());
    };
    let store = SqlUserStore::new(
        state.storage().sql(),
        user_id.to_owned(),
        false,
        None,
        std::rc::Rc::new(std::cell::Cell::new(None)),
    );
    let record = match service::claim(&store, code, key, Claim::Replay, now_ms()) {
        Ok(r) => r,
        // Released already (the client retried first), no longer approved,
        // or gone with its user: nothing to send.
        Err(
            ClaimError::AlreadyUsed
            | ClaimError::NotApproved(_)
            | ClaimError::NothingHeld
            | ClaimError::Mismatch
            | ClaimError::Expired,
        ) => return Ok(()),
        Err(ClaimError::Storage(e)) => return Err(e.to_string()),
    };
    let Some(held) = &record.pending_request else {
        return Ok(());
    };
    let result =
        crate::origin::replay_approved(env, user_id, code, key, record.state.as_str(), held).await;
    match result {
        // Once the app has answered, whatever the status, it may have run the
        // request: it is not sent again (the app deduplicates on
        // X-ActionGate-Idempotency-Key if it must retry itself).
        Ok(r) => {
            if r.status_code() >= 500 {
                worker::console_error!(
                    "the app answered {} to the approved {code}/{key}; not sent again",
                    r.status_code()
                );
            }
            Ok(())
        }
        // It never reached the app: claimable again, and retried later.
        Err(e) => {
            service::unclaim(&store, code, key, now_ms()).map_err(|e| e.to_string())?;
            Err(e.description)
        }
    }
}

struct Batch {
    seq: f64,
    attempts: f64,
    next_at: f64,
    /// Whether the sealed batch `seq` still waits to be sent.
    pending: f64,
}

impl FromRow for Batch {
    fn from_row(row: &mut SqlRow) -> worker::Result<Self> {
        Ok(Batch {
            seq: row.number()?,
            attempts: row.number()?,
            next_at: row.number()?,
            pending: row.number()?,
        })
    }
}

/// Send the user's analytics counts to their shard.
///
/// Requests add to the open batch (number 0). Delivery first seals it: its
/// rows take the next batch number, kept in `metrics_batch`, which survives
/// the user's deletion so numbers never repeat. The sealed batch goes to the
/// shard with its number; the shard applies a user's batch only when its
/// number is higher than the last one it applied, so a batch resent after a
/// lost answer counts once. Counts that arrive meanwhile go to a new open
/// batch. A failed batch is retried with the outbox's backoff and given up
/// after [`MAX_ATTEMPTS`].
async fn deliver_counts(state: &State, env: &Env) -> Result<(), String> {
    use actiongate_core::analytics::Count;
    /// `user_id, day, action_code, kind, bucket, n`.
    struct Row {
        user_id: String,
        day: String,
        action_code: String,
        kind: String,
        bucket: f64,
        n: f64,
    }
    impl FromRow for Row {
        fn from_row(row: &mut SqlRow) -> worker::Result<Self> {
            Ok(Row {
                user_id: row.text()?,
                day: row.text()?,
                action_code: row.text()?,
                kind: row.text()?,
                bucket: row.number()?,
                n: row.number()?,
            })
        }
    }
    let sql = state.storage().sql();
    let err = |e: worker::Error| e.to_string();
    count_tracks(&sql)?;
    let batch: Option<Batch> = sql
        .select(
            "SELECT seq, attempts, next_at,
                    EXISTS (SELECT 1 FROM metrics WHERE batch = metrics_batch.seq) AS pending
             FROM metrics_batch WHERE id = 1",
            None,
        )
        .map_err(err)?
        .into_iter()
        .next();
    let (mut seq, mut attempts) = batch
        .as_ref()
        .map_or((0, 0), |b| (b.seq as i64, b.attempts as i64));
    let read = |seq: i64| -> Result<Vec<Row>, String> {
        sql.select(
            "SELECT user_id, day, action_code, kind, bucket, n FROM metrics WHERE batch = ?",
            vec![seq.into()],
        )
        .map_err(err)
    };
    let pending = batch.as_ref().is_some_and(|b| b.pending != 0.0);
    let mut counts = if pending { read(seq)? } else { Vec::new() };
    if counts.is_empty() {
        // Nothing sealed waits: seal the open batch, if it holds anything.
        counts = sql
            .select(
                "UPDATE metrics SET batch = ? WHERE batch = 0
                 RETURNING user_id, day, action_code, kind, bucket, n",
                vec![(seq + 1).into()],
            )
            .map_err(err)?;
        if counts.is_empty() {
            return Ok(());
        }
        seq += 1;
        attempts = 0;
        sql.exec(
            "INSERT INTO metrics_batch (id, seq, attempts, next_at) VALUES (1, ?, 0, 0) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, attempts = 0, next_at = 0",
            vec![seq.into()],
        )
        .map_err(err)?;
    } else if batch.is_some_and(|b| b.next_at as i64 > now_ms()) {
        return Ok(());
    }
    // A user object holds one user: every row names the same one.
    let Some(user_id) = counts.first().map(|r| r.user_id.clone()) else {
        return Ok(());
    };
    let counts = counts
        .into_iter()
        .map(|r| Count {
            day: r.day,
            action_code: r.action_code,
            kind: r.kind,
            bucket: r.bucket as i64,
            n: r.n as i64,
        })
        .collect();
    let result = crate::analytics::add_batch(env, &user_id, seq, counts).await;
    let done = |sql: &worker::SqlStorage, attempts: i64| -> Result<(), String> {
        sql.exec("DELETE FROM metrics WHERE batch = ?", vec![seq.into()])
            .map_err(err)?;
        if attempts > 0 {
            sql.exec(
                "UPDATE metrics_batch SET attempts = 0, next_at = 0 WHERE id = 1",
                None,
            )
            .map_err(err)?;
        }
        Ok(())
    };
    match result {
        Ok(()) => done(&sql, attempts),
        Err(e) => {
            attempts += 1;
            if attempts >= MAX_ATTEMPTS {
                worker::console_error!(
                    "analytics: giving up on batch {seq} after {attempts} attempts: {e}"
                );
                return done(&sql, attempts);
            }
            sql.exec(
                "UPDATE metrics_batch SET attempts = ?, next_at = ? WHERE id = 1",
                vec![
                    attempts.into(),
                    now_ms().saturating_add(backoff(attempts - 1)).into(),
                ],
            )
            .map_err(err)?;
            Err(e)
        }
    }
}

/// Analytics events that earlier versions kept in the outbox go to the
/// user's shard in batches: all due rows in one
/// request (a user's events always share a shard), applied once each.
async fn deliver_analytics(state: &State, env: &Env) -> Result<(), String> {
    let sql = state.storage().sql();
    let rows: Vec<Row> = sql
        .select(
            "SELECT id, user_id, event_id, event, attempts, next_at FROM outbox WHERE sink = 'analytics' ORDER BY id LIMIT 200",
            None,
        )
        .map_err(|e| e.to_string())?;
    let Some(head) = rows.first() else {
        return Ok(());
    };
    if head.next_at as i64 > now_ms() {
        return Ok(());
    }
    let user_id = head.user_id.clone();
    let batch: Vec<&Row> = rows.iter().filter(|r| r.user_id == user_id).collect();
    let metrics: Vec<(String, actiongate_core::analytics::Metric)> = batch
        .iter()
        .filter_map(|r| {
            let event: Event = actiongate_core::encoding::from_json(&r.event).ok()?;
            Some((
                r.event_id.clone(),
                actiongate_core::analytics::Metric::of(&event)?,
            ))
        })
        .collect();
    let result = if metrics.is_empty() {
        Ok(())
    } else {
        crate::analytics::record_batch(env, &user_id, metrics, now_ms()).await
    };
    let delete = |rows: &[&Row]| -> Result<(), String> {
        for r in rows {
            sql.exec(
                "DELETE FROM outbox WHERE id = ?",
                vec![(r.id as i64).into()],
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    match result {
        Ok(()) => delete(&batch),
        Err(e) => {
            let attempts = head.attempts as i64 + 1;
            if attempts >= MAX_ATTEMPTS {
                worker::console_error!(
                    "outbox (analytics): giving up on {} events: {e}",
                    batch.len()
                );
                return delete(&batch);
            }
            sql.exec(
                "UPDATE outbox SET attempts = ?, next_at = ? WHERE id = ?",
                vec![
                    attempts.into(),
                    now_ms().saturating_add(backoff(attempts - 1)).into(),
                    (head.id as i64).into(),
                ],
            )
            .map_err(|e| e.to_string())?;
            Err(e)
        }
    }
}
