//! Encodings shared across the core: base64url (tokens, WebAuthn,
//! portal sessions, signatures) and SHA-256 in hex (request and body hashes).

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&hmac_sha256::Hash::hash(bytes))
}

/// `bytes` in lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let digit = |n: u8| char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 });
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(b & 0xf));
    }
    out
}

/// Base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    let mut buf = vec![0u8; bytes.len() * 4 / 3 + 4];
    <ct_codecs::Base64UrlSafeNoPadding as ct_codecs::Encoder>::encode_to_str(&mut buf, bytes)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// Decode [`b64url`].
pub fn unb64url(s: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; s.len()];
    <ct_codecs::Base64UrlSafeNoPadding as ct_codecs::Decoder>::decode(&mut buf, s.as_bytes(), None)
        .ok()
        .map(<[u8]>::to_vec)
}

/// Read JSON text as `T`: `serde_json::from_str`, through the byte reader.
/// The worker reads all its JSON (bodies, stored records, tokens) with
/// `serde_json`'s byte reader: reading some types from `&str` and others
/// from bytes compiled each type's reader twice into the upload.
///
/// # Errors
/// `serde_json`'s, as `from_str` gives them.
pub fn from_json<'a, T: serde::Deserialize<'a>>(text: &'a str) -> serde_json::Result<T> {
    serde_json::from_slice(text.as_bytes())
}

/// Read a JSON value as `T` (`serde_json::from_value`), through the same
/// byte reader as [`from_json`]: a second reader of each type, over
/// `Value`, would cost the upload more than the text costs the few places
/// that hold a `Value` (authenticator secrets, a held request).
///
/// # Errors
/// `serde_json`'s.
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
) -> serde_json::Result<T> {
    serde_json::from_slice(&serde_json::to_vec(value)?)
}

/// A field an enum's variant needs, from the flat form its tagged JSON is
/// read into (see [`crate::actions::model::Cause`]).
///
/// # Errors
/// serde's "missing field" when it is absent.
pub fn required<T, E: serde::de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn sha256_hex_is_lowercase_hex_of_the_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hex_writes_every_byte_as_two_lowercase_digits() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), expected);
    }
}
