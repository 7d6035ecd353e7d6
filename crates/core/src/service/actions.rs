//! Moving stored actions: a challenge completed, a sign-in decided like
//! a track, a held request claimed and released, reads and updates.

use serde_json::Value;

use super::track::{TrackInput, track};
use crate::actions::events::Event;
use crate::actions::model::{ActionRecord, Cause};
use crate::actions::state::ActionState;
use crate::auth::methods::VerificationMethod;
use crate::error::CoreError;
use crate::store::{ActionQuery, UserStore};
use crate::time::Millis;

/// Record a successful challenge: `CHALLENGE_SUCCEEDED`, or
/// `REVIEW_REQUIRED` when the deciding rule also demands manual review.
///
/// # Errors
/// [`CoreError::ActionNotFound`], [`CoreError::IllegalTransition`] when the
/// action is not waiting for a challenge, or [`CoreError::Internal`].
pub fn complete_challenge<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    method: VerificationMethod,
    now: Millis,
) -> Result<ActionRecord, CoreError> {
    let mut record = get_action(store, code, key)?;
    // The one place a challenge completes: the method must be one the
    // action (or its deciding rule) allows, whatever route got here.
    if !record.allowed_verification_methods.contains(&method) {
        return Err(not_allowed(method));
    }
    let to = if record.review_after_challenge {
        ActionState::ReviewRequired
    } else {
        ActionState::ChallengeSucceeded
    };
    // Only a pending challenge completes (the no-op rule of updates does not apply).
    if record.state != ActionState::ChallengeRequired {
        return Err(CoreError::IllegalTransition {
            from: record.state,
            to,
        });
    }
    record.move_to(to, Cause::Challenge { method }, now)?;
    record.verification_method = Some(method);
    save_state_change(store, &record)?;
    Ok(record)
}

/// A passkey sign-in that names only an action (no token): decided
/// exactly as a track of that action would be, with the passkey as its
/// completed challenge. The configuration's default outcome and the rules
/// decide: a challenge that allows `method` succeeds (or goes to review
/// when the deciding rule asks for both); REVIEW leaves the action in
/// review; an ALLOW records the passkey that was used; BLOCK, or a
/// challenge that does not allow `method`, refuses. Every outcome is
/// stored, with its context and rules, as a track's is.
///
/// # Errors
/// [`CoreError::Blocked`]; [`CoreError::InvalidField`] when the decided
/// challenge does not allow `method`; the errors of [`track`].
pub fn sign_in<S: UserStore>(
    store: &S,
    input: TrackInput<'_>,
    method: VerificationMethod,
) -> Result<ActionRecord, CoreError> {
    let now = input.now;
    let mut record = track(store, input)?.record;
    match record.state {
        ActionState::ChallengeRequired if record.allowed_verification_methods.contains(&method) => {
            complete_challenge(
                store,
                &record.action_code,
                &record.idempotency_key,
                method,
                now,
            )
        }
        ActionState::ChallengeRequired => Err(not_allowed(method)),
        ActionState::Allow => {
            record.verification_method = Some(method);
            record.updated_at = now;
            store.update_action(&record)?;
            Ok(record)
        }
        ActionState::ReviewRequired => Ok(record),
        _ => Err(CoreError::Blocked(format!(
            "{} is blocked for this user.",
            record.action_code
        ))),
    }
}

/// Store an action whose state just changed, with the event that says so.
pub(crate) fn save_state_change<S: UserStore>(
    store: &S,
    record: &ActionRecord,
) -> Result<(), CoreError> {
    store.update_action(record)?;
    if let Some(e) = Event::state_changed(record) {
        store.emit(e)?;
    }
    // A passed challenge or an approval: where it came from is now known,
    // unless the proof came from elsewhere.
    if record.proves_whereabouts()
        && let Some(w) = record.whereabouts.as_ref().filter(|w| !w.contested)
    {
        store.remember(
            w.device_id.as_deref(),
            w.country.as_deref(),
            w.fix,
            true,
            record.state_updated_at,
        )?;
    }
    Ok(())
}

