//! Server-side challenges (see [`crate::auth::server_challenge`]): started
//! and checked in the owner's store (the user's, or the address's), claimed
//! into the user's store as a sign-in of the challenge's action.
//!
//! The code is stored and checked as the Client API's codes are
//! ([`SentCode`]: salted SHA-256, ten minutes); sends count against the
//! owner's hourly limit and the challenge's own, and wrong codes against the
//! owner's throttle ([`crate::auth::throttle`]) and the challenge's
//! [`MAX_FAILED_ATTEMPTS`].

use super::codes::{SENDS_SETTING, check_guesses, count_guess};
use super::users::{check_email, check_phone};
use crate::actions::model::{ActionRecord, TrackRequest};
use crate::auth::otp::{
    Channel, MAX_FAILED_ATTEMPTS, MAX_SENDS_PER_ACTION, MAX_SENDS_PER_USER_HOUR,
    RESEND_INTERVAL_MS, SentCode,
};
use crate::auth::server_challenge::{ChallengeState, ServerChallenge};
use crate::error::CoreError;
use crate::store::UserStore;
use crate::time::Millis;
use crate::user::{Authenticator, UserRecord};

/// What the app asked for, checked by the shell (ids) and here (address).
#[derive(Debug, Clone)]
pub struct Start {
    /// A fresh id for a new challenge (see
    /// [`crate::auth::server_challenge::challenge_id`]).
    pub id: String,
    /// The challenge to send a new code for, instead of a new one.
    pub resend: Option<String>,
    /// How the code goes.
    pub channel: Channel,
    /// Where to.
    pub to: String,
    /// The user the app named, if any.
    pub user_id: Option<String>,
    /// The action (default `challenge`).
    pub action_code: String,
    /// Its idempotency key (a fresh one when the app gave none).
    pub idempotency_key: String,
    /// The rest of the app's request.
    pub request: TrackRequest,
    /// The code (six digits) and its salt.
    pub code: String,
    /// Random salt, hex.
    pub salt: String,
}

/// Start a challenge (or send a new code for a pending one) in the owner's
/// store.
///
/// # Errors
/// 400 for a bad address or an unknown or finished challenge to resend;
/// 429 past the send limits; storage errors.
pub fn start<S: UserStore>(store: &S, s: Start, now: Millis) -> Result<ServerChallenge, CoreError> {
    if s.channel.is_email() {
        check_email(&s.to, "email")?;
    } else {
        check_phone(&s.to, "phoneNumber")?;
    }
    let existing = match &s.resend {
        Some(id) => {
            let c = store
                .get_server_challenge(id)?
                .filter(|c| c.state == ChallengeState::Pending && c.channel == s.channel)
                .ok_or_else(|| {
                    CoreError::field("challengeId", "no pending challenge with this id")
                })?;
            if c.codes_sent >= MAX_SENDS_PER_ACTION {
                return Err(CoreError::TooManyRequests(format!(
                    "{MAX_SENDS_PER_ACTION} codes were already sent for this challenge; start a new one"
                )));
            }
            let wait = c
                .sent
                .expires_at
                .saturating_sub(crate::auth::otp::EMAIL_CODE_TTL_MS)
                .saturating_add(RESEND_INTERVAL_MS)
                .saturating_sub(now);
            if wait > 0 {
                return Err(CoreError::CodeRecentlySent(format!(
                    "a code was just sent; wait {} seconds before asking for another",
                    (wait + 999) / 1000
                )));
            }
            Some(c)
        }
        None => None,
    };
    let mut recent = recent_sends(store, now)?;
    if recent.len() >= MAX_SENDS_PER_USER_HOUR {
        let oldest = recent.iter().copied().min().unwrap_or(now);
        let secs = u64::try_from(
            oldest
                .saturating_add(HOUR)
                .saturating_sub(now)
                .max(1000)
                .saturating_add(999)
                / 1000,
        )
        .unwrap_or(1);
        return Err(CoreError::Throttled {
            message: format!(
                "{MAX_SENDS_PER_USER_HOUR} codes were sent here in the last hour. Try again in {}.",
                crate::present::wait_text(secs)
            ),
            retry_after: secs,
        });
    }
    let sent = SentCode::new(s.channel, &s.to, "", &s.code, &s.salt, now);
    let c = match existing {
        Some(mut c) => {
            let same = if s.channel.is_email() {
                c.to.trim().eq_ignore_ascii_case(s.to.trim())
            } else {
                c.to.trim() == s.to.trim()
            };
            if !same {
                return Err(CoreError::field(
                    "challengeId",
                    "a new code goes to the challenge's own address; start a new challenge for another",
                ));
            }
            c.sent = sent;
            c.codes_sent = c.codes_sent.saturating_add(1);
            c
        }
        None => ServerChallenge {
            id: s.id,
            channel: s.channel,
            to: s.to,
            user_id: s.user_id,
            action_code: s.action_code,
            idempotency_key: s.idempotency_key,
            request: s.request,
            sent,
            codes_sent: 1,
            failed_attempts: 0,
            state: ChallengeState::Pending,
            verified_at: None,
            claimed_by: None,
            created_at: now,
        },
    };
    store.put_server_challenge(&c, now)?;
    recent.push(now);
    store.put_setting(
        SENDS_SETTING,
        &serde_json::to_string(&recent).map_err(|e| CoreError::Internal(e.to_string()))?,
    )?;
    Ok(c)
}

