//! The proxy's configuration: the app's origin, how users are identified,
//! and its protected routes (path patterns, methods, actions, the `custom`
//! attributes read from each request), validated with every problem listed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::path::{PathPattern, normal_segments};
use crate::error::CoreError;
use crate::ids::check_action_code;
use crate::redirect::{BrowserUrl, check_browser_url};

/// Largest request body the proxy reads on a protected route (default).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// `proxy` in a configuration document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyConfig {
    /// The app, e.g. `https://app.internal.example.com` (no path); or
    /// empty when the app is reached through a service binding.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub origin_url: String,
    /// The app as a Worker service binding (its binding name in
    /// wrangler.toml, e.g. `APP`), instead of `originUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_service: Option<String>,
    /// How the worker learns who the user is.
    pub identity: IdentityConfig,
    /// Protected routes; everything else passes straight through.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Largest body read on a protected route, in bytes. Default 64 KiB.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// The route patterns, parsed once on first use.
    #[serde(skip)]
    patterns: std::cell::OnceCell<Vec<Option<PathPattern>>>,
}

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

/// Identity sources, tried in order: trusted upstream header, then JWT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityConfig {
    /// The app's session JWT.
    #[serde(default)]
    pub jwt: Option<JwtIdentity>,
    /// A header set by a trusted upstream, with a shared secret.
    #[serde(default)]
    pub trusted_header: Option<TrustedHeaderIdentity>,
    /// Where a browser without identity is sent (otherwise a 401).
    #[serde(default)]
    pub login_url: Option<String>,
}

/// A session JWT in a cookie or the `Authorization: Bearer` header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtIdentity {
    /// Cookie holding the JWT. Default: none (header only).
    #[serde(default)]
    pub cookie: Option<String>,
    /// Whether to read `Authorization: Bearer`. Default: true.
    #[serde(default = "yes")]
    pub bearer: bool,
    /// `HS256` (shared secret) or `RS256`/`ES256` (public keys from a JWKS).
    pub algorithm: JwtAlgorithm,
    /// HS256: name of the Worker secret holding the key.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// RS256/ES256: where the app publishes its public keys (a JWKS).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The claim that holds the user id. Default: `sub`.
    #[serde(default = "default_claim")]
    pub user_id_claim: String,
    /// Required issuer, if any.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Required audience, if any.
    #[serde(default)]
    pub audience: Option<String>,
    /// Accept session tokens without an expiry (`exp`). Default: false:
    /// such a token, once stolen, would never stop working.
    #[serde(default)]
    pub allow_missing_exp: bool,
}

fn yes() -> bool {
    true
}

fn default_claim() -> String {
    "sub".to_owned()
}

/// Accepted session JWT algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    /// HMAC-SHA256 with a shared secret.
    HS256,
    /// RSA PKCS#1 v1.5 with SHA-256, keys from a JWKS.
    RS256,
    /// ECDSA P-256 with SHA-256, keys from a JWKS.
    ES256,
}

/// A user id header set by a trusted upstream (an API gateway).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustedHeaderIdentity {
    /// Header with the user id, e.g. `X-User-Id`.
    pub header: String,
    /// Header with the shared secret, e.g. `X-Upstream-Secret`.
    pub secret_header: String,
    /// Name of the Worker secret the header must equal.
    pub secret_env: String,
}

/// One protected route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteConfig {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path pattern: literal segments, `:name` for one segment, a final `*`
    /// for the rest (`/accounts/:id/withdraw`).
    pub path: String,
    /// The action code tracked for it.
    pub action: String,
    /// `custom` attributes: name → source (`body:/json/pointer`,
    /// `form:field`, `query:name`, `header:Name`, `param:name`), or
    /// `{"from": source, "type": "number" | "string" | "boolean",
    /// "optional": true}`. Each is required unless marked optional: a
    /// request without it is refused (see [`read_custom`]).
    #[serde(default)]
    pub custom: BTreeMap<String, AttributeSource>,
    /// The app never reads a method override (`X-HTTP-Method-Override`,
    /// `_method`) for this route: a request whose own method selects it is
    /// checked as this route whatever overrides it carries, and overrides
    /// never select it. Default: false (see [`ProxyConfig::select`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_method_override: bool,
    /// When a held request of this route is approved in review, send it
    /// to the app right away (once), instead of waiting for the client to
    /// retry with its token. Default: false.
    #[serde(default)]
    pub replay_on_approval: bool,
}

