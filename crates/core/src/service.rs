//! The per-user service: what the user's Durable Object does for each
//! Server API call, over any [`UserStore`].
//!
//! Functions here take the store, the request and `now`; they never read the
//! clock, generate randomness or touch HTTP. Fresh identifiers are passed in.

use serde_json::Value;

use crate::actions::events::Event;
use crate::actions::model::{
    ActionRecord, Authenticator, AuthenticatorView, Cause, EnrollAuthenticatorRequest,
    PendingRequest, RuleRef, StateChange, TrackRequest, UserPatch, UserRecord, UserView,
    Whereabouts,
};
use crate::actions::state::{ActionState, Outcome};
use crate::auth::methods::{DEFAULT_METHODS, VerificationMethod};
use crate::auth::otp::Channel;
use crate::auth::throttle::{Guesses, Refusal};
use crate::error::CoreError;
use crate::geo::EdgeInfo;
use crate::ids::{check_action_code, check_idempotency_key, check_user_id};
use crate::policy::config::ActionConfiguration;
use crate::policy::context::{self, History, Signals};
use crate::policy::rules::{CompiledRules, Evaluation};
use crate::redirect::RedirectAllowlist;
use crate::store::{ActionQuery, UserStore};
use crate::time::Millis;

/// Everything track needs besides the store.
#[derive(Debug)]
pub struct TrackInput<'a> {
    /// The user.
    pub user_id: &'a str,
    /// The action code.
    pub action_code: &'a str,
    /// The request body.
    pub request: TrackRequest,
    /// The action's configuration; `None` means the default (ALLOW).
    pub config: Option<&'a ActionConfiguration>,
    /// Its compiled rules, if it has any.
    pub rules: Option<&'a CompiledRules>,
    /// What the edge saw of the user's connection, when it saw it.
    pub edge: Option<&'a EdgeInfo>,
    /// The app request the edge proxy holds back (edge proxy only).
    pub pending: Option<PendingRequest>,
    /// Where `redirectUrl` may point (besides `origin`).
    pub allowlist: &'a RedirectAllowlist,
    /// The worker's own origin, always a valid `redirectUrl`.
    pub origin: Option<&'a str>,
    /// Current time.
    pub now: Millis,
    /// A fresh UUID v4 to use when the request has no idempotency key.
    pub fresh_key: String,
}

impl<'a> TrackInput<'a> {
    /// A track of `action_code` for `user_id` with its configuration and
    /// rules, seen by no edge, holding no request, at `now`, with no fresh
    /// key (set `fresh_key` when the request may lack one).
    pub fn new(
        user_id: &'a str,
        action_code: &'a str,
        request: TrackRequest,
        (config, rules): (Option<&'a ActionConfiguration>, Option<&'a CompiledRules>),
        allowlist: &'a RedirectAllowlist,
        now: Millis,
    ) -> Self {
        TrackInput {
            user_id,
            action_code,
            request,
            config,
            rules,
            edge: None,
            pending: None,
            allowlist,
            origin: None,
            now,
            fresh_key: String::new(),
        }
    }
}

/// What track did.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    /// The stored action.
    pub record: ActionRecord,
    /// `false` when an earlier track with the same key was returned.
    pub created: bool,
    /// Methods the user has enrolled.
    pub enrolled: Vec<VerificationMethod>,
}

/// The result of evaluating an action's configuration and rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The outcome.
    pub outcome: Outcome,
    /// Methods a challenge may use (the deciding rule's, else the action's).
    pub allowed_methods: Vec<VerificationMethod>,
    /// The method to preselect (the deciding rule's, else the action's override).
    pub default_method: Option<VerificationMethod>,
    /// Matched rule ids, deciding rule first.
    pub rule_ids: Vec<String>,
    /// Matched rules, deciding rule first.
    pub rules: Vec<RuleRef>,
    /// The rule that decided, if any matched.
    pub deciding_rule_id: Option<String>,
    /// Whether a successful challenge leads to manual review.
    pub review_after_challenge: bool,
    /// Methods to offer enrolling after the challenge.
    pub prompt_to_enroll: Vec<VerificationMethod>,
}

/// Decide an action: the configuration's default outcome (ALLOW without a
/// configuration), overridden by the highest-priority matching rule.
pub fn decide(
    config: Option<&ActionConfiguration>,
    rules: Option<&CompiledRules>,
    context: &Value,
) -> (Decision, Evaluation) {
    let mut d = match config {
        Some(c) => Decision {
            outcome: c.input.default_user_action_result,
            allowed_methods: c.input.allowed_methods(),
            default_method: c.input.default_verification_method,
            rule_ids: Vec::new(),
            rules: Vec::new(),
            deciding_rule_id: None,
            review_after_challenge: false,
            prompt_to_enroll: c.input.prompt_to_enroll_verification_methods.clone(),
        },
        None => Decision {
            outcome: Outcome::Allow,
            allowed_methods: DEFAULT_METHODS.to_vec(),
            default_method: None,
            rule_ids: Vec::new(),
            rules: Vec::new(),
            deciding_rule_id: None,
            review_after_challenge: false,
            prompt_to_enroll: Vec::new(),
        },
    };
    let evaluation = rules.map(|r| r.evaluate(context)).unwrap_or_default();
    if let Some(rule) = evaluation.deciding() {
        let r = &rule.input;
        d.outcome = r.outcome;
        if !r.verification_methods.is_empty() {
            d.allowed_methods = r.verification_methods.clone();
            if d.default_method
                .is_some_and(|m| !d.allowed_methods.contains(&m))
            {
                d.default_method = None;
            }
        }
        if r.default_verification_method.is_some() {
            d.default_method = r.default_verification_method;
        }
        if !r.prompt_to_enroll_verification_methods.is_empty() {
            d.prompt_to_enroll = r.prompt_to_enroll_verification_methods.clone();
        }
        d.review_after_challenge = r.review_after_challenge;
        d.deciding_rule_id = Some(rule.rule_id.clone());
    }
    d.rule_ids = evaluation
        .matched
        .iter()
        .map(|r| r.rule_id.clone())
        .collect();
    d.rules = evaluation.matched.iter().map(|r| r.to_ref()).collect();
    (d, evaluation)
}

/// What the user's store knows before this action, for the rules.
///
/// # Errors
/// [`CoreError::Internal`] when storage fails.
pub fn history<S: UserStore>(
    store: &S,
    action_code: &str,
    signals: &Signals,
    enrolled: bool,
    now: Millis,
) -> Result<History, CoreError> {
    let mut hist = store.history(
        action_code,
        signals.device_id.as_deref(),
        signals.geo.country_code.as_deref(),
        now,
    )?;
    hist.is_enrolled = enrolled;
    Ok(hist)
}

