//! Everything the worker exports to JavaScript, in one place: the fetch
//! handler for what the JavaScript entry (`src/entry.mjs`) does not answer
//! itself, the entry's synchronous questions on the hot paths (tracks,
//! unprotected and protected app routes), and the user object's
//! synchronous track. Each export is a thin conversion; the modules named
//! below decide.

use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{Context, Env, Request, Response, event, web_sys};

use crate::users::object::UserObject;

/// Every request the JavaScript entry does not forward itself
/// ([`crate::api::router::route`]).
#[event(fetch)]
async fn fetch(
    req: web_sys::Request,
    env: Env,
    _ctx: Context,
) -> worker::Result<web_sys::Response> {
    let response = match crate::api::router::route(Request::from(req), &env).await {
        Ok(r) => r,
        Err(e) => e.into_response()?,
    };
    Ok(response.into())
}

/// What the entry reads of an answer, as a plain JavaScript array: a
/// `#[wasm_bindgen]` struct would be registered with a
/// `FinalizationRegistry`, and each field read would cross back into the
/// wasm for a copy of the string.
fn js_array<const N: usize>(items: [JsValue; N]) -> JsValue {
    items.iter().collect::<js_sys::Array>().into()
}

/// A call to a user object that the entry makes itself:
/// `[user, userHeader, command, plan]`, the user (names the object),
/// `X-ActionGate-User`'s value, the command (JSON), and for a protected
/// route the plan [`protect_answer`] needs (`undefined` for a track).
fn user_call(user: String, user_header: String, command: String, plan: Option<String>) -> JsValue {
    js_array([
        user.into(),
        user_header.into(),
        command.into(),
        plan.map_or(JsValue::UNDEFINED, JsValue::from),
    ])
}

/// Forward a request to the app: `[url, binding, headers, setCookie]`, to
/// `url`, over the service binding `binding` if any (else `undefined`),
/// with the request's headers less ActionGate's own plus `headers` (names
/// and values, alternating, in an array), adding `setCookie` to the app's
/// answer if any. For an unprotected route only `url` and `binding` are
/// set.
fn forward(
    url: String,
    binding: Option<String>,
    headers: Vec<(String, String)>,
    set_cookie: Option<String>,
) -> JsValue {
    let signed: js_sys::Array = headers
        .into_iter()
        .flat_map(|(k, v)| [JsValue::from(k), JsValue::from(v)])
        .collect();
    js_array([
        url.into(),
        binding.map_or(JsValue::UNDEFINED, JsValue::from),
        signed.into(),
        set_cookie.map_or(JsValue::UNDEFINED, JsValue::from),
    ])
}

fn js_response(r: worker::Result<Response>) -> JsValue {
    r.map_or(JsValue::UNDEFINED, |r| web_sys::Response::from(r).into())
}

/// The largest body the entry reads for a track
/// ([`crate::api::server::max_body_bytes`]).
#[wasm_bindgen(js_name = maxBodyBytes)]
pub fn max_body_bytes() -> usize {
    crate::api::server::max_body_bytes()
}

/// A track as the entry makes it, without awaiting
/// ([`crate::api::server::track_call`]): a `[user, userHeader, command, plan]` (see `user_call`), the error
/// `Response`, or `undefined` (not a track after all: the full path).
#[wasm_bindgen(js_name = trackCall)]
pub fn track_call(
    url: &str,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
    env: Env,
) -> JsValue {
    match crate::api::server::track_call(
        url,
        authorization.as_deref(),
        content_type.as_deref(),
        body,
        &env,
    ) {
        None => JsValue::UNDEFINED,
        Some(Ok(c)) => user_call(c.user, c.user_header, c.command, None),
        Some(Err(r)) => js_response(Ok(r)),
    }
}

/// The answer when the user object cannot be reached
/// ([`crate::api::server::user_object_unavailable`]).
#[wasm_bindgen(js_name = userObjectUnavailable)]
pub fn user_object_unavailable(detail: &str) -> JsValue {
    js_response(crate::api::server::user_object_unavailable(detail))
}

/// The request headers the proxy's classification reads
/// ([`crate::proxy::classify_headers`]).
#[wasm_bindgen(js_name = classifyHeaders)]
pub fn classify_headers() -> Vec<String> {
    crate::proxy::classify_headers()
}

/// ActionGate's own cookies, removed from what is forwarded
/// ([`crate::proxy::our_cookies`]).
#[wasm_bindgen(js_name = ourCookies)]
pub fn our_cookies() -> Vec<String> {
    crate::proxy::our_cookies()
}

/// The rule for ActionGate's own request headers, as a regular expression
/// for the entry (`actiongate_core::proxy::our_header_pattern`): no header
/// it matches reaches the app.
#[wasm_bindgen(js_name = ourHeaderPattern)]
pub fn our_header_pattern() -> String {
    actiongate_core::proxy::our_header_pattern()
}

