//! Who the user is, from the app's own session: a JWT in a cookie or a
//! header (HS256 with a shared secret, RS256/ES256 with the app's JWKS), or
//! a trusted header; and reading cookies the way apps do.

use jwt_simple::prelude::*;
use serde_json::{Map, Value};

use crate::proxy::routes::{JwtAlgorithm, JwtIdentity};

/// Why no user could be identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityError {
    /// Nothing that could identify a user was sent.
    Missing,
    /// A credential was sent but is not valid (bad signature, expired, ...).
    Invalid(String),
    /// More than one credential was sent, and the app might read another
    /// than this worker (the request is refused).
    Ambiguous(String),
}

/// What verifies a session token: the shared secret, or the app's JWKS.
pub enum SessionKeys<'a> {
    /// HS256.
    Secret(&'a [u8]),
    /// RS256/ES256 public keys.
    Jwks(&'a Jwks),
}

/// Public keys of a JWKS, by key id. Keys of other types, algorithms or
/// uses are left out.
#[derive(Debug, Default)]
pub struct Jwks {
    rs256: Vec<(Option<String>, RS256PublicKey)>,
    es256: Vec<(Option<String>, ES256PublicKey)>,
}

impl Jwks {
    /// Parse a JWKS document (`{"keys": [...]}`).
    ///
    /// # Errors
    /// A sentence when the document is not a JWKS.
    pub fn parse(json: &str) -> Result<Self, String> {
        let doc: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("no \"keys\" array")?;
        let mut out = Jwks::default();
        for k in keys {
            if k.get("use")
                .and_then(Value::as_str)
                .is_some_and(|u| u != "sig")
            {
                continue;
            }
            let kid = k.get("kid").and_then(Value::as_str).map(str::to_owned);
            let alg = k.get("alg").and_then(Value::as_str);
            // The key import takes the key material; alg/use/kid are metadata.
            let mut bare = k.clone();
            if let Some(o) = bare.as_object_mut() {
                o.retain(|name, _| matches!(name.as_str(), "kty" | "crv" | "x" | "y" | "n" | "e"));
            }
            let text = bare.to_string();
            match (k.get("kty").and_then(Value::as_str), alg) {
                (Some("RSA"), None | Some("RS256")) => {
                    if let Ok(key) = RS256PublicKey::from_jwk(&text) {
                        out.rs256.push((kid, key));
                    }
                }
                (Some("EC"), None | Some("ES256")) => {
                    if let Ok(key) = ES256PublicKey::from_jwk(&text) {
                        out.es256.push((kid, key));
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// How many usable keys it holds.
    pub fn len(&self) -> usize {
        self.rs256.len() + self.es256.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a key with this id is present.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.rs256.iter().any(|(k, _)| k.as_deref() == Some(kid))
            || self.es256.iter().any(|(k, _)| k.as_deref() == Some(kid))
    }
}

const NO_JWKS_KEY: &str = "no key of the app's JWKS matches the session token";

/// The claims from the first key (of those `picks` accepts) that verifies
/// the token; otherwise the last key's error, or `None` when no key applied.
fn first_verified<K, T>(
    keys: &[(Option<String>, K)],
    picks: &dyn Fn(&Option<String>) -> bool,
    verify: impl Fn(&K) -> Result<T, jwt_simple::Error>,
) -> Result<T, Option<jwt_simple::Error>> {
    let mut last = None;
    for (_, key) in keys.iter().filter(|(k, _)| picks(k)) {
        match verify(key) {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
    }
    Err(last)
}

/// The key id (`kid`) in a JWT's header, unverified (to pick a key).
pub fn token_key_id(token: &str) -> Option<String> {
    Token::decode_metadata(token)
        .ok()
        .and_then(|m| m.key_id().map(str::to_owned))
}

/// Verify a session JWT and return the configured user-id claim.
///
/// # Errors
/// [`IdentityError::Invalid`] with the reason.
pub fn verify_session_jwt(
    token: &str,
    cfg: &JwtIdentity,
    keys: SessionKeys<'_>,
    now_secs: u64,
) -> Result<String, IdentityError> {
    let invalid = |why: &str| IdentityError::Invalid(why.to_owned());
    let meta =
        Token::decode_metadata(token).map_err(|_| invalid("the session token is malformed"))?;
    let expected = match cfg.algorithm {
        JwtAlgorithm::HS256 => "HS256",
        JwtAlgorithm::RS256 => "RS256",
        JwtAlgorithm::ES256 => "ES256",
    };
    if meta.algorithm() != expected {
        return Err(invalid("the session token's algorithm is not accepted"));
    }
    let kid = meta.key_id().map(str::to_owned);
    let mut options = VerificationOptions {
        time_tolerance: Some(Duration::from_secs(30)),
        artificial_time: Some(Duration::from_secs(now_secs)),
        ..Default::default()
    };
    if let Some(i) = &cfg.issuer {
        options.allowed_issuers = Some(HashSet::from_strings(&[i]));
    }
    if let Some(a) = &cfg.audience {
        options.allowed_audiences = Some(HashSet::from_strings(&[a]));
    }
    let classify = |e: jwt_simple::Error| match e.downcast_ref::<jwt_simple::JWTError>() {
        Some(jwt_simple::JWTError::TokenHasExpired) => invalid("the session has expired"),
        _ => invalid("the session token is not valid"),
    };
    // With a kid, only the key of that id; without, any key of the algorithm.
    let picks = |k: &Option<String>| kid.is_none() || k == &kid;
    let claims = match (keys, cfg.algorithm) {
        (SessionKeys::Secret(secret), JwtAlgorithm::HS256) => HS256Key::from_bytes(secret)
            .verify_token::<Map<String, Value>>(token, Some(options))
            .map_err(classify)?,
        (SessionKeys::Jwks(jwks), JwtAlgorithm::RS256) => {
            first_verified(&jwks.rs256, &picks, |k| {
                k.verify_token::<Map<String, Value>>(token, Some(options.clone()))
            })
            .map_err(|e| e.map_or_else(|| invalid(NO_JWKS_KEY), classify))?
        }
        (SessionKeys::Jwks(jwks), JwtAlgorithm::ES256) => {
            first_verified(&jwks.es256, &picks, |k| {
                k.verify_token::<Map<String, Value>>(token, Some(options.clone()))
            })
            .map_err(|e| e.map_or_else(|| invalid(NO_JWKS_KEY), classify))?
        }
        _ => return Err(invalid("the session key is not configured")),
    };
    if claims.expires_at.is_none() && !cfg.allow_missing_exp {
        return Err(invalid("the session token has no expiry (exp)"));
    }
    let value = if cfg.user_id_claim == "sub" {
        claims.subject.map(Value::String)
    } else {
        claims.custom.get(&cfg.user_id_claim).cloned()
    };
    match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(invalid("the session token has no user id claim")),
    }
}

/// The value of a cookie in a `Cookie` header (the first, names compared
/// after trimming, as cookie parsers do).
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    cookie_values(header, name).into_iter().next()
}

/// Every value of a cookie in a `Cookie` header, in order.
pub fn cookie_values<'a>(header: &'a str, name: &str) -> Vec<&'a str> {
    header
        .split(';')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k.trim() == name).then_some(v.trim().trim_matches('"'))
        })
        .collect()
}

