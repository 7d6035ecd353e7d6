//! What the hosted challenge page shows for an action: its state and
//! methods, what the user has enrolled, whether a passkey is offered, which
//! methods can unlock adding one, and the action's message in its locale.

use serde::Serialize;

use crate::actions::state::ActionState;
use crate::auth::methods::VerificationMethod;
use crate::error::CoreError;
use crate::policy::config::ActionConfigurationInput;
use crate::present::{render_template, template_for};
use crate::store::UserStore;
use crate::time::Millis;

use super::actions::get_action;
use super::enroll::unlocks_enrollment;
use super::passkeys::should_prompt;
use super::users::get_user;

/// The challenge page's view of an action (`GET /v1/client/action`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeView {
    /// The action code.
    pub action_code: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// Its state.
    pub state: ActionState,
    /// Whether a challenge of it was passed (its state may since have moved
    /// on to review): the page says "Verified" and continues.
    pub verified: bool,
    /// The methods its challenge may use.
    pub allowed_verification_methods: Vec<VerificationMethod>,
    /// Those the user can complete now, in the configured order: enrolled
    /// ones (any allowed one for a user with nothing enrolled yet, who
    /// enrolls it here), and a passkey or security key that a method they
    /// have can unlock. Empty: a dead end, recorded in the action's history
    /// (`NO_USABLE_METHOD`).
    pub usable_verification_methods: Vec<VerificationMethod>,
    /// The method to show first.
    pub default_verification_method: Option<VerificationMethod>,
    /// Whether the user has a verified authenticator.
    pub is_enrolled: bool,
    /// The methods they have.
    pub enrolled_verification_methods: Vec<VerificationMethod>,
    /// Whether they have an authenticator app.
    pub has_authenticator_app: bool,
    /// Whether they have a passkey.
    pub has_passkey: bool,
    /// Whether they have a security key.
    pub has_security_key: bool,
    /// Whether to offer a passkey after the challenge (only to a client
    /// holding proof, which alone could accept).
    pub prompt_passkey: bool,
    /// The methods they have that can prove them before adding the passkey
    /// a passkey-only action needs.
    pub unlock_methods: Vec<VerificationMethod>,
    /// Whether such a proof was given.
    pub enrollment_unlocked: bool,
    /// The action's message (HTML-escaped values) in its locale, else English.
    pub message_html: Option<String>,
    /// Why the customer is asked: the deciding rule's `customerReason` in
    /// the action's locale (else its language, else English), rendered
    /// with every value escaped; none when the rule has none, or no rule
    /// decided (the default outcome).
    pub reason_html: Option<String>,
    /// The action's locale as tracked (`de-DE`): the page's own words follow
    /// it where the page is translated, as the message does.
    pub locale: Option<String>,
    /// Where the page returns to.
    pub redirect_url: Option<String>,
    /// Wrong answers so far.
    pub failed_attempts: u32,
}

