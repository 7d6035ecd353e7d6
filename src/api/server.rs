//! The Server API (`/v1/...`), wire-compatible with Authsignal's: HTTP
//! Basic with the API secret key as user name.
//!
//! Each handler checks the method, authenticates, validates path and body,
//! and hands the work to the user's Durable Object, whose answer is the
//! response. Nothing here decides anything.

use actiongate_core::actions::model::{TrackRequest, UpdateActionRequest};
use actiongate_core::actions::state::ActionState;
use actiongate_core::auth::token::TokenError;
use actiongate_core::error::parse_json;
use actiongate_core::ids::{check_action_code, check_idempotency_key, check_user_id};
use actiongate_core::store::MAX_PAGE_SIZE;
use actiongate_core::time::parse_date;
use serde::Deserialize;
use worker::{Env, Method, Request, Response};

use crate::http::{ApiError, json_response, read_json_body, wire_body};
use crate::request::authenticate;
use crate::settings;
use crate::users::client::{call_user, user_header};
use crate::users::commands::UserCommand;

const API_SECRET: &str = "API_SECRET_KEY";

/// Handle `/v1/<rest>` outside the management API.
///
/// # Errors
/// Any [`ApiError`].
pub async fn handle(
    mut req: Request,
    env: &Env,
    rest: &[&str],
    origin: &str,
) -> Result<Response, ApiError> {
    use Method::{Get, Patch};
    match rest {
        ["sessions", sessions @ ..] => {
            crate::api::sessions::handle(req, env, sessions, origin).await
        }
        [".well-known", "jwks"] => crate::api::sessions::jwks(env),
        [route @ ("challenge" | "verify" | "claim" | "challenges")] => {
            crate::api::challenges::handle(req, env, route).await
        }
        ["validate"] => {
            authenticate(&req, env, API_SECRET)?;
            validate(&mut req, env).await
        }
        ["users"] => {
            authenticate(&req, env, API_SECRET)?;
            query_users(&req, env).await
        }
        ["users", user] => {
            authenticate(&req, env, API_SECRET)?;
            check_user_id(user)?;
            let local = req.url().is_ok_and(|u| crate::settings::is_local(&u));
            let allowed = Some(crate::delivery::deliverable_methods(env, local));
            let cmd = match req.method() {
                Get => UserCommand::GetUser {
                    user_id: (*user).to_owned(),
                    allowed,
                },
                Patch => UserCommand::PatchUser {
                    user_id: (*user).to_owned(),
                    allowed,
                    patch: json_value(&mut req).await?,
                },
                _ => UserCommand::DeleteUser,
            };
            call_user(env, user, &cmd).await
        }
        ["users", user, "actions"] => {
            authenticate(&req, env, API_SECRET)?;
            check_user_id(user)?;
            let cmd = query_command(&req)?;
            call_user(env, user, &cmd).await
        }
        ["users", user, "actions", action] => {
            authenticate(&req, env, API_SECRET)?;
            check_user_id(user)?;
            check_action_code(action, "action")?;
            let body = read_json_body(&mut req).await?;
            let cmd = track_command(user, action, &body, origin)?;
            call_user(env, user, &cmd).await
        }
        ["users", user, "actions", action, key] => {
            authenticate(&req, env, API_SECRET)?;
            check_user_id(user)?;
            check_action_code(action, "action")?;
            check_idempotency_key(key)?;
            let cmd = if req.method() == Get {
                UserCommand::GetAction {
                    action_code: (*action).to_owned(),
                    idempotency_key: (*key).to_owned(),
                }
            } else {
                let body = read_json_body(&mut req).await?;
                let update: UpdateActionRequest = wire_body(&body)?;
                UserCommand::UpdateAction {
                    action_code: (*action).to_owned(),
                    idempotency_key: (*key).to_owned(),
                    state: update.state,
                }
            };
            call_user(env, user, &cmd).await
        }
        ["users", user, "authenticators"] => {
            authenticate(&req, env, API_SECRET)?;
            check_user_id(user)?;
            let cmd = if req.method() == Get {
                let cmd = UserCommand::ListAuthenticators {
                    user_id: (*user).to_owned(),
                };
                let resp = call_user(env, user, &cmd).await?;
                if resp.status_code() != 200 {
                    return Ok(resp);
                }
                let mut list: serde_json::Value = crate::http::read_json(&resp)
                    .await
                    .map_err(ApiError::internal)?;
                crate::aaguids::name_credentials(env, &mut list).await;
                return json_response(200, &list);
            } else {
                UserCommand::EnrollAuthenticator {
                    user_id: (*user).to_owned(),
                    request: json_value(&mut req).await?,
                }
            };
            call_user(env, user, &cmd).await
        }
        ["users", user, "authenticators", id] => {
            authenticate(&req, env, API_SECRET)?;
            check_user_id(user)?;
            let cmd = UserCommand::DeleteAuthenticator {
                id: (*id).to_owned(),
            };
            call_user(env, user, &cmd).await
        }
        ["users", user, "lockout"] => {
            // ActionGate extension: lift the lock that wrong codes put on
            // a user's verification (see docs/security.md, Throttles).
            authenticate(&req, env, API_SECRET)?;
            check_user_id(user)?;
            call_user(env, user, &UserCommand::LiftLockout).await
        }
        _ => Err(ApiError::not_found()),
    }
}

