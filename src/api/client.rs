//! The Client API (`/v1/client/...`): what `@authsignal/browser` calls from
//! the user's browser, authenticated by the bearer token that track issued
//! for one action. So far: the authenticator-app (TOTP) client
//! (`authsignal.totp.enroll()` and `.verify({code})`), and `GET
//! /v1/client/action`, what the hosted challenge page shows (methods, the
//! rendered message, where to return); the email OTP and SMS clients
//! (`authsignal.email.enroll({email})` / `authsignal.sms.enroll({phoneNumber})`,
//! `.challenge()`, `.verify({code})`).
//!
//! Browsers call it from the app's origin, so answers carry CORS headers for
//! the origins of `REDIRECT_URL_ALLOWLIST` (and the worker's own).

use actiongate_core::auth::otp::Channel;
use actiongate_core::auth::token::ActionClaims;
use serde::Deserialize;
use worker::{Env, Headers, Method, Request, Response};

use crate::http::{ApiError, json_response, read_json_body, wire_body};
use crate::request::{bearer, verifier};
use crate::settings;
use crate::users::client::call_user;
use crate::users::commands::UserCommand;
use serde_json::json;

/// Handle `/v1/client/<rest>`.
///
/// # Errors
/// Never: errors are answered as responses with CORS headers.
pub async fn handle(
    mut req: Request,
    env: &Env,
    rest: &[&str],
    routed: Result<(), ApiError>,
) -> Result<Response, ApiError> {
    let origin = req.headers().get("Origin").ok().flatten();
    let result = if let Err(e) = routed {
        Err(e)
    } else if req.method() == Method::Options {
        Response::empty()
            .map(|r| r.with_status(204))
            .map_err(ApiError::internal)
    } else {
        route(&mut req, env, rest).await
    };
    let response = match result {
        Ok(r) => r,
        Err(e) => e.into_response().map_err(ApiError::internal)?,
    };
    with_cors(response, env, origin.as_deref(), &req)
}

async fn route(req: &mut Request, env: &Env, rest: &[&str]) -> Result<Response, ApiError> {
    if crate::api::passkey::is_route(rest) {
        return crate::api::passkey::handle(req, env, rest).await;
    }
    // Every route is the user's (the router checked path and method): the
    // token, then the work.
    let claims = bearer(req, env)?;
    let (user_id, action_code, idempotency_key) = (
        claims.user_id.clone(),
        claims.action_code.clone(),
        claims.idempotency_key.clone(),
    );
    let cmd = match rest {
        ["action"] => UserCommand::ChallengeInfo {
            user_id,
            action_code,
            idempotency_key,
            proved: claims.proved,
        },
        ["action", "cancel"] => UserCommand::Cancel {
            action_code,
            idempotency_key,
        },
        ["user-authenticators", "totp"] => UserCommand::EnrollTotp {
            user_id,
            action_code,
            idempotency_key,
            proved: claims.proved,
        },
        ["user-authenticators", "recovery-code"] => UserCommand::RegenerateRecoveryCodes {
            action_code,
            idempotency_key,
            proved: claims.proved,
        },
        ["verify", "email-magic-link", "finalize"] => UserCommand::MagicLinkStatus {
            user_id,
            action_code,
            idempotency_key,
        },
        ["verify", kind] => {
            let ip = crate::limits::client_ip(req);
            crate::limits::check(env, crate::limits::Limit::CodesPerIp, &ip).await?;
            let body = read_json_body(req).await?;
            let v: VerifyRequest = wire_body(&body)?;
            let verifier = verifier(req);
            UserCommand::VerifyCode {
                user_id,
                action_code,
                idempotency_key,
                channel: code_channel(kind),
                code: v.verification_code,
                verifier,
                recovery_code: *kind == "recovery-code",
            }
        }
        [step @ ("user-authenticators" | "challenge"), kind] => {
            let channel = code_channel(kind).ok_or_else(ApiError::not_found)?;
            let enroll_to = if *step == "user-authenticators" {
                let body = read_json_body(req).await?;
                let e: EnrollAddressRequest = wire_body(&body)?;
                Some(e.address(channel)?)
            } else {
                None
            };
            let link = (channel == Channel::MagicLink)
                .then(|| magic_link_base(req, env, &claims))
                .transpose()?;
            let enrolling = enroll_to.is_some();
            let ip = crate::limits::client_ip(req);
            crate::limits::check(env, crate::limits::Limit::SendsPerIp, &ip).await?;
            let local = req.url().is_ok_and(|u| crate::settings::is_local(&u));
            let sent = issue_code(env, local, claims, channel, enroll_to, link).await?;
            return if enrolling {
                json_response(
                    200,
                    &json!({"userAuthenticatorId": sent.get("userAuthenticatorId"), "userId": sent.get("userId")}),
                )
            } else {
                json_response(
                    200,
                    &json!({"challengeId": uuid::Uuid::new_v4().to_string()}),
                )
            };
        }
        _ => return Err(ApiError::not_found()),
    };
    let resp = call_user(env, &claims.user_id, &cmd).await?;
    if rest == ["action"]
        && resp.status_code() == 200
        && let Some(embedder) = query_param(req, "embedder")
    {
        // The hosted page in popup mode asks whether the page that opened it
        // may receive the token; it posts the token to that origin only.
        let mut info: serde_json::Value = crate::http::read_json(&resp)
            .await
            .map_err(ApiError::internal)?;
        if let Some(o) = info.as_object_mut() {
            o.insert(
                "embedderAllowed".into(),
                cors_origin_allowed(env, &embedder, req).into(),
            );
        }
        return json_response(200, &info);
    }
    Ok(resp)
}

