//! Sessions in the user's store: created from an action verified by a
//! challenge, refreshed with single-use refresh tokens, checked and revoked.
//!
//! - One session per verified action: the client token that proves the
//!   challenge is exchanged once (`createSession` consumes it).
//! - A refresh replaces both tokens: the previous access token stops
//!   validating and the previous refresh token is spent. Presenting a spent
//!   refresh token again revokes the session (someone else holds a copy).
//! - A secret that was never issued is refused without revoking anything,
//!   so knowing a session id (it is in the access token) gives no way to end
//!   someone else's session.
//!
//! Ids and secrets are passed in (the core draws no randomness).

use subtle::ConstantTimeEq;

use crate::actions::state::ActionState;
use crate::auth::session::{SessionError, SessionRecord, refresh_hash};
use crate::error::CoreError;
use crate::store::UserStore;
use crate::time::Millis;

/// Fresh identifiers and secrets for a session's tokens.
#[derive(Debug, Clone)]
pub struct Fresh {
    /// A new session id (used by [`create_session`] only).
    pub session_id: String,
    /// The new access token's id (`jti`).
    pub access_id: String,
    /// The new refresh token's secret.
    pub refresh_secret: String,
}

/// How long refresh tokens live, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Refresh token lifetime; each refresh starts a new one.
    pub refresh_ms: Millis,
}

fn used_key(session_id: &str, hash: &str) -> String {
    format!("refresh:{session_id}:{hash}")
}

fn refuse(e: SessionError) -> CoreError {
    CoreError::Session(e)
}

/// Create a session from the action the client token names (it must be
/// `CHALLENGE_SUCCEEDED`, or `ALLOW` with the method a sign-in used), for
/// `client_id`.
///
/// # Errors
/// [`SessionError::NotVerified`], [`SessionError::AlreadyUsed`],
/// [`SessionError::InvalidToken`] when the action is gone, or storage
/// errors.
pub fn create_session(
    store: &impl UserStore,
    action_code: &str,
    idempotency_key: &str,
    client_id: &str,
    fresh: Fresh,
    life: Lifetimes,
    now: Millis,
) -> Result<SessionRecord, CoreError> {
    let action = store
        .get_action(action_code, idempotency_key)?
        .ok_or(refuse(SessionError::InvalidToken))?;
    // A challenge passed, or a sign-in with a factor that the rules let
    // through (an ALLOW that records how the user proved themselves); a
    // plain ALLOW of a track proves nothing.
    let proved = action.state == ActionState::ChallengeSucceeded
        || (action.state == ActionState::Allow && action.verification_method.is_some());
    if !proved {
        return Err(refuse(SessionError::NotVerified));
    }
    let expires = now.saturating_add(life.refresh_ms);
    // Kept as long as any session could live: one action, one session.
    let once = format!("session:{action_code}:{idempotency_key}");
    if !store.consume_challenge(&once, expires.saturating_add(life.refresh_ms), now)? {
        return Err(refuse(SessionError::AlreadyUsed));
    }
    let session = SessionRecord {
        id: fresh.session_id,
        client_id: client_id.to_owned(),
        action_code: action_code.to_owned(),
        idempotency_key: idempotency_key.to_owned(),
        verification_method: action.verification_method,
        created_at: now,
        refresh_hash: refresh_hash(&fresh.refresh_secret),
        refresh_expires_at: expires,
        access_id: fresh.access_id,
        revoked_at: None,
    };
    store.put_session(&session, now)?;
    Ok(session)
}

