//! The per-user Durable Object: one SQLite database per user holding the
//! user's profile, actions and authenticators.
//!
//! A Durable Object processes one event at a time and its SQL API is
//! synchronous, so the check-then-insert of track (no `.await` between) is
//! atomic: fifty concurrent tracks with one idempotency key store one
//! action. The worker talks to it with [`UserCommand`]s as JSON; the object
//! answers with the final API response (success body or error body).

use std::cell::Cell;
use std::rc::Rc;

use actiongate_core::actions::model::{ActionRecord, TrackResponse};
use actiongate_core::actions::state::ActionState;
use actiongate_core::auth::token::ActionClaims;
use actiongate_core::auth::webauthn::{
    AuthenticationResponse, Ceremony, RegistrationResponse, UserVerification, WebAuthnError,
};
use actiongate_core::error::CoreError;
use actiongate_core::service::passkeys::{self, ActionRef};
use actiongate_core::service::{self, TrackInput};
use actiongate_core::store::snapshot_cache::{Cached, SnapshotCache};
use actiongate_core::store::{ActionQuery, UserStore};
use actiongate_core::user::{EnrollAuthenticatorRequest, UserPatch};
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

use crate::clock::now_ms;
use crate::config_store;
use crate::http::{ApiError, json_response, json_text_response};
use crate::settings::{self, DEFAULT_TOKEN_TTL_SECONDS};
use crate::users::commands::{Track, USER_HEADER, UserCommand, Verifier};
use crate::users::outbox;
use crate::users::sql::SCHEMA;
use crate::users::sql_store::SqlUserStore;

mod actions;
mod ceremonies;
mod challenges;
mod profile;
mod server_challenges;
mod sessions;
mod veto;

/// The Durable Object class (`UserObject` in wrangler.toml).
#[durable_object(alarm)]
pub struct UserObject {
    state: State,
    env: Env,
    schema_ready: Cell<bool>,
    /// Whether this instance has set up counting its tracks
    /// ([`SqlUserStore::start_counting`], before its first track).
    counting_ready: Cell<bool>,
    /// Whether the analytics mark was set when this instance woke, read
    /// with the schema's stamp (`None`: not read).
    counting_at_wake: Cell<Option<bool>>,
    /// The user of the request being handled (from the worker's header).
    user_id: std::cell::RefCell<String>,
    /// Set when the request put events in the outbox (see [`SqlUserStore`]).
    emitted: Rc<Cell<Option<i64>>>,
    /// The outbox alarm this object set and has not seen fire.
    alarm_at: Cell<Option<i64>>,
    /// Whether webhooks and analytics are on, read once.
    sinks: Cell<Option<(bool, Option<i64>)>>,
    /// How long a held request waits (ms), read once.
    hold_ttl: Cell<Option<i64>>,
    /// What tracks read of the user, kept while the object is awake.
    snapshot: SnapshotCache,
    /// Whether the alarm handler is running: it sets the alarm itself, so
    /// requests that interleave with it ask the runtime, not `alarm_at`.
    in_alarm: Cell<bool>,
}

impl DurableObject for UserObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            schema_ready: Cell::new(false),
            counting_ready: Cell::new(false),
            counting_at_wake: Cell::new(None),
            user_id: std::cell::RefCell::new(String::new()),
            emitted: Rc::new(Cell::new(None)),
            alarm_at: Cell::new(None),
            in_alarm: Cell::new(false),
            sinks: Cell::new(None),
            hold_ttl: Cell::new(None),
            snapshot: SnapshotCache::new(),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let user = req.headers().get(USER_HEADER).ok().flatten();
        *self.user_id.borrow_mut() = decode_user(user.as_deref());
        let result = match req.bytes().await {
            Ok(body) => match serde_json::from_slice::<UserCommand>(&body) {
                Ok(cmd) => self.handle(cmd).await,
                Err(e) => Err(ApiError::internal(format!("bad user command: {e}"))),
            },
            Err(e) => Err(ApiError::internal(format!("reading a user command: {e}"))),
        };
        // Events went into the outbox: deliver them right after this answer.
        if let Some(delay) = self.emitted.take()
            && let Err(e) = outbox::schedule(
                &self.state,
                delay,
                (!self.in_alarm.get()).then_some(&self.alarm_at),
            )
            .await
        {
            worker::console_error!("could not schedule outbox delivery: {e}");
        }
        match result {
            Ok(r) => Ok(r),
            Err(e) => e.into_response(),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // The alarm may be the first thing this instance does, after an
        // upgrade that added tables its delivery reads.
        if let Err(e) = self.ensure_schema() {
            worker::console_error!("outbox: {}", e.description);
        }
        self.in_alarm.set(true);
        self.alarm_at.set(None);
        outbox::deliver(&self.state, &self.env).await;
        // Delivery set the next alarm (or none): read it back when next needed.
        self.alarm_at.set(None);
        self.in_alarm.set(false);
        Response::empty()
    }
}

