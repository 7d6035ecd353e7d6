//! Passkeys and security keys for one user: registering one, signing in
//! with one (for an action's challenge, or by itself), and the prompt to
//! add one after a challenge passed with another method.
//!
//! Who may register follows the rule of the other methods: a user with no
//! verified authenticator registers while the action's challenge is pending
//! (the registration completes it), a user who has one must first pass the
//! challenge, so a stolen session cannot add its own passkey.
//!
//! A user's credentials carry the user id as WebAuthn `user.id`, so a
//! passkey chosen in the browser (no user named beforehand) says whose it
//! is; the credential must then be one this user registered.

use serde_json::Value;

use crate::actions::model::ActionRecord;
use crate::actions::state::ActionState;
use crate::auth::methods::VerificationMethod;
use crate::auth::webauthn::{
    AuthenticationResponse, CEREMONY_TTL_SECS, Ceremony, Expected, Purpose, RegistrationResponse,
    RelyingParty, StoredCredential, UserEntity, UserVerification, WebAuthnError,
};
use crate::error::CoreError;
use crate::service::actions::{complete_challenge, get_action};
use crate::store::UserStore;
use crate::time::Millis;
use crate::user::{Authenticator, AuthenticatorView};

/// Longest user id a passkey can carry (WebAuthn caps `user.id` at 64 bytes).
pub const MAX_USER_HANDLE: usize = 64;
/// Action code of a passkey sign-in that names no action.
pub const DEFAULT_SIGN_IN_ACTION: &str = "signInWithPasskey";
/// Setting key: until when (ms) the passkey prompt stays away.
const PROMPT_SNOOZED_UNTIL: &str = "passkey_prompt_snoozed_until";

fn is_webauthn(m: VerificationMethod) -> bool {
    matches!(
        m,
        VerificationMethod::Passkey | VerificationMethod::SecurityKey
    )
}

/// The stored credential of a passkey or security key authenticator.
///
/// # Errors
/// [`CoreError::Internal`] when the stored secret does not decode.
pub fn credential(a: &Authenticator) -> Result<StoredCredential, CoreError> {
    a.secret
        .as_ref()
        .and_then(|v| crate::encoding::from_value(v).ok())
        .ok_or_else(|| CoreError::Internal("passkey without a credential".into()))
}

fn credentials<S: UserStore>(
    store: &S,
) -> Result<Vec<(Authenticator, StoredCredential)>, CoreError> {
    store
        .list_authenticators()?
        .into_iter()
        .filter(|a| is_webauthn(a.verification_method) && a.verified_at.is_some())
        .map(|a| credential(&a).map(|c| (a, c)))
        .collect()
}

/// What the options step hands back: the ceremony to seal into a
/// `challengeId`, and the options for the browser.
#[derive(Debug, Clone, PartialEq)]
pub struct Begun {
    /// To seal.
    pub ceremony: Ceremony,
    /// `PublicKeyCredential{Creation,Request}OptionsJSON`.
    pub options: Value,
}

/// A new registration or sign-in request for one action.
#[derive(Debug, Clone, Copy)]
pub struct ActionRef<'a> {
    /// The user.
    pub user_id: &'a str,
    /// The action code.
    pub code: &'a str,
    /// The action's idempotency key.
    pub key: &'a str,
    /// Whether the client's token is proof (see `token::ActionClaims::proved`).
    pub proved: bool,
}

/// Whether the user may register `method` during this action now.
fn check_may_register<S: UserStore>(
    store: &S,
    record: &ActionRecord,
    method: VerificationMethod,
    proved: bool,
) -> Result<bool, CoreError> {
    if !is_webauthn(method) {
        return Err(CoreError::field(
            "verificationMethod",
            "only PASSKEY or SECURITY_KEY",
        ));
    }
    let auths = store.list_authenticators()?;
    let verified = auths.iter().any(|a| a.verified_at.is_some());
    crate::service::enroll::check_may_add(record, &auths, method, proved)?;
    if !verified && !record.allowed_verification_methods.contains(&method) {
        return Err(crate::service::actions::not_allowed(method));
    }
    Ok(verified)
}

