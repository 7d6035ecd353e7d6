//! Who the user is, from the app's own session: a JWT in a cookie or a
//! header (HS256 with a shared secret, RS256/ES256 with the app's JWKS), or
//! a trusted header; and reading cookies the way apps do.

use serde_json::Value;

use crate::auth::jws::{self, ClaimsError, Expect, PublicKey};
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

/// Public keys of a JWKS, with their key ids. Keys of other types,
/// algorithms or uses are left out.
#[derive(Default)]
pub struct Jwks {
    keys: Vec<(Option<String>, PublicKey)>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl Jwks {
    /// Parse a JWKS document (`{"keys": [...]}`).
    ///
    /// # Errors
    /// A sentence when the document is not a JWKS.
    pub fn parse(json: &str) -> Result<Self, String> {
        let doc: Value = crate::encoding::from_json(json).map_err(|e| format!("not JSON: {e}"))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("no \"keys\" array")?;
        let mut out = Jwks::default();
        for k in keys.iter().filter_map(Value::as_object) {
            if k.get("use")
                .and_then(Value::as_str)
                .is_some_and(|u| u != "sig")
            {
                continue;
            }
            let kid = k.get("kid").and_then(Value::as_str).map(str::to_owned);
            let alg = k.get("alg").and_then(Value::as_str);
            let key = PublicKey::from_jwk(k);
            match (key, alg) {
                (Some(key @ PublicKey::Rs256(_)), None | Some("RS256"))
                | (Some(key @ PublicKey::Es256(_)), None | Some("ES256")) => {
                    out.keys.push((kid, key));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// How many usable keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key with this id is present.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|(k, _)| k.as_deref() == Some(kid))
    }
}

const NO_JWKS_KEY: &str = "no key of the app's JWKS matches the session token";

/// The key id (`kid`) in a JWT's header, unverified (to pick a key).
pub fn token_key_id(token: &str) -> Option<String> {
    jws::parse(token).and_then(|t| t.kid)
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
    let not_valid = || invalid("the session token is not valid");
    let jws = jws::parse(token).ok_or_else(|| invalid("the session token is malformed"))?;
    let expected = match cfg.algorithm {
        JwtAlgorithm::HS256 => "HS256",
        JwtAlgorithm::RS256 => "RS256",
        JwtAlgorithm::ES256 => "ES256",
    };
    if jws.alg != expected {
        return Err(invalid("the session token's algorithm is not accepted"));
    }
    let verified = match (keys, cfg.algorithm) {
        (SessionKeys::Secret(secret), JwtAlgorithm::HS256) => jws.verify_hs256(secret),
        (SessionKeys::Jwks(jwks), JwtAlgorithm::RS256 | JwtAlgorithm::ES256) => {
            // With a kid, only the key of that id; without, any key of the
            // algorithm.
            let mut candidates = jwks
                .keys
                .iter()
                .filter(|(k, key)| {
                    (jws.kid.is_none() || *k == jws.kid)
                        && matches!(
                            (key, cfg.algorithm),
                            (PublicKey::Rs256(_), JwtAlgorithm::RS256)
                                | (PublicKey::Es256(_), JwtAlgorithm::ES256)
                        )
                })
                .peekable();
            if candidates.peek().is_none() {
                return Err(invalid(NO_JWKS_KEY));
            }
            candidates.any(|(_, key)| jws.verify_with(key))
        }
        _ => return Err(invalid("the session key is not configured")),
    };
    if !verified {
        return Err(not_valid());
    }
    let claims = jws.claims().ok_or_else(not_valid)?;
    jws::check(
        &claims,
        &Expect {
            now: now_secs,
            leeway: 30,
            issuer: cfg.issuer.as_deref(),
            audience: cfg.audience.as_deref(),
        },
    )
    .map_err(|e| match e {
        ClaimsError::Expired => invalid("the session has expired"),
        ClaimsError::Malformed | ClaimsError::Invalid => not_valid(),
    })?;
    if !claims.contains_key("exp") && !cfg.allow_missing_exp {
        return Err(invalid("the session token has no expiry (exp)"));
    }
    match claims.get(&cfg.user_id_claim) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) if cfg.user_id_claim != "sub" => Ok(n.to_string()),
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
