//! Everything the worker exports to JavaScript, in one place: the fetch
//! handler for what the JavaScript entry (`src/entry.mjs`) does not answer
//! itself, the entry's synchronous questions on the hot paths (tracks,
//! unprotected and protected app routes), and the user object's
//! synchronous track. Each export is a thin conversion; the modules named
//! below decide.

use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{Context, Env, Request, event, web_sys};

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

/// The largest body the entry reads for a track
/// ([`crate::api::server::max_body_bytes`]).
#[wasm_bindgen(js_name = maxBodyBytes)]
pub fn max_body_bytes() -> usize {
    crate::api::server::max_body_bytes()
}

/// A track as the entry makes it, without awaiting
/// ([`crate::api::server::track_call`]).
#[wasm_bindgen(js_name = trackCall)]
pub fn track_call(
    url: &str,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
    env: Env,
) -> Option<JsValue> {
    crate::api::server::track_call(url, authorization, content_type, body, env)
}

/// The answer when the user object cannot be reached
/// ([`crate::api::server::user_object_unavailable`]).
#[wasm_bindgen(js_name = userObjectUnavailable)]
pub fn user_object_unavailable(detail: &str) -> Result<web_sys::Response, JsValue> {
    crate::api::server::user_object_unavailable(detail)
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

/// Where an unprotected app request goes
/// ([`crate::proxy::pass_through_target`]).
#[wasm_bindgen(js_name = passThroughTarget)]
pub fn pass_through_target(method: &str, url: &str, values: Vec<JsValue>) -> JsValue {
    crate::proxy::pass_through_target(method, url, values)
}

/// The 502 when the app could not be reached
/// ([`crate::proxy::origin_unreachable`]).
#[wasm_bindgen(js_name = originUnreachable)]
pub fn origin_unreachable(reason: String) -> Result<web_sys::Response, JsValue> {
    crate::proxy::origin_unreachable(reason)
}

/// A protected route's first question ([`crate::proxy::protect_call`]).
#[wasm_bindgen(js_name = protectCall)]
pub fn protect_call(request: web_sys::Request, body: Vec<u8>, env: Env) -> JsValue {
    crate::proxy::protect_call(request, body, env)
}

/// A protected route's second question ([`crate::proxy::protect_answer`]).
#[wasm_bindgen(js_name = protectAnswer)]
pub fn protect_answer(plan: &str, status: u16, text: &str, env: Env) -> Result<JsValue, JsValue> {
    crate::proxy::protect_answer(plan, status, text, env)
}

/// The user object's synchronous track, for its JavaScript class.
#[wasm_bindgen]
impl UserObject {
    /// `[status, body]` of a track answered at once
    /// ([`UserObject::track_now`]), or `undefined`.
    #[wasm_bindgen(js_name = trackNow)]
    pub fn js_track_now(&self, user: Option<String>, command: &str) -> JsValue {
        match self.track_now(user, command) {
            Some((status, body)) => worker::js_sys::Array::of2(&status.into(), &body.into()).into(),
            None => JsValue::UNDEFINED,
        }
    }

    /// When the outbox's alarm must fire by ([`UserObject::alarm_wanted`]).
    #[wasm_bindgen(js_name = alarmWanted)]
    #[allow(clippy::cast_precision_loss)]
    pub fn js_alarm_wanted(&self) -> Option<f64> {
        self.alarm_wanted().map(|at| at as f64)
    }

    /// The alarm asked for could not be set ([`UserObject::alarm_unknown`]).
    #[wasm_bindgen(js_name = alarmUnknown)]
    pub fn js_alarm_unknown(&self) {
        self.alarm_unknown();
    }
}