fn request_hash(request: &TrackRequest) -> Result<String, CoreError> {
    let canonical = serde_json::to_vec(request)
        .map_err(|e| CoreError::Internal(format!("hashing a track request: {e}")))?;
    Ok(hmac_sha256::Hash::hash(&canonical)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn check_email(email: &str, field: &str) -> Result<(), CoreError> {
    let ok = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(CoreError::field(
            field,
            format!("{email:?} is not an email address"),
        ))
    }
}

fn check_phone(phone: &str, field: &str) -> Result<(), CoreError> {
    let digits = phone.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CoreError::field(
            field,
            format!("{phone:?} is not an E.164 phone number (+ and 8 to 15 digits)"),
        ))
    }
}

/// Methods of the user's verified authenticators (a pending enrollment is not one).
fn enrolled_methods(auths: &[Authenticator]) -> Vec<VerificationMethod> {
    let mut methods: Vec<VerificationMethod> = auths
        .iter()
        .filter(|a| a.verified_at.is_some())
        .map(|a| a.verification_method)
        .collect();
    methods.sort();
    methods.dedup();
    methods
}

/// Track an action: return the stored one for a known idempotency key,
/// otherwise decide it and store it.
///
/// # Errors
/// [`CoreError::InvalidField`] for a bad key, code, email, phone or
/// `redirectUrl`; [`CoreError::IdempotencyConflict`] when the key was used
/// with a different body; [`CoreError::Internal`] when storage fails.
pub fn track<S: UserStore>(store: &S, input: TrackInput<'_>) -> Result<Tracked, CoreError> {
    check_user_id(input.user_id)?;
    check_action_code(input.action_code, "action")?;
    let req = input.request;
    let key_given = req.idempotency_key.is_some();
    let key = req.idempotency_key.clone().unwrap_or(input.fresh_key);
    check_idempotency_key(&key)?;
    if let Some(url) = &req.redirect_url {
        input.allowlist.check_or_same_origin(url, input.origin)?;
    }
    if let Some(e) = &req.email {
        check_email(e, "email")?;
    }
    if let Some(p) = &req.phone_number {
        check_phone(p, "phoneNumber")?;
    }
    let hash = request_hash(&req)?;

    if key_given && let Some(existing) = store.get_action(input.action_code, &key)? {
        if existing.request_hash != hash {
            return Err(CoreError::IdempotencyConflict(key));
        }
        return Ok(Tracked {
            record: existing,
            created: false,
            enrolled: enrolled_methods(&store.list_authenticators()?),
        });
    }

    let signals = Signals::merge(&req, input.edge);
    let snapshot = store.track_snapshot(
        input.action_code,
        signals.device_id.as_deref(),
        signals.geo.country_code.as_deref(),
        input.now,
    )?;
    let auths = snapshot.authenticators;
    let enrolled = enrolled_methods(&auths);
    let mut user = snapshot.user;
    let mut hist = snapshot.history;
    hist.is_enrolled = !enrolled.is_empty();
    let ctx = context::build(
        input.action_code,
        &req,
        user.as_ref().unwrap_or(&UserRecord::default()),
        &hist,
        &signals,
        input.now,
    );
    let (decision, _) = decide(input.config, input.rules, &ctx);
    let default_method = decision.default_method.or_else(|| {
        auths
            .iter()
            .filter(|a| {
                a.verified_at.is_some() && decision.allowed_methods.contains(&a.verification_method)
            })
            .max_by_key(|a| a.is_default)
            .map(|a| a.verification_method)
    });

    let mut changed = user.is_none();
    let u = user.get_or_insert_with(|| UserRecord {
        created_at: input.now,
        updated_at: input.now,
        ..UserRecord::default()
    });
    for (slot, value) in [
        (&mut u.email, &req.email),
        (&mut u.phone_number, &req.phone_number),
        (&mut u.username, &req.username),
    ] {
        if slot.is_none() && value.is_some() {
            slot.clone_from(value);
            changed = true;
        }
    }
    if changed {
        u.updated_at = input.now;
        store.put_user(u)?;
    }

    let mut record = ActionRecord {
        action_code: input.action_code.to_owned(),
        idempotency_key: key,
        state: decision.outcome.initial_state(),
        created_at: input.now,
        updated_at: input.now,
        state_updated_at: input.now,
        verification_method: None,
        request_hash: hash,
        rule_ids: decision.rule_ids,
        rules: decision.rules,
        deciding_rule_id: decision.deciding_rule_id,
        review_after_challenge: decision.review_after_challenge,
        prompt_to_enroll_verification_methods: decision.prompt_to_enroll,
        context: Some(ctx),
        // Held only while there is something to wait for: an ALLOW was
        // forwarded already and a BLOCK never will be, so neither leaves a
        // request that a token could release (again).
        pending_request: input
            .pending
            .filter(|_| decision.outcome.initial_state().is_pending()),
        replayed_at: None,
        failed_attempts: 0,
        sent_code: None,
        codes_sent: 0,
        last_code_sent_at: None,
        allowed_verification_methods: decision.allowed_methods,
        default_verification_method: default_method,
        request: TrackRequest {
            idempotency_key: None,
            ..req
        },
        output: None,
        webauthn_ceremony: None,
        enrollment_unlocked_by: None,
        history: Vec::new(),
        whereabouts: Some(Whereabouts {
            device_id: signals.device_id.clone(),
            country: signals.geo.country_code.clone(),
            fix: signals.fix(input.now),
            contested: false,
        }),
    };
    record.history.push(StateChange {
        from: None,
        to: record.state,
        at: input.now,
        cause: Cause::Track {
            rule_id: record.deciding_rule_id.clone(),
        },
    });
    store.insert_action(&record)?;
    store.emit(Event::created(&record))?;
    // Seen, not known: a track proves nothing (see `context`).
    store.remember(
        signals.device_id.as_deref(),
        signals.geo.country_code.as_deref(),
        None,
        false,
        input.now,
    )?;
    Ok(Tracked {
        record,
        created: true,
        enrolled,
    })
}

/// What simulate answers: the decision a track would make now, why, and
/// the data it was made on. Nothing is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// The decision.
    pub decision: Decision,
    /// Per-rule trace (see [`CompiledRules::trace`]).
    pub trace: Vec<Value>,
    /// The context the rules saw.
    pub context: Value,
}

/// Evaluate a hypothetical track for this user without storing anything.
///
/// # Errors
/// [`CoreError::InvalidField`] for a bad code or user id, or [`CoreError::Internal`].
pub fn simulate<S: UserStore>(store: &S, input: TrackInput<'_>) -> Result<Simulation, CoreError> {
    check_user_id(input.user_id)?;
    check_action_code(input.action_code, "action")?;
    let enrolled = !store.list_authenticators()?.is_empty();
    let user = store.get_user()?.unwrap_or_default();
    let signals = Signals::merge(&input.request, input.edge);
    let hist = history(store, input.action_code, &signals, enrolled, input.now)?;
    let ctx = context::build(
        input.action_code,
        &input.request,
        &user,
        &hist,
        &signals,
        input.now,
    );
    let (decision, _) = decide(input.config, input.rules, &ctx);
    let trace = input.rules.map(|r| r.trace(&ctx)).unwrap_or_default();
    Ok(Simulation {
        decision,
        trace,
        context: ctx,
    })
}