/// Where an app request goes when the entry can tell without awaiting
/// ([`crate::proxy::pass_through_target`]): the app's URL (a string) for an
/// unprotected route of an app reached by URL, `[url, binding]` (see `forward`) for one behind
/// a service binding, the largest body to read (a number) for a protected
/// route, or `undefined` for the full path. `values` holds the request's
/// values of [`classify_headers`], in that order (`null` when absent).
#[wasm_bindgen(js_name = passThroughTarget)]
pub fn pass_through_target(method: &str, url: &str, values: Vec<JsValue>) -> JsValue {
    let header = |name: &str| {
        let i = crate::proxy::classify_header_names().position(|h| h.eq_ignore_ascii_case(name))?;
        values.get(i)?.as_string()
    };
    match crate::proxy::pass_through_target(method, url, header) {
        None => JsValue::UNDEFINED,
        Some(crate::proxy::Target::Origin { url, binding: None }) => url.into(),
        Some(crate::proxy::Target::Origin { url, binding }) => {
            forward(url, binding, Vec::new(), None)
        }
        #[allow(clippy::cast_precision_loss)]
        Some(crate::proxy::Target::Protected { max_body }) => JsValue::from(max_body as f64),
    }
}

/// The 502 when the app could not be reached
/// ([`crate::proxy::origin_unreachable`]).
#[wasm_bindgen(js_name = originUnreachable)]
pub fn origin_unreachable(reason: String) -> JsValue {
    js_response(crate::proxy::origin_unreachable(reason))
}

/// A protected route's first question ([`crate::proxy::protect_call`]): a
/// `[user, userHeader, command, plan]` (see `user_call`), a `Response`, or
/// `undefined` (the full path).
#[wasm_bindgen(js_name = protectCall)]
pub fn protect_call(request: web_sys::Request, body: Vec<u8>, env: Env) -> JsValue {
    match crate::proxy::protect_call(request, &body, &env) {
        None => JsValue::UNDEFINED,
        Some(crate::proxy::Protect::Respond(r)) => js_response(Ok(r)),
        Some(crate::proxy::Protect::Call {
            user,
            user_header,
            command,
            plan,
        }) => user_call(user, user_header, command, Some(plan)),
    }
}

/// A protected route's second question ([`crate::proxy::protect_answer`]),
/// given the user object's reply (`status` 0: it could not be reached,
/// `text` says why): a `Response`, or `[url, binding, headers, setCookie]`
/// (see `forward`).
#[wasm_bindgen(js_name = protectAnswer)]
pub fn protect_answer(plan: &str, status: u16, text: &str, env: Env) -> JsValue {
    match crate::proxy::protect_answer(plan, status, text, &env) {
        Ok(crate::proxy::Next::Respond(r)) => js_response(Ok(r)),
        Ok(crate::proxy::Next::Forward {
            url,
            binding,
            headers,
            set_cookie,
        }) => forward(url, binding, headers, set_cookie),
        Err(e) => js_response(e.into_response()),
    }
}

/// The user object's synchronous track, for its JavaScript class.
#[wasm_bindgen]
impl UserObject {
    /// `[status, body]` for a track answered at once
    /// ([`UserObject::track_now`]): the HTTP status and the JSON body; or
    /// `undefined`.
    #[wasm_bindgen(js_name = trackNow)]
    pub fn js_track_now(&self, user: Option<String>, command: &str) -> JsValue {
        self.track_now(user, command)
            .map_or(JsValue::UNDEFINED, |(status, body)| {
                js_array([JsValue::from(status), body.into()])
            })
    }

    /// When the outbox's alarm must fire by ([`UserObject::alarm_wanted`]).
    #[wasm_bindgen(js_name = alarmWanted)]
    #[allow(clippy::cast_precision_loss)]
    pub fn js_alarm_wanted(&self) -> Option<f64> {
        self.alarm_wanted().map(|at| at as f64)
    }

    /// Whether the alarm already set (`current`, ms, `undefined` for none)
    /// serves for the one [`UserObject::alarm_wanted`] asked for at `at`
    /// ([`crate::users::outbox::alarm_serves`]): the class sets `at` only
    /// when it does not.
    #[wasm_bindgen(js_name = alarmServes)]
    #[allow(clippy::cast_possible_truncation)]
    pub fn js_alarm_serves(&self, current: Option<f64>, at: f64) -> bool {
        crate::users::outbox::alarm_serves(
            current.map(|c| c as i64),
            at as i64,
            crate::clock::now_ms(),
        )
    }

    /// The alarm asked for could not be set ([`UserObject::alarm_unknown`]).
    #[wasm_bindgen(js_name = alarmUnknown)]
    pub fn js_alarm_unknown(&self) {
        self.alarm_unknown();
    }
}
