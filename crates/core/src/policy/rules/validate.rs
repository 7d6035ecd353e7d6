//! A rule's validation: every problem of its fields and its conditions
//! (unknown operators, wrong argument counts, unknown variables, lists
//! that do not exist or hold another type), each located.

use serde_json::Value;

use super::input::{FIXED_VARIABLES, ListTypes, MAX_DEPTH, OPEN_PREFIXES, RuleInput};
use crate::actions::state::Outcome;
use crate::ids::check_action_code;

/// Every problem of a rule, each prefixed with `rule "<id>": `: what a
/// rule must pass to be written.
pub fn validate_rule(rule_id: &str, rule: &RuleInput, lists: &ListTypes) -> Vec<String> {
    validate(rule_id, rule, lists, true)
}

/// [`validate_rule`] for a rule already stored, as it is compiled: without
/// the checks added since rules could be stored, that a stored rule may not
/// pass (its conditions inside a `var`'s default, the computed arguments of
/// `missing` and `missing_some`, and `reduce`'s initial value read as the
/// rule's data). Whatever of those fails
/// at run time fails the rule closed; refusing the stored rule here would
/// make every track of its action unavailable.
pub(crate) fn validate_stored_rule(
    rule_id: &str,
    rule: &RuleInput,
    lists: &ListTypes,
) -> Vec<String> {
    validate(rule_id, rule, lists, false)
}

fn validate(rule_id: &str, rule: &RuleInput, lists: &ListTypes, strict: bool) -> Vec<String> {
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
    if !rule.customer_reason.is_empty()
        && !matches!(rule.outcome, Outcome::Challenge | Outcome::Review)
    {
        problems.push(
            "customerReason: only a CHALLENGE or REVIEW rule asks the customer anything".to_owned(),
        );
    }
    for (locale, text) in &rule.customer_reason {
        if !crate::ids::valid_locale(locale) {
            problems.push(format!(
                "customerReason.{locale}: not a locale tag such as \"en\" or \"en-GB\""
            ));
        }
        if text.trim().is_empty() || text.len() > 500 {
            problems.push(format!("customerReason.{locale}: must be 1 to 500 bytes"));
        }
        for p in crate::present::template_problems(text) {
            problems.push(format!("customerReason.{locale}: {p}"));
        }
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
        strict,
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
    /// Whether the parts of [`validate_stored_rule`] are checked too.
    strict: bool,
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
                let Some((min, max)) = arity(op) else {
                    // Located at the operation (an operator's name may hold a dot).
                    self.problems.push(format!("{at}: unknown operator {op:?}"));
                    return;
                };
                let at = format!("{at}.{op}");
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
                    "var" => {
                        self.var(args.first().copied(), &at, in_iteration);
                        // The default is evaluated where the path leads nowhere.
                        if self.strict
                            && let Some(default) = args.get(1)
                        {
                            self.expr(default, &format!("{at}[1]"), in_iteration, depth + 1);
                        }
                    }
                    // Stored rules: the paths as they were always checked.
                    "missing" | "missing_some" if !self.strict => {
                        let paths: Vec<&Value> = if op == "missing" {
                            args.clone()
                        } else {
                            match args.get(1) {
                                Some(Value::Array(a)) => a.iter().collect(),
                                _ => Vec::new(),
                            }
                        };
                        for p in paths {
                            self.path(p, &at, in_iteration);
                        }
                    }
                    "missing" => {
                        for (i, a) in args.iter().enumerate() {
                            self.paths(a, &at, &format!("{at}[{i}]"), in_iteration, depth + 1);
                        }
                    }
                    "missing_some" => {
                        if let Some(min) = args.first() {
                            self.expr(min, &format!("{at}[0]"), in_iteration, depth + 1);
                        }
                        if let Some(paths) = args.get(1) {
                            self.paths(paths, &at, &format!("{at}[1]"), in_iteration, depth + 1);
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
                            // The body runs with each element as its data;
                            // `reduce`'s initial value with the rule's data
                            // (stored rules: as they were checked, every
                            // argument after the first as a body).
                            let inner = in_iteration || i == 1 || (i > 1 && !self.strict);
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

    /// Paths `missing` and `missing_some` look for (strict): a string, an
    /// array (of strings, each a path, or expressions), or an expression
    /// that computes them. `op_at` locates the operator, `at` the argument.
    fn paths(&mut self, a: &Value, op_at: &str, at: &str, in_iteration: bool, depth: usize) {
        match a {
            Value::String(_) => self.path(a, op_at, in_iteration),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(_) => self.path(item, op_at, in_iteration),
                        other => self.expr(other, &format!("{at}[{i}]"), in_iteration, depth + 1),
                    }
                }
            }
            other => self.expr(other, at, in_iteration, depth),
        }
    }

    /// A path `missing` or `missing_some` looks for, if it is a string.
    fn path(&mut self, p: &Value, op_at: &str, in_iteration: bool) {
        if let Value::String(s) = p
            && !in_iteration
            && !variable_known(s)
        {
            self.problems
                .push(format!("{op_at}: unknown variable {s:?}"));
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