/// Record a successful challenge: `CHALLENGE_SUCCEEDED`, or
/// `REVIEW_REQUIRED` when the deciding rule also demands manual review.
///
/// # Errors
/// [`CoreError::ActionNotFound`], [`CoreError::IllegalTransition`] when the
/// action is not waiting for a challenge, or [`CoreError::Internal`].
pub fn complete_challenge<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    method: VerificationMethod,
    now: Millis,
) -> Result<ActionRecord, CoreError> {
    let mut record = get_action(store, code, key)?;
    // The one place a challenge completes: the method must be one the
    // action (or its deciding rule) allows, whatever route got here.
    if !record.allowed_verification_methods.contains(&method) {
        return Err(not_allowed(method));
    }
    let to = if record.review_after_challenge {
        ActionState::ReviewRequired
    } else {
        ActionState::ChallengeSucceeded
    };
    // Only a pending challenge completes (the no-op rule of updates does not apply).
    if record.state != ActionState::ChallengeRequired {
        return Err(CoreError::IllegalTransition {
            from: record.state,
            to,
        });
    }
    record.move_to(to, Cause::Challenge { method }, now)?;
    record.verification_method = Some(method);
    save_state_change(store, &record)?;
    Ok(record)
}

/// A passkey sign-in that names only an action (no token): decided
/// exactly as a track of that action would be, with the passkey as its
/// completed challenge. The configuration's default outcome and the rules
/// decide: a challenge that allows `method` succeeds (or goes to review
/// when the deciding rule asks for both); REVIEW leaves the action in
/// review; an ALLOW records the passkey that was used; BLOCK, or a
/// challenge that does not allow `method`, refuses. Every outcome is
/// stored, with its context and rules, as a track's is.
///
/// # Errors
/// [`CoreError::Blocked`]; [`CoreError::InvalidField`] when the decided
/// challenge does not allow `method`; the errors of [`track`].
pub fn sign_in<S: UserStore>(
    store: &S,
    input: TrackInput<'_>,
    method: VerificationMethod,
) -> Result<ActionRecord, CoreError> {
    let now = input.now;
    let mut record = track(store, input)?.record;
    match record.state {
        ActionState::ChallengeRequired if record.allowed_verification_methods.contains(&method) => {
            complete_challenge(
                store,
                &record.action_code,
                &record.idempotency_key,
                method,
                now,
            )
        }
        ActionState::ChallengeRequired => Err(not_allowed(method)),
        ActionState::Allow => {
            record.verification_method = Some(method);
            record.updated_at = now;
            store.update_action(&record)?;
            Ok(record)
        }
        ActionState::ReviewRequired => Ok(record),
        _ => Err(CoreError::Blocked(format!(
            "{} is blocked for this user.",
            record.action_code
        ))),
    }
}

/// Store an action whose state just changed, with the event that says so.
fn save_state_change<S: UserStore>(store: &S, record: &ActionRecord) -> Result<(), CoreError> {
    store.update_action(record)?;
    if let Some(e) = Event::state_changed(record) {
        store.emit(e)?;
    }
    // A passed challenge or an approval: where it came from is now known,
    // unless the proof came from elsewhere.
    if record.proves_whereabouts()
        && let Some(w) = record.whereabouts.as_ref().filter(|w| !w.contested)
    {
        store.remember(
            w.device_id.as_deref(),
            w.country.as_deref(),
            w.fix,
            true,
            record.state_updated_at,
        )?;
    }
    Ok(())
}

/// Note where a client that is about to verify for this action is (its
/// device cookie and country, where the request showed them): when either
/// differs from where the action came from, a proof from this client does
/// not make the action's device, country and location known (see
/// [`ActionRecord::proves_whereabouts`]). Unknown to the client (no cookie,
/// no country) contests nothing.
///
/// # Errors
/// [`CoreError::ActionNotFound`] or storage errors.
pub fn note_verifier<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    device: Option<&str>,
    country: Option<&str>,
) -> Result<(), CoreError> {
    let mut record = get_action(store, code, key)?;
    let Some(w) = record.whereabouts.as_mut() else {
        return Ok(());
    };
    let differs = |ours: Option<&str>, theirs: Option<&str>| matches!((ours, theirs), (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b));
    if !w.contested
        && (differs(w.device_id.as_deref(), device) || differs(w.country.as_deref(), country))
    {
        w.contested = true;
        store.update_action(&record)?;
    }
    Ok(())
}

/// Whether `method`, a verified method of the user that the action does not
/// allow, may prove the user so they can add what the action needs: the
/// action allows only passkeys or security keys, the user has none of
/// those, and the challenge is pending. The proof completes nothing; it lets
/// the user register a passkey, which must then sign in.
pub fn unlocks_enrollment(
    record: &ActionRecord,
    auths: &[Authenticator],
    method: VerificationMethod,
) -> bool {
    let allowed = &record.allowed_verification_methods;
    let webauthn_only = !allowed.is_empty()
        && allowed.iter().all(|m| {
            matches!(
                m,
                VerificationMethod::Passkey | VerificationMethod::SecurityKey
            )
        });
    record.state == ActionState::ChallengeRequired
        && webauthn_only
        && !allowed.contains(&method)
        && matches!(
            method,
            VerificationMethod::AuthenticatorApp
                | VerificationMethod::EmailOtp
                | VerificationMethod::Sms
        )
        && !auths
            .iter()
            .any(|a| a.verified_at.is_some() && allowed.contains(&a.verification_method))
        && auths
            .iter()
            .any(|a| a.verified_at.is_some() && a.verification_method == method)
}

/// The scope a track grants to add authenticators (Authsignal's name).
pub const ADD_AUTHENTICATORS: &str = "add:authenticators";

/// Whether the action was tracked with `scope` naming
/// [`ADD_AUTHENTICATORS`] (a space-separated list, as Authsignal's).
pub fn grants_adding(record: &ActionRecord) -> bool {
    record
        .request
        .scope
        .as_deref()
        .is_some_and(|s| s.split_whitespace().any(|x| x == ADD_AUTHENTICATORS))
}

