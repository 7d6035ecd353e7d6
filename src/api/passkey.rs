//! The passkey and security key routes of the Client API, as
//! `@authsignal/browser`'s `passkey` and `securityKey` clients call them.
//!
//! With the bearer token from track, a ceremony belongs to that action: a
//! registration (`signUp`, `enroll`) or a sign-in that completes its
//! challenge. Without one (`passkey.signIn({ action })` on a sign-in page),
//! the SDK authenticates with `Basic <tenant id>`: `POST /v1/client/challenge`
//! starts a ceremony that names no user, any passkey of this relying party
//! may answer, and the passkey's user handle says whose action to record.
//!
//! | Route | Auth |
//! |---|---|
//! | `POST /v1/client/challenge` `{action?}` → `{challengeId}` | tenant |
//! | `POST /v1/client/user-authenticators/passkey/registration-options` | token |
//! | `POST /v1/client/user-authenticators/passkey` | token |
//! | `POST /v1/client/user-authenticators/passkey/authentication-options` | token or tenant |
//! | `POST /v1/client/verify/passkey` | token or tenant |
//! | the same four under `security-key` (answers without `challengeId`) | token |
//! | `POST /v1/client/user-authenticators/passkey/skip-prompt` | token |

use actiongate_core::auth::methods::VerificationMethod;
use actiongate_core::auth::webauthn::{UserVerification, WebAuthnError};
use actiongate_core::error::{CoreError, parse_json};
use actiongate_core::service::passkeys;
use serde::Deserialize;
use serde_json::json;
use worker::{Env, Method, Request, Response};

use crate::clock::now_secs;
use crate::http::{ApiError, json_response, read_json_body, wire_body};
use crate::settings;
use crate::users::client::{call_user, relay_error};
use crate::users::commands::UserCommand;

