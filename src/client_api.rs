//! The Client API (`/v1/client/...`): what `@authsignal/browser` calls from
//! the user's browser, authenticated by the bearer token that track issued
//! for one action. So far: the authenticator-app (TOTP) client
//! (`authsignal.totp.enroll()` and `.verify({code})`), and `GET
//! /v1/client/action`, what the hosted challenge page shows (methods, the
//! rendered message, where to return); the email OTP and SMS clients
//! (`authsignal.email.enroll({email})` / `authsignal.sms.enroll({phoneNumber})`,
//! `.challenge()`, `.verify({code})`).
//!
//! Browsers call it from the app's origin, so answers carry CORS headers for
//! the origins of `REDIRECT_URL_ALLOWLIST` (and the worker's own).

use actiongate_core::error::parse_json;
use actiongate_core::otp::Channel;
use actiongate_core::token::ActionClaims;
use serde::Deserialize;
use worker::{Date, Env, Headers, Method, Request, Response};

use crate::http::{ApiError, json_response, read_json_body};
use crate::router::allow;
use crate::server_api::call_user;
use crate::settings;
use crate::user_object::UserCommand;
use serde_json::json;

/// Handle `/v1/client/<rest>`.
///
/// # Errors
/// Never: errors are answered as responses with CORS headers.
pub async fn handle(mut req: Request, env: &Env, rest: &[&str]) -> Result<Response, ApiError> {
    let origin = req.headers().get("Origin").ok().flatten();
    let result = if req.method() == Method::Options {
        Response::empty()
            .map(|r| r.with_status(204))
            .map_err(ApiError::internal)
    } else {
        route(&mut req, env, rest).await
    };
    let response = match result {
        Ok(r) => r,
        Err(e) => e.into_response().map_err(ApiError::internal)?,
    };
    with_cors(response, env, origin.as_deref(), &req)
}

