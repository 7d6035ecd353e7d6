//! The binary `authenticatorData` (WebAuthn §6.1): rpIdHash, flags,
//! counter, the attested credential and extensions.

use super::wire::{WebAuthnError, malformed};
use minicbor::Decoder;

pub(crate) const FLAG_UP: u8 = 0x01;

pub(crate) const FLAG_UV: u8 = 0x04;

pub(crate) const FLAG_BE: u8 = 0x08;

pub(crate) const FLAG_BS: u8 = 0x10;

pub(crate) const FLAG_AT: u8 = 0x40;

pub(crate) const FLAG_ED: u8 = 0x80;

/// The largest COSE key accepted, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 1024;

/// The parts of `authenticatorData` the ceremonies check.
pub(crate) struct AuthData {
    pub(crate) rp_id_hash: [u8; 32],
    pub(crate) flags: u8,
    pub(crate) counter: u32,
    pub(crate) attested: Option<AttestedCredential>,
}

pub(crate) struct AttestedCredential {
    pub(crate) aaguid: [u8; 16],
    pub(crate) credential_id: Vec<u8>,
    /// The COSE_Key, as encoded (read by [`super::cose::cose_public_key`]).
    pub(crate) public_key_bytes: Vec<u8>,
}

pub(crate) fn take<'a>(
    bytes: &mut &'a [u8],
    n: usize,
    what: &str,
) -> Result<&'a [u8], WebAuthnError> {
    if bytes.len() < n {
        return Err(malformed(format!(
            "authenticatorData is too short for {what}"
        )));
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Ok(head)
}

/// How deep [`skip_item`] follows arrays, maps and tags.
const MAX_SKIP_DEPTH: usize = 32;

/// Step over one CBOR item, checking that it is well formed (RFC 8949,
/// §5.3.1) without interpreting it: arrays, maps and tags are followed item
/// by item, so a break byte stands only where an indefinite-length array or
/// map ends (minicbor's own `skip` counts one inside a definite-length
/// array as an item), and every other item is read by minicbor (text as
/// UTF-8, string chunks of their string's type). Nesting deeper than
/// [`MAX_SKIP_DEPTH`] is refused.
pub(crate) fn skip_item(d: &mut Decoder<'_>) -> Result<(), minicbor::decode::Error> {
    skip_nested(d, 0)
}

fn skip_nested(d: &mut Decoder<'_>, depth: usize) -> Result<(), minicbor::decode::Error> {
    use minicbor::data::Type;
    use minicbor::decode::Error;
    if depth > MAX_SKIP_DEPTH {
        return Err(Error::message("CBOR nested too deeply"));
    }
    match d.datatype()? {
        Type::Break => Err(Error::message("a break where an item should start")),
        Type::Array | Type::ArrayIndef => match d.array()? {
            Some(n) => (0..n).try_for_each(|_| skip_nested(d, depth + 1)),
            None => skip_until_break(d, depth, 1),
        },
        Type::Map | Type::MapIndef => match d.map()? {
            Some(n) => (0..n).try_for_each(|_| {
                skip_nested(d, depth + 1)?;
                skip_nested(d, depth + 1)
            }),
            None => skip_until_break(d, depth, 2),
        },
        Type::Tag => {
            d.tag()?;
            skip_nested(d, depth + 1)
        }
        _ => d.skip(),
    }
}

/// The items of an indefinite-length array (`per_entry` 1) or map (2),
/// and the break that ends it.
fn skip_until_break(
    d: &mut Decoder<'_>,
    depth: usize,
    per_entry: usize,
) -> Result<(), minicbor::decode::Error> {
    loop {
        if d.datatype()? == minicbor::data::Type::Break {
            d.set_position(d.position() + 1);
            return Ok(());
        }
        for _ in 0..per_entry {
            skip_nested(d, depth + 1)?;
        }
    }
}

