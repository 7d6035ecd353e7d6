//! COSE public keys (ES256, EdDSA, RS256) and their signatures.

use super::auth_data::skip_item;
use super::wire::{ALG_EDDSA, ALG_ES256, ALG_RS256, WebAuthnError};
use minicbor::Decoder;
use minicbor::data::Type;

/// A public key ready to verify signatures.
pub(crate) enum PublicKey {
    Es256(Box<p256::ecdsa::VerifyingKey>),
    Ed25519(ed25519_compact::PublicKey),
    Rs256(Box<rsa::RsaPublicKey>),
}

/// COSE key types (RFC 9053 §7, IANA "COSE Key Types").
const KTY_OKP: i64 = 1;
const KTY_EC2: i64 = 2;
const KTY_RSA: i64 = 3;
/// COSE elliptic curves (IANA "COSE Elliptic Curves").
const CRV_P256: i64 = 1;
const CRV_ED25519: i64 = 6;

/// Label -1: the curve of EC2 and OKP keys, the modulus of RSA keys.
enum First<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

/// The parameters of a COSE_Key (RFC 9052 §7) the accepted algorithms use.
#[derive(Default)]
struct Params<'a> {
    kty: Option<i64>,
    alg: Option<i64>,
    first: Option<First<'a>>,
    second: Option<&'a [u8]>,
    third: Option<&'a [u8]>,
}

fn unsupported(what: impl std::fmt::Display) -> WebAuthnError {
    WebAuthnError::UnsupportedKey(format!("COSE_Key: {what}"))
}

/// Read a COSE_Key: a map of definite length, integer labels at most once
/// each (text labels are stepped over), nothing after it.
fn read_params(bytes: &[u8]) -> Result<Params<'_>, WebAuthnError> {
    let mut d = Decoder::new(bytes);
    let entries = d
        .map()
        .map_err(unsupported)?
        .ok_or_else(|| unsupported("not a map of definite length"))?;
    // A key of the accepted kinds has five or fewer.
    if entries > 16 {
        return Err(unsupported("too many parameters"));
    }
    let mut p = Params::default();
    let mut seen: Vec<i64> = Vec::new();
    for _ in 0..entries {
        if d.datatype().map_err(unsupported)? == Type::String {
            d.str().map_err(unsupported)?;
            skip_item(&mut d).map_err(unsupported)?;
            continue;
        }
        let label = d.i64().map_err(unsupported)?;
        if seen.contains(&label) {
            return Err(unsupported(format!("label {label} appears twice")));
        }
        seen.push(label);
        match label {
            1 => p.kty = Some(d.i64().map_err(unsupported)?),
            3 => p.alg = Some(d.i64().map_err(unsupported)?),
            -1 => {
                p.first = Some(if d.datatype().map_err(unsupported)? == Type::Bytes {
                    First::Bytes(d.bytes().map_err(unsupported)?)
                } else {
                    First::Int(d.i64().map_err(unsupported)?)
                });
            }
            -2 => p.second = Some(d.bytes().map_err(unsupported)?),
            -3 => p.third = Some(d.bytes().map_err(unsupported)?),
            _ => skip_item(&mut d).map_err(unsupported)?,
        }
    }
    if d.position() != bytes.len() {
        return Err(unsupported("trailing bytes"));
    }
    Ok(p)
}

fn bytes_param<'a>(value: Option<&'a [u8]>, name: &str) -> Result<&'a [u8], WebAuthnError> {
    value.ok_or_else(|| WebAuthnError::UnsupportedKey(format!("missing {name}")))
}

/// The algorithm and key of an encoded COSE_Key. The key type, curve and
/// algorithm must agree.
pub(crate) fn cose_public_key(bytes: &[u8]) -> Result<(i64, PublicKey), WebAuthnError> {
    let key = read_params(bytes)?;
    let Some(alg) = key.alg else {
        return Err(WebAuthnError::UnsupportedKey("no algorithm".into()));
    };
    let Some(kty) = key.kty else {
        return Err(unsupported("no key type"));
    };
    let crv = match key.first {
        Some(First::Int(crv)) => Some(crv),
        _ => None,
    };
    let pk = match (kty, alg) {
        (KTY_EC2, ALG_ES256) => {
            if crv != Some(CRV_P256) {
                return Err(WebAuthnError::UnsupportedKey(
                    "ES256 needs curve P-256".into(),
                ));
            }
            let x = bytes_param(key.second, "x")?;
            let y = bytes_param(key.third, "y")?;
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
        (KTY_OKP, ALG_EDDSA) => {
            if crv != Some(CRV_ED25519) {
                return Err(WebAuthnError::UnsupportedKey(
                    "EdDSA needs curve Ed25519".into(),
                ));
            }
            let x = bytes_param(key.second, "x")?;
            let pk = ed25519_compact::PublicKey::from_slice(x).map_err(|_| {
                WebAuthnError::UnsupportedKey("Ed25519 key must be 32 bytes".into())
            })?;
            PublicKey::Ed25519(pk)
        }
        (KTY_RSA, ALG_RS256) => {
            let Some(First::Bytes(n)) = key.first else {
                return Err(WebAuthnError::UnsupportedKey("missing n".into()));
            };
            let e = bytes_param(key.second, "e")?;
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
                "key type {kty} with algorithm {alg}; accepted: ES256, EdDSA, RS256"
            )));
        }
    };
    Ok((alg, pk))
}

pub(crate) fn verify_signature(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
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
