//! Action tokens: short-lived HS256 JWTs bound to one action.
//!
//! A token names the user (`sub`), the action code and the idempotency key,
//! so it proves nothing about any other action. The header carries a key id
//! (`kid`) derived from the signing key, so a deployment can rotate keys:
//! tokens signed with the previous key keep validating until they expire.
//! Only `HS256` is accepted; `alg: none` or any other algorithm is refused
//! before a signature is looked at. Time comes from the caller.

use serde::Serialize;

use crate::auth::jws::{self, ClaimsError, Expect};
use crate::encoding::b64url;

/// Issuer claim of every action token.
pub const ISSUER: &str = "actiongate";
/// Issuer of the tokens in magic links: they open the link's confirmation
/// and nothing else (no Client API, no validate, no edge proxy), so a link
/// that leaks from a mailbox cannot be used to act for the user.
pub const LINK_ISSUER: &str = "actiongate-magic-link";
/// Shortest signing key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;

/// What a token is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionClaims {
    /// The user the action belongs to (the JWT `sub`).
    pub user_id: String,
    /// The action code.
    pub action_code: String,
    /// The action's idempotency key.
    pub idempotency_key: String,
    /// Set on the `accessToken` handed to the client that just completed a
    /// verification for this action with one of the user's authenticators:
    /// proof in that client, which adding another authenticator needs (see
    /// `service::check_may_add`). Track tokens and magic links never carry it.
    pub proved: bool,
}

/// A verified token: its claims and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The action the token is bound to.
    pub claims: ActionClaims,
    /// Expiry, in seconds since the epoch.
    pub expires_at: u64,
}

/// Why a token was refused. Each maps to a stable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS, or its JSON does not parse.
    #[error("the token is malformed")]
    Malformed,
    /// An algorithm other than HS256 (including `none`).
    #[error("the token's algorithm is not accepted")]
    UnsupportedAlgorithm,
    /// Signed with a key this deployment does not have.
    #[error("the token was not signed by this deployment")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    InvalidSignature,
    /// Past its expiry.
    #[error("the token has expired")]
    Expired,
    /// Issued in the future, wrong issuer or missing claims.
    #[error("the token's claims are not valid")]
    InvalidClaims,
}

impl TokenError {
    /// Stable error code (`expired_token`, `invalid_token`).
    pub fn code(self) -> &'static str {
        match self {
            TokenError::Expired => "expired_token",
            _ => "invalid_token",
        }
    }
}

struct SigningKey {
    kid: String,
    key: Vec<u8>,
}

/// The deployment's signing key, plus the previous one during a rotation.
pub struct TokenKeys {
    current: SigningKey,
    previous: Option<SigningKey>,
}

/// Key id derived from the key itself: the first 8 bytes of
/// SHA-256("actiongate-kid:" ‖ key), hex encoded.
pub fn key_id(secret: &[u8]) -> String {
    let mut h = hmac_sha256::Hash::new();
    h.update(b"actiongate-kid:");
    h.update(secret);
    crate::encoding::hex(h.finalize().get(..8).unwrap_or_default())
}

fn signing_key(secret: &[u8], name: &str) -> Result<SigningKey, crate::CoreError> {
    if secret.len() < MIN_KEY_LEN {
        return Err(crate::CoreError::field(
            name,
            format!("must be at least {MIN_KEY_LEN} bytes"),
        ));
    }
    let kid = key_id(secret);
    Ok(SigningKey {
        key: secret.to_vec(),
        kid,
    })
}

impl TokenKeys {
    /// Build from the current secret and, during rotation, the previous one.
    ///
    /// # Errors
    /// [`crate::CoreError::InvalidField`] when a secret is shorter than
    /// [`MIN_KEY_LEN`].
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Result<Self, crate::CoreError> {
        Ok(TokenKeys {
            current: signing_key(current, "TOKEN_SIGNING_KEY")?,
            previous: previous
                .map(|p| signing_key(p, "TOKEN_SIGNING_KEY_PREVIOUS"))
                .transpose()?,
        })
    }

