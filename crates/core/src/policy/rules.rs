//! Rules: JSON Logic conditions that override an action's default outcome.
//!
//! A rule is validated when it is written (every problem listed with its
//! location, `rule "large-withdrawal": conditions.and[1]: unknown operator
//! "gtt"`), compiled once per configuration version (validated, ordered
//! by priority, each condition into a [`logic::Expr`] tree), and evaluated against the context of each track (see
//! [`crate::policy::context`]) by [`logic`], our evaluator of the validated operator
//! set with datalogic-rs's semantics.
//!
//! All active rules are evaluated. Matching rules are ordered by priority
//! (lowest number first, ties by rule id); the first decides the outcome.
//! No match means the action's default outcome.
//!
//! A rule whose evaluation fails at run time fails closed: a CHALLENGE,
//! REVIEW or BLOCK rule counts as matched, an ALLOW rule as not matched.
//!
//! Conditions may use the standard JSON Logic operators plus
//! `{"inValueList": [<expression>, "<alias>"]}`, a hash lookup in a value
//! list (see [`crate::policy::lists`]). Variables must be among the documented data
//! points ([`FIXED_VARIABLES`], or anything under `action.custom.` and
//! `user.custom.`).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::model::RuleRef;
use crate::actions::state::Outcome;
use crate::error::CoreError;
use crate::policy::lists::ValueSet;

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Its id, unique within the action configuration.
    pub rule_id: String,
    /// Its fields.
    pub input: RuleInput,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRule<'a> {
    rule_id: &'a str,
    #[serde(flatten)]
    input: &'a RuleInput,
}

impl Rule {
    /// The management API's flat JSON form.
    pub fn to_wire(&self) -> Value {
        serde_json::to_value(WireRule {
            rule_id: &self.rule_id,
            input: &self.input,
        })
        .unwrap_or(Value::Null)
    }

    /// The `{ruleId, name, description}` reference get action returns.
    pub fn to_ref(&self) -> RuleRef {
        RuleRef {
            rule_id: self.rule_id.clone(),
            name: self.input.name.clone(),
            description: self.input.description.clone(),
            customer_reason: self.input.customer_reason.clone(),
        }
    }
}

/// Aliases of the value lists that rules reference with `inValueList`.
pub fn referenced_lists(rules: &[Rule]) -> std::collections::BTreeSet<String> {
    fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Array(args)) = m.get("inValueList")
                    && let Some(Value::String(alias)) = args.get(1)
                {
                    out.insert(alias.clone());
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    for r in rules {
        walk(&r.input.conditions, &mut out);
    }
    out
}

/// An action configuration's active rules, compiled, ordered by priority.
pub struct CompiledRules {
    /// The value lists `inValueList` reads.
    lists: Arc<HashMap<String, Arc<ValueSet>>>,
    /// Active rules, deciding rule first.
    rules: Vec<Rule>,
    /// Their conditions, compiled, in the same order.
    conditions: Vec<logic::Expr>,
    inactive: Vec<Rule>,
}

impl std::fmt::Debug for CompiledRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRules")
            .field("active", &self.rules.len())
            .field("inactive", &self.inactive.len())
            .finish()
    }
}

/// One rule's result in an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleResult {
    /// The rule.
    pub rule: Rule,
    /// Whether it matched (after the fail-closed policy).
    pub matched: bool,
    /// The run-time error, if evaluation failed.
    pub error: Option<String>,
}

/// The result of evaluating all active rules.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluation {
    /// Matching rules, deciding rule first.
    pub matched: Vec<Rule>,
    /// Rules whose evaluation failed (with the error), matched or not.
    pub errors: Vec<(String, String)>,
}

impl Evaluation {
    /// The rule that decides, if any matched.
    pub fn deciding(&self) -> Option<&Rule> {
        self.matched.first()
    }
}

/// Whether a rule counts as matched: its result, or on a run-time error the
/// fail-closed policy (only an ALLOW rule is dropped).
fn matched(rule: &Rule, outcome: &Result<bool, String>) -> bool {
    match outcome {
        Ok(m) => *m,
        Err(_) => rule.input.outcome != Outcome::Allow,
    }
}