fn user_handle(user_id: &str) -> Result<&[u8], CoreError> {
    if user_id.len() > MAX_USER_HANDLE {
        return Err(CoreError::field(
            "userId",
            format!("passkeys need a user id of at most {MAX_USER_HANDLE} bytes"),
        ));
    }
    Ok(user_id.as_bytes())
}

fn expires_at(now: Millis) -> u64 {
    u64::try_from(now / 1000)
        .unwrap_or(0)
        .saturating_add(CEREMONY_TTL_SECS)
}

/// Options to register a passkey (or security key) during an action.
///
/// # Errors
/// [`CoreError::InvalidField`] when the user may not register now or the
/// user id is too long for a passkey; storage errors.
#[allow(clippy::too_many_arguments)]
pub fn begin_registration<S: UserStore>(
    store: &S,
    action: ActionRef<'_>,
    method: VerificationMethod,
    username: Option<&str>,
    attachment: Option<&str>,
    uv: UserVerification,
    rp: &RelyingParty,
    challenge: &[u8],
    now: Millis,
) -> Result<Begun, CoreError> {
    let record = get_action(store, action.code, action.key)?;
    check_may_register(store, &record, method, action.proved)?;
    let handle = user_handle(action.user_id)?;
    let user = store.get_user()?.unwrap_or_default();
    let name = username
        .filter(|u| !u.trim().is_empty())
        .map(str::to_owned)
        .or(user.username.clone())
        .or(user.email.clone())
        .unwrap_or_else(|| action.user_id.to_owned());
    let display = user.display_name.clone().unwrap_or_else(|| name.clone());
    let existing = credentials(store)?;
    let exclude: Vec<&StoredCredential> = existing.iter().map(|(_, c)| c).collect();
    let options = crate::auth::webauthn::creation_options(
        rp,
        &UserEntity {
            handle,
            name: &name,
            display_name: &display,
        },
        challenge,
        &exclude,
        uv,
        method,
        attachment,
    );
    let mut ceremony = action_ceremony(
        Purpose::Registration,
        action,
        method,
        uv,
        rp,
        challenge,
        now,
    );
    // Kept with the authenticator once registered, as Authsignal shows them.
    ceremony.user_name = Some(name);
    ceremony.display_name = Some(display);
    Ok(Begun { ceremony, options })
}

/// How long a used challenge is remembered past its ceremony's expiry, so
/// no clock edge lets it verify twice.
const USED_MARGIN_SECS: u64 = 60;

/// A ceremony for one tracked action's challenge.
fn action_ceremony(
    purpose: Purpose,
    action: ActionRef<'_>,
    method: VerificationMethod,
    uv: UserVerification,
    rp: &RelyingParty,
    challenge: &[u8],
    now: Millis,
) -> Ceremony {
    Ceremony {
        purpose,
        challenge: crate::encoding::b64url(challenge),
        method,
        user_verification: uv,
        user_id: Some(action.user_id.to_owned()),
        action_code: Some(action.code.to_owned()),
        idempotency_key: Some(action.key.to_owned()),
        allowed_methods: None,
        rp_id: rp.id.clone(),
        user_name: None,
        display_name: None,
        expires_at: expires_at(now),
    }
}

fn consume<S: UserStore>(store: &S, ceremony: &Ceremony, now: Millis) -> Result<(), CoreError> {
    let until = i64::try_from(ceremony.expires_at.saturating_add(USED_MARGIN_SECS))
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    if store.consume_challenge(&ceremony.challenge, until, now)? {
        Ok(())
    } else {
        Err(WebAuthnError::ChallengeReused.into())
    }
}

fn check_ceremony(
    ceremony: &Ceremony,
    purpose: Purpose,
    user_id: &str,
    action: Option<(&str, &str)>,
    rp: &RelyingParty,
) -> Result<(), CoreError> {
    let ok = ceremony.purpose == purpose
        && ceremony.rp_id == rp.id
        && ceremony.user_id.as_deref().is_none_or(|u| u == user_id)
        && match action {
            Some((code, key)) => {
                ceremony.action_code.as_deref() == Some(code)
                    && ceremony.idempotency_key.as_deref() == Some(key)
            }
            None => ceremony.idempotency_key.is_none(),
        };
    if ok {
        Ok(())
    } else {
        Err(WebAuthnError::InvalidChallengeId.into())
    }
}

