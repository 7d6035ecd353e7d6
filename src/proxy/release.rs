//! A held-back request released once: to a browser returning from
//! the challenge page, or to an API client retrying with its token.

use actiongate_core::actions::model::PendingRequest;
use actiongate_core::encoding::sha256_hex;
use actiongate_core::proxy::{ProxyConfig, RouteConfig};
use serde_json::Value;
use worker::{Env, Request, Response};

use crate::http::ApiError;
use crate::origin::{held_to_origin, send};
use crate::request::{browser, header};
use crate::settings;
use crate::users::client::call_user;
use crate::users::commands::UserCommand;

use super::pages::{fail_closed, refuse, unauthenticated};
use super::session::identify;
use crate::origin::forward;

/// A string field of a JSON object, empty when absent.
pub(super) fn text_field(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// The user's object refused to release a held-back request.
pub(super) fn claim_refusal(status: u16, body: &Value) -> ApiError {
    // "Nothing held for this token" is the token's fault, not a missing page.
    let status = if status == 404 { 403 } else { status };
    ApiError::from_body(
        status,
        body,
        &[
            "challenge_not_completed",
            "token_already_used",
            "request_mismatch",
            "expired_token",
        ],
        "invalid_token",
    )
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn retry(
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
        Err(e) => return fail_closed(None, e),
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
pub(super) async fn release_on_failure(
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

pub(super) async fn resume(
    req: Request,
    env: &Env,
    cfg: &ProxyConfig,
) -> Result<Response, ApiError> {
    let html = browser(&req);
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
        let e = claim_refusal(status, &record);
        // Verified, then held for a check (a rule's reviewAfterChallenge): a
        // browser sees where it stands rather than a refusal.
        // Cancelled or failed: where it stands, in the same words.
        let said = text_field(&record, "errorDescription");
        if html.is_some()
            && e.code == "challenge_not_completed"
            && (said.contains("REVIEW_REQUIRED") || said.contains("CHALLENGE_FAILED"))
        {
            return super::pages::see_other(&super::outcome::outcome_url(&token, false));
        }
        return refuse(html, e);
    }
    let held: PendingRequest =
        actiongate_core::encoding::from_value(record.get("pendingRequest").unwrap_or(&Value::Null))
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