fn query_param(req: &Request, name: &str) -> Option<String> {
    req.url()
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The channel of a Client API path segment; `None` for the authenticator app.
fn code_channel(kind: &str) -> Option<Channel> {
    match kind {
        "email-otp" => Some(Channel::Email),
        "sms" => Some(Channel::Sms),
        "whatsapp" => Some(Channel::Whatsapp),
        "email-magic-link" => Some(Channel::MagicLink),
        _ => None,
    }
}

/// Body of an email, SMS, WhatsApp or magic-link enrollment: the address the method uses.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnrollAddressRequest {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
}

impl EnrollAddressRequest {
    /// The address for `channel`, refusing a missing one or the other kind.
    fn address(self, channel: Channel) -> Result<String, ApiError> {
        let (wanted, other, value, stray) = if channel.is_email() {
            ("email", "phoneNumber", self.email, self.phone_number)
        } else {
            ("phoneNumber", "email", self.phone_number, self.email)
        };
        if stray.is_some() {
            return Err(ApiError::bad_request(format!(
                "{other}: not used by this method"
            )));
        }
        value.ok_or_else(|| ApiError::bad_request(format!("{wanted}: required")))
    }
}

/// `https://<worker>/__actiongate/magic-link?token=<link token>`: the
/// link's secret is added once it exists. The token is not the action's
/// bearer token but one that only opens this link (it is signed for another
/// issuer), valid as long as the link's secret.
fn magic_link_base(req: &Request, env: &Env, claims: &ActionClaims) -> Result<String, ApiError> {
    let url = req.url().map_err(ApiError::internal)?;
    let ttl = u64::try_from(actiongate_core::auth::otp::EMAIL_CODE_TTL_MS / 1000).unwrap_or(600);
    let token = settings::token_keys(env)?
        .sign_link(
            &ActionClaims {
                proved: false,
                ..claims.clone()
            },
            crate::clock::now_secs(),
            ttl,
        )
        .map_err(ApiError::internal)?;
    let mut link = url
        .join(crate::request::MAGIC_LINK_PATH)
        .map_err(ApiError::internal)?;
    link.query_pairs_mut().append_pair("token", &token);
    Ok(link.to_string())
}

