//! Who the user is, from the app's own session, with the app's JWKS
//! cached in the isolate.

use actiongate_core::auth::basic::secrets_equal;
use actiongate_core::proxy::{
    IdentityError, Jwks, JwtAlgorithm, ProxyConfig, SessionKeys, verify_session_jwt,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use worker::{Env, Fetch, Request};

use crate::clock::now_secs;
use crate::request::header;
use crate::settings;

/// How long a fetched JWKS is used before it is fetched again (seconds).
pub(super) const JWKS_TTL_SECONDS: u64 = 600;

/// A token with an unknown key id refetches the JWKS at most this often.
pub(super) const JWKS_REFETCH_SECONDS: u64 = 60;

pub(super) type CachedJwks = (u64, u64, Rc<Jwks>); // (expires, fetched, keys)

thread_local! {
    static JWKS: RefCell<HashMap<String, CachedJwks>> = RefCell::new(HashMap::new());
}

/// The app's JWKS, cached in the isolate; refetched when stale, or when a
/// token names a key id it lacks (key rotation), at most once a minute.
pub(super) async fn jwks(url: &str, kid: Option<&str>) -> Result<Rc<Jwks>, IdentityError> {
    if let Some(keys) = fresh_jwks(url, kid) {
        return Ok(keys);
    }
    let now = now_secs();
    let cached = JWKS.with_borrow(|c| c.get(url).cloned());
    let unavailable = |why: String| {
        worker::console_error!("JWKS {url}: {why}");
        IdentityError::Invalid("the app's signing keys could not be loaded".into())
    };
    let fetched = async {
        let mut resp = Fetch::Url(url.parse().map_err(|e| format!("{e}"))?)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status_code() != 200 {
            return Err(format!("status {}", resp.status_code()));
        }
        let text = resp.text().await.map_err(|e| e.to_string())?;
        Jwks::parse(&text)
    }
    .await;
    match fetched {
        Ok(keys) => {
            let keys = Rc::new(keys);
            JWKS.with_borrow_mut(|c| {
                c.insert(url.to_owned(), (now + JWKS_TTL_SECONDS, now, keys.clone()))
            });
            Ok(keys)
        }
        // Keep using what we had if the app's endpoint hiccups.
        Err(e) => match cached {
            Some((_, _, keys)) => {
                worker::console_error!("JWKS {url}: refetch failed ({e}); using the cached keys");
                Ok(keys)
            }
            None => Err(unavailable(e)),
        },
    }
}

/// The cached JWKS of `url` if it is fresh and, for a token naming a key
/// id it lacks, was fetched within the last minute.
pub(super) fn fresh_jwks(url: &str, kid: Option<&str>) -> Option<Rc<Jwks>> {
    let now = now_secs();
    let (expires, fetched, keys) = JWKS.with_borrow(|c| c.get(url).cloned())?;
    let kid_missing = kid.is_some_and(|k| !keys.has_kid(k));
    (expires > now && (!kid_missing || now < fetched + JWKS_REFETCH_SECONDS)).then_some(keys)
}

/// Who the user is, from the app's session.
pub(super) async fn identify(
    req: &Request,
    env: &Env,
    cfg: &ProxyConfig,
) -> Result<String, IdentityError> {
    match session(req, env, cfg) {
        Session::Known(who) => who,
        Session::NeedsJwks { url, kid, token } => {
            verify_with_jwks(cfg, &token, &*jwks(&url, kid.as_deref()).await?)
        }
    }
}

/// A session token signed with the app's keys (RS256/ES256).
pub(super) fn verify_with_jwks(
    cfg: &ProxyConfig,
    token: &str,
    jwks: &Jwks,
) -> Result<String, IdentityError> {
    let j = cfg.identity.jwt.as_ref().ok_or(IdentityError::Missing)?;
    verify_session_jwt(token, j, SessionKeys::Jwks(jwks), now_secs())
}

/// [`identify`] without awaiting anything: `None` when it needs the app's
/// JWKS and this isolate holds no fresh copy.
pub(super) fn identify_now(
    req: &Request,
    env: &Env,
    cfg: &ProxyConfig,
) -> Option<Result<String, IdentityError>> {
    match session(req, env, cfg) {
        Session::Known(who) => Some(who),
        Session::NeedsJwks { url, kid, token } => {
            fresh_jwks(&url, kid.as_deref()).map(|jwks| verify_with_jwks(cfg, &token, &jwks))
        }
    }
}

/// What the request's session says, as far as it can tell without I/O.
pub(super) enum Session {
    Known(Result<String, IdentityError>),
    /// A token signed with the app's keys (RS256/ES256), from this JWKS.
    NeedsJwks {
        url: String,
        kid: Option<String>,
        token: String,
    },
}

pub(super) fn session(req: &Request, env: &Env, cfg: &ProxyConfig) -> Session {
    let id = &cfg.identity;
    let local = req.url().is_ok_and(|u| settings::is_local(&u));
    if let Some(t) = &id.trusted_header
        && let Some(presented) = header(req, &t.secret_header)
    {
        let Some(secret) = settings::identity_secret(env, &t.secret_env, 24, local) else {
            return Session::Known(Err(IdentityError::Invalid(
                "the upstream secret is not configured".into(),
            )));
        };
        if !secrets_equal(presented.as_bytes(), secret.as_bytes()) {
            return Session::Known(Err(IdentityError::Invalid(
                "the upstream secret is wrong".into(),
            )));
        }
        return Session::Known(
            header(req, &t.header)
                .filter(|u| !u.is_empty())
                .ok_or_else(|| IdentityError::Invalid(format!("{} is missing", t.header))),
        );
    }
    if let Some(j) = &id.jwt {
        let token = actiongate_core::proxy::session_token(
            j,
            header(req, "Cookie").as_deref(),
            header(req, "Authorization").as_deref(),
        );
        let token = match token {
            Ok(t) => t,
            Err(e) => return Session::Known(Err(e)),
        };
        if let Some(token) = token {
            return match j.algorithm {
                JwtAlgorithm::HS256 => Session::Known(
                    j.secret_env
                        .as_deref()
                        .and_then(|name| settings::identity_secret(env, name, 32, local))
                        .ok_or_else(|| {
                            IdentityError::Invalid("the session key is not configured".into())
                        })
                        .and_then(|secret| {
                            verify_session_jwt(
                                &token,
                                j,
                                SessionKeys::Secret(secret.as_bytes()),
                                now_secs(),
                            )
                        }),
                ),
                JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => Session::NeedsJwks {
                    url: j.jwks_url.clone().unwrap_or_default(),
                    kid: actiongate_core::proxy::token_key_id(&token),
                    token,
                },
            };
        }
    }
    Session::Known(Err(IdentityError::Missing))
}
