//! The Server API's server-side challenges, as Authsignal's: `challenge`
//! (`POST /v1/challenge`), `verify` (`POST /v1/verify`), `claimChallenge`
//! (`POST /v1/claim`) and `getChallenge` (`GET /v1/challenges`).
//!
//! A challenge lives in its owner's object (see
//! `actiongate_core::auth::server_challenge`); its id names the owner, so
//! each call goes straight there. Codes reach the app by the same signed
//! webhooks as the Client API's.

use actiongate_core::auth::methods::VerificationMethod;
use actiongate_core::auth::otp::Channel;
use actiongate_core::auth::server_challenge::{address_owner, owner_of};
use actiongate_core::ids::{check_action_code, check_idempotency_key, check_user_id};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use worker::{Env, Request, Response};

use crate::http::{ApiError, json_response, read_json_body, wire_body};
use crate::request::authenticate;
use crate::users::client::{call_user, relay_error};
use crate::users::commands::UserCommand;

const API_SECRET: &str = "API_SECRET_KEY";
/// The action of a challenge the app named none for.
const DEFAULT_ACTION: &str = "challenge";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChallengeBody {
    verification_method: VerificationMethod,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    challenge_id: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    sms_channel: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    device_id: Option<String>,
    #[serde(default)]
    ip_address: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    custom: Option<Map<String, Value>>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyBody {
    challenge_id: String,
    verification_code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClaimBody {
    challenge_id: String,
    user_id: String,
    #[serde(default)]
    skip_verification_check: Option<bool>,
}

/// Handle `POST /v1/challenge`, `POST /v1/verify`, `POST /v1/claim` and
/// `GET /v1/challenges`.
///
/// # Errors
/// Any [`ApiError`].
pub async fn handle(mut req: Request, env: &Env, route: &str) -> Result<Response, ApiError> {
    if route == "challenges" {
        authenticate(&req, env, API_SECRET)?;
        return get(&req, env).await;
    }
    authenticate(&req, env, API_SECRET)?;
    let body = read_json_body(&mut req).await?;
    match route {
        "challenge" => {
            let url = req
                .url()
                .map_err(|_| ApiError::bad_request("The request URL is not valid."))?;
            start(env, &body, crate::settings::is_local(&url)).await
        }
        "verify" => {
            let b: VerifyBody = wire_body(&body)?;
            let owner = owner(&b.challenge_id)?;
            let cmd = UserCommand::VerifyChallenge {
                id: b.challenge_id,
                code: b.verification_code,
            };
            call_user(env, &owner, &cmd).await
        }
        _ => claim(env, &body).await,
    }
}

fn owner(challenge_id: &str) -> Result<String, ApiError> {
    owner_of(challenge_id)
        .ok_or_else(|| ApiError::new(404, "not_found", "No challenge with this id."))
}

async fn start(env: &Env, body: &[u8], local: bool) -> Result<Response, ApiError> {
    let b: ChallengeBody = wire_body(body)?;
    let whatsapp = b.sms_channel.as_deref() == Some("WHATSAPP");
    let (channel, to) = match b.verification_method {
        VerificationMethod::EmailOtp => (Channel::Email, b.email.clone()),
        VerificationMethod::Sms if whatsapp => (Channel::Whatsapp, b.phone_number.clone()),
        VerificationMethod::Sms => (Channel::Sms, b.phone_number.clone()),
        VerificationMethod::Whatsapp => (Channel::Whatsapp, b.phone_number.clone()),
        _ => {
            return Err(ApiError::bad_request(
                "verificationMethod: must be EMAIL_OTP, SMS or WHATSAPP",
            ));
        }
    };
    let field = if channel.is_email() {
        "email"
    } else {
        "phoneNumber"
    };
    let to = to
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{field}: required")))?;
    if let Some(u) = &b.user_id {
        check_user_id(u)?;
    }
    let action = b
        .action
        .clone()
        .unwrap_or_else(|| DEFAULT_ACTION.to_owned());
    check_action_code(&action, "action")?;
    if let Some(k) = &b.idempotency_key {
        check_idempotency_key(k)?;
    }
    let owner = b.user_id.clone().unwrap_or_else(|| address_owner(&to));
    if let Some(id) = &b.challenge_id
        && owner_of(id).as_deref() != Some(owner.as_str())
    {
        return Err(ApiError::bad_request(
            "challengeId: not a challenge for this user or address",
        ));
    }
    // Sends from one network, when the app says where its user is (the
    // Client API's limit), then one address flooded through many
    // challenges or users.
    if let Some(ip) = b.ip_address.as_deref().filter(|ip| !ip.trim().is_empty()) {
        crate::limits::check(env, crate::limits::Limit::SendsPerIp, ip.trim()).await?;
    }
    crate::limits::check(
        env,
        crate::limits::Limit::SendsPerDestination,
        &crate::limits::destination_key(&to),
    )
    .await?;
    let request = actiongate_core::actions::model::TrackRequest {
        idempotency_key: b.idempotency_key.clone(),
        ip_address: b.ip_address,
        user_agent: b.user_agent,
        device_id: b.device_id,
        scope: b.scope,
        custom: b.custom,
        locale: b.locale,
        email: channel.is_email().then(|| to.clone()),
        phone_number: (!channel.is_email()).then(|| to.clone()),
        ..Default::default()
    };
    let cmd = UserCommand::StartChallenge {
        resend: b.challenge_id,
        channel,
        to,
        user_id: b.user_id,
        action_code: action,
        idempotency_key: b.idempotency_key,
        request,
        owner: owner.clone(),
    };
    let mut resp = call_user(env, &owner, &cmd).await?;
    if resp.status_code() != 200 {
        return Err(relay_error(&mut resp).await);
    }
    let sent: Value = crate::http::read_json(&resp)
        .await
        .map_err(ApiError::internal)?;
    let pick = |k: &str| sent.get(k).cloned().unwrap_or(Value::Null);
    let data = json!({
        "to": sent.get("email").or_else(|| sent.get("phoneNumber")),
        "code": pick("code"),
        "userId": pick("userId"),
        "actionCode": pick("action"),
        "idempotencyKey": pick("idempotencyKey"),
        "challengeId": pick("challengeId"),
        "locale": pick("locale"),
        "ipAddress": pick("ipAddress"),
        "userAgent": pick("userAgent"),
    });
    crate::delivery::deliver(env, local, channel.event_type(), data).await?;
    json_response(
        200,
        &json!({
            "challengeId": pick("challengeId"),
            "idempotencyKey": pick("idempotencyKey"),
            "expiresAt": pick("expiresAt"),
        }),
    )
}

async fn claim(env: &Env, body: &[u8]) -> Result<Response, ApiError> {
    let b: ClaimBody = wire_body(body)?;
    check_user_id(&b.user_id)?;
    if b.skip_verification_check == Some(true) {
        // Stricter than Authsignal, for safety: a challenge nobody
        // verified proves nothing about the user it would sign in.
        return Err(ApiError::bad_request(
            "skipVerificationCheck: not supported; verify the challenge's code first",
        ));
    }
    let owner = owner(&b.challenge_id)?;
    let cmd = UserCommand::ClaimChallenge {
        id: b.challenge_id,
        user_id: b.user_id.clone(),
    };
    let mut resp = call_user(env, &owner, &cmd).await?;
    if resp.status_code() != 200 {
        return Err(relay_error(&mut resp).await);
    }
    let challenge = crate::http::read_json(&resp)
        .await
        .map_err(ApiError::internal)?;
    let cmd = UserCommand::SignInWithChallenge {
        user_id: b.user_id.clone(),
        challenge: Box::new(challenge),
    };
    call_user(env, &b.user_id, &cmd).await
}

async fn get(req: &Request, env: &Env) -> Result<Response, ApiError> {
    let url = req
        .url()
        .map_err(|_| ApiError::bad_request("The request URL is not valid."))?;
    let (mut id, mut user, mut action, mut method) = (None, None, None, None);
    for (k, v) in url.query_pairs() {
        let v = v.into_owned();
        match k.as_ref() {
            "challengeId" => id = Some(v),
            "userId" => user = Some(v),
            "action" => action = Some(v),
            "verificationMethod" => {
                method = Some(
                    actiongate_core::encoding::from_value::<VerificationMethod>(&Value::String(v))
                        .map_err(|_| {
                            ApiError::bad_request("verificationMethod: not a verification method")
                        })?,
                );
            }
            _ => {}
        }
    }
    let owner = match (&id, &user) {
        (Some(id), _) => {
            let o = owner(id)?;
            if user.as_ref().is_some_and(|u| *u != o) {
                return Err(ApiError::new(404, "not_found", "No such challenge."));
            }
            o
        }
        (None, Some(u)) => {
            check_user_id(u)?;
            u.clone()
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "challengeId or userId: give one to look a challenge up by",
            ));
        }
    };
    let cmd = UserCommand::GetChallenge {
        id,
        action_code: action,
        method,
    };
    call_user(env, &owner, &cmd).await
}
