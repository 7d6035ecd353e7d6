//! Adding factors: when a client may add one (proof, a passed challenge,
//! a grant), authenticator apps, and pending enrollments.

use super::actions::get_action;
use super::authenticator_log::{self, By};
use crate::actions::model::ActionRecord;
use crate::actions::state::ActionState;
use crate::auth::methods::VerificationMethod;
use crate::error::CoreError;
use crate::store::UserStore;
use crate::time::Millis;
use crate::user::{Authenticator, AuthenticatorView};

/// Whether `method`, a verified method of the user that the action does not
/// allow, may prove the user so they can add what the action needs: the
/// action allows only passkeys or security keys, the user has none of
/// those, and the challenge is pending. The proof completes nothing; it lets
/// the user register a passkey, which must then sign in.
pub fn unlocks_enrollment(
    record: &ActionRecord,
    auths: &[Authenticator],
    method: VerificationMethod,
) -> bool {
    let allowed = &record.allowed_verification_methods;
    let webauthn_only = !allowed.is_empty()
        && allowed.iter().all(|m| {
            matches!(
                m,
                VerificationMethod::Passkey | VerificationMethod::SecurityKey
            )
        });
    record.state == ActionState::ChallengeRequired
        && webauthn_only
        && !allowed.contains(&method)
        && matches!(
            method,
            VerificationMethod::AuthenticatorApp
                | VerificationMethod::EmailOtp
                | VerificationMethod::Sms
        )
        && !auths
            .iter()
            .any(|a| a.verified_at.is_some() && allowed.contains(&a.verification_method))
        && auths
            .iter()
            .any(|a| a.verified_at.is_some() && a.verification_method == method)
}

/// The scope a track grants to add authenticators (Authsignal's name).
pub const ADD_AUTHENTICATORS: &str = "add:authenticators";

/// Whether the action was tracked with `scope` naming
/// [`ADD_AUTHENTICATORS`] (a space-separated list, as Authsignal's).
pub fn grants_adding(record: &ActionRecord) -> bool {
    record
        .request
        .scope
        .as_deref()
        .is_some_and(|s| s.split_whitespace().any(|x| x == ADD_AUTHENTICATORS))
}

/// Whether a client may enroll `method` during this action.
///
/// With no verified authenticator yet (first enrollment) the action must be
/// waiting for its challenge, which the new authenticator's first code or
/// ceremony completes. A user who has one is protected against a stolen
/// session adding its own factor: the client must hold proof, the
/// `accessToken` it was handed when it verified with one of the user's
/// authenticators for this action (`proved`; never a track token, never a
/// magic link), and the addition must be granted: the action was tracked
/// with `scope: "add:authenticators"`, or its configuration prompts to
/// enroll `method` after its challenge, or it is the passkey that a
/// passkey-only action needs once the user proved themselves with another
/// method they have (see [`unlocks_enrollment`]).
///
/// # Errors
/// [`CoreError::InvalidField`] saying what is missing.
pub fn check_may_add(
    record: &ActionRecord,
    auths: &[Authenticator],
    method: VerificationMethod,
    proved: bool,
) -> Result<(), CoreError> {
    if !auths.iter().any(|a| a.verified_at.is_some()) {
        return if record.state == ActionState::ChallengeRequired {
            Ok(())
        } else {
            Err(super::actions::not_waiting())
        };
    }
    let unlocked = record.allowed_verification_methods.contains(&method)
        && record
            .enrollment_unlocked_by
            .is_some_and(|m| unlocks_enrollment(record, auths, m));
    if !unlocked && record.state != ActionState::ChallengeSucceeded {
        return Err(CoreError::field(
            "token",
            "complete the challenge with an enrolled method before adding another",
        ));
    }
    if !proved {
        return Err(CoreError::field(
            "token",
            "adding another authenticator needs the accessToken returned to the client that completed the challenge, not the track token",
        ));
    }
    if unlocked
        || grants_adding(record)
        || record
            .prompt_to_enroll_verification_methods
            .contains(&method)
    {
        Ok(())
    } else {
        Err(CoreError::field(
            "scope",
            format!(
                "adding another authenticator needs an action tracked with scope \"{ADD_AUTHENTICATORS}\""
            ),
        ))
    }
}

/// Record that the user proved themselves with `method` to add a passkey
/// (see [`unlocks_enrollment`]); the challenge stays pending.
pub(crate) fn unlock_enrollment<S: UserStore>(
    store: &S,
    mut record: ActionRecord,
    method: VerificationMethod,
    now: Millis,
) -> Result<ActionRecord, CoreError> {
    record.enrollment_unlocked_by = Some(method);
    record.sent_code = None;
    record.updated_at = now;
    store.update_action(&record)?;
    Ok(record)
}

