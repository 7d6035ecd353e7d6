//! Sessions: what `createSession` hands out and `validateSession` checks.
//!
//! - The **access token** is a JWT signed with ES256 (ECDSA P-256), short
//!   lived, carrying a key id (`kid`, the key's RFC 7638 thumbprint). Apps can
//!   verify it themselves with the public keys ([`SessionKeys::jwks`]);
//!   `validateSession` also checks it was not revoked. Only ES256 is
//!   accepted, and only keys of this deployment.
//! - The **refresh token** is opaque to the app: the user, the session and
//!   a 256-bit secret, of which only a SHA-256 is stored. Each is single
//!   use; presenting one that was already used revokes the session (see
//!   `service::sessions`).
//!
//! The signing keys are Worker secrets: the P-256 private scalar, 32
//! bytes in base64url (a JWK's `d`). The previous key stays published and
//! accepted during a rotation. The per-signature ECDSA nonce comes from the
//! signing library (RFC 6979, hedged with platform randomness); time comes
//! from the caller.

use jwt_simple::JWTError;
use jwt_simple::prelude::*;
use serde::{Deserialize, Serialize};

use crate::CoreError;
use crate::auth::methods::VerificationMethod;
use crate::encoding::{b64url, sha256_hex, unb64url};
use crate::time::Millis;

pub use crate::auth::session_error::SessionError;

/// One session, as the user's store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    /// The session id (the access token's `sid`).
    pub id: String,
    /// The app client it was issued for (the access token's `aud`).
    pub client_id: String,
    /// The action whose verified challenge created it.
    pub action_code: String,
    /// That action's idempotency key.
    pub idempotency_key: String,
    /// How the user proved themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
    /// When it was created.
    pub created_at: Millis,
    /// SHA-256 (hex) of the current refresh token's secret.
    pub refresh_hash: String,
    /// When the current refresh token expires; the record may be forgotten
    /// after that.
    pub refresh_expires_at: Millis,
    /// The current access token's id (`jti`): older ones are revoked.
    pub access_id: String,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Millis>,
}

/// SHA-256 (hex) of a refresh token's secret, as stored.
pub fn refresh_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// A refresh token as the app holds it: `<user>.<session>.<secret>`, the
/// user in base64url so that any user id fits.
pub fn refresh_token(user_id: &str, session_id: &str, secret: &str) -> String {
    format!("{}.{session_id}.{secret}", b64url(user_id.as_bytes()))
}

/// The parts of a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// The user.
    pub user_id: String,
    /// The session.
    pub session_id: String,
    /// The secret (checked against the stored hash).
    pub secret: String,
}

fn id_like(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Read a refresh token. Anything not shaped like one is
/// [`SessionError::InvalidToken`].
///
/// # Errors
/// [`SessionError::InvalidToken`].
pub fn parse_refresh_token(token: &str) -> Result<RefreshToken, SessionError> {
    let mut parts = token.split('.');
    let (Some(user), Some(session), Some(secret), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SessionError::InvalidToken);
    };
    let user_id = unb64url(user)
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|u| crate::ids::check_user_id(u).is_ok())
        .ok_or(SessionError::InvalidToken)?;
    if !id_like(session, 64) || !id_like(secret, 128) {
        return Err(SessionError::InvalidToken);
    }
    Ok(RefreshToken {
        user_id,
        session_id: session.to_owned(),
        secret: secret.to_owned(),
    })
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The user (`sub`).
    pub user_id: String,
    /// The app client (`aud`).
    pub client_id: String,
    /// The session (`sid`).
    pub session_id: String,
    /// The token's id (`jti`).
    pub token_id: String,
    /// Expiry, in seconds since the epoch.
    pub expires_at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionClaims {
    sid: String,
}

struct Key {
    kid: String,
    pair: ES256KeyPair,
}

/// The deployment's session signing key, plus the previous one during a
/// rotation.
pub struct SessionKeys {
    current: Key,
    previous: Option<Key>,
}

/// Shortest base64url text of a 32-byte scalar.
const SCALAR_B64_LEN: usize = 43;

