//! The user object's commands: passkeys and security keys: options, registration, sign-in, the prompt.

use super::veto::vetoed_error;
use super::*;

impl UserObject {
    /// Answer one command of this concern.
    pub(super) async fn passkeys(
        &self,
        cmd: UserCommand,
    ) -> std::result::Result<Response, ApiError> {
        match cmd {
            UserCommand::PasskeyOptions {
                user_id,
                action_code,
                idempotency_key,
                registration,
                method,
                username,
                attachment,
                rp,
                proved,
            } => {
                let uv = self.passkey_user_verification(&action_code).await?;
                let store = self.store()?;
                let mut nonce = [0u8; 32];
                getrandom::fill(&mut nonce)
                    .map_err(|e| ApiError::internal(format!("getrandom: {e}")))?;
                let action = ActionRef {
                    user_id: &user_id,
                    code: &action_code,
                    key: &idempotency_key,
                    proved,
                };
                let now = now_ms();
                let begun = if registration {
                    passkeys::begin_registration(
                        &store,
                        action,
                        method,
                        username.as_deref(),
                        attachment.as_deref(),
                        uv,
                        &rp,
                        &nonce,
                        now,
                    )?
                } else {
                    passkeys::begin_authentication(&store, action, uv, &rp, &nonce, now)?
                };
                let sealed = settings::ceremony_keys(&self.env)?.seal(&begun.ceremony);
                passkeys::remember_ceremony(&store, &action_code, &idempotency_key, &sealed)?;
                json_response(
                    200,
                    &serde_json::json!({"challengeId": sealed, "options": begun.options}),
                )
            }
            UserCommand::PasskeyRegister {
                user_id,
                action_code,
                idempotency_key,
                challenge_id,
                credential,
                rp,
                proved,
                verifier,
            } => {
                let (veto, store) = self
                    .verifying(&action_code, &idempotency_key, &verifier)
                    .await?;
                let now = now_ms();
                let record = service::get_action(&store, &action_code, &idempotency_key)?;
                let ceremony =
                    self.open_ceremony(challenge_id.or(record.webauthn_ceremony), now)?;
                let response: RegistrationResponse =
                    actiongate_core::error::parse_json(credential.to_string().as_bytes())?;
                let r = passkeys::finish_registration(
                    &store,
                    ActionRef {
                        user_id: &user_id,
                        code: &action_code,
                        key: &idempotency_key,
                        proved,
                    },
                    &ceremony,
                    &response,
                    &rp,
                    passkeys::NewCredential {
                        id: &uuid::Uuid::new_v4().to_string(),
                        user_agent: verifier.user_agent.as_deref(),
                    },
                    now,
                )?;
                if let Some(v) = self.veto(&store, &user_id, &r.record, veto).await? {
                    return Err(vetoed_error(&v));
                }
                let token =
                    self.fresh_token(&user_id, &action_code, &idempotency_key, true, now)?;
                let mut body = serde_json::json!({
                    "isVerified": true,
                    "accessToken": token,
                    "userAuthenticatorId": r.authenticator.user_authenticator_id,
                    "userId": user_id,
                    "userAuthenticator": r.authenticator,
                    "state": r.record.state,
                });
                // A first factor: the user's recovery codes, once.
                if let (Some(codes), Some(o)) = (
                    self.first_recovery_codes(&store, now)?,
                    body.as_object_mut(),
                ) {
                    o.insert("recoveryCodes".into(), codes.into());
                }
                json_response(200, &body)
            }
            UserCommand::PasskeyVerify {
                user_id,
                action,
                challenge_id,
                credential,
                rp,
                edge,
                device_id,
            } => {
                // Anyone may name any user handle here (no token): an object
                // that never stored anything answers without creating tables.
                if action.is_none() {
                    self.open_ceremony(challenge_id.clone(), now_ms())?;
                    if !self.has_tables() {
                        return Err(CoreError::from(WebAuthnError::UnknownCredential).into());
                    }
                }
                let store = self.store()?;
                let now = now_ms();
                if let Some((code, key)) = &action {
                    service::note_verifier(
                        &store,
                        code,
                        key,
                        device_id.as_deref(),
                        edge.as_ref().and_then(|e| e.geo.country_code.as_deref()),
                    )?;
                }
                let stored = match &action {
                    Some((code, key)) if challenge_id.is_none() => {
                        service::get_action(&store, code, key)?.webauthn_ceremony
                    }
                    _ => None,
                };
                let ceremony = self.open_ceremony(challenge_id.or(stored), now)?;
                // A token's sign-in is for its own action; one without a
                // token is not for any tracked action.
                let bound = ceremony
                    .action_code
                    .clone()
                    .zip(ceremony.idempotency_key.clone());
                if bound != action {
                    return Err(CoreError::from(WebAuthnError::InvalidChallengeId).into());
                }
                let response: AuthenticationResponse =
                    actiongate_core::error::parse_json(credential.to_string().as_bytes())?;
                let veto = self
                    .veto_wanted(
                        ceremony
                            .action_code
                            .as_deref()
                            .unwrap_or(passkeys::DEFAULT_SIGN_IN_ACTION),
                    )
                    .await?;
                // Without a token the sign-in is decided as a track of the
                // action it names: its configuration and rules apply.
                let code = ceremony
                    .action_code
                    .clone()
                    .unwrap_or_else(|| passkeys::DEFAULT_SIGN_IN_ACTION.to_owned());
                let policy = if action.is_none() {
                    config_store::load(&self.env, &code).await?
                } else {
                    None
                };
                let allowlist = settings::redirect_allowlist(&self.env)?;
                // A sign-in is a new action (with a key of its own); a
                // ceremony that names its action needs none.
                let fresh_key = match action {
                    None => Some(super::fresh_key(now)?),
                    Some(_) => None,
                };
                let sign_in = fresh_key.map(|fresh_key| TrackInput {
                    fresh_key,
                    edge: edge.as_ref(),
                    ..TrackInput::new(
                        &user_id,
                        &code,
                        actiongate_core::actions::model::TrackRequest {
                            device_id,
                            ..Default::default()
                        },
                        config_store::parts(policy.as_deref()),
                        &allowlist,
                        now,
                    )
                });
                let s = passkeys::finish_authentication(
                    &store,
                    &user_id,
                    &ceremony,
                    &response,
                    &rp,
                    settings::counter_policy(&self.env),
                    sign_in,
                    now,
                )?;
                if let Some(v) = self.veto(&store, &user_id, &s.record, veto).await? {
                    return Err(vetoed_error(&v));
                }
                let user = store.get_user()?.unwrap_or_default();
                let token = self.fresh_token(
                    &user_id,
                    &s.record.action_code,
                    &s.record.idempotency_key,
                    true,
                    now,
                )?;
                json_response(
                    200,
                    &serde_json::json!({
                        "isVerified": true,
                        "accessToken": token,
                        "userId": user_id,
                        "userAuthenticatorId": s.authenticator.user_authenticator_id,
                        "username": user.username,
                        "userDisplayName": user.display_name,
                        "state": s.record.state,
                    }),
                )
            }
            UserCommand::PasskeyPromptSkip => {
                let store = self.store()?;
                let days = settings::var_u64(&self.env, "PASSKEY_PROMPT_SNOOZE_DAYS", 30);
                let until = passkeys::snooze_prompt(
                    &store,
                    u32::try_from(days).unwrap_or(u32::MAX),
                    now_ms(),
                )?;
                json_response(
                    200,
                    &serde_json::json!({"promptSnoozedUntil": actiongate_core::time::to_rfc3339(until)}),
                )
            }
            _ => Err(ApiError::internal(
                "a user command reached the wrong handler",
            )),
        }
    }
}

impl UserObject {
    /// The `userVerification` an action's passkey ceremonies use.
    pub(super) async fn passkey_user_verification(
        &self,
        action_code: &str,
    ) -> std::result::Result<UserVerification, ApiError> {
        Ok(config_store::load(&self.env, action_code)
            .await?
            .and_then(|p| p.config.input.passkey_user_verification)
            .unwrap_or_default())
    }

    /// Open a sealed ceremony (`challengeId`).
    pub(super) fn open_ceremony(
        &self,
        id: Option<String>,
        now: i64,
    ) -> std::result::Result<Ceremony, ApiError> {
        let id = id.ok_or_else(|| CoreError::from(WebAuthnError::InvalidChallengeId))?;
        settings::ceremony_keys(&self.env)?
            .open(&id, u64::try_from(now / 1000).unwrap_or(0))
            .map_err(|e| CoreError::from(e).into())
    }
}
