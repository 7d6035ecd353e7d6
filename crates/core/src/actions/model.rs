//! Stored records and the wire shapes of the Server API.
//!
//! Request types are read tolerantly, as Authsignal reads them: a field they
//! do not know is ignored and named to the shell, which logs it
//! (`crate::error::parse_wire`). Response types carry the fields the
//! official SDKs read, in camelCase.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::actions::state::{ActionState, Actor, check_transition};
use crate::auth::methods::VerificationMethod;
use crate::error::CoreError;
use crate::time::{Millis, to_rfc3339};

/// Body of `POST /v1/users/{userId}/actions/{action}` (the SDK's `TrackAttributes`).
///
/// The fields rules and idempotency depend on are also read under their
/// snake_case names (`ip_address`, `user_agent`, `device_id`,
/// `phone_number`, `idempotency_key`): the Python SDK passes attributes
/// through as given, and its own examples write them so. Authsignal ignores
/// those; ActionGate reads them, so that device and network rules see what
/// the app sent. Others (`redirect_url`) stay unknown, as Authsignal has
/// them: reading one could refuse a track Authsignal accepts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackRequest {
    /// Caller-chosen key; a fresh UUID v4 when absent.
    #[serde(
        default,
        alias = "idempotency_key",
        skip_serializing_if = "Option::is_none"
    )]
    pub idempotency_key: Option<String>,
    /// Where the hosted page returns the user; must be on the allowlist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// Accepted for SDK compatibility; the hosted page has no settings view yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_to_settings: Option<bool>,
    /// The end user's IP address, as the app saw it.
    #[serde(default, alias = "ip_address", skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// The end user's user agent.
    #[serde(default, alias = "user_agent", skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// A device identifier chosen by the app.
    #[serde(default, alias = "device_id", skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Token scope (`read:authenticators`, ...), recorded with the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The user's email; stored on the user when none is known yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's phone number; stored on the user when none is known yet.
    #[serde(
        default,
        alias = "phone_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone_number: Option<String>,
    /// The user's username; stored on the user when none is known yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Free-form context for rules and message templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Map<String, Value>>,
    /// Accepted for SDK compatibility (pre-created challenges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<String>,
    /// Locale for the hosted page and messages (`en`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Accepted for SDK compatibility; the page is always on the worker's origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_domain: Option<String>,
    /// ActionGate extension: where the end user is, when the app knows
    /// (e.g. from Cloudflare's `CF-IPCountry`); used by `ip.*` rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<crate::geo::Geo>,
}

/// A rule that matched an action, as get action reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleRef {
    /// The rule's id.
    pub rule_id: String,
    /// The rule's name.
    pub name: String,
    /// The rule's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Why the customer is asked, by locale (the rule's `customerReason`
    /// as it was when the action was tracked).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub customer_reason: std::collections::BTreeMap<String, String>,
}

