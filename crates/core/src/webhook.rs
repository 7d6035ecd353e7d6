//! Webhooks in Authsignal's format: an envelope
//! `{version, id, source, time, tenantId, type, data}` and the
//! `X-Signature-V2: t=<unix seconds>,v2=<signature>` header, where the
//! signature is the base64 HMAC-SHA256 of `"<t>.<body>"` under the API
//! secret key without its `=` padding, exactly what `@authsignal/node`'s
//! `webhook.constructEvent` checks.

use ct_codecs::{Base64, Encoder};
use serde_json::{Value, json};

/// The `source` of every event.
pub const SOURCE: &str = "https://github.com/actiongate";

/// An event envelope.
pub fn envelope(event_type: &str, id: &str, time: &str, tenant_id: &str, data: Value) -> Value {
    json!({
        "version": 1,
        "id": id,
        "source": SOURCE,
        "time": time,
        "tenantId": tenant_id,
        "type": event_type,
        "data": data,
    })
}

/// The `X-Signature-V2` header for `body` sent at `timestamp`.
pub fn signature_header(body: &str, secret: &str, timestamp: u64) -> String {
    let mac = hmac_sha256::HMAC::mac(format!("{timestamp}.{body}").as_bytes(), secret.as_bytes());
    let mut buf = [0u8; 64];
    let b64 = Base64::encode_to_str(&mut buf, mac).unwrap_or_default();
    format!("t={timestamp},v2={}", b64.trim_end_matches('='))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn signature_is_base64_hmac_of_timestamp_dot_body_without_padding() {
        let h = signature_header("{\"a\":1}", "secret", 1_700_000_000);
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret -binary | base64
        assert_eq!(
            h,
            "t=1700000000,v2=SfJOU3QHdD+koCQrtjuUuaR+6Zy74HHM2KIlUK5BFoY"
        );
    }

    #[test]
    fn envelope_has_authsignals_fields() {
        let e = envelope(
            "email.created",
            "id-1",
            "2026-11-22T00:00:00.000Z",
            "t",
            json!({"to": "a@b.c"}),
        );
        for k in [
            "version", "id", "source", "time", "tenantId", "type", "data",
        ] {
            assert!(e.get(k).is_some(), "{k}");
        }
        assert_eq!(e["type"], "email.created");
    }
}