/// Whether a client may enroll `method` during this action.
///
/// With no verified authenticator yet (first enrollment) the action must be
/// waiting for its challenge, which the new authenticator's first code or
/// ceremony completes. A user who has one is protected against a stolen
/// session adding its own factor: the client must hold proof, the
/// `accessToken` it was handed when it verified with one of the user's
/// authenticators for this action (`proved`; never a track token, never a
/// magic link), and the addition must be granted: the action was tracked
/// with `scope: "add:authenticators"`, or its configuration prompts to
/// enroll `method` after its challenge, or it is the passkey that a
/// passkey-only action needs once the user proved themselves with another
/// method they have (see [`unlocks_enrollment`]).
///
/// # Errors
/// [`CoreError::InvalidField`] saying what is missing.
pub fn check_may_add(
    record: &ActionRecord,
    auths: &[Authenticator],
    method: VerificationMethod,
    proved: bool,
) -> Result<(), CoreError> {
    if !auths.iter().any(|a| a.verified_at.is_some()) {
        return if record.state == ActionState::ChallengeRequired {
            Ok(())
        } else {
            Err(CoreError::field(
                "token",
                "the action is not waiting for a challenge",
            ))
        };
    }
    let unlocked = record.allowed_verification_methods.contains(&method)
        && record
            .enrollment_unlocked_by
            .is_some_and(|m| unlocks_enrollment(record, auths, m));
    if !unlocked && record.state != ActionState::ChallengeSucceeded {
        return Err(CoreError::field(
            "token",
            "complete the challenge with an enrolled method before adding another",
        ));
    }
    if !proved {
        return Err(CoreError::field(
            "token",
            "adding another authenticator needs the accessToken returned to the client that completed the challenge, not the track token",
        ));
    }
    if unlocked
        || grants_adding(record)
        || record
            .prompt_to_enroll_verification_methods
            .contains(&method)
    {
        Ok(())
    } else {
        Err(CoreError::field(
            "scope",
            format!(
                "adding another authenticator needs an action tracked with scope \"{ADD_AUTHENTICATORS}\""
            ),
        ))
    }
}

/// Record that the user proved themselves with `method` to add a passkey
/// (see [`unlocks_enrollment`]); the challenge stays pending.
fn unlock_enrollment<S: UserStore>(
    store: &S,
    mut record: ActionRecord,
    method: VerificationMethod,
    now: Millis,
) -> Result<ActionRecord, CoreError> {
    record.enrollment_unlocked_by = Some(method);
    record.sent_code = None;
    record.updated_at = now;
    store.update_action(&record)?;
    Ok(record)
}

/// How a held-back request is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim<'a> {
    /// A browser returning from the challenge page: replay what was stored.
    Replay,
    /// An API client retrying with the token: its request must be the one
    /// that was tracked (method, path and query, body hash).
    Retry {
        /// The retry's method.
        method: &'a str,
        /// The retry's path and query.
        path_and_query: &'a str,
        /// SHA-256 of the retry's body, hex.
        body_sha256: &'a str,
        /// The `custom` attributes read from the retry (an object): they
        /// must be the ones tracked, so that no header or query source
        /// changes after the approval.
        custom: &'a Value,
    },
}

/// Why a held-back request cannot be released.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// No such action, or it holds no request.
    #[error("there is no held-back request for this token")]
    NothingHeld,
    /// The action is not approved (yet, or at all).
    #[error("the action is {0}, not approved")]
    NotApproved(ActionState),
    /// It was released before: a token releases one request, once.
    #[error("this token was already used")]
    AlreadyUsed,
    /// A retry that is not the tracked request.
    #[error("the request does not match the one that was challenged")]
    Mismatch,
    /// Storage failed.
    #[error("{0}")]
    Storage(CoreError),
}

/// Release a held-back request, at most once, for an approved action
/// (`ALLOW`, `CHALLENGE_SUCCEEDED` or `REVIEW_SUCCEEDED`). On success the
/// action records when; [`unclaim`] undoes that when the origin failed.
///
/// # Errors
/// The [`ClaimError`] that explains the refusal.
pub fn claim<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    how: Claim<'_>,
    now: Millis,
) -> Result<ActionRecord, ClaimError> {
    let mut record = store
        .get_action(code, key)
        .map_err(ClaimError::Storage)?
        .ok_or(ClaimError::NothingHeld)?;
    let Some(held) = &record.pending_request else {
        return Err(ClaimError::NothingHeld);
    };
    if !record.state.is_approved() {
        return Err(ClaimError::NotApproved(record.state));
    }
    if record.replayed_at.is_some() {
        return Err(ClaimError::AlreadyUsed);
    }
    if let Claim::Retry {
        method,
        path_and_query,
        body_sha256,
        custom,
    } = how
        && (!held.method.eq_ignore_ascii_case(method)
            || held.path_and_query != path_and_query
            || held.body_sha256 != body_sha256
            || custom.as_object()
                != Some(
                    record
                        .request
                        .custom
                        .as_ref()
                        .unwrap_or(&serde_json::Map::new()),
                ))
    {
        return Err(ClaimError::Mismatch);
    }
    record.replayed_at = Some(now);
    record.updated_at = now;
    store.update_action(&record).map_err(ClaimError::Storage)?;
    Ok(record)
}

/// Make a claimed request claimable again (the origin could not be reached).
///
/// # Errors
/// [`CoreError::ActionNotFound`] or [`CoreError::Internal`].
pub fn unclaim<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    now: Millis,
) -> Result<(), CoreError> {
    let mut record = get_action(store, code, key)?;
    record.replayed_at = None;
    record.updated_at = now;
    store.update_action(&record)
}

/// A TOTP enrollment in progress: what the user's app needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpEnrollment {
    /// The (not yet verified) authenticator.
    pub authenticator_id: String,
    /// The secret, base32.
    pub secret: String,
    /// The `otpauth://` URI.
    pub uri: String,
}

/// Start enrolling an authenticator app during an action's challenge.
///
/// A user with no verified authenticator may enroll while the challenge is
/// pending (the first code proves the app and completes the challenge). A
/// user who has one must complete this action's challenge with it first, so
/// a stolen session cannot add its own factor.
///
/// # Errors
/// [`CoreError::InvalidField`] when the method is not allowed for the action
/// or the user must verify first; [`CoreError::ActionNotFound`]; storage errors.
#[allow(clippy::too_many_arguments)]
pub fn enroll_totp<S: UserStore>(
    store: &S,
    user_id: &str,
    code: &str,
    key: &str,
    id: String,
    random: [u8; 20],
    issuer: &str,
    proved: bool,
    now: Millis,
) -> Result<TotpEnrollment, CoreError> {
    let record = get_action(store, code, key)?;
    if !record
        .allowed_verification_methods
        .contains(&VerificationMethod::AuthenticatorApp)
    {
        return Err(CoreError::field(
            "verificationMethod",
            "AUTHENTICATOR_APP is not allowed for this action",
        ));
    }
    let auths = store.list_authenticators()?;
    let verified = auths.iter().any(|a| a.verified_at.is_some());
    check_may_add(
        &record,
        &auths,
        VerificationMethod::AuthenticatorApp,
        proved,
    )?;
    // Only one authenticator app per user: a pending enrollment is replaced,
    // a verified one must be removed first.
    for a in &auths {
        if a.verification_method == VerificationMethod::AuthenticatorApp {
            if a.verified_at.is_some() {
                return Err(CoreError::field(
                    "verificationMethod",
                    "an authenticator app is already enrolled",
                ));
            }
            store.delete_authenticator(&a.user_authenticator_id)?;
        }
    }
    let secret = crate::auth::otp::TotpSecret::new(random);
    let user = store.get_user()?.unwrap_or_default();
    let account = user
        .email
        .or(user.username)
        .unwrap_or_else(|| user_id.to_owned());
    let uri = secret.uri(issuer, &account)?;
    let auth = Authenticator {
        user_authenticator_id: id.clone(),
        verification_method: VerificationMethod::AuthenticatorApp,
        created_at: now,
        verified_at: None,
        last_verified_at: None,
        email: None,
        phone_number: None,
        is_default: !verified,
        secret: Some(
            serde_json::to_value(&secret).map_err(|e| CoreError::Internal(e.to_string()))?,
        ),
    };
    store.put_authenticator(&auth)?;
    Ok(TotpEnrollment {
        authenticator_id: id,
        secret: secret.secret,
        uri,
    })
}

