//! Identifier rules: action codes, user ids, idempotency keys, authenticator ids.
//!
//! They arrive as URL path segments, so they are checked before anything is
//! stored or used as a Durable Object name.

use crate::error::CoreError;

/// Longest user id accepted, in bytes.
pub const MAX_USER_ID_LEN: usize = 256;
/// Longest idempotency key accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Check an action code against `^[a-zA-Z0-9_-]{1,64}$`.
///
/// # Errors
/// [`CoreError::InvalidField`] naming `field`.
pub fn check_action_code(code: &str, field: &str) -> Result<(), CoreError> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CoreError::field(
            field,
            format!("{code:?} is not a valid action code (1 to 64 of a-z, A-Z, 0-9, _ and -)"),
        ))
    }
}

fn check_opaque(value: &str, field: &str, max: usize) -> Result<(), CoreError> {
    if value.is_empty() {
        return Err(CoreError::field(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(CoreError::field(
            field,
            format!("must be at most {max} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(CoreError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Check a user id: 1 to 256 bytes, no control characters.
///
/// # Errors
/// [`CoreError::InvalidField`] naming `userId`.
pub fn check_user_id(user_id: &str) -> Result<(), CoreError> {
    check_opaque(user_id, "userId", MAX_USER_ID_LEN)
}

/// Check an idempotency key: 1 to 128 bytes, no control characters, no `/`.
///
/// # Errors
/// [`CoreError::InvalidField`] naming `idempotencyKey`.
pub fn check_idempotency_key(key: &str) -> Result<(), CoreError> {
    check_opaque(key, "idempotencyKey", MAX_IDEMPOTENCY_KEY_LEN)?;
    if key.contains('/') {
        return Err(CoreError::field("idempotencyKey", "must not contain '/'"));
    }
    Ok(())
}

/// A locale tag as message templates and rule reasons are keyed by (`en`,
/// `en-GB`, `zh-Hant-TW`): up to 35 bytes of alphanumeric parts joined by `-`.
pub fn valid_locale(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 35
        && tag.split('-').all(|part| {
            !part.is_empty() && part.len() <= 8 && part.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn action_codes() {
        for good in ["withdraw-funds", "change_password", "A1", &"a".repeat(64)] {
            assert!(check_action_code(good, "action").is_ok(), "{good}");
        }
        for bad in [
            "",
            "with space",
            "dot.ted",
            "slash/ed",
            "é",
            &"a".repeat(65),
        ] {
            let err = check_action_code(bad, "action").unwrap_err();
            assert!(err.to_string().starts_with("action: "), "{bad}");
        }
    }

    #[test]
    fn user_ids_allow_emails_but_not_control_characters() {
        assert!(check_user_id("alice@example.com").is_ok());
        assert!(check_user_id("usr_123/456").is_ok());
        assert!(check_user_id("").is_err());
        assert!(check_user_id("a\nb").is_err());
        assert!(check_user_id(&"u".repeat(257)).is_err());
    }

    #[test]
    fn idempotency_keys() {
        assert!(check_idempotency_key("3f1c-uuid").is_ok());
        assert!(check_idempotency_key("a/b").is_err());
        assert!(check_idempotency_key(&"k".repeat(129)).is_err());
    }
}
