//! The per-user Durable Object: one SQLite database per user holding the
//! user's profile, actions and authenticators.
//!
//! A Durable Object processes one event at a time and its SQL API is
//! synchronous, so the check-then-insert of track (no `.await` between) is
//! atomic: fifty concurrent tracks with one idempotency key store one
//! action. The worker talks to it with [`UserCommand`]s as JSON; the object
//! answers with the final API response (success body or error body).

use std::cell::Cell;
use std::rc::Rc;

use actiongate_core::actions::model::{
    ActionRecord, EnrollAuthenticatorRequest, TrackResponse, UserPatch,
};
use actiongate_core::actions::state::ActionState;
use actiongate_core::auth::token::ActionClaims;
use actiongate_core::auth::webauthn::{
    AuthenticationResponse, Ceremony, RegistrationResponse, UserVerification, WebAuthnError,
};
use actiongate_core::error::CoreError;
use actiongate_core::service::passkeys::{self, ActionRef};
use actiongate_core::service::{self, TrackInput};
use actiongate_core::store::snapshot_cache::{Cached, SnapshotCache};
use actiongate_core::store::{ActionQuery, UserStore};
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

use crate::clock::now_ms;
use crate::config_store;
use crate::http::{ApiError, json_response, json_text_response};
use crate::settings::{self, DEFAULT_TOKEN_TTL_SECONDS};
use crate::users::commands::{Track, USER_HEADER, UserCommand, Verifier};
use crate::users::outbox;
use crate::users::sql_store::{SCHEMA, SqlUserStore};

impl Verifier {
    fn note(
        &self,
        store: &impl actiongate_core::store::UserStore,
        code: &str,
        key: &str,
    ) -> std::result::Result<(), ApiError> {
        Ok(service::note_verifier(
            store,
            code,
            key,
            self.device_id.as_deref(),
            self.country.as_deref(),
        )?)
    }
}

/// The Durable Object class (`UserObject` in wrangler.toml).
#[durable_object(alarm)]
pub struct UserObject {
    state: State,
    env: Env,
    schema_ready: Cell<bool>,
    /// Whether this instance has set up counting its tracks
    /// ([`SqlUserStore::start_counting`], before its first track).
    counting_ready: Cell<bool>,
    /// The user of the request being handled (from the worker's header).
    user_id: std::cell::RefCell<String>,
    /// Set when the request put events in the outbox (see [`SqlUserStore`]).
    emitted: Rc<Cell<Option<i64>>>,
    /// The outbox alarm this object set and has not seen fire.
    alarm_at: Cell<Option<i64>>,
    /// Whether webhooks and analytics are on, read once.
    sinks: Cell<Option<(bool, Option<i64>)>>,
    /// What tracks read of the user, kept while the object is awake.
    snapshot: SnapshotCache,
    /// Whether the alarm handler is running: it sets the alarm itself, so
    /// requests that interleave with it ask the runtime, not `alarm_at`.
    in_alarm: Cell<bool>,
}

impl DurableObject for UserObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            schema_ready: Cell::new(false),
            counting_ready: Cell::new(false),
            user_id: std::cell::RefCell::new(String::new()),
            emitted: Rc::new(Cell::new(None)),
            alarm_at: Cell::new(None),
            in_alarm: Cell::new(false),
            sinks: Cell::new(None),
            snapshot: SnapshotCache::new(),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let user = req.headers().get(USER_HEADER).ok().flatten();
        *self.user_id.borrow_mut() = decode_user(user.as_deref());
        let result = match req.bytes().await {
            Ok(body) => match serde_json::from_slice::<UserCommand>(&body) {
                Ok(cmd) => self.handle(cmd).await,
                Err(e) => Err(ApiError::internal(format!("bad user command: {e}"))),
            },
            Err(e) => Err(ApiError::internal(format!("reading a user command: {e}"))),
        };
        // Events went into the outbox: deliver them right after this answer.
        if let Some(delay) = self.emitted.take()
            && let Err(e) = outbox::schedule(
                &self.state,
                delay,
                (!self.in_alarm.get()).then_some(&self.alarm_at),
            )
            .await
        {
            worker::console_error!("could not schedule outbox delivery: {e}");
        }
        match result {
            Ok(r) => Ok(r),
            Err(e) => e.into_response(),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // The alarm may be the first thing this instance does, after an
        // upgrade that added tables its delivery reads.
        if let Err(e) = self.ensure_schema() {
            worker::console_error!("outbox: {}", e.description);
        }
        self.in_alarm.set(true);
        self.alarm_at.set(None);
        outbox::deliver(&self.state, &self.env).await;
        // Delivery set the next alarm (or none): read it back when next needed.
        self.alarm_at.set(None);
        self.in_alarm.set(false);
        Response::empty()
    }
}

