//! Ceremonies sealed into a `challengeId` only this deployment can mint,
//! so nothing is kept between a ceremony's two steps.

use super::wire::{UserVerification, WebAuthnError, decode};
use crate::auth::methods::VerificationMethod;
use crate::encoding::b64url;
use serde::{Deserialize, Serialize};

/// Which ceremony a challenge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Purpose {
    /// Creating a credential.
    Registration,
    /// Signing in with one.
    Authentication,
}

/// What a `challengeId` carries between the options and the verify step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ceremony {
    /// Which ceremony.
    pub purpose: Purpose,
    /// The challenge, base64url.
    pub challenge: String,
    /// `PASSKEY` or `SECURITY_KEY`.
    pub method: VerificationMethod,
    /// UV requirement.
    pub user_verification: UserVerification,
    /// The user, when known (token flows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The action code (token flows; sign-in with an action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_code: Option<String>,
    /// The action's idempotency key (token flows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Methods the sign-in may use (sign-ins without a token: from the
    /// named action's configuration when the ceremony began).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_methods: Option<Vec<VerificationMethod>>,
    /// The relying party id it was started for.
    pub rp_id: String,
    /// Registration: the user's name and display name the credential was
    /// created with (kept with the authenticator, as Authsignal shows them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Registration: the display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Expiry, seconds since the epoch (valid while `now < expires_at`).
    pub expires_at: u64,
}

impl Ceremony {
    /// The challenge bytes.
    ///
    /// # Errors
    /// [`WebAuthnError::InvalidChallengeId`] if it does not decode.
    pub fn challenge_bytes(&self) -> Result<Vec<u8>, WebAuthnError> {
        decode(&self.challenge, "challenge").map_err(|_| WebAuthnError::InvalidChallengeId)
    }
}

/// Keys that seal [`Ceremony`]s into `challengeId`s: HMAC-SHA256 under a
/// key derived from the token signing key (and the previous one, during a
/// rotation), so a `challengeId` is never mistaken for an action token.
pub struct CeremonyKeys {
    pub(crate) keys: Vec<[u8; 32]>,
}

pub(crate) fn derive(secret: &[u8]) -> [u8; 32] {
    hmac_sha256::HMAC::mac(b"actiongate-webauthn-ceremony", secret)
}

impl CeremonyKeys {
    /// From the current token signing key and, during a rotation, the previous one.
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Self {
        CeremonyKeys {
            keys: std::iter::once(current)
                .chain(previous)
                .map(derive)
                .collect(),
        }
    }

    /// `base64url(JSON) "." base64url(HMAC)`.
    pub fn seal(&self, ceremony: &Ceremony) -> String {
        let payload = b64url(
            serde_json::to_string(ceremony)
                .unwrap_or_default()
                .as_bytes(),
        );
        let key = self.keys.first().copied().unwrap_or_default();
        let mac = hmac_sha256::HMAC::mac(payload.as_bytes(), key);
        format!("{payload}.{}", b64url(&mac))
    }

    /// Check a `challengeId` at `now_secs`.
    ///
    /// # Errors
    /// [`WebAuthnError::InvalidChallengeId`] or [`WebAuthnError::ChallengeExpired`].
    pub fn open(&self, id: &str, now_secs: u64) -> Result<Ceremony, WebAuthnError> {
        let (payload, mac) = id
            .split_once('.')
            .ok_or(WebAuthnError::InvalidChallengeId)?;
        let mac = decode(mac, "mac").map_err(|_| WebAuthnError::InvalidChallengeId)?;
        if !self.keys.iter().any(|k| {
            crate::auth::basic::secrets_equal(&hmac_sha256::HMAC::mac(payload.as_bytes(), k), &mac)
        }) {
            return Err(WebAuthnError::InvalidChallengeId);
        }
        let json = decode(payload, "payload").map_err(|_| WebAuthnError::InvalidChallengeId)?;
        let ceremony: Ceremony =
            serde_json::from_slice(&json).map_err(|_| WebAuthnError::InvalidChallengeId)?;
        if now_secs >= ceremony.expires_at {
            return Err(WebAuthnError::ChallengeExpired);
        }
        Ok(ceremony)
    }
}