/// One tracked action, as the user's Durable Object stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    /// The action code.
    pub action_code: String,
    /// The idempotency key (unique per user and action code).
    pub idempotency_key: String,
    /// Current state.
    pub state: ActionState,
    /// When it was tracked.
    pub created_at: Millis,
    /// When anything about it last changed.
    pub updated_at: Millis,
    /// When the state last changed.
    pub state_updated_at: Millis,
    /// The method that completed its challenge, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
    /// SHA-256 of the canonical track request, to detect a reused key.
    pub request_hash: String,
    /// Ids of the rules that matched, deciding rule first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_ids: Vec<String>,
    /// The rules that matched, deciding rule first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleRef>,
    /// The rule that decided the outcome, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deciding_rule_id: Option<String>,
    /// Whether a successful challenge leads to manual review.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub review_after_challenge: bool,
    /// Methods to offer enrolling after the challenge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_to_enroll_verification_methods: Vec<VerificationMethod>,
    /// The data the rules saw (for audit and explanation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// The app request the edge proxy held back, to replay once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_request: Option<PendingRequest>,
    /// When the held-back request was released to the origin (at most once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_at: Option<Millis>,
    /// Wrong codes entered for this action's challenge.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_attempts: u32,
    /// The code sent (email or SMS) for this action's challenge, if one is outstanding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_code: Option<crate::auth::otp::SentCode>,
    /// Codes and links sent for this action's challenge, and when the last
    /// went out (see [`crate::auth::otp::MAX_SENDS_PER_ACTION`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub codes_sent: u32,
    /// When the last code or link was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_code_sent_at: Option<Millis>,
    /// Methods its challenge may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_verification_methods: Vec<VerificationMethod>,
    /// Method the challenge page preselects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_verification_method: Option<VerificationMethod>,
    /// The track request as received (context for rules, templates, replay).
    pub request: TrackRequest,
    /// Output attached by rules (reserved; `null` until rules produce any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The sealed WebAuthn ceremony last started for this action's
    /// challenge, for clients that do not send a `challengeId` back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webauthn_ceremony: Option<String>,
    /// The method the user proved themselves with to add a passkey that
    /// this passkey-only action needs (see `service::unlocks_enrollment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_unlocked_by: Option<VerificationMethod>,
    /// Every state the action has been in, oldest first: append-only, one
    /// entry per change (see [`ActionRecord::set_state`]), and one per
    /// authenticator enrolled during it ([`ActionRecord::note_enrollment`]).
    #[serde(default)]
    pub history: Vec<StateChange>,
    /// Where the action came from (device, country, location), which
    /// become known for the user once it is proved (see
    /// [`ActionRecord::proves_whereabouts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whereabouts: Option<Whereabouts>,
}

/// For `skip_serializing_if`: a count that is still zero is left out of
/// the stored record (read back as its default).
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Where an action came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Whereabouts {
    /// The device id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<crate::geo::Fix>,
    /// A client that verified for this action showed another device or
    /// country (say, the victim's phone, for a request an attacker made):
    /// its proof does not make these whereabouts known.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contested: bool,
}

impl ActionRecord {
    /// Whether its last state change proved the user present where the
    /// action came from: a challenge passed (to `CHALLENGE_SUCCEEDED`, or to
    /// `REVIEW_REQUIRED` when review follows it) or a reviewer's approval.
    /// Tracks, API updates, sign-ins without a tracked action and failures
    /// prove nothing, and neither does a magic link: it is opened wherever
    /// the email is read, not where the action came from.
    pub fn proves_whereabouts(&self) -> bool {
        self.history.last().is_some_and(|c| match (&c.cause, c.to) {
            (
                Cause::Challenge { method },
                ActionState::ChallengeSucceeded | ActionState::ReviewRequired,
            ) => *method != crate::auth::methods::VerificationMethod::EmailMagicLink,
            (Cause::Review { .. }, ActionState::ReviewSucceeded) => true,
            _ => false,
        })
    }
}

/// One entry of an action's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    /// The state before (`None` when the action was created).
    #[serde(default)]
    pub from: Option<ActionState>,
    /// The state after.
    pub to: ActionState,
    /// When (ms since epoch).
    pub at: Millis,
    /// Why.
    pub cause: Cause,
}