const HOUR: Millis = 3_600_000;

fn recent_sends<S: UserStore>(store: &S, now: Millis) -> Result<Vec<Millis>, CoreError> {
    Ok(store
        .get_setting(SENDS_SETTING)?
        .and_then(|s| crate::encoding::from_json::<Vec<Millis>>(&s).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| *t > now.saturating_sub(HOUR) && *t <= now)
        .collect())
}

/// The answer to a code.
#[derive(Debug, Clone, PartialEq)]
pub enum Verification {
    /// Right: the challenge is verified.
    Verified(Box<ServerChallenge>),
    /// Wrong, expired, or the challenge is not waiting for a code.
    Wrong(Box<ServerChallenge>),
    /// Wrong, and no more codes are checked.
    Failed(Box<ServerChallenge>),
}

/// Check a code for a challenge in the owner's store.
///
/// # Errors
/// 404 for an unknown challenge; 429 while the owner's wrong codes impose
/// a wait; storage errors.
pub fn verify<S: UserStore>(
    store: &S,
    id: &str,
    entered: &str,
    now: Millis,
) -> Result<Verification, CoreError> {
    let mut c = store.get_server_challenge(id)?.ok_or_else(not_found)?;
    match c.state {
        ChallengeState::Failed => return Ok(Verification::Failed(Box::new(c))),
        ChallengeState::Verified | ChallengeState::Claimed => {
            // A code works once.
            return Ok(Verification::Wrong(Box::new(c)));
        }
        ChallengeState::Pending => {}
    }
    let guesses = check_guesses(store, now)?;
    if c.sent.matches(entered, now) {
        // The owner's wrong codes are not cleared: a code sent to an address
        // of the caller's choosing proves nothing about the user's factors
        // (a right one would otherwise reset the count guessing them).
        c.state = ChallengeState::Verified;
        c.verified_at = Some(now);
        store.put_server_challenge(&c, now)?;
        return Ok(Verification::Verified(Box::new(c)));
    }
    count_guess(store, guesses, now)?;
    c.failed_attempts = c.failed_attempts.saturating_add(1);
    let failed = c.failed_attempts > MAX_FAILED_ATTEMPTS;
    if failed {
        c.state = ChallengeState::Failed;
    }
    store.put_server_challenge(&c, now)?;
    Ok(if failed {
        Verification::Failed(Box::new(c))
    } else {
        Verification::Wrong(Box::new(c))
    })
}

fn not_found() -> CoreError {
    CoreError::NotFound("No challenge with this id (it may have expired).".into())
}

