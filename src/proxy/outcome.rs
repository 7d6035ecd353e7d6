//! Where a browser lands after the proxy held or refused its request
//! (Post/Redirect/Get): `GET /__actiongate/outcome?token=…`, a page keyed
//! by the action, so reloading or going back shows the outcome again and
//! never submits the request a second time. It says what was asked in the
//! action's own words (its message), gives a short reference, the kind of
//! outcome (never a rule's internals), and a way back to the app.

use actiongate_core::present::Lang;
use serde_json::Value;
use worker::{Env, Request, Response};

use crate::http::{ApiError, html_response};
use crate::settings;
use crate::users::client::{call_user, relay_error};
use crate::users::commands::UserCommand;

use super::pages::page;

/// The path of the outcome page.
pub const OUTCOME_PATH: &str = "/__actiongate/outcome";

/// The outcome page's URL for an action's token; `replay` when an approval
/// carries out the held request without the person.
pub fn outcome_url(token: &str, replay: bool) -> String {
    let token = percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC);
    if replay {
        format!("{OUTCOME_PATH}?token={token}&then=replay")
    } else {
        format!("{OUTCOME_PATH}?token={token}")
    }
}

/// The outcome page.
///
/// # Errors
/// Storage failures as their errors.
pub async fn outcome(req: Request, env: &Env) -> Result<Response, ApiError> {
    let url = req.url().map_err(ApiError::internal)?;
    let query = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let accept = crate::request::header(&req, "Accept-Language");
    let browser_lang = Lang::choose(None, accept.as_deref());
    let (title, text) = actiongate_core::present::refusal_words("invalid_token", browser_lang);
    let Some(token) = query("token") else {
        return page(browser_lang, 400, title, text);
    };
    let keys = settings::token_keys(env)?;
    let Ok(verified) = keys.verify(&token, crate::clock::now_secs()) else {
        return page(browser_lang, 403, title, text);
    };
    let claims = verified.claims;
    let cmd = UserCommand::ChallengeInfo {
        user_id: claims.user_id.clone(),
        action_code: claims.action_code,
        idempotency_key: claims.idempotency_key,
        proved: false,
    };
    let mut resp = call_user(env, &claims.user_id, &cmd).await?;
    if resp.status_code() != 200 {
        let e = relay_error(&mut resp).await;
        let (title, text) = actiongate_core::present::refusal_words(e.code, browser_lang);
        return page(browser_lang, e.status, title, text);
    }
    let view: Value = crate::http::read_json(&resp)
        .await
        .map_err(ApiError::internal)?;
    let field = |k: &str| view.get(k).and_then(Value::as_str).unwrap_or_default();
    let replay = query("then").as_deref() == Some("replay");
    // The action's language when the app gave one, else the browser's.
    let lang = Lang::choose(
        view.get("locale").and_then(Value::as_str),
        accept.as_deref(),
    );
    let (title, text) = actiongate_core::present::outcome_words(field("state"), replay, lang);
    let esc = actiongate_core::present::escape;
    let reference: String = field("idempotencyKey")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase();
    // The message is rendered by the core with every value escaped.
    let message = view
        .get("messageHtml")
        .and_then(Value::as_str)
        .map(|m| format!("<p class=\"message\">{m}</p>"))
        .unwrap_or_default();
    html_response(
        200,
        format!(
            "<!doctype html><html lang=\"{l}\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{t}</title><link rel=\"stylesheet\" href=\"/__actiongate/challenge.css\"><body><main><h1>{t}</h1>{message}<p>{x}</p><p>{rl} <strong id=\"reference\">{r}</strong></p><p><a href=\"/\">{b}</a></p></main></body></html>",
            l = lang.tag(),
            t = esc(title),
            x = esc(text),
            rl = esc(lang.reference()),
            r = esc(&reference),
            b = esc(lang.back()),
        ),
    )
}