/// A new idempotency key for an action created at `now` (when the app sent
/// none): a UUID whose leading 48 bits are the time in ms (version 7), so
/// the user's index of keys grows at its end rather than at random places;
/// 74 random bits from the runtime's CSPRNG keep it unguessable.
fn fresh_key(now: actiongate_core::time::Millis) -> std::result::Result<String, ApiError> {
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).map_err(|e| ApiError::internal(format!("getrandom: {e}")))?;
    let ms = u64::try_from(now).unwrap_or(0);
    Ok(uuid::Builder::from_unix_timestamp_millis(ms, &random)
        .into_uuid()
        .to_string())
}

/// The user id the worker sent, percent-encoded, in [`USER_HEADER`].
fn decode_user(header: Option<&str>) -> String {
    header
        .map(|h| {
            percent_encoding::percent_decode_str(h)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default()
}

/// The synchronous path for tracks, called by the object's JavaScript class
/// (`src/entry.mjs`, through `src/bridge.rs`), which reads the request body
/// and sets the alarm itself: nothing here awaits, so a track crosses no
/// futures bridge.
impl UserObject {
    /// Answer a `track` command (JSON text) when everything it needs is at
    /// hand: the status and the body JSON, as [`json_response`] would send
    /// them, or `None` when it must take [`DurableObject::fetch`] instead
    /// (another command, or a policy this isolate has not cached), having
    /// changed nothing. Afterwards ask [`Self::alarm_wanted`].
    pub fn track_now(&self, user: Option<String>, command: &str) -> Option<(u16, String)> {
        // A command is `{"<name>":<fields>}` (serde's external tag).
        let fields = command.strip_prefix(r#"{"track":"#)?.strip_suffix('}')?;
        let track = actiongate_core::encoding::from_json::<Track>(fields).ok()?;
        let policy = config_store::cached(&track.action_code)?;
        *self.user_id.borrow_mut() = decode_user(user.as_deref());
        Some(match self.track_with(policy, track) {
            Ok(body) => (200, body),
            Err(e) => (e.status, e.body().to_string()),
        })
    }

    /// After [`Self::track_now`]: the time (ms since the epoch) the alarm must
    /// fire by to deliver what it put in the outbox, when an alarm must be set
    /// for it (unless one is due sooner); `None` when none is needed or
    /// this object already set one that fires in time.
    pub fn alarm_wanted(&self) -> Option<actiongate_core::time::Millis> {
        let delay = self.emitted.take()?;
        let want = now_ms().saturating_add(delay);
        if !self.in_alarm.get() {
            if delay > 0
                && let Some(at) = self.alarm_at.get()
                && at <= want
            {
                return None;
            }
            self.alarm_at.set(Some(want));
        }
        Some(want)
    }

    /// The alarm [`Self::alarm_wanted`] asked for could not be set.
    pub fn alarm_unknown(&self) {
        self.alarm_at.set(None);
    }
}

impl UserObject {
    /// Create the tables this version needs, once per instance, after
    /// moving the actions of an earlier version's layout to this one's;
    /// an object whose tables carry this version's stamp only reads it
    /// (one statement where the schema is twenty-odd, each parsed anew by
    /// every object that wakes).
    fn ensure_schema(&self) -> std::result::Result<(), ApiError> {
        if self.schema_ready.get() {
            return Ok(());
        }
        let sql = self.state.storage().sql();
        if let Ok(wake) = crate::users::sql::wake(&sql) {
            self.counting_at_wake.set(Some(wake.counting));
            if wake.current {
                self.schema_ready.set(true);
                return Ok(());
            }
        }
        crate::users::actions_table::migrate(&self.state, SCHEMA).map_err(|e| {
            ApiError::unavailable(format!("moving the actions to this version's layout: {e}"))
        })?;
        crate::http::create_tables_once(&self.state, &self.schema_ready, SCHEMA)?;
        crate::users::sql::stamp(&sql).map_err(ApiError::unavailable)
    }

    fn store(&self) -> std::result::Result<Cached<'_, SqlUserStore>, ApiError> {
        // Variables do not change while an isolate lives.
        let (webhooks, analytics) = match self.sinks.get() {
            Some(f) => f,
            None => {
                let f = (
                    outbox::webhooks_enabled(&self.env),
                    outbox::analytics_enabled(&self.env)
                        .then(|| outbox::analytics_delay_ms(&self.env)),
                );
                self.sinks.set(Some(f));
                f
            }
        };
        let store = SqlUserStore::new(
            self.state.storage().sql(),
            self.user_id.borrow().clone(),
            webhooks,
            analytics,
            self.emitted.clone(),
        );
        self.ensure_schema()?;
        Ok(Cached::new(store, &self.snapshot))
    }

    /// One command, to the handler of its concern: `object/actions.rs`,
    /// `challenges.rs`, `ceremonies.rs` (passkeys), `profile.rs`, `sessions.rs` or `server_challenges.rs`
    /// (`veto.rs` asks the app before a challenge succeeds).
    async fn handle(&self, cmd: UserCommand) -> std::result::Result<Response, ApiError> {
        match cmd {
            UserCommand::Track(..)
            | UserCommand::Claim { .. }
            | UserCommand::Unclaim { .. }
            | UserCommand::GetAction { .. }
            | UserCommand::QueryActions { .. }
            | UserCommand::UpdateAction { .. }
            | UserCommand::Simulate { .. }
            | UserCommand::Review { .. }
            | UserCommand::Overview { .. } => self.actions(cmd).await,
            UserCommand::ChallengeInfo { .. }
            | UserCommand::EnrollTotp { .. }
            | UserCommand::IssueCode { .. }
            | UserCommand::VerifyCode { .. }
            | UserCommand::MagicLinkStatus { .. }
            | UserCommand::RegenerateRecoveryCodes { .. }
            | UserCommand::Cancel { .. } => self.challenges(cmd).await,
            UserCommand::PasskeyOptions { .. }
            | UserCommand::PasskeyRegister { .. }
            | UserCommand::PasskeyVerify { .. }
            | UserCommand::PasskeyPromptSkip => self.passkeys(cmd).await,
            UserCommand::GetUser { .. }
            | UserCommand::PatchUser { .. }
            | UserCommand::DeleteUser
            | UserCommand::ListAuthenticators { .. }
            | UserCommand::EnrollAuthenticator { .. }
            | UserCommand::DeleteAuthenticator { .. }
            | UserCommand::LiftLockout => self.profile(cmd).await,
            UserCommand::CreateSession { .. }
            | UserCommand::RefreshSession { .. }
            | UserCommand::CheckSession { .. }
            | UserCommand::RevokeSession { .. }
            | UserCommand::RevokeUserSessions => self.sessions(cmd).await,
            UserCommand::StartChallenge { .. }
            | UserCommand::VerifyChallenge { .. }
            | UserCommand::ClaimChallenge { .. }
            | UserCommand::SignInWithChallenge { .. }
            | UserCommand::GetChallenge { .. } => self.server_challenges(cmd).await,
        }
    }

    /// Whether this object has its tables (it stored something once),
    /// found out by reading only.
    fn has_tables(&self) -> bool {
        if self.schema_ready.get() {
            return true;
        }
        crate::users::sql::has_tables(&self.state.storage().sql())
    }
}
