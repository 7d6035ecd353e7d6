//! HTTP Basic authentication with a secret key as the user name, as the
//! Authsignal SDKs send it (`Authorization: Basic base64(secret + ":")`).
//!
//! Secrets are compared in constant time: both sides are hashed with
//! SHA-256 first so that neither their length nor their content leaks
//! through timing.

use ct_codecs::{Base64, Decoder};
use subtle::ConstantTimeEq;

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// The header is not `Basic <base64>` of `user:password`.
    Malformed,
    /// The secret does not match.
    WrongSecret,
}

impl AuthFailure {
    /// Text for the `errorDescription` of a 401.
    pub fn description(self) -> &'static str {
        match self {
            AuthFailure::Missing => {
                "Authentication required: send HTTP Basic auth with the secret key as the user name."
            }
            AuthFailure::Malformed => "The Authorization header is not valid HTTP Basic auth.",
            AuthFailure::WrongSecret => "The secret key is not valid.",
        }
    }
}

/// Constant-time equality of two secrets of any length.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    let ha = hmac_sha256::Hash::hash(a);
    let hb = hmac_sha256::Hash::hash(b);
    ha.ct_eq(&hb).into()
}

/// Check an `Authorization` header against `secret`.
///
/// # Errors
/// The [`AuthFailure`] that explains the refusal.
pub fn check_basic(header: Option<&str>, secret: &str) -> Result<(), AuthFailure> {
    let header = header.ok_or(AuthFailure::Missing)?.trim();
    let (scheme, encoded) = header.split_once(' ').ok_or(AuthFailure::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthFailure::Malformed);
    }
    let mut buf = vec![0u8; encoded.len()];
    let decoded = Base64::decode(&mut buf, encoded.trim().as_bytes(), None)
        .map_err(|_| AuthFailure::Malformed)?;
    let text = std::str::from_utf8(decoded).map_err(|_| AuthFailure::Malformed)?;
    // The secret is the user name; the password is empty (or ignored).
    let user = text.split_once(':').map_or(text, |(u, _)| u);
    if user.is_empty() {
        return Err(AuthFailure::Missing);
    }
    if secrets_equal(user.as_bytes(), secret.as_bytes()) {
        Ok(())
    } else {
        Err(AuthFailure::WrongSecret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_codecs::Encoder;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn basic(s: &str) -> String {
        let mut buf = vec![0u8; s.len() * 2 + 4];
        let enc = Base64::encode(&mut buf, s.as_bytes()).unwrap();
        format!("Basic {}", std::str::from_utf8(enc).unwrap())
    }

    #[test]
    fn accepts_the_sdk_header() {
        assert_eq!(check_basic(Some(&basic("sk_live:")), "sk_live"), Ok(()));
        assert_eq!(check_basic(Some(&basic("sk_live")), "sk_live"), Ok(()));
        assert_eq!(
            check_basic(Some(&format!("basic  {}", &basic("sk:")[6..])), "sk"),
            Ok(())
        );
    }

    #[test]
    fn refuses_wrong_missing_and_malformed() {
        assert_eq!(check_basic(None, "s"), Err(AuthFailure::Missing));
        assert_eq!(
            check_basic(Some(&basic(":")), "s"),
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            check_basic(Some(&basic("other:")), "s"),
            Err(AuthFailure::WrongSecret)
        );
        assert_eq!(
            check_basic(Some(&basic("s2:")), "s"),
            Err(AuthFailure::WrongSecret)
        );
        assert_eq!(
            check_basic(Some("Bearer abc"), "s"),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            check_basic(Some("Basic !!!"), "s"),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(check_basic(Some("Basic"), "s"), Err(AuthFailure::Malformed));
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"abc", b"abcd"));
    }
}
