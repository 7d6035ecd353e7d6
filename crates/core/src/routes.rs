//! Every route the worker answers itself, with its methods: the table the
//! router consults before any handler runs.
//!
//! A request whose path is not here is 404, and one whose method is not
//! listed for its path is 405 with `Allow` (the method compared exactly as
//! the runtime gives it, so `QUERY` or `patch` never pass for another).
//! Paths are written as the OpenAPI document writes them
//! (`www/v1/openapi.json`), and a test checks that the two list the same
//! routes and methods, so nothing is served undocumented. App paths (the
//! edge proxy's) and static assets (the hosted page, the portal, the
//! document itself when assets are served) are not routes of the worker's
//! own API and are not here.

/// A route: a path template and the methods it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The path as the OpenAPI document writes it; `{name}` is one segment.
    pub path: &'static str,
    /// The methods it answers, as the runtime spells them.
    pub methods: &'static [&'static str],
}

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];
const PUT: &[&str] = &["PUT"];
const DELETE: &[&str] = &["DELETE"];
const GET_POST: &[&str] = &["GET", "POST"];
const GET_PUT_DELETE: &[&str] = &["GET", "PUT", "DELETE"];

const fn route(path: &'static str, methods: &'static [&'static str]) -> Route {
    Route { path, methods }
}

/// Every route, grouped as the API is.
pub const ROUTES: &[Route] = &[
    // The worker's own pages and checks.
    route("/health", GET),
    route("/v1/openapi.json", GET),
    route("/__actiongate/magic-link", GET_POST),
    route("/__actiongate/outcome", &["GET", "HEAD"]),
    route("/__actiongate/admin/session", &["GET", "POST", "DELETE"]),
    route("/__actiongate/outbox", GET),
    route("/__actiongate/outbox.json", GET),
    // Server API.
    route("/v1/users", GET),
    route("/v1/users/{userId}", &["GET", "PATCH", "DELETE"]),
    route("/v1/users/{userId}/actions", GET),
    route("/v1/users/{userId}/actions/{action}", POST),
    route(
        "/v1/users/{userId}/actions/{action}/{idempotencyKey}",
        &["GET", "PATCH"],
    ),
    route("/v1/users/{userId}/authenticators", GET_POST),
    route(
        "/v1/users/{userId}/authenticators/{userAuthenticatorId}",
        DELETE,
    ),
    route("/v1/users/{userId}/lockout", DELETE),
    route("/v1/validate", POST),
    route("/v1/challenge", POST),
    route("/v1/verify", POST),
    route("/v1/claim", POST),
    route("/v1/challenges", GET),
    route("/v1/sessions", POST),
    route("/v1/sessions/validate", POST),
    route("/v1/sessions/refresh", POST),
    route("/v1/sessions/revoke", POST),
    route("/v1/sessions/user/revoke", POST),
    route("/v1/.well-known/jwks", GET),
    // Client API (a CORS preflight's OPTIONS is answered on each as well).
    route("/v1/client/action", GET),
    route("/v1/client/action/cancel", POST),
    route("/v1/client/user-authenticators/totp", POST),
    route("/v1/client/user-authenticators/email-otp", POST),
    route("/v1/client/user-authenticators/sms", POST),
    route("/v1/client/user-authenticators/whatsapp", POST),
    route("/v1/client/user-authenticators/email-magic-link", POST),
    route("/v1/client/user-authenticators/recovery-code", POST),
    route("/v1/client/challenge/email-otp", POST),
    route("/v1/client/challenge/sms", POST),
    route("/v1/client/challenge/whatsapp", POST),
    route("/v1/client/challenge/email-magic-link", POST),
    route("/v1/client/verify/totp", POST),
    route("/v1/client/verify/email-otp", POST),
    route("/v1/client/verify/sms", POST),
    route("/v1/client/verify/whatsapp", POST),
    route("/v1/client/verify/recovery-code", POST),
    route("/v1/client/verify/email-magic-link/finalize", POST),
    route("/v1/client/challenge", POST),
    route("/v1/client/user-authenticators/passkey", GET_POST),
    route(
        "/v1/client/user-authenticators/passkey/registration-options",
        POST,
    ),
    route(
        "/v1/client/user-authenticators/passkey/authentication-options",
        POST,
    ),
    route("/v1/client/user-authenticators/passkey/skip-prompt", POST),
    route("/v1/client/verify/passkey", POST),
    route("/v1/client/user-authenticators/security-key", POST),
    route(
        "/v1/client/user-authenticators/security-key/registration-options",
        POST,
    ),
    route(
        "/v1/client/user-authenticators/security-key/authentication-options",
        POST,
    ),
    route("/v1/client/verify/security-key", POST),
    // Management API.
    route("/v1/management/action-configurations", GET),
    route(
        "/v1/management/action-configurations/{actionCode}",
        GET_PUT_DELETE,
    ),
    route(
        "/v1/management/action-configurations/{actionCode}/rules",
        GET_POST,
    ),
    route(
        "/v1/management/action-configurations/{actionCode}/rules/{ruleId}",
        GET_PUT_DELETE,
    ),
    route(
        "/v1/management/action-configurations/{actionCode}/versions",
        GET,
    ),
    route(
        "/v1/management/action-configurations/{actionCode}/versions/{version}",
        GET,
    ),
    route(
        "/v1/management/action-configurations/{actionCode}/versions/{version}/restore",
        POST,
    ),
    route("/v1/management/value-lists", GET),
    route("/v1/management/value-lists/{alias}", GET_PUT_DELETE),
    route("/v1/management/simulate", POST),
    route("/v1/management/configuration", PUT),
    route("/v1/management/configuration/validate", POST),
    route("/v1/management/reviews", GET),
    route(
        "/v1/management/reviews/{userId}/{actionCode}/{idempotencyKey}",
        POST,
    ),
    route("/v1/management/analytics", GET),
    route("/v1/management/users", GET),
    route("/v1/management/users/{userId}", GET),
];

impl Route {
    /// Whether it answers `method` (a Client API route also answers a
    /// CORS preflight).
    pub fn allows(&self, method: &str) -> bool {
        self.methods.contains(&method) || (method == "OPTIONS" && self.is_client())
    }

    /// The methods it answers, for a 405's `Allow` header: those it lists,
    /// and `OPTIONS` on the Client API (its CORS preflight).
    pub fn allowed(&self) -> Vec<&'static str> {
        let mut methods = self.methods.to_vec();
        if self.is_client() {
            methods.push("OPTIONS");
        }
        methods
    }

    /// Whether it is the Client API's (called from browsers, with CORS).
    pub fn is_client(&self) -> bool {
        self.path.starts_with("/v1/client/")
    }

    /// How many of its segments `segments` (a request path's, decoded)
    /// match literally, if they match at all.
    fn fit(&self, segments: &[&str]) -> Option<usize> {
        let mut literal = 0;
        let mut template = self.path.split('/').skip(1);
        for seg in segments {
            let t = template.next()?;
            if t.starts_with('{') {
                if seg.is_empty() {
                    return None;
                }
            } else if t == *seg {
                literal += 1;
            } else {
                return None;
            }
        }
        template.next().is_none().then_some(literal)
    }
}