fn key(secret: &str, name: &str) -> Result<Key, CoreError> {
    let refuse = || {
        CoreError::field(
            name,
            "must be a P-256 private key: 32 bytes in base64url (a JWK's d)",
        )
    };
    let raw = unb64url(secret.trim())
        .filter(|r| r.len() == 32 && secret.trim().len() == SCALAR_B64_LEN)
        .ok_or_else(refuse)?;
    let pair = ES256KeyPair::from_bytes(&raw).map_err(|_| refuse())?;
    let kid = pair.jwk_thumbprint();
    Ok(Key {
        pair: pair.with_key_id(&kid),
        kid,
    })
}

impl SessionKeys {
    /// Build from the secrets `SESSION_SIGNING_KEY` and, during a rotation,
    /// `SESSION_SIGNING_KEY_PREVIOUS`.
    ///
    /// # Errors
    /// [`CoreError::InvalidField`] naming the secret that is not a key.
    pub fn new(current: &str, previous: Option<&str>) -> Result<Self, CoreError> {
        Ok(SessionKeys {
            current: key(current, "SESSION_SIGNING_KEY")?,
            previous: previous
                .map(|p| key(p, "SESSION_SIGNING_KEY_PREVIOUS"))
                .transpose()?,
        })
    }

    /// The public keys, as a JSON Web Key Set (current first).
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .filter_map(|k| serde_json::from_str(&k.pair.public_key().to_jwk()).ok())
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Sign an access token for `session` of `user_id`, issued by `issuer`,
    /// valid from `now_secs` for `ttl_secs`.
    ///
    /// # Errors
    /// [`CoreError::Internal`] if signing fails.
    pub fn sign(
        &self,
        issuer: &str,
        user_id: &str,
        session: &SessionRecord,
        now_secs: u64,
        ttl_secs: u64,
    ) -> Result<String, CoreError> {
        let claims = JWTClaims {
            issued_at: Some(Duration::from_secs(now_secs)),
            expires_at: Some(Duration::from_secs(now_secs.saturating_add(ttl_secs))),
            invalid_before: Some(Duration::from_secs(now_secs)),
            issuer: Some(issuer.to_owned()),
            subject: Some(user_id.to_owned()),
            audiences: Some(Audiences::AsString(session.client_id.clone())),
            jwt_id: Some(session.access_id.clone()),
            nonce: None,
            custom: SessionClaims {
                sid: session.id.clone(),
            },
        };
        self.current
            .pair
            .sign(claims)
            .map_err(|e| CoreError::Internal(format!("session token signing failed: {e}")))
    }

