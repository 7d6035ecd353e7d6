//! Versions of an action configuration: every write goes through
//! [`commit`], which records it in the history before writing it; the
//! routes `action-configurations/{code}/versions[/{version}[/restore]]`
//! list them, show one with the configuration before and after, and put
//! an earlier state back (itself a new version, so a restore can be undone
//! the same way).

use actiongate_core::CoreError;
use actiongate_core::policy::config::{ActionConfiguration, ActionConfigurationInput};
use actiongate_core::policy::rules::{MAX_RULES, referenced_lists, validate_rule};
use serde::Deserialize;
use serde_json::{Value, json};
use worker::{Env, Request, Response};

use crate::clock::now_ms;
use crate::config_history::{self, Actor, HistoryCommand, Version};
use crate::config_store;
use crate::http::{ApiError, json_response, read_json_body};

/// Header in which a caller names who makes a change.
pub const ACTOR_HEADER: &str = "X-ActionGate-Actor";
const MAX_ACTOR_LEN: usize = 200;

/// The actor of a request that changes nothing.
pub fn reader() -> Actor {
    Actor {
        name: None,
        via: "API".to_owned(),
    }
}

/// Who is making this request's changes.
///
/// # Errors
/// 400 when the named actor is empty, too long or has control characters.
pub fn actor(req: &Request) -> Result<Actor, ApiError> {
    let header = |k: &str| req.headers().get(k).ok().flatten();
    let via = if header("Authorization").is_some() {
        "API"
    } else {
        "PORTAL"
    };
    let name = match header(ACTOR_HEADER) {
        None => None,
        Some(n) => {
            let n = n.trim();
            if n.is_empty() || n.len() > MAX_ACTOR_LEN || n.chars().any(char::is_control) {
                return Err(ApiError::bad_request(format!(
                    "{ACTOR_HEADER}: who makes the change, 1 to {MAX_ACTOR_LEN} bytes of text"
                )));
            }
            Some(n.to_owned())
        }
    };
    Ok(Actor {
        name,
        via: via.to_owned(),
    })
}

/// Record a change of `code`'s configuration and write it (`after`, or
/// delete it when None); answers the version it is. Nothing is written
/// when the history cannot record it; the record is dropped when the write
/// fails.
///
/// # Errors
/// 503 when the history or KV cannot be reached.
pub async fn commit(
    env: &Env,
    actor: &Actor,
    code: &str,
    before: Option<&ActionConfiguration>,
    after: Option<&ActionConfiguration>,
    change: String,
) -> Result<i64, ApiError> {
    #[derive(Deserialize)]
    struct Recorded {
        version: i64,
    }
    let recorded: Recorded = config_history::ask(
        env,
        &HistoryCommand::Record {
            action_code: code.to_owned(),
            at: now_ms(),
            actor: actor.clone(),
            change,
            before: before.cloned(),
            after: after.cloned(),
            expect: before.map(|c| c.updated_at),
        },
    )
    .await?;
    let written = match after {
        Some(c) => config_store::write_json(env, &config_store::key(code), c).await,
        None => match config_store::kv(env) {
            Ok(kv) => kv
                .delete(&config_store::key(code))
                .await
                .map_err(ApiError::unavailable),
            Err(e) => Err(e),
        },
    };
    config_store::forget(code);
    if let Err(e) = written {
        let discard = HistoryCommand::Discard {
            version: recorded.version,
        };
        if let Err(d) = config_history::ask::<Value>(env, &discard).await {
            worker::console_error!(
                "configuration history: version {} was not written and could not be dropped: {}",
                recorded.version,
                d.description
            );
        }
        return Err(e);
    }
    Ok(recorded.version)
}

/// The configuration of `code` a change is made to: the one last recorded
/// in the history (which KV, eventually consistent, may not show yet in
/// this place), else KV's.
///
/// # Errors
/// 503 when neither can be read.
pub async fn current(env: &Env, code: &str) -> Result<Option<ActionConfiguration>, ApiError> {
    #[derive(Deserialize)]
    struct Latest {
        found: bool,
        after: Option<ActionConfiguration>,
    }
    let latest: Latest = config_history::ask(
        env,
        &HistoryCommand::Latest {
            action_code: code.to_owned(),
        },
    )
    .await?;
    if latest.found {
        Ok(latest.after)
    } else {
        config_store::read(env, code).await
    }
}

