//! Talking to the app behind ActionGate: its URLs (by URL or over a
//! service binding), requests without ActionGate's own headers and cookies,
//! the signed `X-ActionGate-*` headers of a checked request, and the held
//! request rebuilt for a replay. Shared by the edge proxy (forward,
//! resume, retry) and the user object's outbox (replay on approval).

use actiongate_core::actions::model::PendingRequest;
use actiongate_core::encoding::sha256_hex;
use actiongate_core::proxy::{
    ActionFacts, ForwardFacts, ProxyConfig, is_our_header, without_our_cookies,
};
use wasm_bindgen::JsValue;
use worker::web_sys;
use worker::{Env, Fetch, Headers, Method, Request, Response};

use crate::http::ApiError;
use crate::request::TOKEN_HEADER;
use crate::settings;

/// Host of the URLs sent to an app behind a service binding (the binding
/// ignores it; the app sees it as its host).
pub const SERVICE_HOST: &str = "https://origin.actiongate.internal";

pub fn origin_url(cfg: &ProxyConfig, path_and_query: &str) -> String {
    let base = if cfg.origin_service.is_some() {
        SERVICE_HOST
    } else {
        cfg.origin_url.trim_end_matches('/')
    };
    format!("{base}{path_and_query}")
}

/// The request's headers without any `X-ActionGate-*` a client sent
/// (a copy: the incoming request's headers are immutable).
pub fn stripped_headers(req: &Request) -> Result<Headers, ApiError> {
    strip_ours(&req.inner().headers())
}

/// A copy of `headers` without ActionGate's own: `X-ActionGate-*` in any
/// spelling ([`is_our_header`]) and its cookies ([`without_our_cookies`]).
pub fn strip_ours(headers: &web_sys::Headers) -> Result<Headers, ApiError> {
    let out = Headers(web_sys::Headers::new_with_headers(headers).map_err(js_internal)?);
    let ours: Vec<String> = out.keys().filter(|k| is_our_header(k)).collect();
    for k in ours {
        out.delete(&k).map_err(ApiError::internal)?;
    }
    if let Some(c) = out.get("Cookie").map_err(ApiError::internal)? {
        match without_our_cookies(&c) {
            Some(kept) if kept != c => out.set("Cookie", &kept).map_err(ApiError::internal)?,
            Some(_) => {}
            None => out.delete("Cookie").map_err(ApiError::internal)?,
        }
    }
    Ok(out)
}

/// Send a request to the app: over its service binding, or by URL.
pub async fn send(env: &Env, cfg: &ProxyConfig, request: Request) -> Result<Response, ApiError> {
    let sent = match &cfg.origin_service {
        Some(binding) => match env.service(binding) {
            Ok(app) => app.fetch_request(request).await,
            Err(e) => Err(e),
        },
        None => Fetch::Request(request).send().await,
    };
    sent.map_err(unreachable_origin)
}

pub fn js_internal(e: JsValue) -> ApiError {
    ApiError::internal(worker::Error::from(e))
}

pub fn unreachable_origin(e: worker::Error) -> ApiError {
    worker::console_error!("origin unreachable: {e}");
    ApiError::new(
        502,
        "origin_unreachable",
        "The application could not be reached. Nothing was lost; try again.",
    )
}

pub fn request_to_origin(
    url: &str,
    method: Method,
    headers: Headers,
    body: Option<JsValue>,
) -> Result<Request, ApiError> {
    crate::http::outgoing_request(url, method.as_ref(), Some(&headers), true, body.as_ref())
        .map_err(ApiError::internal)
}

/// A body for the origin (none for GET and HEAD).
pub fn body_value(method: &Method, body: &[u8]) -> Option<JsValue> {
    match method {
        Method::Get | Method::Head => None,
        _ => Some(JsValue::from(js_sys::Uint8Array::from(body))),
    }
}

/// The signed `X-ActionGate-*` headers of a request of `action` sent to the
/// app: `method` to `url` (its host is signed as the app sees it) with a
/// body of that SHA-256.
pub fn signed_headers(
    env: &Env,
    method: &str,
    url: &str,
    body_sha256: &str,
    action: ActionFacts<'_>,
) -> Result<Vec<(&'static str, String)>, ApiError> {
    let signing = settings::secret(env, "ORIGIN_SIGNING_KEY")?;
    let url = url::Url::parse(url).map_err(ApiError::internal)?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(ApiError::internal("the app's URL has no host")),
    };
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let facts = ForwardFacts {
        timestamp: crate::clock::now_secs(),
        method,
        host: &host,
        path_and_query: &path_and_query,
        body_sha256,
        action,
    };
    Ok(facts.headers(signing.as_bytes()))
}

