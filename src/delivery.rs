//! Handing messages (codes) to the app, which sends them with its own
//! provider: an `email.created`, `sms.created` or `whatsapp.created` webhook in Authsignal's
//! format to `EMAIL_WEBHOOK_URL`, `SMS_WEBHOOK_URL` or `WHATSAPP_WEBHOOK_URL`, signed with the API
//! secret key, tried up to three times. Under local dev (`DEV_OUTBOX=true`, set only in `.dev.vars`) each
//! message is also kept for an hour in the dev outbox, a page at
//! `/__actiongate/outbox`; a deployed worker has no outbox.

use actiongate_core::time::to_rfc3339;
use actiongate_core::webhook::{envelope, signature_header};
use serde_json::Value;
use worker::{Delay, Env, Fetch, Headers, Response};

use crate::config_store;
use crate::http::{ApiError, html_response, json_response};
use crate::settings;

/// KV prefix of dev outbox messages.
const OUTBOX_PREFIX: &str = "dev-outbox:";
/// Attempts to deliver a webhook.
const ATTEMPTS: u32 = 3;

/// Whether the dev outbox is on: `DEV_OUTBOX=true` and a request to
/// `localhost` or `127.0.0.1` (`local`). A deployed worker that was given
/// the variable by mistake still keeps and shows nothing.
pub fn outbox_enabled(env: &Env, local: bool) -> bool {
    local && settings::var(env, "DEV_OUTBOX") == "true"
}

/// The verification methods this deployment can complete (getUser's
/// `allowedVerificationMethods`): the ones that need nothing sent, and those
/// [`deliver`] has somewhere to send to (a webhook, or locally the dev
/// outbox). WhatsApp messages go where texts go when they have no webhook of
/// their own.
pub fn deliverable_methods(
    env: &Env,
    local: bool,
) -> Vec<actiongate_core::auth::methods::VerificationMethod> {
    let outbox = outbox_enabled(env, local);
    let can = |kind: &str| outbox || !webhook_url(env, kind).is_empty();
    actiongate_core::auth::methods::deliverable_methods(can("email"), can("sms"), can("whatsapp"))
}

/// Where messages of `kind` (an event type's first part: `email`, `sms`,
/// `whatsapp`) are posted; empty when nowhere. WhatsApp messages go where
/// texts go when they have no webhook of their own.
fn webhook_url(env: &Env, kind: &str) -> String {
    match kind {
        "sms" => settings::var(env, "SMS_WEBHOOK_URL"),
        "whatsapp" => Some(settings::var(env, "WHATSAPP_WEBHOOK_URL"))
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| settings::var(env, "SMS_WEBHOOK_URL")),
        _ => settings::var(env, "EMAIL_WEBHOOK_URL"),
    }
}

/// Deliver an event: dev outbox and/or webhook.
///
/// # Errors
/// 503 when no delivery is configured; 502 when the webhook failed every attempt.
pub async fn deliver(
    env: &Env,
    local: bool,
    event_type: &str,
    data: Value,
) -> Result<(), ApiError> {
    let now = crate::clock::now_ms_u64();
    let id = uuid::Uuid::new_v4().to_string();
    let event = webhook_envelope(env, event_type, &id, data);
    let url = webhook_url(env, event_type.split('.').next().unwrap_or_default());
    let outbox = outbox_enabled(env, local);
    if url.is_empty() && !outbox {
        return Err(ApiError::new(
            503,
            "delivery_not_configured",
            "Sending codes is not configured for this deployment (EMAIL_WEBHOOK_URL, SMS_WEBHOOK_URL, WHATSAPP_WEBHOOK_URL).",
        ));
    }
    if outbox {
        let key = format!("{OUTBOX_PREFIX}{:013}-{id}", now);
        config_store::kv(env)?
            .put(&key, event.to_string())
            .map_err(ApiError::unavailable)?
            .expiration_ttl(3600)
            .execute()
            .await
            .map_err(ApiError::unavailable)?;
    }
    if url.is_empty() {
        return Ok(());
    }
    let secret = settings::secret(env, "API_SECRET_KEY")?;
    let body = event.to_string();
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            Delay::from(std::time::Duration::from_millis(
                250 * u64::from(attempt * attempt),
            ))
            .await;
        }
        match post_signed(&url, &body, &secret).await {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    worker::console_error!("{event_type} webhook failed after {ATTEMPTS} attempts: {last}");
    Err(ApiError::new(
        502,
        "delivery_failed",
        "The code could not be sent. Try again.",
    ))
}

