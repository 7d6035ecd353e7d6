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
//! accepted during a rotation. Signatures are RFC 6979 deterministic ECDSA
//! from `p256` (no randomness needed), in a compact JWS written here and
//! read by `auth::jws`. Time comes from the caller.

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

struct Key {
    kid: String,
    signing: p256::ecdsa::SigningKey,
    /// The public key as a JWK (`x`, `y`, base64url).
    x: String,
    y: String,
    verifying: p256::ecdsa::VerifyingKey,
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
    let signing = p256::ecdsa::SigningKey::from_slice(&raw).map_err(|_| refuse())?;
    let point = signing.verifying_key().to_sec1_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(refuse());
    };
    let (x, y) = (b64url(x), b64url(y));
    // RFC 7638: the SHA-256 of the required members, in this order.
    let kid = b64url(&hmac_sha256::Hash::hash(
        format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#).as_bytes(),
    ));
    let verifying = *signing.verifying_key();
    Ok(Key {
        kid,
        signing,
        x,
        y,
        verifying,
    })
}

/// The claims of an access token, in the order they are written.
#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: &'a str,
    sid: &'a str,
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
            .map(|k| {
                serde_json::json!({
                    "kty": "EC", "crv": "P-256", "x": k.x, "y": k.y,
                    "kid": k.kid, "alg": "ES256", "use": "sig",
                })
            })
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
        use p256::ecdsa::signature::Signer as _;
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": self.current.kid});
        let claims = AccessClaims {
            iss: issuer,
            sub: user_id,
            aud: &session.client_id,
            iat: now_secs,
            nbf: now_secs,
            exp: now_secs.saturating_add(ttl_secs),
            jti: &session.access_id,
            sid: &session.id,
        };
        let claims = serde_json::to_vec(&claims)
            .map_err(|e| CoreError::Internal(format!("session token claims: {e}")))?;
        let signed = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(&claims)
        );
        // RFC 6979 deterministic ECDSA; JWS wants r ‖ s (64 bytes).
        let signature: p256::ecdsa::Signature = self.current.signing.sign(signed.as_bytes());
        Ok(format!("{signed}.{}", b64url(&signature.to_bytes())))
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
        let bad = SessionError::InvalidToken;
        let jws = crate::auth::jws::parse(token).ok_or(bad)?;
        // The algorithm first: nothing of a token in another one is read.
        if jws.alg != "ES256" {
            return Err(bad);
        }
        let key = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| jws.kid.as_deref() == Some(k.kid.as_str()))
            .ok_or(bad)?;
        let signature = jws.signature().ok_or(bad)?;
        if !jws.verify_es256(&key.verifying, &signature) {
            return Err(bad);
        }
        let c: SignedClaims = jws.payload().ok_or(bad)?;
        if c.nbf.unwrap_or(c.iat) > now_secs {
            return Err(bad);
        }
        if now_secs >= c.exp.saturating_add(grace_secs) {
            return Err(SessionError::Expired);
        }
        Ok(AccessToken {
            user_id: c.sub,
            client_id: c.aud,
            session_id: c.sid,
            token_id: c.jti,
            expires_at: c.exp,
        })
    }
}

/// An access token's claims, read back (all required but `nbf`).
#[derive(Deserialize)]
struct SignedClaims {
    sub: String,
    aud: String,
    iat: u64,
    #[serde(default)]
    nbf: Option<u64>,
    exp: u64,
    jti: String,
    sid: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_simple::prelude::*;
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
    fn the_key_id_is_the_rfc_7638_thumbprint() {
        let keys = SessionKeys::new(K1, None).unwrap();
        let pair = ES256KeyPair::from_bytes(&unb64url(K1).unwrap()).unwrap();
        assert_eq!(keys.jwks()["keys"][0]["kid"], pair.jwk_thumbprint());
        let jwk: serde_json::Value = serde_json::from_str(&pair.public_key().to_jwk()).unwrap();
        assert_eq!(keys.jwks()["keys"][0]["x"], jwk["x"]);
        assert_eq!(keys.jwks()["keys"][0]["y"], jwk["y"]);
    }

    #[test]
    fn tokens_agree_with_a_standard_jwt_library() {
        let keys = SessionKeys::new(K1, None).unwrap();
        let kid = keys.current.kid.clone();
        let pair = ES256KeyPair::from_bytes(&unb64url(K1).unwrap())
            .unwrap()
            .with_key_id(&kid);
        // Ours, read by jwt-simple.
        let t = keys.sign("iss", "alice", &session(), NOW, 600).unwrap();
        let options = VerificationOptions {
            artificial_time: Some(Duration::from_secs(NOW)),
            ..Default::default()
        };
        let c = pair
            .public_key()
            .verify_token::<serde_json::Value>(&t, Some(options))
            .unwrap();
        assert_eq!(c.subject.as_deref(), Some("alice"));
        assert_eq!(c.custom["sid"], "s-1");
        // jwt-simple's, read by us.
        let claims =
            Claims::with_custom_claims(serde_json::json!({"sid": "s-9"}), Duration::from_secs(600))
                .with_subject("bob")
                .with_audience("web")
                .with_jwt_id("a-9");
        let theirs = pair.sign(claims).unwrap();
        let now = jwt_simple::prelude::Clock::now_since_epoch().as_secs();
        let a = keys.verify(&theirs, now, 0).unwrap();
        assert_eq!((a.user_id.as_str(), a.session_id.as_str()), ("bob", "s-9"));
        // Not yet valid, and unsigned.
        assert_eq!(
            keys.verify(&theirs, now - 3600, 0),
            Err(SessionError::InvalidToken)
        );
        let mut parts: Vec<&str> = theirs.split('.').collect();
        let none = b64url(br#"{"alg":"none","kid":"x"}"#);
        parts[0] = &none;
        parts[2] = "";
        assert_eq!(
            keys.verify(&parts.join("."), now, 0),
            Err(SessionError::InvalidToken)
        );
    }

    #[test]
    fn keys_must_be_32_byte_scalars() {
        assert!(SessionKeys::new("short", None).is_err());
        assert!(SessionKeys::new(K1, Some("AAAA")).is_err());
    }
}
