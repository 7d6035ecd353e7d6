//! Secrets and settings from the Worker environment.
//!
//! Secrets (`wrangler secret put`, or `.dev.vars` under local dev):
//! `API_SECRET_KEY`, `MANAGEMENT_SECRET_KEY`, `TOKEN_SIGNING_KEY` and,
//! during a key rotation, `TOKEN_SIGNING_KEY_PREVIOUS`. There are no
//! defaults: a worker without them refuses to serve the API.
//!
//! Variables (`[vars]` in wrangler.toml), each with its default:
//! - `REDIRECT_URL_ALLOWLIST`: where `redirectUrl` may point; empty refuses every redirect URL.
//! - `TOKEN_TTL_SECONDS`: lifetime of action tokens; 600.
//! - `HELD_REQUEST_TTL_SECONDS`: how long a request the edge proxy holds back
//!   waits for the person to come back; 1800 (at most 7 days).
//! - `CONFIG_CACHE_TTL_SECONDS`: how long an isolate keeps an action configuration; 10.
//! - `PASSKEY_RP_ID`: the WebAuthn relying party id passkeys are bound to;
//!   the worker's host name. Set it to the registrable domain (e.g.
//!   `example.com`) when the app's pages run ceremonies too.
//! - `PASSKEY_RP_NAME`: the name authenticators show; `TOTP_ISSUER`, else "ActionGate".
//! - `PASSKEY_ORIGINS`: more origins allowed to run ceremonies (comma or space
//!   separated), besides the worker's own; none.
//! - `PASSKEY_COUNTER_REGRESSION`: `reject` (default) or `report`: what a
//!   signature counter that went backwards does to a sign-in.
//! - `PASSKEY_PROMPT_SNOOZE_DAYS`: how long "not now" keeps the passkey prompt away; 30.
//!
//! - `SESSION_CLIENT_IDS`: the app clients sessions may be created for
//!   (space or comma separated); none, no sessions.
//! - `SESSION_ACCESS_TOKEN_TTL_SECONDS` (900) and
//!   `SESSION_REFRESH_TOKEN_TTL_SECONDS` (2,592,000: 30 days).
//!
//! Variables and secrets do not change while an isolate lives (a new value
//! is a new deployment, or a restarted `wrangler dev`): each is read from
//! the environment once per isolate ([`lookup`]), and what is parsed from
//! them (the signing keys, the redirect allowlist) is built once too.

use std::cell::RefCell;
use std::rc::Rc;

use actiongate_core::auth::token::TokenKeys;
use actiongate_core::redirect::RedirectAllowlist;
use worker::Env;

use crate::http::ApiError;

/// Default `TOKEN_TTL_SECONDS`.
pub const DEFAULT_TOKEN_TTL_SECONDS: u64 = 600;
/// How long a request the edge proxy holds back waits for the person to
/// pass the challenge and come back (`HELD_REQUEST_TTL_SECONDS`); then it
/// is dropped unreleased. Not while a reviewer has the action.
pub const DEFAULT_HELD_REQUEST_TTL_SECONDS: u64 = 1800;
/// Default `CONFIG_CACHE_TTL_SECONDS`.
pub const DEFAULT_CONFIG_CACHE_TTL_SECONDS: u64 = 10;

/// A required secret, or a 500 that names no secret (the name is logged).
///
/// # Errors
/// [`ApiError`] 500 `server_misconfigured` when the secret is not set.
pub fn secret(env: &Env, name: &str) -> Result<String, ApiError> {
    match optional_secret(env, name) {
        Some(s) => Ok(s),
        None => {
            worker::console_error!("required secret {name} is not set; refusing to serve");
            Err(ApiError::new(
                500,
                "server_misconfigured",
                "This deployment is missing required secrets and refuses to serve.",
            ))
        }
    }
}

fn optional_secret(env: &Env, name: &str) -> Option<String> {
    lookup(env, name, Kind::Secret).filter(|s| !s.is_empty())
}

/// Where a value comes from: `[vars]` or a secret.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Var,
    Secret,
}