    /// The key id new tokens carry.
    pub fn current_kid(&self) -> &str {
        &self.current.kid
    }

    /// Sign a token for `claims`, valid from `now_secs` for `ttl_secs`.
    ///
    /// # Errors
    /// [`crate::CoreError::Internal`] if serialisation fails.
    pub fn sign(
        &self,
        claims: &ActionClaims,
        now_secs: u64,
        ttl_secs: u64,
    ) -> Result<String, crate::CoreError> {
        self.sign_for(ISSUER, claims, now_secs, ttl_secs)
    }

    /// Sign a magic link's token (see [`LINK_ISSUER`]).
    ///
    /// # Errors
    /// [`crate::CoreError::Internal`] if serialisation fails.
    pub fn sign_link(
        &self,
        claims: &ActionClaims,
        now_secs: u64,
        ttl_secs: u64,
    ) -> Result<String, crate::CoreError> {
        self.sign_for(LINK_ISSUER, claims, now_secs, ttl_secs)
    }

    fn sign_for(
        &self,
        issuer: &str,
        claims: &ActionClaims,
        now_secs: u64,
        ttl_secs: u64,
    ) -> Result<String, crate::CoreError> {
        let header = Header {
            typ: "JWT",
            alg: "HS256",
            kid: &self.current.kid,
        };
        let payload = Payload {
            iat: now_secs,
            exp: now_secs.saturating_add(ttl_secs),
            nbf: now_secs,
            iss: issuer,
            sub: &claims.user_id,
            action_code: &claims.action_code,
            idempotency_key: &claims.idempotency_key,
            proved: claims.proved,
        };
        let json = |v: Result<Vec<u8>, serde_json::Error>| {
            v.map_err(|e| crate::CoreError::Internal(format!("token signing failed: {e}")))
        };
        let signed = format!(
            "{}.{}",
            b64url(&json(serde_json::to_vec(&header))?),
            b64url(&json(serde_json::to_vec(&payload))?)
        );
        let mac = hmac_sha256::HMAC::mac(signed.as_bytes(), &self.current.key);
        Ok(format!("{signed}.{}", b64url(&mac)))
    }

    /// Verify a token at time `now_secs` and return what it is bound to.
    ///
    /// # Errors
    /// The [`TokenError`] that explains the refusal.
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<VerifiedToken, TokenError> {
        self.verify_for(ISSUER, token, now_secs)
    }

    /// Verify a magic link's token: only those (see [`LINK_ISSUER`]).
    ///
    /// # Errors
    /// The [`TokenError`] that explains the refusal.
    pub fn verify_link(&self, token: &str, now_secs: u64) -> Result<VerifiedToken, TokenError> {
        self.verify_for(LINK_ISSUER, token, now_secs)
    }

    fn verify_for(
        &self,
        issuer: &str,
        token: &str,
        now_secs: u64,
    ) -> Result<VerifiedToken, TokenError> {
        let jws = jws::parse(token).ok_or(TokenError::Malformed)?;
        if jws.alg != "HS256" {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        let kid = jws.kid.as_deref().ok_or(TokenError::UnknownKey)?;
        let key = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.kid == kid)
            .ok_or(TokenError::UnknownKey)?;
        if jws.signature().is_none() {
            return Err(TokenError::Malformed);
        }
        if !jws.verify_hs256(&key.key) {
            return Err(TokenError::InvalidSignature);
        }
        let c = jws.claims().ok_or(TokenError::Malformed)?;
        jws::check(
            &c,
            &Expect {
                now: now_secs,
                leeway: 0,
                issuer: Some(issuer),
                audience: None,
            },
        )
        .map_err(|e| match e {
            ClaimsError::Expired => TokenError::Expired,
            ClaimsError::Malformed => TokenError::Malformed,
            ClaimsError::Invalid => TokenError::InvalidClaims,
        })?;
        let text = |name: &str| match jws::string(&c, name) {
            Ok(Some(s)) => Ok(s.to_owned()),
            _ => Err(TokenError::Malformed),
        };
        let user_id = match jws::string(&c, "sub") {
            Ok(Some(s)) => s.to_owned(),
            _ => return Err(TokenError::InvalidClaims),
        };
        let expires_at = jws::expiry(&c).ok_or(TokenError::InvalidClaims)?;
        let proved = match c.get("proved") {
            None => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(_) => return Err(TokenError::Malformed),
        };
        Ok(VerifiedToken {
            claims: ActionClaims {
                user_id,
                action_code: text("actionCode")?,
                idempotency_key: text("idempotencyKey")?,
                proved,
            },
            expires_at,
        })
    }
}

