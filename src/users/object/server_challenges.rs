//! The user object's commands: server-side challenges, in their owner's object (a user's, or an address's), and their claim as a user's sign-in.

use actiongate_core::auth::server_challenge::{ServerChallenge, challenge_id};
use actiongate_core::service::server_challenges::{self, Start, Verification};

use super::*;

/// What `challenge` and `getChallenge` tell about a challenge.
fn described(c: &ServerChallenge) -> serde_json::Value {
    let mut v = serde_json::json!({
        "challengeId": c.id,
        "idempotencyKey": c.idempotency_key,
        "expiresAt": c.sent.expires_at / 1000,
        "verificationMethod": c.channel.method(),
        "action": c.action_code,
    });
    if let Some(o) = v.as_object_mut() {
        let field = if c.channel.is_email() {
            "email"
        } else {
            "phoneNumber"
        };
        o.insert(field.into(), c.to.clone().into());
        if c.channel == actiongate_core::auth::otp::Channel::Whatsapp {
            o.insert("smsChannel".into(), "WHATSAPP".into());
        }
        if let Some(u) = &c.user_id {
            o.insert("userId".into(), u.clone().into());
        }
    }
    v
}

impl UserObject {
    /// 404 when this object never stored anything (so holds no challenge),
    /// found out without creating its tables.
    fn owns_challenges(&self) -> std::result::Result<(), ApiError> {
        if self.has_tables() {
            Ok(())
        } else {
            Err(
                CoreError::NotFound("No challenge with this id (it may have expired).".into())
                    .into(),
            )
        }
    }

    /// Answer one command of this concern.
    pub(super) async fn server_challenges(
        &self,
        cmd: UserCommand,
    ) -> std::result::Result<Response, ApiError> {
        let now = now_ms();
        match cmd {
            UserCommand::StartChallenge {
                resend,
                channel,
                to,
                user_id,
                action_code,
                idempotency_key,
                request,
                owner,
            } => {
                let store = self.store()?;
                let mut random = [0u8; 24];
                getrandom::fill(&mut random)
                    .map_err(|e| ApiError::internal(format!("getrandom: {e}")))?;
                let code = actiongate_core::auth::otp::six_digits(random.get(..8).unwrap_or(&[]))
                    .ok_or_else(|| ApiError::internal("no random bytes"))?;
                let salt = actiongate_core::encoding::hex(random.get(8..).unwrap_or_default());
                let c = server_challenges::start(
                    &store,
                    Start {
                        id: challenge_id(&uuid::Uuid::new_v4().to_string(), &owner),
                        resend,
                        channel,
                        to,
                        user_id,
                        action_code,
                        idempotency_key: idempotency_key
                            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                        request,
                        code: code.clone(),
                        salt,
                    },
                    now,
                )?;
                let mut body = described(&c);
                if let Some(o) = body.as_object_mut() {
                    // For the worker to hand to the app's webhook; never in
                    // an answer to the app's call.
                    o.insert("code".into(), code.into());
                    o.insert("locale".into(), c.request.locale.clone().into());
                    o.insert("ipAddress".into(), c.request.ip_address.clone().into());
                    o.insert("userAgent".into(), c.request.user_agent.clone().into());
                }
                json_response(200, &body)
            }
            UserCommand::VerifyChallenge { id, code } => {
                self.owns_challenges()?;
                let store = self.store()?;
                let (c, verified, reason) =
                    match server_challenges::verify(&store, &id, &code, now)? {
                        Verification::Verified(c) => (c, true, None),
                        Verification::Wrong(c) => (c, false, Some("CODE_INVALID_OR_EXPIRED")),
                        Verification::Failed(c) => (c, false, Some("MAX_ATTEMPTS_EXCEEDED")),
                    };
                let mut body = serde_json::json!({
                    "isVerified": verified,
                    "verificationMethod": c.channel.method(),
                });
                if let Some(o) = body.as_object_mut() {
                    let field = if c.channel.is_email() {
                        "email"
                    } else {
                        "phoneNumber"
                    };
                    o.insert(field.into(), c.to.clone().into());
                    if let Some(r) = reason {
                        o.insert("failureReason".into(), r.into());
                    }
                }
                json_response(200, &body)
            }
            UserCommand::ClaimChallenge { id, user_id } => {
                self.owns_challenges()?;
                let c = server_challenges::claim(&self.store()?, &id, &user_id, now)?;
                json_response(200, &c)
            }
            UserCommand::SignInWithChallenge { user_id, challenge } => {
                let store = self.store()?;
                let code = challenge.action_code.clone();
                let policy = config_store::load(&self.env, &code).await?;
                let veto = self.veto_wanted(&code).await?;
                let allowlist = settings::redirect_allowlist(&self.env)?;
                let mut request = challenge.request.clone();
                request.idempotency_key = Some(challenge.idempotency_key.clone());
                // The challenge's key: no fresh one is needed.
                let input = TrackInput::new(
                    &user_id,
                    &code,
                    request,
                    config_store::parts(policy.as_deref()),
                    &allowlist,
                    now,
                );
                let (record, first) = server_challenges::sign_in_with(
                    &store,
                    input,
                    &challenge,
                    uuid::Uuid::new_v4().to_string(),
                )?;
                if let Some(v) = self.veto(&store, &user_id, &record, veto).await? {
                    return Err(super::veto::vetoed_error(&v));
                }
                // The app's server claimed it: no client proved anything.
                let token =
                    self.fresh_token(&user_id, &code, &record.idempotency_key, false, now)?;
                let mut body = serde_json::json!({
                    "token": token,
                    "verificationMethod": challenge.channel.method(),
                    "state": record.state,
                    "idempotencyKey": record.idempotency_key,
                });
                // The address became the user's first factor: recovery
                // codes, once (never for a claim that enrolled nothing).
                let codes = if first {
                    self.first_recovery_codes(&store, now)?
                } else {
                    None
                };
                if let (Some(codes), Some(o)) = (codes, body.as_object_mut()) {
                    o.insert("recoveryCodes".into(), codes.into());
                }
                json_response(200, &body)
            }
            UserCommand::GetChallenge {
                id,
                action_code,
                method,
            } => {
                let found = if self.has_tables() {
                    let store = self.store()?;
                    match id {
                        Some(id) => store.get_server_challenge(&id)?,
                        None => store.list_server_challenges()?.into_iter().find(|c| {
                            c.state
                                == actiongate_core::auth::server_challenge::ChallengeState::Pending
                                && c.sent.expires_at > now
                                && action_code.as_ref().is_none_or(|a| *a == c.action_code)
                                && method.is_none_or(|m| m == c.channel.method())
                        }),
                    }
                } else {
                    None
                };
                match found.filter(|c| c.keep_until() >= now) {
                    Some(c) => json_response(200, &described(&c)),
                    None => Err(CoreError::NotFound("No such challenge.".into()).into()),
                }
            }
            _ => Err(ApiError::internal("not a server challenge command")),
        }
    }
}