async fn route(req: &mut Request, env: &Env, rest: &[&str]) -> Result<Response, ApiError> {
    match rest {
        ["action"] => {
            allow(req, &[Method::Get])?;
            let claims = bearer(req, env)?;
            let cmd = UserCommand::ChallengeInfo {
                user_id: claims.user_id.clone(),
                action_code: claims.action_code,
                idempotency_key: claims.idempotency_key,
            };
            call_user(env, &claims.user_id, &cmd).await
        }
        ["user-authenticators", "totp"] => {
            allow(req, &[Method::Post])?;
            let claims = bearer(req, env)?;
            let cmd = UserCommand::EnrollTotp {
                user_id: claims.user_id.clone(),
                action_code: claims.action_code,
                idempotency_key: claims.idempotency_key,
            };
            call_user(env, &claims.user_id, &cmd).await
        }
        ["verify", "totp"] => {
            allow(req, &[Method::Post])?;
            let claims = bearer(req, env)?;
            let body = read_json_body(req).await?;
            let v: VerifyRequest = parse_json(&body)?;
            let cmd = UserCommand::VerifyTotp {
                user_id: claims.user_id.clone(),
                action_code: claims.action_code,
                idempotency_key: claims.idempotency_key,
                code: v.verification_code,
            };
            call_user(env, &claims.user_id, &cmd).await
        }
        ["user-authenticators", "email-otp"] => {
            allow(req, &[Method::Post])?;
            let claims = bearer(req, env)?;
            let body = read_json_body(req).await?;
            let e: EnrollEmailRequest = parse_json(&body)?;
            let sent = issue_code(env, claims, Channel::Email, Some(e.email)).await?;
            enrolled(&sent)
        }
        ["user-authenticators", "sms"] => {
            allow(req, &[Method::Post])?;
            let claims = bearer(req, env)?;
            let body = read_json_body(req).await?;
            let e: EnrollSmsRequest = parse_json(&body)?;
            let sent = issue_code(env, claims, Channel::Sms, Some(e.phone_number)).await?;
            enrolled(&sent)
        }
        ["challenge", "email-otp"] | ["challenge", "sms"] => {
            allow(req, &[Method::Post])?;
            let claims = bearer(req, env)?;
            let channel = if rest.get(1) == Some(&"sms") {
                Channel::Sms
            } else {
                Channel::Email
            };
            issue_code(env, claims, channel, None).await?;
            json_response(
                200,
                &json!({"challengeId": uuid::Uuid::new_v4().to_string()}),
            )
        }
        ["verify", "email-otp"] | ["verify", "sms"] => {
            allow(req, &[Method::Post])?;
            let claims = bearer(req, env)?;
            let body = read_json_body(req).await?;
            let v: VerifyRequest = parse_json(&body)?;
            let cmd = UserCommand::VerifyCode {
                user_id: claims.user_id.clone(),
                action_code: claims.action_code,
                idempotency_key: claims.idempotency_key,
                channel: if rest.get(1) == Some(&"sms") {
                    Channel::Sms
                } else {
                    Channel::Email
                },
                code: v.verification_code,
            };
            call_user(env, &claims.user_id, &cmd).await
        }
        _ => Err(ApiError::not_found()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnrollEmailRequest {
    email: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnrollSmsRequest {
    phone_number: String,
}

/// The SDK's `EnrollResponse`.
fn enrolled(sent: &serde_json::Value) -> Result<Response, ApiError> {
    json_response(
        200,
        &json!({"userAuthenticatorId": sent.get("userAuthenticatorId"), "userId": sent.get("userId")}),
    )
}

/// Issue a code in the user's object, then hand it to the app
/// (`email.created` or `sms.created`).
async fn issue_code(
    env: &Env,
    claims: ActionClaims,
    channel: Channel,
    enroll_to: Option<String>,
) -> Result<serde_json::Value, ApiError> {
    let cmd = UserCommand::IssueCode {
        user_id: claims.user_id.clone(),
        action_code: claims.action_code,
        idempotency_key: claims.idempotency_key,
        channel,
        enroll_to,
    };
    let mut resp = call_user(env, &claims.user_id, &cmd).await?;
    if resp.status_code() != 200 {
        return Err(crate::server_api::relay_error(&mut resp).await);
    }
    let mut sent: serde_json::Value = resp.json().await.map_err(ApiError::internal)?;
    let data = json!({
        "to": sent.get("to"),
        "code": sent.get("code"),
        "userId": sent.get("userId"),
        "actionCode": sent.get("actionCode"),
        "idempotencyKey": sent.get("idempotencyKey"),
        "userAgent": sent.get("userAgent"),
        "ipAddress": sent.get("ipAddress"),
        "locale": sent.get("locale"),
    });
    // The code goes to the app's webhook only, never into a Client API answer.
    if let Some(o) = sent.as_object_mut() {
        o.remove("code");
    }
    crate::delivery::deliver(env, channel.event_type(), data).await?;
    Ok(sent)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerifyRequest {
    verification_code: String,
}

/// The action a `Bearer` token is bound to.
fn bearer(req: &Request, env: &Env) -> Result<ActionClaims, ApiError> {
    let header = req.headers().get("Authorization").ok().flatten();
    let Some(token) = header.as_deref().and_then(|h| h.strip_prefix("Bearer ")) else {
        return Err(ApiError::new(
            401,
            "unauthorized",
            "Send the token from track as Authorization: Bearer <token>.",
        ));
    };
    let keys = settings::token_keys(env)?;
    keys.verify(token.trim(), Date::now().as_millis() / 1000)
        .map(|v| v.claims)
        .map_err(|e| ApiError::new(401, e.code(), e.to_string()))
}

/// The origins allowed to call the Client API from a browser.
fn cors_origin_allowed(env: &Env, origin: &str, req: &Request) -> bool {
    if req
        .url()
        .is_ok_and(|u| u.origin().ascii_serialization() == origin)
    {
        return true;
    }
    settings::redirect_allowlist(env).is_ok_and(|list| list.check(&format!("{origin}/")).is_ok())
}

fn with_cors(
    resp: Response,
    env: &Env,
    origin: Option<&str>,
    req: &Request,
) -> Result<Response, ApiError> {
    let Some(origin) = origin.filter(|o| cors_origin_allowed(env, o, req)) else {
        return Ok(resp);
    };
    let headers = Headers::new();
    for (k, v) in resp.headers().entries() {
        headers.append(&k, &v).map_err(ApiError::internal)?;
    }
    for (k, v) in [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"),
        (
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type",
        ),
        ("Access-Control-Max-Age", "600"),
        ("Vary", "Origin"),
    ] {
        headers.set(k, v).map_err(ApiError::internal)?;
    }
    Ok(resp.with_headers(headers))
}
