//! Verifying what the browser answers: client data, flags, the
//! attestation of a registration and the signature of an assertion.

use super::auth_data::{
    AuthData, FLAG_BE, FLAG_BS, FLAG_UP, FLAG_UV, aaguid_string, parse_attestation, parse_auth_data,
};
use super::cose::{cose_public_key, verify_signature};
use super::wire::{
    Assertion, AuthenticationResponse, RegistrationResponse, RelyingParty, StoredCredential,
    UserVerification, WebAuthnError, decode, malformed, sha256,
};
use crate::encoding::b64url;
use serde::Deserialize;

/// What a ceremony must match.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The relying party.
    pub rp: &'a RelyingParty,
    /// The challenge issued for it.
    pub challenge: &'a [u8],
    /// Whether the UV flag is required.
    pub user_verification: UserVerification,
}

#[derive(Deserialize)]
pub(crate) struct ClientData {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) challenge: String,
    pub(crate) origin: String,
}

/// Check `clientDataJSON`; return its SHA-256.
pub(crate) fn check_client_data(
    encoded: &str,
    expected_type: &'static str,
    exp: &Expected<'_>,
) -> Result<[u8; 32], WebAuthnError> {
    let bytes = decode(encoded, "clientDataJSON")?;
    let cd: ClientData =
        serde_json::from_slice(&bytes).map_err(|e| malformed(format!("clientDataJSON: {e}")))?;
    if cd.kind != expected_type {
        return Err(WebAuthnError::WrongType {
            found: cd.kind,
            expected: expected_type,
        });
    }
    let challenge = decode(&cd.challenge, "clientDataJSON.challenge")?;
    if !crate::auth::basic::secrets_equal(&challenge, exp.challenge) {
        return Err(WebAuthnError::ChallengeMismatch);
    }
    if !exp.rp.origins.iter().any(|o| o == &cd.origin) {
        return Err(WebAuthnError::OriginNotAllowed(cd.origin));
    }
    Ok(sha256(&bytes))
}

pub(crate) fn check_flags(ad: &AuthData, exp: &Expected<'_>) -> Result<(), WebAuthnError> {
    if !crate::auth::basic::secrets_equal(&ad.rp_id_hash, &sha256(exp.rp.id.as_bytes())) {
        return Err(WebAuthnError::RpIdMismatch(exp.rp.id.clone()));
    }
    if ad.flags & FLAG_UP == 0 {
        return Err(WebAuthnError::UserNotPresent);
    }
    if exp.user_verification == UserVerification::Required && ad.flags & FLAG_UV == 0 {
        return Err(WebAuthnError::UserNotVerified);
    }
    Ok(())
}

pub(crate) fn check_ids(id: &str, raw_id: &str, kind: &str) -> Result<Vec<u8>, WebAuthnError> {
    if kind != "public-key" {
        return Err(malformed(format!(
            "type is {kind:?}, expected \"public-key\""
        )));
    }
    let raw = decode(raw_id, "rawId")?;
    if decode(id, "id")? != raw {
        return Err(malformed("id and rawId differ"));
    }
    Ok(raw)
}

