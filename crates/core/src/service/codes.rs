//! Codes: sent (with their limits), checked (TOTP, email, SMS), the
//! per-user wrong-code throttle, magic links.

use super::actions::{complete_challenge, get_action, method_name, not_allowed, save_state_change};
use super::enroll::{
    check_may_add, check_pending, enrolled_event, unlock_enrollment, unlocks_enrollment,
};
use super::users::{check_email, check_phone};
use crate::actions::model::{ActionRecord, Cause};
use crate::actions::state::ActionState;
use crate::auth::methods::VerificationMethod;
use crate::auth::otp::Channel;
use crate::auth::throttle::{Guesses, Refusal};
use crate::error::CoreError;
use crate::store::UserStore;
use crate::time::Millis;
use crate::user::{Authenticator, AuthenticatorView, UserRecord};

/// The result of checking a code.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeCheck {
    /// Right: the challenge is complete (or the enrollment confirmed).
    Verified {
        /// The action after the challenge.
        record: Box<ActionRecord>,
        /// The authenticator used, when this code confirmed its enrollment.
        enrolled: Option<Box<AuthenticatorView>>,
    },
    /// Wrong; this many more wrong codes are tolerated.
    Wrong {
        /// Wrong codes left before the challenge fails.
        remaining: u32,
    },
    /// Wrong, and the challenge has now failed (or had already).
    Failed,
}

/// Check an authenticator-app code for an action's challenge.
///
/// # Errors
/// [`CoreError::InvalidField`] when the user has no authenticator app or the
/// action is not waiting for a challenge; storage errors.
pub fn verify_totp<S: UserStore>(
    store: &S,
    user_id: &str,
    code: &str,
    key: &str,
    entered: &str,
    now: Millis,
) -> Result<CodeCheck, CoreError> {
    let record = get_action(store, code, key)?;
    let auths = store.list_authenticators()?;
    let Some(mut auth) = auths
        .iter()
        .find(|a| a.verification_method == VerificationMethod::AuthenticatorApp)
        .cloned()
    else {
        return Err(CoreError::field(
            "verificationMethod",
            "no authenticator app is enrolled",
        ));
    };
    let enrolling = auth.verified_at.is_none();
    // Confirming a new app after the challenge was passed with another method.
    let confirming_only = enrolling && record.state == ActionState::ChallengeSucceeded;
    check_pending(&record, &auths, &auth, confirming_only)?;
    // Proving an existing app to add the passkey a passkey-only action needs.
    let unlocking = unlocks_enrollment(&record, &auths, VerificationMethod::AuthenticatorApp);
    if record.state == ActionState::ChallengeFailed {
        return Ok(CodeCheck::Failed);
    }
    if !confirming_only
        && !unlocking
        && !record
            .allowed_verification_methods
            .contains(&VerificationMethod::AuthenticatorApp)
    {
        return Err(super::actions::not_allowed(
            VerificationMethod::AuthenticatorApp,
        ));
    }
    if record.state != ActionState::ChallengeRequired && !confirming_only {
        return Err(super::actions::not_waiting());
    }
    let mut secret: crate::auth::otp::TotpSecret = auth
        .secret
        .as_ref()
        .and_then(|v| crate::encoding::from_value(v).ok())
        .ok_or_else(|| CoreError::Internal("authenticator app without a secret".into()))?;
    let now_secs = u64::try_from(now / 1000).unwrap_or(0);
    let guesses = check_guesses(store, now)?;
    match secret.matching_step(entered, now_secs)? {
        Some(step) => {
            clear_guesses(store, &guesses)?;
            secret.last_step = Some(step);
            auth.secret = Some(
                serde_json::to_value(&secret).map_err(|e| CoreError::Internal(e.to_string()))?,
            );
            auth.verified_at.get_or_insert(now);
            auth.last_verified_at = Some(now);
            store.put_authenticator(&auth)?;
            let record = if confirming_only {
                record
            } else if unlocking {
                unlock_enrollment(store, record, VerificationMethod::AuthenticatorApp, now)?
            } else {
                complete_challenge(store, code, key, VerificationMethod::AuthenticatorApp, now)?
            };
            let (record, enrolled) = enrolled_event(store, enrolling, &auth, user_id, record, now)?;
            Ok(CodeCheck::Verified {
                record: Box::new(record),
                enrolled,
            })
        }
        None => {
            count_guess(store, guesses, now)?;
            count_wrong_code(store, record, confirming_only, now)
        }
    }
}

/// A code to deliver by email or SMS.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeToSend {
    /// The channel.
    pub channel: Channel,
    /// Recipient (email address or E.164 number).
    pub to: String,
    /// The code.
    pub code: String,
    /// The authenticator it is for.
    pub authenticator_id: String,
    /// The action.
    pub record: ActionRecord,
}