/// Whether a cookie of another spelling that some parser reads as `name`
/// is sent (PHP turns `.` and spaces in names into `_`).
fn cookie_variant(header: &str, name: &str) -> bool {
    let fold = |n: &str| n.trim().replace(['.', ' '], "_");
    header.split(';').any(|kv| {
        kv.split_once('=')
            .is_some_and(|(k, _)| k.trim() != name && fold(k) == fold(name))
    })
}

/// The session token a request carries, read as apps read it: the bearer
/// token (scheme in any case) or the session cookie, as configured. Sent
/// twice (the cookie repeated, which parsers resolve to the first or the
/// last, or a bearer token and a cookie that differ), which session the app
/// acts on cannot be told: refused.
///
/// # Errors
/// [`IdentityError::Ambiguous`].
pub fn session_token(
    cfg: &JwtIdentity,
    cookie_header: Option<&str>,
    authorization: Option<&str>,
) -> Result<Option<String>, IdentityError> {
    let from_cookie = match (&cfg.cookie, cookie_header) {
        (Some(name), Some(h)) => {
            let values = cookie_values(h, name);
            if values.len() > 1 || cookie_variant(h, name) {
                return Err(IdentityError::Ambiguous(format!(
                    "the {name} cookie is sent more than once"
                )));
            }
            values.first().map(|v| (*v).to_owned())
        }
        _ => None,
    };
    let authorization = authorization.filter(|_| cfg.bearer);
    let from_bearer = authorization
        .and_then(|a| {
            let (scheme, token) = a.trim().split_once(char::is_whitespace)?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
        .filter(|t| !t.is_empty());
    // An Authorization header read otherwise by some apps (no scheme, a
    // token after other words) next to a session cookie: refused.
    if from_bearer.is_none()
        && from_cookie.is_some()
        && authorization.is_some_and(|a| a.split_whitespace().any(|w| w.matches('.').count() == 2))
    {
        return Err(IdentityError::Ambiguous(
            "an Authorization header that some apps read as a session, beside a session cookie"
                .into(),
        ));
    }
    match (from_bearer, from_cookie) {
        (Some(b), Some(c)) if b != c => Err(IdentityError::Ambiguous(
            "a bearer token and a session cookie of different sessions are both sent".into(),
        )),
        (b, c) => Ok(b.or(c)),
    }
}
