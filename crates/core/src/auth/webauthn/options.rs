//! The options a browser needs for a ceremony
//! (`navigator.credentials.create` / `.get`).

use super::wire::{
    CEREMONY_TTL_SECS, RelyingParty, SUPPORTED_ALGORITHMS, StoredCredential, UserVerification,
};
use crate::auth::methods::VerificationMethod;
use crate::encoding::b64url;
use serde_json::{Value, json};

/// The user a credential is created for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntity<'a> {
    /// `user.id`: returned as `userHandle` by discoverable credentials.
    pub handle: &'a [u8],
    /// Account name shown by the authenticator.
    pub name: &'a str,
    /// Friendly name.
    pub display_name: &'a str,
}

pub(crate) fn descriptor(c: &StoredCredential) -> Value {
    let mut d = json!({"type": "public-key", "id": c.credential_id});
    if !c.transports.is_empty()
        && let Some(o) = d.as_object_mut()
    {
        o.insert("transports".into(), json!(c.transports));
    }
    d
}

/// `PublicKeyCredentialCreationOptionsJSON`. A passkey is a discoverable
/// credential (resident key required) on any authenticator; a security key
/// is a roaming one (`cross-platform`).
pub fn creation_options(
    rp: &RelyingParty,
    user: &UserEntity<'_>,
    challenge: &[u8],
    exclude: &[&StoredCredential],
    uv: UserVerification,
    method: VerificationMethod,
    attachment: Option<&str>,
) -> Value {
    let security_key = method == VerificationMethod::SecurityKey;
    let mut selection = json!({
        "residentKey": if security_key { "preferred" } else { "required" },
        "requireResidentKey": !security_key,
        "userVerification": uv.as_str(),
    });
    let attachment = if security_key {
        Some("cross-platform")
    } else {
        attachment.filter(|a| matches!(*a, "platform" | "cross-platform"))
    };
    if let (Some(a), Some(o)) = (attachment, selection.as_object_mut()) {
        o.insert("authenticatorAttachment".into(), json!(a));
    }
    json!({
        "rp": {"id": rp.id, "name": rp.name},
        "user": {"id": b64url(user.handle), "name": user.name, "displayName": user.display_name},
        "challenge": b64url(challenge),
        "pubKeyCredParams": SUPPORTED_ALGORITHMS
            .iter()
            .map(|alg| json!({"type": "public-key", "alg": alg}))
            .collect::<Vec<_>>(),
        "timeout": CEREMONY_TTL_SECS * 1000,
        "excludeCredentials": exclude.iter().map(|c| descriptor(c)).collect::<Vec<_>>(),
        "authenticatorSelection": selection,
        "attestation": "none",
        "extensions": {"credProps": true},
    })
}

/// `PublicKeyCredentialRequestOptionsJSON`; an empty `allow` lets the user
/// pick any passkey of this RP (discoverable credentials).
pub fn request_options(
    rp: &RelyingParty,
    challenge: &[u8],
    allow: &[&StoredCredential],
    uv: UserVerification,
) -> Value {
    json!({
        "rpId": rp.id,
        "challenge": b64url(challenge),
        "timeout": CEREMONY_TTL_SECS * 1000,
        "allowCredentials": allow.iter().map(|c| descriptor(c)).collect::<Vec<_>>(),
        "userVerification": uv.as_str(),
    })
}
