//! WebAuthn (passkeys and security keys), relying-party side: the options a
//! browser needs for a ceremony, and the verification of what it answers.
//!
//! Registration (`navigator.credentials.create`) yields a credential: its id
//! and COSE public key, checked against the challenge we issued, the
//! relying party id and origins, the flags (user present, user verified when
//! required), and the attestation statement (`none`, or `packed`
//! self-attestation signed by the new key itself; we ask for `none`, which
//! browsers honour). Authentication (`navigator.credentials.get`) is checked
//! the same way, plus the assertion signature over
//! `authenticatorData ‖ SHA-256(clientDataJSON)` and the signature counter.
//!
//! Algorithms: ES256 (P-256), EdDSA (Ed25519) and RS256 (RSA PKCS#1 v1.5,
//! 2048 to 4096 bits). CBOR is decoded with `ciborium`, COSE keys with
//! `coset`, signatures with `p256`, `ed25519-compact` and `rsa` — the same
//! crates the JWT verification of the edge proxy links, all pure Rust.
//!
//! The binary layout of `authenticatorData` (WebAuthn §6.1) is read here: 32
//! bytes rpIdHash, 1 byte flags, 4 bytes counter, then the attested
//! credential (AAGUID, id length, id, COSE key) and extensions when flagged.
//!
//! Challenges are not kept between the two steps of a ceremony: the options
//! step seals them, with what they are for, into a `challengeId` that only
//! this deployment can mint ([`CeremonyKeys`]); the user's store records each
//! challenge once used, so it verifies once ([`crate::store::UserStore::consume_challenge`]).

use ciborium::value::Value as Cbor;
use coset::{
    CborSerializable as _, CoseKey, Label, RegisteredLabel, RegisteredLabelWithPrivate, iana,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::methods::VerificationMethod;
use crate::encoding::b64url;

/// COSE algorithm ids we accept, in order of preference.
pub const ALG_EDDSA: i64 = -8;
/// ECDSA with P-256 and SHA-256.
pub const ALG_ES256: i64 = -7;
/// RSASSA-PKCS1-v1_5 with SHA-256.
pub const ALG_RS256: i64 = -257;
/// What registration options offer.
pub const SUPPORTED_ALGORITHMS: [i64; 3] = [ALG_EDDSA, ALG_ES256, ALG_RS256];
/// How long a ceremony may take, in seconds (also the browser's timeout).
pub const CEREMONY_TTL_SECS: u64 = 300;

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;
const FLAG_ED: u8 = 0x80;

/// The relying party: the id credentials are scoped to (a registrable
/// domain of the pages that run ceremonies) and the exact origins allowed
/// to run them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelyingParty {
    /// RP id, e.g. `example.com`.
    pub id: String,
    /// Name shown by some authenticators.
    pub name: String,
    /// Allowed origins, e.g. `https://auth.example.com`.
    pub origins: Vec<String>,
}

/// WebAuthn's `userVerification` requirement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserVerification {
    /// The authenticator must verify the user (PIN, biometrics); checked.
    Required,
    /// Verify when the authenticator can; not enforced.
    #[default]
    Preferred,
    /// Do not verify.
    Discouraged,
}

impl UserVerification {
    /// The JSON value in options.
    pub fn as_str(self) -> &'static str {
        match self {
            UserVerification::Required => "required",
            UserVerification::Preferred => "preferred",
            UserVerification::Discouraged => "discouraged",
        }
    }
}

/// `RegistrationResponseJSON` as `@simplewebauthn/browser` sends it. Fields
/// the verification does not need are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponse {
    /// Credential id, base64url.
    pub id: String,
    /// Credential id, base64url.
    pub raw_id: String,
    /// `public-key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The authenticator's answer.
    pub response: AttestationResponse,
    /// `platform` or `cross-platform`, when the browser says.
    #[serde(default)]
    pub authenticator_attachment: Option<String>,
}

/// `AuthenticatorAttestationResponseJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AttestationResponse {
    /// base64url.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// base64url CBOR.
    #[serde(rename = "attestationObject")]
    pub attestation_object: String,
    /// How the authenticator can be reached (`internal`, `usb`, `hybrid`, …).
    #[serde(default)]
    pub transports: Vec<String>,
}