/// Issue a code (or link) in the user's object, then hand it to the app
/// (`email.created` or `sms.created`).
async fn issue_code(
    env: &Env,
    local: bool,
    claims: ActionClaims,
    channel: Channel,
    enroll_to: Option<String>,
    link_base: Option<String>,
) -> Result<serde_json::Value, ApiError> {
    // One address flooded through several accounts, each enrolling it:
    // checked before anything is issued. A code to an address the user
    // already verified is limited per user instead, so that strangers
    // enrolling the address cannot use up its owner's sends.
    if let Some(to) = &enroll_to {
        crate::limits::check(
            env,
            crate::limits::Limit::SendsPerDestination,
            &crate::limits::destination_key(to),
        )
        .await?;
    }
    let cmd = UserCommand::IssueCode {
        user_id: claims.user_id.clone(),
        action_code: claims.action_code,
        idempotency_key: claims.idempotency_key,
        channel,
        enroll_to,
        proved: claims.proved,
    };
    let mut resp = call_user(env, &claims.user_id, &cmd).await?;
    if resp.status_code() != 200 {
        return Err(crate::users::client::relay_error(&mut resp).await);
    }
    let mut sent: serde_json::Value = crate::http::read_json(&resp)
        .await
        .map_err(ApiError::internal)?;
    let secret = sent
        .get("code")
        .and_then(|c| c.as_str())
        .unwrap_or("")
        .to_owned();
    let (code, url) = match link_base {
        Some(base) => (None, Some(format!("{base}&secret={secret}"))),
        None => (Some(secret), None),
    };
    let mut data = json!({
        "to": sent.get("to"),
        "userId": sent.get("userId"),
        "actionCode": sent.get("actionCode"),
        "idempotencyKey": sent.get("idempotencyKey"),
        "userAgent": sent.get("userAgent"),
        "ipAddress": sent.get("ipAddress"),
        "locale": sent.get("locale"),
    });
    if let Some(o) = data.as_object_mut() {
        match (code, url) {
            (Some(c), _) => o.insert("code".into(), json!(c)),
            (_, Some(u)) => o.insert("url".into(), json!(u)),
            _ => None,
        };
    }
    // The code goes to the app's webhook only, never into a Client API answer.
    if let Some(o) = sent.as_object_mut() {
        o.remove("code");
    }
    crate::delivery::deliver(env, local, channel.event_type(), data).await?;
    Ok(sent)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyRequest {
    verification_code: String,
}

/// The origins allowed to call the Client API from a browser, and to receive
/// a token from the hosted page in popup mode: the worker's own and those of
/// `REDIRECT_URL_ALLOWLIST`.
fn cors_origin_allowed(env: &Env, origin: &str, req: &Request) -> bool {
    if req
        .url()
        .is_ok_and(|u| u.origin().ascii_serialization() == origin)
    {
        return true;
    }
    settings::redirect_allowlist(env).is_ok_and(|list| list.allows_origin(origin))
}

fn with_cors(
    resp: Response,
    env: &Env,
    origin: Option<&str>,
    req: &Request,
) -> Result<Response, ApiError> {
    let Some(origin) = origin.filter(|o| cors_origin_allowed(env, o, req)) else {
        return Ok(resp);
    };
    let headers = Headers::new();
    for (k, v) in resp.headers().entries() {
        headers.append(&k, &v).map_err(ApiError::internal)?;
    }
    for (k, v) in [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"),
        (
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type",
        ),
        ("Access-Control-Max-Age", "600"),
        ("Vary", "Origin"),
    ] {
        headers.set(k, v).map_err(ApiError::internal)?;
    }
    Ok(resp.with_headers(headers))
}

/// Largest body the magic-link confirmation accepts (bytes).
const MAGIC_LINK_MAX_BODY: usize = 8 * 1024;

/// `/__actiongate/magic-link?token=…&secret=…`: the link in the email.
///
/// `GET` only shows a confirmation button: mail scanners fetch links before
/// people click them, and a fetch must not complete anyone's challenge. The
/// button `POST`s the same token and secret; that completes the challenge,
/// and the page that sent the link sees it on its next `finalize` poll.
///
/// # Errors
/// Never: answers are pages.
pub async fn open_magic_link(mut req: Request, env: &Env) -> Result<Response, ApiError> {
    use actiongate_core::present::{Lang, LinkPage, link_words};
    let url = req.url().map_err(ApiError::internal)?;
    let lang = Lang::choose(
        None,
        crate::request::header(&req, "Accept-Language").as_deref(),
    );
    let esc = actiongate_core::present::escape;
    let page = |status: u16, title: &str, body: String| {
        crate::http::html_response(
            status,
            format!(
                "<!doctype html><html lang=\"{l}\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\"><title>{t}</title><link rel=\"stylesheet\" href=\"/__actiongate/challenge.css\"><body><main><h1>{t}</h1>{body}</main></body></html>",
                l = lang.tag(),
                t = esc(title)
            ),
        )
    };
    let words = |which: LinkPage, status: u16| {
        let (title, text, _) = link_words(which, lang);
        page(status, title, format!("<p id=\"result\">{}</p>", esc(text)))
    };
    let fields: Vec<(String, String)> = if req.method() == Method::Post {
        // The confirmation form posts a token and a secret: a few hundred
        // bytes. Anything past the limit is refused before it is read.
        let body = match crate::http::read_limited(&mut req, MAGIC_LINK_MAX_BODY).await {
            Ok(b) => b,
            Err(e) => return words(LinkPage::Incomplete, e.status),
        };
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        url.query_pairs().into_owned().collect()
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (Some(token), Some(secret)) = (field("token"), field("secret")) else {
        return words(LinkPage::Incomplete, 400);
    };
    if req.method() != Method::Post {
        let (title, text, button) = link_words(LinkPage::Confirm, lang);
        return page(
            200,
            title,
            format!(
                "<p>{}</p><form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{}\"><input type=\"hidden\" name=\"secret\" value=\"{}\"><button id=\"confirm\">{}</button></form>",
                esc(text),
                esc(&token),
                esc(&secret),
                esc(button)
            ),
        );
    }
    let keys = settings::token_keys(env)?;
    let Ok(verified) = keys.verify_link(&token, crate::clock::now_secs()) else {
        return words(LinkPage::Invalid, 403);
    };
    let claims = verified.claims;
    let cmd = UserCommand::VerifyCode {
        user_id: claims.user_id.clone(),
        action_code: claims.action_code,
        idempotency_key: claims.idempotency_key,
        channel: Some(Channel::MagicLink),
        code: secret,
        // A magic link proves no whereabouts at all.
        verifier: crate::users::commands::Verifier::default(),
        recovery_code: false,
    };
    let resp = call_user(env, &claims.user_id, &cmd).await?;
    let body: serde_json::Value = crate::http::read_json(&resp).await.unwrap_or_default();
    if body.get("isVerified").and_then(serde_json::Value::as_bool) == Some(true) {
        words(LinkPage::Verified, 200)
    } else {
        words(LinkPage::Refused, 403)
    }
}
