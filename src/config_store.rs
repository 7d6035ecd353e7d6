//! Action configurations in KV, cached in the isolate.
//!
//! KV is read-mostly and eventually consistent; a read on every track would
//! cap throughput, so each isolate keeps what it read for
//! `CONFIG_CACHE_TTL_SECONDS` (default 10 s, including "no configuration").
//! A write through the management API updates this isolate's cache at once;
//! other isolates see it within the TTL plus KV's own propagation delay.
//! A KV failure is an error, never "no configuration": protected paths fail
//! closed rather than fall back to ALLOW.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use actiongate_core::config::ActionConfiguration;
use worker::{Date, Env, KvStore};

use crate::http::ApiError;
use crate::settings::{DEFAULT_CONFIG_CACHE_TTL_SECONDS, var_u64};

/// KV binding holding configuration.
pub const KV_BINDING: &str = "CONFIG";
/// Key prefix of action configurations.
pub const ACTION_CONFIG_PREFIX: &str = "action-config:";

type Cached = (u64, Option<Rc<ActionConfiguration>>);

thread_local! {
    static CACHE: RefCell<HashMap<String, Cached>> = RefCell::new(HashMap::new());
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

/// Read a configuration straight from KV (no cache).
///
/// # Errors
/// 503 when KV fails; 500 when the stored value does not parse.
pub async fn read(env: &Env, code: &str) -> Result<Option<ActionConfiguration>, ApiError> {
    let text = kv(env)?
        .get(&key(code))
        .text()
        .await
        .map_err(ApiError::unavailable)?;
    text.map(|t| serde_json::from_str(&t).map_err(ApiError::internal))
        .transpose()
}

/// The configuration for `code`, from the isolate cache or KV.
///
/// # Errors
/// As [`read`].
pub async fn load(env: &Env, code: &str) -> Result<Option<Rc<ActionConfiguration>>, ApiError> {
    let now = Date::now().as_millis();
    let hit = CACHE.with_borrow(|c| {
        c.get(code)
            .filter(|(expires, _)| *expires > now)
            .map(|(_, v)| v.clone())
    });
    if let Some(v) = hit {
        return Ok(v);
    }
    let value = read(env, code).await?.map(Rc::new);
    remember(env, code, value.clone(), now);
    Ok(value)
}

/// Put a value in this isolate's cache (after a management write).
pub fn remember(env: &Env, code: &str, value: Option<Rc<ActionConfiguration>>, now: u64) {
    let ttl_ms = var_u64(
        env,
        "CONFIG_CACHE_TTL_SECONDS",
        DEFAULT_CONFIG_CACHE_TTL_SECONDS,
    )
    .saturating_mul(1000);
    CACHE.with_borrow_mut(|c| {
        c.insert(code.to_owned(), (now.saturating_add(ttl_ms), value));
    });
}
