//! The management API (`/v1/management/...`): HTTP Basic with the
//! management secret, separate from the server API's.
//!
//! - `action-configurations[/{code}]`: default outcome, methods, templates.
//! - `action-configurations/{code}/rules[/{ruleId}]`: rules; PUT creates or
//!   replaces under the caller's id, POST generates one.
//! - `value-lists[/{alias}]`: lists for `inValueList`; a list that rules use
//!   cannot be deleted.
//! - `simulate`: a hypothetical track, evaluated without writing.
//! - `configuration` (PUT) and `configuration/validate` (POST): a whole
//!   configuration document (see `actiongate_core::policy::config_doc`), validated
//!   as one; PUT writes it only when all of it is valid.
//!
//! - `users/{userId}` (GET): profile, authenticators and recent actions with
//!   their history, for the admin portal.
//! - `analytics` (GET): counts per action and day.
//! - `reviews` (GET): the review queue, oldest first; `reviews/{userId}/
//!   {actionCode}/{idempotencyKey}` (POST): a reviewer's decision.
//!
//! Configuration lives in KV; every write is validated first, so nothing
//! invalid is stored, and refreshes this isolate's cache.

use actiongate_core::CoreError;
use actiongate_core::actions::model::TrackRequest;
use actiongate_core::error::parse_json;
use actiongate_core::ids::{check_action_code, check_user_id};
use actiongate_core::policy::config::{ActionConfiguration, ActionConfigurationInput};
use actiongate_core::policy::config_doc::ConfigDocument;
use actiongate_core::policy::lists::{ValueList, ValueListInput};
use actiongate_core::policy::rules::{MAX_RULES, Rule, RuleInput, referenced_lists, validate_rule};
use serde::Deserialize;
use worker::{Env, Method, Request, Response};

use crate::clock::now_ms;
use crate::config_store::{self, ACTION_CONFIG_PREFIX, VALUE_LIST_PREFIX};
use crate::http::{
    ApiError, MAX_MANAGEMENT_BODY_BYTES, json_response, read_json_body, read_json_body_up_to,
};
use crate::users::client::call_user;
use crate::users::commands::UserCommand;

mod reviews;
mod users;
mod versions;

use crate::config_history::Actor;
use versions::commit;

