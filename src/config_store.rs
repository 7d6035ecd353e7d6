//! Action configurations and value lists in KV, compiled and cached in the
//! isolate.
//!
//! KV is read-mostly and eventually consistent; a read on every track would
//! cap throughput, so each isolate keeps what it read for
//! `CONFIG_CACHE_TTL_SECONDS` (default 10 s, including "no configuration").
//! Rules are compiled once per version: when the TTL runs out the
//! configuration and its lists are read again, and the compiled rules are
//! reused unless a version (`updatedAt`) changed. A write through the
//! management API refreshes this isolate's cache at once; other isolates see
//! it within the TTL plus KV's own propagation delay.
//!
//! A KV failure is an error, never "no configuration": protected paths fail
//! closed rather than fall back to ALLOW.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use actiongate_core::policy::config::ActionConfiguration;
use actiongate_core::policy::lists::{ValueList, ValueSet};
use actiongate_core::policy::rules::{CompiledRules, ListTypes, referenced_lists};
use worker::{Env, KvStore};

use crate::http::ApiError;
use crate::settings::{DEFAULT_CONFIG_CACHE_TTL_SECONDS, var_u64};

/// KV binding holding configuration.
pub const KV_BINDING: &str = "CONFIG";
/// Key prefix of action configurations.
pub const ACTION_CONFIG_PREFIX: &str = "action-config:";
/// Key prefix of value lists.
pub const VALUE_LIST_PREFIX: &str = "value-list:";

/// An action configuration with its rules compiled.
pub struct Policy {
    /// The configuration as stored.
    pub config: ActionConfiguration,
    /// Its active rules, compiled (None when it has no rules).
    pub rules: Option<CompiledRules>,
    /// `updatedAt` of each list the rules use, to notice changes.
    list_versions: Vec<(String, i64)>,
}

type Cached<T> = (u64, Option<Rc<T>>);
/// A list's version (`updatedAt`) and its hash set.
type CachedList = (i64, Arc<ValueSet>);

/// KV key of the edge proxy's configuration.
pub const PROXY_KEY: &str = "proxy-config";

thread_local! {
    static PROXY: RefCell<Option<Cached<actiongate_core::proxy::ProxyConfig>>> = const { RefCell::new(None) };
    static POLICIES: RefCell<HashMap<String, Cached<Policy>>> = RefCell::new(HashMap::new());
    static LISTS: RefCell<HashMap<String, Cached<CachedList>>> = RefCell::new(HashMap::new());
}

/// The KV namespace.
///
/// # Errors
/// 503 when the binding is missing.
pub fn kv(env: &Env) -> Result<KvStore, ApiError> {
    env.kv(KV_BINDING).map_err(ApiError::unavailable)
}

/// KV key of an action code's configuration.
pub fn key(code: &str) -> String {
    format!("{ACTION_CONFIG_PREFIX}{code}")
}

/// KV key of a value list.
pub fn list_key(alias: &str) -> String {
    format!("{VALUE_LIST_PREFIX}{alias}")
}

fn ttl_ms(env: &Env) -> u64 {
    var_u64(
        env,
        "CONFIG_CACHE_TTL_SECONDS",
        DEFAULT_CONFIG_CACHE_TTL_SECONDS,
    )
    .saturating_mul(1000)
}

async fn read_json<T: serde::de::DeserializeOwned>(
    env: &Env,
    key: &str,
) -> Result<Option<T>, ApiError> {
    let text = kv(env)?
        .get(key)
        .text()
        .await
        .map_err(ApiError::unavailable)?;
    text.map(|t| actiongate_core::encoding::from_json(&t).map_err(ApiError::internal))
        .transpose()
}

/// Write a JSON value to KV.
///
/// # Errors
/// 503 when KV fails.
pub async fn write_json<T: serde::Serialize>(
    env: &Env,
    key: &str,
    value: &T,
) -> Result<(), ApiError> {
    let text = serde_json::to_string(value).map_err(ApiError::internal)?;
    kv(env)?
        .put(key, text)
        .map_err(ApiError::unavailable)?
        .execute()
        .await
        .map_err(ApiError::unavailable)
}

/// Read a configuration straight from KV (no cache).
///
/// # Errors
/// 503 when KV fails; 500 when the stored value does not parse.
pub async fn read(env: &Env, code: &str) -> Result<Option<ActionConfiguration>, ApiError> {
    read_json(env, &key(code)).await
}

/// Read a value list straight from KV (no cache).
///
/// # Errors
/// As [`read`].
pub async fn read_list(env: &Env, alias: &str) -> Result<Option<ValueList>, ApiError> {
    read_json(env, &list_key(alias)).await
}

/// Every key under a prefix, following KV's pagination.
///
/// # Errors
/// 503 when KV fails.
pub async fn list_keys(env: &Env, prefix: &str) -> Result<Vec<String>, ApiError> {
    let kv = kv(env)?;
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut builder = kv.list().prefix(prefix.to_owned());
        if let Some(c) = cursor.take() {
            builder = builder.cursor(c);
        }
        let page = builder.execute().await.map_err(ApiError::unavailable)?;
        out.extend(page.keys.into_iter().map(|k| k.name));
        if page.list_complete || page.cursor.is_none() {
            break;
        }
        cursor = page.cursor;
    }
    Ok(out)
}

/// The item types of the given stored lists (for validating rules).
///
/// # Errors
/// As [`read`].
pub async fn list_types(
    env: &Env,
    aliases: impl IntoIterator<Item = String>,
) -> Result<ListTypes, ApiError> {
    let mut types = ListTypes::new();
    for alias in aliases {
        if let Some(l) = read_list(env, &alias).await? {
            types.insert(alias, l.input.item_type);
        }
    }
    Ok(types)
}