/// Exchange a refresh token's secret for new tokens (`fresh`'s access id
/// and refresh secret; its session id is not used).
///
/// # Errors
/// [`SessionError::InvalidToken`] (unknown session or secret),
/// [`SessionError::Expired`], [`SessionError::Revoked`], and
/// [`SessionError::RefreshReused`] after which the session is revoked.
pub fn refresh_session(
    store: &impl UserStore,
    session_id: &str,
    secret: &str,
    fresh: Fresh,
    life: Lifetimes,
    now: Millis,
) -> Result<SessionRecord, CoreError> {
    let mut s = store
        .get_session(session_id)?
        .ok_or(refuse(SessionError::InvalidToken))?;
    let hash = refresh_hash(secret);
    if !bool::from(hash.as_bytes().ct_eq(s.refresh_hash.as_bytes())) {
        if store.is_consumed(&used_key(&s.id, &hash), now)? {
            if s.revoked_at.is_none() {
                s.revoked_at = Some(now);
                store.put_session(&s, now)?;
            }
            return Err(refuse(SessionError::RefreshReused));
        }
        return Err(refuse(SessionError::InvalidToken));
    }
    if s.revoked_at.is_some() {
        return Err(refuse(SessionError::Revoked));
    }
    if now >= s.refresh_expires_at {
        return Err(refuse(SessionError::Expired));
    }
    // Spent: remembered until it would have expired anyway.
    store.consume_challenge(&used_key(&s.id, &hash), s.refresh_expires_at, now)?;
    s.refresh_hash = refresh_hash(&fresh.refresh_secret);
    s.refresh_expires_at = now.saturating_add(life.refresh_ms);
    s.access_id = fresh.access_id;
    store.put_session(&s, now)?;
    Ok(s)
}

/// The live session an access token (`access_id`) belongs to.
///
/// # Errors
/// [`SessionError::InvalidToken`] (no such session: expired, deleted with
/// the user), [`SessionError::Revoked`] (revoked, or the token was replaced
/// by a refresh).
pub fn check_session(
    store: &impl UserStore,
    session_id: &str,
    access_id: &str,
) -> Result<SessionRecord, CoreError> {
    let s = store
        .get_session(session_id)?
        .ok_or(refuse(SessionError::InvalidToken))?;
    if s.revoked_at.is_some() || !bool::from(s.access_id.as_bytes().ct_eq(access_id.as_bytes())) {
        return Err(refuse(SessionError::Revoked));
    }
    Ok(s)
}

/// Revoke one session; `false` when there is no such session.
///
/// # Errors
/// Storage errors.
pub fn revoke_session(
    store: &impl UserStore,
    session_id: &str,
    now: Millis,
) -> Result<bool, CoreError> {
    let Some(mut s) = store.get_session(session_id)? else {
        return Ok(false);
    };
    if s.revoked_at.is_none() {
        s.revoked_at = Some(now);
        store.put_session(&s, now)?;
    }
    Ok(true)
}