/// A TOTP enrollment in progress: what the user's app needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnrollment {
    /// The (not yet verified) authenticator.
    pub authenticator_id: String,
    /// The secret, base32.
    pub secret: String,
    /// The `otpauth://` URI.
    pub uri: String,
}

/// Start enrolling an authenticator app during an action's challenge.
///
/// A user with no verified authenticator may enroll while the challenge is
/// pending (the first code proves the app and completes the challenge). A
/// user who has one must complete this action's challenge with it first, so
/// a stolen session cannot add its own factor.
///
/// # Errors
/// [`CoreError::InvalidField`] when the method is not allowed for the action
/// or the user must verify first; [`CoreError::ActionNotFound`]; storage errors.
#[allow(clippy::too_many_arguments)]
pub fn enroll_totp<S: UserStore>(
    store: &S,
    user_id: &str,
    code: &str,
    key: &str,
    id: String,
    random: [u8; 20],
    issuer: &str,
    proved: bool,
    now: Millis,
) -> Result<TotpEnrollment, CoreError> {
    let record = get_action(store, code, key)?;
    if !record
        .allowed_verification_methods
        .contains(&VerificationMethod::AuthenticatorApp)
    {
        return Err(super::actions::not_allowed(
            VerificationMethod::AuthenticatorApp,
        ));
    }
    let auths = store.list_authenticators()?;
    let verified = auths.iter().any(|a| a.verified_at.is_some());
    check_may_add(
        &record,
        &auths,
        VerificationMethod::AuthenticatorApp,
        proved,
    )?;
    // Only one authenticator app per user: a pending enrollment is replaced,
    // a verified one must be removed first.
    for a in &auths {
        if a.verification_method == VerificationMethod::AuthenticatorApp {
            if a.verified_at.is_some() {
                return Err(CoreError::field(
                    "verificationMethod",
                    "an authenticator app is already enrolled",
                ));
            }
            store.delete_authenticator(&a.user_authenticator_id)?;
        }
    }
    let secret = crate::auth::otp::TotpSecret::new(random);
    let user = store.get_user()?.unwrap_or_default();
    let account = user
        .email
        .or(user.username)
        .unwrap_or_else(|| user_id.to_owned());
    let uri = secret.uri(issuer, &account)?;
    let auth = Authenticator {
        user_authenticator_id: id.clone(),
        verification_method: VerificationMethod::AuthenticatorApp,
        created_at: now,
        verified_at: None,
        last_verified_at: None,
        email: None,
        phone_number: None,
        is_default: !verified,
        secret: Some(
            serde_json::to_value(&secret).map_err(|e| CoreError::Internal(e.to_string()))?,
        ),
    };
    store.put_authenticator(&auth)?;
    Ok(TotpEnrollment {
        authenticator_id: id,
        secret: secret.secret,
        uri,
    })
}

/// A pending (unconfirmed) authenticator is confirmed only within the
/// action that started it, under the rules [`check_may_add`] applied then:
/// one started earlier (while the user had no factor, say) cannot be
/// confirmed later, and once the user has another verified authenticator a
/// pending one no longer completes a challenge as a first factor would.
pub(crate) fn check_pending(
    record: &ActionRecord,
    auths: &[Authenticator],
    auth: &Authenticator,
    confirming_only: bool,
) -> Result<(), CoreError> {
    if auth.verified_at.is_some() {
        return Ok(());
    }
    let others = auths
        .iter()
        .any(|a| a.verified_at.is_some() && a.user_authenticator_id != auth.user_authenticator_id);
    if auth.created_at < record.created_at || (others && !confirming_only) {
        return Err(CoreError::field(
            "verificationMethod",
            "this authenticator's enrollment was not started for this request; add it again",
        ));
    }
    Ok(())
}

/// The view of an authenticator whose enrollment a code just confirmed
/// (with its `authenticator.created` event and an entry in the action's
/// audit trail), or `None`.
pub(crate) fn enrolled_event<S: UserStore>(
    store: &S,
    enrolling: bool,
    auth: &Authenticator,
    user_id: &str,
    mut record: ActionRecord,
    now: Millis,
) -> Result<(ActionRecord, Option<Box<AuthenticatorView>>), CoreError> {
    if !enrolling {
        return Ok((record, None));
    }
    record.note_enrollment(auth.verification_method, &auth.user_authenticator_id, now);
    store.update_action(&record)?;
    let by = By::Action {
        action_code: record.action_code.clone(),
        idempotency_key: record.idempotency_key.clone(),
    };
    let view = authenticator_log::added(store, auth, user_id, by, now)?;
    Ok((record, Some(Box::new(view))))
}
