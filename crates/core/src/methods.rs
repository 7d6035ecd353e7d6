//! Verification methods, named exactly as the Authsignal SDKs name them.

use serde::{Deserialize, Serialize};

/// A way for a user to prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerificationMethod {
    /// A code sent by SMS.
    Sms,
    /// A one-time code sent by email.
    EmailOtp,
    /// A sign-in link sent by email.
    EmailMagicLink,
    /// A TOTP authenticator app (RFC 6238).
    AuthenticatorApp,
    /// A platform or synced passkey (WebAuthn).
    Passkey,
    /// A roaming WebAuthn security key.
    SecurityKey,
    /// A push notification to an enrolled device.
    Push,
    /// Identity verification by Veriff.
    Veriff,
    /// Face verification by iProov.
    Iproov,
    /// Identity verification by IDVerse.
    Idverse,
    /// Palm biometrics.
    #[serde(rename = "PALM_BIOMETRICS_RR")]
    PalmBiometricsRr,
    /// A single-use recovery code.
    RecoveryCode,
    /// A trusted device credential.
    Device,
    /// A code sent over WhatsApp.
    Whatsapp,
}

/// Methods offered when an action configuration names none: the ones the
/// hosted challenge page can complete by itself.
pub const DEFAULT_METHODS: [VerificationMethod; 3] = [
    VerificationMethod::Passkey,
    VerificationMethod::AuthenticatorApp,
    VerificationMethod::EmailOtp,
];

impl VerificationMethod {
    /// Whether a server-side enrollment (`POST /v1/users/{id}/authenticators`)
    /// can create this method from a verified email address or phone number.
    pub fn enrollable_by_server(self) -> bool {
        matches!(
            self,
            VerificationMethod::EmailOtp
                | VerificationMethod::EmailMagicLink
                | VerificationMethod::Sms
                | VerificationMethod::Whatsapp
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn wire_names_match_the_sdk() {
        let names: Vec<String> = [
            VerificationMethod::EmailOtp,
            VerificationMethod::AuthenticatorApp,
            VerificationMethod::PalmBiometricsRr,
            VerificationMethod::SecurityKey,
        ]
        .iter()
        .map(|m| serde_json::to_string(m).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "\"EMAIL_OTP\"",
                "\"AUTHENTICATOR_APP\"",
                "\"PALM_BIOMETRICS_RR\"",
                "\"SECURITY_KEY\""
            ]
        );
    }
}
