//! The user: their profile and authenticators, as stored in their Durable
//! Object and as the Server API shows and changes them.
//!
//! Request types ignore fields they do not know, as Authsignal's API does
//! (read with `crate::error::parse_wire`, which names them for the log);
//! response types carry the fields the official SDKs read, in camelCase.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::auth::methods::VerificationMethod;
use crate::time::{Millis, to_rfc3339};

/// A user's profile, stored in their Durable Object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email address was verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Phone number (E.164).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Whether the phone number was verified.
    #[serde(default)]
    pub phone_number_verified: bool,
    /// Username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free-form attributes for rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Map<String, Value>>,
    /// Preferred locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// When the user was first seen.
    #[serde(default)]
    pub created_at: Millis,
    /// When the profile last changed.
    #[serde(default)]
    pub updated_at: Millis,
}

/// What the user directory holds of a user (the shell's `directory`: a
/// table across users, to find them by email, phone number, username or
/// id): the fields users are found by, and when the profile last changed,
/// which orders writes (an older one never overwrites a newer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryEntry {
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether it was verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Whether it was verified.
    #[serde(default)]
    pub phone_number_verified: bool,
    /// Username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// When the profile last changed (or the user was deleted).
    pub updated_at: Millis,
    /// The user was deleted (the row stays as a marker, so that a late
    /// write from before the deletion cannot bring it back).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl DirectoryEntry {
    /// The same fields, whenever each was written.
    pub fn same_fields(&self, other: &DirectoryEntry) -> bool {
        DirectoryEntry {
            updated_at: 0,
            ..self.clone()
        } == DirectoryEntry {
            updated_at: 0,
            ..other.clone()
        }
    }
}

impl UserRecord {
    /// What the user directory holds of this profile.
    pub fn directory_entry(&self) -> DirectoryEntry {
        DirectoryEntry {
            email: self.email.clone(),
            email_verified: self.email_verified,
            phone_number: self.phone_number.clone(),
            phone_number_verified: self.phone_number_verified,
            username: self.username.clone(),
            updated_at: self.updated_at,
            deleted: false,
        }
    }
}

fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `PATCH /v1/users/{userId}`: a field that is absent is left as it
/// is; a field set to `null` is cleared.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPatch {
    /// Email address.
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<String>>,
    /// Whether the email was verified.
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// Phone number.
    #[serde(default, deserialize_with = "present")]
    pub phone_number: Option<Option<String>>,
    /// Whether the phone number was verified.
    #[serde(default)]
    pub phone_number_verified: Option<bool>,
    /// Username.
    #[serde(default, deserialize_with = "present")]
    pub username: Option<Option<String>>,
    /// Display name.
    #[serde(default, deserialize_with = "present")]
    pub display_name: Option<Option<String>>,
    /// Custom attributes (replaced as a whole).
    #[serde(default, deserialize_with = "present")]
    pub custom: Option<Option<Map<String, Value>>>,
    /// Locale.
    #[serde(default, deserialize_with = "present")]
    pub locale: Option<Option<String>>,
}

impl UserPatch {
    /// Apply to `user`, changing only the fields present.
    pub fn apply(self, user: &mut UserRecord) {
        fn set<T>(slot: &mut Option<T>, v: Option<Option<T>>) {
            if let Some(v) = v {
                *slot = v;
            }
        }
        if let Some(e) = &self.email
            && *e != user.email
        {
            user.email_verified = false;
        }
        if let Some(p) = &self.phone_number
            && *p != user.phone_number
        {
            user.phone_number_verified = false;
        }
        set(&mut user.email, self.email);
        set(&mut user.phone_number, self.phone_number);
        set(&mut user.username, self.username);
        set(&mut user.display_name, self.display_name);
        set(&mut user.custom, self.custom);
        set(&mut user.locale, self.locale);
        if let Some(v) = self.email_verified {
            user.email_verified = v;
        }
        if let Some(v) = self.phone_number_verified {
            user.phone_number_verified = v;
        }
    }
}

/// An enrolled authenticator. Method-specific secrets live in `secret`,
/// which is never serialised into a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authenticator {
    /// Its id (UUID).
    pub user_authenticator_id: String,
    /// Its method.
    pub verification_method: VerificationMethod,
    /// When it was enrolled.
    pub created_at: Millis,
    /// When it was verified (for server enrollment: at creation).
    #[serde(default)]
    pub verified_at: Option<Millis>,
    /// When it last completed a challenge.
    #[serde(default)]
    pub last_verified_at: Option<Millis>,
    /// Email it sends to.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number it sends to.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// Whether it is the user's preferred method.
    #[serde(default)]
    pub is_default: bool,
    /// Method-specific secret material (TOTP seed, passkey public key).
    #[serde(default)]
    pub secret: Option<Value>,
}

/// The SDK's `UserAuthenticator`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorView {
    /// Owner.
    pub user_id: String,
    /// Id.
    pub user_authenticator_id: String,
    /// Method.
    pub verification_method: VerificationMethod,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_verified_at: Option<String>,
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Preferred method.
    pub is_default: bool,
    /// Passkeys and security keys: the user name they were created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Passkeys and security keys: the display name they were created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Passkeys and security keys: the credential (no key material).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webauthn_credential: Option<Value>,
}

