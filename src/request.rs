//! Reading an incoming request: its path's segments, whether it is the
//! app's, its method and credentials (Basic for the APIs, Bearer for the
//! Client API), and what the edge knows of its client (IP, location, user
//! agent, device cookie).

use actiongate_core::geo::{EdgeInfo, Geo};
use actiongate_core::proxy::{DEVICE_COOKIE, cookie};
use percent_encoding::percent_decode_str;
use worker::{Env, Request};

use crate::http::ApiError;
use crate::settings;
use actiongate_core::auth::token::ActionClaims;

/// The path's segments, each percent-decoded (a trailing `/` dropped).
///
/// # Errors
/// 400 when a segment is not UTF-8.
pub fn segments(path: &str) -> Result<Vec<String>, ApiError> {
    let mut segments = Vec::new();
    for raw in path.split('/').skip(1) {
        let seg = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| ApiError::bad_request("The request path is not valid UTF-8."))?;
        segments.push(seg.into_owned());
    }
    if segments.last().is_some_and(String::is_empty) && segments.len() > 1 {
        segments.pop();
    }
    Ok(segments)
}

/// Whether a path (its [`segments`]) belongs to the app behind ActionGate:
/// everything but ActionGate's own paths (`/v1/*`, `/health`, `/challenge`,
/// `/__actiongate/*`), plus `/__actiongate/resume`, where held requests
/// return to the app.
pub fn is_app_path(segs: &[String]) -> bool {
    match segs.first().map(String::as_str) {
        Some("v1") => false,
        Some("__actiongate") => segs.get(1).is_some_and(|s| s == "resume"),
        Some("health" | "challenge") => segs.len() > 1,
        _ => true,
    }
}

/// What every refused Basic credential is told, as Authsignal says it.
pub const UNAUTHORIZED: &str = "The request is unauthorized. Check that your API key and region base URL are correctly configured.";

/// Check an HTTP Basic secret from the `Authorization` header.
///
/// # Errors
/// 401 with `WWW-Authenticate`, or 500 when the secret is not configured.
pub fn authenticate(req: &Request, env: &Env, secret_name: &str) -> Result<(), ApiError> {
    let header = req.headers().get("Authorization").ok().flatten();
    authenticate_header(header.as_deref(), env, secret_name)
}

/// [`authenticate`], given the `Authorization` header's value.
///
/// # Errors
/// As [`authenticate`].
pub fn authenticate_header(
    header: Option<&str>,
    env: &Env,
    secret_name: &str,
) -> Result<(), ApiError> {
    let secret = crate::settings::secret(env, secret_name)?;
    actiongate_core::auth::basic::check_basic(header, &secret).map_err(|_| {
        // Authsignal's words exactly (its SDKs' own tests compare them); which
        // part was wrong (missing, malformed, another key) is not said.
        let mut e = ApiError::new(401, "unauthorized", UNAUTHORIZED);
        e.headers
            .push(("WWW-Authenticate", "Basic realm=\"ActionGate\"".to_owned()));
        e
    })
}

/// Where the verifying client is: its device cookie and its country.
pub fn verifier(req: &Request) -> crate::users::commands::Verifier {
    crate::users::commands::Verifier {
        device_id: existing_device(req),
        country: edge_info(req).geo.country_code,
        user_agent: None,
    }
}

pub fn bearer_token(req: &Request) -> Option<String> {
    let header = req.headers().get("Authorization").ok().flatten()?;
    header.strip_prefix("Bearer ").map(|t| t.trim().to_owned())
}

/// The action a `Bearer` token is bound to.
pub fn bearer(req: &Request, env: &Env) -> Result<ActionClaims, ApiError> {
    let Some(token) = bearer_token(req) else {
        return Err(ApiError::new(
            401,
            "unauthorized",
            "Send the token from track as Authorization: Bearer <token>.",
        ));
    };
    let keys = settings::token_keys(env)?;
    keys.verify(&token, crate::clock::now_secs())
        .map(|v| v.claims)
        .map_err(|e| ApiError::new(401, e.code(), e.to_string()))
}

/// Where a browser comes back to after the challenge page.
pub const RESUME_PATH: &str = "/__actiongate/resume";

/// Where the link in a magic-link email leads.
pub const MAGIC_LINK_PATH: &str = "/__actiongate/magic-link";

/// Header an API client retries with.
pub const TOKEN_HEADER: &str = "X-ActionGate-Token";

/// Whether the client asked for a page rather than JSON.
pub fn wants_html(req: &Request) -> bool {
    header(req, "Accept").is_some_and(|a| a.contains("text/html"))
}

/// A browser's language for the worker's own pages (outcome, refusal,
/// magic link), from its `Accept-Language`; `None` for an API client,
/// which gets JSON (see [`wants_html`]).
pub fn browser(req: &Request) -> Option<actiongate_core::present::Lang> {
    wants_html(req).then(|| {
        actiongate_core::present::Lang::choose(None, header(req, "Accept-Language").as_deref())
    })
}

pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// What the edge sees of the request's connection: IP, location, user agent.
pub fn edge_info(req: &Request) -> EdgeInfo {
    let cf = req.cf();
    let coords = cf.and_then(|c| c.coordinates());
    EdgeInfo {
        ip: header(req, "CF-Connecting-IP"),
        geo: Geo {
            country_code: cf
                .and_then(|c| c.country())
                .filter(|c| c.len() == 2 && c != "XX" && c != "T1"),
            asn: cf.and_then(|c| c.asn()).filter(|a| *a != 0),
            latitude: coords.map(|(la, _)| f64::from(la)),
            longitude: coords.map(|(_, lo)| f64::from(lo)),
        },
        user_agent: header(req, "User-Agent"),
    }
}

/// The device cookie the request carries, if it is one of ours.
pub fn existing_device(req: &Request) -> Option<String> {
    match device_id(req) {
        (id, false) => Some(id),
        (_, true) => None,
    }
}

pub fn device_id(req: &Request) -> (String, bool) {
    match header(req, "Cookie").and_then(|c| cookie(&c, DEVICE_COOKIE).map(str::to_owned)) {
        Some(id) if !id.is_empty() && id.len() <= 64 => (id, false),
        _ => (uuid::Uuid::new_v4().to_string(), true),
    }
}

pub fn device_cookie(id: &str, secure: bool) -> String {
    format!(
        "{DEVICE_COOKIE}={id}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}