/// The result of checking a code.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeCheck {
    /// Right: the challenge is complete (or the enrollment confirmed).
    Verified {
        /// The action after the challenge.
        record: Box<ActionRecord>,
        /// The authenticator used, when this code confirmed its enrollment.
        enrolled: Option<Box<AuthenticatorView>>,
    },
    /// Wrong; this many more wrong codes are tolerated.
    Wrong {
        /// Wrong codes left before the challenge fails.
        remaining: u32,
    },
    /// Wrong, and the challenge has now failed (or had already).
    Failed,
}

/// Check an authenticator-app code for an action's challenge.
///
/// # Errors
/// [`CoreError::InvalidField`] when the user has no authenticator app or the
/// action is not waiting for a challenge; storage errors.
pub fn verify_totp<S: UserStore>(
    store: &S,
    user_id: &str,
    code: &str,
    key: &str,
    entered: &str,
    now: Millis,
) -> Result<CodeCheck, CoreError> {
    let record = get_action(store, code, key)?;
    let auths = store.list_authenticators()?;
    let Some(mut auth) = auths
        .iter()
        .find(|a| a.verification_method == VerificationMethod::AuthenticatorApp)
        .cloned()
    else {
        return Err(CoreError::field(
            "verificationMethod",
            "no authenticator app is enrolled",
        ));
    };
    let enrolling = auth.verified_at.is_none();
    // Confirming a new app after the challenge was passed with another method.
    let confirming_only = enrolling && record.state == ActionState::ChallengeSucceeded;
    check_pending(&record, &auths, &auth, confirming_only)?;
    // Proving an existing app to add the passkey a passkey-only action needs.
    let unlocking = unlocks_enrollment(&record, &auths, VerificationMethod::AuthenticatorApp);
    if record.state == ActionState::ChallengeFailed {
        return Ok(CodeCheck::Failed);
    }
    if !confirming_only
        && !unlocking
        && !record
            .allowed_verification_methods
            .contains(&VerificationMethod::AuthenticatorApp)
    {
        return Err(CoreError::field(
            "verificationMethod",
            "AUTHENTICATOR_APP is not allowed for this action",
        ));
    }
    if record.state != ActionState::ChallengeRequired && !confirming_only {
        return Err(CoreError::field(
            "token",
            "the action is not waiting for a challenge",
        ));
    }
    let mut secret: crate::auth::otp::TotpSecret = auth
        .secret
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| CoreError::Internal("authenticator app without a secret".into()))?;
    let now_secs = u64::try_from(now / 1000).unwrap_or(0);
    let guesses = check_guesses(store, now)?;
    match secret.matching_step(entered, now_secs)? {
        Some(step) => {
            clear_guesses(store, &guesses)?;
            secret.last_step = Some(step);
            auth.secret = Some(
                serde_json::to_value(&secret).map_err(|e| CoreError::Internal(e.to_string()))?,
            );
            auth.verified_at.get_or_insert(now);
            auth.last_verified_at = Some(now);
            store.put_authenticator(&auth)?;
            let record = if confirming_only {
                record
            } else if unlocking {
                unlock_enrollment(store, record, VerificationMethod::AuthenticatorApp, now)?
            } else {
                complete_challenge(store, code, key, VerificationMethod::AuthenticatorApp, now)?
            };
            let (record, enrolled) = enrolled_event(store, enrolling, &auth, user_id, record, now)?;
            Ok(CodeCheck::Verified {
                record: Box::new(record),
                enrolled,
            })
        }
        None => {
            count_guess(store, guesses, now)?;
            count_wrong_code(store, record, confirming_only, now)
        }
    }
}

/// A code to deliver by email or SMS.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeToSend {
    /// The channel.
    pub channel: Channel,
    /// Recipient (email address or E.164 number).
    pub to: String,
    /// The code.
    pub code: String,
    /// The authenticator it is for.
    pub authenticator_id: String,
    /// The action.
    pub record: ActionRecord,
}

/// Issue a code for an action's challenge on `channel`: to `enroll_to` (a
/// user enrolling this method; the same rules as enrolling an authenticator
/// app), or to the user's enrolled address. A new code replaces an
/// outstanding one.
///
/// # Errors
/// [`CoreError::InvalidField`] when the method is not allowed, the address is
/// bad, the user must verify first, or nothing is enrolled; storage errors.
#[allow(clippy::too_many_arguments)]
pub fn issue_code<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    channel: Channel,
    enroll_to: Option<&str>,
    new_id: String,
    digits: String,
    salt: String,
    proved: bool,
    now: Millis,
) -> Result<CodeToSend, CoreError> {
    let method = channel.method();
    let mut record = get_action(store, code, key)?;
    let auths = store.list_authenticators()?;
    let usable = record.allowed_verification_methods.contains(&method)
        || (enroll_to.is_none() && unlocks_enrollment(&record, &auths, method));
    if !usable {
        return Err(not_allowed(method));
    }
    let mut recent_sends = check_send_limits(store, &record, channel, now)?;
    let verified_any = auths.iter().any(|a| a.verified_at.is_some());
    let (to, authenticator_id) = match enroll_to {
        Some(to) => {
            if channel.is_email() {
                check_email(to, "email")?;
            } else {
                check_phone(to, "phoneNumber")?;
            }
            check_may_add(&record, &auths, method, proved)?;
            if auths
                .iter()
                .any(|a| a.verification_method == method && a.verified_at.is_some())
            {
                return Err(CoreError::field(
                    "verificationMethod",
                    format!("{} is already enrolled", method_name(method)),
                ));
            }
            for a in auths.iter().filter(|a| a.verification_method == method) {
                store.delete_authenticator(&a.user_authenticator_id)?;
            }
            store.put_authenticator(&Authenticator {
                user_authenticator_id: new_id.clone(),
                verification_method: method,
                created_at: now,
                verified_at: None,
                last_verified_at: None,
                email: channel.is_email().then(|| to.to_owned()),
                phone_number: (!channel.is_email()).then(|| to.to_owned()),
                is_default: !verified_any,
                secret: None,
            })?;
            (to.to_owned(), new_id)
        }
        None => {
            if record.state != ActionState::ChallengeRequired {
                return Err(CoreError::field(
                    "token",
                    "the action is not waiting for a challenge",
                ));
            }
            let a = auths
                .iter()
                .find(|a| a.verification_method == method && a.verified_at.is_some())
                .ok_or_else(|| {
                    CoreError::field(
                        "verificationMethod",
                        format!("{} is not enrolled", method_name(method)),
                    )
                })?;
            let to = if channel.is_email() {
                a.email.clone()
            } else {
                a.phone_number.clone()
            };
            (to.unwrap_or_default(), a.user_authenticator_id.clone())
        }
    };
    record.sent_code = Some(crate::auth::otp::SentCode::new(
        channel,
        &to,
        &authenticator_id,
        &digits,
        &salt,
        now,
    ));
    record.codes_sent = record.codes_sent.saturating_add(1);
    record.last_code_sent_at = Some(now);
    record.updated_at = now;
    store.update_action(&record)?;
    recent_sends.push(now);
    store.put_setting(
        SENDS_SETTING,
        &serde_json::to_string(&recent_sends)
            .map_err(|e| CoreError::Internal(format!("encoding sends: {e}")))?,
    )?;
    Ok(CodeToSend {
        channel,
        to,
        code: digits,
        authenticator_id,
        record,
    })
}

