//! Action configurations: what happens to an action code when it is tracked.
//!
//! Field names follow Authsignal's management API so its users recognise
//! them. A configuration is parsed strictly (unknown fields are refused,
//! naming the field) and then validated as a whole, so every problem is
//! reported at once and nothing invalid is ever stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::actions::state::Outcome;
use crate::auth::methods::{DEFAULT_METHODS, VerificationMethod};
use crate::error::{CoreError, parse_json_all};
use crate::time::Millis;

/// Longest message template accepted, in bytes.
pub const MAX_TEMPLATE_LEN: usize = 1_000;

/// A contextual message shown on the challenge page, per locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessagingTemplate {
    /// Template such as `Please confirm your withdrawal of {{action.custom.amount}}`.
    pub default_template: String,
}

/// The body of `PUT /v1/management/action-configurations/{actionCode}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionConfigurationInput {
    /// Outcome when no rule matches. Required.
    pub default_user_action_result: Outcome,
    /// Methods a challenge may use. Default: empty, meaning
    /// [`DEFAULT_METHODS`] (passkey, authenticator app, email OTP).
    #[serde(default)]
    pub verification_methods: Vec<VerificationMethod>,
    /// A method that overrides the user's own preference. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_verification_method: Option<VerificationMethod>,
    /// Methods to offer enrolling after a successful challenge (only
    /// `PASSKEY` is supported). Default: none.
    #[serde(default)]
    pub prompt_to_enroll_verification_methods: Vec<VerificationMethod>,
    /// Message templates keyed by locale (`en`, `en-GB`). Default: none.
    #[serde(default)]
    pub messaging_templates: BTreeMap<String, MessagingTemplate>,
    /// ActionGate extension: WebAuthn `userVerification` for passkey and
    /// security key ceremonies of this action (`required` makes the
    /// authenticator check a PIN or biometric, and the worker checks that
    /// it did). Default: `preferred`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey_user_verification: Option<crate::auth::webauthn::UserVerification>,
    /// ActionGate extension: ask the app (`ACTION_VERIFY_WEBHOOK_URL`, the
    /// synchronous `action.verify` webhook) before a challenge of this
    /// action succeeds; the app may veto it. Default: false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub action_verify_webhook: bool,
}

/// A stored action configuration: the input plus bookkeeping. Stored with
/// the input nested (`{"actionCode", "input", ...}`); [`Self::to_wire`] gives
/// the flat form the management API answers with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionConfiguration {
    /// The action code it applies to.
    pub action_code: String,
    /// The configured fields.
    pub input: ActionConfigurationInput,
    /// Its rules (managed under `.../rules`).
    #[serde(default)]
    pub rules: Vec<crate::policy::rules::Rule>,
    /// When it was first stored (ms since epoch).
    pub created_at: Millis,
    /// When it was last replaced (ms since epoch).
    pub updated_at: Millis,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireConfiguration<'a> {
    action_code: &'a str,
    #[serde(flatten)]
    input: &'a ActionConfigurationInput,
    rules: Vec<serde_json::Value>,
    created_at: String,
    updated_at: String,
}

impl ActionConfiguration {
    /// This configuration as the version that replaces `previous` at `now`:
    /// created when the first one was, updated later than any before it
    /// (so `updatedAt` tells versions apart even within one millisecond).
    pub fn replacing(mut self, previous: Option<&Self>, now: Millis) -> Self {
        self.created_at = previous.map_or(now, |p| p.created_at);
        self.updated_at = previous.map_or(now, |p| now.max(p.updated_at.saturating_add(1)));
        self
    }

    /// The management API's JSON form: the input's fields at top level,
    /// plus `actionCode`, `createdAt` and `updatedAt` (RFC 3339).
    pub fn to_wire(&self) -> serde_json::Value {
        serde_json::to_value(WireConfiguration {
            action_code: &self.action_code,
            input: &self.input,
            rules: self
                .rules
                .iter()
                .map(crate::policy::rules::Rule::to_wire)
                .collect(),
            created_at: crate::time::to_rfc3339(self.created_at),
            updated_at: crate::time::to_rfc3339(self.updated_at),
        })
        .unwrap_or(serde_json::Value::Null)
    }
}

impl ActionConfigurationInput {
    /// Parse and validate a PUT body.
    ///
    /// # Errors
    /// [`CoreError::InvalidBody`] for a JSON or type error (naming the
    /// field), [`CoreError::Invalid`] listing every semantic problem.
    pub fn parse(body: &[u8]) -> Result<Self, CoreError> {
        let input: ActionConfigurationInput = parse_json_all(body)?;
        input.validate()?;
        Ok(input)
    }

