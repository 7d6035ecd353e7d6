//! Path routing. Segments are percent-decoded one by one, so a user id may
//! contain an encoded `/` (`alice%2F1`) without changing the route.

use worker::{Env, Request, Response};

use crate::api::{management, server};
use crate::http::{ApiError, json_response};
use crate::request::{is_app_path, segments};

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
            Err(e) => crate::proxy::fail_closed(crate::request::browser(&req), e),
        };
    }
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let origin = url.origin().ascii_serialization();
    // Only what the route table lists is served, with the methods it lists
    // (compared as the runtime spells them: an unknown method is never
    // taken for GET). The Client API answers its refusals with CORS headers.
    let method = req.inner().method();
    let checked = match actiongate_core::routes::find(&segs) {
        None => Err(ApiError::not_found()),
        Some(r) if !r.allows(&method) => Err(ApiError::method_not_allowed(&r.allowed())),
        Some(_) => Ok(()),
    };
    if let ["v1", "client", rest @ ..] = segs.as_slice() {
        return crate::api::client::handle(req, env, rest, checked).await;
    }
    checked?;
    match segs.as_slice() {
        ["health"] => json_response(200, &serde_json::json!({"status": "ok"})),
        // The hosted challenge page is a static asset (www/challenge.html),
        // served before the worker runs; the path is never proxied to the app.
        ["__actiongate", "magic-link"] => {
            let ip = crate::limits::client_ip(&req);
            crate::limits::check(env, crate::limits::Limit::Unauthenticated, &ip).await?;
            crate::api::client::open_magic_link(req, env).await
        }
        ["__actiongate", "outcome"] => crate::proxy::outcome(req, env).await,
        ["__actiongate", "admin", "session"] => crate::api::admin::session(req, env).await,
        ["__actiongate", "outbox"] => {
            crate::delivery::outbox(env, crate::settings::is_local(&url), false).await
        }
        ["__actiongate", "outbox.json"] => {
            crate::delivery::outbox(env, crate::settings::is_local(&url), true).await
        }
        // The document is a static asset (www/v1/openapi.json), served
        // (and other methods refused) before the worker runs; requests
        // reach here only when the worker runs without its assets.
        ["v1", "openapi.json"] => Err(ApiError::not_found()),
        ["v1", "management", rest @ ..] => management::handle(req, env, rest).await,
        ["v1", rest @ ..] => server::handle(req, env, rest, &origin).await,
        // App paths were handled above.
        _ => Err(ApiError::not_found()),
    }
}
