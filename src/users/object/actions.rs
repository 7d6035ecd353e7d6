//! The user object's commands: tracks, held requests, reading and moving actions, reviews, simulation.

use super::challenges::mint;
use super::*;

impl UserObject {
    /// Answer one command of this concern.
    pub(super) async fn actions(
        &self,
        cmd: UserCommand,
    ) -> std::result::Result<Response, ApiError> {
        match cmd {
            UserCommand::Track(track) => {
                let policy = config_store::load(&self.env, &track.action_code).await?;
                json_text_response(200, self.track_with(policy, track)?)
            }
            UserCommand::Claim {
                action_code,
                idempotency_key,
                retry,
            } => {
                let store = self.store()?;
                let how = match &retry {
                    Some((method, path_and_query, body_sha256, custom)) => service::Claim::Retry {
                        method,
                        path_and_query,
                        body_sha256,
                        custom,
                    },
                    None => service::Claim::Replay,
                };
                match service::claim(&store, &action_code, &idempotency_key, how, now_ms()) {
                    Ok(r) => json_response(
                        200,
                        &serde_json::json!({"state": r.state, "pendingRequest": r.pending_request}),
                    ),
                    Err(service::ClaimError::Storage(e)) => Err(e.into()),
                    Err(e) => {
                        let (status, code) = match &e {
                            service::ClaimError::NotApproved(_) => (403, "challenge_not_completed"),
                            service::ClaimError::AlreadyUsed => (403, "token_already_used"),
                            service::ClaimError::Mismatch => (403, "request_mismatch"),
                            service::ClaimError::Expired => (403, "expired_token"),
                            _ => (404, "invalid_token"),
                        };
                        Err(ApiError::new(status, code, e.to_string()))
                    }
                }
            }
            UserCommand::Unclaim {
                action_code,
                idempotency_key,
            } => {
                let store = self.store()?;
                service::unclaim(&store, &action_code, &idempotency_key, now_ms())?;
                json_response(200, &serde_json::json!({"released": true}))
            }
            UserCommand::GetAction {
                action_code,
                idempotency_key,
            } => {
                let store = self.store()?;
                let r = service::get_action(&store, &action_code, &idempotency_key)?;
                json_response(200, &r.to_get_response())
            }
            UserCommand::QueryActions {
                from,
                codes,
                state,
                limit,
            } => {
                let store = self.store()?;
                let q = ActionQuery {
                    from,
                    codes,
                    state,
                    limit,
                };
                let list: Vec<_> = service::query_actions(&store, &q)?
                    .iter()
                    .map(ActionRecord::to_summary)
                    .collect();
                json_response(200, &list)
            }
            UserCommand::UpdateAction {
                action_code,
                idempotency_key,
                state,
            } => {
                let store = self.store()?;
                let r = service::update_state(
                    &store,
                    &action_code,
                    &idempotency_key,
                    state,
                    actiongate_core::actions::model::Cause::Api,
                    now_ms(),
                )?;
                json_response(200, &r.to_get_response())
            }
            UserCommand::Simulate {
                user_id,
                action_code,
                request,
            } => {
                let policy = config_store::load(&self.env, &action_code).await?;
                let allowlist = settings::redirect_allowlist(&self.env)?;
                let store = self.store()?;
                let sim = service::simulate(
                    &store,
                    TrackInput::new(
                        &user_id,
                        &action_code,
                        request,
                        config_store::parts(policy.as_deref()),
                        &allowlist,
                        now_ms(),
                    ),
                )?;
                let d = sim.decision;
                json_response(
                    200,
                    &serde_json::json!({
                        "state": d.outcome.initial_state(),
                        "ruleIds": d.rule_ids,
                        "priorityRuleId": d.deciding_rule_id,
                        "allowedVerificationMethods": d.allowed_methods,
                        "defaultVerificationMethod": d.default_method,
                        "reviewAfterChallenge": d.review_after_challenge,
                        "trace": sim.trace,
                        "context": sim.context,
                    }),
                )
            }
            UserCommand::Review {
                action_code,
                idempotency_key,
                approve,
                reviewer,
                note,
            } => {
                let store = self.store()?;
                let to = if approve {
                    ActionState::ReviewSucceeded
                } else {
                    ActionState::ReviewFailed
                };
                let current = service::get_action(&store, &action_code, &idempotency_key)?;
                // Only a pending review is decided (not a no-op on a settled one).
                if current.state != ActionState::ReviewRequired {
                    return Err(CoreError::IllegalTransition {
                        from: current.state,
                        to,
                    }
                    .into());
                }
                let r = service::update_state(
                    &store,
                    &action_code,
                    &idempotency_key,
                    to,
                    actiongate_core::actions::model::Cause::Review { reviewer, note },
                    now_ms(),
                )?;
                json_response(200, &r.to_get_response())
            }
            UserCommand::Overview { user_id } => {
                let store = self.store()?;
                let q = ActionQuery {
                    from: None,
                    codes: Vec::new(),
                    state: None,
                    limit: 20,
                };
                let actions: Vec<_> = service::query_actions(&store, &q)?
                    .iter()
                    .map(|r| {
                        let mut a = serde_json::to_value(r.to_get_response()).unwrap_or_default();
                        if let (Some(held), Some(o)) = (r.held_view(), a.as_object_mut()) {
                            o.insert("heldRequest".into(), held);
                        }
                        a
                    })
                    .collect();
                json_response(
                    200,
                    &serde_json::json!({
                        "user": service::get_user(&store, &user_id)?,
                        "authenticators": service::list_authenticators(&store, &user_id)?,
                        "authenticatorChanges": service::authenticator_log::read(&store)?
                            .iter()
                            .rev()
                            .map(service::authenticator_log::Entry::to_wire)
                            .collect::<Vec<_>>(),
                        "actions": actions,
                    }),
                )
            }
            _ => Err(ApiError::internal(
                "a user command reached the wrong handler",
            )),
        }
    }
}