/// Whether `rest` (after `/v1/client/`) is one of these routes.
pub fn is_route(rest: &[&str]) -> bool {
    matches!(
        rest,
        ["challenge"]
            | ["verify", "passkey" | "security-key"]
            | ["user-authenticators", "passkey" | "security-key"]
            | [
                "user-authenticators",
                "passkey" | "security-key",
                "registration-options" | "authentication-options"
            ]
            | ["user-authenticators", "passkey", "skip-prompt"]
    )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ChallengeRequest {
    #[serde(default)]
    action: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RegistrationOptionsRequest {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    authenticator_attachment: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AuthenticationOptionsRequest {
    #[serde(default)]
    challenge_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddRequest {
    registration_credential: serde_json::Value,
    #[serde(default)]
    challenge_id: Option<String>,
    #[serde(default)]
    conditional_create: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyRequest {
    authentication_credential: serde_json::Value,
    #[serde(default)]
    challenge_id: Option<String>,
    #[serde(default)]
    device_id: Option<String>,
}

/// A body (an empty one reads as `{}`: the SDK sends `{}`; curl may send nothing).
async fn body<T: serde::de::DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    wire_body(&read_json_body(req).await?)
}

/// Handle one of the routes of [`is_route`].
///
/// # Errors
/// Any [`ApiError`]; WebAuthn refusals are 400 with `invalid_credential`,
/// `invalid_challenge`, `expired_challenge`, `unknown_credential` or
/// `credential_exists`.
pub async fn handle(req: &mut Request, env: &Env, rest: &[&str]) -> Result<Response, ApiError> {
    if rest == ["user-authenticators", "passkey"] && req.method() == Method::Get {
        return available_on_device(req, env).await;
    }
    let url = req.url().map_err(ApiError::internal)?;
    let rp = settings::relying_party(env, &url);
    let token = crate::request::bearer_token(req);
    let claims = match token {
        Some(_) => Some(crate::request::bearer(req, env)?),
        None => {
            check_tenant(req, env)?;
            let ip = crate::limits::client_ip(req);
            crate::limits::check(env, crate::limits::Limit::Unauthenticated, &ip).await?;
            None
        }
    };
    let method = if rest.contains(&"security-key") {
        VerificationMethod::SecurityKey
    } else {
        VerificationMethod::Passkey
    };
    let wrapped = method == VerificationMethod::Passkey;
    match (rest, claims) {
        (["challenge"], _) => {
            let b: ChallengeRequest = body(req).await?;
            let begun = discoverable(env, b.action.as_deref(), &rp).await?;
            let sealed = settings::ceremony_keys(env)?.seal(&begun.ceremony);
            json_response(200, &json!({"challengeId": sealed}))
        }
        (["user-authenticators", _, "skip-prompt"], Some(c)) => {
            call_user(env, &c.user_id, &UserCommand::PasskeyPromptSkip).await
        }
        (
            [
                _,
                _,
                kind @ ("registration-options" | "authentication-options"),
            ],
            Some(c),
        ) => {
            let registration = *kind == "registration-options";
            let (username, attachment) = if registration {
                let b: RegistrationOptionsRequest = body(req).await?;
                (b.username, b.authenticator_attachment)
            } else {
                let _: AuthenticationOptionsRequest = body(req).await?;
                (None, None)
            };
            let cmd = UserCommand::PasskeyOptions {
                user_id: c.user_id.clone(),
                action_code: c.action_code,
                idempotency_key: c.idempotency_key,
                registration,
                method,
                username,
                attachment,
                rp,
                proved: c.proved,
            };
            let resp = call_user(env, &c.user_id, &cmd).await?;
            if wrapped {
                Ok(resp)
            } else {
                // The security key client takes the options themselves.
                unwrap_options(resp).await
            }
        }
        (["user-authenticators", "passkey", "authentication-options"], None) => {
            let b: AuthenticationOptionsRequest = body(req).await?;
            let keys = settings::ceremony_keys(env)?;
            let (sealed, ceremony) = match b.challenge_id {
                Some(id) => {
                    let c = keys.open(&id, now_secs()).map_err(CoreError::from)?;
                    (id, c)
                }
                None => {
                    let begun = discoverable(env, None, &rp).await?;
                    (keys.seal(&begun.ceremony), begun.ceremony)
                }
            };
            if ceremony.idempotency_key.is_some() {
                return Err(CoreError::from(WebAuthnError::InvalidChallengeId).into());
            }
            let options = actiongate_core::auth::webauthn::request_options(
                &rp,
                &ceremony.challenge_bytes().map_err(CoreError::from)?,
                &[],
                ceremony.user_verification,
            );
            json_response(200, &json!({"challengeId": sealed, "options": options}))
        }
        (["user-authenticators", _], Some(c)) => {
            let raw = read_json_body(req).await?;
            // The security key client sends the credential itself.
            let b: AddRequest = if wrapped {
                wire_body(&raw)?
            } else {
                AddRequest {
                    registration_credential: parse_json(&raw)?,
                    challenge_id: None,
                    conditional_create: None,
                }
            };
            if b.conditional_create == Some(true) {
                return Err(ApiError::bad_request(
                    "conditionalCreate: automatic passkey creation is not supported; create passkeys with user presence",
                ));
            }
            let cmd = UserCommand::PasskeyRegister {
                user_id: c.user_id.clone(),
                action_code: c.action_code,
                idempotency_key: c.idempotency_key,
                challenge_id: b.challenge_id,
                credential: b.registration_credential,
                rp,
                proved: c.proved,
                verifier: crate::users::commands::Verifier {
                    user_agent: crate::request::header(req, "User-Agent"),
                    ..crate::request::verifier(req)
                },
            };
            call_user(env, &c.user_id, &cmd).await
        }
        (["verify", _], Some(c)) => {
            let raw = read_json_body(req).await?;
            let b: VerifyRequest = if wrapped {
                wire_body(&raw)?
            } else {
                VerifyRequest {
                    authentication_credential: parse_json(&raw)?,
                    challenge_id: None,
                    device_id: None,
                }
            };
            let _ = b.device_id;
            let cmd = UserCommand::PasskeyVerify {
                user_id: c.user_id.clone(),
                action: Some((c.action_code, c.idempotency_key)),
                challenge_id: b.challenge_id,
                credential: b.authentication_credential,
                rp,
                // Where the verifying client is (see `service::note_verifier`).
                edge: Some(crate::request::edge_info(req)),
                device_id: crate::request::existing_device(req),
            };
            call_user(env, &c.user_id, &cmd).await
        }
        (["verify", "passkey"], None) => {
            let b: VerifyRequest = wire_body(&read_json_body(req).await?)?;
            let Some(challenge_id) = b.challenge_id else {
                return Err(ApiError::bad_request(
                    "challengeId: required without a token",
                ));
            };
            // A damaged or expired challengeId is refused here, before any
            // user's object is woken.
            settings::ceremony_keys(env)?
                .open(&challenge_id, now_secs())
                .map_err(CoreError::from)?;
            let user_id = user_of(&b.authentication_credential)?;
            let cmd = UserCommand::PasskeyVerify {
                user_id: user_id.clone(),
                action: None,
                challenge_id: Some(challenge_id),
                credential: b.authentication_credential,
                rp,
                // The sign-in is decided as a track: its rules see the
                // connection and the device as a track's would.
                edge: Some(crate::request::edge_info(req)),
                device_id: crate::request::existing_device(req),
            };
            call_user(env, &user_id, &cmd).await
        }
        _ => Err(ApiError::new(
            401,
            "unauthorized",
            "Send the token from track as Authorization: Bearer <token>.",
        )),
    }
}

/// A sign-in ceremony that names no user, for `action` (else the default
/// sign-in action): the action's configuration decides whether passkeys
/// may sign in for it and with which user verification; both are sealed
/// into the ceremony. Its rules are not evaluated (there is no track).
async fn discoverable(
    env: &Env,
    action: Option<&str>,
    rp: &actiongate_core::auth::webauthn::RelyingParty,
) -> Result<passkeys::Begun, ApiError> {
    let code = action.unwrap_or(passkeys::DEFAULT_SIGN_IN_ACTION);
    actiongate_core::ids::check_action_code(code, "action")?;
    let policy = crate::config_store::load(env, code).await?;
    let (allowed, uv) = match &policy {
        Some(p) => {
            if p.config.input.default_user_action_result
                == actiongate_core::actions::state::Outcome::Block
            {
                return Err(ApiError::new(
                    403,
                    "action_blocked",
                    format!("{code} is blocked by its configuration"),
                ));
            }
            (
                p.config.input.allowed_methods(),
                p.config.input.passkey_user_verification.unwrap_or_default(),
            )
        }
        None => (
            actiongate_core::auth::methods::DEFAULT_METHODS.to_vec(),
            UserVerification::default(),
        ),
    };
    if !allowed.iter().any(|m| {
        matches!(
            m,
            VerificationMethod::Passkey | VerificationMethod::SecurityKey
        )
    }) {
        return Err(ApiError::bad_request(format!(
            "verificationMethod: PASSKEY is not allowed for {code}"
        )));
    }
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).map_err(|e| ApiError::internal(format!("getrandom: {e}")))?;
    let now = crate::clock::now_ms();
    Ok(passkeys::begin_discoverable(
        action, allowed, uv, rp, &nonce, now,
    ))
}

/// `passkey.isAvailableOnDevice`: `GET …/user-authenticators/passkey?credentialIds=a,b`
/// (the ids the browser remembers for a user): 200 when one of them is a
/// passkey some user has now, 404 when none is. Tenant-authenticated and
/// limited like the other calls without a token; the answer names no user
/// and no authenticator. From the user directory: a passkey added moments
/// ago is found within seconds (its outbox), one removed stops being found
/// as fast.
async fn available_on_device(req: &Request, env: &Env) -> Result<Response, ApiError> {
    check_tenant(req, env)?;
    let ip = crate::limits::client_ip(req);
    crate::limits::check(env, crate::limits::Limit::Unauthenticated, &ip).await?;
    let url = req.url().map_err(ApiError::internal)?;
    let ids: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == "credentialIds")
        .flat_map(|(_, v)| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "credentialIds: give one or more credential ids, comma-separated",
        ));
    }
    if ids.len() > crate::directory::MAX_CREDENTIAL_IDS || ids.iter().any(|i| i.len() > 1_400) {
        return Err(ApiError::bad_request(format!(
            "credentialIds: at most {} ids of up to 1,400 characters",
            crate::directory::MAX_CREDENTIAL_IDS
        )));
    }
    if crate::directory::any_credential(env, &ids).await? {
        json_response(200, &json!({"verificationMethod": "PASSKEY"}))
    } else {
        Err(ApiError::new(
            404,
            "not_found",
            "None of these credentials is a passkey here.",
        ))
    }
}