/// Verify a registration and return the credential to store.
///
/// # Errors
/// The [`WebAuthnError`] naming the first check that failed.
pub fn verify_registration(
    resp: &RegistrationResponse,
    exp: &Expected<'_>,
) -> Result<StoredCredential, WebAuthnError> {
    let raw_id = check_ids(&resp.id, &resp.raw_id, &resp.kind)?;
    let client_hash = check_client_data(&resp.response.client_data_json, "webauthn.create", exp)?;
    let att = decode(&resp.response.attestation_object, "attestationObject")?;
    let object = parse_attestation(&att)?;
    let ad = parse_auth_data(object.auth_data)?;
    check_flags(&ad, exp)?;
    let Some(cred) = ad.attested else {
        return Err(malformed("no attested credential data (AT flag)"));
    };
    if cred.credential_id != raw_id {
        return Err(WebAuthnError::CredentialMismatch);
    }
    let (alg, key) = cose_public_key(&cred.public_key_bytes)?;
    let stmt = &object.statement;
    match object.fmt {
        "none" => {
            if stmt.entries != 0 {
                return Err(malformed("attestation \"none\" with a statement"));
            }
        }
        "packed" => {
            if stmt.x5c {
                return Err(WebAuthnError::UnsupportedAttestation(
                    "packed with an attestation certificate".into(),
                ));
            }
            let Some(sig) = stmt.sig else {
                return Err(malformed("packed attestation without sig"));
            };
            // Self attestation: signed by the credential's own key.
            if stmt.alg != Some(alg) {
                return Err(WebAuthnError::BadAttestation);
            }
            let mut signed = object.auth_data.to_vec();
            signed.extend_from_slice(&client_hash);
            if !verify_signature(&key, &signed, sig) {
                return Err(WebAuthnError::BadAttestation);
            }
        }
        other => return Err(WebAuthnError::UnsupportedAttestation(other.to_owned())),
    }
    Ok(StoredCredential {
        credential_id: b64url(&raw_id),
        public_key: b64url(&cred.public_key_bytes),
        alg,
        counter: ad.counter,
        transports: resp.response.transports.clone(),
        aaguid: aaguid_string(&cred.aaguid),
        backup_eligible: ad.flags & FLAG_BE != 0,
        backup_state: ad.flags & FLAG_BS != 0,
        user_verified: ad.flags & FLAG_UV != 0,
        attestation_format: object.fmt.to_owned(),
        authenticator_attachment: resp.authenticator_attachment.clone(),
        counter_regressions: 0,
        username: None,
        display_name: None,
        user_agent: None,
    })
}

/// Verify an assertion by `stored`. `user_handle`, when given, is the
/// handle the credential must have been registered with.
///
/// # Errors
/// The [`WebAuthnError`] naming the first check that failed. A counter that
/// goes backwards is not an error here; see [`Assertion::counter_regressed`].
pub fn verify_authentication(
    resp: &AuthenticationResponse,
    exp: &Expected<'_>,
    stored: &StoredCredential,
    user_handle: Option<&[u8]>,
) -> Result<Assertion, WebAuthnError> {
    let raw_id = check_ids(&resp.id, &resp.raw_id, &resp.kind)?;
    if decode(&stored.credential_id, "stored credential id")? != raw_id {
        return Err(WebAuthnError::CredentialMismatch);
    }
    if let (Some(expected), Some(got)) = (user_handle, resp.user_handle()?)
        && expected != got.as_slice()
    {
        return Err(WebAuthnError::UserHandleMismatch);
    }
    let client_hash = check_client_data(&resp.response.client_data_json, "webauthn.get", exp)?;
    let auth_bytes = decode(&resp.response.authenticator_data, "authenticatorData")?;
    let ad = parse_auth_data(&auth_bytes)?;
    check_flags(&ad, exp)?;
    let key_bytes = decode(&stored.public_key, "stored public key")?;
    let (alg, key) = cose_public_key(&key_bytes)?;
    if alg != stored.alg {
        return Err(malformed("stored key and algorithm disagree"));
    }
    // A credential's backup eligibility never changes (WebAuthn L3 §7.2).
    if (ad.flags & FLAG_BE != 0) != stored.backup_eligible {
        return Err(malformed(
            "the backup eligibility flag changed since registration",
        ));
    }
    let signature = decode(&resp.response.signature, "signature")?;
    let mut signed = auth_bytes;
    signed.extend_from_slice(&client_hash);
    if !verify_signature(&key, &signed, &signature) {
        return Err(WebAuthnError::BadSignature);
    }
    Ok(Assertion {
        counter: ad.counter,
        counter_regressed: (ad.counter != 0 || stored.counter != 0) && ad.counter <= stored.counter,
        user_verified: ad.flags & FLAG_UV != 0,
        backup_state: ad.flags & FLAG_BS != 0,
    })
}
