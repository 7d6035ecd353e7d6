//! The only way into a user's object: a command sent to the object of that
//! user, and its error answers turned back into errors.

use wasm_bindgen::{JsCast, JsValue};
use worker::js_sys::{Array, Function, Promise, Reflect};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, Response};

use crate::http::ApiError;
use crate::users::commands::{BINDING, UserCommand};

/// [`USER_HEADER`](crate::users::commands::USER_HEADER)'s value: the user id,
/// percent-encoded.
pub(crate) fn user_header(user_id: &str) -> String {
    percent_encoding::utf8_percent_encode(user_id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Send a user's object a command over RPC (its `command` method, in
/// src/entry.mjs), as the JavaScript entry does for tracks: one transport
/// into the object. The answer comes back as the object gave it (status,
/// JSON body, and `Retry-After` when it asks to wait).
///
/// # Errors
/// 503 when the object cannot be reached (nothing was changed, or the
/// command is safe to retry), 500 when the command cannot be encoded.
pub async fn call_user(env: &Env, user_id: &str, cmd: &UserCommand) -> Result<Response, ApiError> {
    let body = serde_json::to_string(cmd).map_err(ApiError::internal)?;
    let ns = env.durable_object(BINDING).map_err(ApiError::unavailable)?;
    let stub: JsValue = ns
        .id_from_name(user_id)
        .and_then(|id| id.get_stub())
        .map_err(ApiError::unavailable)?
        .into_rpc();
    let unreachable =
        |e: JsValue| ApiError::unavailable(e.as_string().unwrap_or_else(|| format!("{e:?}")));
    // An RPC stub's method and its answer are the runtime's own objects (a
    // callable proxy, a thenable): checked by what they do, not their class.
    let command = Reflect::get(&stub, &JsValue::from_str("command")).map_err(unreachable)?;
    if !command.is_function() {
        return Err(ApiError::unavailable(
            "the user object has no command method",
        ));
    }
    let command: Function = command.unchecked_into();
    // Reflect.apply, not Function.prototype.call: the stub would take
    // `.call` for a method of the object's.
    let args = Array::of2(&user_header(user_id).into(), &body.into());
    let pending = Reflect::apply(&command, &stub, &args).map_err(unreachable)?;
    let answer = JsFuture::from(Promise::resolve(&pending))
        .await
        .map_err(unreachable)?;
    if !Array::is_array(&answer) {
        return Err(ApiError::unavailable(
            "the user object's answer is not a list",
        ));
    }
    let answer: Array = answer.unchecked_into();
    let status = answer
        .get(0)
        .as_f64()
        .and_then(|s| u16::try_from(s as i64).ok())
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| ApiError::unavailable("the user object's answer has no status"))?;
    let text = answer.get(1).as_string().unwrap_or_default();
    let response = crate::http::json_text_response(status, text)?;
    if let Some(wait) = answer.get(2).as_string() {
        response
            .headers()
            .set("Retry-After", &wait)
            .map_err(ApiError::internal)?;
    }
    Ok(response)
}

/// Turn a user object's error answer back into an [`ApiError`].
pub async fn relay_error(resp: &mut Response) -> ApiError {
    let status = resp.status_code();
    let retry_after = resp.headers().get("Retry-After").ok().flatten();
    let body: serde_json::Value = crate::http::read_json(resp).await.unwrap_or_default();
    let mut err = ApiError::from_body(
        status,
        &body,
        &[
            "invalid_request",
            "action_not_found",
            "too_many_requests",
            "code_recently_sent",
            "service_unavailable",
            "server_misconfigured",
            "not_found",
            "challenge_not_claimable",
        ],
        "internal_error",
    );
    if let Some(secs) = retry_after.filter(|v| v.bytes().all(|b| b.is_ascii_digit())) {
        err.headers.push(("Retry-After", secs));
    }
    err
}