/// Claim a verified challenge for `user_id`, once, in the owner's store.
///
/// # Errors
/// 404 unknown or expired; 403 not verified, already claimed, or started
/// for another user.
pub fn claim<S: UserStore>(
    store: &S,
    id: &str,
    user_id: &str,
    now: Millis,
) -> Result<ServerChallenge, CoreError> {
    let mut c = store
        .get_server_challenge(id)?
        .filter(|c| c.keep_until() >= now)
        .ok_or_else(not_found)?;
    let refuse = |m: &str| CoreError::Refused {
        code: "challenge_not_claimable",
        message: m.to_owned(),
    };
    match c.state {
        ChallengeState::Verified => {}
        ChallengeState::Claimed => return Err(refuse("The challenge was already claimed.")),
        _ => return Err(refuse("The challenge has not been verified.")),
    }
    if c.user_id.as_deref().is_some_and(|u| u != user_id) {
        return Err(refuse("The challenge was started for another user."));
    }
    c.state = ChallengeState::Claimed;
    c.claimed_by = Some(user_id.to_owned());
    store.put_server_challenge(&c, now)?;
    Ok(c)
}

/// Whether `c`'s address is the user's: an enrolled authenticator of its
/// method with that address, or the profile's verified one (compared
/// without case for email).
fn address_is_theirs(
    c: &ServerChallenge,
    auths: &[Authenticator],
    user: Option<&UserRecord>,
) -> bool {
    let same = |a: Option<&str>| {
        a.is_some_and(|a| {
            if c.channel.is_email() {
                a.trim().eq_ignore_ascii_case(c.to.trim())
            } else {
                a.trim() == c.to.trim()
            }
        })
    };
    let method = c.channel.method();
    auths.iter().any(|a| {
        a.verified_at.is_some()
            && a.verification_method == method
            && same(if c.channel.is_email() {
                a.email.as_deref()
            } else {
                a.phone_number.as_deref()
            })
    }) || user.is_some_and(|u| {
        // The profile's address only once proven: an app may store what a
        // person typed, unverified.
        if c.channel.is_email() {
            u.email_verified && same(u.email.as_deref())
        } else {
            u.phone_number_verified && same(u.phone_number.as_deref())
        }
    })
}