/// The challenge page's view of the action `code`/`key` of `user_id`,
/// configured by `config` (its message templates), for a client that
/// holds proof (`proved`) or not. A dead end (no usable method) is
/// recorded in the action's history, once.
///
/// # Errors
/// [`CoreError::ActionNotFound`], or storage errors.
pub fn challenge_view<S: UserStore>(
    store: &S,
    user_id: &str,
    code: &str,
    key: &str,
    config: Option<&ActionConfigurationInput>,
    proved: bool,
    now: Millis,
) -> Result<ChallengeView, CoreError> {
    let record = get_action(store, code, key)?;
    let auths = store.list_authenticators()?;
    let user = get_user(store, user_id)?;
    let has = |m: VerificationMethod| {
        auths
            .iter()
            .any(|a| a.verified_at.is_some() && a.verification_method == m)
    };
    let prompt_passkey = proved && should_prompt(store, &record, now)?;
    let mut unlock_methods: Vec<_> = auths
        .iter()
        .map(|a| a.verification_method)
        .filter(|m| unlocks_enrollment(&record, &auths, *m))
        .collect();
    unlock_methods.sort();
    unlock_methods.dedup();
    let any_verified = auths.iter().any(|a| a.verified_at.is_some());
    let unlockable = !unlock_methods.is_empty() || record.enrollment_unlocked_by.is_some();
    let usable: Vec<VerificationMethod> = record
        .allowed_verification_methods
        .iter()
        .copied()
        .filter(|m| {
            // Recovery codes only while some are left; never made on this page.
            if *m == VerificationMethod::RecoveryCode {
                return super::recovery::remaining(&auths) > 0;
            }
            !any_verified
                || has(*m)
                || (unlockable
                    && matches!(
                        m,
                        VerificationMethod::Passkey | VerificationMethod::SecurityKey
                    ))
        })
        .collect();
    let mut record = record;
    if usable.is_empty()
        && record.state == ActionState::ChallengeRequired
        && record.note_no_usable_method(now)
    {
        store.update_action(&record)?;
    }
    let message_html = config
        .and_then(|c| template_for(&c.messaging_templates, record.request.locale.as_deref()))
        .and_then(|t| {
            record
                .context
                .as_ref()
                .and_then(|c| render_template(&t.default_template, c))
        });
    let reason_html = record
        .rules
        .first()
        .filter(|r| record.deciding_rule_id.as_deref() == Some(r.rule_id.as_str()))
        .and_then(|r| template_for(&r.customer_reason, record.request.locale.as_deref()))
        .and_then(|t| record.context.as_ref().and_then(|c| render_template(t, c)));
    Ok(ChallengeView {
        action_code: code.to_owned(),
        idempotency_key: key.to_owned(),
        state: record.state,
        verified: record.verification_method.is_some(),
        allowed_verification_methods: record.allowed_verification_methods.clone(),
        usable_verification_methods: usable,
        default_verification_method: record.default_verification_method,
        is_enrolled: user.is_enrolled,
        enrolled_verification_methods: user.enrolled_verification_methods,
        has_authenticator_app: has(VerificationMethod::AuthenticatorApp),
        has_passkey: has(VerificationMethod::Passkey),
        has_security_key: has(VerificationMethod::SecurityKey),
        prompt_passkey,
        unlock_methods,
        enrollment_unlocked: record.enrollment_unlocked_by.is_some(),
        message_html,
        reason_html,
        locale: record.request.locale.clone(),
        redirect_url: record.request.redirect_url.clone(),
        failed_attempts: record.failed_attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::model::{Cause, TrackRequest};
    use crate::policy::config::{ActionConfiguration, ActionConfigurationInput};
    use crate::redirect::RedirectAllowlist;
    use crate::service::track::{TrackInput, track};
    use crate::service::users::enroll_authenticator;
    use crate::store::memory::MemoryUserStore;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const NOW: Millis = 1_795_380_179_000;

    /// A user with `enrolled` (server enrollments of email or SMS) and a
    /// challenged action allowing `methods`: its view.
    fn view(enrolled: &[&str], methods: &str) -> (MemoryUserStore, ChallengeView) {
        let store = MemoryUserStore::new();
        for (i, m) in enrolled.iter().enumerate() {
            let body = match *m {
                "SMS" => r#"{"verificationMethod":"SMS","phoneNumber":"+64211234567"}"#,
                _ => r#"{"verificationMethod":"EMAIL_OTP","email":"a@example.com"}"#,
            };
            let req = crate::error::parse_json(body.as_bytes()).unwrap();
            enroll_authenticator(&store, "alice", req, format!("auth-{i}"), NOW).unwrap();
        }
        let cfg = ActionConfiguration {
            action_code: "withdraw".into(),
            input: ActionConfigurationInput::parse(
                format!(
                    r#"{{"defaultUserActionResult":"CHALLENGE","verificationMethods":{methods}}}"#
                )
                .as_bytes(),
            )
            .unwrap(),
            rules: Vec::new(),
            created_at: 0,
            updated_at: 0,
        };
        let list = RedirectAllowlist::parse("https://app.example.com").unwrap();
        let req = TrackRequest {
            idempotency_key: Some("k".into()),
            ..TrackRequest::default()
        };
        let input = TrackInput {
            config: Some(&cfg),
            fresh_key: "k".into(),
            ..TrackInput::new("alice", "withdraw", req, (Some(&cfg), None), &list, NOW)
        };
        track(&store, input).unwrap();
        let v = challenge_view(&store, "alice", "withdraw", "k", None, false, NOW).unwrap();
        (store, v)
    }

    fn dead_ends(store: &MemoryUserStore) -> usize {
        get_action(store, "withdraw", "k")
            .unwrap()
            .history
            .iter()
            .filter(|h| h.cause == Cause::NoUsableMethod)
            .count()
    }

    #[test]
    fn only_methods_the_user_can_complete_are_usable() {
        use VerificationMethod::*;
        // Nothing enrolled yet: any allowed method, enrolled on the page.
        let (_, v) = view(&[], r#"["AUTHENTICATOR_APP","EMAIL_OTP"]"#);
        assert_eq!(v.usable_verification_methods, [AuthenticatorApp, EmailOtp]);
        // Email enrolled: only email, in the configured order.
        let (s, v) = view(&["EMAIL_OTP"], r#"["AUTHENTICATOR_APP","SMS","EMAIL_OTP"]"#);
        assert_eq!(v.usable_verification_methods, [EmailOtp]);
        assert_eq!(dead_ends(&s), 0);
        // A passkey-only action: the email the user has unlocks adding one.
        let (_, v) = view(&["EMAIL_OTP"], r#"["PASSKEY"]"#);
        assert_eq!(v.usable_verification_methods, [Passkey]);
    }

    #[test]
    fn a_dead_end_is_said_and_recorded_once() {
        // Email enrolled; the action wants a passkey or an authenticator app,
        // which only a proved client could add.
        let (s, v) = view(&["EMAIL_OTP"], r#"["PASSKEY","AUTHENTICATOR_APP"]"#);
        assert!(v.usable_verification_methods.is_empty());
        assert_eq!(dead_ends(&s), 1);
        let again = challenge_view(&s, "alice", "withdraw", "k", None, false, NOW + 1).unwrap();
        assert!(again.usable_verification_methods.is_empty());
        assert_eq!(dead_ends(&s), 1, "recorded once");
        let a = get_action(&s, "withdraw", "k").unwrap();
        assert_eq!(a.state, ActionState::ChallengeRequired, "the state stays");
    }

    #[test]
    fn the_deciding_rules_reason_in_the_customers_language_escaped() {
        use crate::policy::rules::{CompiledRules, Rule, RuleInput};
        let rule = |id: &str, body: &str| Rule {
            rule_id: id.into(),
            input: RuleInput::parse(body.as_bytes()).unwrap(),
        };
        let rules = vec![
            rule(
                "big",
                r#"{"name":"big amounts (internal)","priority":1,"type":"CHALLENGE",
                    "conditions":{">":[{"var":"action.custom.amount"},1000]},
                    "customerReason":{"en":"{{action.custom.amount | number}} is more than you usually send.",
                                      "de":"{{action.custom.amount | number}} ist mehr, als Sie sonst senden. <b>"}}"#,
            ),
            rule(
                "odd",
                r#"{"name":"odd","priority":2,"type":"CHALLENGE","conditions":{"==":[{"var":"action.custom.to"},"X"]}}"#,
            ),
        ];
        let cfg = ActionConfiguration {
            action_code: "withdraw".into(),
            input: ActionConfigurationInput::parse(br#"{"defaultUserActionResult":"CHALLENGE"}"#)
                .unwrap(),
            rules,
            created_at: 0,
            updated_at: 0,
        };
        let compiled = CompiledRules::compile(&cfg.rules, Default::default()).unwrap();
        let list = RedirectAllowlist::parse("https://app.example.com").unwrap();
        let store = MemoryUserStore::new();
        let mut seen = Vec::new();
        for (key, custom, locale) in [
            ("de", r#"{"amount":25000,"to":"NZ"}"#, Some("de-AT")),
            ("en", r#"{"amount":25000,"to":"NZ"}"#, Some("fr")),
            ("no-reason", r#"{"amount":5,"to":"X"}"#, None),
            ("default", r#"{"amount":5,"to":"NZ"}"#, None),
        ] {
            let req = TrackRequest {
                idempotency_key: Some(key.into()),
                custom: Some(serde_json::from_str(custom).unwrap()),
                locale: locale.map(str::to_owned),
                ..TrackRequest::default()
            };
            let input = TrackInput {
                fresh_key: key.into(),
                ..TrackInput::new(
                    "alice",
                    "withdraw",
                    req,
                    (Some(&cfg), Some(&compiled)),
                    &list,
                    NOW,
                )
            };
            track(&store, input).unwrap();
            let v = challenge_view(&store, "alice", "withdraw", key, None, false, NOW).unwrap();
            seen.push(v.reason_html);
        }
        assert_eq!(
            seen,
            [
                Some("25,000 ist mehr, als Sie sonst senden. &lt;b&gt;".to_owned()),
                Some("25,000 is more than you usually send.".to_owned()),
                None,
                None,
            ]
        );
    }
}