/// A variable or secret, read from the environment once per isolate:
/// crossing into JavaScript for it costs more than the rest of a hot
/// path's use of it. `None` when unset (or not text).
fn lookup(env: &Env, name: &str, kind: Kind) -> Option<String> {
    if let Some(hit) = LOOKUPS.with_borrow(|l| {
        l.iter()
            .find(|(n, k, _)| *k == kind && n == name)
            .map(|(_, _, v)| v.clone())
    }) {
        return hit;
    }
    let value = match kind {
        Kind::Var => env.var(name).ok().map(|v| v.to_string()),
        Kind::Secret => env.secret(name).ok().map(|v| v.to_string()),
    };
    LOOKUPS.with_borrow_mut(|l| l.push((name.to_owned(), kind, value.clone())));
    value
}

/// Whether a request came to the worker as `localhost` or `127.0.0.1`
/// (local dev: `wrangler dev`). A deployed worker is never reached by
/// those names, so this is what tells local dev apart.
pub fn is_local(url: &worker::Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// The secrets a deployment checks at first use, each with its shortest
/// accepted length in bytes (signing keys 32).
const CHECKED_SECRETS: &[(&str, usize)] = &[
    ("API_SECRET_KEY", 24),
    ("MANAGEMENT_SECRET_KEY", 24),
    ("TOKEN_SIGNING_KEY", 32),
    ("TOKEN_SIGNING_KEY_PREVIOUS", 32),
    ("ORIGIN_SIGNING_KEY", 32),
    ("SESSION_SIGNING_KEY", 43),
    ("SESSION_SIGNING_KEY_PREVIOUS", 43),
];

/// The example's development secrets (`.dev.vars.example`), which a
/// worker outside local dev refuses to use.
const DEV_EXAMPLE: &str = include_str!("../.dev.vars.example");

fn dev_value(name: &str) -> Option<&'static str> {
    DEV_EXAMPLE
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
}

/// Refuse to serve with unsafe secrets: one shorter than its minimum, or,
/// outside local dev (`local`: see [`is_local`]), one that is still the
/// example's development value. Each refusal is a 500
/// `server_misconfigured` naming the secret (never its value), and a log
/// line; a missing secret is refused where it is used.
///
/// # Errors
/// The 500.
pub fn check_deployment(env: &Env, local: bool) -> Result<(), ApiError> {
    // Secrets do not change under a running isolate (a new secret is a new
    // deployment): once they passed, hot paths skip reading them again.
    if DEPLOYMENT_CHECKED.with(|c| c.get().get(usize::from(local)).copied() == Some(true)) {
        return Ok(());
    }
    for (name, min) in CHECKED_SECRETS {
        let Some(value) = optional_secret(env, name) else {
            continue;
        };
        let Some(problem) = secret_problem(name, &value, *min, local) else {
            continue;
        };
        worker::console_error!("secret {name} {problem}; refusing to serve");
        return Err(ApiError::new(
            500,
            "server_misconfigured",
            format!(
                "This deployment refuses to serve: its secret {name} {problem}. Set a new one with `wrangler secret put {name}`."
            ),
        ));
    }
    DEPLOYMENT_CHECKED.with(|c| {
        let mut done = c.get();
        if let Some(slot) = done.get_mut(usize::from(local)) {
            *slot = true;
        }
        c.set(done);
    });
    Ok(())
}

/// What is wrong with a secret's value, if anything: shorter than `min`
/// bytes, or, outside local dev, the example's development value.
fn secret_problem(name: &str, value: &str, min: usize, local: bool) -> Option<String> {
    if value.len() < min {
        Some(format!("is shorter than {min} bytes"))
    } else if !local && dev_value(name) == Some(value) {
        Some("is the example's development value".to_owned())
    } else {
        None
    }
}

/// A secret the edge proxy uses to believe who a request is from (the
/// app's session key, at least 32 bytes; a trusted upstream's shared
/// secret, at least 24): set, long enough, and outside local dev not the
/// example's value. `None` (and a log line naming it) otherwise, so the
/// request is refused, never believed.
pub fn identity_secret(env: &Env, name: &str, min: usize, local: bool) -> Option<String> {
    let value = optional_secret(env, name)?;
    match secret_problem(name, &value, min, local) {
        None => Some(value),
        Some(problem) => {
            worker::console_error!("secret {name} {problem}; sessions are refused");
            None
        }
    }
}

