//! What an action gets: its configuration's default outcome and methods,
//! merged with those of the deciding rule (the first match by priority) when
//! one matches.

use serde_json::Value;

use crate::actions::model::RuleRef;
use crate::actions::state::Outcome;
use crate::auth::methods::{DEFAULT_METHODS, VerificationMethod};
use crate::policy::config::ActionConfiguration;
use crate::policy::rules::{CompiledRules, Evaluation};

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