/// `AuthenticationResponseJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponse {
    /// Credential id, base64url.
    pub id: String,
    /// Credential id, base64url.
    pub raw_id: String,
    /// `public-key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The authenticator's answer.
    pub response: AssertionResponse,
}

/// `AuthenticatorAssertionResponseJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AssertionResponse {
    /// base64url.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// base64url.
    #[serde(rename = "authenticatorData")]
    pub authenticator_data: String,
    /// base64url.
    pub signature: String,
    /// base64url; the `user.id` given at registration (discoverable credentials).
    #[serde(rename = "userHandle", default)]
    pub user_handle: Option<String>,
}

impl AuthenticationResponse {
    /// The user handle, decoded, if the authenticator returned one.
    ///
    /// # Errors
    /// [`WebAuthnError::Malformed`] when it is not base64url.
    pub fn user_handle(&self) -> Result<Option<Vec<u8>>, WebAuthnError> {
        self.response
            .user_handle
            .as_deref()
            .filter(|h| !h.is_empty())
            .map(|h| decode(h, "userHandle"))
            .transpose()
    }
}

/// A credential as stored with the user's authenticator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCredential {
    /// Credential id, base64url.
    pub credential_id: String,
    /// COSE_Key, base64url.
    pub public_key: String,
    /// COSE algorithm id.
    pub alg: i64,
    /// Last signature counter seen.
    pub counter: u32,
    /// Transports the browser reported.
    #[serde(default)]
    pub transports: Vec<String>,
    /// Authenticator model (all zeros when not attested).
    pub aaguid: String,
    /// Whether the credential may be backed up (synced passkey).
    pub backup_eligible: bool,
    /// Whether it is backed up, as of its last use.
    pub backup_state: bool,
    /// Whether the user was verified at registration.
    pub user_verified: bool,
    /// Attestation statement format (`none`, `packed`).
    pub attestation_format: String,
    /// `platform` or `cross-platform`, when known.
    #[serde(default)]
    pub authenticator_attachment: Option<String>,
    /// Times a signature counter went backwards (a possible clone).
    #[serde(default)]
    pub counter_regressions: u32,
}

/// What an assertion proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assertion {
    /// The counter the authenticator reported.
    pub counter: u32,
    /// Whether it failed to increase over the stored one (both non-zero).
    pub counter_regressed: bool,
    /// UV flag.
    pub user_verified: bool,
    /// BS flag.
    pub backup_state: bool,
}

/// Why a ceremony was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebAuthnError {
    /// Undecodable or structurally wrong data.
    #[error("the credential is malformed: {0}")]
    Malformed(String),
    /// `clientDataJSON.type` is not the ceremony's.
    #[error("clientDataJSON.type is {found:?}, expected {expected:?}")]
    WrongType {
        /// What came.
        found: String,
        /// What the ceremony needs.
        expected: &'static str,
    },
    /// Signed over another challenge.
    #[error("the challenge does not match the one issued")]
    ChallengeMismatch,
    /// The browser ran the ceremony on a page we do not trust.
    #[error("origin {0:?} is not allowed")]
    OriginNotAllowed(String),
    /// The credential is scoped to another RP id.
    #[error("the credential is not for relying party {0:?}")]
    RpIdMismatch(String),
    /// UP flag missing.
    #[error("the authenticator did not confirm user presence")]
    UserNotPresent,
    /// UV flag missing where required.
    #[error("user verification is required and the authenticator did not verify the user")]
    UserNotVerified,
    /// An attestation format we do not verify.
    #[error("attestation format {0:?} is not supported; request attestation \"none\"")]
    UnsupportedAttestation(String),
    /// The attestation signature does not verify.
    #[error("the attestation signature is invalid")]
    BadAttestation,
    /// A key type or algorithm we do not accept.
    #[error("unsupported public key: {0}")]
    UnsupportedKey(String),
    /// The assertion signature does not verify.
    #[error("the signature is invalid")]
    BadSignature,
    /// The response is for another credential.
    #[error("the response is for another credential")]
    CredentialMismatch,
    /// The credential belongs to another user.
    #[error("the passkey belongs to another user")]
    UserHandleMismatch,
    /// The counter went backwards and the deployment rejects that.
    #[error(
        "the signature counter went backwards (stored {stored}, received {received}); the authenticator may be cloned"
    )]
    CounterRegression {
        /// Counter we had.
        stored: u32,
        /// Counter received.
        received: u32,
    },
    /// The `challengeId` was not minted here, or is damaged.
    #[error("the challengeId is not valid")]
    InvalidChallengeId,
    /// The ceremony took too long.
    #[error("the challenge has expired; start again")]
    ChallengeExpired,
    /// The challenge was already used.
    #[error("the challenge was already used; start again")]
    ChallengeReused,
    /// No such credential for this user.
    #[error("this passkey is not registered")]
    UnknownCredential,
    /// The credential is already registered.
    #[error("this passkey is already registered")]
    DuplicateCredential,
}

