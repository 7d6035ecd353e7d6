//! The edge proxy: ActionGate in front of an app that knows nothing of it.
//!
//! Requests that hit no protected route go straight to the origin, body
//! streamed, with no storage access. A protected route identifies the user
//! from the app's own session, tracks the route's action with what the
//! edge knows (IP, `request.cf`, user agent, a device cookie), and then:
//! ALLOW forwards with signed `X-ActionGate-*` headers; CHALLENGE sends a
//! browser to the challenge page (303) and tells an API client 401 with the
//! token; BLOCK is 403; REVIEW is 202. The held-back request is stored with
//! the action and released once: to a browser returning with `?token=` on
//! `/__actiongate/resume`, or to an API client retrying with
//! `X-ActionGate-Token`. Clients' own `X-ActionGate-*` headers never reach
//! the origin. Storage or configuration failures on a protected route are
//! 503 (fail closed); an unreachable origin is 502 and the held-back
//! request stays claimable.

mod classify;
mod outcome;
mod pages;
mod protect;
mod release;
mod session;

pub use classify::{
    Target, classify_header_names, classify_headers, origin_unreachable, our_cookies,
    pass_through_target,
};
pub use outcome::outcome;
pub use pages::fail_closed;
pub use protect::{Next, Protect, protect_answer, protect_call};

use actiongate_core::proxy::{METHODS, ProxyConfig, Selection};
use worker::{Env, Request, Response};

use crate::http::ApiError;
use crate::origin::{body_value, origin_url, request_to_origin, send, stripped_headers};
use crate::request::browser;
use classify::{
    Class, ambiguous_method, classify_request, pass_through, path_and_query, select_with_body,
};
use pages::refuse;
use protect::protected;
use release::resume;

/// Handle a request for the app behind ActionGate.
///
/// # Errors
/// Any [`ApiError`]; pages for browsers are built here, not errors.
pub async fn handle(
    mut req: Request,
    url: &worker::Url,
    env: &Env,
    cfg: &ProxyConfig,
) -> Result<Response, ApiError> {
    let html = browser(&req);
    match classify_request(req.inner(), url, cfg) {
        Class::UnknownMethod => {
            return refuse(html, ApiError::method_not_allowed(&METHODS));
        }
        Class::AmbiguousPath => {
            return refuse(
                html,
                ApiError::bad_request(
                    "The path has an encoded /, \\ or NUL character, which the app could read as another path.",
                ),
            );
        }
        Class::AmbiguousMethod => return refuse(html, ambiguous_method()),
        Class::Resume => return resume(req, env, cfg).await,
        Class::PassThrough => {
            return pass_through(req.inner(), url, env, cfg)
                .await
                .map(Response::from);
        }
        Class::Protected => {}
    }
    let body = match crate::http::read_limited(&mut req, cfg.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return refuse(html, e),
    };
    match select_with_body(req.inner(), url, cfg, &body) {
        Selection::One(route, params) => protected(req, env, cfg, route, params, body).await,
        Selection::Ambiguous => refuse(html, ambiguous_method()),
        // The body named no protected route after all: forward it as read.
        Selection::None => {
            let headers = stripped_headers(&req)?;
            let pq = path_and_query(url);
            send(
                env,
                cfg,
                request_to_origin(
                    &origin_url(cfg, &pq),
                    req.method(),
                    headers,
                    body_value(&req.method(), &body),
                )?,
            )
            .await
        }
    }
}
