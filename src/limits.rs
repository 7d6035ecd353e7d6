//! Limits per client IP and per destination, with Cloudflare's Workers Rate
//! Limiting binding (`[[ratelimits]]` in `wrangler.toml`; it also runs under
//! `wrangler dev`). Per-user limits are exact and live in the user's Durable
//! Object (see `actiongate_core::auth::throttle`); these are per location, so
//! approximate, and catch what spreads over many users: one network trying
//! codes or sign-ins for many accounts, or one mailbox or phone number
//! flooded through several accounts.
//!
//! A binding that is missing or fails refuses the request: a limit that
//! cannot be checked is not a reason to let it through.

use worker::{Env, Request};

use crate::http::ApiError;

/// One of the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Requests to routes that need no secret or token (the token-less
    /// passkey routes, the portal sign-in, the magic-link page), per IP.
    Unauthenticated,
    /// Codes and links sent (Client API), per IP.
    SendsPerIp,
    /// Codes checked (Client API verify routes), per IP: many stolen
    /// sessions guessed from one network.
    CodesPerIp,
    /// Codes and links sent to one email address or phone number.
    SendsPerDestination,
}

impl Limit {
    fn binding(self) -> &'static str {
        match self {
            Limit::Unauthenticated => "LIMIT_UNAUTHENTICATED",
            Limit::SendsPerIp => "LIMIT_SENDS_PER_IP",
            Limit::CodesPerIp => "LIMIT_CODES_PER_IP",
            Limit::SendsPerDestination => "LIMIT_SENDS_PER_DESTINATION",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Limit::Unauthenticated => "Too many requests from this network",
            Limit::SendsPerIp => "Too many codes were sent from this network",
            Limit::CodesPerIp => "Too many codes were tried from this network",
            Limit::SendsPerDestination => "Too many codes were sent to this address",
        }
    }
}

/// The bindings' period: Workers Rate Limiting counts per 10 or 60 seconds.
const PERIOD_SECS: u64 = 60;

/// The client's network as Cloudflare saw it (`CF-Connecting-IP`): the
/// address for IPv4, the /64 prefix for IPv6 (one host may hold a whole /64
/// and pick any address in it).
pub fn client_ip(req: &Request) -> String {
    let ip = req
        .headers()
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".to_owned());
    actiongate_core::geo::network_of(&ip)
}

/// Count one request against `limit` for `key`.
///
/// # Errors
/// 429 with `Retry-After` when over the limit; 500 `server_misconfigured`
/// when the binding is missing; 503 when it fails.
pub async fn check(env: &Env, limit: Limit, key: &str) -> Result<(), ApiError> {
    let limiter = env.rate_limiter(limit.binding()).map_err(|e| {
        worker::console_error!("rate limiting binding {} missing: {e}", limit.binding());
        ApiError::new(
            500,
            "server_misconfigured",
            format!(
                "The worker is misconfigured: the rate limiting binding {} is missing.",
                limit.binding()
            ),
        )
    })?;
    let outcome = limiter
        .limit(format!("{}:{key}", limit.binding()))
        .await
        .map_err(ApiError::unavailable)?;
    if outcome.success {
        Ok(())
    } else {
        let mut e = ApiError::new(
            429,
            "too_many_requests",
            format!("{}. Try again in a minute.", limit.what()),
        );
        e.headers.push(("Retry-After", PERIOD_SECS.to_string()));
        Err(e)
    }
}

/// A destination (email address or phone number) as a key: hashed, so no
/// address leaves the worker, and case-folded, so `A@x` is `a@x`.
pub fn destination_key(to: &str) -> String {
    actiongate_core::encoding::sha256_hex(to.trim().to_lowercase().as_bytes())
}
