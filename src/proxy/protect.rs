//! A protected request: tracked with what the edge knows, then
//! forwarded signed, challenged, held for review or refused.

use actiongate_core::actions::model::{PendingRequest, TrackRequest};
use actiongate_core::encoding::sha256_hex;
use actiongate_core::proxy::{
    ActionFacts, ProxyConfig, RequestParts, RouteConfig, Selection, read_custom,
};
use serde_json::{Value, json};
use worker::web_sys;
use worker::{Env, Request, Response};

use crate::http::{ApiError, json_response};
use crate::origin::forward;
use crate::origin::{b64, origin_url, signed_headers, with_extra_headers};
use crate::request::{
    RESUME_PATH, TOKEN_HEADER, browser, device_cookie, device_id, edge_info, header,
};
use crate::users::client::call_user;
use crate::users::commands::UserCommand;

use super::classify::{path_and_query, select_with_body};
use super::pages::{fail_closed, page, refuse, see_other, unauthenticated};
use super::release::{retry, text_field};
use super::session::{identify, identify_now};

/// Request headers kept with a held-back request for its replay (the
/// method overrides too: the route checked may be the one they named).
pub(super) const KEPT_HEADERS: [&str; 10] = [
    "content-type",
    "accept",
    "accept-language",
    "user-agent",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x_http_method_override",
    "x_http_method",
    "x_method_override",
];

pub(super) async fn protected(
    req: Request,
    env: &Env,
    cfg: &ProxyConfig,
    route: &RouteConfig,
    params: std::collections::BTreeMap<String, String>,
    body: Vec<u8>,
) -> Result<Response, ApiError> {
    let html = browser(&req);
    let url = req.url().map_err(ApiError::internal)?;
    let user_id = match identify(&req, env, cfg).await {
        Ok(u) => u,
        Err(why) => return unauthenticated(&req, cfg, why),
    };
    if let Some(token) = header(&req, TOKEN_HEADER) {
        // The retry must read as strictly as the request did, and to the
        // same attributes (the claim compares them, with the method, path
        // and body hash): headers and the query can change otherwise.
        let custom = match attributes(&lowercase_headers(&req), &url, route, params, &body) {
            Ok(c) => c,
            Err(e) => return refuse(html, e),
        };
        let pq = path_and_query(&url);
        return retry(&req, env, cfg, route, &user_id, &token, &pq, body, custom).await;
    }
    let (plan, cmd) = match plan(&req, &url, cfg, route, params, user_id, &body) {
        Ok(p) => p,
        Err(e) => return refuse(html, e),
    };
    let (status, text) = match call_user(env, &plan.user_id, &cmd).await {
        Ok(r) => (
            r.status_code(),
            crate::http::read_text(&r)
                .await
                .map_err(ApiError::internal)?,
        ),
        Err(e) => return fail_closed(html, e),
    };
    match answer(&plan, status, &text)? {
        Answer::Respond(r) => Ok(r),
        Answer::Forward { key, cookie } => {
            let resp = forward(
                &req,
                env,
                cfg,
                &plan.path_and_query,
                &plan.user_id,
                &plan.action,
                "ALLOW",
                &key,
                body,
            )
            .await?;
            with_extra_headers(
                resp,
                &cookie
                    .map(|c| ("Set-Cookie", c))
                    .into_iter()
                    .collect::<Vec<_>>(),
            )
        }
    }
}

/// A protected request once its user is known and its body read: what
/// [`answer`] needs of it besides the user object's reply. The JavaScript
/// entry carries it (as JSON) from [`protect_call`] to [`protect_answer`].
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Plan {
    user_id: String,
    action: String,
    /// The client asked for pages, in this language.
    html: Option<actiongate_core::present::Lang>,
    method: String,
    path_and_query: String,
    /// The device id the action is tracked with.
    device: String,
    /// The device cookie was missing: set it on the answer.
    new_device: bool,
    /// The request came over https (the device cookie is `Secure`).
    secure: bool,
    replay_on_approval: bool,
    /// Where an ALLOW goes: the app's URL for the request, and its service
    /// binding if it has one (the configuration of the moment the request
    /// was checked, even if the isolate's copy expires meanwhile).
    to: String,
    service: Option<String>,
    /// SHA-256 of the body forwarded, hex (signed for the app).
    body_sha256: String,
}

