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

/// The methods a user can enroll in an ActionGate deployment (`getUser`'s
/// `allowedVerificationMethods`): the ones it can send, check or register
/// itself. Recovery codes are not among them: they come with a first factor.
pub const ENROLLABLE_METHODS: [VerificationMethod; 7] = [
    VerificationMethod::Sms,
    VerificationMethod::EmailOtp,
    VerificationMethod::EmailMagicLink,
    VerificationMethod::AuthenticatorApp,
    VerificationMethod::Passkey,
    VerificationMethod::SecurityKey,
    VerificationMethod::Whatsapp,
];

/// The [`ENROLLABLE_METHODS`] a deployment can complete, given whether it
/// can send email, texts and WhatsApp messages: getUser's
/// `allowedVerificationMethods`. Authenticator apps, passkeys and security
/// keys need nothing sent.
pub fn deliverable_methods(email: bool, sms: bool, whatsapp: bool) -> Vec<VerificationMethod> {
    ENROLLABLE_METHODS
        .into_iter()
        .filter(|m| match m {
            VerificationMethod::EmailOtp | VerificationMethod::EmailMagicLink => email,
            VerificationMethod::Sms => sms,
            VerificationMethod::Whatsapp => whatsapp,
            _ => true,
        })
        .collect()
}

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

/// Problems with the method fields that action configurations and rules
/// share: a method listed twice, a default method that is not allowed (the
/// allowed ones are `methods`, or `fallback` when `methods` is empty), and a
/// prompt for anything but a passkey.
pub fn method_problems(
    methods: &[VerificationMethod],
    default: Option<VerificationMethod>,
    prompt: &[VerificationMethod],
    fallback: &[VerificationMethod],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, m) in methods.iter().enumerate() {
        if methods.get(..i).is_some_and(|before| before.contains(m)) {
            problems.push(format!(
                "verificationMethods[{i}]: {} is listed twice",
                name(*m)
            ));
        }
    }
    let allowed = if methods.is_empty() {
        fallback
    } else {
        methods
    };
    if let Some(d) = default
        && !allowed.is_empty()
        && !allowed.contains(&d)
    {
        problems.push(format!(
            "defaultVerificationMethod: {} is not among the allowed verificationMethods",
            name(d)
        ));
    }
    for (i, m) in prompt.iter().enumerate() {
        if *m != VerificationMethod::Passkey {
            problems.push(format!(
                "promptToEnrollVerificationMethods[{i}]: only PASSKEY can be prompted for, not {}",
                name(*m)
            ));
        }
    }
    problems
}

fn name(m: VerificationMethod) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliverable_methods_leave_out_what_cannot_be_sent() {
        use VerificationMethod as M;
        assert_eq!(
            deliverable_methods(true, true, true),
            ENROLLABLE_METHODS.to_vec()
        );
        assert_eq!(
            deliverable_methods(false, false, false),
            [M::AuthenticatorApp, M::Passkey, M::SecurityKey]
        );
        assert_eq!(
            deliverable_methods(false, true, true),
            [
                M::Sms,
                M::AuthenticatorApp,
                M::Passkey,
                M::SecurityKey,
                M::Whatsapp
            ]
        );
        assert_eq!(
            deliverable_methods(true, false, false),
            [
                M::EmailOtp,
                M::EmailMagicLink,
                M::AuthenticatorApp,
                M::Passkey,
                M::SecurityKey
            ]
        );
    }
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
