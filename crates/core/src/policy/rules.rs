//! Rules: JSON Logic conditions that override an action's default outcome.
//!
//! A rule is validated when it is written (every problem listed with its
//! location, `rule "large-withdrawal": conditions.and[1]: unknown operator
//! "gtt"`), compiled once per configuration version (validated and ordered
//! by priority), and evaluated against the context of each track (see
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
use crate::auth::methods::VerificationMethod;
use crate::error::{CoreError, parse_json};
use crate::ids::check_action_code;
use crate::policy::lists::{ItemType, ValueSet};

/// Most rules one action configuration may hold.
pub const MAX_RULES: usize = 200;
/// Deepest nesting of a condition.
pub const MAX_DEPTH: usize = 32;

/// Data points with a fixed name. Anything below `action.custom.` and
/// `user.custom.` is allowed as well.
pub const FIXED_VARIABLES: &[&str] = &[
    "action.code",
    "user.email",
    "user.emailVerified",
    "user.phoneNumber",
    "user.phoneNumberVerified",
    "user.username",
    "user.displayName",
    "user.locale",
    "user.isEnrolled",
    "device.id",
    "device.isNew",
    "device.count",
    "ip.address",
    "ip.countryCode",
    "ip.asn",
    "ip.isNewCountry",
    "ip.impossibleTravel",
    "request.userAgent",
    "ua.isBot",
    "velocity.actionsLastHour",
    "velocity.actionsLastDay",
    "now",
];

/// Prefixes under which any variable name is allowed.
pub const OPEN_PREFIXES: &[&str] = &["action.custom", "user.custom"];

/// The body of `PUT|POST .../rules[/{ruleId}]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleInput {
    /// Short name, shown in get action and the portal. Required.
    pub name: String,
    /// Longer explanation. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the rule is evaluated. Default: true.
    #[serde(default = "default_true")]
    pub is_active: bool,
    /// 0 runs first and wins over higher numbers. Required.
    pub priority: u32,
    /// The outcome when the rule decides. Required.
    #[serde(rename = "type")]
    pub outcome: Outcome,
    /// A JSON Logic expression. Required.
    pub conditions: Value,
    /// Methods allowed when this rule decides a challenge; empty keeps the
    /// action's. Default: empty.
    #[serde(default)]
    pub verification_methods: Vec<VerificationMethod>,
    /// Method preselected when this rule decides. Default: the action's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_verification_method: Option<VerificationMethod>,
    /// Methods to offer enrolling after the challenge. Default: the action's.
    #[serde(default)]
    pub prompt_to_enroll_verification_methods: Vec<VerificationMethod>,
    /// For a CHALLENGE rule: after the challenge succeeds the action goes to
    /// manual review (`REVIEW_REQUIRED`) instead of `CHALLENGE_SUCCEEDED`.
    /// Default: false.
    #[serde(default)]
    pub review_after_challenge: bool,
}

fn default_true() -> bool {
    true
}

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
        }
    }
}

/// What the validator needs to know about value lists: the item type of
/// each alias that exists.
pub type ListTypes = HashMap<String, ItemType>;

impl RuleInput {
    /// Parse a rule body (types only; see [`validate_rule`]).
    ///
    /// # Errors
    /// [`CoreError::InvalidBody`] naming the field.
    pub fn parse(body: &[u8]) -> Result<Self, CoreError> {
        parse_json(body)
    }
}

/// Every problem of a rule, each prefixed with `rule "<id>": `.
pub fn validate_rule(rule_id: &str, rule: &RuleInput, lists: &ListTypes) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = check_action_code(rule_id, "ruleId") {
        problems.push(e.to_string());
    }
    if rule.name.trim().is_empty() || rule.name.len() > 200 {
        problems.push("name: must be 1 to 200 characters".to_owned());
    }
    if rule.description.as_ref().is_some_and(|d| d.len() > 2000) {
        problems.push("description: at most 2000 characters".to_owned());
    }
    if rule.review_after_challenge && rule.outcome != Outcome::Challenge {
        problems.push(
            "reviewAfterChallenge: only a CHALLENGE rule can require review after its challenge"
                .to_owned(),
        );
    }
    // Without methods of its own a rule keeps the action's, so any default goes.
    problems.extend(crate::auth::methods::method_problems(
        &rule.verification_methods,
        rule.default_verification_method,
        &rule.prompt_to_enroll_verification_methods,
        &[],
    ));
    let mut v = Validator {
        lists,
        problems: Vec::new(),
    };
    v.expr(&rule.conditions, "conditions", false, 0);
    if matches!(
        rule.conditions,
        Value::Array(_) | Value::Null | Value::String(_) | Value::Number(_)
    ) {
        v.problems.push(
            "conditions: must be a JSON Logic expression (an object) or a boolean".to_owned(),
        );
    }
    problems.extend(v.problems);
    problems
        .into_iter()
        .map(|p| format!("rule {rule_id:?}: {p}"))
        .collect()
}

struct Validator<'a> {
    lists: &'a ListTypes,
    problems: Vec<String>,
}