    /// Check the fields against each other.
    ///
    /// # Errors
    /// [`CoreError::Invalid`] with one located message per problem.
    pub fn validate(&self) -> Result<(), CoreError> {
        let mut problems = crate::auth::methods::method_problems(
            &self.verification_methods,
            self.default_verification_method,
            &self.prompt_to_enroll_verification_methods,
            &DEFAULT_METHODS,
        );
        for (locale, t) in &self.messaging_templates {
            if !crate::ids::valid_locale(locale) {
                problems.push(format!(
                    "messagingTemplates.{locale}: not a locale tag such as \"en\" or \"en-GB\""
                ));
            }
            if t.default_template.len() > MAX_TEMPLATE_LEN {
                problems.push(format!(
                    "messagingTemplates.{locale}.defaultTemplate: longer than {MAX_TEMPLATE_LEN} bytes"
                ));
            }
            for p in crate::present::template_problems(&t.default_template) {
                problems.push(format!("messagingTemplates.{locale}.defaultTemplate: {p}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Invalid(problems))
        }
    }

    /// The methods a challenge may use: the configured ones, or the defaults.
    pub fn allowed_methods(&self) -> Vec<VerificationMethod> {
        if self.verification_methods.is_empty() {
            DEFAULT_METHODS.to_vec()
        } else {
            self.verification_methods.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn parse(s: &str) -> Result<ActionConfigurationInput, CoreError> {
        ActionConfigurationInput::parse(s.as_bytes())
    }

    #[test]
    fn a_replacing_version_keeps_its_creation_and_always_moves_on() {
        let first = ActionConfiguration {
            action_code: "a".into(),
            input: parse(r#"{"defaultUserActionResult": "ALLOW"}"#).unwrap(),
            rules: Vec::new(),
            created_at: 0,
            updated_at: 0,
        }
        .replacing(None, 1_000);
        assert_eq!((first.created_at, first.updated_at), (1_000, 1_000));
        // Within the same millisecond, and with a clock that went back.
        let same = first.clone().replacing(Some(&first), 1_000);
        assert_eq!((same.created_at, same.updated_at), (1_000, 1_001));
        let back = same.clone().replacing(Some(&same), 900);
        assert_eq!((back.created_at, back.updated_at), (1_000, 1_002));
        let later = back.clone().replacing(Some(&back), 5_000);
        assert_eq!((later.created_at, later.updated_at), (1_000, 5_000));
    }

    #[test]
    fn minimal_configuration_uses_documented_defaults() {
        let c = parse(r#"{"defaultUserActionResult":"CHALLENGE"}"#).unwrap();
        assert_eq!(c.default_user_action_result, Outcome::Challenge);
        assert_eq!(c.allowed_methods(), DEFAULT_METHODS.to_vec());
        assert_eq!(c.default_verification_method, None);
        assert!(c.messaging_templates.is_empty());
    }

    #[test]
    fn full_configuration_parses() {
        let c = parse(
            r#"{"defaultUserActionResult":"REVIEW","verificationMethods":["EMAIL_OTP","PASSKEY"],
               "defaultVerificationMethod":"PASSKEY","promptToEnrollVerificationMethods":["PASSKEY"],
               "messagingTemplates":{"en":{"defaultTemplate":"Confirm {{action.custom.amount}}"}}}"#,
        )
        .unwrap();
        assert_eq!(
            c.default_verification_method,
            Some(VerificationMethod::Passkey)
        );
        assert_eq!(
            c.messaging_templates["en"].default_template,
            "Confirm {{action.custom.amount}}"
        );
    }

    #[test]
    fn unknown_field_is_named() {
        let err = parse(r#"{"defaultUserActionResult":"ALLOW","defaultOutcome":"BLOCK"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("defaultOutcome"), "{err}");
    }

    #[test]
    fn bad_value_names_the_field() {
        let err = parse(r#"{"defaultUserActionResult":"MAYBE"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("defaultUserActionResult: unknown variant `MAYBE`"),
            "{err}"
        );
        let err = parse(r#"{"defaultUserActionResult":"ALLOW","verificationMethods":["EMAIL_OTP","CARRIER_PIGEON"]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("verificationMethods[1]: unknown variant"),
            "{err}"
        );
    }

    #[test]
    fn missing_required_field_is_named() {
        let err = parse(r#"{}"#).unwrap_err().to_string();
        assert!(err.contains("defaultUserActionResult"), "{err}");
    }

    #[test]
    fn every_semantic_problem_is_listed() {
        let err = parse(
            r#"{"defaultUserActionResult":"ALLOW","verificationMethods":["SMS","SMS"],
               "defaultVerificationMethod":"PASSKEY","promptToEnrollVerificationMethods":["SMS"],
               "messagingTemplates":{"en us":{"defaultTemplate":"x"}}}"#,
        )
        .unwrap_err();
        let CoreError::Invalid(problems) = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            problems,
            [
                "verificationMethods[1]: SMS is listed twice",
                "defaultVerificationMethod: PASSKEY is not among the allowed verificationMethods",
                "promptToEnrollVerificationMethods[0]: only PASSKEY can be prompted for, not SMS",
                "messagingTemplates.en us: not a locale tag such as \"en\" or \"en-GB\"",
            ]
        );
    }

    #[test]
    fn wire_form_flattens_the_input_and_stored_form_round_trips() {
        let c = ActionConfiguration {
            action_code: "withdraw-funds".into(),
            input: parse(r#"{"defaultUserActionResult":"BLOCK"}"#).unwrap(),
            rules: Vec::new(),
            created_at: 1,
            updated_at: 2,
        };
        let v = c.to_wire();
        assert_eq!(v["actionCode"], "withdraw-funds");
        assert_eq!(v["defaultUserActionResult"], "BLOCK");
        assert_eq!(v["updatedAt"], "1970-01-01T00:00:00.002Z");
        let stored = serde_json::to_vec(&c).unwrap();
        let back: ActionConfiguration = serde_json::from_slice(&stored).unwrap();
        assert_eq!(back, c);
    }
}