/// A registered credential.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// The new authenticator.
    pub authenticator: AuthenticatorView,
    /// The action afterwards (its challenge completes when this was the
    /// user's first method).
    pub record: ActionRecord,
}

/// What is known of a credential being registered besides the ceremony.
#[derive(Debug, Clone, Copy)]
pub struct NewCredential<'a> {
    /// The new authenticator's id.
    pub id: &'a str,
    /// The `User-Agent` of the browser registering it.
    pub user_agent: Option<&'a str>,
}

/// Verify a registration and store the credential.
///
/// # Errors
/// [`CoreError::WebAuthn`] when the ceremony is refused (including a reused
/// challenge or an already registered credential); the errors of
/// [`begin_registration`]; storage errors.
pub fn finish_registration<S: UserStore>(
    store: &S,
    action: ActionRef<'_>,
    ceremony: &Ceremony,
    response: &RegistrationResponse,
    rp: &RelyingParty,
    new: NewCredential<'_>,
    now: Millis,
) -> Result<Registered, CoreError> {
    check_ceremony(
        ceremony,
        Purpose::Registration,
        action.user_id,
        Some((action.code, action.key)),
        rp,
    )?;
    if ceremony.user_id.is_none() {
        return Err(WebAuthnError::InvalidChallengeId.into());
    }
    let record = get_action(store, action.code, action.key)?;
    let verified_before = check_may_register(store, &record, ceremony.method, action.proved)?;
    let challenge = ceremony.challenge_bytes()?;
    let mut cred = crate::auth::webauthn::verify_registration(
        response,
        &Expected {
            rp,
            challenge: &challenge,
            user_verification: ceremony.user_verification,
        },
    )?;
    // Used once verified, so a garbage answer cannot burn a good ceremony.
    consume(store, ceremony, now)?;
    cred.username.clone_from(&ceremony.user_name);
    cred.display_name.clone_from(&ceremony.display_name);
    cred.user_agent = new
        .user_agent
        .map(|ua| crate::user_agent::truncated(ua).to_owned());
    if credentials(store)?
        .iter()
        .any(|(_, c)| c.credential_id == cred.credential_id)
    {
        return Err(WebAuthnError::DuplicateCredential.into());
    }
    let auth = Authenticator {
        user_authenticator_id: new.id.to_owned(),
        verification_method: ceremony.method,
        created_at: now,
        verified_at: Some(now),
        last_verified_at: (!verified_before).then_some(now),
        email: None,
        phone_number: None,
        is_default: !verified_before,
        secret: Some(serde_json::to_value(&cred).map_err(|e| CoreError::Internal(e.to_string()))?),
    };
    store.put_authenticator(&auth)?;
    let view = crate::service::authenticator_log::added(
        store,
        &auth,
        action.user_id,
        crate::service::authenticator_log::By::Action {
            action_code: action.code.to_owned(),
            idempotency_key: action.key.to_owned(),
        },
        now,
    )?;
    let mut record = if verified_before {
        record
    } else {
        complete_challenge(store, action.code, action.key, ceremony.method, now)?
    };
    record.note_enrollment(ceremony.method, &auth.user_authenticator_id, now);
    store.update_action(&record)?;
    Ok(Registered {
        authenticator: view,
        record,
    })
}

