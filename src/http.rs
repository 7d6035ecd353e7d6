//! Request and response plumbing: the one place errors become HTTP.
//!
//! Every error body is `{"error", "errorCode", "errorDescription"}` (the Node
//! SDK reads `error`, the Python and browser SDKs read `errorCode`), every
//! body is sent with `Content-Type: application/json` exactly, and internal
//! failures are logged here and answered with a generic sentence.

use actiongate_core::{CoreError, ErrorKind};
use futures_util::StreamExt;
use serde::Serialize;
use worker::{Headers, Request, Response};

/// Largest request body accepted on API routes, in bytes (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest body of a value list or configuration document upload (8 MiB).
pub const MAX_MANAGEMENT_BODY_BYTES: usize = 8 * 1024 * 1024;

/// An error on its way to becoming a response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable explanation, safe to show.
    pub description: String,
    /// Extra headers (`Allow`, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
    /// Every problem of a body found invalid, one located line each (sent
    /// as `problems` when there are any).
    pub problems: Vec<String>,
}

impl ApiError {
    /// An error with no extra headers.
    pub fn new(status: u16, code: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            description: description.into(),
            headers: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// 400 `invalid_request`.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", description)
    }

    /// 404 for an unknown route.
    pub fn not_found() -> Self {
        Self::new(404, "not_found", "No such endpoint.")
    }

    /// 405 naming the methods the path accepts.
    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        let mut e = Self::new(
            405,
            "method_not_allowed",
            format!("This endpoint accepts {}.", allowed.join(", ")),
        );
        e.headers.push(("Allow", allowed.join(", ")));
        e
    }

    /// 500 with a generic message; `detail` goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        worker::console_error!("internal error: {detail}");
        Self::new(500, "internal_error", "An internal error occurred.")
    }

    /// 503 when storage or configuration cannot be reached; `detail` is logged.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        worker::console_error!("storage unavailable: {detail}");
        Self::new(
            503,
            "service_unavailable",
            "Storage is unavailable; nothing was changed. Retry later.",
        )
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "error": self.code,
            "errorCode": self.code,
            "errorDescription": self.description,
        });
        if let (false, Some(o)) = (self.problems.is_empty(), body.as_object_mut()) {
            o.insert("problems".into(), serde_json::json!(self.problems));
        }
        body
    }

    /// The response.
    ///
    /// # Errors
    /// Only if the runtime cannot build a response; the runtime then answers 500.
    pub fn into_response(self) -> worker::Result<Response> {
        let bytes = serde_json::to_vec(&self.body())?;
        let headers = Headers::new();
        headers.set("Content-Type", "application/json")?;
        headers.set("Cache-Control", "no-store")?;
        for (k, v) in &self.headers {
            headers.set(k, v)?;
        }
        Ok(Response::from_bytes(bytes)?
            .with_status(self.status)
            .with_headers(headers))
    }
}