/// Per-user setting holding the times of the last hour's sends.
const SENDS_SETTING: &str = "code-sends";

/// Refuse a send past [`crate::auth::otp::MAX_SENDS_PER_ACTION`] for one action,
/// sooner than [`crate::auth::otp::RESEND_INTERVAL_MS`] after the last on the
/// same channel, or past [`crate::auth::otp::MAX_SENDS_PER_USER_HOUR`] for the
/// user across actions: a token, or a stream of tracks, must not turn the
/// worker into a mail or text cannon. Returns the user's recent sends.
fn check_send_limits<S: UserStore>(
    store: &S,
    record: &ActionRecord,
    channel: Channel,
    now: Millis,
) -> Result<Vec<Millis>, CoreError> {
    use crate::auth::otp::{MAX_SENDS_PER_ACTION, MAX_SENDS_PER_USER_HOUR, RESEND_INTERVAL_MS};
    if record.codes_sent >= MAX_SENDS_PER_ACTION {
        return Err(CoreError::TooManyRequests(format!(
            "{MAX_SENDS_PER_ACTION} codes were already sent for this request; start again from the app"
        )));
    }
    if let Some(last) = record.last_code_sent_at
        && record
            .sent_code
            .as_ref()
            .is_some_and(|c| c.channel == channel)
    {
        let wait = last.saturating_add(RESEND_INTERVAL_MS).saturating_sub(now);
        if wait > 0 {
            return Err(CoreError::CodeRecentlySent(format!(
                "a code was just sent; wait {} seconds before asking for another",
                (wait + 999) / 1000
            )));
        }
    }
    const HOUR: Millis = 3_600_000;
    let recent: Vec<Millis> = store
        .get_setting(SENDS_SETTING)?
        .and_then(|s| serde_json::from_str::<Vec<Millis>>(&s).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| *t > now.saturating_sub(HOUR) && *t <= now)
        .collect();
    if recent.len() >= MAX_SENDS_PER_USER_HOUR {
        let oldest = recent.iter().copied().min().unwrap_or(now);
        let wait = oldest.saturating_add(HOUR).saturating_sub(now).max(1000);
        let secs = u64::try_from(wait.saturating_add(999) / 1000).unwrap_or(1);
        return Err(CoreError::Throttled {
            message: format!(
                "{MAX_SENDS_PER_USER_HOUR} codes were sent to this user in the last hour. Try again in {}.",
                crate::present::wait_text(secs)
            ),
            retry_after: secs,
        });
    }
    Ok(recent)
}

/// A method's wire name (`PASSKEY`), for messages.
pub(crate) fn method_name(m: VerificationMethod) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The refusal of a method the action does not allow.
pub(crate) fn not_allowed(m: VerificationMethod) -> CoreError {
    CoreError::field(
        "verificationMethod",
        format!("{} is not allowed for this action", method_name(m)),
    )
}

/// Check a code sent on `channel` for an action's challenge. A right code
/// completes the challenge (and confirms a pending enrollment, marking the
/// address verified) and cannot be used again; wrong codes count as for the
/// authenticator app.
///
/// # Errors
/// [`CoreError::InvalidField`] when no code was sent on this channel or the
/// action is not waiting for a challenge; storage errors.
pub fn verify_code<S: UserStore>(
    store: &S,
    user_id: &str,
    code: &str,
    key: &str,
    channel: Channel,
    entered: &str,
    now: Millis,
) -> Result<CodeCheck, CoreError> {
    let mut record = get_action(store, code, key)?;
    if record.state == ActionState::ChallengeFailed {
        return Ok(CodeCheck::Failed);
    }
    let Some(sent) = record.sent_code.clone().filter(|c| c.channel == channel) else {
        return Err(CoreError::field(
            "verificationCode",
            "no code was sent for this challenge",
        ));
    };
    let mut auth = store
        .list_authenticators()?
        .into_iter()
        .find(|a| a.user_authenticator_id == sent.authenticator_id)
        .ok_or_else(|| CoreError::field("verificationMethod", "the authenticator was removed"))?;
    let enrolling = auth.verified_at.is_none();
    let confirming_only = enrolling && record.state == ActionState::ChallengeSucceeded;
    check_pending(
        &record,
        &store.list_authenticators()?,
        &auth,
        confirming_only,
    )?;
    if record.state != ActionState::ChallengeRequired && !confirming_only {
        return Err(CoreError::field(
            "token",
            "the action is not waiting for a challenge",
        ));
    }
    let unlocking = !enrolling
        && !record
            .allowed_verification_methods
            .contains(&channel.method())
        && unlocks_enrollment(&record, &store.list_authenticators()?, channel.method());
    let guesses = check_guesses(store, now)?;
    if sent.matches(entered, now) {
        clear_guesses(store, &guesses)?;
        record.sent_code = None;
        record.updated_at = now;
        store.update_action(&record)?;
        auth.verified_at.get_or_insert(now);
        auth.last_verified_at = Some(now);
        store.put_authenticator(&auth)?;
        // The address was proven: the profile can say so.
        let mut user = store.get_user()?.unwrap_or(UserRecord {
            created_at: now,
            ..UserRecord::default()
        });
        let (slot, verified) = if channel.is_email() {
            (&mut user.email, &mut user.email_verified)
        } else {
            (&mut user.phone_number, &mut user.phone_number_verified)
        };
        if slot.is_none() || slot.as_deref() == Some(sent.to.as_str()) {
            *slot = Some(sent.to.clone());
            *verified = true;
            user.updated_at = now;
            store.put_user(&user)?;
        }
        let record = if confirming_only {
            record
        } else if unlocking {
            unlock_enrollment(store, record, channel.method(), now)?
        } else {
            complete_challenge(store, code, key, channel.method(), now)?
        };
        let (record, enrolled) = enrolled_event(store, enrolling, &auth, user_id, record, now)?;
        return Ok(CodeCheck::Verified {
            record: Box::new(record),
            enrolled,
        });
    }
    count_guess(store, guesses, now)?;
    count_wrong_code(store, record, confirming_only, now)
}