/// The user a discoverable credential names (its user handle is the user id).
fn user_of(credential: &serde_json::Value) -> Result<String, ApiError> {
    let response: actiongate_core::auth::webauthn::AuthenticationResponse =
        parse_json(credential.to_string().as_bytes())?;
    let handle = response
        .user_handle()
        .map_err(CoreError::from)?
        .ok_or_else(|| {
            CoreError::from(WebAuthnError::Malformed(
                "the passkey did not say whose it is (no userHandle)".into(),
            ))
        })?;
    // Passkeys are only ever created with handles this long or shorter.
    if handle.len() > passkeys::MAX_USER_HANDLE {
        return Err(CoreError::from(WebAuthnError::UnknownCredential).into());
    }
    let user_id =
        String::from_utf8(handle).map_err(|_| CoreError::from(WebAuthnError::UnknownCredential))?;
    actiongate_core::ids::check_user_id(&user_id)
        .map_err(|_| CoreError::from(WebAuthnError::UnknownCredential))?;
    Ok(user_id)
}

/// `{challengeId, options}` → `options`.
async fn unwrap_options(mut resp: Response) -> Result<Response, ApiError> {
    if resp.status_code() != 200 {
        return Err(relay_error(&mut resp).await);
    }
    let body: serde_json::Value = crate::http::read_json(&resp)
        .await
        .map_err(ApiError::internal)?;
    json_response(200, body.get("options").unwrap_or(&serde_json::Value::Null))
}