impl UserObject {
    /// A track once its policy is loaded: nothing here awaits, so the
    /// check-then-insert runs without yielding, which is what makes
    /// idempotency atomic.
    pub(super) fn track_with(
        &self,
        policy: Option<Rc<config_store::Policy>>,
        track: Track,
    ) -> std::result::Result<String, ApiError> {
        let Track {
            user_id,
            action_code,
            request,
            origin,
            edge,
            pending,
        } = track;
        let keys = settings::token_keys(&self.env)?;
        let allowlist = settings::redirect_allowlist(&self.env)?;
        let ttl = settings::var_u64(&self.env, "TOKEN_TTL_SECONDS", DEFAULT_TOKEN_TTL_SECONDS);
        let store = self.store()?;
        if !self.counting_ready.get() {
            let inner = store.inner();
            let on = inner.counts_analytics();
            // Already as wanted when the object woke: nothing to write.
            if self.counting_at_wake.get() != Some(on) {
                inner.start_counting(on).map_err(ApiError::unavailable)?;
            }
            self.counting_ready.set(true);
        }
        let now = now_ms();
        // A request held back waits this long for the person to pass the
        // challenge and come back (not while a reviewer has it).
        let pending = pending.map(|mut p| {
            // Variables do not change while an isolate lives: read once.
            let ttl = self.hold_ttl.get().unwrap_or_else(|| {
                let secs = settings::var_u64(
                    &self.env,
                    "HELD_REQUEST_TTL_SECONDS",
                    settings::DEFAULT_HELD_REQUEST_TTL_SECONDS,
                );
                let ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
                let ms = ms.clamp(1000, crate::users::holds::MAX_TTL);
                self.hold_ttl.set(Some(ms));
                ms
            });
            p.expires_at = Some(now.saturating_add(ttl));
            p
        });
        // A key for the action only when the app sent none.
        let fresh_key = match request.idempotency_key {
            Some(_) => String::new(),
            None => super::fresh_key(now)?,
        };
        let tracked = service::track(
            &store,
            TrackInput {
                user_id: &user_id,
                action_code: &action_code,
                request,
                config: policy.as_ref().map(|p| &p.config),
                rules: policy.as_ref().and_then(|p| p.rules.as_ref()),
                edge: edge.as_ref(),
                pending,
                allowlist: &allowlist,
                origin: Some(&origin),
                now,
                fresh_key,
            },
        )?;
        let r = tracked.record;
        let token = mint(
            &keys,
            ttl,
            ActionClaims {
                user_id,
                action_code,
                idempotency_key: r.idempotency_key.clone(),
                proved: false,
            },
            now,
        )?;
        let url = format!("{origin}/challenge?token={token}");
        let body = TrackResponse {
            idempotency_key: r.idempotency_key,
            state: r.state,
            url,
            token,
            is_enrolled: !tracked.enrolled.is_empty(),
            enrolled_verification_methods: tracked.enrolled,
            allowed_verification_methods: r.allowed_verification_methods,
            default_verification_method: r.default_verification_method,
            rule_ids: r.rule_ids,
        };
        serde_json::to_string(&body).map_err(ApiError::internal)
    }
}