impl ApiError {
    /// Rebuild an error from another component's error body (the user's
    /// Durable Object): its code if it is one of `known`, else `fallback`.
    pub fn from_body(
        status: u16,
        body: &serde_json::Value,
        known: &[&'static str],
        fallback: &'static str,
    ) -> Self {
        let sent = body.get("error").and_then(serde_json::Value::as_str);
        let code = known
            .iter()
            .copied()
            .find(|k| Some(*k) == sent)
            .unwrap_or(fallback);
        let description = body
            .get("errorDescription")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("An internal error occurred.")
            .to_owned();
        ApiError::new(status, code, description)
    }
}

impl ApiError {
    /// A refused session request (401 for a credential, 403 otherwise).
    pub fn from_session(e: actiongate_core::auth::session::SessionError) -> Self {
        CoreError::Session(e).into()
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let status = match e.kind() {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::TooManyRequests => 429,
            ErrorKind::Internal => return ApiError::internal(e),
        };
        let mut err = ApiError::new(status, e.code(), e.public_description());
        if let CoreError::Invalid(problems) = &e {
            err.problems.clone_from(problems);
        }
        if let Some(secs) = e.retry_after() {
            err.headers.push(("Retry-After", secs.to_string()));
        }
        err
    }
}

/// Create a Durable Object's tables (`schema`, all `IF NOT EXISTS`) once
/// per instance: `ready` remembers that it was done.
///
/// # Errors
/// 503 when SQLite refuses.
pub fn create_tables_once(
    state: &worker::State,
    ready: &std::cell::Cell<bool>,
    schema: &str,
) -> Result<(), ApiError> {
    if !ready.get() {
        state
            .storage()
            .sql()
            .exec(schema, None)
            .map_err(ApiError::unavailable)?;
        ready.set(true);
    }
    Ok(())
}

/// A JSON response with `Content-Type: application/json` exactly.
///
/// # Errors
/// An internal [`ApiError`] if the body cannot be serialised or the
/// runtime refuses to build the response (neither happens in practice).
pub fn json_response<T: Serialize + ?Sized>(status: u16, body: &T) -> Result<Response, ApiError> {
    json_text_response(
        status,
        serde_json::to_string(body).map_err(ApiError::internal)?,
    )
}

/// [`json_response`] for a body already serialised.
///
/// # Errors
/// An internal [`ApiError`] if the runtime refuses to build the response.
pub fn json_text_response(status: u16, body: String) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers
        .set("Content-Type", "application/json")
        .map_err(ApiError::internal)?;
    headers
        .set("Cache-Control", "no-store")
        .map_err(ApiError::internal)?;
    Ok(Response::ok(body)
        .map_err(ApiError::internal)?
        .with_status(status)
        .with_headers(headers))
}

/// The policy of every page the worker renders (the edge proxy's result
/// pages, the magic link's, the dev outbox): the hosted challenge page's
/// (`www/_headers`), and never inside another site's frame. The pages use
/// no script and style only from `/__actiongate/challenge.css`.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// An HTML response (`text/html; charset=utf-8`, not cached, with
/// [`PAGE_CSP`]).
///
/// # Errors
/// An internal [`ApiError`] if the runtime refuses to build it.
pub fn html_response(status: u16, html: String) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers
        .set("Content-Type", "text/html; charset=utf-8")
        .map_err(ApiError::internal)?;
    for (k, v) in [
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", PAGE_CSP),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ] {
        headers.set(k, v).map_err(ApiError::internal)?;
    }
    Ok(Response::ok(html)
        .map_err(ApiError::internal)?
        .with_status(status)
        .with_headers(headers))
}

/// Read a JSON request body of at most [`MAX_BODY_BYTES`].
///
/// An empty body counts as `{}` (the SDKs post no body for some calls).
///
/// # Errors
/// 415 when the content type is not JSON, 413 when the body is too large,
/// 400 when it cannot be read.
pub async fn read_json_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    read_json_body_up_to(req, MAX_BODY_BYTES).await
}

/// A Server or Client API body read as `T`, a tolerant reader (see
/// `actiongate_core::error::parse_wire`): fields it does not know are
/// ignored and logged at debug level, by name only (never their values),
/// so a misspelt field (`costum`) can be found in `wrangler tail`.
///
/// # Errors
/// 400 when the body is not JSON or a known field has the wrong type.
pub fn wire_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let (value, ignored) = actiongate_core::error::parse_wire(bytes)?;
    log_ignored(&ignored);
    Ok(value)
}

