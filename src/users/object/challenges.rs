//! The user object's commands: the challenge page and the Client API: what to show, codes sent and checked, authenticator apps, magic links.

use super::*;

impl UserObject {
    /// Answer one command of this concern.
    pub(super) async fn challenges(
        &self,
        cmd: UserCommand,
    ) -> std::result::Result<Response, ApiError> {
        match cmd {
            UserCommand::ChallengeInfo {
                user_id,
                action_code,
                idempotency_key,
                proved,
            } => {
                let policy = config_store::load(&self.env, &action_code).await?;
                let store = self.store()?;
                let view = service::challenge_view(
                    &store,
                    &user_id,
                    &action_code,
                    &idempotency_key,
                    policy.as_ref().map(|p| &p.config.input),
                    proved,
                    now_ms(),
                )?;
                let mut body = serde_json::to_value(&view).map_err(ApiError::internal)?;
                if let Some(o) = body.as_object_mut() {
                    o.insert(
                        "branding".into(),
                        serde_json::to_value(settings::branding(&self.env))
                            .map_err(ApiError::internal)?,
                    );
                }
                json_response(200, &body)
            }
            UserCommand::EnrollTotp {
                user_id,
                action_code,
                idempotency_key,
                proved,
            } => {
                let store = self.store()?;
                let mut random = [0u8; 20];
                getrandom::fill(&mut random)
                    .map_err(|e| ApiError::internal(format!("getrandom: {e}")))?;
                let issuer = match settings::var(&self.env, "TOTP_ISSUER") {
                    s if s.is_empty() => "ActionGate".to_owned(),
                    s => s,
                };
                let e = service::enroll_totp(
                    &store,
                    &user_id,
                    &action_code,
                    &idempotency_key,
                    uuid::Uuid::new_v4().to_string(),
                    random,
                    &issuer,
                    proved,
                    now_ms(),
                )?;
                json_response(
                    200,
                    &serde_json::json!({
                        "userAuthenticatorId": e.authenticator_id,
                        "userId": user_id,
                        "uri": e.uri,
                        "secret": e.secret,
                        "qrCodeSvg": actiongate_core::present::qr_svg(&e.uri),
                    }),
                )
            }
            UserCommand::IssueCode {
                user_id,
                action_code,
                idempotency_key,
                channel,
                enroll_to,
                proved,
            } => {
                let store = self.store()?;
                let mut random = [0u8; 24];
                getrandom::fill(&mut random)
                    .map_err(|e| ApiError::internal(format!("getrandom: {e}")))?;
                // A magic link carries a 128-bit secret; codes are six digits.
                let digits = if channel == actiongate_core::auth::otp::Channel::MagicLink {
                    actiongate_core::encoding::b64url(random.get(..16).unwrap_or(&[]))
                        + &actiongate_core::encoding::b64url(random.get(16..).unwrap_or(&[]))
                } else {
                    actiongate_core::auth::otp::six_digits(random.get(..8).unwrap_or(&[]))
                        .ok_or_else(|| ApiError::internal("no random bytes"))?
                };
                let salt = actiongate_core::encoding::hex(random.get(8..).unwrap_or_default());
                let sent = service::issue_code(
                    &store,
                    &action_code,
                    &idempotency_key,
                    channel,
                    enroll_to.as_deref(),
                    uuid::Uuid::new_v4().to_string(),
                    digits,
                    salt,
                    proved,
                    now_ms(),
                )?;
                let req = &sent.record.request;
                json_response(
                    200,
                    &serde_json::json!({
                        "to": sent.to,
                        "code": sent.code,
                        "userAuthenticatorId": sent.authenticator_id,
                        "userId": user_id,
                        "actionCode": action_code,
                        "idempotencyKey": idempotency_key,
                        "userAgent": req.user_agent,
                        "ipAddress": req.ip_address,
                        "locale": req.locale,
                    }),
                )
            }
            UserCommand::VerifyCode {
                user_id,
                action_code,
                idempotency_key,
                channel,
                code,
                verifier,
                recovery_code,
            } => {
                let (veto, store) = self
                    .verifying(&action_code, &idempotency_key, &verifier)
                    .await?;
                let now = now_ms();
                let check = match channel {
                    None if recovery_code => {
                        actiongate_core::service::recovery::verify_recovery_code(
                            &store,
                            &action_code,
                            &idempotency_key,
                            &code,
                            now,
                        )?
                    }
                    None => service::verify_totp(
                        &store,
                        &user_id,
                        &action_code,
                        &idempotency_key,
                        &code,
                        now,
                    )?,
                    Some(channel) => service::verify_code(
                        &store,
                        &user_id,
                        &action_code,
                        &idempotency_key,
                        channel,
                        &code,
                        now,
                    )?,
                };
                if let Some(r) = self.vetoed_check(&store, &user_id, &check, veto).await? {
                    return Ok(r);
                }
                // A first factor confirmed: the user's recovery codes, once,
                // to the client that confirmed it (not through a magic link,
                // opened wherever the email is read: they come with the
                // next factor instead).
                let recovery = match &check {
                    service::CodeCheck::Verified {
                        enrolled: Some(_), ..
                    } if channel != Some(actiongate_core::auth::otp::Channel::MagicLink) => {
                        self.first_recovery_codes(&store, now)?
                    }
                    _ => None,
                };
                self.code_check_response(check, user_id, action_code, true, recovery, now)
            }
            UserCommand::RegenerateRecoveryCodes {
                action_code,
                idempotency_key,
                proved,
            } => {
                let store = self.store()?;
                let now = now_ms();
                let codes = actiongate_core::service::recovery::regenerate(
                    &store,
                    &action_code,
                    &idempotency_key,
                    proved,
                    &recovery_random()?,
                    uuid::Uuid::new_v4().to_string(),
                    now,
                )?;
                json_response(200, &serde_json::json!({"recoveryCodes": codes}))
            }
            UserCommand::MagicLinkStatus {
                user_id,
                action_code,
                idempotency_key,
            } => {
                let store = self.store()?;
                match service::magic_link_status(&store, &action_code, &idempotency_key)? {
                    Some(record) => self.code_check_response(
                        service::CodeCheck::Verified {
                            record: Box::new(record),
                            enrolled: None,
                        },
                        user_id,
                        action_code,
                        // The link was opened wherever the email was read:
                        // this client proved nothing.
                        false,
                        None,
                        now_ms(),
                    ),
                    None => json_response(200, &serde_json::json!({"isVerified": false})),
                }
            }
            UserCommand::Cancel {
                action_code,
                idempotency_key,
            } => {
                let store = self.store()?;
                let (record, cancelled) =
                    service::cancel(&store, &action_code, &idempotency_key, now_ms())?;
                json_response(
                    200,
                    &serde_json::json!({"state": record.state, "cancelled": cancelled}),
                )
            }
            _ => Err(ApiError::internal(
                "a user command reached the wrong handler",
            )),
        }
    }
}