async fn load_list(env: &Env, alias: &str, now: u64) -> Result<Option<Rc<CachedList>>, ApiError> {
    let hit = LISTS.with_borrow(|c| {
        c.get(alias)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, v)| v.clone())
    });
    if let Some(v) = hit {
        return Ok(v);
    }
    let stored = read_list(env, alias).await?;
    // Rebuild the hash set only when the list changed.
    let previous = LISTS.with_borrow(|c| c.get(alias).and_then(|(_, v)| v.clone()));
    let value = match (stored, previous) {
        (Some(l), Some(p)) if p.0 == l.updated_at => Some(p),
        (Some(l), _) => Some(Rc::new((
            l.updated_at,
            Arc::new(ValueSet::from_list(&l.input)),
        ))),
        (None, _) => None,
    };
    let expires = now.saturating_add(ttl_ms(env));
    LISTS.with_borrow_mut(|c| {
        actiongate_core::cache::insert_bounded(c, alias, expires, value.clone(), now);
    });
    Ok(value)
}

/// A policy's configuration and rules, as a track takes them.
pub fn parts(
    policy: Option<&Policy>,
) -> (
    Option<&actiongate_core::policy::config::ActionConfiguration>,
    Option<&CompiledRules>,
) {
    (
        policy.map(|p| &p.config),
        policy.and_then(|p| p.rules.as_ref()),
    )
}

/// The compiled policy for `code` if this isolate holds an unexpired copy
/// (`Some(None)`: cached as absent); `None` when only KV can tell.
pub fn cached(code: &str) -> Option<Option<Rc<Policy>>> {
    let now = crate::clock::now_ms_u64();
    POLICIES.with_borrow(|c| {
        c.get(code)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, v)| v.clone())
    })
}

/// The compiled policy for `code`, from the isolate cache or KV.
///
/// # Errors
/// 503 when KV fails or the stored rules no longer compile (fail closed).
pub async fn load(env: &Env, code: &str) -> Result<Option<Rc<Policy>>, ApiError> {
    if let Some(v) = cached(code) {
        return Ok(v);
    }
    let now = crate::clock::now_ms_u64();
    let policy = match read(env, code).await? {
        None => None,
        Some(config) => {
            let mut lists = HashMap::new();
            let mut versions = Vec::new();
            for alias in referenced_lists(&config.rules) {
                if let Some(entry) = load_list(env, &alias, now).await? {
                    versions.push((alias.clone(), entry.0));
                    lists.insert(alias, entry.1.clone());
                }
            }
            let previous = POLICIES.with_borrow(|c| c.get(code).and_then(|(_, v)| v.clone()));
            match previous {
                Some(p)
                    if p.config.updated_at == config.updated_at && p.list_versions == versions =>
                {
                    Some(p)
                }
                _ => Some(Rc::new(compile(config, lists, versions)?)),
            }
        }
    };
    let expires = now.saturating_add(ttl_ms(env));
    POLICIES.with_borrow_mut(|c| {
        actiongate_core::cache::insert_bounded(c, code, expires, policy.clone(), now);
    });
    Ok(policy)
}

fn compile(
    config: ActionConfiguration,
    lists: HashMap<String, Arc<ValueSet>>,
    list_versions: Vec<(String, i64)>,
) -> Result<Policy, ApiError> {
    let rules = if config.rules.is_empty() {
        None
    } else {
        Some(
            CompiledRules::compile(&config.rules, Arc::new(lists)).map_err(|e| {
                worker::console_error!(
                    "stored rules of {} do not compile: {e}",
                    config.action_code
                );
                ApiError::new(
                    503,
                    "configuration_unavailable",
                    "This action's rules cannot be evaluated; nothing was changed.",
                )
            })?,
        )
    };
    Ok(Policy {
        config,
        rules,
        list_versions,
    })
}

/// The edge proxy's configuration, from the isolate cache or KV.
///
/// # Errors
/// 503 when KV fails; 500 when the stored value does not parse.
pub async fn load_proxy(
    env: &Env,
) -> Result<Option<Rc<actiongate_core::proxy::ProxyConfig>>, ApiError> {
    if let Some(v) = cached_proxy() {
        return Ok(v);
    }
    let now = crate::clock::now_ms_u64();
    let value = read_json(env, PROXY_KEY).await?.map(Rc::new);
    let expires = now.saturating_add(ttl_ms(env));
    PROXY.with_borrow_mut(|c| *c = Some((expires, value.clone())));
    Ok(value)
}

/// The proxy configuration if this isolate holds an unexpired copy
/// (`Some(None)`: cached as absent); `None` when only KV can tell.
pub fn cached_proxy() -> Option<Option<Rc<actiongate_core::proxy::ProxyConfig>>> {
    let now = crate::clock::now_ms_u64();
    PROXY.with_borrow(|c| {
        c.as_ref()
            .filter(|(exp, _)| *exp > now)
            .map(|(_, v)| v.clone())
    })
}

/// Forget the cached proxy configuration (after a write).
pub fn forget_proxy() {
    PROXY.with_borrow_mut(|c| *c = None);
}

/// Forget what this isolate cached for an action code (after a write).
pub fn forget(code: &str) {
    POLICIES.with_borrow_mut(|c| c.remove(code));
}

/// Forget a cached value list and every policy (after a list write).
pub fn forget_list(alias: &str) {
    LISTS.with_borrow_mut(|c| c.remove(alias));
    POLICIES.with_borrow_mut(HashMap::clear);
}
