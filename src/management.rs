//! The management API (`/v1/management/...`): HTTP Basic with the
//! management secret, separate from the server API's.
//!
//! Action configurations are stored in KV under `action-config:{code}`; a
//! write refreshes this isolate's cache so the next track here sees it.

use std::rc::Rc;

use actiongate_core::config::{ActionConfiguration, ActionConfigurationInput};
use actiongate_core::ids::check_action_code;
use worker::{Date, Env, Method, Request, Response};

use crate::config_store::{self, ACTION_CONFIG_PREFIX};
use crate::http::{ApiError, json_response, read_json_body};
use crate::router::{allow, authenticate};

const MANAGEMENT_SECRET: &str = "MANAGEMENT_SECRET_KEY";

/// Handle `/v1/management/<rest>`.
///
/// # Errors
/// Any [`ApiError`].
pub async fn handle(mut req: Request, env: &Env, rest: &[&str]) -> Result<Response, ApiError> {
    match rest {
        ["action-configurations"] => {
            allow(&req, &[Method::Get])?;
            authenticate(&req, env, MANAGEMENT_SECRET)?;
            list(env).await
        }
        ["action-configurations", code] => {
            allow(&req, &[Method::Get, Method::Put, Method::Delete])?;
            authenticate(&req, env, MANAGEMENT_SECRET)?;
            check_action_code(code, "actionCode")?;
            match req.method() {
                Method::Get => match config_store::read(env, code).await? {
                    Some(c) => json_response(200, &c.to_wire()),
                    None => Err(not_configured(code)),
                },
                Method::Put => put(&mut req, env, code).await,
                _ => delete(env, code).await,
            }
        }
        _ => Err(ApiError::not_found()),
    }
}

fn not_configured(code: &str) -> ApiError {
    ApiError::new(
        404,
        "action_configuration_not_found",
        format!("No configuration for action code {code:?}."),
    )
}

fn now_ms() -> i64 {
    i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
}

async fn put(req: &mut Request, env: &Env, code: &str) -> Result<Response, ApiError> {
    let body = read_json_body(req).await?;
    let input = ActionConfigurationInput::parse(&body)?;
    let existing = config_store::read(env, code).await?;
    let now = now_ms();
    let config = ActionConfiguration {
        action_code: code.to_owned(),
        input,
        created_at: existing.as_ref().map_or(now, |e| e.created_at),
        updated_at: now,
    };
    let text = serde_json::to_string(&config).map_err(ApiError::internal)?;
    config_store::kv(env)?
        .put(&config_store::key(code), text)
        .map_err(ApiError::unavailable)?
        .execute()
        .await
        .map_err(ApiError::unavailable)?;
    let wire = config.to_wire();
    config_store::remember(env, code, Some(Rc::new(config)), Date::now().as_millis());
    json_response(if existing.is_some() { 200 } else { 201 }, &wire)
}

async fn delete(env: &Env, code: &str) -> Result<Response, ApiError> {
    if config_store::read(env, code).await?.is_none() {
        return Err(not_configured(code));
    }
    config_store::kv(env)?
        .delete(&config_store::key(code))
        .await
        .map_err(ApiError::unavailable)?;
    config_store::remember(env, code, None, Date::now().as_millis());
    json_response(
        200,
        &serde_json::json!({ "actionCode": code, "deleted": true }),
    )
}

async fn list(env: &Env) -> Result<Response, ApiError> {
    let kv = config_store::kv(env)?;
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut builder = kv.list().prefix(ACTION_CONFIG_PREFIX.to_owned());
        if let Some(c) = cursor.take() {
            builder = builder.cursor(c);
        }
        let page = builder.execute().await.map_err(ApiError::unavailable)?;
        for k in &page.keys {
            let code = k.name.trim_start_matches(ACTION_CONFIG_PREFIX);
            if let Some(c) = config_store::read(env, code).await? {
                out.push(c.to_wire());
            }
        }
        if page.list_complete {
            break;
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    json_response(200, &out)
}