/// `GET .../versions?before=&limit=`: newest first.
pub(super) async fn list(req: &Request, env: &Env, code: &str) -> Result<Response, ApiError> {
    let url = req.url().map_err(ApiError::internal)?;
    let mut limit = 50;
    let mut before = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=config_history::MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "limit: a number from 1 to {}",
                            config_history::MAX_PAGE
                        ))
                    })?;
            }
            "before" => {
                before = Some(v.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ApiError::bad_request("before: a version number (nextBefore of a page)")
                })?);
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "{other}: unknown query parameter (limit, before)"
                )));
            }
        }
    }
    config_history::call(
        env,
        &HistoryCommand::List {
            action_code: code.to_owned(),
            limit,
            before,
        },
    )
    .await
}

/// The version number in a path.
///
/// # Errors
/// 400 when it is not a positive number.
pub(super) fn number(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request("version: a version number from the list"))
}

async fn fetch(env: &Env, code: &str, version: i64) -> Result<Version, ApiError> {
    config_history::ask(
        env,
        &HistoryCommand::Get {
            action_code: code.to_owned(),
            version,
        },
    )
    .await
}

/// `GET .../versions/{version}`: the change with the whole configuration
/// before and after it (null where there was none), in the API's form.
pub(super) async fn get(env: &Env, code: &str, version: i64) -> Result<Response, ApiError> {
    let v = fetch(env, code, version).await?;
    let wire = |c: &Option<ActionConfiguration>| c.as_ref().map_or(Value::Null, |c| c.to_wire());
    json_response(
        200,
        &json!({
            "version": v.version,
            "at": v.at,
            "actor": v.actor,
            "change": v.change,
            "before": wire(&v.before),
            "after": wire(&v.after),
        }),
    )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RestoreBody {
    /// `AFTER` (default): the configuration as that version left it;
    /// `BEFORE`: as it was just before (undoes that change).
    #[serde(default)]
    to: Side,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Side {
    #[default]
    After,
    Before,
}

/// `POST .../versions/{version}/restore` `{to?: "AFTER" | "BEFORE"}`: put
/// that state back as a new version. Its rules are validated against
/// today's value lists first.
pub(super) async fn restore(
    req: &mut Request,
    env: &Env,
    actor: &Actor,
    code: &str,
    version: i64,
) -> Result<Response, ApiError> {
    let body = read_json_body(req).await?;
    let choice: RestoreBody = actiongate_core::error::parse_json(&body)?;
    let v = fetch(env, code, version).await?;
    let target = if choice.to == Side::Before {
        v.before
    } else {
        v.after
    };
    let current = current(env, code).await?;
    let restored = target.map(|c| c.replacing(current.as_ref(), now_ms()));
    if let Some(c) = &restored {
        // Checked as a write of today would be: the fields, the rule count,
        // each rule against today's value lists.
        let input = serde_json::to_vec(&c.input).map_err(ApiError::internal)?;
        ActionConfigurationInput::parse(&input)?;
        if c.rules.len() > MAX_RULES {
            return Err(ApiError::bad_request(format!(
                "rules: an action configuration holds at most {MAX_RULES} rules"
            )));
        }
        let types = config_store::list_types(env, referenced_lists(&c.rules)).await?;
        let problems: Vec<String> = c
            .rules
            .iter()
            .flat_map(|r| validate_rule(&r.rule_id, &r.input, &types))
            .collect();
        if !problems.is_empty() {
            return Err(CoreError::Invalid(problems).into());
        }
    }
    let side = if choice.to == Side::Before {
        "before"
    } else {
        "after"
    };
    commit(
        env,
        actor,
        code,
        current.as_ref(),
        restored.as_ref(),
        format!("restored the configuration as it was {side} version {version}"),
    )
    .await?;
    match restored {
        Some(c) => json_response(200, &c.to_wire()),
        None => json_response(200, &json!({ "actionCode": code, "deleted": true })),
    }
}
