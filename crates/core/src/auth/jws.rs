//! Compact JWS (RFC 7515) and the registered JWT claims (RFC 7519) as
//! ActionGate uses them: its own HS256 action tokens (`auth::token`), its
//! ES256 access tokens (`auth::session`) and the app's session tokens that
//! the edge proxy reads (HS256 with a shared secret, RS256 or ES256 with the
//! app's JWKS; `proxy::session`).
//!
//! Written here on the HMAC, P-256 and RSA code the core has anyway (the
//! passkeys need them): a general JWT library brought its own error and
//! backtrace crates and every algorithm's code into the upload (see
//! `docs/benchmark.md`). The rules are the usual ones, and the tests hold
//! them to `jwt-simple`'s answers:
//! - the algorithm is read first, and a token is only ever checked with a
//!   key of the algorithm the caller expects (no `none`, no HS256 signed
//!   with a public key);
//! - a header with critical extensions (`crit`) is refused, and a `typ`,
//!   when present, must be `JWT` or end in `+JWT`;
//! - the signature is checked before anything of the payload is read;
//! - `iat` and `nbf` may not be later than now, `exp` not earlier, each
//!   give or take the caller's leeway; an expected issuer or audience must
//!   be present and match.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::encoding::unb64url;

/// Longest header (base64url) read, as `jwt-simple` allowed.
const MAX_HEADER_LEN: usize = 8192;
/// Longest token read. Browsers and the runtime cap request headers far
/// below this; a token longer than any header is refused unread.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// A token split and its header read; nothing verified yet.
pub struct Jws<'a> {
    /// The header's `alg`.
    pub alg: String,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    /// What the signature covers: `header.payload`, as sent.
    signed: &'a str,
    payload: &'a str,
    signature: &'a str,
}

/// A JWS header, as far as it is read.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    /// Any value here is refused: no extension is understood.
    #[serde(default)]
    crit: Option<Value>,
}

/// Split a compact JWS and read its header.
///
/// # Errors
/// `None` for anything that is not a compact JWS with a readable header.
pub fn parse(token: &str) -> Option<Jws<'_>> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if h.len() > MAX_HEADER_LEN {
        return None;
    }
    let header: Header = unb64url(h).and_then(|b| serde_json::from_slice(&b).ok())?;
    if header.crit.is_some() {
        return None;
    }
    if let Some(typ) = &header.typ {
        let typ = typ.to_ascii_uppercase();
        if typ != "JWT" && !typ.ends_with("+JWT") {
            return None;
        }
    }
    Some(Jws {
        alg: header.alg,
        kid: header.kid,
        signed: token.get(..h.len() + 1 + p.len())?,
        payload: p,
        signature: s,
    })
}

/// A public key of an app's JWKS.
pub enum PublicKey {
    /// RS256: RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256(Box<rsa::RsaPublicKey>),
    /// ES256: ECDSA on P-256 with SHA-256.
    Es256(Box<p256::ecdsa::VerifyingKey>),
}

impl PublicKey {
    /// The key of a JWK's members (`kty` `RSA` with `n`, `e`; `kty` `EC`
    /// with `crv` `P-256`, `x`, `y`). RSA keys must have 2,048 to 4,096 bits
    /// and the exponent 65537, as `jwt-simple` required.
    pub fn from_jwk(jwk: &Map<String, Value>) -> Option<PublicKey> {
        let b64 = |name: &str| jwk.get(name).and_then(Value::as_str).and_then(unb64url);
        match jwk.get("kty").and_then(Value::as_str)? {
            "RSA" => {
                let n = rsa::BigUint::from_bytes_be(&b64("n")?);
                let e = b64("e")?;
                let e_trimmed: Vec<u8> = e.iter().copied().skip_while(|b| *b == 0).collect();
                if !(2048..=4096).contains(&n.bits()) || e_trimmed != [1, 0, 1] {
                    return None;
                }
                rsa::RsaPublicKey::new(n, rsa::BigUint::from_bytes_be(&e))
                    .ok()
                    .map(|k| PublicKey::Rs256(Box::new(k)))
            }
            "EC" => {
                if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
                    return None;
                }
                let (x, y) = (b64("x")?, b64("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut sec1 = Vec::with_capacity(65);
                sec1.push(0x04);
                sec1.extend_from_slice(&x);
                sec1.extend_from_slice(&y);
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                    .ok()
                    .map(|k| PublicKey::Es256(Box::new(k)))
            }
            _ => None,
        }
    }
}

impl Jws<'_> {
    /// Whether the signature is the HS256 MAC of `key`.
    pub fn verify_hs256(&self, key: &[u8]) -> bool {
        use subtle::ConstantTimeEq as _;
        self.alg == "HS256"
            && unb64url(self.signature).is_some_and(|sig| {
                let mac = hmac_sha256::HMAC::mac(self.signed.as_bytes(), key);
                sig.len() == mac.len() && bool::from(sig.ct_eq(&mac))
            })
    }