/// A pending (unconfirmed) authenticator is confirmed only within the
/// action that started it, under the rules [`check_may_add`] applied then:
/// one started earlier (while the user had no factor, say) cannot be
/// confirmed later, and once the user has another verified authenticator a
/// pending one no longer completes a challenge as a first factor would.
fn check_pending(
    record: &ActionRecord,
    auths: &[Authenticator],
    auth: &Authenticator,
    confirming_only: bool,
) -> Result<(), CoreError> {
    if auth.verified_at.is_some() {
        return Ok(());
    }
    let others = auths
        .iter()
        .any(|a| a.verified_at.is_some() && a.user_authenticator_id != auth.user_authenticator_id);
    if auth.created_at < record.created_at || (others && !confirming_only) {
        return Err(CoreError::field(
            "verificationMethod",
            "this authenticator's enrollment was not started for this request; add it again",
        ));
    }
    Ok(())
}

/// The user's wrong codes across challenges (see [`crate::auth::throttle`]).
const GUESSES_SETTING: &str = "wrong-codes";

/// The user's wrong codes. A stored value that does not parse refuses
/// verification rather than forget the count.
fn guesses<S: UserStore>(store: &S) -> Result<Guesses, CoreError> {
    match store.get_setting(GUESSES_SETTING)? {
        None => Ok(Guesses::default()),
        Some(s) => serde_json::from_str(&s)
            .map_err(|e| CoreError::Internal(format!("wrong-code count unreadable: {e}"))),
    }
}

/// Refuse a verification, before its code is looked at, while the user's
/// wrong codes impose a wait or a lock.
fn check_guesses<S: UserStore>(store: &S, now: Millis) -> Result<Guesses, CoreError> {
    let g = guesses(store)?;
    match g.check(now) {
        Ok(()) => Ok(g),
        Err(Refusal::Wait(secs)) => Err(CoreError::Throttled {
            message: format!(
                "Too many wrong codes for this user. Try again in {}.",
                crate::present::wait_text(secs)
            ),
            retry_after: secs,
        }),
        Err(Refusal::Locked) => Err(CoreError::Throttled {
            message: format!(
                "Too many wrong codes for this user: verification is locked until the app lifts the lock (after {} wrong codes).",
                crate::auth::throttle::LOCK_AFTER
            ),
            retry_after: 86_400,
        }),
    }
}

/// Count a wrong code against the user.
fn count_guess<S: UserStore>(store: &S, mut g: Guesses, now: Millis) -> Result<(), CoreError> {
    g.failed(now);
    put_guesses(store, &g)
}

/// A right code clears the user's wrong codes.
fn clear_guesses<S: UserStore>(store: &S, g: &Guesses) -> Result<(), CoreError> {
    if g.is_clear() {
        Ok(())
    } else {
        put_guesses(store, &Guesses::default())
    }
}

fn put_guesses<S: UserStore>(store: &S, g: &Guesses) -> Result<(), CoreError> {
    let text = serde_json::to_string(g).map_err(|e| CoreError::Internal(e.to_string()))?;
    store.put_setting(GUESSES_SETTING, &text)
}

/// Lift the user's verification lock and clear their wrong codes (the
/// server API's `DELETE /v1/users/{userId}/lockout`). Returns the counts
/// as they were.
///
/// # Errors
/// Storage errors.
pub fn lift_lockout<S: UserStore>(store: &S) -> Result<Guesses, CoreError> {
    let before = guesses(store).unwrap_or_default();
    put_guesses(store, &Guesses::default())?;
    Ok(before)
}

/// A wrong code: count it against the challenge; past
/// [`crate::auth::otp::MAX_FAILED_ATTEMPTS`] the challenge fails (see the diagram in
/// [`crate::auth::otp`]). Confirming a new authenticator after the challenge was
/// passed counts nothing against the action.
fn count_wrong_code<S: UserStore>(
    store: &S,
    mut record: ActionRecord,
    confirming_only: bool,
    now: Millis,
) -> Result<CodeCheck, CoreError> {
    record.failed_attempts = record.failed_attempts.saturating_add(1);
    record.updated_at = now;
    if record.failed_attempts > crate::auth::otp::MAX_FAILED_ATTEMPTS && !confirming_only {
        record.move_to(ActionState::ChallengeFailed, Cause::TooManyAttempts, now)?;
        record.sent_code = None;
        save_state_change(store, &record)?;
        return Ok(CodeCheck::Failed);
    }
    store.update_action(&record)?;
    Ok(CodeCheck::Wrong {
        remaining: crate::auth::otp::MAX_FAILED_ATTEMPTS.saturating_sub(record.failed_attempts),
    })
}

/// Whether the action's challenge was completed by a magic link (what the
/// page that sent the link polls for).
///
/// # Errors
/// [`CoreError::ActionNotFound`] or storage errors.
pub fn magic_link_status<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
) -> Result<Option<ActionRecord>, CoreError> {
    let r = get_action(store, code, key)?;
    Ok(
        (r.verification_method == Some(VerificationMethod::EmailMagicLink)
            && matches!(
                r.state,
                ActionState::ChallengeSucceeded | ActionState::ReviewRequired
            ))
        .then_some(r),
    )
}

/// The action with this code and key.
///
/// # Errors
/// [`CoreError::ActionNotFound`], or [`CoreError::Internal`].
pub fn get_action<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
) -> Result<ActionRecord, CoreError> {
    store
        .get_action(code, key)?
        .ok_or(CoreError::ActionNotFound)
}

/// The user's actions matching `query`, newest first.
///
/// # Errors
/// [`CoreError::Internal`] when storage fails.
pub fn query_actions<S: UserStore>(
    store: &S,
    query: &ActionQuery,
) -> Result<Vec<ActionRecord>, CoreError> {
    store.query_actions(query)
}