/// The user id the worker sent, percent-encoded, in [`USER_HEADER`].
fn decode_user(header: Option<&str>) -> String {
    header
        .map(|h| {
            percent_encoding::percent_decode_str(h)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default()
}

/// The synchronous path for tracks, called by the object's JavaScript class
/// (`src/entry.mjs`, through `src/bridge.rs`), which reads the request body
/// and sets the alarm itself: nothing here awaits, so a track crosses no
/// futures bridge.
impl UserObject {
    /// Answer a `track` command (JSON text) when everything it needs is at
    /// hand: the status and the body JSON, as [`json_response`] would send
    /// them, or `None` when it must take [`DurableObject::fetch`] instead
    /// (another command, or a policy this isolate has not cached), having
    /// changed nothing. Afterwards ask [`Self::alarm_wanted`].
    pub fn track_now(&self, user: Option<String>, command: &str) -> Option<(u16, String)> {
        if !command.starts_with(r#"{"op":"track","#) {
            return None;
        }
        // The command's fields follow its tag, which `Track` ignores.
        let track = serde_json::from_str::<Track>(command).ok()?;
        let policy = config_store::cached(&track.action_code)?;
        *self.user_id.borrow_mut() = decode_user(user.as_deref());
        Some(match self.track_with(policy, track) {
            Ok(body) => (200, body),
            Err(e) => (e.status, e.body().to_string()),
        })
    }

    /// After [`Self::track_now`]: the time (ms since the epoch) the alarm must
    /// fire by to deliver what it put in the outbox, when an alarm must be set
    /// for it (unless one is due sooner); `None` when none is needed or
    /// this object already set one that fires in time.
    pub fn alarm_wanted(&self) -> Option<actiongate_core::time::Millis> {
        let delay = self.emitted.take()?;
        let want = now_ms().saturating_add(delay);
        if !self.in_alarm.get() {
            if delay > 0
                && let Some(at) = self.alarm_at.get()
                && at <= want
            {
                return None;
            }
            self.alarm_at.set(Some(want));
        }
        Some(want)
    }

    /// The alarm [`Self::alarm_wanted`] asked for could not be set.
    pub fn alarm_unknown(&self) {
        self.alarm_at.set(None);
    }
}

impl UserObject {
    /// Create the tables this version needs, once per instance.
    fn ensure_schema(&self) -> std::result::Result<(), ApiError> {
        crate::http::create_tables_once(&self.state, &self.schema_ready, SCHEMA)
    }

    fn store(&self) -> std::result::Result<Cached<'_, SqlUserStore>, ApiError> {
        // Variables do not change while an isolate lives.
        let (webhooks, analytics) = match self.sinks.get() {
            Some(f) => f,
            None => {
                let f = (
                    outbox::webhooks_enabled(&self.env),
                    outbox::analytics_enabled(&self.env)
                        .then(|| outbox::analytics_delay_ms(&self.env)),
                );
                self.sinks.set(Some(f));
                f
            }
        };
        let store = SqlUserStore::new(
            self.state.storage().sql(),
            self.user_id.borrow().clone(),
            webhooks,
            analytics,
            self.emitted.clone(),
        );
        self.ensure_schema()?;
        Ok(Cached::new(store, &self.snapshot))
    }

    async fn handle(&self, cmd: UserCommand) -> std::result::Result<Response, ApiError> {
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
                            _ => (404, "invalid_token"),
                        };
                        Err(ApiError::new(status, code, e.to_string()))
                    }
                }
            }
            UserCommand::ChallengeInfo {
                user_id,
                action_code,
                idempotency_key,
                proved,
            } => {
                let policy = config_store::load(&self.env, &action_code).await?;
                let store = self.store()?;
                let record = service::get_action(&store, &action_code, &idempotency_key)?;
                let auths = store.list_authenticators()?;
                let user = service::get_user(&store, &user_id)?;
                let has = |m: actiongate_core::auth::methods::VerificationMethod| {
                    auths
                        .iter()
                        .any(|a| a.verified_at.is_some() && a.verification_method == m)
                };
                // Only a client holding proof could accept the offer.
                let prompt_passkey = proved && passkeys::should_prompt(&store, &record, now_ms())?;
                // Methods the user has that can prove them to add the
                // passkey a passkey-only action needs.
                let mut unlock_methods: Vec<_> = auths
                    .iter()
                    .map(|a| a.verification_method)
                    .filter(|m| service::unlocks_enrollment(&record, &auths, *m))
                    .collect();
                unlock_methods.sort();
                unlock_methods.dedup();
                let has_app = auths.iter().any(|a| {
                    a.verified_at.is_some()
                        && a.verification_method
                            == actiongate_core::auth::methods::VerificationMethod::AuthenticatorApp
                });
                // The message in the action's locale, else English.
                let message = policy.as_ref().and_then(|p| {
                    let templates = &p.config.input.messaging_templates;
                    let locale = record.request.locale.as_deref().unwrap_or("en");
                    templates
                        .get(locale)
                        .or_else(|| templates.get(locale.split('-').next().unwrap_or("en")))
                        .or_else(|| templates.get("en"))
                        .and_then(|t| {
                            record.context.as_ref().and_then(|c| {
                                actiongate_core::present::render_template(&t.default_template, c)
                            })
                        })
                });
                json_response(
                    200,
                    &serde_json::json!({
                        "actionCode": action_code,
                        "idempotencyKey": idempotency_key,
                        "state": record.state,
                        "allowedVerificationMethods": record.allowed_verification_methods,
                        "defaultVerificationMethod": record.default_verification_method,
                        "isEnrolled": user.is_enrolled,
                        "enrolledVerificationMethods": user.enrolled_verification_methods,
                        "hasAuthenticatorApp": has_app,
                        "hasPasskey": has(actiongate_core::auth::methods::VerificationMethod::Passkey),
                        "hasSecurityKey": has(actiongate_core::auth::methods::VerificationMethod::SecurityKey),
                        "promptPasskey": prompt_passkey,
                        "unlockMethods": unlock_methods,
                        "enrollmentUnlocked": record.enrollment_unlocked_by.is_some(),
                        "messageHtml": message,
                        "redirectUrl": record.request.redirect_url,
                        "failedAttempts": record.failed_attempts,
                    }),
                )
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
            UserCommand::VerifyTotp {
                user_id,
                action_code,
                idempotency_key,
                code,
                verifier,
            } => {
                let veto = self.veto_wanted(&action_code).await?;
                let store = self.store()?;
                verifier.note(&store, &action_code, &idempotency_key)?;
                let now = now_ms();
                let check = service::verify_totp(
                    &store,
                    &user_id,
                    &action_code,
                    &idempotency_key,
                    &code,
                    now,
                )?;
                if let Some(r) = self.vetoed_check(&store, &user_id, &check, veto).await? {
                    return Ok(r);
                }
                self.code_check_response(check, user_id, action_code, true, now)
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
                let salt: String = random.iter().skip(8).map(|b| format!("{b:02x}")).collect();
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
            } => {
                let veto = self.veto_wanted(&action_code).await?;
                let store = self.store()?;
                verifier.note(&store, &action_code, &idempotency_key)?;
                let now = now_ms();
                let check = service::verify_code(
                    &store,
                    &user_id,
                    &action_code,
                    &idempotency_key,
                    channel,
                    &code,
                    now,
                )?;
                if let Some(r) = self.vetoed_check(&store, &user_id, &check, veto).await? {
                    return Ok(r);
                }
                self.code_check_response(check, user_id, action_code, true, now)
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
                        now_ms(),
                    ),
                    None => json_response(200, &serde_json::json!({"isVerified": false})),
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
            UserCommand::GetUser { user_id } => {
                let store = self.store()?;
                json_response(200, &service::get_user(&store, &user_id)?)
            }
            UserCommand::PatchUser { user_id, patch } => {
                let patch: UserPatch =
                    actiongate_core::error::parse_json(patch.to_string().as_bytes())?;
                let store = self.store()?;
                json_response(
                    200,
                    &service::patch_user(&store, &user_id, patch, now_ms())?,
                )
            }
            UserCommand::DeleteUser => {
                let store = self.store()?;
                service::delete_user(&store, now_ms())?;
                json_response(200, &serde_json::json!({"success": true}))
            }
            UserCommand::ListAuthenticators { user_id } => {
                let store = self.store()?;
                json_response(200, &service::list_authenticators(&store, &user_id)?)
            }
            UserCommand::EnrollAuthenticator { user_id, request } => {
                let req: EnrollAuthenticatorRequest =
                    actiongate_core::error::parse_json(request.to_string().as_bytes())?;
                let store = self.store()?;
                let id = uuid::Uuid::new_v4().to_string();
                let view = service::enroll_authenticator(&store, &user_id, req, id, now_ms())?;
                json_response(200, &serde_json::json!({ "authenticator": view }))
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
                let veto = self.veto_wanted(&action_code).await?;
                let store = self.store()?;
                verifier.note(&store, &action_code, &idempotency_key)?;
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
                    uuid::Uuid::new_v4().to_string(),
                    now,
                )?;
                if let Some(v) = self.veto(&store, &user_id, &r.record, veto).await? {
                    return Err(vetoed_error(&v));
                }
                let token =
                    self.fresh_token(&user_id, &action_code, &idempotency_key, true, now)?;
                json_response(
                    200,
                    &serde_json::json!({
                        "isVerified": true,
                        "accessToken": token,
                        "userAuthenticatorId": r.authenticator.user_authenticator_id,
                        "userId": user_id,
                        "userAuthenticator": r.authenticator,
                        "state": r.record.state,
                    }),
                )
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
                    Verifier {
                        device_id: device_id.clone(),
                        country: edge.as_ref().and_then(|e| e.geo.country_code.clone()),
                    }
                    .note(&store, code, key)?;
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
                let sign_in = action.is_none().then(|| TrackInput {
                    fresh_key: uuid::Uuid::new_v4().to_string(),
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
                    .map(ActionRecord::to_get_response)
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
        }
    }

    /// Whether this object has its tables (it stored something once),
    /// found out by reading only.
    fn has_tables(&self) -> bool {
        if self.schema_ready.get() {
            return true;
        }
        crate::users::sql_store::has_tables(&self.state.storage().sql())
    }

    /// Whether the action asks the app before a challenge succeeds
    /// (`actionVerifyWebhook`). Read before the challenge is checked: once
    /// it is, nothing may be awaited until the app has answered.
    async fn veto_wanted(&self, action_code: &str) -> std::result::Result<bool, ApiError> {
        Ok(config_store::load(&self.env, action_code)
            .await?
            .is_some_and(|p| p.config.input.action_verify_webhook))
    }

    /// The answer to a code that verified but was vetoed, if it was.
    async fn vetoed_check(
        &self,
        store: &Cached<'_, SqlUserStore>,
        user_id: &str,
        check: &service::CodeCheck,
        wanted: bool,
    ) -> std::result::Result<Option<Response>, ApiError> {
        let service::CodeCheck::Verified { record, .. } = check else {
            return Ok(None);
        };
        match self.veto(store, user_id, record, wanted).await? {
            None => Ok(None),
            Some(v) => {
                let mut body = serde_json::json!({"isVerified": false, "failureReason": "VETOED"});
                if let (Some(reason), Some(o)) = (vetoed_reason(&v), body.as_object_mut()) {
                    o.insert("reason".into(), serde_json::json!(reason));
                }
                json_response(200, &body).map(Some)
            }
        }
    }

    /// The synchronous `action.verify` webhook: a challenge of an action
    /// that asks for it has just succeeded; the app says whether it stands.
    /// While the app is asked, the object takes no other request, so
    /// nothing (no retry with the token, no validate) sees the action
    /// succeeded before the answer. No answer (down, slow, not 2xx, no
    /// `ACTION_VERIFY_WEBHOOK_URL`) counts as a veto: it fails closed.
    /// Returns the action after a veto (`CHALLENGE_FAILED`), or `None`.
    async fn veto(
        &self,
        store: &Cached<'_, SqlUserStore>,
        user_id: &str,
        record: &ActionRecord,
        wanted: bool,
    ) -> std::result::Result<Option<ActionRecord>, ApiError> {
        if !wanted || record.state != ActionState::ChallengeSucceeded {
            return Ok(None);
        }
        let url = settings::var(&self.env, "ACTION_VERIFY_WEBHOOK_URL")
            .trim()
            .to_owned();
        let verdict: std::result::Result<outbox::Verdict, String> = if url.is_empty() {
            Err("ACTION_VERIFY_WEBHOOK_URL is not set".to_owned())
        } else {
            let secret = settings::secret(&self.env, "API_SECRET_KEY")?;
            let data = serde_json::json!({
                "userId": user_id,
                "actionCode": record.action_code,
                "idempotencyKey": record.idempotency_key,
                "verificationMethod": record.verification_method,
                "ruleIds": record.rule_ids,
                "custom": record.request.custom,
            });
            let body = crate::delivery::webhook_envelope(
                &self.env,
                "action.verify",
                &uuid::Uuid::new_v4().to_string(),
                data,
            )
            .to_string();
            // The gate closes with this call, before anything else runs.
            self.state
                .block_concurrency_while(
                    async move { Ok(outbox::ask_app(&url, &body, &secret).await) },
                )
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        };
        let reason = match verdict {
            Ok(v) if v.is_verified => return Ok(None),
            Ok(v) => v.reason,
            Err(e) => {
                worker::console_error!("action.verify: {e}");
                Some("the app could not confirm this request".to_owned())
            }
        };
        let vetoed = service::update_state(
            store,
            &record.action_code,
            &record.idempotency_key,
            ActionState::ChallengeFailed,
            actiongate_core::actions::model::Cause::Vetoed { reason },
            now_ms(),
        )?;
        Ok(Some(vetoed))
    }

    /// The `userVerification` an action's passkey ceremonies use.
    async fn passkey_user_verification(
        &self,
        action_code: &str,
    ) -> std::result::Result<UserVerification, ApiError> {
        Ok(config_store::load(&self.env, action_code)
            .await?
            .and_then(|p| p.config.input.passkey_user_verification)
            .unwrap_or_default())
    }

    /// Open a sealed ceremony (`challengeId`).
    fn open_ceremony(
        &self,
        id: Option<String>,
        now: i64,
    ) -> std::result::Result<Ceremony, ApiError> {
        let id = id.ok_or_else(|| CoreError::from(WebAuthnError::InvalidChallengeId))?;
        settings::ceremony_keys(&self.env)?
            .open(&id, u64::try_from(now / 1000).unwrap_or(0))
            .map_err(|e| CoreError::from(e).into())
    }

    /// A token for an action whose challenge was just completed.
    /// An access token for the action; `proved` when the client just
    /// verified with one of the user's authenticators (not a magic link).
    fn fresh_token(
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
    fn code_check_response(
        &self,
        check: service::CodeCheck,
        user_id: String,
        action_code: String,
        proved: bool,
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

    /// A track once its policy is loaded: nothing here awaits, so the
    /// check-then-insert runs without yielding, which is what makes
    /// idempotency atomic.
    fn track_with(
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
            inner
                .start_counting(inner.counts_analytics())
                .map_err(ApiError::unavailable)?;
            self.counting_ready.set(true);
        }
        let now = now_ms();
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
                fresh_key: uuid::Uuid::new_v4().to_string(),
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

/// The one place action tokens are signed: track's token and the access
/// tokens of verifications.
fn mint(
    keys: &actiongate_core::auth::token::TokenKeys,
    ttl: u64,
    claims: ActionClaims,
    now: i64,
) -> std::result::Result<String, ApiError> {
    Ok(keys.sign(&claims, u64::try_from(now / 1000).unwrap_or(0), ttl)?)
}

/// The app's reason for a veto, from the action's audit trail.
fn vetoed_reason(record: &ActionRecord) -> Option<String> {
    match record.history.last().map(|h| &h.cause) {
        Some(actiongate_core::actions::model::Cause::Vetoed { reason }) => reason.clone(),
        _ => None,
    }
}

/// The error a passkey route answers when the app vetoed the sign-in.
fn vetoed_error(record: &ActionRecord) -> ApiError {
    ApiError::new(
        403,
        "challenge_vetoed",
        match vetoed_reason(record) {
            Some(r) => format!("The app refused this request: {r}"),
            None => "The app refused this request.".to_owned(),
        },
    )
}