/// Where an attribute comes from: a string, or an object (read by a
/// visitor that looks at which it is, not by serde's untagged derive, which
/// buffers the value and tries each form in turn).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AttributeSource {
    /// Just the source; the value keeps its type, and is required.
    Plain(String),
    /// A source with a type to convert to, or marked optional.
    Typed(TypedSource),
}

impl<'de> Deserialize<'de> for AttributeSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Source;
        impl<'de> serde::de::Visitor<'de> for Source {
            type Value = AttributeSource;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a source (\"body:/amount\") or an object with from, type and optional")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AttributeSource::Plain(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                TypedSource::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(AttributeSource::Typed)
            }
        }
        d.deserialize_any(Source)
    }
}

/// `{"from": source, "type": …, "optional": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedSource {
    /// The source.
    pub from: String,
    /// The type to convert to. Default: the value keeps its type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AttributeType>,
    /// Whether the attribute may be absent (then `null`). Default: false,
    /// an absent attribute refuses the request (`missing_attribute`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// A type to convert an attribute to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeType {
    /// A JSON number.
    Number,
    /// A string.
    String,
    /// `true`/`false`.
    Boolean,
}

impl AttributeSource {
    /// The source (`body:/amount`, `form:to`, …).
    pub fn from(&self) -> &str {
        match self {
            AttributeSource::Plain(s) => s,
            AttributeSource::Typed(t) => &t.from,
        }
    }

    /// The type it converts to, if any.
    pub fn kind(&self) -> Option<AttributeType> {
        match self {
            AttributeSource::Plain(_) => None,
            AttributeSource::Typed(t) => t.kind,
        }
    }

    /// Whether it may be absent.
    pub fn optional(&self) -> bool {
        matches!(self, AttributeSource::Typed(t) if t.optional)
    }
}