/// The webhook envelope of an event, in Authsignal's format.
pub fn webhook_envelope(env: &Env, event_type: &str, id: &str, data: Value) -> Value {
    let now = crate::clock::now_ms_u64();
    let tenant = match settings::var(env, "TENANT_ID") {
        t if t.is_empty() => "actiongate".to_owned(),
        t => t,
    };
    envelope(
        event_type,
        id,
        &to_rfc3339(i64::try_from(now).unwrap_or(0)),
        &tenant,
        data,
    )
}

/// POST `body` to `url` once, signed with `X-Signature-V2` under `secret`.
///
/// # Errors
/// Why it failed (status or network error), for the log.
pub async fn post_signed(url: &str, body: &str, secret: &str) -> Result<(), String> {
    let headers = Headers::new();
    let signed = signature_header(body, secret, crate::clock::now_secs());
    for (k, v) in [
        ("Content-Type", "application/json"),
        ("X-Signature-V2", signed.as_str()),
    ] {
        headers.set(k, v).map_err(|e| e.to_string())?;
    }
    let request =
        crate::http::outgoing_request(url, "POST", Some(&headers), false, Some(&body.into()))
            .map_err(|e| e.to_string())?;
    match Fetch::Request(request).send().await {
        Ok(r) if (200..300).contains(&r.status_code()) => Ok(()),
        Ok(r) => Err(format!("status {}", r.status_code())),
        Err(e) => Err(e.to_string()),
    }
}

/// `/__actiongate/outbox` (a page) and `/__actiongate/outbox.json`, newest first.
///
/// # Errors
/// 404 when the outbox is off (any deployed worker); 503 when KV fails.
pub async fn outbox(env: &Env, local: bool, json: bool) -> Result<Response, ApiError> {
    if !outbox_enabled(env, local) {
        return Err(ApiError::not_found());
    }
    let mut messages = Vec::new();
    let mut keys = config_store::list_keys(env, OUTBOX_PREFIX).await?;
    keys.reverse();
    let kv = config_store::kv(env)?;
    for k in keys.into_iter().take(50) {
        if let Some(text) = kv.get(&k).text().await.map_err(ApiError::unavailable)? {
            messages
                .push(actiongate_core::encoding::from_json::<Value>(&text).unwrap_or(Value::Null));
        }
    }
    if json {
        return json_response(200, &messages);
    }
    let esc = actiongate_core::present::escape;
    let rows: String = messages
        .iter()
        .map(|m| {
            let d = m.get("data").cloned().unwrap_or_default();
            let s = |k: &str| esc(d.get(k).and_then(Value::as_str).unwrap_or(""));
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"code\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(m.get("time").and_then(Value::as_str).unwrap_or("")),
                esc(m.get("type").and_then(Value::as_str).unwrap_or("")),
                s("to"),
                match d.get("url").and_then(Value::as_str) {
                    Some(u) => format!("<a class=\"link\" href=\"{}\">open the link</a>", esc(u)),
                    None => s("code"),
                },
                s("actionCode"),
                s("userId"),
            )
        })
        .collect();
    let html = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Dev outbox</title><link rel=\"stylesheet\" href=\"/__actiongate/challenge.css\"><body class=\"outbox\"><main><h1>Dev outbox</h1><p>What this local worker would have sent (the last hour). Deployed workers have no outbox.</p><table><thead><tr><th>Time</th><th>Type</th><th>To</th><th>Code</th><th>Action</th><th>User</th></tr></thead><tbody>{rows}</tbody></table></main></body></html>"
    );
    html_response(200, html)
}