pub(super) fn lowercase_headers(req: &Request) -> Vec<(String, String)> {
    req.headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// The route's `custom` attributes, read strictly (one reading of each
/// request: see `actiongate_core::proxy::read_custom`), from the request's
/// headers as [`lowercase_headers`] lists them (read once per request:
/// each entry crosses from JavaScript).
pub(super) fn attributes(
    headers: &[(String, String)],
    url: &worker::Url,
    route: &RouteConfig,
    params: std::collections::BTreeMap<String, String>,
    body: &[u8],
) -> Result<serde_json::Map<String, Value>, ApiError> {
    // Header iteration joins a repeated header's values, as `get` does.
    let ctype = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    read_custom(
        route,
        &RequestParts {
            headers: headers.to_vec(),
            query: url.query().unwrap_or(""),
            body,
            content_type: ctype,
            params,
        },
    )
    .map_err(ApiError::from)
}

/// The user object's track command for a protected request, and its [`Plan`].
pub(super) fn plan(
    req: &Request,
    url: &worker::Url,
    cfg: &ProxyConfig,
    route: &RouteConfig,
    params: std::collections::BTreeMap<String, String>,
    user_id: String,
    body: &[u8],
) -> Result<(Plan, UserCommand), ApiError> {
    let pq = path_and_query(url);
    let method = req.inner().method();
    let headers = lowercase_headers(req);
    let custom = attributes(&headers, url, route, params, body)?;
    let (device, new_device) = device_id(req);
    let edge = edge_info(req);
    let origin = url.origin().ascii_serialization();
    let pending = PendingRequest {
        method: method.clone(),
        path_and_query: pq.clone(),
        headers: headers
            .into_iter()
            .filter(|(k, _)| KEPT_HEADERS.contains(&k.as_str()))
            .collect(),
        body: b64(body),
        body_sha256: sha256_hex(body),
        replay_on_approval: route.replay_on_approval,
        // Set by the user object when it stores the action.
        expires_at: None,
    };
    let body_sha256 = pending.body_sha256.clone();
    let request = TrackRequest {
        custom: Some(custom),
        device_id: Some(device.clone()),
        ip_address: edge.ip.clone(),
        user_agent: edge.user_agent.clone(),
        redirect_url: Some(format!("{origin}{RESUME_PATH}")),
        ..TrackRequest::default()
    };
    let cmd = UserCommand::Track(crate::users::commands::Track {
        user_id: user_id.clone(),
        action_code: route.action.clone(),
        request,
        origin,
        edge: Some(edge),
        pending: Some(pending),
    });
    let to = origin_url(cfg, &pq);
    let plan = Plan {
        user_id,
        action: route.action.clone(),
        html: browser(req),
        method,
        path_and_query: pq,
        device,
        new_device,
        secure: url.scheme() == "https",
        replay_on_approval: route.replay_on_approval,
        to,
        service: cfg.origin_service.clone(),
        body_sha256,
    };
    Ok((plan, cmd))
}

/// What a protected request gets once its action is tracked.
pub(super) enum Answer {
    /// ALLOW: forward it to the app, signed with this idempotency key,
    /// and set the device cookie on the app's answer when there is one.
    Forward { key: String, cookie: Option<String> },
    /// Anything else, answered here (the device cookie included).
    Respond(Response),
}

/// Decide from the user object's reply to the track command (its status
/// and body text; status 0: the object could not be reached, `text` says
/// why).
pub(super) fn answer(plan: &Plan, status: u16, text: &str) -> Result<Answer, ApiError> {
    let html = plan.html;
    if status == 0 {
        return fail_closed(html, ApiError::unavailable(text)).map(Answer::Respond);
    }
    if status != 200 {
        // The action could not be tracked: never forward unverified.
        worker::console_error!("edge track failed with {status}: {text}");
        return refuse(
            html,
            ApiError::new(
                503,
                "service_unavailable",
                "The request could not be checked; nothing was forwarded. Retry later.",
            ),
        )
        .map(Answer::Respond);
    }
    let t: Value = actiongate_core::encoding::from_json(text).map_err(ApiError::internal)?;
    let state = text_field(&t, "state");
    let key = text_field(&t, "idempotencyKey");
    let token = text_field(&t, "token");
    let challenge_url = text_field(&t, "url");
    let cookie = plan
        .new_device
        .then(|| device_cookie(&plan.device, plan.secure));
    let response = match state.as_str() {
        "ALLOW" => return Ok(Answer::Forward { key, cookie }),
        "CHALLENGE_REQUIRED" if html.is_some() => see_other(&challenge_url)?,
        "CHALLENGE_REQUIRED" => json_response(
            401,
            &json!({
                "error": "challenge_required",
                "errorCode": "challenge_required",
                "errorDescription": format!("Complete the challenge at url, then retry the same request with the {TOKEN_HEADER} header."),
                "state": state, "token": token, "url": challenge_url, "idempotencyKey": key,
            }),
        )?,
        // A browser sees where its request stands on a page of its own
        // (Post/Redirect/Get): reloading it never sends the request again.
        "REVIEW_REQUIRED" | "BLOCK" if html.is_some() && !token.is_empty() => see_other(
            &super::outcome::outcome_url(&token, plan.replay_on_approval),
        )?,
        "REVIEW_REQUIRED" if let Some(lang) = html => {
            let (title, text) =
                actiongate_core::present::outcome_words("REVIEW_REQUIRED", false, lang);
            page(lang, 202, title, text)?
        }
        "REVIEW_REQUIRED" => json_response(
            202,
            &json!({"state": state, "token": token, "idempotencyKey": key,
                    "message": format!("The request is held for manual review; retry it with the {TOKEN_HEADER} header once approved.")}),
        )?,
        _ if let Some(lang) = html => {
            let (title, text) = actiongate_core::present::refusal_words("action_blocked", lang);
            page(lang, 403, title, text)?
        }
        _ => json_response(
            403,
            &json!({"error": "blocked", "errorCode": "blocked", "errorDescription": "This request was blocked.",
                    "state": state, "idempotencyKey": key}),
        )?,
    };
    let extra: Vec<(&str, String)> = cookie.map(|c| ("Set-Cookie", c)).into_iter().collect();
    with_extra_headers(response, &extra).map(Answer::Respond)
}

/// The JavaScript entry's first question for a protected route (src/entry.mjs),
/// answered without awaiting anything once it has read the body: the user
/// object's track command and the plan for [`protect_answer`], or the
/// answer itself (401, a login redirect). `None` leaves the request to the
/// full path ([`crate::proxy::handle`]): a configuration not
/// cached, a request that is not for a protected route after all, a retry
/// with a token, a JWKS not cached, a body over the limit.
pub fn protect_call(request: web_sys::Request, body: &[u8], env: &Env) -> Option<Protect> {
    let cfg = crate::config_store::cached_proxy()??;
    if body.len() > cfg.max_body_bytes {
        return None;
    }
    let req = Request::from(request);
    let url = req.url().ok()?;
    if let Err(e) = crate::settings::check_deployment(env, crate::settings::is_local(&url)) {
        return Some(Protect::Respond(e.into_response().ok()?));
    }
    // Which route, now that the body (and any `_method` in it) is known;
    // an unprotected or ambiguous request takes the full path.
    let Selection::One(route, params) = select_with_body(req.inner(), &url, &cfg, body) else {
        return None;
    };
    if header(&req, TOKEN_HEADER).is_some() {
        return None;
    }
    let user_id = match identify_now(&req, env, &cfg)? {
        Ok(u) => u,
        Err(why) => return unauthenticated(&req, &cfg, why).ok().map(Protect::Respond),
    };
    let call = || -> Result<Protect, ApiError> {
        let (plan, cmd) = match plan(&req, &url, &cfg, route, params, user_id, body) {
            Ok(p) => p,
            Err(e) => return refuse(browser(&req), e).map(Protect::Respond),
        };
        Ok(Protect::Call {
            user_header: crate::users::client::user_header(&plan.user_id),
            command: serde_json::to_string(&cmd).map_err(ApiError::internal)?,
            plan: serde_json::to_string(&plan).map_err(ApiError::internal)?,
            user: plan.user_id,
        })
    };
    Some(match call() {
        Ok(p) => p,
        Err(e) => Protect::Respond(e.into_response().ok()?),
    })
}

/// What [`protect_call`] tells the entry to do.
pub enum Protect {
    /// Answer this.
    Respond(Response),
    /// Send the user object this command, then ask [`protect_answer`] with
    /// its reply and the plan.
    Call {
        /// The user.
        user: String,
        /// The header naming them to the object.
        user_header: String,
        /// The track command (JSON).
        command: String,
        /// What the answer needs of the request (JSON).
        plan: String,
    },
}

/// The JavaScript entry's second question for a protected route: given
/// the user object's reply to [`protect_call`]'s command (`status` 0: the
/// object could not be reached, `text` says why), either the answer or how
/// to forward (the signed `X-ActionGate-*` headers to set on a copy of the
/// request's headers without the client's own `X-ActionGate-*`).
pub fn protect_answer(plan: &str, status: u16, text: &str, env: &Env) -> Result<Next, ApiError> {
    let plan: Plan = actiongate_core::encoding::from_json(plan).map_err(ApiError::internal)?;
    match answer(&plan, status, text)? {
        Answer::Respond(r) => Ok(Next::Respond(r)),
        Answer::Forward { key, cookie } => {
            let signed = signed_headers(
                env,
                &plan.method,
                &plan.to,
                &plan.body_sha256,
                ActionFacts {
                    user_id: &plan.user_id,
                    action: &plan.action,
                    state: "ALLOW",
                    idempotency_key: &key,
                },
            )?;
            Ok(Next::Forward {
                url: plan.to,
                binding: plan.service,
                headers: signed.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                set_cookie: cookie,
            })
        }
    }
}

/// What [`protect_answer`] tells the entry to do.
pub enum Next {
    /// Answer this.
    Respond(Response),
    /// Forward the request (its headers without any of ActionGate's own,
    /// plus `headers`) to `url`, over `binding` if any, and add `set_cookie`
    /// to the app's answer if any.
    Forward {
        /// The app's URL for it.
        url: String,
        /// The app's service binding, if it has one.
        binding: Option<String>,
        /// The signed `X-ActionGate-*` headers, name and value.
        headers: Vec<(String, String)>,
        /// The device cookie to set, if the request had none.
        set_cookie: Option<String>,
    },
}