/// Note where a client that is about to verify for this action is (its
/// device cookie and country, where the request showed them): when either
/// differs from where the action came from, a proof from this client does
/// not make the action's device, country and location known (see
/// [`ActionRecord::proves_whereabouts`]). Unknown to the client (no cookie,
/// no country) contests nothing.
///
/// # Errors
/// [`CoreError::ActionNotFound`] or storage errors.
pub fn note_verifier<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    device: Option<&str>,
    country: Option<&str>,
) -> Result<(), CoreError> {
    let mut record = get_action(store, code, key)?;
    let Some(w) = record.whereabouts.as_mut() else {
        return Ok(());
    };
    let differs = |ours: Option<&str>, theirs: Option<&str>| matches!((ours, theirs), (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b));
    if !w.contested
        && (differs(w.device_id.as_deref(), device) || differs(w.country.as_deref(), country))
    {
        w.contested = true;
        store.update_action(&record)?;
    }
    Ok(())
}

/// How a held-back request is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim<'a> {
    /// A browser returning from the challenge page: replay what was stored.
    Replay,
    /// An API client retrying with the token: its request must be the one
    /// that was tracked (method, path and query, body hash).
    Retry {
        /// The retry's method.
        method: &'a str,
        /// The retry's path and query.
        path_and_query: &'a str,
        /// SHA-256 of the retry's body, hex.
        body_sha256: &'a str,
        /// The `custom` attributes read from the retry (an object): they
        /// must be the ones tracked, so that no header or query source
        /// changes after the approval.
        custom: &'a Value,
    },
}

/// Why a held-back request cannot be released.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// No such action, or it holds no request.
    #[error("there is no held-back request for this token")]
    NothingHeld,
    /// The action is not approved (yet, or at all).
    #[error("the action is {0}, not approved")]
    NotApproved(ActionState),
    /// It was released before: a token releases one request, once.
    #[error("this token was already used")]
    AlreadyUsed,
    /// Nobody came back for it in time: it is no longer held.
    #[error("the held-back request expired")]
    Expired,
    /// A retry that is not the tracked request.
    #[error("the request does not match the one that was challenged")]
    Mismatch,
    /// Storage failed.
    #[error("{0}")]
    Storage(CoreError),
}

/// Release a held-back request, at most once, for an approved action
/// (`ALLOW`, `CHALLENGE_SUCCEEDED` or `REVIEW_SUCCEEDED`). On success the
/// action records when; [`unclaim`] undoes that when the origin failed.
///
/// # Errors
/// The [`ClaimError`] that explains the refusal.
pub fn claim<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    how: Claim<'_>,
    now: Millis,
) -> Result<ActionRecord, ClaimError> {
    let mut record = store
        .get_action(code, key)
        .map_err(ClaimError::Storage)?
        .ok_or(ClaimError::NothingHeld)?;
    if record.hold_was_dropped() {
        return Err(ClaimError::Expired);
    }
    let Some(held) = &record.pending_request else {
        return Err(ClaimError::NothingHeld);
    };
    if !record.state.is_approved() {
        return Err(ClaimError::NotApproved(record.state));
    }
    if record.replayed_at.is_some() {
        return Err(ClaimError::AlreadyUsed);
    }
    if record.hold_expired(now) {
        return Err(ClaimError::Expired);
    }
    if let Claim::Retry {
        method,
        path_and_query,
        body_sha256,
        custom,
    } = how
        && (!held.method.eq_ignore_ascii_case(method)
            || held.path_and_query != path_and_query
            || held.body_sha256 != body_sha256
            || custom.as_object()
                != Some(
                    record
                        .request
                        .custom
                        .as_ref()
                        .unwrap_or(&serde_json::Map::new()),
                ))
    {
        return Err(ClaimError::Mismatch);
    }
    record.replayed_at = Some(now);
    record.updated_at = now;
    store.update_action(&record).map_err(ClaimError::Storage)?;
    Ok(record)
}