/// Why an action's state changed.
///
/// Stored and sent as one object tagged by `type`. It is read through
/// [`CauseFields`], not serde's derive for tagged enums, which buffers every
/// object into an intermediate tree first (slower on every action read, and
/// a second reader of each field type in the upload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum Cause {
    /// Tracked: the deciding rule, or the default outcome when none matched.
    Track {
        /// The deciding rule.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule_id: Option<String>,
    },
    /// A challenge was completed with this method.
    Challenge {
        /// The method.
        method: VerificationMethod,
    },
    /// Too many wrong codes.
    TooManyAttempts,
    /// A sign-in that was not tracked first (a passkey naming an action).
    SignIn {
        /// The method.
        method: VerificationMethod,
    },
    /// The server API's `updateAction`.
    Api,
    /// The app's `action.verify` webhook refused the completed challenge.
    Vetoed {
        /// The app's reason, or why the app could not be asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An authenticator was enrolled (its first code or ceremony passed)
    /// during this action; the state does not change (`from` = `to`).
    Enrolled {
        /// Its method.
        method: VerificationMethod,
        /// Its id.
        user_authenticator_id: String,
    },
    /// The challenge page found no method the user can complete now (none
    /// of the allowed ones is enrolled, and none can be added); the state
    /// does not change (`from` = `to`), so the app can react.
    NoUsableMethod,
    /// The person cancelled the challenge on the challenge page
    /// (`CHALLENGE_REQUIRED → CHALLENGE_FAILED`).
    Abandoned,
    /// The request the edge proxy held back was dropped unreleased: nobody
    /// came back for it before it expired. The state does not change
    /// (`from` = `to`); the app never received the request.
    HeldRequestExpired,
    /// A reviewer's decision.
    Review {
        /// Who decided.
        reviewer: String,
        /// Their note.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

/// The types of [`Cause`].
#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum CauseType {
    Track,
    Challenge,
    TooManyAttempts,
    SignIn,
    Api,
    Vetoed,
    Enrolled,
    NoUsableMethod,
    Abandoned,
    HeldRequestExpired,
    Review,
}

/// Every field of every [`Cause`], as one flat object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CauseFields {
    #[serde(rename = "type")]
    kind: CauseType,
    rule_id: Option<String>,
    method: Option<VerificationMethod>,
    reason: Option<String>,
    user_authenticator_id: Option<String>,
    reviewer: Option<String>,
    note: Option<String>,
}

impl<'de> Deserialize<'de> for Cause {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use crate::encoding::required;
        let f = CauseFields::deserialize(d)?;
        Ok(match f.kind {
            CauseType::Track => Cause::Track { rule_id: f.rule_id },
            CauseType::Challenge => Cause::Challenge {
                method: required(f.method, "method")?,
            },
            CauseType::TooManyAttempts => Cause::TooManyAttempts,
            CauseType::SignIn => Cause::SignIn {
                method: required(f.method, "method")?,
            },
            CauseType::Api => Cause::Api,
            CauseType::Vetoed => Cause::Vetoed { reason: f.reason },
            CauseType::Enrolled => Cause::Enrolled {
                method: required(f.method, "method")?,
                user_authenticator_id: required(f.user_authenticator_id, "userAuthenticatorId")?,
            },
            CauseType::NoUsableMethod => Cause::NoUsableMethod,
            CauseType::Abandoned => Cause::Abandoned,
            CauseType::HeldRequestExpired => Cause::HeldRequestExpired,
            CauseType::Review => Cause::Review {
                reviewer: required(f.reviewer, "reviewer")?,
                note: f.note,
            },
        })
    }
}

impl Cause {
    /// Who takes a state change for this cause (what the state machine
    /// checks).
    pub fn actor(&self) -> Actor {
        match self {
            Cause::Review { .. } => Actor::Reviewer,
            Cause::Challenge { .. }
            | Cause::SignIn { .. }
            | Cause::TooManyAttempts
            | Cause::Enrolled { .. }
            | Cause::NoUsableMethod
            | Cause::Abandoned
            | Cause::HeldRequestExpired => Actor::Challenge,
            Cause::Api | Cause::Track { .. } => Actor::Api,
            Cause::Vetoed { .. } => Actor::Veto,
        }
    }
}

/// The wire form of a [`StateChange`] (`at` in RFC 3339).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChangeView {
    /// The state before; absent for the first entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<ActionState>,
    /// The state after.
    pub to: ActionState,
    /// RFC 3339.
    pub at: String,
    /// Why.
    pub cause: Cause,
}

/// A request the edge proxy held back while the user is challenged: what
/// is needed to replay it, and a hash to recognise a retry of it. Cookies
/// and credentials are not stored; a replay uses the returning request's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path_and_query: String,
    /// Allowlisted headers (content type, accept, language).
    pub headers: Vec<(String, String)>,
    /// The body, base64url.
    pub body: String,
    /// SHA-256 of the body, hex.
    pub body_sha256: String,
    /// Send it to the app as soon as a reviewer approves (the route's
    /// `replayOnApproval`).
    #[serde(default)]
    pub replay_on_approval: bool,
    /// Until when it waits for the person to pass the challenge and come
    /// back (ms since the epoch); then it is dropped unreleased
    /// ([`crate::service::expire_hold`]), unless a reviewer has the action
    /// ([`ActionRecord::hold_expired`]). `None`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
}