/// A string variable, empty when unset.
pub fn var(env: &Env, name: &str) -> String {
    lookup(env, name, Kind::Var).unwrap_or_default()
}

/// The deployment's branding for the hosted page (`BRAND_NAME`,
/// `BRAND_LOGO_URL`, `BRAND_COLOR`, `SUPPORT_URL`); values not of their kind
/// are logged and left out.
pub fn branding(env: &Env) -> actiongate_core::present::Branding {
    let (b, problems) = actiongate_core::present::Branding::from_vars(
        &var(env, "BRAND_NAME"),
        &var(env, "BRAND_LOGO_URL"),
        &var(env, "BRAND_COLOR"),
        &var(env, "SUPPORT_URL"),
    );
    for p in problems {
        worker::console_error!("branding ignored: {p}");
    }
    b
}

/// A numeric variable with a default.
pub fn var_u64(env: &Env, name: &str, default: u64) -> u64 {
    var(env, name).trim().parse().unwrap_or(default)
}

thread_local! {
    /// What [`lookup`] read, by name and kind (a few dozen names at most).
    static LOOKUPS: RefCell<Vec<(String, Kind, Option<String>)>> = const { RefCell::new(Vec::new()) };
    /// Whether [`check_deployment`] passed in this isolate, for requests
    /// from elsewhere (`[0]`) and from local dev (`[1]`).
    static DEPLOYMENT_CHECKED: std::cell::Cell<[bool; 2]> = const { std::cell::Cell::new([false; 2]) };
    // Built once per isolate from variables and secrets, which do not
    // change while it lives (see `lookup`).
    static KEYS: RefCell<Option<Rc<TokenKeys>>> = const { RefCell::new(None) };
    static SESSION_KEYS: RefCell<Option<Rc<actiongate_core::auth::session::SessionKeys>>> = const { RefCell::new(None) };
    static ALLOWLIST: RefCell<Option<Rc<RedirectAllowlist>>> = const { RefCell::new(None) };
}

/// The token signing keys.
///
/// # Errors
/// 500 when `TOKEN_SIGNING_KEY` is missing or too short.
pub fn token_keys(env: &Env) -> Result<Rc<TokenKeys>, ApiError> {
    if let Some(hit) = KEYS.with_borrow(Clone::clone) {
        return Ok(hit);
    }
    let current = secret(env, "TOKEN_SIGNING_KEY")?;
    let previous = optional_secret(env, "TOKEN_SIGNING_KEY_PREVIOUS");
    let keys = TokenKeys::new(current.as_bytes(), previous.as_deref().map(str::as_bytes)).map_err(
        |e| {
            worker::console_error!("token signing key rejected: {e}");
            ApiError::new(
                500,
                "server_misconfigured",
                "This deployment's token signing key is not usable.",
            )
        },
    )?;
    let keys = Rc::new(keys);
    KEYS.with_borrow_mut(|k| *k = Some(keys.clone()));
    Ok(keys)
}

/// The redirect allowlist.
///
/// # Errors
/// 500 when `REDIRECT_URL_ALLOWLIST` has an entry that does not parse.
pub fn redirect_allowlist(env: &Env) -> Result<Rc<RedirectAllowlist>, ApiError> {
    if let Some(hit) = ALLOWLIST.with_borrow(Clone::clone) {
        return Ok(hit);
    }
    let spec = var(env, "REDIRECT_URL_ALLOWLIST");
    let list = RedirectAllowlist::parse(&spec).map_err(|e| {
        worker::console_error!("REDIRECT_URL_ALLOWLIST rejected: {e}");
        ApiError::new(
            500,
            "server_misconfigured",
            "This deployment's redirect allowlist is not valid.",
        )
    })?;
    let list = Rc::new(list);
    ALLOWLIST.with_borrow_mut(|a| *a = Some(list.clone()));
    Ok(list)
}