/// In the claiming user's store: the claimed challenge as a sign-in of its
/// action (decided as a track, with its method as the completed challenge,
/// see [`super::sign_in`]), and whether the address became the user's
/// first factor. Only a user with no factor gets one this way; for a user
/// who has one the address must already be theirs (a factor, or the
/// profile's verified address): adding a factor to such a user needs proof
/// from one they have, which only the Client API takes.
///
/// # Errors
/// 403 when the address is not the user's; the errors of
/// [`super::sign_in`].
pub fn sign_in_with<S: UserStore>(
    store: &S,
    input: super::TrackInput<'_>,
    c: &ServerChallenge,
    new_authenticator_id: String,
) -> Result<(ActionRecord, bool), CoreError> {
    let now = input.now;
    let input_user = input.user_id.to_owned();
    let auths = store.list_authenticators()?;
    let has_factor = auths.iter().any(|a| a.verified_at.is_some());
    let theirs = address_is_theirs(c, &auths, store.get_user()?.as_ref());
    if has_factor && !theirs {
        return Err(CoreError::Refused {
            code: "challenge_not_claimable",
            message: "The verified address is not one of this user's.".into(),
        });
    }
    let method = c.channel.method();
    let record = super::sign_in(store, input, method)?;
    if !has_factor {
        let request = crate::user::EnrollAuthenticatorRequest {
            verification_method: method,
            email: c.channel.is_email().then(|| c.to.clone()),
            phone_number: (!c.channel.is_email()).then(|| c.to.clone()),
            is_default: None,
        };
        let user_id = input_user.as_str();
        super::enroll_authenticator(store, user_id, request, new_authenticator_id, now)?;
    }
    Ok((record, !has_factor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::methods::VerificationMethod;
    use crate::auth::server_challenge::CLAIM_WINDOW_MS;
    use crate::redirect::RedirectAllowlist;
    use crate::service::TrackInput;
    use crate::store::memory::MemoryUserStore;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const NOW: Millis = 1_795_380_179_000;

    fn start_at(
        store: &MemoryUserStore,
        id: &str,
        to: &str,
        user: Option<&str>,
        now: Millis,
    ) -> ServerChallenge {
        start(
            store,
            Start {
                id: id.into(),
                resend: None,
                channel: Channel::Email,
                to: to.into(),
                user_id: user.map(str::to_owned),
                action_code: "signIn".into(),
                idempotency_key: format!("k-{id}"),
                request: TrackRequest::default(),
                code: "123456".into(),
                salt: "00".into(),
            },
            now,
        )
        .unwrap()
    }

    #[test]
    fn a_code_verifies_once_and_wrong_codes_fail_the_challenge() {
        let store = MemoryUserStore::new();
        start_at(&store, "c1", "a@example.com", None, NOW);
        for n in 1..=MAX_FAILED_ATTEMPTS {
            let v = verify(&store, "c1", "000000", NOW).unwrap();
            assert!(matches!(v, Verification::Wrong(c) if c.failed_attempts == n));
        }
        assert!(matches!(
            verify(&store, "c1", "000000", NOW).unwrap(),
            Verification::Failed(_)
        ));
        assert!(
            matches!(
                verify(&store, "c1", "123456", NOW).unwrap(),
                Verification::Failed(_)
            ),
            "the right code after the limit changes nothing"
        );
        start_at(&store, "c2", "a@example.com", None, NOW);
        assert!(matches!(
            verify(&store, "c2", "123456", NOW).unwrap(),
            Verification::Verified(_)
        ));
        assert!(matches!(
            verify(&store, "c2", "123456", NOW).unwrap(),
            Verification::Wrong(_)
        ));
        // Expired codes are wrong.
        start_at(&store, "c3", "a@example.com", None, NOW);
        let late = NOW + crate::auth::otp::EMAIL_CODE_TTL_MS;
        assert!(matches!(
            verify(&store, "c3", "123456", late).unwrap(),
            Verification::Wrong(_)
        ));
        assert!(matches!(
            verify(&store, "nope", "123456", NOW),
            Err(CoreError::NotFound(_))
        ));
    }

    #[test]
    fn wrong_codes_across_challenges_throttle_the_owner_and_sends_are_limited() {
        let store = MemoryUserStore::new();
        for i in 0..MAX_SENDS_PER_USER_HOUR {
            start_at(&store, &format!("c{i}"), "a@example.com", None, NOW);
        }
        let r = start(
            &store,
            Start {
                id: "more".into(),
                resend: None,
                channel: Channel::Email,
                to: "a@example.com".into(),
                user_id: None,
                action_code: "signIn".into(),
                idempotency_key: "k".into(),
                request: TrackRequest::default(),
                code: "1".into(),
                salt: "0".into(),
            },
            NOW,
        );
        assert!(matches!(r, Err(CoreError::Throttled { .. })));
        // Ten wrong codes spread over challenges start a wait for all.
        for i in 0..2 {
            for _ in 0..5 {
                verify(&store, &format!("c{i}"), "000000", NOW).unwrap();
            }
        }
        let r = verify(&store, "c5", "123456", NOW);
        assert!(matches!(r, Err(CoreError::Throttled { .. })), "{r:?}");
    }

    #[test]
    fn claims_need_a_verified_challenge_once_and_for_its_user() {
        let store = MemoryUserStore::new();
        start_at(&store, "c1", "a@example.com", Some("alice"), NOW);
        assert!(matches!(
            claim(&store, "c1", "alice", NOW),
            Err(CoreError::Refused { .. })
        ));
        verify(&store, "c1", "123456", NOW).unwrap();
        assert!(matches!(
            claim(&store, "c1", "bob", NOW),
            Err(CoreError::Refused { .. })
        ));
        let c = claim(&store, "c1", "alice", NOW).unwrap();
        assert_eq!(c.claimed_by.as_deref(), Some("alice"));
        assert!(matches!(
            claim(&store, "c1", "alice", NOW),
            Err(CoreError::Refused { .. })
        ));
        // A verified challenge waits only so long for its claim.
        start_at(&store, "c2", "a@example.com", None, NOW);
        verify(&store, "c2", "123456", NOW).unwrap();
        let late = NOW + CLAIM_WINDOW_MS + crate::auth::otp::EMAIL_CODE_TTL_MS;
        assert!(matches!(
            claim(&store, "c2", "alice", late),
            Err(CoreError::NotFound(_))
        ));
    }

    fn claimed(to: &str, user: Option<&str>, scope: Option<&str>) -> ServerChallenge {
        let owner = MemoryUserStore::new();
        let mut c = start_at(&owner, "c", to, user, NOW);
        c.request.scope = scope.map(str::to_owned);
        owner.put_server_challenge(&c, NOW).unwrap();
        verify(&owner, "c", "123456", NOW).unwrap();
        claim(&owner, "c", "alice", NOW).unwrap()
    }

    fn sign_in(
        store: &MemoryUserStore,
        c: &ServerChallenge,
    ) -> Result<(ActionRecord, bool), CoreError> {
        let list = RedirectAllowlist::parse("https://app.example.com").unwrap();
        let mut request = c.request.clone();
        request.idempotency_key = Some(c.idempotency_key.clone());
        let input = TrackInput::new("alice", "signIn", request, (None, None), &list, NOW);
        sign_in_with(
            store,
            input,
            c,
            format!("auth-{}", store.list_authenticators()?.len()),
        )
    }

    #[test]
    fn a_claim_signs_in_and_adds_a_factor_only_to_a_new_user() {
        // A new user: the verified address becomes their first factor.
        let store = MemoryUserStore::new();
        let (r, first) = sign_in(&store, &claimed("a@example.com", None, None)).unwrap();
        assert!(first);
        assert_eq!(r.verification_method, Some(VerificationMethod::EmailOtp));
        let auths = store.list_authenticators().unwrap();
        assert_eq!(auths.len(), 1);
        assert_eq!(auths[0].email.as_deref(), Some("a@example.com"));
        // The same address again (any case): a sign-in, nothing added.
        let (_, first) = sign_in(&store, &claimed("A@example.com", None, None)).unwrap();
        assert!(!first);
        assert_eq!(store.list_authenticators().unwrap().len(), 1);
        // Someone else's address for a user with a factor: refused, even
        // started for this user with the scope that lets clients add factors
        // (adding needs proof from a factor the user has).
        for c in [
            claimed("mallory@example.com", None, None),
            claimed(
                "mallory@example.com",
                Some("alice"),
                Some("add:authenticators"),
            ),
        ] {
            assert!(matches!(
                sign_in(&store, &c),
                Err(CoreError::Refused { .. })
            ));
        }
        assert_eq!(store.list_authenticators().unwrap().len(), 1);
        // The profile's address counts only once it is verified.
        let mut user = store.get_user().unwrap().unwrap_or_default();
        user.email = Some("typed@example.com".into());
        user.email_verified = false;
        store.put_user(&user).unwrap();
        let typed = claimed("typed@example.com", None, None);
        assert!(matches!(
            sign_in(&store, &typed),
            Err(CoreError::Refused { .. })
        ));
    }

    #[test]
    fn a_right_server_challenge_code_does_not_clear_the_users_wrong_codes() {
        let store = MemoryUserStore::new();
        start_at(&store, "guessed", "a@example.com", Some("alice"), NOW);
        for _ in 0..5 {
            verify(&store, "guessed", "000000", NOW).unwrap();
        }
        start_at(&store, "mine", "mallory@example.com", Some("alice"), NOW);
        assert!(matches!(
            verify(&store, "mine", "123456", NOW).unwrap(),
            Verification::Verified(_)
        ));
        start_at(&store, "again", "a@example.com", Some("alice"), NOW);
        for _ in 0..5 {
            verify(&store, "again", "000000", NOW).unwrap();
        }
        let r = verify(&store, "again", "123456", NOW);
        assert!(
            matches!(r, Err(CoreError::Throttled { .. })),
            "ten wrong codes in a row start the wait, whatever was right in between: {r:?}"
        );
    }
}