/// Issue a code for an action's challenge on `channel`: to `enroll_to` (a
/// user enrolling this method; the same rules as enrolling an authenticator
/// app), or to the user's enrolled address. A new code replaces an
/// outstanding one.
///
/// # Errors
/// [`CoreError::InvalidField`] when the method is not allowed, the address is
/// bad, the user must verify first, or nothing is enrolled; storage errors.
#[allow(clippy::too_many_arguments)]
pub fn issue_code<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    channel: Channel,
    enroll_to: Option<&str>,
    new_id: String,
    digits: String,
    salt: String,
    proved: bool,
    now: Millis,
) -> Result<CodeToSend, CoreError> {
    let method = channel.method();
    let mut record = get_action(store, code, key)?;
    let auths = store.list_authenticators()?;
    let usable = record.allowed_verification_methods.contains(&method)
        || (enroll_to.is_none() && unlocks_enrollment(&record, &auths, method));
    if !usable {
        return Err(not_allowed(method));
    }
    let mut recent_sends = check_send_limits(store, &record, channel, enroll_to, now)?;
    let verified_any = auths.iter().any(|a| a.verified_at.is_some());
    let (to, authenticator_id) = match enroll_to {
        Some(to) => {
            if channel.is_email() {
                check_email(to, "email")?;
            } else {
                check_phone(to, "phoneNumber")?;
            }
            check_may_add(&record, &auths, method, proved)?;
            if auths
                .iter()
                .any(|a| a.verification_method == method && a.verified_at.is_some())
            {
                return Err(CoreError::field(
                    "verificationMethod",
                    format!("{} is already enrolled", method_name(method)),
                ));
            }
            for a in auths.iter().filter(|a| a.verification_method == method) {
                store.delete_authenticator(&a.user_authenticator_id)?;
            }
            store.put_authenticator(&Authenticator {
                user_authenticator_id: new_id.clone(),
                verification_method: method,
                created_at: now,
                verified_at: None,
                last_verified_at: None,
                email: channel.is_email().then(|| to.to_owned()),
                phone_number: (!channel.is_email()).then(|| to.to_owned()),
                is_default: !verified_any,
                secret: None,
            })?;
            (to.to_owned(), new_id)
        }
        None => {
            if record.state != ActionState::ChallengeRequired {
                return Err(super::actions::not_waiting());
            }
            let a = auths
                .iter()
                .find(|a| a.verification_method == method && a.verified_at.is_some())
                .ok_or_else(|| {
                    CoreError::field(
                        "verificationMethod",
                        format!("{} is not enrolled", method_name(method)),
                    )
                })?;
            let to = if channel.is_email() {
                a.email.clone()
            } else {
                a.phone_number.clone()
            };
            (to.unwrap_or_default(), a.user_authenticator_id.clone())
        }
    };
    record.sent_code = Some(crate::auth::otp::SentCode::new(
        channel,
        &to,
        &authenticator_id,
        &digits,
        &salt,
        now,
    ));
    record.codes_sent = record.codes_sent.saturating_add(1);
    record.last_code_sent_at = Some(now);
    record.updated_at = now;
    store.update_action(&record)?;
    recent_sends.push(now);
    store.put_setting(
        SENDS_SETTING,
        &serde_json::to_string(&recent_sends)
            .map_err(|e| CoreError::Internal(format!("encoding sends: {e}")))?,
    )?;
    Ok(CodeToSend {
        channel,
        to,
        code: digits,
        authenticator_id,
        record,
    })
}

/// Per-user setting holding the times of the last hour's sends.
pub(super) const SENDS_SETTING: &str = "code-sends";

