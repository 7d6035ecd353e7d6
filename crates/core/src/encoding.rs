//! Encodings shared across the core: base64url (tokens, WebAuthn,
//! portal sessions, signatures) and SHA-256 in hex (request and body hashes).

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hmac_sha256::Hash::hash(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
