//! The only way into a user's object: a command sent to the object of that
//! user, and its error answers turned back into errors.

use worker::{Env, Method, Request, RequestInit, Response};

use crate::http::ApiError;
use crate::users::commands::{BINDING, UserCommand};

/// [`USER_HEADER`](crate::users::commands::USER_HEADER)'s value: the user id,
/// percent-encoded.
pub(crate) fn user_header(user_id: &str) -> String {
    percent_encoding::utf8_percent_encode(user_id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub async fn call_user(env: &Env, user_id: &str, cmd: &UserCommand) -> Result<Response, ApiError> {
    let body = serde_json::to_string(cmd).map_err(ApiError::internal)?;
    let ns = env.durable_object(BINDING).map_err(ApiError::unavailable)?;
    let stub = ns
        .id_from_name(user_id)
        .and_then(|id| id.get_stub())
        .map_err(ApiError::unavailable)?;
    let headers = worker::Headers::new();
    headers
        .set(crate::users::commands::USER_HEADER, &user_header(user_id))
        .map_err(ApiError::internal)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let request =
        Request::new_with_init("https://user-object/", &init).map_err(ApiError::internal)?;
    stub.fetch_with_request(request)
        .await
        .map_err(ApiError::unavailable)
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
        ],
        "internal_error",
    );
    if let Some(secs) = retry_after.filter(|v| v.bytes().all(|b| b.is_ascii_digit())) {
        err.headers.push(("Retry-After", secs));
    }
    err
}
