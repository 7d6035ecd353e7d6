//! The portal's user search, over the user directory.

use worker::{Env, Request, Response};

use crate::http::{ApiError, json_response};

/// The portal's user search: `?q=` an email (it has an `@`), a phone
/// number (it starts with `+`) or the start of a user id; `after` pages on.
/// From the user directory (`crate::directory`).
pub(super) async fn search(req: &Request, env: &Env) -> Result<Response, ApiError> {
    let url = req.url().map_err(ApiError::internal)?;
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let Some(text) = param("q") else {
        return Err(ApiError::bad_request(
            "q: give an email, a phone number or the start of a user id",
        ));
    };
    if text.len() > 256 {
        return Err(ApiError::bad_request("q: at most 256 bytes"));
    }
    let mut q = crate::directory::Query {
        limit: 50,
        after: param("after"),
        ..crate::directory::Query::default()
    };
    if text.contains('@') {
        q.email = Some(text);
    } else if text.starts_with('+') {
        q.phone_number = Some(text);
    } else {
        q.id_prefix = Some(text);
    }
    let (users, next) = crate::directory::query(env, &q).await?;
    json_response(
        200,
        &serde_json::json!({ "users": users, "lastEvaluatedUserId": next }),
    )
}