/// Refuse a send past [`crate::auth::otp::MAX_SENDS_PER_ACTION`] for one action,
/// sooner than [`crate::auth::otp::RESEND_INTERVAL_MS`] after the last on the
/// same channel to the same place (a person who mistyped the address they
/// are enrolling may correct it at once: `enroll_to` is the new one), or past [`crate::auth::otp::MAX_SENDS_PER_USER_HOUR`] for the
/// user across actions: a token, or a stream of tracks, must not turn the
/// worker into a mail or text cannon. Returns the user's recent sends.
pub(crate) fn check_send_limits<S: UserStore>(
    store: &S,
    record: &ActionRecord,
    channel: Channel,
    enroll_to: Option<&str>,
    now: Millis,
) -> Result<Vec<Millis>, CoreError> {
    use crate::auth::otp::{MAX_SENDS_PER_ACTION, MAX_SENDS_PER_USER_HOUR, RESEND_INTERVAL_MS};
    if record.codes_sent >= MAX_SENDS_PER_ACTION {
        return Err(CoreError::TooManyRequests(format!(
            "{MAX_SENDS_PER_ACTION} codes were already sent for this request; start again from the app"
        )));
    }
    if let Some(last) = record.last_code_sent_at
        && record.sent_code.as_ref().is_some_and(|c| {
            c.channel == channel
                && enroll_to.is_none_or(|to| to.trim().eq_ignore_ascii_case(c.to.trim()))
        })
    {
        let wait = last.saturating_add(RESEND_INTERVAL_MS).saturating_sub(now);
        if wait > 0 {
            return Err(CoreError::CodeRecentlySent(format!(
                "a code was just sent; wait {} seconds before asking for another",
                (wait + 999) / 1000
            )));
        }
    }
    const HOUR: Millis = 3_600_000;
    let recent: Vec<Millis> = store
        .get_setting(SENDS_SETTING)?
        .and_then(|s| crate::encoding::from_json::<Vec<Millis>>(&s).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| *t > now.saturating_sub(HOUR) && *t <= now)
        .collect();
    if recent.len() >= MAX_SENDS_PER_USER_HOUR {
        let oldest = recent.iter().copied().min().unwrap_or(now);
        let wait = oldest.saturating_add(HOUR).saturating_sub(now).max(1000);
        let secs = u64::try_from(wait.saturating_add(999) / 1000).unwrap_or(1);
        return Err(CoreError::Throttled {
            message: format!(
                "{MAX_SENDS_PER_USER_HOUR} codes were sent to this user in the last hour. Try again in {}.",
                crate::present::wait_text(secs)
            ),
            retry_after: secs,
        });
    }
    Ok(recent)
}

/// Check a code sent on `channel` for an action's challenge. A right code
/// completes the challenge (and confirms a pending enrollment, marking the
/// address verified) and cannot be used again; wrong codes count as for the
/// authenticator app.
///
/// # Errors
/// [`CoreError::InvalidField`] when no code was sent on this channel or the
/// action is not waiting for a challenge; storage errors.
pub fn verify_code<S: UserStore>(
    store: &S,
    user_id: &str,
    code: &str,
    key: &str,
    channel: Channel,
    entered: &str,
    now: Millis,
) -> Result<CodeCheck, CoreError> {
    let mut record = get_action(store, code, key)?;
    if record.state == ActionState::ChallengeFailed {
        return Ok(CodeCheck::Failed);
    }
    let Some(sent) = record.sent_code.clone().filter(|c| c.channel == channel) else {
        return Err(CoreError::field(
            "verificationCode",
            "no code was sent for this challenge",
        ));
    };
    let mut auth = store
        .list_authenticators()?
        .into_iter()
        .find(|a| a.user_authenticator_id == sent.authenticator_id)
        .ok_or_else(|| CoreError::field("verificationMethod", "the authenticator was removed"))?;
    let enrolling = auth.verified_at.is_none();
    let confirming_only = enrolling && record.state == ActionState::ChallengeSucceeded;
    check_pending(
        &record,
        &store.list_authenticators()?,
        &auth,
        confirming_only,
    )?;
    if record.state != ActionState::ChallengeRequired && !confirming_only {
        return Err(super::actions::not_waiting());
    }
    let unlocking = !enrolling
        && !record
            .allowed_verification_methods
            .contains(&channel.method())
        && unlocks_enrollment(&record, &store.list_authenticators()?, channel.method());
    let guesses = check_guesses(store, now)?;
    if sent.matches(entered, now) {
        clear_guesses(store, &guesses)?;
        record.sent_code = None;
        record.updated_at = now;
        store.update_action(&record)?;
        auth.verified_at.get_or_insert(now);
        auth.last_verified_at = Some(now);
        store.put_authenticator(&auth)?;
        // The address was proven: the profile can say so.
        let before = store.get_user()?;
        let mut user = before.clone().unwrap_or(UserRecord {
            created_at: now,
            ..UserRecord::default()
        });
        let (slot, verified) = if channel.is_email() {
            (&mut user.email, &mut user.email_verified)
        } else {
            (&mut user.phone_number, &mut user.phone_number_verified)
        };
        if slot.is_none() || slot.as_deref() == Some(sent.to.as_str()) {
            *slot = Some(sent.to.clone());
            *verified = true;
            user.updated_at = now;
            super::users::save_user(store, before.as_ref(), &user)?;
        }
        let record = if confirming_only {
            record
        } else if unlocking {
            unlock_enrollment(store, record, channel.method(), now)?
        } else {
            complete_challenge(store, code, key, channel.method(), now)?
        };
        let (record, enrolled) = enrolled_event(store, enrolling, &auth, user_id, record, now)?;
        return Ok(CodeCheck::Verified {
            record: Box::new(record),
            enrolled,
        });
    }
    count_guess(store, guesses, now)?;
    count_wrong_code(store, record, confirming_only, now)
}