/// The WebAuthn relying party for a request to the worker at `url`.
pub fn relying_party(env: &Env, url: &url::Url) -> actiongate_core::auth::webauthn::RelyingParty {
    let id = match var(env, "PASSKEY_RP_ID").trim() {
        "" => url.host_str().unwrap_or_default().to_owned(),
        s => s.to_owned(),
    };
    let name = [var(env, "PASSKEY_RP_NAME"), var(env, "TOTP_ISSUER")]
        .into_iter()
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "ActionGate".to_owned());
    let mut origins = vec![url.origin().ascii_serialization()];
    origins.extend(
        var(env, "PASSKEY_ORIGINS")
            .split([',', ' '])
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty()),
    );
    actiongate_core::auth::webauthn::RelyingParty { id, name, origins }
}

/// Keys that seal WebAuthn ceremonies (derived from the token signing keys).
///
/// # Errors
/// 500 when `TOKEN_SIGNING_KEY` is missing.
pub fn ceremony_keys(env: &Env) -> Result<actiongate_core::auth::webauthn::CeremonyKeys, ApiError> {
    let current = secret(env, "TOKEN_SIGNING_KEY")?;
    let previous = optional_secret(env, "TOKEN_SIGNING_KEY_PREVIOUS");
    Ok(actiongate_core::auth::webauthn::CeremonyKeys::new(
        current.as_bytes(),
        previous.as_deref().map(str::as_bytes),
    ))
}

/// `PASSKEY_COUNTER_REGRESSION`.
pub fn counter_policy(env: &Env) -> actiongate_core::service::passkeys::CounterPolicy {
    if var(env, "PASSKEY_COUNTER_REGRESSION").trim() == "report" {
        actiongate_core::service::passkeys::CounterPolicy::Report
    } else {
        actiongate_core::service::passkeys::CounterPolicy::Reject
    }
}

/// Default `SESSION_ACCESS_TOKEN_TTL_SECONDS`.
pub const DEFAULT_SESSION_ACCESS_TTL_SECONDS: u64 = 900;
/// Default `SESSION_REFRESH_TOKEN_TTL_SECONDS`.
pub const DEFAULT_SESSION_REFRESH_TTL_SECONDS: u64 = 30 * 24 * 3600;

/// The session signing keys (`SESSION_SIGNING_KEY`, and during a rotation
/// `SESSION_SIGNING_KEY_PREVIOUS`).
///
/// # Errors
/// 500 `server_misconfigured` when the key is missing or not a P-256 key.
pub fn session_keys(
    env: &Env,
) -> Result<Rc<actiongate_core::auth::session::SessionKeys>, ApiError> {
    if let Some(hit) = SESSION_KEYS.with_borrow(Clone::clone) {
        return Ok(hit);
    }
    let current = secret(env, "SESSION_SIGNING_KEY")?;
    let previous = optional_secret(env, "SESSION_SIGNING_KEY_PREVIOUS");
    let keys = actiongate_core::auth::session::SessionKeys::new(&current, previous.as_deref())
        .map_err(|e| {
            worker::console_error!("session signing key rejected: {e}");
            ApiError::new(
                500,
                "server_misconfigured",
                "This deployment's session signing key is not usable.",
            )
        })?;
    let keys = Rc::new(keys);
    SESSION_KEYS.with_borrow_mut(|k| *k = Some(keys.clone()));
    Ok(keys)
}

/// Whether `client_id` is one of `SESSION_CLIENT_IDS`.
pub fn session_client(env: &Env, client_id: &str) -> bool {
    var(env, "SESSION_CLIENT_IDS")
        .split([',', ' ', '\n'])
        .any(|c| !c.is_empty() && c == client_id)
}

/// Access and refresh token lifetimes, in seconds (an access token never
/// outlives the refresh token issued with it).
pub fn session_ttls(env: &Env) -> (u64, u64) {
    let refresh = var_u64(
        env,
        "SESSION_REFRESH_TOKEN_TTL_SECONDS",
        DEFAULT_SESSION_REFRESH_TTL_SECONDS,
    )
    .clamp(300, 365 * 24 * 3600);
    let access = var_u64(
        env,
        "SESSION_ACCESS_TOKEN_TTL_SECONDS",
        DEFAULT_SESSION_ACCESS_TTL_SECONDS,
    )
    .clamp(60, 24 * 3600)
    .min(refresh);
    (access, refresh)
}