/// Handle `/v1/management/<rest>`.
///
/// # Errors
/// Any [`ApiError`].
pub async fn handle(mut req: Request, env: &Env, rest: &[&str]) -> Result<Response, ApiError> {
    use Method::{Get, Put};
    // The router checked the path and the method against the route table.
    crate::api::admin::authorize(&req, env).await?;
    let method = req.method();
    // Reads record nothing: a bad name refuses only a write.
    let actor = if method == Get {
        versions::reader()
    } else {
        versions::actor(&req)?
    };
    match (rest, method) {
        (["action-configurations"], _) => list_configs(env).await,
        (["action-configurations", code], m) => {
            check_action_code(code, "actionCode")?;
            match m {
                Get => json_response(200, &existing_config(env, code).await?.to_wire()),
                Put => put_config(&mut req, env, &actor, code).await,
                _ => delete_config(env, &actor, code).await,
            }
        }
        (["action-configurations", code, "rules"], m) => {
            check_action_code(code, "actionCode")?;
            if m == Get {
                let c = existing_config(env, code).await?;
                let rules: Vec<_> = c.rules.iter().map(Rule::to_wire).collect();
                json_response(200, &rules)
            } else {
                let id = uuid::Uuid::new_v4().to_string();
                put_rule(&mut req, env, &actor, code, &id).await
            }
        }
        (["action-configurations", code, "rules", rule_id], m) => {
            check_action_code(code, "actionCode")?;
            check_action_code(rule_id, "ruleId")?;
            match m {
                Get => {
                    let c = existing_config(env, code).await?;
                    let rule = c
                        .rules
                        .iter()
                        .find(|r| r.rule_id == *rule_id)
                        .ok_or_else(|| rule_not_found(rule_id))?;
                    json_response(200, &rule.to_wire())
                }
                Put => put_rule(&mut req, env, &actor, code, rule_id).await,
                _ => delete_rule(env, &actor, code, rule_id).await,
            }
        }
        (["action-configurations", code, "versions"], _) => {
            check_action_code(code, "actionCode")?;
            versions::list(&req, env, code).await
        }
        (["action-configurations", code, "versions", n], _) => {
            check_action_code(code, "actionCode")?;
            versions::get(env, code, versions::number(n)?).await
        }
        (["action-configurations", code, "versions", n, "restore"], _) => {
            check_action_code(code, "actionCode")?;
            let n = versions::number(n)?;
            versions::restore(&mut req, env, &actor, code, n).await
        }
        (["value-lists"], _) => list_lists(env).await,
        (["value-lists", alias], m) => {
            check_action_code(alias, "alias")?;
            match m {
                Get => match config_store::read_list(env, alias).await? {
                    Some(l) => json_response(200, &list_wire(&l)),
                    None => Err(list_not_found(alias)),
                },
                Put => put_list(&mut req, env, alias).await,
                _ => delete_list(env, alias).await,
            }
        }
        (["simulate"], _) => simulate(&mut req, env).await,
        (["configuration", "validate"], _) => {
            let body = read_json_body_up_to(&mut req, MAX_MANAGEMENT_BODY_BYTES).await?;
            match parse_document(env, &body).await? {
                Ok(doc) => json_response(
                    200,
                    &serde_json::json!({"valid": true, "summary": summary(&doc)}),
                ),
                Err(problems) => json_response(
                    200,
                    &serde_json::json!({"valid": false, "problems": problems}),
                ),
            }
        }
        (["configuration"], _) => apply_document(&mut req, env, &actor).await,
        (["reviews"], _) => reviews::list(&req, env).await,
        (["analytics"], _) => analytics(&req, env).await,
        (["users"], _) => users::search(&req, env).await,
        (["users", user_id], _) => {
            check_user_id(user_id)?;
            call_user(
                env,
                user_id,
                &UserCommand::Overview {
                    user_id: (*user_id).to_owned(),
                },
            )
            .await
        }
        (["reviews", user_id, code, key], _) => {
            reviews::decide(&mut req, env, user_id, code, key).await
        }
        _ => Err(ApiError::not_found()),
    }
}

/// `GET /v1/management/analytics?from=YYYY-MM-DD&to=YYYY-MM-DD&actionCode=`:
/// per action and day, tracks by outcome, challenge success rate and the
/// median time to complete a challenge. Default: the last 30 days.
async fn analytics(req: &Request, env: &Env) -> Result<Response, ApiError> {
    use actiongate_core::analytics::day;
    let url = req.url().map_err(ApiError::internal)?;
    let now = crate::clock::now_ms();
    let (mut from, mut to, mut action_code) = (None, None, None);
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "from" => from = Some(actiongate_core::time::parse_date(&v, "from")?),
            "to" => to = Some(actiongate_core::time::parse_date(&v, "to")?),
            "actionCode" => {
                check_action_code(&v, "actionCode")?;
                action_code = Some(v.into_owned());
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "{other}: unknown query parameter (from, to, actionCode)"
                )));
            }
        }
    }
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to - 29 * 86_400_000);
    if from > to {
        return Err(ApiError::bad_request("from: after to"));
    }
    if to - from > crate::analytics::MAX_DAYS * 86_400_000 {
        return Err(ApiError::bad_request(format!(
            "from: at most {} days before to",
            crate::analytics::MAX_DAYS
        )));
    }
    let days = crate::analytics::query(env, &day(from), &day(to), action_code).await?;
    json_response(
        200,
        &serde_json::json!({"from": day(from), "to": day(to), "days": days}),
    )
}