/// Step over the CBOR item at the start of `bytes` ([`skip_item`]); return it.
pub(crate) fn skip_cbor<'a>(bytes: &mut &'a [u8], what: &str) -> Result<&'a [u8], WebAuthnError> {
    let mut d = Decoder::new(bytes);
    skip_item(&mut d).map_err(|e| malformed(format!("{what}: {e}")))?;
    let (item, rest) = bytes.split_at(d.position().min(bytes.len()));
    *bytes = rest;
    Ok(item)
}

pub(crate) fn parse_auth_data(data: &[u8]) -> Result<AuthData, WebAuthnError> {
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
        let public_key = skip_cbor(&mut rest, "credentialPublicKey")?;
        // An RSA-4096 key is about 530 bytes; nothing accepted is larger.
        if public_key.len() > MAX_KEY_BYTES {
            return Err(malformed("credentialPublicKey is too large"));
        }
        Some(AttestedCredential {
            aaguid,
            credential_id,
            public_key_bytes: public_key.to_vec(),
        })
    } else {
        None
    };
    if flags & FLAG_ED != 0 {
        // Extension outputs: stepped over (their extent found), not used.
        skip_cbor(&mut rest, "extensions")?;
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

/// What an `attestationObject` (WebAuthn §6.5) holds.
pub(crate) struct AttestationObject<'a> {
    pub(crate) fmt: &'a str,
    pub(crate) statement: Statement<'a>,
    pub(crate) auth_data: &'a [u8],
}

/// The attestation statement's entries that `none` and `packed` use.
#[derive(Default)]
pub(crate) struct Statement<'a> {
    /// How many entries it has.
    pub(crate) entries: u64,
    pub(crate) alg: Option<i64>,
    pub(crate) sig: Option<&'a [u8]>,
    /// Whether it carries an attestation certificate chain.
    pub(crate) x5c: bool,
}

fn cbor_error(what: &'static str) -> impl Fn(minicbor::decode::Error) -> WebAuthnError {
    move |e| malformed(format!("{what}: {e}"))
}

/// A map's number of entries; indefinite-length maps are not canonical
/// CBOR (CTAP2) and are refused.
pub(crate) fn definite_map(d: &mut Decoder<'_>, what: &'static str) -> Result<u64, WebAuthnError> {
    d.map()
        .map_err(cbor_error(what))?
        .ok_or_else(|| malformed(format!("{what} is not a map of definite length")))
}

/// Keep the first value of a key; a second one is refused.
pub(crate) fn once<T>(slot: &mut Option<T>, value: T, key: &str) -> Result<(), WebAuthnError> {
    if slot.replace(value).is_some() {
        return Err(malformed(format!("{key} appears twice")));
    }
    Ok(())
}

/// Read an `attestationObject`: a map of `fmt`, `attStmt` and `authData`
/// (other entries are stepped over), nothing after it.
pub(crate) fn parse_attestation(bytes: &[u8]) -> Result<AttestationObject<'_>, WebAuthnError> {
    const WHAT: &str = "attestationObject";
    let mut d = Decoder::new(bytes);
    let (mut fmt, mut statement, mut auth_data) = (None, None, None);
    for _ in 0..definite_map(&mut d, WHAT)? {
        let key = d.str().map_err(cbor_error(WHAT))?;
        match key {
            "fmt" => once(&mut fmt, d.str().map_err(cbor_error("fmt"))?, key)?,
            "attStmt" => once(&mut statement, parse_statement(&mut d)?, key)?,
            "authData" => once(
                &mut auth_data,
                d.bytes().map_err(cbor_error("authData"))?,
                key,
            )?,
            _ => skip_item(&mut d).map_err(cbor_error(WHAT))?,
        }
    }
    if d.position() != bytes.len() {
        return Err(malformed("trailing bytes after attestationObject"));
    }
    let (Some(fmt), Some(statement), Some(auth_data)) = (fmt, statement, auth_data) else {
        return Err(malformed(
            "attestationObject needs fmt, attStmt and authData",
        ));
    };
    Ok(AttestationObject {
        fmt,
        statement,
        auth_data,
    })
}