impl CompiledRules {
    /// Compile rules with the value lists they may reference.
    ///
    /// # Errors
    /// [`CoreError::Invalid`] listing every rule that fails validation.
    pub fn compile(
        rules: &[Rule],
        lists: Arc<HashMap<String, Arc<ValueSet>>>,
    ) -> Result<Self, CoreError> {
        let types: ListTypes = lists
            .iter()
            .map(|(k, v)| (k.clone(), v.item_type))
            .collect();
        let mut problems = Vec::new();
        let mut compiled = Vec::new();
        let mut inactive = Vec::new();
        for rule in rules {
            let p = validate::validate_stored_rule(&rule.rule_id, &rule.input, &types);
            if !p.is_empty() {
                problems.extend(p);
                continue;
            }
            if !rule.input.is_active {
                inactive.push(rule.clone());
                continue;
            }
            compiled.push(rule.clone());
        }
        if !problems.is_empty() {
            return Err(CoreError::Invalid(problems));
        }
        compiled
            .sort_by(|a, b| (a.input.priority, &a.rule_id).cmp(&(b.input.priority, &b.rule_id)));
        let conditions = compiled
            .iter()
            .map(|r| logic::Expr::compile(&r.input.conditions))
            .collect();
        Ok(CompiledRules {
            lists,
            rules: compiled,
            conditions,
            inactive,
        })
    }

    /// How many active rules there are.
    pub fn active_count(&self) -> usize {
        self.rules.len()
    }

    /// Evaluate every active rule against `context`.
    pub fn evaluate(&self, context: &Value) -> Evaluation {
        let mut ev = Evaluation::default();
        for (rule, outcome) in self.rules.iter().zip(self.run(context)) {
            if let Err(e) = &outcome {
                ev.errors.push((rule.rule_id.clone(), e.clone()));
            }
            if matched(rule, &outcome) {
                ev.matched.push(rule.clone());
            }
        }
        ev
    }

    /// Every active rule's result, in priority order.
    pub fn results(&self, context: &Value) -> Vec<RuleResult> {
        self.rules
            .iter()
            .zip(self.run(context))
            .map(|(rule, outcome)| RuleResult {
                rule: rule.clone(),
                matched: matched(rule, &outcome),
                error: outcome.err(),
            })
            .collect()
    }

    /// Evaluate each active rule: `Ok(truthy)` or the run-time error.
    fn run(&self, context: &Value) -> Vec<Result<bool, String>> {
        self.conditions
            .iter()
            .map(|c| c.holds(context, &self.lists).map_err(|e| e.to_string()))
            .collect()
    }

    /// A per-rule trace for simulate: each active rule's result and, for a
    /// top-level `and`/`or`, the result of each of its conditions.
    pub fn trace(&self, context: &Value) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .results(context)
            .into_iter()
            .map(|r| {
                let conditions = self.condition_trace(&r.rule.input.conditions, context);
                serde_json::json!({
                    "ruleId": r.rule.rule_id,
                    "name": r.rule.input.name,
                    "priority": r.rule.input.priority,
                    "type": r.rule.input.outcome,
                    "isActive": true,
                    "matched": r.matched,
                    "error": r.error,
                    "conditions": conditions,
                })
            })
            .collect();
        out.extend(self.inactive.iter().map(|r| {
            serde_json::json!({
                "ruleId": r.rule_id,
                "name": r.input.name,
                "priority": r.input.priority,
                "type": r.input.outcome,
                "isActive": false,
                "matched": null,
                "error": null,
                "conditions": [],
            })
        }));
        out
    }

    fn condition_trace(&self, conditions: &Value, context: &Value) -> Vec<Value> {
        let parts: Vec<(String, &Value)> = match conditions.as_object().and_then(|m| {
            m.get("and")
                .map(|v| ("and", v))
                .or_else(|| m.get("or").map(|v| ("or", v)))
        }) {
            Some((op, Value::Array(items)))
                if conditions.as_object().is_some_and(|m| m.len() == 1) =>
            {
                items
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (format!("conditions.{op}[{i}]"), c))
                    .collect()
            }
            _ => vec![("conditions".to_owned(), conditions)],
        };
        parts
            .into_iter()
            .map(|(path, expr)| {
                match logic::apply(expr, context, &self.lists) {
                    Ok(v) => serde_json::json!({"path": path, "expression": expr, "result": v}),
                    Err(e) => {
                        serde_json::json!({"path": path, "expression": expr, "error": e.to_string()})
                    }
                }
            })
            .collect()
    }
}

mod input;
pub mod logic;
mod validate;

pub use input::*;
pub use validate::validate_rule;

#[cfg(test)]
mod tests;
