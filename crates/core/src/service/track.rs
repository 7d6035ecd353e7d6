//! Tracking: what an action gets (the decision, merged from the default
//! and the deciding rule), its history, the stored action and its token;
//! and simulation.

use serde_json::Value;

use super::users::{check_email, check_profile_phone, enrolled_methods};
use crate::actions::events::Event;
use crate::actions::model::{
    ActionRecord, Cause, PendingRequest, StateChange, TrackRequest, Whereabouts,
};
use crate::auth::methods::VerificationMethod;
use crate::error::CoreError;
use crate::geo::EdgeInfo;
use crate::ids::{check_action_code, check_idempotency_key, check_user_id};
use crate::policy::config::ActionConfiguration;
use crate::policy::context::{self, History, Signals};
use crate::policy::decide::{Decision, decide};
use crate::policy::rules::CompiledRules;
use crate::redirect::RedirectAllowlist;
use crate::store::UserStore;
use crate::time::Millis;
use crate::user::UserRecord;

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

pub(crate) fn request_hash(request: &TrackRequest) -> Result<String, CoreError> {
    let canonical = serde_json::to_vec(request)
        .map_err(|e| CoreError::Internal(format!("hashing a track request: {e}")))?;
    Ok(crate::encoding::sha256_hex(&canonical))
}

/// Track an action: return the stored one for a known idempotency key,
/// otherwise decide it and store it.
///
/// # Errors
/// [`CoreError::InvalidField`] for a bad key, code, email, phone or
/// `redirectUrl`; [`CoreError::Internal`] when storage fails.
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
        check_profile_phone(p, "phoneNumber")?;
    }
    let hash = request_hash(&req)?;

    // A known key returns the stored action as it was decided, whatever
    // this request says (Authsignal: "multiple calls with the same user
    // ID, action, and idempotency key will return the same result").
    if key_given && let Some(existing) = store.get_action(input.action_code, &key)? {
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
        // New, or a profile field filled: what the directory holds changed.
        u.updated_at = input.now;
        store.put_user(u)?;
        store.emit(Event::ProfileChanged {
            entry: u.directory_entry(),
        })?;
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