fn parse_statement<'a>(d: &mut Decoder<'a>) -> Result<Statement<'a>, WebAuthnError> {
    const WHAT: &str = "attStmt";
    let mut statement = Statement {
        entries: definite_map(d, WHAT)?,
        ..Statement::default()
    };
    let (mut alg, mut sig, mut x5c) = (None, None, None);
    for _ in 0..statement.entries {
        let key = d.str().map_err(cbor_error(WHAT))?;
        match key {
            "alg" => once(&mut alg, d.i64().map_err(cbor_error("attStmt.alg"))?, key)?,
            "sig" => once(&mut sig, d.bytes().map_err(cbor_error("attStmt.sig"))?, key)?,
            "x5c" => {
                skip_item(d).map_err(cbor_error(WHAT))?;
                once(&mut x5c, (), key)?;
            }
            _ => skip_item(d).map_err(cbor_error(WHAT))?,
        }
    }
    statement.alg = alg;
    statement.sig = sig;
    statement.x5c = x5c.is_some();
    Ok(statement)
}

pub(crate) fn aaguid_string(a: &[u8; 16]) -> String {
    let hex = crate::encoding::hex(a);
    format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8).unwrap_or(""),
        hex.get(8..12).unwrap_or(""),
        hex.get(12..16).unwrap_or(""),
        hex.get(16..20).unwrap_or(""),
        hex.get(20..32).unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// Where [`skip_item`] ends on `bytes`, or `None` when it refuses them.
    fn skipped(bytes: &[u8]) -> Option<usize> {
        let mut d = Decoder::new(bytes);
        skip_item(&mut d).ok().map(|()| d.position())
    }

    #[test]
    fn well_formed_items_are_stepped_over_to_their_end() {
        for (bytes, end) in [
            (&[0x01, 0x02][..], 1),
            // [1, [2, 3], {"a": h'00'}]
            (
                &[
                    0x83, 0x01, 0x82, 0x02, 0x03, 0xa1, 0x61, 0x61, 0x41, 0x00, 0x07,
                ],
                10,
            ),
            // [_ 1, [_ ], {_ 1: 2}] and a tagged text
            (
                &[0x9f, 0x01, 0x9f, 0xff, 0xbf, 0x01, 0x02, 0xff, 0xff][..],
                9,
            ),
            (&[0xc0, 0x61, 0x78][..], 3),
            // (_ h'01', h'02'), an indefinite byte string
            (&[0x5f, 0x41, 0x01, 0x41, 0x02, 0xff][..], 6),
        ] {
            assert_eq!(skipped(bytes), Some(end), "{bytes:02x?}");
        }
    }

    #[test]
    fn malformed_items_are_refused() {
        let mut deep = vec![0x81; MAX_SKIP_DEPTH + 2];
        deep.push(0x00);
        for bytes in [
            // A break where an item should start, at the top and nested
            // in definite-length arrays and maps, and under a tag.
            &[0xff][..],
            &[0x81, 0xff],
            &[0x82, 0x01, 0xff],
            &[0xa1, 0x01, 0xff],
            &[0x9f, 0x81, 0xff, 0xff],
            &[0xc0, 0xff],
            // A map whose last key has no value before its break.
            &[0xbf, 0x01, 0xff],
            // Text that is not UTF-8, a chunk of another type, truncation.
            &[0x62, 0xc3, 0x28],
            &[0x7f, 0x41, 0x00, 0xff],
            &[0x82, 0x01],
            &[0x9f, 0x01],
            // A reserved additional-information value.
            &[0x1c],
            &deep,
        ] {
            assert_eq!(skipped(bytes), None, "{bytes:02x?}");
        }
    }
}