impl UserObject {
    /// A token for an action whose challenge was just completed.
    /// An access token for the action; `proved` when the client just
    /// verified with one of the user's authenticators (not a magic link).
    pub(super) fn fresh_token(
        &self,
        user_id: &str,
        action_code: &str,
        idempotency_key: &str,
        proved: bool,
        now: i64,
    ) -> std::result::Result<String, ApiError> {
        let keys = settings::token_keys(&self.env)?;
        let ttl = settings::var_u64(&self.env, "TOKEN_TTL_SECONDS", DEFAULT_TOKEN_TTL_SECONDS);
        mint(
            &keys,
            ttl,
            ActionClaims {
                user_id: user_id.to_owned(),
                action_code: action_code.to_owned(),
                idempotency_key: idempotency_key.to_owned(),
                proved,
            },
            now,
        )
    }

    /// The Client API's answer to a code: a fresh token when verified.
    pub(super) fn code_check_response(
        &self,
        check: service::CodeCheck,
        user_id: String,
        action_code: String,
        proved: bool,
        recovery: Option<Vec<String>>,
        now: i64,
    ) -> std::result::Result<Response, ApiError> {
        match check {
            service::CodeCheck::Verified { record, enrolled } => {
                // A fresh token for the same action: the app validates it.
                let token =
                    self.fresh_token(&user_id, &action_code, &record.idempotency_key, proved, now)?;
                let mut body = serde_json::json!({
                    "isVerified": true,
                    "accessToken": token,
                    "state": record.state,
                });
                if let (Some(a), Some(o)) = (enrolled, body.as_object_mut()) {
                    o.insert(
                        "userAuthenticator".into(),
                        serde_json::to_value(a).unwrap_or_default(),
                    );
                }
                if let (Some(codes), Some(o)) = (recovery, body.as_object_mut()) {
                    o.insert("recoveryCodes".into(), codes.into());
                }
                json_response(200, &body)
            }
            service::CodeCheck::Wrong { remaining } => json_response(
                200,
                &serde_json::json!({
                    "isVerified": false,
                    "failureReason": "CODE_INVALID_OR_EXPIRED",
                    "remainingAttempts": remaining,
                }),
            ),
            service::CodeCheck::Failed => json_response(
                200,
                &serde_json::json!({"isVerified": false, "failureReason": "MAX_ATTEMPTS_EXCEEDED"}),
            ),
        }
    }
}

/// The one place action tokens are signed: track's token and the access
/// tokens of verifications.
pub(super) fn mint(
    keys: &actiongate_core::auth::token::TokenKeys,
    ttl: u64,
    claims: ActionClaims,
    now: i64,
) -> std::result::Result<String, ApiError> {
    Ok(keys.sign(&claims, u64::try_from(now / 1000).unwrap_or(0), ttl)?)
}

/// Random bytes for a set of recovery codes.
pub(super) fn recovery_random() -> std::result::Result<Vec<u8>, ApiError> {
    let mut random = vec![0u8; actiongate_core::service::recovery::RANDOM_BYTES];
    getrandom::fill(&mut random).map_err(|e| ApiError::internal(format!("getrandom: {e}")))?;
    Ok(random)
}

impl UserObject {
    /// The user's first recovery codes, made now if a first factor was just
    /// verified and they have none (see `service::recovery`).
    pub(super) fn first_recovery_codes(
        &self,
        store: &Cached<'_, SqlUserStore>,
        now: i64,
    ) -> std::result::Result<Option<Vec<String>>, ApiError> {
        Ok(actiongate_core::service::recovery::issue_if_first(
            store,
            &recovery_random()?,
            uuid::Uuid::new_v4().to_string(),
            now,
        )?)
    }
}