/// The held request, rebuilt for the origin: its stored headers (plus the
/// returning browser's cookies, if any: the session may have been
/// refreshed meanwhile) and freshly signed `X-ActionGate-*` headers.
#[allow(clippy::too_many_arguments)]
pub fn held_to_origin(
    env: &Env,
    cfg: &ProxyConfig,
    user_id: &str,
    action_code: &str,
    idempotency_key: &str,
    state: &str,
    held: &PendingRequest,
    cookie: Option<String>,
) -> Result<Request, ApiError> {
    let body = unb64(&held.body).ok_or_else(|| ApiError::internal("stored body is not base64"))?;
    let method = Method::from(held.method.clone());
    let replay_headers = Headers::new();
    for (k, v) in &held.headers {
        replay_headers.set(k, v).map_err(ApiError::internal)?;
    }
    if let Some(c) = cookie.as_deref().and_then(without_our_cookies) {
        replay_headers
            .set("Cookie", &c)
            .map_err(ApiError::internal)?;
    }
    let url = origin_url(cfg, &held.path_and_query);
    let action = ActionFacts {
        user_id,
        action: action_code,
        state,
        idempotency_key,
    };
    for (k, v) in signed_headers(env, &held.method, &url, &sha256_hex(&body), action)? {
        replay_headers.set(k, &v).map_err(ApiError::internal)?;
    }
    let body = body_value(&method, &body);
    request_to_origin(&url, method, replay_headers, body)
}

/// Send a held request to the app because a reviewer approved it (routes
/// with `replayOnApproval`). The caller has claimed it.
///
/// # Errors
/// 503 without a proxy configuration, 502 when the app cannot be reached.
pub async fn replay_approved(
    env: &Env,
    user_id: &str,
    action_code: &str,
    idempotency_key: &str,
    state: &str,
    held: &PendingRequest,
) -> Result<Response, ApiError> {
    let cfg = crate::config_store::load_proxy(env)
        .await?
        .ok_or_else(|| ApiError::unavailable("no proxy configuration"))?;
    let out = held_to_origin(
        env,
        &cfg,
        user_id,
        action_code,
        idempotency_key,
        state,
        held,
        None,
    )?;
    send(env, &cfg, out).await
}

pub fn unb64(s: &str) -> Option<Vec<u8>> {
    actiongate_core::encoding::unb64url(s)
}

pub fn b64(bytes: &[u8]) -> String {
    actiongate_core::encoding::b64url(bytes)
}

/// Copy a response (the origin's, whose headers are immutable) adding headers.
pub fn with_extra_headers(resp: Response, extra: &[(&str, String)]) -> Result<Response, ApiError> {
    if extra.is_empty() {
        return Ok(resp);
    }
    let headers = Headers::new();
    for (k, v) in resp.headers().entries() {
        headers.append(&k, &v).map_err(ApiError::internal)?;
    }
    for (k, v) in extra {
        headers.append(k, v).map_err(ApiError::internal)?;
    }
    Ok(resp.with_headers(headers))
}

/// Forward a checked request to the app, signed, with the body as read.
#[allow(clippy::too_many_arguments)]
pub async fn forward(
    req: &Request,
    env: &Env,
    cfg: &ProxyConfig,
    pq: &str,
    user_id: &str,
    action: &str,
    state: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<Response, ApiError> {
    let method = req.method();
    let url = origin_url(cfg, pq);
    let headers = stripped_headers(req)?;
    headers.delete(TOKEN_HEADER).map_err(ApiError::internal)?;
    let facts = ActionFacts {
        user_id,
        action,
        state,
        idempotency_key: key,
    };
    for (k, v) in signed_headers(env, method.as_ref(), &url, &sha256_hex(&body), facts)? {
        headers.set(k, &v).map_err(ApiError::internal)?;
    }
    let body = body_value(&method, &body);
    send(env, cfg, request_to_origin(&url, method, headers, body)?).await
}