impl WebAuthnError {
    /// Stable error code for the Client API.
    pub fn code(&self) -> &'static str {
        match self {
            WebAuthnError::ChallengeExpired => "expired_challenge",
            WebAuthnError::InvalidChallengeId | WebAuthnError::ChallengeReused => {
                "invalid_challenge"
            }
            WebAuthnError::UnknownCredential => "unknown_credential",
            WebAuthnError::DuplicateCredential => "credential_exists",
            _ => "invalid_credential",
        }
    }
}

fn malformed(what: impl Into<String>) -> WebAuthnError {
    WebAuthnError::Malformed(what.into())
}

/// Decode base64url, with or without padding.
fn decode(s: &str, what: &str) -> Result<Vec<u8>, WebAuthnError> {
    use ct_codecs::{Base64UrlSafeNoPadding, Decoder as _};
    Base64UrlSafeNoPadding::decode_to_vec(s.trim_end_matches('='), None)
        .map_err(|_| malformed(format!("{what} is not base64url")))
}

fn sha256(data: &[u8]) -> [u8; 32] {
    hmac_sha256::Hash::hash(data)
}

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
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
}

/// Check `clientDataJSON`; return its SHA-256.
fn check_client_data(
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

/// The parts of `authenticatorData` the ceremonies check.
struct AuthData {
    rp_id_hash: [u8; 32],
    flags: u8,
    counter: u32,
    attested: Option<AttestedCredential>,
}

struct AttestedCredential {
    aaguid: [u8; 16],
    credential_id: Vec<u8>,
    public_key: Cbor,
    public_key_bytes: Vec<u8>,
}

fn take<'a>(bytes: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], WebAuthnError> {
    if bytes.len() < n {
        return Err(malformed(format!(
            "authenticatorData is too short for {what}"
        )));
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Ok(head)
}

fn read_cbor(bytes: &mut &[u8], what: &str) -> Result<Cbor, WebAuthnError> {
    ciborium::de::from_reader(bytes).map_err(|e| malformed(format!("{what}: {e}")))
}

fn parse_auth_data(data: &[u8]) -> Result<AuthData, WebAuthnError> {
    let mut rest = data;
    let mut rp_id_hash = [0u8; 32];
    rp_id_hash.copy_from_slice(take(&mut rest, 32, "rpIdHash")?);
    let flags = *take(&mut rest, 1, "flags")?
        .first()
        .ok_or_else(|| malformed("flags"))?;
    let mut counter = [0u8; 4];
    counter.copy_from_slice(take(&mut rest, 4, "signCount")?);
    if flags & FLAG_BS != 0 && flags & FLAG_BE == 0 {
        return Err(malformed(
            "backup state set on a credential that cannot be backed up",
        ));
    }
    let attested = if flags & FLAG_AT != 0 {
        let mut aaguid = [0u8; 16];
        aaguid.copy_from_slice(take(&mut rest, 16, "aaguid")?);
        let len = take(&mut rest, 2, "credentialIdLength")?;
        let len = usize::from(u16::from_be_bytes([
            *len.first().unwrap_or(&0),
            *len.get(1).unwrap_or(&0),
        ]));
        if len == 0 || len > 1023 {
            return Err(malformed("credential id length out of range"));
        }
        let credential_id = take(&mut rest, len, "credentialId")?.to_vec();
        let before = rest;
        let public_key = read_cbor(&mut rest, "credentialPublicKey")?;
        let used = before.len() - rest.len();
        Some(AttestedCredential {
            aaguid,
            credential_id,
            public_key,
            public_key_bytes: before.get(..used).unwrap_or_default().to_vec(),
        })
    } else {
        None
    };
    if flags & FLAG_ED != 0 {
        // Extension outputs: decoded to check the structure, not used.
        read_cbor(&mut rest, "extensions")?;
    }
    if !rest.is_empty() {
        return Err(malformed("trailing bytes in authenticatorData"));
    }
    Ok(AuthData {
        rp_id_hash,
        flags,
        counter: u32::from_be_bytes(counter),
        attested,
    })
}

fn check_flags(ad: &AuthData, exp: &Expected<'_>) -> Result<(), WebAuthnError> {
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

/// A public key ready to verify signatures.
enum PublicKey {
    Es256(Box<p256::ecdsa::VerifyingKey>),
    Ed25519(ed25519_compact::PublicKey),
    Rs256(Box<rsa::RsaPublicKey>),
}

fn param(key: &CoseKey, label: i64) -> Option<&Cbor> {
    key.params
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v)
}

fn bytes_param<'a>(key: &'a CoseKey, label: i64, name: &str) -> Result<&'a [u8], WebAuthnError> {
    match param(key, label) {
        Some(Cbor::Bytes(b)) => Ok(b),
        _ => Err(WebAuthnError::UnsupportedKey(format!("missing {name}"))),
    }
}