/// The user's wrong codes across challenges (see [`crate::auth::throttle`]).
pub(super) const GUESSES_SETTING: &str = "wrong-codes";

/// The user's wrong codes. A stored value that does not parse refuses
/// verification rather than forget the count.
pub(crate) fn guesses<S: UserStore>(store: &S) -> Result<Guesses, CoreError> {
    match store.get_setting(GUESSES_SETTING)? {
        None => Ok(Guesses::default()),
        Some(s) => crate::encoding::from_json(&s)
            .map_err(|e| CoreError::Internal(format!("wrong-code count unreadable: {e}"))),
    }
}

/// Refuse a verification, before its code is looked at, while the user's
/// wrong codes impose a wait or a lock.
pub(crate) fn check_guesses<S: UserStore>(store: &S, now: Millis) -> Result<Guesses, CoreError> {
    let g = guesses(store)?;
    match g.check(now) {
        Ok(()) => Ok(g),
        Err(Refusal::Wait(secs)) => Err(CoreError::Throttled {
            message: format!(
                "Too many wrong codes for this user. Try again in {}.",
                crate::present::wait_text(secs)
            ),
            retry_after: secs,
        }),
        Err(Refusal::Locked) => Err(CoreError::Throttled {
            message: format!(
                "Too many wrong codes for this user: verification is locked until the app lifts the lock (after {} wrong codes).",
                crate::auth::throttle::LOCK_AFTER
            ),
            retry_after: 86_400,
        }),
    }
}

/// Count a wrong code against the user.
pub(crate) fn count_guess<S: UserStore>(
    store: &S,
    mut g: Guesses,
    now: Millis,
) -> Result<(), CoreError> {
    g.failed(now);
    put_guesses(store, &g)
}

/// A right code clears the user's wrong codes.
pub(crate) fn clear_guesses<S: UserStore>(store: &S, g: &Guesses) -> Result<(), CoreError> {
    if g.is_clear() {
        Ok(())
    } else {
        put_guesses(store, &Guesses::default())
    }
}

pub(crate) fn put_guesses<S: UserStore>(store: &S, g: &Guesses) -> Result<(), CoreError> {
    let text = serde_json::to_string(g).map_err(|e| CoreError::Internal(e.to_string()))?;
    store.put_setting(GUESSES_SETTING, &text)
}

/// Lift the user's verification lock and clear their wrong codes (the
/// server API's `DELETE /v1/users/{userId}/lockout`). Returns the counts
/// as they were.
///
/// # Errors
/// Storage errors.
pub fn lift_lockout<S: UserStore>(store: &S) -> Result<Guesses, CoreError> {
    let before = guesses(store).unwrap_or_default();
    put_guesses(store, &Guesses::default())?;
    Ok(before)
}

/// A wrong code: count it against the challenge; past
/// [`crate::auth::otp::MAX_FAILED_ATTEMPTS`] the challenge fails (see the diagram in
/// [`crate::auth::otp`]). Confirming a new authenticator after the challenge was
/// passed counts nothing against the action.
pub(crate) fn count_wrong_code<S: UserStore>(
    store: &S,
    mut record: ActionRecord,
    confirming_only: bool,
    now: Millis,
) -> Result<CodeCheck, CoreError> {
    record.failed_attempts = record.failed_attempts.saturating_add(1);
    record.updated_at = now;
    if record.failed_attempts > crate::auth::otp::MAX_FAILED_ATTEMPTS && !confirming_only {
        record.move_to(ActionState::ChallengeFailed, Cause::TooManyAttempts, now)?;
        record.sent_code = None;
        save_state_change(store, &record)?;
        return Ok(CodeCheck::Failed);
    }
    store.update_action(&record)?;
    Ok(CodeCheck::Wrong {
        remaining: crate::auth::otp::MAX_FAILED_ATTEMPTS.saturating_sub(record.failed_attempts),
    })
}

/// Whether the action's challenge was completed by a magic link (what the
/// page that sent the link polls for).
///
/// # Errors
/// [`CoreError::ActionNotFound`] or storage errors.
pub fn magic_link_status<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
) -> Result<Option<ActionRecord>, CoreError> {
    let r = get_action(store, code, key)?;
    Ok(
        (r.verification_method == Some(VerificationMethod::EmailMagicLink)
            && matches!(
                r.state,
                ActionState::ChallengeSucceeded | ActionState::ReviewRequired
            ))
        .then_some(r),
    )
}