    /// Whether the signature verifies with `key` (and the header names the
    /// key's algorithm).
    pub fn verify_with(&self, key: &PublicKey) -> bool {
        let Some(sig) = unb64url(self.signature) else {
            return false;
        };
        match key {
            PublicKey::Rs256(pk) if self.alg == "RS256" => {
                use rsa::signature::Verifier as _;
                let vk = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(pk.as_ref().clone());
                rsa::pkcs1v15::Signature::try_from(sig.as_slice())
                    .is_ok_and(|s| vk.verify(self.signed.as_bytes(), &s).is_ok())
            }
            PublicKey::Es256(vk) if self.alg == "ES256" => self.verify_es256(vk, &sig),
            _ => false,
        }
    }

    /// Whether `sig` (r ‖ s, 64 bytes) is this token's ES256 signature.
    pub fn verify_es256(&self, key: &p256::ecdsa::VerifyingKey, sig: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier as _;
        self.alg == "ES256"
            && p256::ecdsa::Signature::from_slice(sig)
                .is_ok_and(|s| key.verify(self.signed.as_bytes(), &s).is_ok())
    }

    /// The signature's bytes.
    pub fn signature(&self) -> Option<Vec<u8>> {
        unb64url(self.signature)
    }

    /// The payload as a JSON object. Read it only after the signature
    /// verified.
    pub fn claims(&self) -> Option<Map<String, Value>> {
        self.payload()
    }

    /// The payload read as `T`. Read it only after the signature verified.
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        unb64url(self.payload).and_then(|b| serde_json::from_slice(&b).ok())
    }
}

/// What a token's registered claims must satisfy.
pub struct Expect<'a> {
    /// Now, in seconds since the epoch.
    pub now: u64,
    /// How far `iat`, `nbf` and `exp` may be off, in seconds.
    pub leeway: u64,
    /// The issuer the token must name, if any.
    pub issuer: Option<&'a str>,
    /// An audience the token must name, if any.
    pub audience: Option<&'a str>,
}

/// Why the registered claims were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsError {
    /// `exp` is past.
    Expired,
    /// A claim of the wrong type.
    Malformed,
    /// Issued or valid only in the future, or the wrong issuer or audience.
    Invalid,
}

/// A time claim (seconds since the epoch): absent, or a non-negative
/// number (fractions are dropped, as `jwt-simple` did).
fn time(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, ClaimsError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    // Saturating: a float beyond u64 reads as the latest time.
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or(ClaimsError::Malformed),
    }
}

/// A string claim: absent, or a string.
pub fn string<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, ClaimsError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ClaimsError::Malformed),
    }
}

/// The `exp` claim, after [`check`] passed.
pub fn expiry(claims: &Map<String, Value>) -> Option<u64> {
    time(claims, "exp").ok().flatten()
}