/// `Authorization: Basic <tenant id>`, as the SDK sends without a token.
/// When `TENANT_ID` is set it must match; the id is public, so this only
/// keeps other tenants' pages from using this deployment by mistake.
fn check_tenant(req: &Request, env: &Env) -> Result<(), ApiError> {
    let expected = settings::var(env, "TENANT_ID");
    // Local dev takes any tenant id; a deployed worker must name its own.
    if expected.is_empty() && !req.url().is_ok_and(|u| settings::is_local(&u)) {
        worker::console_error!("TENANT_ID is not set; refusing token-less passkey requests");
        return Err(ApiError::new(
            500,
            "server_misconfigured",
            "This deployment refuses sign-ins without a token: its variable TENANT_ID is not set.",
        ));
    }
    let header = req.headers().get("Authorization").ok().flatten();
    let given = header
        .as_deref()
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| {
            use ct_codecs::{Base64, Decoder as _};
            Base64::decode_to_vec(b.trim(), None).ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .map(|s| {
            percent_encoding::percent_decode_str(&s)
                .decode_utf8_lossy()
                .into_owned()
        });
    match given {
        None => Err(ApiError::new(
            401,
            "unauthorized",
            "Send the token from track as Authorization: Bearer <token>, or the tenant id as Basic.",
        )),
        Some(t) if !expected.is_empty() && t.trim_end_matches(':') != expected => {
            Err(ApiError::new(
                401,
                "unauthorized",
                "This deployment serves another tenant.",
            ))
        }
        Some(_) => Ok(()),
    }
}
