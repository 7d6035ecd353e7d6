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

use actiongate_core::actions::model::PendingRequest;
use actiongate_core::auth::basic::secrets_equal;
use actiongate_core::encoding::sha256_hex;
use actiongate_core::proxy::{
    IdentityError, Jwks, JwtAlgorithm, METHODS, ProxyConfig, RequestParts, RouteConfig, Selection,
    SessionKeys, ambiguous_path, body_method_overrides, read_custom, verify_session_jwt,
};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;
use worker::{Env, Fetch, Headers, Request, Response};

use crate::clock::now_secs;
use crate::http::{ApiError, html_response, json_response};
use crate::origin::{
    Signed, b64, body_value, held_to_origin, js_internal, origin_url, request_to_origin, send,
    signed_headers, strip_ours, stripped_headers, unreachable_origin, with_extra_headers,
};
use crate::request::{
    RESUME_PATH, TOKEN_HEADER, device_cookie, device_id, edge_info, header, wants_html,
};
use crate::settings;
use crate::users::client::call_user;
use crate::users::commands::UserCommand;

/// Request headers kept with a held-back request for its replay (the
/// method overrides too: the route checked may be the one they named).
const KEPT_HEADERS: [&str; 10] = [
    "content-type",
    "accept",
    "accept-language",
    "user-agent",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x_http_method_override",
    "x_http_method",
    "x_method_override",
];

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
    let html = wants_html(&req);
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

/// A request whose ways of naming its method select different protected
/// routes: the app's reading cannot be told, so it is refused.
fn ambiguous_method() -> ApiError {
    ApiError::new(
        400,
        "ambiguous_request",
        "The request names more than one method (a method override disagrees with it); send it with one method.",
    )
}

/// The route of a request whose body has been read: its method read every
/// way an app might, the body's `_method` included (read only where it
/// could select another route, see [`ProxyConfig::body_may_override`]).
fn select_with_body<'a>(
    req: &web_sys::Request,
    url: &worker::Url,
    cfg: &'a ProxyConfig,
    body: &[u8],
) -> Selection<'a> {
    let headers = req.headers();
    let method = req.method();
    let mut overrides = method_overrides(|name| headers.get(name).ok().flatten(), url.query());
    if cfg.body_may_override(&method, url.path(), &overrides) {
        let ctype = headers
            .get("Content-Type")
            .ok()
            .flatten()
            .unwrap_or_default();
        overrides.extend(body_method_overrides(body, &ctype));
    }
    cfg.select(&method, url.path(), &overrides)
}

/// What the edge proxy does with a request for the app.
enum Class {
    /// A method routes cannot name (workers-rs would read it as GET): 405.
    UnknownMethod,
    /// A segment decodes to a separator: the app could split it either way.
    AmbiguousPath,
    /// Its ways of naming a method select different protected routes.
    AmbiguousMethod,
    /// A browser returning from the challenge page.
    Resume,
    /// No protected route: straight to the app.
    PassThrough,
    /// A protected route, or a request whose body could name one
    /// (`_method`): read the body, then select ([`select_with_body`]).
    Protected,
}

/// Decide what a request for the app is. The JavaScript entry (through
/// [`pass_through_target`]) and [`handle`] both ask this, so they cannot disagree about which requests are
/// protected. `header` reads a request header by name.
fn classify(
    method: &str,
    header: impl Fn(&str) -> Option<String>,
    path: &str,
    query: Option<&str>,
    cfg: &ProxyConfig,
) -> Class {
    if !METHODS.contains(&method) {
        return Class::UnknownMethod;
    }
    if path == RESUME_PATH {
        return Class::Resume;
    }
    if ambiguous_path(path) {
        return Class::AmbiguousPath;
    }
    let overrides = method_overrides(header, query);
    match cfg.select(method, path, &overrides) {
        Selection::One(..) => Class::Protected,
        Selection::Ambiguous => Class::AmbiguousMethod,
        Selection::None if cfg.body_may_override(method, path, &overrides) => Class::Protected,
        Selection::None => Class::PassThrough,
    }
}

/// [`classify`] for a request object.
fn classify_request(req: &web_sys::Request, url: &worker::Url, cfg: &ProxyConfig) -> Class {
    let headers = req.headers();
    classify(
        &req.method(),
        |name| headers.get(name).ok().flatten(),
        url.path(),
        url.query(),
        cfg,
    )
}

/// Headers some apps take as the request's real method.
/// (And their `_` spellings, which CGI and WSGI servers fold onto the same
/// variable: `HTTP_X_HTTP_METHOD_OVERRIDE`.)
const METHOD_OVERRIDE_HEADERS: [&str; 6] = [
    "X-HTTP-Method-Override",
    "X-HTTP-Method",
    "X-Method-Override",
    "X_HTTP_Method_Override",
    "X_HTTP_Method",
    "X_Method_Override",
];