/// The SDK's `TrackResponse`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackResponse {
    /// The action's idempotency key.
    pub idempotency_key: String,
    /// Its state.
    pub state: ActionState,
    /// The hosted challenge page for this action.
    pub url: String,
    /// A signed, short-lived token bound to this action.
    pub token: String,
    /// Whether the user has any authenticator.
    pub is_enrolled: bool,
    /// Methods the user has enrolled.
    pub enrolled_verification_methods: Vec<VerificationMethod>,
    /// Methods a challenge for this action may use.
    pub allowed_verification_methods: Vec<VerificationMethod>,
    /// Method the challenge page preselects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_verification_method: Option<VerificationMethod>,
    /// Rules that matched.
    pub rule_ids: Vec<String>,
}

/// The SDK's `GetActionResponse`, plus the action's identity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetActionResponse {
    /// The action code.
    pub action_code: String,
    /// The idempotency key.
    pub idempotency_key: String,
    /// Current state.
    pub state: ActionState,
    /// RFC 3339.
    pub state_updated_at: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The method that completed the challenge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
    /// Matched rules, deciding rule first.
    pub rules: Vec<RuleRef>,
    /// The rule that decided the outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deciding_rule_id: Option<String>,
    /// The same, by Authsignal's name for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_rule_id: Option<String>,
    /// Ids of the matched rules, deciding rule first.
    pub rule_ids: Vec<String>,
    /// What the rules engine produced when the action was tracked (see
    /// [`ActionRecord::decision_output`]).
    pub output: Value,
    /// ActionGate extension: the audit trail, oldest first.
    pub history: Vec<StateChangeView>,
}

/// One item of `queryUserActions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionSummary {
    /// The action code.
    pub action_code: String,
    /// The idempotency key.
    pub idempotency_key: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Current state.
    pub state: ActionState,
    /// RFC 3339.
    pub state_updated_at: String,
    /// The method that completed the challenge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
}

impl TrackRequest {
    /// The first of `ignored` (fields a track body had that it does not
    /// know) that looks like a misspelt `custom` (`custon`, `costum`,
    /// `customs`, `cutsom`): custom attributes that would reach no rule, so
    /// the track is refused rather than decided without them.
    pub fn misspelt_custom(ignored: &[String]) -> Option<&str> {
        ignored
            .iter()
            .map(String::as_str)
            .find(|k| k.len() >= 5 && edit_distance(&k.to_ascii_lowercase(), "custom") <= 2)
    }
}

/// Optimal string alignment distance (insertions, deletions,
/// substitutions, adjacent swaps) between two short ASCII-ish strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    let at = |i: usize, j: usize| i * w + j;
    for i in 0..=a.len() {
        if let Some(c) = d.get_mut(at(i, 0)) {
            *c = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(c) = d.get_mut(j) {
            *c = j;
        }
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let same = a.get(i - 1) == b.get(j - 1);
            let get = |x: usize| d.get(x).copied().unwrap_or(usize::MAX / 2);
            let mut v = (get(at(i - 1, j)) + 1)
                .min(get(at(i, j - 1)) + 1)
                .min(get(at(i - 1, j - 1)) + usize::from(!same));
            if i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1) {
                v = v.min(get(at(i - 2, j - 2)) + 1);
            }
            if let Some(c) = d.get_mut(at(i, j)) {
                *c = v;
            }
        }
    }
    d.get(at(a.len(), b.len())).copied().unwrap_or(usize::MAX)
}

