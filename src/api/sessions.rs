//! The Server API's sessions, as Authsignal's: `createSession`,
//! `validateSession`, `refreshSession`, `revokeSession`,
//! `revokeUserSessions`, and the public keys of access tokens (JWKS).
//!
//! The worker checks what it can without storage (the client token's and
//! the access token's signatures, the app client); the user's object holds
//! the sessions and decides the rest (`service::sessions`).

use actiongate_core::auth::session::{SessionError, parse_refresh_token};
use actiongate_core::ids::check_user_id;
use serde::Deserialize;
use worker::{Env, Request, Response};

use crate::http::{ApiError, json_response, read_json_body, wire_body};
use crate::request::authenticate;
use crate::settings;
use crate::users::client::call_user;
use crate::users::commands::UserCommand;

const API_SECRET: &str = "API_SECRET_KEY";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateSession {
    client_id: String,
    token: String,
    #[serde(default)]
    action: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessTokenBody {
    access_token: String,
    #[serde(default)]
    client_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshBody {
    refresh_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserBody {
    user_id: String,
}

/// Handle `/v1/sessions/...`.
///
/// # Errors
/// Any [`ApiError`].
pub async fn handle(
    mut req: Request,
    env: &Env,
    rest: &[&str],
    origin: &str,
) -> Result<Response, ApiError> {
    authenticate(&req, env, API_SECRET)?;
    let body = read_json_body(&mut req).await?;
    match rest {
        [] => create(env, &body, origin).await,
        ["validate"] => validate(env, &body).await,
        ["refresh"] => {
            let b: RefreshBody = wire_body(&body)?;
            let t = parse_refresh_token(&b.refresh_token).map_err(ApiError::from_session)?;
            let cmd = UserCommand::RefreshSession {
                user_id: t.user_id.clone(),
                session_id: t.session_id,
                secret: t.secret,
                issuer: origin.to_owned(),
            };
            call_user(env, &t.user_id, &cmd).await
        }
        ["revoke"] => {
            let b: AccessTokenBody = wire_body(&body)?;
            // A token that has expired can still be revoked (signing out
            // after a while), for as long as its session could live.
            let (_, refresh_ttl) = settings::session_ttls(env);
            let t = settings::session_keys(env)?
                .verify(&b.access_token, crate::clock::now_secs(), refresh_ttl)
                .map_err(ApiError::from_session)?;
            let cmd = UserCommand::RevokeSession {
                session_id: t.session_id,
            };
            empty_unless_refused(call_user(env, &t.user_id, &cmd).await?)
        }
        ["user", "revoke"] => {
            let b: UserBody = wire_body(&body)?;
            check_user_id(&b.user_id)?;
            empty_unless_refused(
                call_user(env, &b.user_id, &UserCommand::RevokeUserSessions).await?,
            )
        }
        _ => Err(ApiError::not_found()),
    }
}

/// `{}` (Authsignal answers revocations with an empty object), or the
/// user object's refusal as it is.
fn empty_unless_refused(resp: Response) -> Result<Response, ApiError> {
    if resp.status_code() == 200 {
        json_response(200, &serde_json::json!({}))
    } else {
        Ok(resp)
    }
}

async fn create(env: &Env, body: &[u8], origin: &str) -> Result<Response, ApiError> {
    let b: CreateSession = wire_body(body)?;
    if !settings::session_client(env, &b.client_id) {
        return Err(ApiError::bad_request(
            "clientId: not an app client of this deployment (SESSION_CLIENT_IDS)",
        ));
    }
    let keys = settings::token_keys(env)?;
    let token = keys
        .verify(&b.token, crate::clock::now_secs())
        .map_err(|e| ApiError::new(401, e.code(), e.to_string()))?;
    let c = token.claims;
    if b.action.as_deref().is_some_and(|a| a != c.action_code) {
        return Err(ApiError::new(
            401,
            "invalid_token",
            "The token belongs to another action.",
        ));
    }
    let cmd = UserCommand::CreateSession {
        user_id: c.user_id.clone(),
        action_code: c.action_code,
        idempotency_key: c.idempotency_key,
        client_id: b.client_id,
        issuer: origin.to_owned(),
    };
    call_user(env, &c.user_id, &cmd).await
}

async fn validate(env: &Env, body: &[u8]) -> Result<Response, ApiError> {
    let b: AccessTokenBody = wire_body(body)?;
    let t = settings::session_keys(env)?
        .verify(&b.access_token, crate::clock::now_secs(), 0)
        .map_err(ApiError::from_session)?;
    if let Some(ids) = &b.client_ids
        && !ids.contains(&t.client_id)
    {
        return Err(ApiError::from_session(SessionError::InvalidToken));
    }
    let cmd = UserCommand::CheckSession {
        user_id: t.user_id.clone(),
        session_id: t.session_id,
        access_id: t.token_id,
    };
    let resp = call_user(env, &t.user_id, &cmd).await?;
    if resp.status_code() != 200 {
        return Ok(resp);
    }
    let mut out: serde_json::Value = crate::http::read_json(&resp)
        .await
        .map_err(ApiError::internal)?;
    if let Some(o) = out.as_object_mut() {
        o.insert("expiresAt".into(), t.expires_at.into());
    }
    json_response(200, &out)
}

/// `GET /v1/.well-known/jwks`: the public keys of access tokens, current
/// first (during a rotation the previous one too). Public, cacheable.
///
/// # Errors
/// 500 when the session key is not set.
pub fn jwks(env: &Env) -> Result<Response, ApiError> {
    let keys = settings::session_keys(env)?;
    let resp = json_response(200, &keys.jwks())?;
    resp.headers()
        .set("Cache-Control", "public, max-age=300")
        .map_err(ApiError::internal)?;
    Ok(resp)
}