fn not_configured(code: &str) -> ApiError {
    ApiError::new(
        404,
        "action_configuration_not_found",
        format!("No configuration for action code {code:?}."),
    )
}

fn rule_not_found(rule_id: &str) -> ApiError {
    ApiError::new(
        404,
        "rule_not_found",
        format!("No rule {rule_id:?} in this action configuration."),
    )
}

fn list_not_found(alias: &str) -> ApiError {
    ApiError::new(
        404,
        "value_list_not_found",
        format!("No value list {alias:?}."),
    )
}

/// The configuration a change is made to ([`versions::current`]).
async fn changed_config(env: &Env, code: &str) -> Result<ActionConfiguration, ApiError> {
    versions::current(env, code)
        .await?
        .ok_or_else(|| not_configured(code))
}

async fn existing_config(env: &Env, code: &str) -> Result<ActionConfiguration, ApiError> {
    config_store::read(env, code)
        .await?
        .ok_or_else(|| not_configured(code))
}

async fn put_config(
    req: &mut Request,
    env: &Env,
    actor: &Actor,
    code: &str,
) -> Result<Response, ApiError> {
    let body = read_json_body(req).await?;
    let input = ActionConfigurationInput::parse(&body)?;
    let existing = versions::current(env, code).await?;
    let config = ActionConfiguration {
        action_code: code.to_owned(),
        input,
        // Rules are managed under .../rules and survive a PUT of the configuration.
        rules: existing
            .as_ref()
            .map(|e| e.rules.clone())
            .unwrap_or_default(),
        created_at: 0,
        updated_at: 0,
    }
    .replacing(existing.as_ref(), now_ms());
    let change = if existing.is_some() {
        "changed the configuration"
    } else {
        "created the configuration"
    };
    commit(
        env,
        actor,
        code,
        existing.as_ref(),
        Some(&config),
        change.to_owned(),
    )
    .await?;
    json_response(
        if existing.is_some() { 200 } else { 201 },
        &config.to_wire(),
    )
}

async fn delete_config(env: &Env, actor: &Actor, code: &str) -> Result<Response, ApiError> {
    let existing = changed_config(env, code).await?;
    let version = commit(
        env,
        actor,
        code,
        Some(&existing),
        None,
        "deleted the configuration".to_owned(),
    )
    .await?;
    json_response(
        200,
        &serde_json::json!({ "actionCode": code, "deleted": true, "version": version }),
    )
}

async fn list_configs(env: &Env) -> Result<Response, ApiError> {
    let mut out = Vec::new();
    for k in config_store::list_keys(env, ACTION_CONFIG_PREFIX).await? {
        let code = k.trim_start_matches(ACTION_CONFIG_PREFIX);
        if let Some(c) = config_store::read(env, code).await? {
            out.push(c.to_wire());
        }
    }
    json_response(200, &out)
}

async fn put_rule(
    req: &mut Request,
    env: &Env,
    actor: &Actor,
    code: &str,
    rule_id: &str,
) -> Result<Response, ApiError> {
    let body = read_json_body(req).await?;
    let input = RuleInput::parse(&body)?;
    let before = changed_config(env, code).await?;
    let mut config = before.clone();
    let rule = Rule {
        rule_id: rule_id.to_owned(),
        input,
    };
    let types =
        config_store::list_types(env, referenced_lists(std::slice::from_ref(&rule))).await?;
    let problems = validate_rule(rule_id, &rule.input, &types);
    if !problems.is_empty() {
        return Err(CoreError::Invalid(problems).into());
    }
    let created = match config.rules.iter_mut().find(|r| r.rule_id == rule_id) {
        Some(slot) => {
            *slot = rule.clone();
            false
        }
        None => {
            if config.rules.len() >= MAX_RULES {
                return Err(ApiError::bad_request(format!(
                    "rules: an action configuration holds at most {MAX_RULES} rules"
                )));
            }
            config.rules.push(rule.clone());
            true
        }
    };
    let config = config.replacing(Some(&before), now_ms());
    let change = format!(
        "{} rule {rule_id}",
        if created { "added" } else { "changed" }
    );
    commit(env, actor, code, Some(&before), Some(&config), change).await?;
    json_response(if created { 201 } else { 200 }, &rule.to_wire())
}