impl ActionRecord {
    /// What the rules engine produced when the action was tracked, as get
    /// action's `output` (Authsignal: "the output produced by the rules
    /// engine when determining if the action requires a challenge"): the
    /// outcome (`ALLOW`, `BLOCK`, `CHALLENGE` or `REVIEW`), the deciding
    /// rule (`priorityRuleId`, absent when the default decided), the rules
    /// that matched, and for a challenge the methods it allows and whether
    /// review follows it. Never rule internals beyond their ids.
    pub fn decision_output(&self) -> Value {
        use crate::actions::state::ActionState as S;
        let result = match self.history.first().map(|c| c.to) {
            Some(S::Allow) => "ALLOW",
            Some(S::Block) => "BLOCK",
            Some(S::ReviewRequired) => "REVIEW",
            // Tracked as a challenge (or, for a record without its first
            // entry, the strictest reading: nothing here says it was allowed).
            _ => "CHALLENGE",
        };
        let mut out = Map::new();
        out.insert("result".into(), Value::from(result));
        if let Some(id) = &self.deciding_rule_id {
            out.insert("priorityRuleId".into(), Value::from(id.as_str()));
        }
        out.insert("ruleIds".into(), Value::from(self.rule_ids.clone()));
        if result == "CHALLENGE" {
            out.insert(
                "allowedVerificationMethods".into(),
                serde_json::to_value(&self.allowed_verification_methods).unwrap_or_default(),
            );
            out.insert(
                "reviewAfterChallenge".into(),
                Value::from(self.review_after_challenge),
            );
        }
        Value::Object(out)
    }

    /// The get-action response.
    pub fn to_get_response(&self) -> GetActionResponse {
        GetActionResponse {
            action_code: self.action_code.clone(),
            idempotency_key: self.idempotency_key.clone(),
            state: self.state,
            state_updated_at: to_rfc3339(self.state_updated_at),
            created_at: to_rfc3339(self.created_at),
            updated_at: to_rfc3339(self.updated_at),
            verification_method: self.verification_method,
            rules: self.rules.clone(),
            deciding_rule_id: self.deciding_rule_id.clone(),
            priority_rule_id: self.deciding_rule_id.clone(),
            rule_ids: self.rule_ids.clone(),
            output: self
                .output
                .clone()
                .unwrap_or_else(|| self.decision_output()),
            history: self
                .history
                .iter()
                .map(|h| StateChangeView {
                    from: h.from,
                    to: h.to,
                    at: to_rfc3339(h.at),
                    cause: h.cause.clone(),
                })
                .collect(),
        }
    }

    /// Record in the audit trail that an authenticator was enrolled during
    /// this action (the state stays).
    pub fn note_enrollment(&mut self, method: VerificationMethod, id: &str, now: Millis) {
        self.history.push(StateChange {
            from: Some(self.state),
            to: self.state,
            at: now,
            cause: Cause::Enrolled {
                method,
                user_authenticator_id: id.to_owned(),
            },
        });
        self.updated_at = now;
    }

    /// Record in the audit trail that the challenge page found no usable
    /// method, once (the state stays). `false` when it was recorded already.
    pub fn note_no_usable_method(&mut self, now: Millis) -> bool {
        if self
            .history
            .iter()
            .any(|h| h.cause == Cause::NoUsableMethod)
        {
            return false;
        }
        self.history.push(StateChange {
            from: Some(self.state),
            to: self.state,
            at: now,
            cause: Cause::NoUsableMethod,
        });
        self.updated_at = now;
        true
    }

    /// Drop the held-back request unreleased once it expired, saying so in
    /// the audit trail (the state stays). `false`: nothing held, released,
    /// or not expired at `now`.
    pub fn expire_hold(&mut self, now: Millis) -> bool {
        if !self.hold_expired(now) {
            return false;
        }
        self.pending_request = None;
        self.history.push(StateChange {
            from: Some(self.state),
            to: self.state,
            at: now,
            cause: Cause::HeldRequestExpired,
        });
        self.updated_at = now;
        true
    }

    /// Whether the held-back request's time is up at `now`: it is still held,
    /// not released, past its `expiresAt`, and waits for the person, not for
    /// a reviewer (in review, and once approved by one, it waits for the
    /// decision and its replay).
    pub fn hold_expired(&self, now: Millis) -> bool {
        self.hold_due_at().is_some_and(|at| at <= now)
    }