async fn json_value(req: &mut Request) -> Result<serde_json::Value, ApiError> {
    let body = read_json_body(req).await?;
    let v: serde_json::Value = parse_json(&body)?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    }
    Ok(v)
}

/// `queryUsers`: users by exact email, phone number or username (every
/// one given must match), a page at a time in user id order, from the
/// user directory (see `crate::directory`).
async fn query_users(req: &Request, env: &Env) -> Result<Response, ApiError> {
    let url = req
        .url()
        .map_err(|_| ApiError::bad_request("The request URL is not valid."))?;
    let mut q = crate::directory::Query {
        limit: 10,
        ..crate::directory::Query::default()
    };
    for (k, v) in url.query_pairs() {
        let v = v.into_owned();
        match k.as_ref() {
            "email" => q.email = Some(v),
            "phoneNumber" => q.phone_number = Some(v),
            "username" => q.username = Some(v),
            "lastEvaluatedUserId" => {
                check_user_id(&v)?;
                q.after = Some(v);
            }
            "limit" => {
                q.limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=crate::directory::MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "limit: must be a whole number from 1 to {}",
                            crate::directory::MAX_LIMIT
                        ))
                    })?;
            }
            _ => {}
        }
    }
    if q.email.is_none() && q.phone_number.is_none() && q.username.is_none() {
        return Err(ApiError::bad_request(
            "email, phoneNumber or username: give at least one to look users up by",
        ));
    }
    let (users, next) = crate::directory::query(env, &q).await?;
    let mut body = serde_json::Map::new();
    body.insert(
        "users".into(),
        serde_json::to_value(users).map_err(ApiError::internal)?,
    );
    if let Some(next) = next {
        body.insert("lastEvaluatedUserId".into(), next.into());
    }
    json_response(200, &body)
}

fn query_command(req: &Request) -> Result<UserCommand, ApiError> {
    let url = req
        .url()
        .map_err(|_| ApiError::bad_request("The request URL is not valid."))?;
    let mut from = None;
    let mut codes = Vec::new();
    let mut state = None;
    let mut limit = MAX_PAGE_SIZE;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "fromDate" => from = Some(parse_date(&v, "fromDate")?),
            "codes" => {
                for code in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    check_action_code(code, "codes")?;
                    codes.push(code.to_owned());
                }
            }
            "state" => {
                state = Some(
                    ActionState::parse(&v, "state").map_err(actiongate_core::CoreError::from)?,
                )
            }
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "limit: must be a whole number from 1 to {MAX_PAGE_SIZE}"
                        ))
                    })?;
            }
            _ => {}
        }
    }
    Ok(UserCommand::QueryActions {
        from,
        codes,
        state,
        limit,
    })
}

/// Send a command to a user's Durable Object and return its answer.
///
/// # Errors
/// 503 when the object cannot be reached.
/// The user object's command for a track of `user` and `action` (both
/// checked) with this JSON body.
fn track_command(
    user: &str,
    action: &str,
    body: &[u8],
    origin: &str,
) -> Result<UserCommand, ApiError> {
    let (request, ignored) = actiongate_core::error::parse_wire::<TrackRequest>(body)?;
    if let Some(k) = TrackRequest::misspelt_custom(&ignored) {
        // Stricter than Authsignal, for safety: a misspelt `custom` would
        // reach no rule, and the action be decided without it.
        return Err(ApiError::bad_request(format!(
            "{}: unknown field; did you mean custom? (custom attributes under another name reach no rule)",
            crate::http::printable(k)
        )));
    }
    crate::http::log_ignored(&ignored);
    Ok(UserCommand::Track(crate::users::commands::Track {
        user_id: user.to_owned(),
        action_code: action.to_owned(),
        request,
        origin: origin.to_owned(),
        edge: None,
        pending: None,
    }))
}

/// The largest body the JavaScript entry reads for a track (larger ones,
/// and bodies of unknown length, take the Rust handler).
pub fn max_body_bytes() -> usize {
    crate::http::MAX_BODY_BYTES
}