/// Move an action to `to` on behalf of `actor`, along the state machine.
///
/// # Errors
/// [`CoreError::ActionNotFound`], [`CoreError::IllegalTransition`], or
/// [`CoreError::Internal`].
pub fn update_state<S: UserStore>(
    store: &S,
    code: &str,
    key: &str,
    to: ActionState,
    cause: Cause,
    now: Millis,
) -> Result<ActionRecord, CoreError> {
    let mut record = get_action(store, code, key)?;
    if record.move_to(to, cause, now)? {
        save_state_change(store, &record)?;
    }
    Ok(record)
}

/// The user's profile and enrollment, as `getUser` returns it.
///
/// # Errors
/// [`CoreError::Internal`] when storage fails.
pub fn get_user<S: UserStore>(store: &S, user_id: &str) -> Result<UserView, CoreError> {
    let user = store.get_user()?.unwrap_or_default();
    let enrolled = enrolled_methods(&store.list_authenticators()?);
    Ok(UserView {
        user_id: user_id.to_owned(),
        is_enrolled: !enrolled.is_empty(),
        email: user.email,
        email_verified: user.email_verified,
        phone_number: user.phone_number,
        phone_number_verified: user.phone_number_verified,
        username: user.username,
        display_name: user.display_name,
        custom: user.custom,
        locale: user.locale,
        enrolled_verification_methods: enrolled,
    })
}

/// Apply a profile patch.
///
/// # Errors
/// [`CoreError::InvalidField`] for a bad email or phone number, or
/// [`CoreError::Internal`].
pub fn patch_user<S: UserStore>(
    store: &S,
    user_id: &str,
    patch: UserPatch,
    now: Millis,
) -> Result<UserView, CoreError> {
    check_user_id(user_id)?;
    if let Some(Some(e)) = &patch.email {
        check_email(e, "email")?;
    }
    if let Some(Some(p)) = &patch.phone_number {
        check_phone(p, "phoneNumber")?;
    }
    let mut user = store.get_user()?.unwrap_or(UserRecord {
        created_at: now,
        ..UserRecord::default()
    });
    patch.apply(&mut user);
    user.updated_at = now;
    store.put_user(&user)?;
    get_user(store, user_id)
}

/// Delete the user's profile, actions and authenticators.
///
/// # Errors
/// [`CoreError::Internal`] when storage fails.
pub fn delete_user<S: UserStore>(store: &S, now: Millis) -> Result<(), CoreError> {
    store.delete_all()?;
    store.emit(Event::UserDeleted { at: now })
}

/// The user's authenticators, without secrets.
///
/// # Errors
/// [`CoreError::Internal`] when storage fails.
pub fn list_authenticators<S: UserStore>(
    store: &S,
    user_id: &str,
) -> Result<Vec<AuthenticatorView>, CoreError> {
    Ok(store
        .list_authenticators()?
        .iter()
        .map(|a| a.view(user_id))
        .collect())
}

/// Enroll an authenticator the app has already verified (email or phone).
///
/// # Errors
/// [`CoreError::InvalidField`] for a method that needs a client ceremony or
/// a missing or bad email/phone; [`CoreError::Internal`].
pub fn enroll_authenticator<S: UserStore>(
    store: &S,
    user_id: &str,
    req: EnrollAuthenticatorRequest,
    id: String,
    now: Millis,
) -> Result<AuthenticatorView, CoreError> {
    check_user_id(user_id)?;
    let m = req.verification_method;
    if !m.enrollable_by_server() {
        return Err(CoreError::field(
            "verificationMethod",
            "only EMAIL_OTP, EMAIL_MAGIC_LINK, SMS and WHATSAPP can be enrolled by the server; other methods are enrolled by the user on the challenge page",
        ));
    }
    let email_method = matches!(
        m,
        VerificationMethod::EmailOtp | VerificationMethod::EmailMagicLink
    );
    let (email, phone) = if email_method {
        let e = req
            .email
            .ok_or_else(|| CoreError::field("email", "is required for this method"))?;
        check_email(&e, "email")?;
        (Some(e), None)
    } else {
        let p = req
            .phone_number
            .ok_or_else(|| CoreError::field("phoneNumber", "is required for this method"))?;
        check_phone(&p, "phoneNumber")?;
        (None, Some(p))
    };
    let is_default = req.is_default.unwrap_or(false);
    if is_default {
        for mut other in store.list_authenticators()? {
            if other.is_default {
                other.is_default = false;
                store.put_authenticator(&other)?;
            }
        }
    }
    let auth = Authenticator {
        user_authenticator_id: id,
        verification_method: m,
        created_at: now,
        verified_at: Some(now),
        last_verified_at: None,
        email: email.clone(),
        phone_number: phone.clone(),
        is_default,
        secret: None,
    };
    store.put_authenticator(&auth)?;
    // The app verified the address, so the profile can say so.
    let mut user = store.get_user()?.unwrap_or(UserRecord {
        created_at: now,
        ..UserRecord::default()
    });
    if let Some(e) = email
        && (user.email.is_none() || user.email.as_deref() == Some(e.as_str()))
    {
        user.email = Some(e);
        user.email_verified = true;
    }
    if let Some(p) = phone
        && (user.phone_number.is_none() || user.phone_number.as_deref() == Some(p.as_str()))
    {
        user.phone_number = Some(p);
        user.phone_number_verified = true;
    }
    user.updated_at = now;
    store.put_user(&user)?;
    authenticator_log::added(store, &auth, user_id, By::ServerApi, now)
}

/// The view of an authenticator whose enrollment a code just confirmed
/// (with its `authenticator.created` event and an entry in the action's
/// audit trail), or `None`.
fn enrolled_event<S: UserStore>(
    store: &S,
    enrolling: bool,
    auth: &Authenticator,
    user_id: &str,
    mut record: ActionRecord,
    now: Millis,
) -> Result<(ActionRecord, Option<Box<AuthenticatorView>>), CoreError> {
    if !enrolling {
        return Ok((record, None));
    }
    record.note_enrollment(auth.verification_method, &auth.user_authenticator_id, now);
    store.update_action(&record)?;
    let by = By::Action {
        action_code: record.action_code.clone(),
        idempotency_key: record.idempotency_key.clone(),
    };
    let view = authenticator_log::added(store, auth, user_id, by, now)?;
    Ok((record, Some(Box::new(view))))
}

/// Remove an authenticator.
///
/// # Errors
/// [`CoreError::AuthenticatorNotFound`], or [`CoreError::Internal`].
pub fn delete_authenticator<S: UserStore>(
    store: &S,
    id: &str,
    now: Millis,
) -> Result<(), CoreError> {
    let gone = store
        .list_authenticators()?
        .into_iter()
        .find(|a| a.user_authenticator_id == id)
        .ok_or(CoreError::AuthenticatorNotFound)?;
    store.delete_authenticator(id)?;
    if gone.verified_at.is_some() {
        authenticator_log::removed(store, &gone, By::ServerApi, now)?;
    }
    Ok(())
}

pub mod authenticator_log;
pub mod passkeys;
use authenticator_log::By;

#[cfg(test)]
mod tests;
