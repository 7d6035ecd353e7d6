//! The admin portal's sign-in, and how management requests are authorised.
//!
//! The portal (`www/__actiongate/admin/`, static files at
//! `/__actiongate/admin`) signs in with the management secret at
//! `POST /__actiongate/admin/session`, which sets an HttpOnly,
//! `SameSite=Strict` session cookie (`__Host-ag_admin` over https,
//! `ag_admin` over plain http) and answers with a CSRF token; the portal
//! sends that token in `X-ActionGate-CSRF` with every management request.
//! `DELETE` signs out and revokes the session on the server (a KV entry
//! kept until the session would have expired), so a copied cookie stops
//! working at sign-out. The edge proxy never forwards the cookie to the app.
//!
//! Every management request, with the cookie or HTTP Basic, is refused
//! when the browser says it comes from another site (`Origin` of another
//! origin, `Sec-Fetch-Site: cross-site | same-site`): with a cached Basic
//! login or a cookie, a page elsewhere must not be able to act.

use actiongate_core::auth::admin_session::{self, AdminSession, CSRF_HEADER, SESSION_TTL_SECS};
use serde::Deserialize;
use serde_json::json;
use worker::{Env, Headers, Method, Request, Response};

use crate::clock::now_secs;
use crate::http::{ApiError, json_response};
use crate::settings;

const SECRET: &str = "MANAGEMENT_SECRET_KEY";

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

fn https(req: &Request) -> bool {
    req.url().is_ok_and(|u| u.scheme() == "https")
}

/// The request's portal session, if its cookie is sealed by `secret`,
/// unexpired and not revoked. Over https only the `__Host-` cookie counts.
///
/// # Errors
/// 503 when the revocation list cannot be read.
async fn current_session(
    req: &Request,
    env: &Env,
    secret: &str,
) -> Result<Option<AdminSession>, ApiError> {
    let Some(all) = header(req, "Cookie") else {
        return Ok(None);
    };
    let Some(session) =
        actiongate_core::proxy::cookie(&all, admin_session::cookie_name(https(req)))
            .and_then(|t| admin_session::open(secret, t, now_secs()))
    else {
        return Ok(None);
    };
    let revoked = crate::config_store::kv(env)?
        .get(&admin_session::revocation_key(&session))
        .text()
        .await
        .map_err(ApiError::unavailable)?;
    Ok(revoked.is_none().then_some(session))
}

/// Remember a session as revoked until it would have expired.
///
/// # Errors
/// 503 when KV fails.
async fn revoke(env: &Env, session: &AdminSession) -> Result<(), ApiError> {
    // KV keeps an entry for at least 60 s.
    let ttl = session.exp.saturating_sub(now_secs()).max(60);
    crate::config_store::kv(env)?
        .put(&admin_session::revocation_key(session), "revoked")
        .map_err(ApiError::unavailable)?
        .expiration_ttl(ttl)
        .execute()
        .await
        .map_err(ApiError::unavailable)
}

/// Refuse requests a browser marks as coming from another site.
fn same_site_only(req: &Request) -> Result<(), ApiError> {
    let refused = || {
        ApiError::new(
            403,
            "cross_site_request",
            "Management requests are accepted from this origin only.",
        )
    };
    if let Some(site) = header(req, "Sec-Fetch-Site")
        && matches!(site.as_str(), "cross-site" | "same-site")
    {
        return Err(refused());
    }
    if let Some(origin) = header(req, "Origin") {
        let own = req
            .url()
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        if origin != own {
            return Err(refused());
        }
    }
    Ok(())
}

