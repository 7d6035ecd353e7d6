//! Admin portal sessions: after signing in with the management secret, the
//! browser holds an HttpOnly cookie with a sealed session (expiry and a
//! CSRF token), HMAC-signed under a key derived from the management secret,
//! so changing the secret signs everyone out. Every management request made
//! with the cookie must also send the CSRF token in a header, which a
//! cross-site page cannot read. Each session has an id, so signing out can
//! revoke it on the server: a copied cookie stops working at sign-out.

use serde::{Deserialize, Serialize};

use crate::auth::basic::secrets_equal;
use crate::encoding::{b64url, unb64url};

/// Name of the session cookie over plain http (local development).
pub const COOKIE: &str = "ag_admin";
/// Name of the session cookie over https: the `__Host-` prefix makes the
/// browser keep it only if it is `Secure`, host-only and for `Path=/`, so
/// no subdomain can set or shadow it.
pub const HOST_COOKIE: &str = "__Host-ag_admin";
/// Header carrying the CSRF token.
pub const CSRF_HEADER: &str = "X-ActionGate-CSRF";
/// How long a session lasts, in seconds.
pub const SESSION_TTL_SECS: u64 = 8 * 3600;

/// What a session cookie carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSession {
    /// The session's id (base64url of 16 random bytes), under which
    /// sign-out records its revocation.
    pub sid: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// The CSRF token (base64url of 16 random bytes).
    pub csrf: String,
}

fn key(secret: &str) -> [u8; 32] {
    hmac_sha256::HMAC::mac(b"actiongate-admin-session", secret.as_bytes())
}

/// `base64url(JSON) "." base64url(HMAC)`.
pub fn seal(secret: &str, session: &AdminSession) -> String {
    let payload = b64url(
        serde_json::to_string(session)
            .unwrap_or_default()
            .as_bytes(),
    );
    let mac = hmac_sha256::HMAC::mac(payload.as_bytes(), key(secret));
    format!("{payload}.{}", b64url(&mac))
}

/// The session in `token`, if it is ours and not expired at `now_secs`.
pub fn open(secret: &str, token: &str, now_secs: u64) -> Option<AdminSession> {
    let (payload, mac) = token.split_once('.')?;
    let mac = unb64url(mac)?;
    let expected = hmac_sha256::HMAC::mac(payload.as_bytes(), key(secret));
    if !secrets_equal(&expected, &mac) {
        return None;
    }
    let s: AdminSession = serde_json::from_slice(&unb64url(payload)?).ok()?;
    (now_secs < s.exp).then_some(s)
}

/// The session cookie's name: `__Host-` prefixed over https, where the
/// browser enforces what the prefix promises; plain over http (local
/// development), where it cannot be `Secure`.
pub fn cookie_name(https: bool) -> &'static str {
    if https { HOST_COOKIE } else { COOKIE }
}

/// The storage key under which a revoked session is remembered until it
/// would have expired anyway.
pub fn revocation_key(session: &AdminSession) -> String {
    format!("admin-session-revoked:{}", session.sid)
}

/// Whether a request's CSRF header matches its session.
pub fn csrf_ok(session: &AdminSession, header: Option<&str>) -> bool {
    header.is_some_and(|h| secrets_equal(h.as_bytes(), session.csrf.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn sessions_are_sealed_expire_and_die_with_the_secret() {
        let s = AdminSession {
            sid: "s1".into(),
            exp: 1_000,
            csrf: "c5rf".into(),
        };
        let t = seal("management-secret", &s);
        assert_eq!(open("management-secret", &t, 999), Some(s.clone()));
        assert_eq!(open("management-secret", &t, 1_000), None);
        assert_eq!(open("rotated-secret", &t, 999), None);
        let forged = seal(
            "management-secret",
            &AdminSession {
                exp: u64::MAX,
                ..s.clone()
            },
        );
        let (payload, _) = forged.split_once('.').unwrap();
        let (_, mac) = t.split_once('.').unwrap();
        assert_eq!(
            open("management-secret", &format!("{payload}.{mac}"), 999),
            None
        );
        assert_eq!(open("management-secret", "garbage", 0), None);
        assert!(csrf_ok(&s, Some("c5rf")));
        assert!(!csrf_ok(&s, Some("other")));
        assert!(!csrf_ok(&s, None));
    }
}