/// The methods the edge proxy handles, as the runtime spells them. Routes use
/// these; a request with any other method (`PROPFIND`, `patch`) is refused,
/// since its route could not be told.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl ProxyConfig {
    /// Every problem of a proxy configuration, located (`proxy.routes[1].path: …`).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        match (&self.origin_service, self.origin_url.is_empty()) {
            (Some(_), false) => p.push(
                "proxy.originService: give originUrl or originService, not both".to_owned(),
            ),
            (Some(name), true) => {
                let ok = name.len() <= 64
                    && name.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if !ok {
                    p.push(
                        "proxy.originService: a binding name such as APP (A-Z, 0-9, _)".to_owned(),
                    );
                }
            }
            // Hosts are read ASCII-only (see `redirect::check_browser_url`).
            (None, _) if !self.origin_url.is_ascii() => p.push(
                "proxy.originUrl: has a host that is not ASCII: write an internationalised domain name in its xn-- (punycode) form"
                    .to_owned(),
            ),
            (None, _) => match url::Url::parse(&self.origin_url) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && u.path() == "/"
                        && u.query().is_none() => {}
                _ => p.push(
                    "proxy.originUrl: must be an http(s) URL with no path, query or fragment (or give originService)"
                        .to_owned(),
                ),
            },
        }
        let id = &self.identity;
        if id.jwt.is_none() && id.trusted_header.is_none() {
            p.push("proxy.identity: configure jwt, trustedHeader or both".to_owned());
        }
        if let Some(j) = &id.jwt {
            if j.cookie.is_none() && !j.bearer {
                p.push("proxy.identity.jwt: read a cookie, the bearer header, or both".to_owned());
            }
            match j.algorithm {
                JwtAlgorithm::HS256 => {
                    if !j.secret_env.as_deref().is_some_and(valid_env_name) {
                        p.push("proxy.identity.jwt.secretEnv: HS256 needs the name of a Worker secret (A-Z, 0-9, _)".to_owned());
                    }
                    if j.jwks_url.is_some() {
                        p.push("proxy.identity.jwt.jwksUrl: only for RS256 and ES256".to_owned());
                    }
                }
                JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => {
                    let ok = j
                        .jwks_url
                        .as_deref()
                        .and_then(|u| url::Url::parse(u).ok())
                        .is_some_and(|u| {
                            u.scheme() == "https"
                                || (u.scheme() == "http"
                                    && matches!(u.host_str(), Some("127.0.0.1" | "localhost")))
                        });
                    if !ok {
                        p.push("proxy.identity.jwt.jwksUrl: RS256 and ES256 need an https URL of the app's JWKS".to_owned());
                    }
                    if j.secret_env.is_some() {
                        p.push("proxy.identity.jwt.secretEnv: only for HS256".to_owned());
                    }
                }
            }
            if j.user_id_claim.is_empty() {
                p.push("proxy.identity.jwt.userIdClaim: must not be empty".to_owned());
            }
        }
        if let Some(t) = &id.trusted_header {
            if !valid_env_name(&t.secret_env) {
                p.push("proxy.identity.trustedHeader.secretEnv: the name of a Worker secret (A-Z, 0-9, _)".to_owned());
            }
            if t.header.is_empty() || t.secret_header.is_empty() {
                p.push(
                    "proxy.identity.trustedHeader: header and secretHeader must be set".to_owned(),
                );
            }
        }
        if let Some(l) = &id.login_url
            && let Err(why) = check_browser_url(l, BrowserUrl::Path)
        {
            p.push(format!("proxy.identity.loginUrl: {l:?} {why}"));
        }
        if self.max_body_bytes == 0 || self.max_body_bytes > 1024 * 1024 {
            p.push("proxy.maxBodyBytes: between 1 and 1048576".to_owned());
        }
        for (i, r) in self.routes.iter().enumerate() {
            let at = format!("proxy.routes[{i}]");
            if !METHODS.contains(&r.method.as_str()) {
                p.push(format!("{at}.method: one of {}", METHODS.join(", ")));
            }
            if let Err(e) = PathPattern::parse(&r.path) {
                p.push(format!("{at}.path: {e}"));
            }
            if let Err(e) = check_action_code(&r.action, &format!("{at}.action")) {
                p.push(e.to_string());
            }
            let reads = |prefix: &str| r.custom.values().any(|s| s.from().starts_with(prefix));
            if reads("body:") && reads("form:") {
                p.push(format!(
                    "{at}.custom: read the body as JSON (body:) or as a form (form:), not both"
                ));
            }
            for (name, src) in &r.custom {
                let from = src.from();
                let ok = match from.split_once(':') {
                    Some(("body", ptr)) => ptr.is_empty() || ptr.starts_with('/'),
                    Some(("form" | "query" | "header", n)) => !n.is_empty(),
                    Some(("param", n)) => {
                        PathPattern::parse(&r.path).is_ok_and(|pp| pp.params().any(|x| x == n))
                    }
                    _ => false,
                };
                if !ok {
                    p.push(format!(
                        "{at}.custom.{name}: {from:?} is not body:/pointer, form:field, query:name, header:Name or param:<a :name of the path>"
                    ));
                }
            }
        }
        p
    }

    /// The route a request belongs to, reading its method every way an app
    /// might: its own `method` and every method it names otherwise
    /// (`overrides`: override headers, `_method` in the query or the body).
    /// Where those select different protected routes, which one the app runs
    /// cannot be told: [`Selection::Ambiguous`], and the request is refused.
    /// Where they select one protected route (and the others none), the
    /// request is checked as that route, the stricter reading. A route with
    /// `ignoreMethodOverride` selected by the request's own method decides
    /// alone, and is never selected by an override.
    pub fn select(&self, method: &str, path: &str, overrides: &[String]) -> Selection<'_> {
        let mut here = self.at_path(path);
        let own = here.iter().position(|(r, _)| applies(r, method));
        if let Some(i) = own
            && here.get(i).is_some_and(|(r, _)| r.ignore_method_override)
        {
            let (r, p) = here.swap_remove(i);
            return Selection::One(r, p);
        }
        let mut chosen: Vec<usize> = own.into_iter().collect();
        for m in overrides.iter().filter(|m| !m.eq_ignore_ascii_case(method)) {
            if let Some(i) = here.iter().position(|(r, _)| applies(r, m))
                && here.get(i).is_some_and(|(r, _)| !r.ignore_method_override)
                && !chosen.contains(&i)
            {
                chosen.push(i);
            }
        }
        match chosen.as_slice() {
            [] => Selection::None,
            [i] => {
                let (r, p) = here.swap_remove(*i);
                Selection::One(r, p)
            }
            _ => Selection::Ambiguous,
        }
    }

    /// Whether a request's body could name a method (`_method`) that
    /// selects another route than its `method` and `overrides` do: it may
    /// carry a body, and a route of another method (that heeds overrides)
    /// matches its path. Such a request is read before it is classified.
    pub fn body_may_override(&self, method: &str, path: &str, overrides: &[String]) -> bool {
        if method == "GET" || method == "HEAD" {
            return false;
        }
        let here = self.at_path(path);
        let first = |m: &str| here.iter().find(|(r, _)| applies(r, m)).map(|(r, _)| *r);
        if first(method).is_some_and(|r| r.ignore_method_override) {
            return false;
        }
        METHODS
            .iter()
            .filter(|m| **m != method && !overrides.iter().any(|o| o == *m))
            .any(|m| first(m).is_some_and(|r| !r.ignore_method_override))
    }

    /// The first route matching `method` and `path`, with its path parameters
    /// (a GET route also matches HEAD).
    pub fn route(
        &self,
        method: &str,
        path: &str,
    ) -> Option<(&RouteConfig, BTreeMap<String, String>)> {
        self.at_path(path)
            .into_iter()
            .find(|(r, _)| applies(r, method))
    }

    /// Every route whose pattern matches `path`, whatever its method, in
    /// order, with its path parameters. The path is normalised once.
    fn at_path(&self, path: &str) -> Vec<(&RouteConfig, BTreeMap<String, String>)> {
        if !path.starts_with('/') {
            return Vec::new();
        }
        let patterns = self.patterns.get_or_init(|| {
            self.routes
                .iter()
                .map(|r| PathPattern::parse(&r.path).ok())
                .collect()
        });
        let parts = normal_segments(path);
        self.routes
            .iter()
            .zip(patterns)
            .filter_map(|(r, p)| p.as_ref()?.matches_parts(&parts).map(|params| (r, params)))
            .collect()
    }
}