/// Log, at debug level, the names of request fields that were ignored
/// (at most ten, each printable and cut short: they come from the client).
pub fn log_ignored(ignored: &[String]) {
    /// Enough names to find a typo; the rest are counted.
    const NAMED: usize = 10;
    if ignored.is_empty() {
        return;
    }
    let names: Vec<String> = ignored.iter().take(NAMED).map(|p| printable(p)).collect();
    let more = ignored.len().saturating_sub(NAMED);
    worker::console_debug!(
        "request fields ignored (unknown to this endpoint): {}{}",
        names.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
}

/// A client's field name as it may be logged or told back: letters,
/// digits, `_`, `-` and `.` kept, anything else as `?`, at most 64.
pub fn printable(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// [`read_json_body`] with another size limit.
///
/// # Errors
/// As [`read_json_body`].
pub async fn read_json_body_up_to(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let bytes = read_limited(req, limit).await?;
    let ctype = req.headers().get("Content-Type").ok().flatten();
    json_body(bytes, ctype.as_deref())
}

/// A request body read whole, as [`read_json_body`] takes it: empty counts
/// as `{}`, anything else must be sent as JSON, and be an object (every
/// body the API takes is one; serde would read an array positionally
/// into a struct's fields).
///
/// # Errors
/// 415 when the content type is not JSON; 400 when the body is not an object.
pub fn json_body(bytes: Vec<u8>, content_type: Option<&str>) -> Result<Vec<u8>, ApiError> {
    if bytes.is_empty() {
        return Ok(b"{}".to_vec());
    }
    let essence = content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "Send the request body as JSON with Content-Type: application/json.",
        ));
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    }
    Ok(bytes)
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        413,
        "payload_too_large",
        format!("The request body is larger than {limit} bytes."),
    )
}

/// The request body, refused with 413 past `limit` bytes. A declared
/// `Content-Length` over the limit is refused before reading; with one within
/// it the body is read in one call (the runtime delimits it by that length),
/// otherwise it is streamed and counted.
///
/// # Errors
/// 413 past the limit; 400 when the body cannot be read.
pub async fn read_limited(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let declared: Option<usize> = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let unreadable = || ApiError::bad_request("The request body could not be read.");
    if declared.is_some() {
        let bytes = req.bytes().await.map_err(|_| unreadable())?;
        if bytes.len() > limit {
            return Err(too_large(limit));
        }
        return Ok(bytes);
    }
    let mut stream = match req.stream() {
        Ok(s) => s,
        // No body at all.
        Err(_) => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| unreadable())?;
        if out.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A subrequest's JSON answer, read in one call. (workers-rs reads a
/// streamed body chunk by chunk, a round trip into JavaScript per chunk.)
///
/// # Errors
/// When the body cannot be read or is not the expected JSON.
pub async fn read_json<T: serde::de::DeserializeOwned>(resp: &Response) -> worker::Result<T> {
    actiongate_core::encoding::from_json(&read_text(resp).await?).map_err(worker::Error::from)
}

/// A response's body as text.
///
/// # Errors
/// When the body cannot be read.
pub async fn read_text(resp: &Response) -> worker::Result<String> {
    let inner = worker::web_sys::Response::from(resp);
    let text = worker::wasm_bindgen_futures::JsFuture::from(inner.text()?).await?;
    text.as_string()
        .ok_or_else(|| worker::Error::RustError("a response body is not text".into()))
}

/// A request to `url` for `fetch`: `method`, `headers`, `body`, and
/// redirects answered as they are (`manual`) rather than followed. Built on
/// the runtime's own `RequestInit`, not `worker::RequestInit`, whose
/// conversion carries every Cloudflare `cf` option (image resizing and
/// the rest, none of which ActionGate sets) into the upload: about 10 KB.
///
/// # Errors
/// When the runtime refuses the URL or the options.
pub fn outgoing_request(
    url: &str,
    method: &str,
    headers: Option<&Headers>,
    manual: bool,
    body: Option<&wasm_bindgen::JsValue>,
) -> worker::Result<Request> {
    let init = worker::web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(headers) = headers {
        init.set_headers(&headers.0);
    }
    if manual {
        init.set_redirect(worker::web_sys::RequestRedirect::Manual);
    }
    if let Some(body) = body {
        init.set_body(body);
    }
    worker::web_sys::Request::new_with_str_and_init(url, &init)
        .map(Request::from)
        .map_err(|e| {
            worker::Error::JsError(
                e.as_string()
                    .unwrap_or_else(|| "invalid URL or options for Request".to_owned()),
            )
        })
}