/// Options to sign in with one of the user's passkeys for an action's
/// pending challenge.
///
/// # Errors
/// [`CoreError::InvalidField`] when the action is not waiting for a
/// challenge, passkeys are not allowed for it, or the user has none.
pub fn begin_authentication<S: UserStore>(
    store: &S,
    action: ActionRef<'_>,
    uv: UserVerification,
    rp: &RelyingParty,
    challenge: &[u8],
    now: Millis,
) -> Result<Begun, CoreError> {
    let record = get_action(store, action.code, action.key)?;
    if record.state != ActionState::ChallengeRequired {
        return Err(super::actions::not_waiting());
    }
    let allowed: Vec<VerificationMethod> = record
        .allowed_verification_methods
        .iter()
        .copied()
        .filter(|m| is_webauthn(*m))
        .collect();
    if allowed.is_empty() {
        return Err(super::actions::not_allowed(VerificationMethod::Passkey));
    }
    let creds = credentials(store)?;
    let allow: Vec<&StoredCredential> = creds
        .iter()
        .filter(|(a, _)| allowed.contains(&a.verification_method))
        .map(|(_, c)| c)
        .collect();
    if allow.is_empty() {
        return Err(CoreError::field(
            "verificationMethod",
            "no passkey is enrolled",
        ));
    }
    let method = allowed
        .first()
        .copied()
        .unwrap_or(VerificationMethod::Passkey);
    Ok(Begun {
        options: crate::auth::webauthn::request_options(rp, challenge, &allow, uv),
        ceremony: action_ceremony(
            Purpose::Authentication,
            action,
            method,
            uv,
            rp,
            challenge,
            now,
        ),
    })
}

/// Options for a sign-in that names no user: any passkey of this relying
/// party may answer, and its user handle says whose it is.
pub fn begin_discoverable(
    action_code: Option<&str>,
    allowed_methods: Vec<VerificationMethod>,
    uv: UserVerification,
    rp: &RelyingParty,
    challenge: &[u8],
    now: Millis,
) -> Begun {
    Begun {
        options: crate::auth::webauthn::request_options(rp, challenge, &[], uv),
        ceremony: Ceremony {
            purpose: Purpose::Authentication,
            challenge: crate::encoding::b64url(challenge),
            method: VerificationMethod::Passkey,
            user_verification: uv,
            user_id: None,
            action_code: action_code.map(str::to_owned),
            idempotency_key: None,
            allowed_methods: Some(allowed_methods),
            rp_id: rp.id.clone(),
            user_name: None,
            display_name: None,
            expires_at: expires_at(now),
        },
    }
}

/// Keep the sealed ceremony with the action, for clients that do not send
/// the `challengeId` back (`@authsignal/browser`'s security key client).
///
/// # Errors
/// [`CoreError::ActionNotFound`]; storage errors.
pub fn remember_ceremony<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    sealed: &str,
) -> Result<(), CoreError> {
    let mut record = get_action(store, code, key)?;
    record.webauthn_ceremony = Some(sealed.to_owned());
    store.update_action(&record)
}

/// What to do when a signature counter goes backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterPolicy {
    /// Count it on the credential and refuse the sign-in.
    Reject,
    /// Count it on the credential and let the sign-in through.
    Report,
}

/// A verified sign-in.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedIn {
    /// The action it completed, or the one it recorded.
    pub record: ActionRecord,
    /// The authenticator used.
    pub authenticator: AuthenticatorView,
}