/// Authorise a management request: HTTP Basic with the management secret,
/// or the portal's session cookie with its CSRF token; never cross-site.
///
/// # Errors
/// 403 cross-site or without the CSRF token, 401 without credentials.
pub async fn authorize(req: &Request, env: &Env) -> Result<(), ApiError> {
    same_site_only(req)?;
    if header(req, "Authorization").is_some() {
        return crate::request::authenticate(req, env, SECRET);
    }
    let secret = settings::secret(env, SECRET)?;
    match current_session(req, env, &secret).await? {
        Some(session) if admin_session::csrf_ok(&session, header(req, CSRF_HEADER).as_deref()) => {
            Ok(())
        }
        Some(_) => Err(ApiError::new(
            403,
            "csrf_token_missing",
            format!("Send the session's CSRF token in {CSRF_HEADER}."),
        )),
        None => crate::request::authenticate(req, env, SECRET).map_err(|mut e| {
            // A script's fetch (the portal after its session ended) must not
            // make the browser pop up its own Basic login.
            if header(req, "Sec-Fetch-Mode").is_some_and(|m| m != "navigate") {
                e.headers.retain(|(k, _)| *k != "WWW-Authenticate");
            }
            e
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    secret: String,
}

/// The session cookie. It needs `Path=/` (the `__Host-` prefix requires it,
/// and the portal calls `/v1/management` as well as `/__actiongate`); the
/// edge proxy strips it from everything it forwards to the app.
fn session_cookie(req: &Request, value: &str, max_age: u64) -> String {
    let secure = https(req);
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        admin_session::cookie_name(secure),
        if secure { "; Secure" } else { "" }
    )
}

fn with_cookie(resp: Response, cookie: &str) -> Result<Response, ApiError> {
    let headers = Headers::new();
    for (k, v) in resp.headers().entries() {
        headers.append(&k, &v).map_err(ApiError::internal)?;
    }
    headers
        .append("Set-Cookie", cookie)
        .map_err(ApiError::internal)?;
    headers
        .set("Cache-Control", "no-store")
        .map_err(ApiError::internal)?;
    Ok(resp.with_headers(headers))
}

/// `/__actiongate/admin/session`: `POST {secret}` signs in, `GET` tells the
/// portal its CSRF token, `DELETE` signs out.
///
/// # Errors
/// 401 for a wrong secret or no session, 403 cross-site.
pub async fn session(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    same_site_only(&req)?;
    let secret = settings::secret(env, SECRET)?;
    let current = current_session(&req, env, &secret).await?;
    match req.method() {
        Method::Post => {
            let ip = crate::limits::client_ip(&req);
            crate::limits::check(env, crate::limits::Limit::Unauthenticated, &ip).await?;
            let body = crate::http::read_json_body(&mut req).await?;
            let s: SignIn = actiongate_core::error::parse_json(&body)?;
            if !actiongate_core::auth::basic::secrets_equal(s.secret.as_bytes(), secret.as_bytes())
            {
                return Err(ApiError::new(
                    401,
                    "unauthorized",
                    "That is not the management secret.",
                ));
            }
            let mut random = [0u8; 32];
            getrandom::fill(&mut random)
                .map_err(|e| ApiError::internal(format!("getrandom: {e}")))?;
            let (sid, csrf) = random.split_at(16);
            let session = AdminSession {
                sid: actiongate_core::encoding::b64url(sid),
                exp: now_secs() + SESSION_TTL_SECS,
                csrf: actiongate_core::encoding::b64url(csrf),
            };
            let token = admin_session::seal(&secret, &session);
            let resp = json_response(
                200,
                &json!({"csrfToken": session.csrf, "expiresAt": session.exp}),
            )?;
            with_cookie(resp, &session_cookie(&req, &token, SESSION_TTL_SECS))
        }
        Method::Get => match current {
            Some(s) => json_response(200, &json!({"csrfToken": s.csrf, "expiresAt": s.exp})),
            None => Err(ApiError::new(401, "unauthorized", "Not signed in.")),
        },
        _ => {
            if let Some(s) = &current {
                if !admin_session::csrf_ok(s, header(&req, CSRF_HEADER).as_deref()) {
                    return Err(ApiError::new(
                        403,
                        "csrf_token_missing",
                        format!("Send the session's CSRF token in {CSRF_HEADER}."),
                    ));
                }
                revoke(env, s).await?;
            }
            let resp = json_response(200, &json!({"signedOut": true}))?;
            with_cookie(resp, &session_cookie(&req, "", 0))
        }
    }
}
