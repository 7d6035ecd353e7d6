//! Path routing. Segments are percent-decoded one by one, so a user id may
//! contain an encoded `/` (`alice%2F1`) without changing the route.

use percent_encoding::percent_decode_str;
use worker::{Env, Method, Request, Response};

use crate::api::{management, server};
use crate::http::{ApiError, json_response};

/// Route a request to its handler.
///
/// # Errors
/// Any [`ApiError`] the handlers produce; 404 for unknown paths.
pub async fn route(req: Request, env: &Env) -> Result<Response, ApiError> {
    let url = req
        .url()
        .map_err(|_| ApiError::bad_request("The request URL is not valid."))?;
    let segments = segments(url.path())?;
    crate::settings::check_deployment(env, crate::settings::is_local(&url))?;
    if is_app_path(&segments) {
        // The app behind ActionGate, if one is configured. Without its
        // configuration the worker cannot tell a protected route from an
        // unprotected one: nothing is forwarded (fail closed).
        return match crate::config_store::load_proxy(env).await {
            Ok(Some(cfg)) => crate::proxy::handle(req, &url, env, &cfg).await,
            Ok(None) => Err(ApiError::not_found()),
            Err(e) => crate::proxy::fail_closed(crate::proxy::wants_html(&req), e),
        };
    }
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let origin = url.origin().ascii_serialization();
    match segs.as_slice() {
        ["health"] => {
            allow(&req, &[Method::Get])?;
            json_response(200, &serde_json::json!({"status": "ok"}))
        }
        // The hosted challenge page is a static asset (www/challenge.html),
        // served before the worker runs; the path is never proxied to the app.
        ["__actiongate", "magic-link"] => {
            allow(&req, &[Method::Get, Method::Post])?;
            let ip = crate::limits::client_ip(&req);
            crate::limits::check(env, crate::limits::Limit::Unauthenticated, &ip).await?;
            crate::api::client::open_magic_link(req, env).await
        }
        ["__actiongate", "admin", "session"] => crate::api::admin::session(req, env).await,
        ["__actiongate", "outbox"] => {
            crate::delivery::outbox(env, crate::settings::is_local(&url), false).await
        }
        ["__actiongate", "outbox.json"] => {
            crate::delivery::outbox(env, crate::settings::is_local(&url), true).await
        }
        ["challenge"] | ["__actiongate", ..] => Err(ApiError::not_found()),
        ["v1", "openapi.json"] => {
            // The document is a static asset (www/v1/openapi.json), served
            // (and other methods refused) before the worker runs; requests
            // reach here only when the worker runs without its assets.
            allow(&req, &[Method::Get])?;
            Err(ApiError::not_found())
        }
        ["v1", "management", rest @ ..] => management::handle(req, env, rest).await,
        ["v1", "client", rest @ ..] => crate::api::client::handle(req, env, rest).await,
        ["v1", rest @ ..] => server::handle(req, env, rest, &origin).await,
        // App paths were handled above.
        _ => Err(ApiError::not_found()),
    }
}

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

/// Refuse with 405 unless the request's method is one of `methods`.
///
/// # Errors
/// 405 with an `Allow` header.
pub fn allow(req: &Request, methods: &[Method]) -> Result<(), ApiError> {
    let m = req.method();
    if methods.contains(&m) {
        Ok(())
    } else {
        let names: Vec<&str> = methods.iter().map(Method::as_ref).collect();
        Err(ApiError::method_not_allowed(&names))
    }
}

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
    actiongate_core::auth::basic::check_basic(header, &secret).map_err(|f| {
        let mut e = ApiError::new(401, "unauthorized", f.description());
        e.headers
            .push(("WWW-Authenticate", "Basic realm=\"ActionGate\"".to_owned()));
        e
    })
}