/// Check the registered claims against `expect`.
///
/// # Errors
/// The [`ClaimsError`] of the first claim that fails.
pub fn check(claims: &Map<String, Value>, expect: &Expect<'_>) -> Result<(), ClaimsError> {
    // The registered claims have their types whether or not they are
    // asked for.
    for name in ["iss", "sub", "jti"] {
        string(claims, name)?;
    }
    match claims.get("aud") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
        Some(_) => return Err(ClaimsError::Malformed),
    }
    let later = expect.now.saturating_add(expect.leeway);
    if time(claims, "iat")?.is_some_and(|iat| iat > later) {
        return Err(ClaimsError::Invalid);
    }
    if time(claims, "nbf")?.is_some_and(|nbf| nbf > later) {
        return Err(ClaimsError::Invalid);
    }
    if time(claims, "exp")?.is_some_and(|exp| expect.now > exp.saturating_add(expect.leeway)) {
        return Err(ClaimsError::Expired);
    }
    if let Some(want) = expect.issuer
        && string(claims, "iss")? != Some(want)
    {
        return Err(ClaimsError::Invalid);
    }
    if let Some(want) = expect.audience {
        let named = match claims.get("aud") {
            Some(Value::String(s)) => s == want,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(want)),
            _ => false,
        };
        if !named {
            return Err(ClaimsError::Invalid);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::b64url;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn token(header: &Value, claims: &Value, key: &[u8]) -> String {
        let signed = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mac = hmac_sha256::HMAC::mac(signed.as_bytes(), key);
        format!("{signed}.{}", b64url(&mac))
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn headers_with_critical_extensions_or_another_type_are_refused() {
        let c = json!({"sub": "a"});
        assert!(parse(&token(&json!({"alg": "HS256"}), &c, KEY)).is_some());
        assert!(parse(&token(&json!({"alg": "HS256", "typ": "at+jwt"}), &c, KEY)).is_some());
        for h in [
            json!({"alg": "HS256", "crit": ["b64"], "b64": false}),
            json!({"alg": "HS256", "crit": []}),
            json!({"alg": "HS256", "typ": "JOSE"}),
            json!({"kid": "k"}),
        ] {
            assert!(parse(&token(&h, &c, KEY)).is_none(), "{h}");
        }
        for junk in ["", ".", "..", "a.b.c", "a.b.c.d", "eyJ.eyJ.x", "\u{0}"] {
            assert!(parse(junk).is_none(), "{junk:?}");
        }
        let long = format!("{}.e30.x", "A".repeat(MAX_HEADER_LEN + 4));
        assert!(parse(&long).is_none());
    }

    #[test]
    fn the_mac_is_checked_in_constant_time_over_the_text_as_sent() {
        let t = token(&json!({"alg": "HS256"}), &json!({"sub": "a"}), KEY);
        let jws = parse(&t).unwrap();
        assert!(jws.verify_hs256(KEY));
        assert!(!jws.verify_hs256(b"another key, also 32 bytes long!"));
        // A truncated MAC is no MAC.
        let (head, mac) = t.rsplit_once('.').unwrap();
        let short = format!("{head}.{}", &mac[..20]);
        assert!(!parse(&short).unwrap().verify_hs256(KEY));
        // The algorithm the header names is the one checked.
        let other = token(&json!({"alg": "HS384"}), &json!({"sub": "a"}), KEY);
        assert!(!parse(&other).unwrap().verify_hs256(KEY));
    }

    #[test]
    fn registered_claims_are_checked_with_the_leeway() {
        let now = 1_000_000;
        let expect = |leeway| Expect {
            now,
            leeway,
            issuer: Some("iss-1"),
            audience: Some("app"),
        };
        let ok = |c: Value| check(c.as_object().unwrap(), &expect(0));
        let good = json!({"iss": "iss-1", "aud": "app", "iat": now, "nbf": now, "exp": now});
        assert_eq!(ok(good.clone()), Ok(()));
        assert_eq!(
            ok(json!({"iss": "iss-1", "aud": ["x", "app"], "exp": now as f64 + 0.5})),
            Ok(())
        );
        let with = |k: &str, v: Value| {
            let mut c = good.clone();
            c[k] = v;
            c
        };
        assert_eq!(ok(with("exp", json!(now - 1))), Err(ClaimsError::Expired));
        assert_eq!(ok(with("iat", json!(now + 1))), Err(ClaimsError::Invalid));
        assert_eq!(ok(with("nbf", json!(now + 1))), Err(ClaimsError::Invalid));
        assert_eq!(ok(with("iss", json!("iss-2"))), Err(ClaimsError::Invalid));
        assert_eq!(ok(with("aud", json!(["x"]))), Err(ClaimsError::Invalid));
        assert_eq!(ok(with("exp", json!("soon"))), Err(ClaimsError::Malformed));
        assert_eq!(ok(with("iat", json!(-5))), Err(ClaimsError::Malformed));
        assert_eq!(ok(with("aud", json!(7))), Err(ClaimsError::Malformed));
        assert_eq!(
            ok(with("aud", json!(["app", 7]))),
            Err(ClaimsError::Malformed)
        );
        assert_eq!(ok(with("sub", json!(7))), Err(ClaimsError::Malformed));
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove("aud");
        assert_eq!(ok(missing), Err(ClaimsError::Invalid));
        let late = with("exp", json!(now - 30));
        assert_eq!(check(late.as_object().unwrap(), &expect(30)), Ok(()));
        assert_eq!(
            check(late.as_object().unwrap(), &expect(29)),
            Err(ClaimsError::Expired)
        );
    }
}