/// Every header [`classify`] reads: the method overrides.
fn classify_header_names() -> impl Iterator<Item = &'static str> {
    METHOD_OVERRIDE_HEADERS.into_iter()
}

/// The methods a request names besides its own, before its body is read:
/// override headers and `_method` in the query (upper-cased). The body's
/// `_method` is read later, where it matters ([`select_with_body`]).
fn method_overrides(header: impl Fn(&str) -> Option<String>, query: Option<&str>) -> Vec<String> {
    // A header may list methods (`DELETE, POST`): apps take the first, or
    // any; each one counts. The query's `_method` is read as a body's is
    // (`_method[]`, any case).
    let mut overrides = body_method_overrides(query.unwrap_or_default().as_bytes(), "");
    for value in METHOD_OVERRIDE_HEADERS.iter().filter_map(|h| header(h)) {
        for m in value.split(',').map(|m| m.trim().to_ascii_uppercase()) {
            if !overrides.contains(&m) {
                overrides.push(m);
            }
        }
    }
    overrides
}

fn path_and_query(url: &worker::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// An unprotected app route, forwarded as it came (body streamed), without
/// the client's `X-ActionGate-*` headers. It works on the runtime's own
/// request and response objects: the origin's answer goes back untouched.
async fn pass_through(
    req: &web_sys::Request,
    url: &worker::Url,
    env: &Env,
    cfg: &ProxyConfig,
) -> Result<web_sys::Response, ApiError> {
    let headers = strip_ours(&req.headers())?;
    let method = req.method();
    let init = web_sys::RequestInit::new();
    init.set_method(&method);
    init.set_headers(&headers.0);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if method != "GET"
        && method != "HEAD"
        && let Some(body) = req.body()
    {
        init.set_body(&body);
    }
    let out =
        web_sys::Request::new_with_str_and_init(&origin_url(cfg, &path_and_query(url)), &init)
            .map_err(js_internal)?;
    let sent = match &cfg.origin_service {
        Some(binding) => match env.service(binding) {
            Ok(app) => app.fetch_request(Request::from(out)).await.map(Into::into),
            Err(e) => Err(e),
        },
        None => {
            let global: web_sys::WorkerGlobalScope = worker::js_sys::global().unchecked_into();
            JsFuture::from(global.fetch_with_request(&out))
                .await
                .and_then(JsCast::dyn_into)
                .map_err(worker::Error::from)
        }
    };
    sent.map_err(unreachable_origin)
}

/// The request headers [`classify`] reads besides the method and URL, for
/// the JavaScript entry (src/entry.mjs) to pass to [`pass_through_target`].
pub fn classify_headers() -> Vec<String> {
    classify_header_names()
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The cookies of ActionGate's own that the JavaScript entry removes from
/// what it forwards (`actiongate_core::proxy::OUR_COOKIES`).
pub fn our_cookies() -> Vec<String> {
    actiongate_core::proxy::OUR_COOKIES
        .iter()
        .map(|c| (*c).to_owned())
        .collect()
}

/// The JavaScript entry's question (src/entry.mjs), answered without
/// awaiting anything: where an unprotected app request goes, as the
/// origin URL, or `[url, serviceBinding]`; for a protected route, the
/// largest body it takes (a number: the entry reads the body and goes on
/// with [`protect_call`]). `values` holds the request's values of
/// [`classify_headers`], in that order, `null` for an absent one.
/// `undefined` sends the request down the full path: ActionGate's own
/// paths, the resume path, refused requests, and a proxy configuration
/// this isolate has not cached (or that is missing). The entry strips
/// client `X-ActionGate-*` headers itself before it forwards.
pub fn pass_through_target(method: &str, url: &str, values: Vec<JsValue>) -> JsValue {
    let target = || {
        let path_and_query = raw_path_and_query(url)?;
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let segments = crate::request::segments(path).ok()?;
        if !crate::request::is_app_path(&segments) {
            return None;
        }
        let cfg = crate::config_store::cached_proxy()??;
        let header = |name: &str| {
            let i = classify_header_names().position(|h| h.eq_ignore_ascii_case(name))?;
            values.get(i)?.as_string()
        };
        match classify(method, header, path, query, &cfg) {
            Class::PassThrough => {}
            Class::Protected => {
                return Some(JsValue::from(cfg.max_body_bytes as f64));
            }
            _ => return None,
        }
        let to: JsValue = origin_url(&cfg, path_and_query).into();
        Some(match &cfg.origin_service {
            Some(binding) => worker::js_sys::Array::of2(&to, &binding.into()).into(),
            None => to,
        })
    };
    target().unwrap_or(JsValue::UNDEFINED)
}

/// The path and query of an absolute URL, as written: the runtime's
/// `request.url` is already in canonical form, so this is what the URL
/// parser would give, without the cost of parsing (and IDNA-mapping) the
/// host. Route matching does not rely on it being canonical: it decodes and
/// resolves segments itself (see `ProxyConfig::route_for`).
fn raw_path_and_query(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let start = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let rest = &rest[start..];
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    rest.starts_with('/').then_some(rest)
}

/// The JavaScript entry's answer when the app could not be reached: the
/// same 502 as the full path's.
pub fn origin_unreachable(reason: String) -> Result<web_sys::Response, JsValue> {
    unreachable_origin(worker::Error::RustError(reason))
        .into_response()
        .map(Into::into)
        .map_err(Into::into)
}

/// How long a fetched JWKS is used before it is fetched again (seconds).
const JWKS_TTL_SECONDS: u64 = 600;
/// A token with an unknown key id refetches the JWKS at most this often.
const JWKS_REFETCH_SECONDS: u64 = 60;

type CachedJwks = (u64, u64, Rc<Jwks>); // (expires, fetched, keys)

thread_local! {
    static JWKS: RefCell<HashMap<String, CachedJwks>> = RefCell::new(HashMap::new());
}

/// The app's JWKS, cached in the isolate; refetched when stale, or when a
/// token names a key id it lacks (key rotation), at most once a minute.
async fn jwks(url: &str, kid: Option<&str>) -> Result<Rc<Jwks>, IdentityError> {
    if let Some(keys) = fresh_jwks(url, kid) {
        return Ok(keys);
    }
    let now = now_secs();
    let cached = JWKS.with_borrow(|c| c.get(url).cloned());
    let unavailable = |why: String| {
        worker::console_error!("JWKS {url}: {why}");
        IdentityError::Invalid("the app's signing keys could not be loaded".into())
    };
    let fetched = async {
        let mut resp = Fetch::Url(url.parse().map_err(|e| format!("{e}"))?)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status_code() != 200 {
            return Err(format!("status {}", resp.status_code()));
        }
        let text = resp.text().await.map_err(|e| e.to_string())?;
        Jwks::parse(&text)
    }
    .await;
    match fetched {
        Ok(keys) => {
            let keys = Rc::new(keys);
            JWKS.with_borrow_mut(|c| {
                c.insert(url.to_owned(), (now + JWKS_TTL_SECONDS, now, keys.clone()))
            });
            Ok(keys)
        }
        // Keep using what we had if the app's endpoint hiccups.
        Err(e) => match cached {
            Some((_, _, keys)) => {
                worker::console_error!("JWKS {url}: refetch failed ({e}); using the cached keys");
                Ok(keys)
            }
            None => Err(unavailable(e)),
        },
    }
}

/// The cached JWKS of `url` if it is fresh and, for a token naming a key
/// id it lacks, was fetched within the last minute.
fn fresh_jwks(url: &str, kid: Option<&str>) -> Option<Rc<Jwks>> {
    let now = now_secs();
    let (expires, fetched, keys) = JWKS.with_borrow(|c| c.get(url).cloned())?;
    let kid_missing = kid.is_some_and(|k| !keys.has_kid(k));
    (expires > now && (!kid_missing || now < fetched + JWKS_REFETCH_SECONDS)).then_some(keys)
}

/// Who the user is, from the app's session.
async fn identify(req: &Request, env: &Env, cfg: &ProxyConfig) -> Result<String, IdentityError> {
    match session(req, env, cfg) {
        Session::Known(who) => who,
        Session::NeedsJwks { url, kid, token } => {
            verify_with_jwks(cfg, &token, &*jwks(&url, kid.as_deref()).await?)
        }
    }
}

/// A session token signed with the app's keys (RS256/ES256).
fn verify_with_jwks(cfg: &ProxyConfig, token: &str, jwks: &Jwks) -> Result<String, IdentityError> {
    let j = cfg.identity.jwt.as_ref().ok_or(IdentityError::Missing)?;
    verify_session_jwt(token, j, SessionKeys::Jwks(jwks), now_secs())
}

/// [`identify`] without awaiting anything: `None` when it needs the app's
/// JWKS and this isolate holds no fresh copy.
fn identify_now(
    req: &Request,
    env: &Env,
    cfg: &ProxyConfig,
) -> Option<Result<String, IdentityError>> {
    match session(req, env, cfg) {
        Session::Known(who) => Some(who),
        Session::NeedsJwks { url, kid, token } => {
            fresh_jwks(&url, kid.as_deref()).map(|jwks| verify_with_jwks(cfg, &token, &jwks))
        }
    }
}

/// What the request's session says, as far as it can tell without I/O.
enum Session {
    Known(Result<String, IdentityError>),
    /// A token signed with the app's keys (RS256/ES256), from this JWKS.
    NeedsJwks {
        url: String,
        kid: Option<String>,
        token: String,
    },
}

fn session(req: &Request, env: &Env, cfg: &ProxyConfig) -> Session {
    let id = &cfg.identity;
    let local = req.url().is_ok_and(|u| settings::is_local(&u));
    if let Some(t) = &id.trusted_header
        && let Some(presented) = header(req, &t.secret_header)
    {
        let Some(secret) = settings::identity_secret(env, &t.secret_env, 24, local) else {
            return Session::Known(Err(IdentityError::Invalid(
                "the upstream secret is not configured".into(),
            )));
        };
        if !secrets_equal(presented.as_bytes(), secret.as_bytes()) {
            return Session::Known(Err(IdentityError::Invalid(
                "the upstream secret is wrong".into(),
            )));
        }
        return Session::Known(
            header(req, &t.header)
                .filter(|u| !u.is_empty())
                .ok_or_else(|| IdentityError::Invalid(format!("{} is missing", t.header))),
        );
    }
    if let Some(j) = &id.jwt {
        let token = actiongate_core::proxy::session_token(
            j,
            header(req, "Cookie").as_deref(),
            header(req, "Authorization").as_deref(),
        );
        let token = match token {
            Ok(t) => t,
            Err(e) => return Session::Known(Err(e)),
        };
        if let Some(token) = token {
            return match j.algorithm {
                JwtAlgorithm::HS256 => Session::Known(
                    j.secret_env
                        .as_deref()
                        .and_then(|name| settings::identity_secret(env, name, 32, local))
                        .ok_or_else(|| {
                            IdentityError::Invalid("the session key is not configured".into())
                        })
                        .and_then(|secret| {
                            verify_session_jwt(
                                &token,
                                j,
                                SessionKeys::Secret(secret.as_bytes()),
                                now_secs(),
                            )
                        }),
                ),
                JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => Session::NeedsJwks {
                    url: j.jwks_url.clone().unwrap_or_default(),
                    kid: actiongate_core::proxy::token_key_id(&token),
                    token,
                },
            };
        }
    }
    Session::Known(Err(IdentityError::Missing))
}

fn page(status: u16, title: &str, text: &str) -> Result<Response, ApiError> {
    let esc = actiongate_core::present::escape;
    html_response(
        status,
        format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{t}</title><link rel=\"stylesheet\" href=\"/__actiongate/challenge.css\"><body><main><h1>{t}</h1><p>{x}</p></main></body></html>",
            t = esc(title),
            x = esc(text)
        ),
    )
}

/// Storage or configuration could not be reached on an app route: refuse
/// (fail closed), as a page or JSON, saying nothing of the cause (logged).
/// Errors other than 503 pass unchanged.
///
/// # Errors
/// The 503 for API clients, or `e` itself.
pub fn fail_closed(html: bool, e: ApiError) -> Result<Response, ApiError> {
    if e.status != 503 {
        return Err(e);
    }
    worker::console_error!(
        "app request refused, storage unavailable: {}",
        e.description
    );
    refuse(
        html,
        ApiError::new(
            503,
            "service_unavailable",
            "The request could not be checked; nothing was forwarded. Retry later.",
        ),
    )
}

/// An error as a page for browsers, JSON otherwise.
fn refuse(html: bool, e: ApiError) -> Result<Response, ApiError> {
    if html {
        page(e.status, "Request refused", &e.description)
    } else {
        Err(e)
    }
}

fn unauthenticated(
    req: &Request,
    cfg: &ProxyConfig,
    why: IdentityError,
) -> Result<Response, ApiError> {
    let reason = match why {
        IdentityError::Ambiguous(r) => {
            return refuse(
                wants_html(req),
                ApiError::new(
                    400,
                    "ambiguous_request",
                    format!("The request carries more than one session ({r}); send one."),
                ),
            );
        }
        IdentityError::Missing => "Sign in first.".to_owned(),
        IdentityError::Invalid(r) => format!("Sign in again: {r}."),
    };
    if wants_html(req)
        && let Some(login) = &cfg.identity.login_url
    {
        let headers = Headers::new();
        headers.set("Location", login).map_err(ApiError::internal)?;
        return Ok(Response::empty()
            .map_err(ApiError::internal)?
            .with_status(303)
            .with_headers(headers));
    }
    let mut e = ApiError::new(401, "unauthenticated", reason);
    e.headers.push(("WWW-Authenticate", "Bearer".to_owned()));
    refuse(wants_html(req), e)
}

async fn protected(
    req: Request,
    env: &Env,
    cfg: &ProxyConfig,
    route: &RouteConfig,
    params: std::collections::BTreeMap<String, String>,
    body: Vec<u8>,
) -> Result<Response, ApiError> {
    let html = wants_html(&req);
    let url = req.url().map_err(ApiError::internal)?;
    let user_id = match identify(&req, env, cfg).await {
        Ok(u) => u,
        Err(why) => return unauthenticated(&req, cfg, why),
    };
    if let Some(token) = header(&req, TOKEN_HEADER) {
        // The retry must read as strictly as the request did, and to the
        // same attributes (the claim compares them, with the method, path
        // and body hash): headers and the query can change otherwise.
        let custom = match attributes(&req, &url, route, params, &body) {
            Ok(c) => c,
            Err(e) => return refuse(html, e),
        };
        let pq = path_and_query(&url);
        return retry(&req, env, cfg, route, &user_id, &token, &pq, body, custom).await;
    }
    let (plan, cmd) = match plan(&req, &url, cfg, route, params, user_id, &body) {
        Ok(p) => p,
        Err(e) => return refuse(html, e),
    };
    let (status, text) = match call_user(env, &plan.user_id, &cmd).await {
        Ok(r) => (
            r.status_code(),
            crate::http::read_text(&r)
                .await
                .map_err(ApiError::internal)?,
        ),
        Err(e) => return fail_closed(html, e),
    };
    match answer(&plan, status, &text)? {
        Answer::Respond(r) => Ok(r),
        Answer::Forward { key, cookie } => {
            let resp = forward(
                &req,
                env,
                cfg,
                &plan.path_and_query,
                &plan.user_id,
                &plan.action,
                "ALLOW",
                &key,
                body,
            )
            .await?;
            with_extra_headers(
                resp,
                &cookie
                    .map(|c| ("Set-Cookie", c))
                    .into_iter()
                    .collect::<Vec<_>>(),
            )
        }
    }
}

/// A protected request once its user is known and its body read: what
/// [`answer`] needs of it besides the user object's reply. The JavaScript
/// entry carries it (as JSON) from [`protect_call`] to [`protect_answer`].
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Plan {
    user_id: String,
    action: String,
    /// The client asked for pages.
    html: bool,
    method: String,
    path_and_query: String,
    /// The device id the action is tracked with.
    device: String,
    /// The device cookie was missing: set it on the answer.
    new_device: bool,
    /// The request came over https (the device cookie is `Secure`).
    secure: bool,
    replay_on_approval: bool,
    /// Where an ALLOW goes: the app's URL for the request, and its service
    /// binding if it has one (the configuration of the moment the request
    /// was checked, even if the isolate's copy expires meanwhile).
    to: String,
    service: Option<String>,
    /// SHA-256 of the body forwarded, hex (signed for the app).
    body_sha256: String,
}

fn lowercase_headers(req: &Request) -> Vec<(String, String)> {
    req.headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// The route's `custom` attributes, read strictly (one reading of each
/// request: see `actiongate_core::proxy::read_custom`).
fn attributes(
    req: &Request,
    url: &worker::Url,
    route: &RouteConfig,
    params: std::collections::BTreeMap<String, String>,
    body: &[u8],
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let ctype = header(req, "Content-Type").unwrap_or_default();
    read_custom(
        route,
        &RequestParts {
            headers: lowercase_headers(req),
            query: url.query().unwrap_or(""),
            body,
            content_type: &ctype,
            params,
        },
    )
    .map_err(ApiError::from)
}

/// The user object's track command for a protected request, and its [`Plan`].
fn plan(
    req: &Request,
    url: &worker::Url,
    cfg: &ProxyConfig,
    route: &RouteConfig,
    params: std::collections::BTreeMap<String, String>,
    user_id: String,
    body: &[u8],
) -> Result<(Plan, UserCommand), ApiError> {
    let pq = path_and_query(url);
    let method = req.inner().method();
    let headers = lowercase_headers(req);
    let custom = attributes(req, url, route, params, body)?;
    let (device, new_device) = device_id(req);
    let edge = edge_info(req);
    let origin = url.origin().ascii_serialization();
    let pending = PendingRequest {
        method: method.clone(),
        path_and_query: pq.clone(),
        headers: headers
            .into_iter()
            .filter(|(k, _)| KEPT_HEADERS.contains(&k.as_str()))
            .collect(),
        body: b64(body),
        body_sha256: sha256_hex(body),
        replay_on_approval: route.replay_on_approval,
    };
    let body_sha256 = pending.body_sha256.clone();
    let request = serde_json::from_value(json!({
        "custom": custom,
        "deviceId": device,
        "ipAddress": edge.ip,
        "userAgent": edge.user_agent,
        "redirectUrl": format!("{origin}{RESUME_PATH}"),
    }))
    .map_err(ApiError::internal)?;
    let cmd = UserCommand::Track(crate::users::commands::Track {
        user_id: user_id.clone(),
        action_code: route.action.clone(),
        request,
        origin,
        edge: Some(edge),
        pending: Some(pending),
    });
    let to = origin_url(cfg, &pq);
    let plan = Plan {
        user_id,
        action: route.action.clone(),
        html: wants_html(req),
        method,
        path_and_query: pq,
        device,
        new_device,
        secure: url.scheme() == "https",
        replay_on_approval: route.replay_on_approval,
        to,
        service: cfg.origin_service.clone(),
        body_sha256,
    };
    Ok((plan, cmd))
}

/// What a protected request gets once its action is tracked.
enum Answer {
    /// ALLOW: forward it to the app, signed with this idempotency key,
    /// and set the device cookie on the app's answer when there is one.
    Forward { key: String, cookie: Option<String> },
    /// Anything else, answered here (the device cookie included).
    Respond(Response),
}

/// Decide from the user object's reply to the track command (its status
/// and body text; status 0: the object could not be reached, `text` says
/// why).
fn answer(plan: &Plan, status: u16, text: &str) -> Result<Answer, ApiError> {
    let html = plan.html;
    if status == 0 {
        return fail_closed(html, ApiError::unavailable(text)).map(Answer::Respond);
    }
    if status != 200 {
        // The action could not be tracked: never forward unverified.
        worker::console_error!("edge track failed with {status}: {text}");
        return refuse(
            html,
            ApiError::new(
                503,
                "service_unavailable",
                "The request could not be checked; nothing was forwarded. Retry later.",
            ),
        )
        .map(Answer::Respond);
    }
    let t: Value = serde_json::from_str(text).map_err(ApiError::internal)?;
    let state = text_field(&t, "state");
    let key = text_field(&t, "idempotencyKey");
    let token = text_field(&t, "token");
    let challenge_url = text_field(&t, "url");
    let cookie = plan
        .new_device
        .then(|| device_cookie(&plan.device, plan.secure));
    let response = match state.as_str() {
        "ALLOW" => return Ok(Answer::Forward { key, cookie }),
        "CHALLENGE_REQUIRED" if html => {
            let headers = Headers::new();
            headers
                .set("Location", &challenge_url)
                .map_err(ApiError::internal)?;
            headers
                .set("Cache-Control", "no-store")
                .map_err(ApiError::internal)?;
            Response::empty()
                .map_err(ApiError::internal)?
                .with_status(303)
                .with_headers(headers)
        }
        "CHALLENGE_REQUIRED" => json_response(
            401,
            &json!({
                "error": "challenge_required",
                "errorCode": "challenge_required",
                "errorDescription": format!("Complete the challenge at url, then retry the same request with the {TOKEN_HEADER} header."),
                "state": state, "token": token, "url": challenge_url, "idempotencyKey": key,
            }),
        )?,
        "REVIEW_REQUIRED" if html => page(
            202,
            "Under review",
            if plan.replay_on_approval {
                "This request is held for review. If it is approved, it will be carried out without anything more from you."
            } else {
                "This request is held for review. You will hear from us once it has been looked at."
            },
        )?,
        "REVIEW_REQUIRED" => json_response(
            202,
            &json!({"state": state, "token": token, "idempotencyKey": key,
                    "message": format!("The request is held for manual review; retry it with the {TOKEN_HEADER} header once approved.")}),
        )?,
        _ if html => page(403, "Not allowed", "This request was blocked.")?,
        _ => json_response(
            403,
            &json!({"error": "blocked", "errorCode": "blocked", "errorDescription": "This request was blocked.",
                    "state": state, "idempotencyKey": key}),
        )?,
    };
    let extra: Vec<(&str, String)> = cookie.map(|c| ("Set-Cookie", c)).into_iter().collect();
    with_extra_headers(response, &extra).map(Answer::Respond)
}

/// The JavaScript entry's first question for a protected route (src/entry.mjs),
/// answered without awaiting anything once it has read the body: the user
/// object's track command, or the answer itself (401, a login redirect).
/// Returns `[userId, userHeader, command, plan]`, a `Response`, or
/// `undefined` to leave the request to [`handle`]: a configuration not
/// cached, a request that is not for a protected route after all, a retry
/// with a token, a JWKS not cached, a body over the limit.
pub fn protect_call(request: web_sys::Request, body: Vec<u8>, env: Env) -> JsValue {
    let call = || -> Option<Result<JsValue, ApiError>> {
        let cfg = crate::config_store::cached_proxy()??;
        if body.len() > cfg.max_body_bytes {
            return None;
        }
        let req = Request::from(request);
        let url = req.url().ok()?;
        if let Err(e) = crate::settings::check_deployment(&env, crate::settings::is_local(&url)) {
            return Some(Err(e));
        }
        // Which route, now that the body (and any `_method` in it) is known;
        // an unprotected or ambiguous request takes the full path.
        let Selection::One(route, params) = select_with_body(req.inner(), &url, &cfg, &body) else {
            return None;
        };
        if header(&req, TOKEN_HEADER).is_some() {
            return None;
        }
        let user_id = match identify_now(&req, &env, &cfg)? {
            Ok(u) => u,
            Err(why) => return Some(unauthenticated(&req, &cfg, why).map(into_js)),
        };
        Some((|| {
            let (plan, cmd) = match plan(&req, &url, &cfg, route, params, user_id, &body) {
                Ok(p) => p,
                Err(e) => return refuse(wants_html(&req), e).map(into_js),
            };
            let command = serde_json::to_string(&cmd).map_err(ApiError::internal)?;
            let plan_text = serde_json::to_string(&plan).map_err(ApiError::internal)?;
            let out = worker::js_sys::Array::new();
            out.push(&plan.user_id.as_str().into());
            out.push(&crate::users::client::user_header(&plan.user_id).into());
            out.push(&command.into());
            out.push(&plan_text.into());
            Ok(out.into())
        })())
    };
    match call() {
        None => JsValue::UNDEFINED,
        Some(Ok(v)) => v,
        Some(Err(e)) => e
            .into_response()
            .map_or(JsValue::UNDEFINED, |r| web_sys::Response::from(r).into()),
    }
}

/// The JavaScript entry's second question for a protected route: given
/// the user object's reply to [`protect_call`]'s command (`status` 0: the
/// object could not be reached, `text` says why), either the answer
/// (`Response`) or how to forward: `[url, serviceBinding | undefined,
/// headers, setCookie | undefined]`, where `headers` alternates names and
/// values of the signed `X-ActionGate-*` headers to set on a copy of the
/// request's headers without the client's own `X-ActionGate-*`.
pub fn protect_answer(plan: &str, status: u16, text: &str, env: Env) -> Result<JsValue, JsValue> {
    let decide = || -> Result<JsValue, ApiError> {
        let plan: Plan = serde_json::from_str(plan).map_err(ApiError::internal)?;
        match answer(&plan, status, text)? {
            Answer::Respond(r) => Ok(into_js(r)),
            Answer::Forward { key, cookie } => {
                let signed = signed_headers(
                    &env,
                    &Signed {
                        method: &plan.method,
                        url: &plan.to,
                        body_sha256: &plan.body_sha256,
                        user_id: &plan.user_id,
                        action: &plan.action,
                        state: "ALLOW",
                        idempotency_key: &key,
                    },
                )?;
                let headers = worker::js_sys::Array::new();
                for (k, v) in signed {
                    headers.push(&k.into());
                    headers.push(&v.into());
                }
                let out = worker::js_sys::Array::new();
                out.push(&plan.to.as_str().into());
                out.push(
                    &plan
                        .service
                        .as_deref()
                        .map_or(JsValue::UNDEFINED, JsValue::from),
                );
                out.push(&headers.into());
                out.push(&cookie.map_or(JsValue::UNDEFINED, JsValue::from));
                Ok(out.into())
            }
        }
    };
    match decide() {
        Ok(v) => Ok(v),
        Err(e) => e
            .into_response()
            .map(|r| web_sys::Response::from(r).into())
            .map_err(Into::into),
    }
}

fn into_js(r: Response) -> JsValue {
    web_sys::Response::from(r).into()
}

/// Forward a checked request to the app, signed, with the body as read.
#[allow(clippy::too_many_arguments)]
async fn forward(
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
    let facts = Signed {
        method: method.as_ref(),
        url: &url,
        body_sha256: &sha256_hex(&body),
        user_id,
        action,
        state,
        idempotency_key: key,
    };
    for (k, v) in signed_headers(env, &facts)? {
        headers.set(k, &v).map_err(ApiError::internal)?;
    }
    let body = body_value(&method, &body);
    send(env, cfg, request_to_origin(&url, method, headers, body)?).await
}

/// A string field of a JSON object, empty when absent.
fn text_field(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// The user's object refused to release a held-back request.
fn claim_refusal(status: u16, body: &Value) -> ApiError {
    // "Nothing held for this token" is the token's fault, not a missing page.
    let status = if status == 404 { 403 } else { status };
    ApiError::from_body(
        status,
        body,
        &[
            "challenge_not_completed",
            "token_already_used",
            "request_mismatch",
        ],
        "invalid_token",
    )
}

#[allow(clippy::too_many_arguments)]
async fn retry(
    req: &Request,
    env: &Env,
    cfg: &ProxyConfig,
    route: &RouteConfig,
    user_id: &str,
    token: &str,
    pq: &str,
    body: Vec<u8>,
    custom: serde_json::Map<String, Value>,
) -> Result<Response, ApiError> {
    let keys = settings::token_keys(env)?;
    let claims = keys
        .verify(token, crate::clock::now_secs())
        .map_err(|e| ApiError::new(403, e.code(), e.to_string()))?
        .claims;
    if claims.user_id != user_id || claims.action_code != route.action {
        return Err(ApiError::new(
            403,
            "invalid_token",
            "The token is for another user or action.",
        ));
    }
    let method = req.method();
    let cmd = UserCommand::Claim {
        action_code: claims.action_code.clone(),
        idempotency_key: claims.idempotency_key.clone(),
        retry: Some((
            method.to_string(),
            pq.to_owned(),
            sha256_hex(&body),
            Value::Object(custom),
        )),
    };
    let claimed = match call_user(env, user_id, &cmd).await {
        Ok(r) => r,
        Err(e) => return fail_closed(false, e),
    };
    let status = claimed.status_code();
    let record: Value = crate::http::read_json(&claimed)
        .await
        .map_err(ApiError::internal)?;
    if status != 200 {
        return Err(claim_refusal(status, &record));
    }
    let state = text_field(&record, "state");
    let result = forward(
        req,
        env,
        cfg,
        pq,
        user_id,
        &route.action,
        &state,
        &claims.idempotency_key,
        body,
    )
    .await;
    release_on_failure(
        env,
        user_id,
        &claims.action_code,
        &claims.idempotency_key,
        result,
    )
    .await
}

/// When the app could not be reached at all (no answer: connection
/// refused, DNS), make the held-back request claimable again. Once the app
/// has answered, whatever the status, it may have executed the request: the
/// claim stays consumed and its answer is relayed, so a retry can never run
/// it twice.
async fn release_on_failure(
    env: &Env,
    user_id: &str,
    code: &str,
    key: &str,
    result: Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    if result.is_err() {
        let cmd = UserCommand::Unclaim {
            action_code: code.to_owned(),
            idempotency_key: key.to_owned(),
        };
        if let Err(e) = call_user(env, user_id, &cmd).await {
            worker::console_error!(
                "could not release {code}/{key} after an origin failure: {}",
                e.description
            );
        }
    }
    result
}

async fn resume(req: Request, env: &Env, cfg: &ProxyConfig) -> Result<Response, ApiError> {
    let html = wants_html(&req);
    let url = req.url().map_err(ApiError::internal)?;
    let Some(token) = url
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
    else {
        return refuse(html, ApiError::bad_request("token: required"));
    };
    let user_id = match identify(&req, env, cfg).await {
        Ok(u) => u,
        Err(why) => return unauthenticated(&req, cfg, why),
    };
    let keys = settings::token_keys(env)?;
    let claims = match keys.verify(&token, crate::clock::now_secs()) {
        Ok(v) => v.claims,
        Err(e) => return refuse(html, ApiError::new(403, e.code(), e.to_string())),
    };
    if claims.user_id != user_id {
        return refuse(
            html,
            ApiError::new(403, "invalid_token", "The token is for another user."),
        );
    }
    let cmd = UserCommand::Claim {
        action_code: claims.action_code.clone(),
        idempotency_key: claims.idempotency_key.clone(),
        retry: None,
    };
    let claimed = match call_user(env, &user_id, &cmd).await {
        Ok(r) => r,
        Err(e) => return fail_closed(html, e),
    };
    let status = claimed.status_code();
    let record: Value = crate::http::read_json(&claimed)
        .await
        .map_err(ApiError::internal)?;
    if status != 200 {
        return refuse(html, claim_refusal(status, &record));
    }
    let held: PendingRequest =
        serde_json::from_value(record.get("pendingRequest").cloned().unwrap_or_default())
            .map_err(ApiError::internal)?;
    let state = text_field(&record, "state");
    let out = held_to_origin(
        env,
        cfg,
        &user_id,
        &claims.action_code,
        &claims.idempotency_key,
        &state,
        &held,
        header(&req, "Cookie"),
    )?;
    let result = send(env, cfg, out).await;
    match release_on_failure(
        env,
        &user_id,
        &claims.action_code,
        &claims.idempotency_key,
        result,
    )
    .await
    {
        Ok(r) => Ok(r),
        Err(e) => refuse(html, e),
    }
}
