//! Which requests are protected: the route a request hits, read every
//! way an app might read its method; unprotected requests forwarded as they came.

use actiongate_core::proxy::{
    METHODS, ProxyConfig, Selection, ambiguous_path, body_method_overrides,
};
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;
use worker::{Env, Request};

use crate::http::ApiError;
use crate::origin::{js_internal, origin_url, strip_ours, unreachable_origin};
use crate::request::RESUME_PATH;

/// A request whose ways of naming its method select different protected
/// routes: the app's reading cannot be told, so it is refused.
pub(super) fn ambiguous_method() -> ApiError {
    ApiError::new(
        400,
        "ambiguous_request",
        "The request names more than one method (a method override disagrees with it); send it with one method.",
    )
}

/// The route of a request whose body has been read: its method read every
/// way an app might, the body's `_method` included (read only where it
/// could select another route, see [`ProxyConfig::body_may_override`]).
pub(super) fn select_with_body<'a>(
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
pub(super) enum Class {
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
pub(super) fn classify(
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
pub(super) fn classify_request(
    req: &web_sys::Request,
    url: &worker::Url,
    cfg: &ProxyConfig,
) -> Class {
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
pub(super) const METHOD_OVERRIDE_HEADERS: [&str; 6] = [
    "X-HTTP-Method-Override",
    "X-HTTP-Method",
    "X-Method-Override",
    "X_HTTP_Method_Override",
    "X_HTTP_Method",
    "X_Method_Override",
];

/// Every header [`classify`] reads: the method overrides.
pub fn classify_header_names() -> impl Iterator<Item = &'static str> {
    METHOD_OVERRIDE_HEADERS.into_iter()
}

/// The methods a request names besides its own, before its body is read:
/// override headers and `_method` in the query (upper-cased). The body's
/// `_method` is read later, where it matters ([`select_with_body`]).
pub(super) fn method_overrides(
    header: impl Fn(&str) -> Option<String>,
    query: Option<&str>,
) -> Vec<String> {
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

pub(super) fn path_and_query(url: &worker::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// An unprotected app route, forwarded as it came (body streamed), without
/// the client's `X-ActionGate-*` headers. It works on the runtime's own
/// request and response objects: the origin's answer goes back untouched.
pub(super) async fn pass_through(
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

/// The JavaScript entry's question (src/entry.mjs, through the bridge),
/// answered without awaiting anything: where an unprotected app request
/// goes, or for a protected route the largest body it takes (the entry
/// reads the body and goes on with [`crate::proxy::protect_call`]).
/// `header` reads the request's headers of [`classify_headers`]. `None`
/// sends the request down the full path: ActionGate's own paths, the
/// resume path, refused requests, and a proxy configuration this isolate
/// has not cached (or that is missing). The entry strips client
/// `X-ActionGate-*` headers itself before it forwards.
pub fn pass_through_target(
    method: &str,
    url: &str,
    header: impl Fn(&str) -> Option<String>,
) -> Option<Target> {
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
    match classify(method, header, path, query, &cfg) {
        Class::PassThrough => Some(Target::Origin {
            url: origin_url(&cfg, path_and_query),
            binding: cfg.origin_service.clone(),
        }),
        Class::Protected => Some(Target::Protected {
            max_body: cfg.max_body_bytes,
        }),
        _ => None,
    }
}

/// Where the entry sends an app request it handles itself.
pub enum Target {
    /// Forward it as it came: to this URL, over this service binding if any.
    Origin {
        /// The app's URL for it.
        url: String,
        /// The app's service binding, if it has one.
        binding: Option<String>,
    },
    /// A protected route: read a body of up to `max_body` bytes, then ask
    /// [`crate::proxy::protect_call`].
    Protected {
        /// The largest body the route takes.
        max_body: usize,
    },
}

/// The path and query of an absolute URL, as written: the runtime's
/// `request.url` is already in canonical form, so this is what the URL
/// parser would give, without the cost of parsing (and IDNA-mapping) the
/// host. Route matching does not rely on it being canonical: it decodes and
/// resolves segments itself (see `ProxyConfig::route_for`).
pub(super) fn raw_path_and_query(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let start = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let rest = &rest[start..];
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    rest.starts_with('/').then_some(rest)
}

/// The JavaScript entry's answer when the app could not be reached: the
/// same 502 as the full path's.
pub fn origin_unreachable(reason: String) -> worker::Result<worker::Response> {
    unreachable_origin(worker::Error::RustError(reason)).into_response()
}
