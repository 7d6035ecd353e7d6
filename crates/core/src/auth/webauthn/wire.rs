//! What a ceremony exchanges with the browser and the app: the relying party,
//! user verification, the browser's answers, a stored credential, an
//! assertion's result, and what can go wrong.

use serde::{Deserialize, Serialize};

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
    /// The user name it was created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The display name it was created with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The `User-Agent` of the browser that registered it (at most
    /// [`crate::user_agent::MAX_LEN`] bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
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

pub(crate) fn malformed(what: impl Into<String>) -> WebAuthnError {
    WebAuthnError::Malformed(what.into())
}

/// Decode base64url, with or without padding.
pub(crate) fn decode(s: &str, what: &str) -> Result<Vec<u8>, WebAuthnError> {
    use ct_codecs::{Base64UrlSafeNoPadding, Decoder as _};
    Base64UrlSafeNoPadding::decode_to_vec(s.trim_end_matches('='), None)
        .map_err(|_| malformed(format!("{what} is not base64url")))
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    hmac_sha256::Hash::hash(data)
}
