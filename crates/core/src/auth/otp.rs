//! Authenticator-app codes (TOTP, RFC 6238) and the attempt limit of a
//! challenge.
//!
//! A TOTP authenticator holds a 160-bit secret. Codes are 6 digits over
//! 30-second steps; the step before and after the current one are accepted
//! (clock drift), and a step that was accepted once is never accepted again,
//! so an observed code cannot be replayed.
//!
//! Wrong codes count against the challenge, not the authenticator:
//!
//! ```text
//!                 wrong code (attempts < MAX_FAILED_ATTEMPTS)
//!               ┌────────────┐
//!               ▼            │
//!   CHALLENGE_REQUIRED ──────┘
//!        │         │
//!        │ right   │ wrong code when MAX_FAILED_ATTEMPTS were already wrong
//!        ▼         ▼
//!   CHALLENGE_SUCCEEDED     CHALLENGE_FAILED (final: no code is checked again)
//!   (or REVIEW_REQUIRED for a challenge-and-review rule)
//! ```
//!
//! Five wrong codes are answered "try again"; the sixth fails the challenge.

use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::error::CoreError;

/// Wrong codes a challenge tolerates; the next wrong one fails it.
pub const MAX_FAILED_ATTEMPTS: u32 = 5;
/// Seconds per TOTP step.
pub const STEP_SECONDS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;

/// What a TOTP authenticator stores (in [`crate::user::Authenticator::secret`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotpSecret {
    /// The shared secret, base32 (RFC 4648, no padding).
    pub secret: String,
    /// The last step a code was accepted for; earlier and equal steps are refused.
    #[serde(default)]
    pub last_step: Option<u64>,
}

fn totp(secret_b32: &str, issuer: &str, account: &str) -> Result<TOTP, CoreError> {
    let bytes = Secret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .map_err(|_| CoreError::Internal("stored TOTP secret is not base32".into()))?;
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECONDS,
        bytes,
        Some(issuer.replace(':', "")),
        account.replace(':', ""),
    )
    .map_err(|e| CoreError::Internal(format!("TOTP parameters: {e}")))
}

impl TotpSecret {
    /// A new secret from 20 random bytes (the caller's CSPRNG).
    pub fn new(random: [u8; 20]) -> Self {
        TotpSecret {
            secret: Secret::Raw(random.to_vec()).to_encoded().to_string(),
            last_step: None,
        }
    }

    /// The `otpauth://totp/...` URI an authenticator app scans.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if the stored secret is corrupt.
    pub fn uri(&self, issuer: &str, account: &str) -> Result<String, CoreError> {
        Ok(totp(&self.secret, issuer, account)?.get_url())
    }

    /// The step a code is valid for at `now_secs`, if any: the current step
    /// or one either side, and later than the last accepted step.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if the stored secret is corrupt.
    pub fn matching_step(&self, code: &str, now_secs: u64) -> Result<Option<u64>, CoreError> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let t = totp(&self.secret, "x", "x")?;
        let current = now_secs / STEP_SECONDS;
        let mut found = None;
        // Compare against all three candidates so timing does not tell which matched.
        for step in [current.saturating_sub(1), current, current + 1] {
            let expected = t.generate(step * STEP_SECONDS);
            let same = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), code.as_bytes());
            if bool::from(same) && self.last_step.is_none_or(|last| step > last) {
                found = Some(step);
            }
        }
        Ok(found)
    }

    /// The code for a step (for tests and tools).
    ///
    /// # Errors
    /// [`CoreError::Internal`] if the stored secret is corrupt.
    pub fn code_at(&self, now_secs: u64) -> Result<String, CoreError> {
        Ok(totp(&self.secret, "x", "x")?.generate(now_secs))
    }
}

/// How long an emailed or texted code is valid (10 minutes).
pub const EMAIL_CODE_TTL_MS: i64 = 10 * 60 * 1000;

/// How a one-time code reaches the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Email (`EMAIL_OTP`, the `email.created` webhook).
    Email,
    /// Text message (`SMS`, the `sms.created` webhook).
    Sms,
    /// A link by email (`EMAIL_MAGIC_LINK`, the `email.created` webhook with a `url`).
    MagicLink,
    /// A WhatsApp message (`WHATSAPP`, the `whatsapp.created` webhook).
    Whatsapp,
}

impl Channel {
    /// The verification method a code on this channel proves.
    pub fn method(self) -> crate::auth::methods::VerificationMethod {
        match self {
            Channel::Email => crate::auth::methods::VerificationMethod::EmailOtp,
            Channel::Sms => crate::auth::methods::VerificationMethod::Sms,
            Channel::MagicLink => crate::auth::methods::VerificationMethod::EmailMagicLink,
            Channel::Whatsapp => crate::auth::methods::VerificationMethod::Whatsapp,
        }
    }

    /// The webhook event that hands a code on this channel to the app.
    pub fn event_type(self) -> &'static str {
        match self {
            Channel::Email | Channel::MagicLink => "email.created",
            Channel::Sms => "sms.created",
            Channel::Whatsapp => "whatsapp.created",
        }
    }

    /// Whether codes on this channel go to an email address (else a phone number).
    pub fn is_email(self) -> bool {
        matches!(self, Channel::Email | Channel::MagicLink)
    }
}

/// Codes (and magic links) one action's challenge may send in all.
pub const MAX_SENDS_PER_ACTION: u32 = 5;
/// The shortest time between two sends on one channel for one action (ms).
pub const RESEND_INTERVAL_MS: i64 = 30_000;
/// Codes and links one user may be sent in an hour, across actions.
pub const MAX_SENDS_PER_USER_HOUR: usize = 10;

