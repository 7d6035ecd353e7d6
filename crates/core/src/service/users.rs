//! The user's profile and authenticators, as the Server API shows and
//! changes them.

use super::authenticator_log::{self, By};
use crate::actions::events::Event;
use crate::auth::methods::VerificationMethod;
use crate::error::CoreError;
use crate::ids::check_user_id;
use crate::store::UserStore;
use crate::time::Millis;
use crate::user::{
    Authenticator, AuthenticatorView, EnrollAuthenticatorRequest, UserPatch, UserRecord, UserView,
};

pub(crate) fn check_email(email: &str, field: &str) -> Result<(), CoreError> {
    let ok = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(CoreError::field(
            field,
            format!("{email:?} is not an email address"),
        ))
    }
}

pub(crate) fn check_phone(phone: &str, field: &str) -> Result<(), CoreError> {
    let digits = phone.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CoreError::field(
            field,
            format!("{phone:?} is not an E.164 phone number (+ and 8 to 15 digits)"),
        ))
    }
}

/// A phone number as a profile keeps it (Authsignal stores what the app
/// sends, `9876543210` included): up to 32 characters of digits, spaces and
/// `+-().`, at least one digit. Only enrolling SMS needs E.164
/// ([`check_phone`]).
pub(crate) fn check_profile_phone(phone: &str, field: &str) -> Result<(), CoreError> {
    let ok = !phone.is_empty()
        && phone.len() <= 32
        && phone.bytes().any(|b| b.is_ascii_digit())
        && phone
            .bytes()
            .all(|b| b.is_ascii_digit() || b" +-().".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CoreError::field(
            field,
            format!("{phone:?} is not a phone number (digits, spaces and +-(). only, at most 32)"),
        ))
    }
}

/// Methods of the user's verified authenticators (a pending enrollment is not one).
pub(crate) fn enrolled_methods(auths: &[Authenticator]) -> Vec<VerificationMethod> {
    let mut methods: Vec<VerificationMethod> = auths
        .iter()
        .filter(|a| a.verified_at.is_some())
        .map(|a| a.verification_method)
        .collect();
    methods.sort();
    methods.dedup();
    methods
}

/// The user's profile and enrollment, as `getUser` returns it.
///
/// # Errors
/// [`CoreError::Internal`] when storage fails.
pub fn get_user<S: UserStore>(store: &S, user_id: &str) -> Result<UserView, CoreError> {
    let user = store.get_user()?.unwrap_or_default();
    let auths = store.list_authenticators()?;
    let enrolled = enrolled_methods(&auths);
    // The preferred factor, or else the first one verified.
    let default = auths
        .iter()
        .filter(|a| {
            a.verified_at.is_some() && a.verification_method != VerificationMethod::RecoveryCode
        })
        .min_by_key(|a| (!a.is_default, a.verified_at))
        .map(|a| a.verification_method);
    Ok(UserView {
        user_id: user_id.to_owned(),
        is_enrolled: !enrolled.is_empty(),
        email: user.email,
        email_verified: user.email_verified,
        phone_number: user.phone_number,
        phone_number_verified: user.phone_number_verified,
        username: user.username,
        display_name: user.display_name,
        custom: user.custom,
        locale: user.locale,
        enrolled_verification_methods: enrolled,
        allowed_verification_methods: crate::auth::methods::ENROLLABLE_METHODS.to_vec(),
        default_verification_method: default,
    })
}

/// Apply a profile patch.
///
/// # Errors
/// [`CoreError::InvalidField`] for a bad email or phone number, or
/// [`CoreError::Internal`].
pub fn patch_user<S: UserStore>(
    store: &S,
    user_id: &str,
    patch: UserPatch,
    now: Millis,
) -> Result<UserView, CoreError> {
    check_user_id(user_id)?;
    if let Some(Some(e)) = &patch.email {
        check_email(e, "email")?;
    }
    if let Some(Some(p)) = &patch.phone_number {
        check_profile_phone(p, "phoneNumber")?;
    }
    let before = store.get_user()?;
    let mut user = before.clone().unwrap_or(UserRecord {
        created_at: now,
        ..UserRecord::default()
    });
    patch.apply(&mut user);
    user.updated_at = now;
    save_user(store, before.as_ref(), &user)?;
    get_user(store, user_id)
}

/// Store the user's profile (`before`: as it was, `None` for a new user),
/// and tell the user directory when what it holds changed.
///
/// # Errors
/// [`CoreError::Internal`] when storage fails.
pub(crate) fn save_user<S: UserStore>(
    store: &S,
    before: Option<&UserRecord>,
    user: &UserRecord,
) -> Result<(), CoreError> {
    store.put_user(user)?;
    let entry = user.directory_entry();
    if before.is_none_or(|b| !b.directory_entry().same_fields(&entry)) {
        store.emit(Event::ProfileChanged { entry })?;
    }
    Ok(())
}