/// The route a request path (its percent-decoded segments) belongs to:
/// of those it fits, the one with most literal segments.
pub fn find(segments: &[&str]) -> Option<&'static Route> {
    ROUTES
        .iter()
        .filter_map(|r| r.fit(segments).map(|n| (n, r)))
        .max_by_key(|(n, _)| *n)
        .map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const DOCUMENT: &str = include_str!("../../../www/v1/openapi.json");
    const HTTP_METHODS: [&str; 6] = ["get", "head", "post", "put", "patch", "delete"];

    #[test]
    fn allowed_names_what_allows_accepts() {
        for r in ROUTES {
            let allowed = r.allowed();
            for m in [
                "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "QUERY",
            ] {
                assert_eq!(allowed.contains(&m), r.allows(m), "{m} {}", r.path);
            }
        }
    }

    #[test]
    fn the_document_and_the_table_list_the_same_routes_and_methods() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let mut problems = Vec::new();
        for r in ROUTES {
            let Some(item) = paths.get(r.path) else {
                problems.push(format!("{} is served but not documented", r.path));
                continue;
            };
            for m in r.methods {
                if item.get(m.to_ascii_lowercase()).is_none() {
                    problems.push(format!("{m} {} is served but not documented", r.path));
                }
            }
        }
        for (path, item) in paths {
            let Some(r) = ROUTES.iter().find(|r| r.path == path) else {
                problems.push(format!("{path} is documented but not served"));
                continue;
            };
            for m in HTTP_METHODS.iter().filter(|m| item.get(**m).is_some()) {
                if !r.methods.contains(&m.to_ascii_uppercase().as_str()) {
                    problems.push(format!("{m} {path} is documented but not served"));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn every_route_is_listed_once() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(
                !ROUTES[..i].iter().any(|o| o.path == r.path),
                "{} twice",
                r.path
            );
        }
    }

    fn found(path: &str) -> Option<&'static str> {
        let segs: Vec<&str> = path.split('/').skip(1).collect();
        find(&segs).map(|r| r.path)
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        assert_eq!(found("/v1/users/alice"), Some("/v1/users/{userId}"));
        assert_eq!(
            found("/v1/users/alice/lockout"),
            Some("/v1/users/{userId}/lockout")
        );
        assert_eq!(
            found("/v1/client/user-authenticators/passkey/skip-prompt"),
            Some("/v1/client/user-authenticators/passkey/skip-prompt")
        );
        assert_eq!(
            found("/v1/management/configuration/validate"),
            Some("/v1/management/configuration/validate")
        );
        // Every route finds itself.
        for r in ROUTES {
            let concrete = r.path.replace(['{', '}'], "");
            assert_eq!(found(&concrete), Some(r.path));
        }
    }

    #[test]
    fn unknown_paths_and_empty_parameters_find_nothing() {
        for path in [
            "/v1/users/",
            "/v1/users//actions",
            "/v1/nope",
            "/v1/client/verify/passkey/x",
            "/v1/users/alice/actions/a/k/extra",
            "/challenge",
            "/",
        ] {
            assert_eq!(found(path), None, "{path}");
        }
    }

    #[test]
    fn methods_are_compared_exactly() {
        let r = find(&["v1", "users", "alice"]).unwrap();
        assert!(r.allows("GET") && r.allows("PATCH") && r.allows("DELETE"));
        for m in ["QUERY", "get", "patch", "POST", "OPTIONS", "HEAD"] {
            assert!(!r.allows(m), "{m}");
        }
        let c = find(&["v1", "client", "action"]).unwrap();
        assert!(c.allows("OPTIONS") && c.allows("GET") && !c.allows("POST"));
    }
}
