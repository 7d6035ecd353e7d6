//! Encodings shared across the core: base64url (tokens, WebAuthn,
//! portal sessions, signatures) and SHA-256 in hex (request and body hashes).

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    for b in hmac_sha256::Hash::hash(bytes) {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0xf));
    }
    out
}

/// The lowercase hex digit of a nibble (`0..16`).
fn hex_digit(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
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
}