/// The person cancels the challenge (the challenge page's "Cancel this
/// request"): `CHALLENGE_REQUIRED` becomes `CHALLENGE_FAILED`, the history
/// says [`Cause::Abandoned`], and no code is left outstanding. Asked again
/// (or for a challenge already failed) nothing changes; answers the action
/// and whether it was cancelled.
///
/// # Errors
/// [`CoreError::ActionNotFound`]; [`CoreError::IllegalTransition`] from
/// any state but those two (nothing is left to cancel); storage errors.
pub fn cancel<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    now: Millis,
) -> Result<(ActionRecord, bool), CoreError> {
    let mut record = get_action(store, code, key)?;
    if record.move_to(ActionState::ChallengeFailed, Cause::Abandoned, now)? {
        record.sent_code = None;
        save_state_change(store, &record)?;
    }
    let cancelled = record.state == ActionState::ChallengeFailed
        && record
            .history
            .last()
            .is_some_and(|h| h.cause == Cause::Abandoned);
    Ok((record, cancelled))
}

/// Drop a held-back request that nobody came back for
/// ([`ActionRecord::expire_hold`]): what the user object's alarm does for
/// each hold whose time is up. `false` when there was nothing to drop.
///
/// # Errors
/// [`CoreError::ActionNotFound`] or storage errors.
pub fn expire_hold<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    now: Millis,
) -> Result<bool, CoreError> {
    let mut record = get_action(store, code, key)?;
    if !record.expire_hold(now) {
        return Ok(false);
    }
    store.update_action(&record)?;
    Ok(true)
}

/// Make a claimed request claimable again (the origin could not be reached).
///
/// # Errors
/// [`CoreError::ActionNotFound`] or [`CoreError::Internal`].
pub fn unclaim<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    now: Millis,
) -> Result<(), CoreError> {
    let mut record = get_action(store, code, key)?;
    record.replayed_at = None;
    record.updated_at = now;
    store.update_action(&record)
}

/// A method's wire name (`PASSKEY`), for messages.
pub(crate) fn method_name(m: VerificationMethod) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The refusal of a method the action does not allow.
pub(crate) fn not_allowed(m: VerificationMethod) -> CoreError {
    CoreError::field(
        "verificationMethod",
        format!("{} is not allowed for this action", method_name(m)),
    )
}

/// The refusal of a verification for an action not waiting for a challenge.
pub(crate) fn not_waiting() -> CoreError {
    CoreError::field("token", "the action is not waiting for a challenge")
}

/// The action with this code and key.
///
/// # Errors
/// [`CoreError::ActionNotFound`], or [`CoreError::Internal`].
pub fn get_action<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
) -> Result<ActionRecord, CoreError> {
    store
        .get_action(code, key)?
        .ok_or(CoreError::ActionNotFound)
}

/// The user's actions matching `query`, newest first.
///
/// # Errors
/// [`CoreError::Internal`] when storage fails.
pub fn query_actions<S: UserStore>(
    store: &S,
    query: &ActionQuery,
) -> Result<Vec<ActionRecord>, CoreError> {
    store.query_actions(query)
}

/// Move an action to `to` on behalf of `actor`, along the state machine.
///
/// # Errors
/// [`CoreError::ActionNotFound`], [`CoreError::IllegalTransition`], or
/// [`CoreError::Internal`].
pub fn update_state<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    to: ActionState,
    cause: Cause,
    now: Millis,
) -> Result<ActionRecord, CoreError> {
    let mut record = get_action(store, code, key)?;
    if record.move_to(to, cause, now)? {
        save_state_change(store, &record)?;
    }
    Ok(record)
}