/// Accepted argument counts of an operator: (min, max).
fn arity(op: &str) -> Option<(usize, usize)> {
    const ANY: usize = usize::MAX;
    Some(match op {
        "var" => (0, 2),
        "missing" => (0, ANY),
        "missing_some" => (2, 2),
        "if" | "?:" => (1, ANY),
        "==" | "===" | "!=" | "!==" => (2, 2),
        "!" | "!!" => (1, 1),
        "or" | "and" => (1, ANY),
        ">" | ">=" => (2, 2),
        "<" | "<=" => (2, 3),
        "max" | "min" => (1, ANY),
        "+" | "*" => (1, ANY),
        "-" => (1, 2),
        "/" | "%" => (2, 2),
        "map" | "filter" | "all" | "none" | "some" => (2, 2),
        "reduce" => (3, 3),
        "merge" | "cat" => (0, ANY),
        "in" => (2, 2),
        "substr" => (2, 3),
        "inValueList" => (2, 2),
        _ => return None,
    })
}

fn variable_known(path: &str) -> bool {
    FIXED_VARIABLES.contains(&path)
        || OPEN_PREFIXES.iter().any(|p| {
            path == *p
                || path
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1)
        })
}

impl Validator<'_> {
    fn expr(&mut self, e: &Value, at: &str, in_iteration: bool, depth: usize) {
        if depth > MAX_DEPTH {
            self.problems
                .push(format!("{at}: nested deeper than {MAX_DEPTH} levels"));
            return;
        }
        match e {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.expr(item, &format!("{at}[{i}]"), in_iteration, depth + 1);
                }
            }
            Value::Object(map) => {
                let mut entries = map.iter();
                let (Some((op, args)), None) = (entries.next(), entries.next()) else {
                    self.problems.push(format!(
                        "{at}: an operation is an object with exactly one key (the operator), found {}",
                        map.len()
                    ));
                    return;
                };
                let at = format!("{at}.{op}");
                let Some((min, max)) = arity(op) else {
                    self.problems
                        .push(format!("{}: unknown operator {op:?}", parent(&at)));
                    return;
                };
                let args: Vec<&Value> = match args {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                if args.len() < min || args.len() > max {
                    let want = if min == max {
                        format!("{min}")
                    } else if max == usize::MAX {
                        format!("at least {min}")
                    } else {
                        format!("{min} to {max}")
                    };
                    self.problems.push(format!(
                        "{at}: {op:?} takes {want} argument(s), found {}",
                        args.len()
                    ));
                    return;
                }
                match op.as_str() {
                    "var" => self.var(args.first().copied(), &at, in_iteration),
                    "missing" | "missing_some" => {
                        // Paths are data, not expressions.
                        let paths: Vec<&Value> = if op == "missing" {
                            args.clone()
                        } else {
                            match args.get(1) {
                                Some(Value::Array(a)) => a.iter().collect(),
                                _ => Vec::new(),
                            }
                        };
                        for p in paths {
                            if let Value::String(s) = p
                                && !in_iteration
                                && !variable_known(s)
                            {
                                self.problems.push(format!("{at}: unknown variable {s:?}"));
                            }
                        }
                    }
                    "inValueList" => {
                        if let Some(first) = args.first() {
                            self.expr(first, &format!("{at}[0]"), in_iteration, depth + 1);
                        }
                        match args.get(1) {
                            Some(Value::String(alias)) => {
                                if !self.lists.contains_key(alias.as_str()) {
                                    self.problems
                                        .push(format!("{at}[1]: no value list {alias:?}"));
                                }
                            }
                            _ => self.problems.push(format!(
                                "{at}[1]: must be the alias of a value list, as a string"
                            )),
                        }
                    }
                    "map" | "filter" | "all" | "none" | "some" | "reduce" => {
                        for (i, a) in args.iter().enumerate() {
                            // The body runs with each element as its data.
                            let inner = in_iteration || i >= 1;
                            self.expr(a, &format!("{at}[{i}]"), inner, depth + 1);
                        }
                    }
                    _ => {
                        for (i, a) in args.iter().enumerate() {
                            self.expr(a, &format!("{at}[{i}]"), in_iteration, depth + 1);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn var(&mut self, path: Option<&Value>, at: &str, in_iteration: bool) {
        match path {
            None => {}
            Some(Value::String(p)) if !in_iteration && !variable_known(p) => {
                let root = p.split('.').next().unwrap_or("");
                let roots = [
                    "action", "user", "device", "ip", "request", "ua", "velocity", "now",
                ];
                if roots.contains(&root) {
                    self.problems.push(format!("{at}: unknown variable {p:?}"));
                } else {
                    self.problems.push(format!(
                        "{at}: unknown variable {p:?} (variables start with one of {})",
                        roots.join(", ")
                    ));
                }
            }
            Some(Value::String(_)) => {}
            Some(Value::Number(_)) if in_iteration => {}
            Some(other) => self.problems.push(format!(
                "{at}: a variable path must be a string literal, found {other}"
            )),
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

fn parent(at: &str) -> &str {
    at.rsplit_once('.').map_or(at, |(p, _)| p)
}

/// An action configuration's active rules, compiled, ordered by priority.
pub struct CompiledRules {
    /// The value lists `inValueList` reads.
    lists: Arc<HashMap<String, Arc<ValueSet>>>,
    /// Active rules, deciding rule first.
    rules: Vec<Rule>,
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
            let p = validate_rule(&rule.rule_id, &rule.input, &types);
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
        Ok(CompiledRules {
            lists,
            rules: compiled,
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
        self.rules
            .iter()
            .map(|rule| {
                logic::apply(&rule.input.conditions, context, &self.lists)
                    .map(|v| logic::truthy(&v))
                    .map_err(|e| e.to_string())
            })
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

pub mod logic;

#[cfg(test)]
mod tests;