/// The header of a token signed here.
#[derive(Serialize)]
struct Header<'a> {
    typ: &'a str,
    alg: &'a str,
    kid: &'a str,
}

/// The payload of a token signed here: the registered claims, then the
/// action's.
#[derive(Serialize)]
struct Payload<'a> {
    iat: u64,
    exp: u64,
    nbf: u64,
    iss: &'a str,
    sub: &'a str,
    #[serde(rename = "actionCode")]
    action_code: &'a str,
    #[serde(rename = "idempotencyKey")]
    idempotency_key: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    proved: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_codecs::{Base64UrlSafeNoPadding, Decoder, Encoder};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const K1: &[u8] = b"0123456789abcdef0123456789abcdef";
    const K2: &[u8] = b"fedcba9876543210fedcba9876543210";
    const NOW: u64 = 1_795_380_179;

    fn claims() -> ActionClaims {
        ActionClaims {
            user_id: "alice".into(),
            action_code: "withdraw-funds".into(),
            idempotency_key: "key-1".into(),
            proved: false,
        }
    }

    fn b64(s: &[u8]) -> String {
        let mut buf = vec![0u8; s.len() * 2 + 4];
        std::str::from_utf8(Base64UrlSafeNoPadding::encode(&mut buf, s).unwrap())
            .unwrap()
            .to_owned()
    }

    fn unb64(s: &str) -> Vec<u8> {
        let mut buf = vec![0u8; s.len()];
        Base64UrlSafeNoPadding::decode(&mut buf, s.as_bytes(), None)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn round_trip_binds_user_action_and_key() {
        let keys = TokenKeys::new(K1, None).unwrap();
        let t = keys.sign(&claims(), NOW, 600).unwrap();
        let v = keys.verify(&t, NOW + 599).unwrap();
        assert_eq!(v.claims, claims());
        assert_eq!(v.expires_at, NOW + 600);
        // A track token proves nothing; an access token says so.
        assert!(!v.claims.proved);
        let proof = ActionClaims {
            proved: true,
            ..claims()
        };
        let t = keys.sign(&proof, NOW, 600).unwrap();
        assert!(keys.verify(&t, NOW).unwrap().claims.proved);
    }

    #[test]
    fn link_tokens_and_action_tokens_do_not_stand_in_for_each_other() {
        let keys = TokenKeys::new(K1, None).unwrap();
        let link = keys.sign_link(&claims(), NOW, 600).unwrap();
        assert_eq!(keys.verify_link(&link, NOW + 1).unwrap().claims, claims());
        assert!(
            keys.verify(&link, NOW + 1).is_err(),
            "a link is no bearer token"
        );
        let bearer = keys.sign(&claims(), NOW, 600).unwrap();
        assert!(
            keys.verify_link(&bearer, NOW + 1).is_err(),
            "a bearer token opens no link"
        );
        assert_eq!(
            keys.verify_link(&link, NOW + 601).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn expired_token_is_refused_with_its_own_code() {
        let keys = TokenKeys::new(K1, None).unwrap();
        let t = keys.sign(&claims(), NOW, 600).unwrap();
        let err = keys.verify(&t, NOW + 601).unwrap_err();
        assert_eq!(err, TokenError::Expired);
        assert_eq!(err.code(), "expired_token");
    }

    #[test]
    fn token_from_the_future_is_refused() {
        let keys = TokenKeys::new(K1, None).unwrap();
        let t = keys.sign(&claims(), NOW + 60, 600).unwrap();
        assert_eq!(keys.verify(&t, NOW), Err(TokenError::InvalidClaims));
    }

    #[test]
    fn foreign_key_is_refused() {
        let mine = TokenKeys::new(K1, None).unwrap();
        let theirs = TokenKeys::new(K2, None).unwrap();
        let t = theirs.sign(&claims(), NOW, 600).unwrap();
        assert_eq!(mine.verify(&t, NOW), Err(TokenError::UnknownKey));
    }

    /// The serialised custom claims, as jwt-simple reads and writes them.
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Custom {
        action_code: String,
        idempotency_key: String,
        #[serde(default)]
        proved: bool,
    }

    #[test]
    fn tokens_agree_with_a_standard_jwt_library() {
        use jwt_simple::prelude::*;
        let keys = TokenKeys::new(K1, None).unwrap();
        let theirs = HS256Key::from_bytes(K1).with_key_id(keys.current_kid());
        // Ours, read by jwt-simple.
        let ours = keys.sign(&claims(), NOW, 600).unwrap();
        let options = VerificationOptions {
            time_tolerance: Some(Duration::from_secs(0)),
            artificial_time: Some(Duration::from_secs(NOW + 10)),
            allowed_issuers: Some(HashSet::from_strings(&[ISSUER])),
            ..Default::default()
        };
        let read = theirs.verify_token::<Custom>(&ours, Some(options)).unwrap();
        assert_eq!(read.subject.as_deref(), Some("alice"));
        assert_eq!(read.custom.action_code, "withdraw-funds");
        assert_eq!(read.custom.idempotency_key, "key-1");
        assert!(!read.custom.proved);
        assert_eq!(read.expires_at.unwrap().as_secs(), NOW + 600);
        // jwt-simple's, read by us, the same way at each edge of its life.
        let mut c = Claims::with_custom_claims(
            Custom {
                action_code: "withdraw-funds".into(),
                idempotency_key: "key-1".into(),
                proved: true,
            },
            Duration::from_secs(600),
        );
        c.issued_at = Some(Duration::from_secs(NOW));
        c.invalid_before = Some(Duration::from_secs(NOW));
        c.expires_at = Some(Duration::from_secs(NOW + 600));
        c.issuer = Some(ISSUER.into());
        c.subject = Some("alice".into());
        let t = theirs.authenticate(c).unwrap();
        let v = keys.verify(&t, NOW + 600).unwrap();
        assert!(v.claims.proved);
        assert_eq!(v.claims.action_code, "withdraw-funds");
        for (at, want) in [
            (NOW - 1, Err(TokenError::InvalidClaims)),
            (NOW + 601, Err(TokenError::Expired)),
        ] {
            assert_eq!(keys.verify(&t, at).map(|_| ()), want, "at {at}");
        }
        assert_eq!(
            keys.verify_link(&t, NOW).unwrap_err(),
            TokenError::InvalidClaims,
            "another issuer"
        );
    }

    #[test]
    fn claims_of_the_wrong_type_are_malformed() {
        let keys = TokenKeys::new(K1, None).unwrap();
        let header = format!(
            r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#,
            keys.current_kid()
        );
        let sign = |payload: &str| {
            let signed = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
            let mac = hmac_sha256::HMAC::mac(signed.as_bytes(), K1);
            format!("{signed}.{}", b64(&mac))
        };
        let base = format!(r#""iss":"{ISSUER}","sub":"alice","exp":{}"#, NOW + 60);
        for (payload, want) in [
            (
                format!(r#"{{{base},"actionCode":"a","idempotencyKey":"k"}}"#),
                Ok(()),
            ),
            (
                format!(r#"{{{base},"actionCode":"a"}}"#),
                Err(TokenError::Malformed),
            ),
            (
                format!(r#"{{{base},"actionCode":1,"idempotencyKey":"k"}}"#),
                Err(TokenError::Malformed),
            ),
            (
                format!(r#"{{{base},"actionCode":"a","idempotencyKey":"k","proved":"yes"}}"#),
                Err(TokenError::Malformed),
            ),
            (
                format!(
                    r#"{{"iss":"{ISSUER}","sub":"alice","actionCode":"a","idempotencyKey":"k"}}"#
                ),
                Err(TokenError::InvalidClaims),
            ),
            (
                format!(
                    r#"{{"iss":"{ISSUER}","exp":{},"actionCode":"a","idempotencyKey":"k"}}"#,
                    NOW + 60
                ),
                Err(TokenError::InvalidClaims),
            ),
            ("[1,2]".to_owned(), Err(TokenError::Malformed)),
        ] {
            assert_eq!(
                keys.verify(&sign(&payload), NOW).map(|_| ()),
                want,
                "{payload}"
            );
        }
    }

    #[test]
    fn foreign_key_with_our_kid_fails_the_signature() {
        use jwt_simple::prelude::*;
        let mine = TokenKeys::new(K1, None).unwrap();
        let forged = HS256Key::from_bytes(K2).with_key_id(mine.current_kid());
        let custom = Custom {
            action_code: "withdraw-funds".into(),
            idempotency_key: "key-1".into(),
            proved: false,
        };
        let mut c = Claims::with_custom_claims(custom, Duration::from_secs(600));
        c.issued_at = Some(Duration::from_secs(NOW));
        c.expires_at = Some(Duration::from_secs(NOW + 600));
        c.issuer = Some(ISSUER.into());
        c.subject = Some("alice".into());
        let t = forged.authenticate(c).unwrap();
        assert_eq!(mine.verify(&t, NOW), Err(TokenError::InvalidSignature));
    }

    #[test]
    fn rotation_keeps_previous_tokens_valid() {
        let old = TokenKeys::new(K1, None).unwrap();
        let t = old.sign(&claims(), NOW, 600).unwrap();
        let rotated = TokenKeys::new(K2, Some(K1)).unwrap();
        assert_eq!(rotated.verify(&t, NOW).unwrap().claims, claims());
        let fresh = rotated.sign(&claims(), NOW, 600).unwrap();
        assert_eq!(old.verify(&fresh, NOW), Err(TokenError::UnknownKey));
    }

    #[test]
    fn tampered_payload_is_refused() {
        let keys = TokenKeys::new(K1, None).unwrap();
        let t = keys.sign(&claims(), NOW, 600).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let payload = String::from_utf8(unb64(parts[1])).unwrap();
        let evil = payload.replace("alice", "mallory");
        let forged = format!("{}.{}.{}", parts[0], b64(evil.as_bytes()), parts[2]);
        assert_eq!(keys.verify(&forged, NOW), Err(TokenError::InvalidSignature));
    }

    #[test]
    fn alg_none_is_refused() {
        let keys = TokenKeys::new(K1, None).unwrap();
        let t = keys.sign(&claims(), NOW, 600).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let header = format!(
            r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#,
            keys.current_kid()
        );
        for sig in ["", parts[2]] {
            let forged = format!("{}.{}.{}", b64(header.as_bytes()), parts[1], sig);
            assert_eq!(
                keys.verify(&forged, NOW),
                Err(TokenError::UnsupportedAlgorithm),
                "signature {sig:?}"
            );
        }
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let keys = TokenKeys::new(K1, None).unwrap();
        for junk in ["", ".", "..", "a.b.c", "eyJ.eyJ.x", "not a token", "\u{0}"] {
            let err = keys.verify(junk, NOW).unwrap_err();
            assert!(
                matches!(err, TokenError::Malformed | TokenError::UnknownKey),
                "{junk:?}: {err:?}"
            );
        }
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(TokenKeys::new(b"short", None).is_err());
        assert!(TokenKeys::new(K1, Some(b"short")).is_err());
    }
}