async fn delete_rule(
    env: &Env,
    actor: &Actor,
    code: &str,
    rule_id: &str,
) -> Result<Response, ApiError> {
    let before = changed_config(env, code).await?;
    let mut config = before.clone();
    config.rules.retain(|r| r.rule_id != rule_id);
    if config.rules.len() == before.rules.len() {
        return Err(rule_not_found(rule_id));
    }
    let config = config.replacing(Some(&before), now_ms());
    let change = format!("deleted rule {rule_id}");
    let version = commit(env, actor, code, Some(&before), Some(&config), change).await?;
    json_response(
        200,
        &serde_json::json!({ "ruleId": rule_id, "deleted": true, "version": version }),
    )
}

fn list_wire(l: &ValueList) -> serde_json::Value {
    serde_json::json!({
        "alias": l.alias,
        "name": l.input.name,
        "itemType": l.input.item_type,
        "normalize": l.input.normalization_names(),
        "items": l.input.items,
        "itemCount": l.input.items.len(),
        "createdAt": actiongate_core::time::to_rfc3339(l.created_at),
        "updatedAt": actiongate_core::time::to_rfc3339(l.updated_at),
    })
}

async fn store_list(
    env: &Env,
    alias: &str,
    input: ValueListInput,
) -> Result<(ValueList, bool), ApiError> {
    let existing = config_store::read_list(env, alias).await?;
    let now = now_ms();
    let list = ValueList {
        alias: alias.to_owned(),
        input,
        created_at: existing.as_ref().map_or(now, |e| e.created_at),
        // Strictly increasing, so compiled rules notice the change.
        updated_at: existing.as_ref().map_or(now, |e| now.max(e.updated_at + 1)),
    };
    config_store::write_json(env, &config_store::list_key(alias), &list).await?;
    config_store::forget_list(alias);
    Ok((list, existing.is_none()))
}

async fn put_list(req: &mut Request, env: &Env, alias: &str) -> Result<Response, ApiError> {
    let body = read_json_body_up_to(req, MAX_MANAGEMENT_BODY_BYTES).await?;
    let input = ValueListInput::parse(&body)?;
    let (list, created) = store_list(env, alias, input).await?;
    json_response(if created { 201 } else { 200 }, &list_wire(&list))
}

async fn delete_list(env: &Env, alias: &str) -> Result<Response, ApiError> {
    if config_store::read_list(env, alias).await?.is_none() {
        return Err(list_not_found(alias));
    }
    let mut users = Vec::new();
    for k in config_store::list_keys(env, ACTION_CONFIG_PREFIX).await? {
        let code = k.trim_start_matches(ACTION_CONFIG_PREFIX);
        if let Some(c) = config_store::read(env, code).await? {
            for r in &c.rules {
                if referenced_lists(std::slice::from_ref(r)).contains(alias) {
                    users.push(format!("{}/{}", c.action_code, r.rule_id));
                }
            }
        }
    }
    if !users.is_empty() {
        return Err(ApiError::new(
            409,
            "value_list_in_use",
            format!(
                "Value list {alias:?} is used by rules {}; change them first.",
                users.join(", ")
            ),
        ));
    }
    config_store::kv(env)?
        .delete(&config_store::list_key(alias))
        .await
        .map_err(ApiError::unavailable)?;
    config_store::forget_list(alias);
    json_response(200, &serde_json::json!({ "alias": alias, "deleted": true }))
}

