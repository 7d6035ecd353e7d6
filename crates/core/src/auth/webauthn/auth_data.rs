//! The binary `authenticatorData` (WebAuthn §6.1): rpIdHash, flags,
//! counter, the attested credential and extensions.

use super::wire::{WebAuthnError, malformed};
use ciborium::value::Value as Cbor;

pub(crate) const FLAG_UP: u8 = 0x01;

pub(crate) const FLAG_UV: u8 = 0x04;

pub(crate) const FLAG_BE: u8 = 0x08;

pub(crate) const FLAG_BS: u8 = 0x10;

pub(crate) const FLAG_AT: u8 = 0x40;

pub(crate) const FLAG_ED: u8 = 0x80;

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
    pub(crate) public_key: Cbor,
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

pub(crate) fn read_cbor(bytes: &mut &[u8], what: &str) -> Result<Cbor, WebAuthnError> {
    ciborium::de::from_reader(bytes).map_err(|e| malformed(format!("{what}: {e}")))
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
        let before = rest;
        let public_key = read_cbor(&mut rest, "credentialPublicKey")?;
        let used = before.len() - rest.len();
        Some(AttestedCredential {
            aaguid,
            credential_id,
            public_key,
            public_key_bytes: before.get(..used).unwrap_or_default().to_vec(),
        })
    } else {
        None
    };
    if flags & FLAG_ED != 0 {
        // Extension outputs: decoded to check the structure, not used.
        read_cbor(&mut rest, "extensions")?;
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

pub(crate) fn map_get<'a>(map: &'a [(Cbor, Cbor)], key: &str) -> Option<&'a Cbor> {
    map.iter()
        .find(|(k, _)| matches!(k, Cbor::Text(t) if t == key))
        .map(|(_, v)| v)
}

pub(crate) fn aaguid_string(a: &[u8; 16]) -> String {
    let hex: String = a.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        hex.get(0..8).unwrap_or(""),
        hex.get(8..12).unwrap_or(""),
        hex.get(12..16).unwrap_or(""),
        hex.get(16..20).unwrap_or(""),
        hex.get(20..32).unwrap_or("")
    )
}