/// The algorithm and key of a COSE_Key. The key type, curve and algorithm
/// must agree.
fn cose_public_key(value: Cbor) -> Result<(i64, PublicKey), WebAuthnError> {
    let key = <CoseKey as coset::AsCborValue>::from_cbor_value(value)
        .map_err(|e| WebAuthnError::UnsupportedKey(format!("COSE_Key: {e}")))?;
    let alg = match &key.alg {
        Some(RegisteredLabelWithPrivate::Assigned(a)) => *a as i64,
        _ => return Err(WebAuthnError::UnsupportedKey("no algorithm".into())),
    };
    let crv = match param(&key, -1) {
        Some(Cbor::Integer(i)) => i64::try_from(*i).ok(),
        _ => None,
    };
    let pk = match (&key.kty, alg) {
        (RegisteredLabel::Assigned(iana::KeyType::EC2), ALG_ES256) => {
            if crv != Some(iana::EllipticCurve::P_256 as i64) {
                return Err(WebAuthnError::UnsupportedKey(
                    "ES256 needs curve P-256".into(),
                ));
            }
            let x = bytes_param(&key, -2, "x")?;
            let y = bytes_param(&key, -3, "y")?;
            if x.len() != 32 || y.len() != 32 {
                return Err(WebAuthnError::UnsupportedKey(
                    "P-256 coordinates must be 32 bytes".into(),
                ));
            }
            let mut sec1 = Vec::with_capacity(65);
            sec1.push(0x04);
            sec1.extend_from_slice(x);
            sec1.extend_from_slice(y);
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map_err(|_| WebAuthnError::UnsupportedKey("not a point on P-256".into()))?;
            PublicKey::Es256(Box::new(vk))
        }
        (RegisteredLabel::Assigned(iana::KeyType::OKP), ALG_EDDSA) => {
            if crv != Some(iana::EllipticCurve::Ed25519 as i64) {
                return Err(WebAuthnError::UnsupportedKey(
                    "EdDSA needs curve Ed25519".into(),
                ));
            }
            let x = bytes_param(&key, -2, "x")?;
            let pk = ed25519_compact::PublicKey::from_slice(x).map_err(|_| {
                WebAuthnError::UnsupportedKey("Ed25519 key must be 32 bytes".into())
            })?;
            PublicKey::Ed25519(pk)
        }
        (RegisteredLabel::Assigned(iana::KeyType::RSA), ALG_RS256) => {
            let n = bytes_param(&key, -1, "n")?;
            let e = bytes_param(&key, -2, "e")?;
            let n = rsa::BigUint::from_bytes_be(n);
            if !(2048..=4096).contains(&n.bits()) {
                return Err(WebAuthnError::UnsupportedKey(
                    "RSA keys must be 2048 to 4096 bits".into(),
                ));
            }
            let pk = rsa::RsaPublicKey::new(n, rsa::BigUint::from_bytes_be(e))
                .map_err(|e| WebAuthnError::UnsupportedKey(format!("RSA key: {e}")))?;
            PublicKey::Rs256(Box::new(pk))
        }
        (kty, alg) => {
            return Err(WebAuthnError::UnsupportedKey(format!(
                "key type {kty:?} with algorithm {alg}; accepted: ES256, EdDSA, RS256"
            )));
        }
    };
    Ok((alg, pk))
}

