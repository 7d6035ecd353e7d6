//! Storage behind a small trait, so the per-user service runs the same over
//! the Durable Object's SQLite and over the in-memory fake in tests.
//!
//! One store holds one user's data. Its methods are synchronous because the
//! Durable Object SQL API is: a check-then-insert with no `.await` between
//! is atomic inside the object, which is what makes idempotency hold under
//! concurrent requests.

use crate::actions::model::ActionRecord;
use crate::actions::state::ActionState;
use crate::auth::server_challenge::ServerChallenge;
use crate::auth::session::SessionRecord;
use crate::error::CoreError;
use crate::geo::Fix;
use crate::policy::context::History;
use crate::time::Millis;
use crate::user::{Authenticator, UserRecord};

/// What a track reads before it decides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackSnapshot {
    /// The user's authenticators, oldest first.
    pub authenticators: Vec<Authenticator>,
    /// The user's profile, if stored.
    pub user: Option<UserRecord>,
    /// The user's past (see [`UserStore::history`]).
    pub history: History,
    /// When the tracks of the action code that `history` counts were
    /// created: those of the last [`DAY`], oldest first.
    pub track_times: Vec<Millis>,
}

/// Largest page `queryUserActions` returns.
pub const MAX_PAGE_SIZE: usize = 100;

/// Filter for listing a user's actions (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionQuery {
    /// Only actions created at or after this time.
    pub from: Option<Millis>,
    /// Only these action codes (empty: all).
    pub codes: Vec<String>,
    /// Only actions in this state.
    pub state: Option<ActionState>,
    /// At most this many, at most [`MAX_PAGE_SIZE`].
    pub limit: usize,
}

/// One user's storage.
pub trait UserStore {
    /// The action with this code and key.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn get_action(&self, code: &str, key: &str) -> Result<Option<ActionRecord>, CoreError>;
    /// Insert a new action; the (code, key) pair must be new.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails or the pair exists.
    fn insert_action(&self, record: &ActionRecord) -> Result<(), CoreError>;
    /// Replace a stored action.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn update_action(&self, record: &ActionRecord) -> Result<(), CoreError>;
    /// Actions matching `query`, newest first.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn query_actions(&self, query: &ActionQuery) -> Result<Vec<ActionRecord>, CoreError>;
    /// The user's profile, if any was stored.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn get_user(&self) -> Result<Option<UserRecord>, CoreError>;
    /// Store the user's profile.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn put_user(&self, user: &UserRecord) -> Result<(), CoreError>;
    /// The user's authenticators, oldest first.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn list_authenticators(&self) -> Result<Vec<Authenticator>, CoreError>;
    /// Insert or replace an authenticator.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn put_authenticator(&self, authenticator: &Authenticator) -> Result<(), CoreError>;
    /// Delete an authenticator; `false` when there was none with that id.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn delete_authenticator(&self, id: &str) -> Result<bool, CoreError>;
    /// Everything the rules may know of the user's past, for a track of
    /// `code` at `now` from `device_id` in `country`: whether the device and
    /// the country were seen, how many devices were, the last located
    /// action, and tracks of `code` in the last hour and day (`is_enrolled`
    /// is left false for the caller).
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn history(
        &self,
        code: &str,
        device_id: Option<&str>,
        country: Option<&str>,
        now: Millis,
    ) -> Result<History, CoreError>;
    /// Authenticators, profile and history for a track (the arguments of
    /// [`Self::history`]), with the creation times the history counts. A
    /// store that can should answer in one read.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn track_snapshot(
        &self,
        code: &str,
        device_id: Option<&str>,
        country: Option<&str>,
        now: Millis,
    ) -> Result<TrackSnapshot, CoreError>;
    /// Remember a device and a country seen at `now` (on any track); with
    /// `proved`, also that the user proved themselves there (a challenge
    /// passed, a review approved): the device and country become known and
    /// `fix` the last proved location. An unproved `fix` is not kept. See
    /// [`crate::policy::context`], "known only after proof".
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn remember(
        &self,
        device_id: Option<&str>,
        country: Option<&str>,
        fix: Option<Fix>,
        proved: bool,
        now: Millis,
    ) -> Result<(), CoreError>;
    /// Record a WebAuthn challenge as used; `false` when it already was.
    /// Records past `expires_at` may be forgotten.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn consume_challenge(
        &self,
        challenge: &str,
        expires_at: Millis,
        now: Millis,
    ) -> Result<bool, CoreError>;
    /// Whether [`UserStore::consume_challenge`] recorded `challenge` (and
    /// has not yet forgotten it), without recording it.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn is_consumed(&self, challenge: &str, now: Millis) -> Result<bool, CoreError>;
    /// The session with this id.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, CoreError>;
    /// Store a session (insert or replace). Sessions whose refresh token
    /// expired before `now` may be forgotten.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn put_session(&self, session: &SessionRecord, now: Millis) -> Result<(), CoreError>;
    /// Every stored session.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn list_sessions(&self) -> Result<Vec<SessionRecord>, CoreError>;
    /// The server-side challenge with this id.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn get_server_challenge(&self, id: &str) -> Result<Option<ServerChallenge>, CoreError>;
    /// Store a server-side challenge (insert or replace). Those whose
    /// [`ServerChallenge::keep_until`] is before `now` may be forgotten.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn put_server_challenge(&self, c: &ServerChallenge, now: Millis) -> Result<(), CoreError>;
    /// Every stored server-side challenge, newest first.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn list_server_challenges(&self) -> Result<Vec<ServerChallenge>, CoreError>;
    /// A small per-user setting (e.g. when the passkey prompt may return).
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn get_setting(&self, key: &str) -> Result<Option<String>, CoreError>;
    /// Store a per-user setting.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn put_setting(&self, key: &str, value: &str) -> Result<(), CoreError>;
    /// Record an event for delivery (webhooks, the review queue), in the
    /// same step as the change it reports.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn emit(&self, event: crate::actions::events::Event) -> Result<(), CoreError>;
    /// Delete everything stored for the user.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if storage fails.
    fn delete_all(&self) -> Result<(), CoreError>;
}

pub mod memory;
pub mod row_ids;
pub mod snapshot_cache;