/// Revoke every session of the user; how many were live.
///
/// # Errors
/// Storage errors.
pub fn revoke_user_sessions(store: &impl UserStore, now: Millis) -> Result<usize, CoreError> {
    let mut n = 0;
    for mut s in store.list_sessions()? {
        if s.revoked_at.is_none() {
            s.revoked_at = Some(now);
            store.put_session(&s, now)?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::model::TrackRequest;
    use crate::auth::methods::VerificationMethod;
    use crate::policy::config::{ActionConfiguration, ActionConfigurationInput};
    use crate::redirect::RedirectAllowlist;
    use crate::service::{TrackInput, complete_challenge, track};
    use crate::store::memory::MemoryUserStore;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const NOW: Millis = 1_795_380_179_000;
    const LIFE: Lifetimes = Lifetimes {
        refresh_ms: 3_600_000,
    };

    fn fresh(n: u32) -> Fresh {
        Fresh {
            session_id: format!("s{n}"),
            access_id: format!("a{n}"),
            refresh_secret: format!("secret-{n}"),
        }
    }

    /// A `signIn` action with key `key`, challenged and, if `verify`,
    /// verified by email code.
    fn action(store: &MemoryUserStore, key: &str, verify: bool) {
        let cfg = ActionConfiguration {
            action_code: "signIn".into(),
            input: ActionConfigurationInput::parse(
                br#"{"defaultUserActionResult":"CHALLENGE","verificationMethods":["EMAIL_OTP"]}"#,
            )
            .unwrap(),
            rules: Vec::new(),
            created_at: 0,
            updated_at: 0,
        };
        let list = RedirectAllowlist::parse("https://app.example.com").unwrap();
        track(
            store,
            TrackInput {
                user_id: "alice",
                action_code: "signIn",
                request: TrackRequest {
                    idempotency_key: Some(key.into()),
                    ..TrackRequest::default()
                },
                config: Some(&cfg),
                rules: None,
                edge: None,
                pending: None,
                allowlist: &list,
                origin: None,
                now: NOW,
                fresh_key: "unused".into(),
            },
        )
        .unwrap();
        if verify {
            complete_challenge(store, "signIn", key, VerificationMethod::EmailOtp, NOW).unwrap();
        }
    }

    fn err(r: Result<SessionRecord, CoreError>) -> SessionError {
        match r {
            Err(CoreError::Session(e)) => e,
            other => panic!("expected a session error, got {other:?}"),
        }
    }

    #[test]
    fn only_a_verified_action_makes_a_session_and_only_once() {
        let store = MemoryUserStore::new();
        action(&store, "pending", false);
        let r = create_session(&store, "signIn", "pending", "web", fresh(1), LIFE, NOW);
        assert_eq!(err(r), SessionError::NotVerified);
        let r = create_session(&store, "signIn", "missing", "web", fresh(1), LIFE, NOW);
        assert_eq!(err(r), SessionError::InvalidToken);
        action(&store, "done", true);
        let s = create_session(&store, "signIn", "done", "web", fresh(1), LIFE, NOW).unwrap();
        assert_eq!(s.verification_method, Some(VerificationMethod::EmailOtp));
        assert_eq!(s.client_id, "web");
        assert!(check_session(&store, "s1", "a1").is_ok());
        let again = create_session(&store, "signIn", "done", "web", fresh(2), LIFE, NOW);
        assert_eq!(err(again), SessionError::AlreadyUsed);
        assert!(store.get_session("s2").unwrap().is_none());
    }

    #[test]
    fn a_refresh_rotates_both_tokens_and_reuse_revokes_the_session() {
        let store = MemoryUserStore::new();
        action(&store, "k", true);
        create_session(&store, "signIn", "k", "web", fresh(1), LIFE, NOW).unwrap();
        let s = refresh_session(&store, "s1", "secret-1", fresh(2), LIFE, NOW + 1).unwrap();
        assert_eq!(s.id, "s1", "the session stays");
        assert_eq!(s.access_id, "a2");
        // The old access token no longer validates; the new one does.
        let old = check_session(&store, "s1", "a1").map(|_| ());
        assert_eq!(old, Err(CoreError::Session(SessionError::Revoked)));
        assert!(check_session(&store, "s1", "a2").is_ok());
        // A secret never issued: refused, nothing revoked.
        let r = refresh_session(&store, "s1", "guess", fresh(3), LIFE, NOW + 2);
        assert_eq!(err(r), SessionError::InvalidToken);
        assert!(check_session(&store, "s1", "a2").is_ok());
        // The spent refresh token again: the whole session ends.
        let r = refresh_session(&store, "s1", "secret-1", fresh(3), LIFE, NOW + 3);
        assert_eq!(err(r), SessionError::RefreshReused);
        let live = check_session(&store, "s1", "a2").map(|_| ());
        assert_eq!(live, Err(CoreError::Session(SessionError::Revoked)));
        let r = refresh_session(&store, "s1", "secret-2", fresh(4), LIFE, NOW + 4);
        assert_eq!(err(r), SessionError::Revoked, "the newest token too");
    }

    #[test]
    fn refresh_tokens_expire_and_sessions_are_revoked_one_or_all() {
        let store = MemoryUserStore::new();
        for (n, key) in [(1, "k1"), (2, "k2")] {
            action(&store, key, true);
            create_session(&store, "signIn", key, "web", fresh(n), LIFE, NOW).unwrap();
        }
        let late = NOW + LIFE.refresh_ms;
        let r = refresh_session(&store, "s1", "secret-1", fresh(3), LIFE, late);
        assert_eq!(err(r), SessionError::Expired);
        assert!(revoke_session(&store, "s1", NOW).unwrap());
        assert!(!revoke_session(&store, "nope", NOW).unwrap());
        assert!(check_session(&store, "s1", "a1").is_err());
        assert!(check_session(&store, "s2", "a2").is_ok());
        assert_eq!(revoke_user_sessions(&store, NOW).unwrap(), 1);
        assert!(check_session(&store, "s2", "a2").is_err());
        let r = refresh_session(&store, "s2", "secret-2", fresh(4), LIFE, NOW + 1);
        assert_eq!(err(r), SessionError::Revoked);
    }
}
