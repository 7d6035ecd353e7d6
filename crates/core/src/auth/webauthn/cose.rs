//! COSE public keys (ES256, EdDSA, RS256) and their signatures.

use super::wire::{ALG_EDDSA, ALG_ES256, ALG_RS256, WebAuthnError};
use ciborium::value::Value as Cbor;
use coset::{CoseKey, Label, RegisteredLabel, RegisteredLabelWithPrivate, iana};

/// A public key ready to verify signatures.
pub(crate) enum PublicKey {
    Es256(Box<p256::ecdsa::VerifyingKey>),
    Ed25519(ed25519_compact::PublicKey),
    Rs256(Box<rsa::RsaPublicKey>),
}

pub(crate) fn param(key: &CoseKey, label: i64) -> Option<&Cbor> {
    key.params
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v)
}

pub(crate) fn bytes_param<'a>(
    key: &'a CoseKey,
    label: i64,
    name: &str,
) -> Result<&'a [u8], WebAuthnError> {
    match param(key, label) {
        Some(Cbor::Bytes(b)) => Ok(b),
        _ => Err(WebAuthnError::UnsupportedKey(format!("missing {name}"))),
    }
}

/// The algorithm and key of a COSE_Key. The key type, curve and algorithm
/// must agree.
pub(crate) fn cose_public_key(value: Cbor) -> Result<(i64, PublicKey), WebAuthnError> {
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