    /// When the held-back request's time is up, while it is held, not
    /// released, and waits for the person (see [`Self::hold_expired`]);
    /// `None` otherwise. Stored beside the action, so the user object finds
    /// the holds that come due without reading every action.
    pub fn hold_due_at(&self) -> Option<Millis> {
        let waits_for_person = self.replayed_at.is_none()
            && !matches!(
                self.state,
                ActionState::ReviewRequired | ActionState::ReviewSucceeded
            );
        self.pending_request
            .as_ref()
            .and_then(|p| p.expires_at)
            .filter(|_| waits_for_person)
    }

    /// Whether the held-back request was dropped unreleased (its history
    /// says [`Cause::HeldRequestExpired`]).
    pub fn hold_was_dropped(&self) -> bool {
        self.pending_request.is_none()
            && self
                .history
                .iter()
                .any(|h| h.cause == Cause::HeldRequestExpired)
    }

    /// The held-back request as the portal shows it: what it was, until when
    /// it waits, when it was released; `None` when nothing was held.
    pub fn held_view(&self) -> Option<Value> {
        let expired = self
            .history
            .iter()
            .rev()
            .find(|h| h.cause == Cause::HeldRequestExpired)
            .map(|h| to_rfc3339(h.at));
        match (&self.pending_request, expired) {
            (Some(p), _) => Some(serde_json::json!({
                "method": p.method,
                "path": p.path_and_query,
                "expiresAt": p.expires_at.map(to_rfc3339),
                "releasedAt": self.replayed_at.map(to_rfc3339),
                "waitsForReview": p.replay_on_approval,
            })),
            (None, Some(at)) => Some(serde_json::json!({ "expiredAt": at })),
            (None, None) => None,
        }
    }

    /// Move to `to` for `cause` at `now`, appending to the audit trail,
    /// when the state machine lets `cause` take that edge (the only way an
    /// action's state changes after it is tracked). `Ok(false)`: the action
    /// is already in `to`, nothing changes.
    ///
    /// # Errors
    /// [`CoreError::IllegalTransition`] naming both states.
    pub fn move_to(
        &mut self,
        to: ActionState,
        cause: Cause,
        now: Millis,
    ) -> Result<bool, CoreError> {
        if !check_transition(self.state, to, cause.actor())? {
            return Ok(false);
        }
        self.history.push(StateChange {
            from: Some(self.state),
            to,
            at: now,
            cause,
        });
        self.state = to;
        self.state_updated_at = now;
        self.updated_at = now;
        Ok(true)
    }

    /// The query-actions item.
    pub fn to_summary(&self) -> ActionSummary {
        ActionSummary {
            action_code: self.action_code.clone(),
            idempotency_key: self.idempotency_key.clone(),
            created_at: to_rfc3339(self.created_at),
            updated_at: to_rfc3339(self.updated_at),
            state: self.state,
            state_updated_at: to_rfc3339(self.state_updated_at),
            verification_method: self.verification_method,
        }
    }
}