    /// Verify an access token at `now_secs`. `grace_secs` accepts a token
    /// that expired that long ago (revoking one needs no live token).
    ///
    /// # Errors
    /// [`SessionError::InvalidToken`] or [`SessionError::Expired`].
    pub fn verify(
        &self,
        token: &str,
        now_secs: u64,
        grace_secs: u64,
    ) -> Result<AccessToken, SessionError> {
        let meta = Token::decode_metadata(token).map_err(|_| SessionError::InvalidToken)?;
        if meta.algorithm() != "ES256" {
            return Err(SessionError::InvalidToken);
        }
        let kid = meta.key_id().ok_or(SessionError::InvalidToken)?;
        let key = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.kid == kid)
            .ok_or(SessionError::InvalidToken)?;
        let options = VerificationOptions {
            time_tolerance: Some(Duration::from_secs(grace_secs)),
            artificial_time: Some(Duration::from_secs(now_secs)),
            ..Default::default()
        };
        let v = key
            .pair
            .public_key()
            .verify_token::<SessionClaims>(token, Some(options))
            .map_err(|e| match e.downcast_ref::<JWTError>() {
                Some(JWTError::TokenHasExpired) => SessionError::Expired,
                _ => SessionError::InvalidToken,
            })?;
        let client_id = match v.audiences {
            Some(Audiences::AsString(a)) => a,
            Some(Audiences::AsSet(set)) if set.len() == 1 => {
                set.into_iter().next().ok_or(SessionError::InvalidToken)?
            }
            _ => return Err(SessionError::InvalidToken),
        };
        Ok(AccessToken {
            user_id: v.subject.ok_or(SessionError::InvalidToken)?,
            client_id,
            session_id: v.custom.sid,
            token_id: v.jwt_id.ok_or(SessionError::InvalidToken)?,
            expires_at: v.expires_at.ok_or(SessionError::InvalidToken)?.as_secs(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const K1: &str = "3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE";
    const K2: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAI";
    const NOW: u64 = 1_795_380_179;

    fn session() -> SessionRecord {
        SessionRecord {
            id: "s-1".into(),
            client_id: "web".into(),
            action_code: "signIn".into(),
            idempotency_key: "k".into(),
            verification_method: Some(VerificationMethod::EmailOtp),
            created_at: 0,
            refresh_hash: refresh_hash("secret"),
            refresh_expires_at: 1,
            access_id: "a-1".into(),
            revoked_at: None,
        }
    }

    #[test]
    fn signs_and_verifies_with_the_current_or_previous_key() {
        let old = SessionKeys::new(K2, None).unwrap();
        let t = old.sign("iss", "alice", &session(), NOW, 600).unwrap();
        let keys = SessionKeys::new(K1, Some(K2)).unwrap();
        let a = keys.verify(&t, NOW + 10, 0).unwrap();
        assert_eq!(a.user_id, "alice");
        assert_eq!(a.client_id, "web");
        assert_eq!(a.session_id, "s-1");
        assert_eq!(a.token_id, "a-1");
        assert_eq!(a.expires_at, NOW + 600);
        assert_eq!(keys.jwks()["keys"].as_array().unwrap().len(), 2);
        assert_eq!(keys.jwks()["keys"][0]["kty"], "EC");
        assert!(keys.jwks()["keys"][0].get("d").is_none());
        // Without the previous key, its tokens are refused.
        let only_new = SessionKeys::new(K1, None).unwrap();
        assert_eq!(only_new.verify(&t, NOW, 0), Err(SessionError::InvalidToken));
    }

    #[test]
    fn refuses_expired_altered_and_other_algorithms() {
        let keys = SessionKeys::new(K1, None).unwrap();
        let t = keys.sign("iss", "alice", &session(), NOW, 600).unwrap();
        assert_eq!(keys.verify(&t, NOW + 601, 0), Err(SessionError::Expired));
        assert!(keys.verify(&t, NOW + 601, 3600).is_ok());
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let claims = String::from_utf8(unb64url(&parts[1]).unwrap()).unwrap();
        parts[1] = b64url(claims.replace("alice", "mallory").as_bytes());
        assert_eq!(
            keys.verify(&parts.join("."), NOW, 0),
            Err(SessionError::InvalidToken)
        );
        // An HS256 token made with the public key as secret is refused.
        let hs = HS256Key::from_bytes(b"whatever-0123456789abcdef0123456").with_key_id("x");
        let forged = hs
            .authenticate(Claims::create(Duration::from_secs(600)))
            .unwrap();
        assert_eq!(
            keys.verify(&forged, NOW, 0),
            Err(SessionError::InvalidToken)
        );
    }

    #[test]
    fn refresh_tokens_round_trip_and_refuse_junk() {
        let t = refresh_token("alice/1", "s-1", "c2VjcmV0");
        let r = parse_refresh_token(&t).unwrap();
        assert_eq!(r.user_id, "alice/1");
        assert_eq!(r.session_id, "s-1");
        assert_eq!(r.secret, "c2VjcmV0");
        for junk in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.s.x",
            &format!("{}..x", b64url(b"a")),
        ] {
            assert_eq!(parse_refresh_token(junk), Err(SessionError::InvalidToken));
        }
    }

    #[test]
    fn keys_must_be_32_byte_scalars() {
        assert!(SessionKeys::new("short", None).is_err());
        assert!(SessionKeys::new(K1, Some("AAAA")).is_err());
    }
}