async fn list_lists(env: &Env) -> Result<Response, ApiError> {
    let mut out = Vec::new();
    for k in config_store::list_keys(env, VALUE_LIST_PREFIX).await? {
        if let Some(l) =
            config_store::read_list(env, k.trim_start_matches(VALUE_LIST_PREFIX)).await?
        {
            let mut w = list_wire(&l);
            // The list view leaves the items out; GET one list for them.
            if let Some(o) = w.as_object_mut() {
                o.remove("items");
            }
            out.push(w);
        }
    }
    json_response(200, &out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SimulateRequest {
    user_id: String,
    action: String,
    #[serde(default)]
    attributes: Option<TrackRequest>,
}

async fn simulate(req: &mut Request, env: &Env) -> Result<Response, ApiError> {
    let body = read_json_body(req).await?;
    let s: SimulateRequest = parse_json(&body)?;
    check_user_id(&s.user_id)?;
    check_action_code(&s.action, "action")?;
    let cmd = UserCommand::Simulate {
        user_id: s.user_id.clone(),
        action_code: s.action,
        request: s.attributes.unwrap_or_default(),
    };
    call_user(env, &s.user_id, &cmd).await
}

/// Parse a document: `Ok(Err(problems))` when it is not valid.
async fn parse_document(
    env: &Env,
    body: &[u8],
) -> Result<Result<ConfigDocument, Vec<String>>, ApiError> {
    // Rules may use lists already stored as well as the document's own.
    let stored: Vec<String> = config_store::list_keys(env, VALUE_LIST_PREFIX)
        .await?
        .into_iter()
        .map(|k| k.trim_start_matches(VALUE_LIST_PREFIX).to_owned())
        .collect();
    let types = config_store::list_types(env, stored).await?;
    match ConfigDocument::parse(body, &types) {
        Ok(doc) => Ok(Ok(doc)),
        Err(CoreError::Invalid(problems)) => Ok(Err(problems)),
        Err(other) => Ok(Err(vec![other.to_string()])),
    }
}

fn summary(doc: &ConfigDocument) -> serde_json::Value {
    serde_json::json!({
        "valueLists": doc.value_lists.keys().collect::<Vec<_>>(),
        "proxy": doc.proxy.as_ref().map(|p| serde_json::json!({"originUrl": p.origin_url, "originService": p.origin_service, "routes": p.routes.len()})),
        "actionConfigurations": doc.action_configurations.iter()
            .map(|(code, (_, rules))| serde_json::json!({"actionCode": code, "rules": rules.len()}))
            .collect::<Vec<_>>(),
    })
}

async fn apply_document(req: &mut Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let body = read_json_body_up_to(req, MAX_MANAGEMENT_BODY_BYTES).await?;
    let doc = match parse_document(env, &body).await? {
        Ok(doc) => doc,
        // The usual error body, plus the problems as a list.
        Err(problems) => return Err(CoreError::Invalid(problems).into()),
    };
    // Lists first, so that no stored rule ever names a missing list.
    for (alias, input) in &doc.value_lists {
        store_list(env, alias, input.clone()).await?;
    }
    let now = now_ms();
    for (code, (input, rules)) in &doc.action_configurations {
        let existing = versions::current(env, code).await?;
        let config = ActionConfiguration {
            action_code: code.clone(),
            input: input.clone(),
            rules: rules.clone(),
            created_at: 0,
            updated_at: 0,
        }
        .replacing(existing.as_ref(), now);
        if existing
            .as_ref()
            .is_some_and(|e| e.input == config.input && e.rules == config.rules)
        {
            continue;
        }
        commit(
            env,
            actor,
            code,
            existing.as_ref(),
            Some(&config),
            "applied a configuration document".to_owned(),
        )
        .await?;
    }
    if let Some(proxy) = &doc.proxy {
        config_store::write_json(env, config_store::PROXY_KEY, proxy).await?;
        config_store::forget_proxy();
    }
    json_response(
        200,
        &serde_json::json!({"applied": true, "summary": summary(&doc)}),
    )
}