/// A track (`POST /v1/users/{userId}/actions/{action}`) as the JavaScript
/// entry makes it, without awaiting: given the request's URL, its
/// `Authorization` and `Content-Type` headers and its body (read whole,
/// within [`max_body_bytes`]), either the call to make to the user object
/// or the error response the Rust handler would answer. `None` when the
/// URL is not a track's after all (the entry's test is only a quick
/// filter).
pub fn track_call(
    url: &str,
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
    env: &Env,
) -> Option<Result<TrackCall, Response>> {
    let parsed = url::Url::parse(url).ok()?;
    let segments = crate::request::segments(parsed.path()).ok()?;
    let [v1, users, user, actions, action] = segments.as_slice() else {
        return None;
    };
    if v1 != "v1" || users != "users" || actions != "actions" {
        return None;
    }
    let origin = parsed.origin().ascii_serialization();
    let call = || -> Result<TrackCall, ApiError> {
        crate::settings::check_deployment(env, crate::settings::is_local(&parsed))?;
        crate::request::authenticate_header(authorization, env, API_SECRET)?;
        check_user_id(user)?;
        check_action_code(action, "action")?;
        let body = crate::http::json_body(body, content_type)?;
        let cmd = track_command(user, action, &body, &origin)?;
        Ok(TrackCall {
            user: user.clone(),
            user_header: user_header(user),
            command: serde_json::to_string(&cmd).map_err(ApiError::internal)?,
        })
    };
    Some(match call() {
        Ok(c) => Ok(c),
        Err(e) => Err(e.into_response().ok()?),
    })
}

/// A track the entry sends to the user object itself.
pub struct TrackCall {
    /// The user.
    pub user: String,
    /// The header naming them to the object.
    pub user_header: String,
    /// The track command (JSON).
    pub command: String,
}

/// The answer when the user object cannot be reached (the entry's
/// `stub.fetch` failed), as [`call_user`] gives it.
pub fn user_object_unavailable(detail: &str) -> worker::Result<Response> {
    ApiError::unavailable(detail).into_response()
}

/// The body of `validate`: stricter than the other wire bodies, for
/// safety. `userId` and `action` bind the token to the user and action the
/// app expects, so a misspelling must not drop the check silently: their
/// other usual spellings are read as them, and any other field is refused.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ValidateRequest {
    token: String,
    #[serde(default, alias = "user_id")]
    user_id: Option<String>,
    #[serde(default, alias = "actionCode", alias = "action_code")]
    action: Option<String>,
}

fn invalid(code: &str, description: &str) -> Result<Response, ApiError> {
    json_response(
        200,
        &serde_json::json!({
            "isValid": false,
            "error": code,
            "errorDescription": description,
        }),
    )
}

async fn validate(req: &mut Request, env: &Env) -> Result<Response, ApiError> {
    let body = read_json_body(req).await?;
    let v: ValidateRequest = wire_body(&body)?;
    let keys = settings::token_keys(env)?;
    let now_secs = crate::clock::now_secs();
    let token = match keys.verify(&v.token, now_secs) {
        Ok(t) => t,
        Err(e) => return invalid(e.code(), &e.to_string()),
    };
    let c = token.claims;
    if v.user_id.as_deref().is_some_and(|u| u != c.user_id) {
        return invalid("invalid_token", "The token belongs to another user.");
    }
    if v.action.as_deref().is_some_and(|a| a != c.action_code) {
        return invalid("invalid_token", "The token belongs to another action.");
    }
    let cmd = UserCommand::GetAction {
        action_code: c.action_code.clone(),
        idempotency_key: c.idempotency_key.clone(),
    };
    let resp = call_user(env, &c.user_id, &cmd).await?;
    match resp.status_code() {
        200 => {}
        404 => {
            return invalid(
                TokenError::InvalidClaims.code(),
                "The token's action no longer exists.",
            );
        }
        _ => return Ok(resp),
    }
    let action: serde_json::Value = crate::http::read_json(&resp)
        .await
        .map_err(ApiError::internal)?;
    let state = action
        .get("state")
        .and_then(|s| s.as_str())
        .and_then(|s| ActionState::parse(s, "state").ok())
        .ok_or_else(|| ApiError::internal("stored action has no state"))?;
    let mut out = serde_json::json!({
        "isValid": state.is_approved(),
        "state": state,
        "stateUpdatedAt": action.get("stateUpdatedAt"),
        "userId": c.user_id,
        "action": c.action_code,
        "actionCode": c.action_code,
        "idempotencyKey": c.idempotency_key,
    });
    if let (Some(m), Some(o)) = (action.get("verificationMethod"), out.as_object_mut()) {
        o.insert("verificationMethod".into(), m.clone());
    }
    json_response(200, &out)
}