/// Body of `PATCH /v1/users/{u}/actions/{a}/{key}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateActionRequest {
    /// The new state.
    pub state: ActionState,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::parse_json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn every_cause_reads_back_what_it_writes_and_stored_forms_still_read() {
        let m = VerificationMethod::EmailOtp;
        let all = [
            Cause::Track { rule_id: None },
            Cause::Track {
                rule_id: Some("r".into()),
            },
            Cause::Challenge { method: m },
            Cause::TooManyAttempts,
            Cause::SignIn { method: m },
            Cause::Api,
            Cause::Vetoed { reason: None },
            Cause::Vetoed {
                reason: Some("no".into()),
            },
            Cause::Enrolled {
                method: m,
                user_authenticator_id: "a".into(),
            },
            Cause::NoUsableMethod,
            Cause::Abandoned,
            Cause::HeldRequestExpired,
            Cause::Review {
                reviewer: "rev".into(),
                note: Some("n".into()),
            },
        ];
        for c in all {
            let text = serde_json::to_string(&c).unwrap();
            assert_eq!(
                crate::encoding::from_json::<Cause>(&text).unwrap(),
                c,
                "{text}"
            );
        }
        // Forms as stored, fields in any order, unknown ones ignored.
        let read = |t: &str| crate::encoding::from_json::<Cause>(t);
        assert_eq!(
            read(r#"{"reviewer":"x","type":"REVIEW","extra":1}"#).unwrap(),
            Cause::Review {
                reviewer: "x".into(),
                note: None
            }
        );
        assert_eq!(
            read(r#"{"type":"CHALLENGE","method":"EMAIL_OTP"}"#).unwrap(),
            Cause::Challenge { method: m }
        );
        // No type, an unknown one, a variant's field missing: refused.
        for bad in [
            r#"{"method":"EMAIL_OTP"}"#,
            r#"{"type":"GUESS"}"#,
            r#"{"type":"CHALLENGE"}"#,
            r#"{"type":"ENROLLED","method":"EMAIL_OTP"}"#,
            r#"{"type":"REVIEW"}"#,
            r#""API""#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn track_request_accepts_every_sdk_field() {
        let body = br#"{"idempotencyKey":"k","redirectUrl":"https://a.example/","redirectToSettings":false,
            "ipAddress":"1.2.3.4","userAgent":"UA","deviceId":"d","scope":"read:authenticators",
            "email":"a@b.c","phoneNumber":"+6421","username":"al","custom":{"amount":5,"x":"y","ok":true},
            "challengeId":"c","locale":"en","customDomain":"auth.example.com"}"#;
        let r: TrackRequest = parse_json(body).unwrap();
        assert_eq!(r.custom.unwrap()["amount"], 5);
    }

    #[test]
    fn track_request_ignores_an_unknown_field_and_names_it() {
        // The Python SDK passes attributes through as given (snake_case):
        // those are read as the fields they name.
        let (r, ignored) = crate::error::parse_wire::<TrackRequest>(
            br#"{"newSdkField":{"amount":5},"ip_address":"1.2.3.4","device_id":"d1","custom":{"amount":7}}"#,
        )
        .unwrap();
        assert_eq!(r.custom.unwrap()["amount"], 7);
        assert_eq!(r.ip_address.as_deref(), Some("1.2.3.4"));
        assert_eq!(r.device_id.as_deref(), Some("d1"));
        assert_eq!(ignored, ["newSdkField"]);
        assert_eq!(TrackRequest::misspelt_custom(&ignored), None);
        // A known field of the wrong type is still an error, located.
        let err = crate::error::parse_wire::<TrackRequest>(br#"{"custom":[1]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("custom: invalid type"), "{err}");
        // Unknown fields inside our own extension are ignored too (only
        // the top level's are named).
        let (r, ignored) =
            crate::error::parse_wire::<TrackRequest>(br#"{"geo":{"countryCode":"NZ","zz":1}}"#)
                .unwrap();
        assert_eq!(r.geo.unwrap().country_code.as_deref(), Some("NZ"));
        assert!(ignored.is_empty());
        // A body that is not a struct's reads as before, naming nothing.
        let (v, ignored) = crate::error::parse_wire::<serde_json::Value>(br#"{"a":1}"#).unwrap();
        assert_eq!(v["a"], 1);
        assert!(ignored.is_empty());
        // Something after the document is not JSON.
        assert!(crate::error::parse_wire::<TrackRequest>(br#"{} {}"#).is_err());
    }

    #[test]
    fn a_misspelt_custom_is_caught() {
        for k in [
            "custon", "costum", "customs", "cutsom", "Custom", "CUSTOM", "cusstom", "custm",
        ] {
            let ignored = vec![k.to_owned()];
            assert_eq!(TrackRequest::misspelt_custom(&ignored), Some(k), "{k}");
        }
        for k in [
            "scope2",
            "channel",
            "amount",
            "cust",
            "customer_name",
            "costumes_x",
        ] {
            let ignored = vec![k.to_owned()];
            assert_eq!(TrackRequest::misspelt_custom(&ignored), None, "{k}");
        }
    }
}
