//! The user object's commands: the user's profile and authenticators, and the wrong-code lock.

use super::*;

impl UserObject {
    /// Answer one command of this concern.
    pub(super) async fn profile(
        &self,
        cmd: UserCommand,
    ) -> std::result::Result<Response, ApiError> {
        match cmd {
            UserCommand::GetUser { user_id, allowed } => {
                let store = self.store()?;
                let mut view = service::get_user(&store, &user_id)?;
                keep_deliverable(&mut view, allowed.as_deref());
                json_response(200, &view)
            }
            UserCommand::PatchUser {
                user_id,
                allowed,
                patch,
            } => {
                let patch: UserPatch = crate::http::wire_body(patch.to_string().as_bytes())?;
                let store = self.store()?;
                let mut view = service::patch_user(&store, &user_id, patch, now_ms())?;
                keep_deliverable(&mut view, allowed.as_deref());
                // Read-your-writes: the directory has the change before the
                // answer (the outbox delivers it as well, and again if this fails).
                if let Some(user) = store.get_user()? {
                    self.tell_directory(&user_id, &user.directory_entry()).await;
                }
                json_response(200, &view)
            }
            UserCommand::DeleteUser => {
                let store = self.store()?;
                let now = now_ms();
                service::delete_user(&store, now)?;
                let user_id = self.user_id.borrow().clone();
                let marker = actiongate_core::user::DirectoryEntry {
                    updated_at: now,
                    deleted: true,
                    ..Default::default()
                };
                self.tell_directory(&user_id, &marker).await;
                json_response(200, &serde_json::json!({"success": true}))
            }
            UserCommand::ListAuthenticators { user_id } => {
                let store = self.store()?;
                json_response(200, &service::list_authenticators(&store, &user_id)?)
            }
            UserCommand::EnrollAuthenticator { user_id, request } => {
                let req: EnrollAuthenticatorRequest =
                    crate::http::wire_body(request.to_string().as_bytes())?;
                let store = self.store()?;
                let id = uuid::Uuid::new_v4().to_string();
                let now = now_ms();
                let view = service::enroll_authenticator(&store, &user_id, req, id, now)?;
                let mut body = serde_json::json!({ "authenticator": view });
                // Authsignal's `recoveryCodes`: made with the first factor, shown once.
                if let (Some(codes), Some(o)) = (
                    self.first_recovery_codes(&store, now)?,
                    body.as_object_mut(),
                ) {
                    o.insert("recoveryCodes".into(), codes.into());
                }
                json_response(200, &body)
            }
            UserCommand::DeleteAuthenticator { id } => {
                let store = self.store()?;
                service::delete_authenticator(&store, &id, now_ms())?;
                json_response(200, &serde_json::json!({"success": true}))
            }
            UserCommand::LiftLockout => {
                let store = self.store()?;
                let before = service::lift_lockout(&store)?;
                json_response(
                    200,
                    &serde_json::json!({
                        "success": true,
                        "wrongCodes": before.consecutive,
                        "wasLocked": before.consecutive >= actiongate_core::auth::throttle::LOCK_AFTER,
                    }),
                )
            }
            _ => Err(ApiError::internal(
                "a user command reached the wrong handler",
            )),
        }
    }

    /// Write the user's directory row now; a failure is logged, and the
    /// outbox (which holds the same change) delivers it later.
    async fn tell_directory(&self, user_id: &str, entry: &actiongate_core::user::DirectoryEntry) {
        if let Err(e) = crate::directory::put(&self.env, user_id, entry).await {
            worker::console_error!("user directory (the outbox will retry): {e}");
        }
    }
}

/// A profile's `allowedVerificationMethods` kept to what the deployment can
/// complete (`allowed`, from the worker; all of them when it sent none).
fn keep_deliverable(
    view: &mut actiongate_core::user::UserView,
    allowed: Option<&[actiongate_core::auth::methods::VerificationMethod]>,
) {
    if let Some(allowed) = allowed {
        view.allowed_verification_methods
            .retain(|m| allowed.contains(m));
    }
}