/// Delete the user's profile, actions and authenticators.
///
/// # Errors
/// [`CoreError::Internal`] when storage fails.
pub fn delete_user<S: UserStore>(store: &S, now: Millis) -> Result<(), CoreError> {
    store.delete_all()?;
    store.emit(Event::UserDeleted { at: now })
}

/// The user's authenticators, without secrets.
///
/// # Errors
/// [`CoreError::Internal`] when storage fails.
pub fn list_authenticators<S: UserStore>(
    store: &S,
    user_id: &str,
) -> Result<Vec<AuthenticatorView>, CoreError> {
    Ok(store
        .list_authenticators()?
        .iter()
        .map(|a| a.view(user_id))
        .collect())
}

/// Enroll an authenticator the app has already verified (email or phone).
///
/// # Errors
/// [`CoreError::InvalidField`] for a method that needs a client ceremony or
/// a missing or bad email/phone; [`CoreError::Internal`].
pub fn enroll_authenticator<S: UserStore>(
    store: &S,
    user_id: &str,
    req: EnrollAuthenticatorRequest,
    id: String,
    now: Millis,
) -> Result<AuthenticatorView, CoreError> {
    check_user_id(user_id)?;
    let m = req.verification_method;
    if !m.enrollable_by_server() {
        return Err(CoreError::field(
            "verificationMethod",
            "only EMAIL_OTP, EMAIL_MAGIC_LINK, SMS and WHATSAPP can be enrolled by the server; other methods are enrolled by the user on the challenge page",
        ));
    }
    let email_method = matches!(
        m,
        VerificationMethod::EmailOtp | VerificationMethod::EmailMagicLink
    );
    let (email, phone) = if email_method {
        let e = req
            .email
            .ok_or_else(|| CoreError::field("email", "is required for this method"))?;
        check_email(&e, "email")?;
        (Some(e), None)
    } else {
        let p = req
            .phone_number
            .ok_or_else(|| CoreError::field("phoneNumber", "is required for this method"))?;
        check_phone(&p, "phoneNumber")?;
        (None, Some(p))
    };
    let is_default = req.is_default.unwrap_or(false);
    if is_default {
        for mut other in store.list_authenticators()? {
            if other.is_default {
                other.is_default = false;
                store.put_authenticator(&other)?;
            }
        }
    }
    let auth = Authenticator {
        user_authenticator_id: id,
        verification_method: m,
        created_at: now,
        verified_at: Some(now),
        last_verified_at: None,
        email: email.clone(),
        phone_number: phone.clone(),
        is_default,
        secret: None,
    };
    store.put_authenticator(&auth)?;
    // The app verified the address, so the profile can say so.
    let before = store.get_user()?;
    let mut user = before.clone().unwrap_or(UserRecord {
        created_at: now,
        ..UserRecord::default()
    });
    if let Some(e) = email
        && (user.email.is_none() || user.email.as_deref() == Some(e.as_str()))
    {
        user.email = Some(e);
        user.email_verified = true;
    }
    if let Some(p) = phone
        && (user.phone_number.is_none() || user.phone_number.as_deref() == Some(p.as_str()))
    {
        user.phone_number = Some(p);
        user.phone_number_verified = true;
    }
    user.updated_at = now;
    save_user(store, before.as_ref(), &user)?;
    authenticator_log::added(store, &auth, user_id, By::ServerApi, now)
}

/// Remove an authenticator.
///
/// # Errors
/// [`CoreError::AuthenticatorNotFound`], or [`CoreError::Internal`].
pub fn delete_authenticator<S: UserStore>(
    store: &S,
    id: &str,
    now: Millis,
) -> Result<(), CoreError> {
    let gone = store
        .list_authenticators()?
        .into_iter()
        .find(|a| a.user_authenticator_id == id)
        .ok_or(CoreError::AuthenticatorNotFound)?;
    store.delete_authenticator(id)?;
    if gone.verified_at.is_some() {
        authenticator_log::removed(store, &gone, By::ServerApi, now)?;
    }
    // Recovery codes back up other factors: with the last of those gone they
    // go too (a user with none enrolls a first factor afresh, and gets new
    // codes with it).
    let left = store.list_authenticators()?;
    let others = left.iter().any(|a| {
        a.verified_at.is_some() && a.verification_method != VerificationMethod::RecoveryCode
    });
    let codes = left
        .iter()
        .find(|a| a.verification_method == VerificationMethod::RecoveryCode);
    if !others && let Some(codes) = codes {
        store.delete_authenticator(&codes.user_authenticator_id)?;
    }
    Ok(())
}