fn verify_signature(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    match key {
        PublicKey::Es256(vk) => {
            use p256::ecdsa::signature::Verifier as _;
            p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| vk.verify(message, &sig).is_ok())
        }
        PublicKey::Ed25519(pk) => ed25519_compact::Signature::from_slice(signature)
            .is_ok_and(|sig| pk.verify(message, &sig).is_ok()),
        PublicKey::Rs256(pk) => {
            use rsa::signature::Verifier as _;
            let vk = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(pk.as_ref().clone());
            rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|sig| vk.verify(message, &sig).is_ok())
        }
    }
}

fn map_get<'a>(map: &'a [(Cbor, Cbor)], key: &str) -> Option<&'a Cbor> {
    map.iter()
        .find(|(k, _)| matches!(k, Cbor::Text(t) if t == key))
        .map(|(_, v)| v)
}

fn aaguid_string(a: &[u8; 16]) -> String {
    let hex: String = a.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8).unwrap_or(""),
        hex.get(8..12).unwrap_or(""),
        hex.get(12..16).unwrap_or(""),
        hex.get(16..20).unwrap_or(""),
        hex.get(20..32).unwrap_or("")
    )
}

fn check_ids(id: &str, raw_id: &str, kind: &str) -> Result<Vec<u8>, WebAuthnError> {
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
    let mut cursor = att.as_slice();
    let Cbor::Map(map) = read_cbor(&mut cursor, "attestationObject")? else {
        return Err(malformed("attestationObject is not a map"));
    };
    let (Some(Cbor::Text(fmt)), Some(Cbor::Map(stmt)), Some(Cbor::Bytes(auth_bytes))) = (
        map_get(&map, "fmt"),
        map_get(&map, "attStmt"),
        map_get(&map, "authData"),
    ) else {
        return Err(malformed(
            "attestationObject needs fmt, attStmt and authData",
        ));
    };
    let ad = parse_auth_data(auth_bytes)?;
    check_flags(&ad, exp)?;
    let Some(cred) = ad.attested else {
        return Err(malformed("no attested credential data (AT flag)"));
    };
    if cred.credential_id != raw_id {
        return Err(WebAuthnError::CredentialMismatch);
    }
    let (alg, key) = cose_public_key(cred.public_key)?;
    match fmt.as_str() {
        "none" => {
            if !stmt.is_empty() {
                return Err(malformed("attestation \"none\" with a statement"));
            }
        }
        "packed" => {
            if map_get(stmt, "x5c").is_some() {
                return Err(WebAuthnError::UnsupportedAttestation(
                    "packed with an attestation certificate".into(),
                ));
            }
            let stmt_alg = match map_get(stmt, "alg") {
                Some(Cbor::Integer(i)) => i64::try_from(*i).ok(),
                _ => None,
            };
            let Some(Cbor::Bytes(sig)) = map_get(stmt, "sig") else {
                return Err(malformed("packed attestation without sig"));
            };
            // Self attestation: signed by the credential's own key.
            if stmt_alg != Some(alg) {
                return Err(WebAuthnError::BadAttestation);
            }
            let mut signed = auth_bytes.clone();
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
        attestation_format: fmt.clone(),
        authenticator_attachment: resp.authenticator_attachment.clone(),
        counter_regressions: 0,
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
    let (alg, key) = cose_public_key(
        CoseKey::from_slice(&key_bytes)
            .and_then(coset::AsCborValue::to_cbor_value)
            .map_err(|e| malformed(format!("stored public key: {e}")))?,
    )?;
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

fn descriptor(c: &StoredCredential) -> Value {
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
    keys: Vec<[u8; 32]>,
}

fn derive(secret: &[u8]) -> [u8; 32] {
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

#[cfg(test)]
mod tests;
