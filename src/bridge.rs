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

/// A call to a user object that the entry makes itself: the object of
/// `user`, the header naming them to it, the command (JSON), and for a
/// protected route the plan [`protect_answer`] needs.
#[wasm_bindgen(getter_with_clone)]
pub struct UserCall {
    /// The user (names the object).
    pub user: String,
    /// `X-ActionGate-User`'s value.
    #[wasm_bindgen(js_name = userHeader)]
    pub user_header: String,
    /// The command.
    pub command: String,
    /// For a protected route: what its answer needs of the request.
    pub plan: Option<String>,
}

/// Forward a request to the app: to `url`, over the service binding
/// `binding` if any, with the request's headers less ActionGate's own plus
/// `headers` (names and values, alternating), adding `setCookie` to the
/// app's answer if any. For an unprotected route only `url` and `binding`
/// are set.
#[wasm_bindgen(getter_with_clone)]
pub struct Forward {
    /// The app's URL for the request.
    pub url: String,
    /// The app's service binding, if any.
    pub binding: Option<String>,
    /// Signed `X-ActionGate-*` headers: name, value, name, value, ...
    pub headers: Vec<String>,
    /// A cookie for the app's answer.
    #[wasm_bindgen(js_name = setCookie)]
    pub set_cookie: Option<String>,
}

/// A user object's answer to a command, for the entry: `status` and the
/// JSON `body`.
#[wasm_bindgen(getter_with_clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: String,
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
/// ([`crate::api::server::track_call`]): a [`UserCall`], the error
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
        Some(Ok(c)) => UserCall {
            user: c.user,
            user_header: c.user_header,
            command: c.command,
            plan: None,
        }
        .into(),
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
/// unprotected route of an app reached by URL, a [`Forward`] for one behind
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
        Some(crate::proxy::Target::Origin { url, binding }) => Forward {
            url,
            binding,
            headers: Vec::new(),
            set_cookie: None,
        }
        .into(),
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
/// [`UserCall`] with its plan, a `Response`, or `undefined` (the full path).
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
        }) => UserCall {
            user,
            user_header,
            command,
            plan: Some(plan),
        }
        .into(),
    }
}

/// A protected route's second question ([`crate::proxy::protect_answer`]),
/// given the user object's reply (`status` 0: it could not be reached,
/// `text` says why): a `Response`, or a [`Forward`].
#[wasm_bindgen(js_name = protectAnswer)]
pub fn protect_answer(plan: &str, status: u16, text: &str, env: Env) -> JsValue {
    match crate::proxy::protect_answer(plan, status, text, &env) {
        Ok(crate::proxy::Next::Respond(r)) => js_response(Ok(r)),
        Ok(crate::proxy::Next::Forward {
            url,
            binding,
            headers,
            set_cookie,
        }) => Forward {
            url,
            binding,
            headers: headers.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            set_cookie,
        }
        .into(),
        Err(e) => js_response(e.into_response()),
    }
}

/// The user object's synchronous track, for its JavaScript class.
#[wasm_bindgen]
impl UserObject {
    /// The [`Answer`] to a track answered at once
    /// ([`UserObject::track_now`]), or `undefined`.
    #[wasm_bindgen(js_name = trackNow)]
    pub fn js_track_now(&self, user: Option<String>, command: &str) -> Option<Answer> {
        self.track_now(user, command)
            .map(|(status, body)| Answer { status, body })
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