/// A one-time code sent by email or SMS, as stored: only its salted hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentCode {
    /// How it was sent.
    pub channel: Channel,
    /// Where it was sent (an email address or E.164 number).
    pub to: String,
    /// The authenticator it is for (a pending one during enrollment).
    pub authenticator_id: String,
    /// Random salt, hex.
    pub salt: String,
    /// SHA-256(salt ‖ code), hex.
    pub hash: String,
    /// When it stops being valid (ms since the epoch).
    pub expires_at: i64,
}

fn salted(salt: &str, code: &str) -> String {
    let mut h = hmac_sha256::Hash::new();
    h.update(salt.as_bytes());
    h.update(code.as_bytes());
    crate::encoding::hex(&h.finalize())
}

/// Six decimal digits from random bytes (uniform: bytes are drawn until one
/// maps without bias).
pub fn six_digits(random: &[u8]) -> Option<String> {
    let mut n: u64 = 0;
    for b in random.iter().take(8) {
        n = (n << 8) | u64::from(*b);
    }
    // 2^64 mod 10^6 is tiny against 2^64: the bias is below 10^-13.
    (random.len() >= 8).then(|| format!("{:06}", n % 1_000_000))
}

impl SentCode {
    /// Store a code: its salted hash, the address, the expiry.
    pub fn new(
        channel: Channel,
        to: &str,
        authenticator_id: &str,
        code: &str,
        salt: &str,
        now: i64,
    ) -> Self {
        SentCode {
            channel,
            to: to.to_owned(),
            authenticator_id: authenticator_id.to_owned(),
            salt: salt.to_owned(),
            hash: salted(salt, code),
            expires_at: now + EMAIL_CODE_TTL_MS,
        }
    }

    /// Whether `entered` is the code (or a magic link's secret) and it has not expired.
    pub fn matches(&self, entered: &str, now: i64) -> bool {
        let entered = entered.trim();
        let shape_ok = match self.channel {
            Channel::MagicLink => entered.len() >= 32,
            Channel::Email | Channel::Sms | Channel::Whatsapp => entered.len() == DIGITS,
        };
        now < self.expires_at
            && shape_ok
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                salted(&self.salt, entered).as_bytes(),
                self.hash.as_bytes(),
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// RFC 6238 appendix B, SHA-1 key "12345678901234567890", truncated to 6 digits.
    #[test]
    fn rfc6238_vectors() {
        let s = TotpSecret::new(*b"12345678901234567890");
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(s.code_at(t).unwrap(), code, "t={t}");
        }
    }

    #[test]
    fn accepts_one_step_of_drift_either_way() {
        let s = TotpSecret::new([7; 20]);
        let now = 1_795_380_179;
        let code = s.code_at(now).unwrap();
        assert_eq!(s.matching_step(&code, now).unwrap(), Some(now / 30));
        assert!(
            s.matching_step(&code, now + 30).unwrap().is_some(),
            "next step"
        );
        assert!(
            s.matching_step(&code, now - 30).unwrap().is_some(),
            "previous step"
        );
        assert_eq!(
            s.matching_step(&code, now + 90).unwrap(),
            None,
            "three steps later"
        );
    }

    #[test]
    fn an_accepted_step_is_never_accepted_again() {
        let mut s = TotpSecret::new([9; 20]);
        let now = 1_795_380_179;
        let code = s.code_at(now).unwrap();
        s.last_step = s.matching_step(&code, now).unwrap();
        assert_eq!(s.matching_step(&code, now).unwrap(), None);
        assert_eq!(s.matching_step(&code, now + 30).unwrap(), None);
        let next = s.code_at(now + 30).unwrap();
        assert!(s.matching_step(&next, now + 30).unwrap().is_some());
    }

    #[test]
    fn malformed_codes_never_match() {
        let s = TotpSecret::new([1; 20]);
        for bad in ["", "12345", "1234567", "12a456", "      "] {
            assert_eq!(
                s.matching_step(bad, 1_795_380_179).unwrap(),
                None,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn email_codes_match_until_they_expire_and_are_stored_hashed() {
        let c = SentCode::new(
            Channel::Email,
            "a@example.com",
            "auth-1",
            "042917",
            "salt",
            1_000,
        );
        assert!(!c.hash.contains("042917"));
        assert!(c.matches("042917", 1_000));
        assert!(c.matches(" 042917 ", 1_000 + EMAIL_CODE_TTL_MS - 1));
        assert!(!c.matches("042917", 1_000 + EMAIL_CODE_TTL_MS), "expired");
        assert!(!c.matches("042918", 1_000));
        assert!(!c.matches("42917", 1_000));
    }

    #[test]
    fn six_digit_codes_keep_leading_zeros() {
        assert_eq!(six_digits(&[0; 8]).as_deref(), Some("000000"));
        assert_eq!(
            six_digits(&[0, 0, 0, 0, 0, 0, 0, 7]).as_deref(),
            Some("000007")
        );
        assert_eq!(six_digits(&[1; 4]), None, "too few random bytes");
    }

    #[test]
    fn uri_names_issuer_account_and_secret() {
        let s = TotpSecret::new([3; 20]);
        let uri = s.uri("ActionGate", "alice@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/ActionGate:alice%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={}", s.secret)));
        assert!(uri.contains("issuer=ActionGate"));
    }
}
