//! The user object's commands: sessions (created from a verified action, refreshed, checked, revoked).

use actiongate_core::auth::session::{SessionRecord, refresh_token};
use actiongate_core::service::sessions::{self, Fresh, Lifetimes};

use super::*;

/// 256 random bits, base64url.
fn secret() -> std::result::Result<String, ApiError> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| ApiError::internal(format!("getrandom: {e}")))?;
    Ok(actiongate_core::encoding::b64url(&random))
}

fn fresh() -> std::result::Result<Fresh, ApiError> {
    Ok(Fresh {
        session_id: uuid::Uuid::new_v4().to_string(),
        access_id: uuid::Uuid::new_v4().to_string(),
        refresh_secret: secret()?,
    })
}

impl UserObject {
    /// Answer one command of this concern.
    pub(super) async fn sessions(
        &self,
        cmd: UserCommand,
    ) -> std::result::Result<Response, ApiError> {
        let (access_ttl, refresh_ttl) = settings::session_ttls(&self.env);
        let life = Lifetimes {
            refresh_ms: i64::try_from(refresh_ttl.saturating_mul(1000)).unwrap_or(i64::MAX),
        };
        let now = now_ms();
        match cmd {
            UserCommand::CreateSession {
                user_id,
                action_code,
                idempotency_key,
                client_id,
                issuer,
            } => {
                // The key first: nothing is spent when tokens cannot be signed.
                let keys = settings::session_keys(&self.env)?;
                let store = self.store()?;
                let f = fresh()?;
                let secret = f.refresh_secret.clone();
                let s = sessions::create_session(
                    &store,
                    &action_code,
                    &idempotency_key,
                    &client_id,
                    f,
                    life,
                    now,
                )?;
                tokens(&keys, &user_id, &issuer, &s, &secret, access_ttl, now)
            }
            UserCommand::RefreshSession {
                user_id,
                session_id,
                secret: presented,
                issuer,
            } => {
                let keys = settings::session_keys(&self.env)?;
                let store = self.store()?;
                let f = fresh()?;
                let secret = f.refresh_secret.clone();
                let s = sessions::refresh_session(&store, &session_id, &presented, f, life, now)?;
                tokens(&keys, &user_id, &issuer, &s, &secret, access_ttl, now)
            }
            UserCommand::CheckSession {
                user_id,
                session_id,
                access_id,
            } => {
                if !self.has_tables() {
                    return Err(ApiError::from_session(
                        actiongate_core::auth::session::SessionError::InvalidToken,
                    ));
                }
                let store = self.store()?;
                let s = sessions::check_session(&store, &session_id, &access_id)?;
                json_response(
                    200,
                    &serde_json::json!({
                        "user": service::get_user(&store, &user_id)?,
                        "verificationMethod": s.verification_method,
                    }),
                )
            }
            UserCommand::RevokeSession { session_id } => {
                let revoked = self.has_tables()
                    && sessions::revoke_session(&self.store()?, &session_id, now)?;
                json_response(200, &serde_json::json!({"revoked": revoked}))
            }
            UserCommand::RevokeUserSessions => {
                let n = if self.has_tables() {
                    sessions::revoke_user_sessions(&self.store()?, now)?
                } else {
                    0
                };
                json_response(200, &serde_json::json!({"revoked": n}))
            }
            _ => Err(ApiError::internal("not a session command")),
        }
    }
}

/// The answer of `createSession` and `refreshSession`: a signed access
/// token and the refresh token (its secret is stored only hashed).
fn tokens(
    keys: &actiongate_core::auth::session::SessionKeys,
    user_id: &str,
    issuer: &str,
    s: &SessionRecord,
    secret: &str,
    access_ttl: u64,
    now: i64,
) -> std::result::Result<Response, ApiError> {
    let now_secs = u64::try_from(now / 1000).unwrap_or(0);
    let access = keys.sign(issuer, user_id, s, now_secs, access_ttl)?;
    json_response(
        200,
        &serde_json::json!({
            "accessToken": access,
            "refreshToken": refresh_token(user_id, &s.id, secret),
        }),
    )
}
