//! What the worker sends the app: the signed `X-ActionGate-*` headers of
//! an allowed request, and never a client's own headers or ActionGate's
//! cookies.

use crate::encoding::b64url;

/// Name of the device-id cookie.
pub const DEVICE_COOKIE: &str = "__as_aid";
/// Prefix of the headers the worker adds for the origin; clients' own
/// headers with this prefix are removed before anything is forwarded.
pub const HEADER_PREFIX: &str = "x-actiongate-";

/// The action an allowed request to the origin belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionFacts<'a> {
    /// The user.
    pub user_id: &'a str,
    /// The action code.
    pub action: &'a str,
    /// The action's state.
    pub state: &'a str,
    /// The action's idempotency key.
    pub idempotency_key: &'a str,
}

/// What the worker tells the origin about an allowed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardFacts<'a> {
    /// Seconds since the epoch.
    pub timestamp: u64,
    /// HTTP method.
    pub method: &'a str,
    /// The host the request is sent to, as the app sees it in `Host`
    /// (`app.example.com`, `127.0.0.1:8788`).
    pub host: &'a str,
    /// Path and query as forwarded.
    pub path_and_query: &'a str,
    /// SHA-256 of the forwarded body, hex (of nothing for no body).
    pub body_sha256: &'a str,
    /// Its action.
    pub action: ActionFacts<'a>,
}

impl ForwardFacts<'_> {
    /// The string the signature covers: `v2`, then each fact, one per line
    /// (timestamp, method, host, path and query, body SHA-256, user, action,
    /// state, idempotency key).
    pub fn canonical(&self) -> String {
        [
            "v2",
            &self.timestamp.to_string(),
            self.method,
            self.host,
            self.path_and_query,
            self.body_sha256,
            self.action.user_id,
            self.action.action,
            self.action.state,
            self.action.idempotency_key,
        ]
        .join("\n")
    }

    /// `X-ActionGate-*` headers, the last being the base64url HMAC-SHA256 of
    /// [`Self::canonical`] under `key`.
    pub fn headers(&self, key: &[u8]) -> Vec<(&'static str, String)> {
        let mac = hmac_sha256::HMAC::mac(self.canonical().as_bytes(), key);
        vec![
            ("X-ActionGate-Timestamp", self.timestamp.to_string()),
            ("X-ActionGate-User-Id", self.action.user_id.to_owned()),
            ("X-ActionGate-Action", self.action.action.to_owned()),
            ("X-ActionGate-State", self.action.state.to_owned()),
            (
                "X-ActionGate-Idempotency-Key",
                self.action.idempotency_key.to_owned(),
            ),
            ("X-ActionGate-Body-SHA256", self.body_sha256.to_owned()),
            ("X-ActionGate-Signature", format!("v2={}", b64url(&mac))),
        ]
    }
}

/// Whether a request header is one of ActionGate's (`X-ActionGate-*`), in
/// any spelling an app server might fold onto the same name: CGI and WSGI
/// servers turn `-` and `_` alike into `_` (`X_ActionGate_User_Id`).
pub fn is_our_header(name: &str) -> bool {
    name.len() >= HEADER_PREFIX.len()
        && name
            .bytes()
            .zip(HEADER_PREFIX.bytes())
            .all(|(a, b)| a.to_ascii_lowercase() == b || (a == b'_' && b == b'-'))
}

/// [`is_our_header`] as a case-insensitive regular expression over
/// lower-cased header names (what the JavaScript entry tests): the prefix,
/// with `-` or `_` wherever it has `-`.
pub fn our_header_pattern() -> String {
    format!("^{}", HEADER_PREFIX.replace('-', "[-_]"))
}

/// The cookies of ActionGate's own that never reach the app: the portal
/// session, in both spellings. (The device id cookie, `__as_aid`, is not
/// secret and is Authsignal's documented device cookie, which apps read to
/// pass a `deviceId` to track: it reaches the app.)
pub const OUR_COOKIES: [&str; 2] = [
    crate::auth::admin_session::COOKIE,
    crate::auth::admin_session::HOST_COOKIE,
];

/// A `Cookie` header without ActionGate's own cookies; `None` when nothing
/// else is left.
pub fn without_our_cookies(header: &str) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|kv| {
            let name = kv.split_once('=').map_or(*kv, |(k, _)| k).trim();
            !kv.is_empty() && !OUR_COOKIES.contains(&name)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}