/// Whether a route applies to a request of `method`: its own, or HEAD for a
/// GET route (apps answer HEAD with their GET handler).
fn applies(r: &RouteConfig, method: &str) -> bool {
    r.method.eq_ignore_ascii_case(method)
        || (method.eq_ignore_ascii_case("HEAD") && r.method == "GET")
}

/// Which protected route a request is, by [`ProxyConfig::select`].
#[derive(Debug)]
pub enum Selection<'a> {
    /// No protected route.
    None,
    /// This route, with its path parameters.
    One(&'a RouteConfig, BTreeMap<String, String>),
    /// The ways the request names its method select different routes.
    Ambiguous,
}

fn valid_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Parse the `proxy` section of a configuration document.
///
/// # Errors
/// [`CoreError::Invalid`] with every problem.
pub fn parse_proxy(v: Value) -> Result<ProxyConfig, CoreError> {
    // Not an array either, which serde would read positionally.
    if !v.is_object() {
        return Err(CoreError::Invalid(vec![
            "proxy: must be an object".to_owned(),
        ]));
    }
    let cfg: ProxyConfig = crate::error::read_value(&v).map_err(|(path, why)| {
        let at = if path.is_empty() {
            String::new()
        } else {
            format!(".{path}")
        };
        CoreError::Invalid(vec![format!("proxy{at}: {why}")])
    })?;
    let p = cfg.problems();
    if p.is_empty() {
        Ok(cfg)
    } else {
        Err(CoreError::Invalid(p))
    }
}