/// Verify a passkey sign-in by `user_id` (the token's user, or the user
/// handle of a discoverable credential). A ceremony bound to an action
/// completes that action's challenge; one that is not is decided as a
/// track of its action (`action_code`, else [`DEFAULT_SIGN_IN_ACTION`]),
/// made with `sign_in` (see [`crate::service::actions::sign_in`]).
///
/// # Errors
/// [`CoreError::WebAuthn`] when refused (unknown credential, bad
/// signature, reused challenge, counter regression under
/// [`CounterPolicy::Reject`], …); [`CoreError::IllegalTransition`] when the
/// action is no longer waiting; storage errors.
#[allow(clippy::too_many_arguments)]
pub fn finish_authentication<S: UserStore>(
    store: &S,
    user_id: &str,
    ceremony: &Ceremony,
    response: &AuthenticationResponse,
    rp: &RelyingParty,
    policy: CounterPolicy,
    sign_in: Option<crate::service::track::TrackInput<'_>>,
    now: Millis,
) -> Result<SignedIn, CoreError> {
    let action = ceremony
        .idempotency_key
        .as_deref()
        .zip(ceremony.action_code.as_deref())
        .map(|(k, c)| (c, k));
    check_ceremony(ceremony, Purpose::Authentication, user_id, action, rp)?;
    // Nothing is written before the credential is known, allowed and verified.
    let (mut auth, mut cred) = credentials(store)?
        .into_iter()
        .find(|(_, c)| c.credential_id == response.raw_id.trim_end_matches('='))
        .ok_or(WebAuthnError::UnknownCredential)?;
    let method = auth.verification_method;
    let allowed = match action {
        Some((code, key)) => {
            let record = get_action(store, code, key)?;
            if record.state != ActionState::ChallengeRequired {
                return Err(super::actions::not_waiting());
            }
            record.allowed_verification_methods
        }
        None => ceremony.allowed_methods.clone().unwrap_or_default(),
    };
    if !allowed.contains(&method) {
        return Err(crate::service::actions::not_allowed(method));
    }
    let challenge = ceremony.challenge_bytes()?;
    let assertion = crate::auth::webauthn::verify_authentication(
        response,
        &Expected {
            rp,
            challenge: &challenge,
            user_verification: ceremony.user_verification,
        },
        &cred,
        Some(user_handle(user_id)?),
    )?;
    consume(store, ceremony, now)?;
    if assertion.counter_regressed {
        cred.counter_regressions = cred.counter_regressions.saturating_add(1);
        auth.secret = serde_json::to_value(&cred).ok();
        store.put_authenticator(&auth)?;
        if policy == CounterPolicy::Reject {
            return Err(WebAuthnError::CounterRegression {
                stored: cred.counter,
                received: assertion.counter,
            }
            .into());
        }
    }
    cred.counter = cred.counter.max(assertion.counter);
    cred.backup_state = assertion.backup_state;
    auth.secret =
        Some(serde_json::to_value(&cred).map_err(|e| CoreError::Internal(e.to_string()))?);
    auth.last_verified_at = Some(now);
    store.put_authenticator(&auth)?;
    let record = match action {
        Some((code, key)) => complete_challenge(store, code, key, method, now)?,
        None => {
            let code = ceremony
                .action_code
                .as_deref()
                .unwrap_or(DEFAULT_SIGN_IN_ACTION);
            let input = sign_in
                .filter(|i| i.action_code == code && i.user_id == user_id)
                .ok_or_else(|| {
                    CoreError::Internal("a sign-in without the track it is decided as".into())
                })?;
            crate::service::actions::sign_in(store, input, method)?
        }
    };
    Ok(SignedIn {
        record,
        authenticator: auth.view(user_id),
    })
}

/// Whether to offer adding a passkey after this action's challenge: the
/// action asks for it, the challenge passed, the user has no passkey, and
/// has not said "not now" recently.
///
/// # Errors
/// Storage errors.
pub fn should_prompt<S: UserStore>(
    store: &S,
    record: &ActionRecord,
    now: Millis,
) -> Result<bool, CoreError> {
    if !record
        .prompt_to_enroll_verification_methods
        .contains(&VerificationMethod::Passkey)
        || record.state != ActionState::ChallengeSucceeded
    {
        return Ok(false);
    }
    let has_passkey = store
        .list_authenticators()?
        .iter()
        .any(|a| a.verification_method == VerificationMethod::Passkey && a.verified_at.is_some());
    if has_passkey {
        return Ok(false);
    }
    let snoozed_until = store
        .get_setting(PROMPT_SNOOZED_UNTIL)?
        .and_then(|v| v.parse::<Millis>().ok())
        .unwrap_or(0);
    Ok(now >= snoozed_until)
}

/// "Not now": keep the prompt away for `days`.
///
/// # Errors
/// Storage errors.
pub fn snooze_prompt<S: UserStore>(store: &S, days: u32, now: Millis) -> Result<Millis, CoreError> {
    let until = now.saturating_add(i64::from(days).saturating_mul(86_400_000));
    store.put_setting(PROMPT_SNOOZED_UNTIL, &until.to_string())?;
    Ok(until)
}

#[cfg(test)]
mod tests;