impl Authenticator {
    /// The response shape, without secrets.
    pub fn view(&self, user_id: &str) -> AuthenticatorView {
        let credential = self.stored_credential();
        AuthenticatorView {
            user_id: user_id.to_owned(),
            user_authenticator_id: self.user_authenticator_id.clone(),
            verification_method: self.verification_method,
            created_at: to_rfc3339(self.created_at),
            verified_at: self.verified_at.map(to_rfc3339),
            last_verified_at: self.last_verified_at.map(to_rfc3339),
            email: self.email.clone(),
            phone_number: self.phone_number.clone(),
            is_default: self.is_default,
            username: credential.as_ref().and_then(|c| c.username.clone()),
            display_name: credential.as_ref().and_then(|c| c.display_name.clone()),
            webauthn_credential: credential.as_ref().map(|c| self.webauthn_view(c)),
        }
    }

    /// A passkey's or security key's stored credential.
    fn stored_credential(&self) -> Option<crate::auth::webauthn::StoredCredential> {
        if !matches!(
            self.verification_method,
            VerificationMethod::Passkey | VerificationMethod::SecurityKey
        ) {
            return None;
        }
        crate::encoding::from_value(self.secret.as_ref()?).ok()
    }

    /// The SDK's `webauthnCredential` for a passkey or security key, plus
    /// what ActionGate records about it (counter, transports, backup
    /// eligibility, counter regressions).
    fn webauthn_view(&self, c: &crate::auth::webauthn::StoredCredential) -> Value {
        let name = if self.verification_method == VerificationMethod::SecurityKey {
            "Security key"
        } else {
            "Passkey"
        };
        let mut view = serde_json::json!({
            "credentialId": c.credential_id,
            "deviceId": "",
            "name": name,
            "aaguid": c.aaguid,
            "credentialBackedUp": c.backup_state,
            "credentialDeviceType": if c.backup_eligible { "multiDevice" } else { "singleDevice" },
            "authenticatorAttachment": c.authenticator_attachment,
            "verifiedAt": self.verified_at.map(to_rfc3339),
            "algorithm": c.alg,
            "signCount": c.counter,
            "transports": c.transports,
            "backupEligible": c.backup_eligible,
            "userVerified": c.user_verified,
            "attestationFormat": c.attestation_format,
            "counterRegressions": c.counter_regressions,
        });
        // The browser that registered it, when it said.
        if let (Some(o), Some(ua)) = (view.as_object_mut(), c.user_agent.as_deref()) {
            o.insert(
                "parsedUserAgent".into(),
                serde_json::to_value(crate::user_agent::parse(ua)).unwrap_or_default(),
            );
        }
        view
    }
}

/// Body of `POST /v1/users/{userId}/authenticators` (`enrollVerifiedAuthenticator`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollAuthenticatorRequest {
    /// Method to enroll: EMAIL_OTP, EMAIL_MAGIC_LINK, SMS or WHATSAPP.
    pub verification_method: VerificationMethod,
    /// Email for the email methods.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number for SMS and WhatsApp.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// Make it the preferred method.
    #[serde(default)]
    pub is_default: Option<bool>,
}

/// The SDK's `GetUserResponse`, plus the user id.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// The user id.
    pub user_id: String,
    /// Whether the user has any authenticator.
    pub is_enrolled: bool,
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Email verified.
    pub email_verified: bool,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Phone verified.
    pub phone_number_verified: bool,
    /// Username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Custom attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<Map<String, Value>>,
    /// Locale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Enrolled methods.
    pub enrolled_verification_methods: Vec<VerificationMethod>,
    /// Methods the user may enroll (see
    /// [`crate::auth::methods::ENROLLABLE_METHODS`]).
    pub allowed_verification_methods: Vec<VerificationMethod>,
    /// The method of the user's default authenticator, once there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_verification_method: Option<VerificationMethod>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::parse_json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn user_patch_distinguishes_absent_from_null() {
        let mut u = UserRecord {
            email: Some("a@b.c".into()),
            email_verified: true,
            username: Some("al".into()),
            ..Default::default()
        };
        let p: UserPatch = parse_json(br#"{"username":null,"displayName":"Al"}"#).unwrap();
        p.apply(&mut u);
        assert_eq!(u.email.as_deref(), Some("a@b.c"));
        assert!(u.email_verified);
        assert_eq!(u.username, None);
        assert_eq!(u.display_name.as_deref(), Some("Al"));
    }

    #[test]
    fn changing_the_email_clears_its_verification() {
        let mut u = UserRecord {
            email: Some("a@b.c".into()),
            email_verified: true,
            ..Default::default()
        };
        let p: UserPatch = parse_json(br#"{"email":"new@b.c"}"#).unwrap();
        p.apply(&mut u);
        assert!(!u.email_verified);
    }

    #[test]
    fn authenticator_view_has_no_secret() {
        let a = Authenticator {
            user_authenticator_id: "id".into(),
            verification_method: VerificationMethod::AuthenticatorApp,
            created_at: 0,
            verified_at: None,
            last_verified_at: None,
            email: None,
            phone_number: None,
            is_default: false,
            secret: Some(serde_json::json!({"seed": "TOPSECRET"})),
        };
        let json = serde_json::to_string(&a.view("u")).unwrap();
        assert!(!json.contains("TOPSECRET"));
        assert!(json.contains("\"verificationMethod\":\"AUTHENTICATOR_APP\""));
    }
}
