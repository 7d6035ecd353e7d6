//! Configuration as code: one JSON document with value lists and action
//! configurations (each with its rules), validated as a whole so that every
//! problem is reported at once and nothing is written unless all is valid.
//!
//! ```json
//! {
//!   "valueLists": { "sanctioned-accounts": { "name": "…", "itemType": "string", "items": ["…"] } },
//!   "actionConfigurations": {
//!     "withdraw-funds": {
//!       "defaultUserActionResult": "ALLOW",
//!       "rules": [ { "ruleId": "large-withdrawal", "name": "…", "priority": 1, "type": "CHALLENGE",
//!                    "conditions": { ">": [ { "var": "action.custom.amount" }, 1000 ] } } ]
//!     }
//!   }
//! }
//! ```

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::CoreError;
use crate::ids::check_action_code;
use crate::policy::config::ActionConfigurationInput;
use crate::policy::lists::ValueListInput;
use crate::policy::rules::{ListTypes, MAX_RULES, Rule, RuleInput, validate_rule};

/// A parsed, validated configuration document.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigDocument {
    /// Value lists by alias.
    pub value_lists: BTreeMap<String, ValueListInput>,
    /// Action configurations by code, each with its rules.
    pub action_configurations: BTreeMap<String, (ActionConfigurationInput, Vec<Rule>)>,
    /// The edge proxy in front of the app, if configured.
    pub proxy: Option<crate::proxy::ProxyConfig>,
}

fn typed<T: serde::de::DeserializeOwned>(
    v: Value,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    match crate::error::read_value::<T>(&v) {
        Ok(t) => Some(t),
        Err((path, inner)) => {
            if path.is_empty() {
                problems.push(format!("{at}: {inner}"));
            } else {
                problems.push(format!("{at}.{path}: {inner}"));
            }
            None
        }
    }
}

fn object(v: Option<Value>, at: &str, problems: &mut Vec<String>) -> Map<String, Value> {
    match v {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            problems.push(format!("{at}: must be an object, found {other}"));
            Map::new()
        }
    }
}

impl ConfigDocument {
    /// Parse and validate a document. `stored_lists` are value lists that
    /// already exist (rules may reference them as well as the document's).
    ///
    /// # Errors
    /// [`CoreError::Invalid`] with every problem, each located
    /// (`actionConfigurations.withdraw-funds.rules[1]: …`).
    pub fn parse(bytes: &[u8], stored_lists: &ListTypes) -> Result<Self, CoreError> {
        let root: Value = crate::error::parse_json(bytes)?;
        let mut problems = Vec::new();
        let Value::Object(mut root) = root else {
            return Err(CoreError::Invalid(vec![
                "the document must be a JSON object".into(),
            ]));
        };
        root.remove("$comment");
        let lists_raw = object(root.remove("valueLists"), "valueLists", &mut problems);
        let configs_raw = object(
            root.remove("actionConfigurations"),
            "actionConfigurations",
            &mut problems,
        );
        let proxy = match root.remove("proxy") {
            None | Some(Value::Null) => None,
            Some(v) => match crate::proxy::parse_proxy(v) {
                Ok(p) => Some(p),
                Err(CoreError::Invalid(p)) => {
                    problems.extend(p);
                    None
                }
                Err(e) => {
                    problems.push(e.to_string());
                    None
                }
            },
        };
        for k in root.keys() {
            problems.push(format!(
                "{k}: unknown field (expected valueLists, actionConfigurations, proxy)"
            ));
        }

        let mut value_lists = BTreeMap::new();
        for (alias, raw) in lists_raw {
            let at = format!("valueLists.{alias}");
            if let Err(e) = check_action_code(&alias, &at) {
                problems.push(e.to_string());
                continue;
            }
            if !raw.is_object() {
                problems.push(format!("{at}: must be an object"));
                continue;
            }
            let bytes = serde_json::to_vec(&raw).unwrap_or_default();
            match ValueListInput::parse(&bytes) {
                Ok(l) => {
                    value_lists.insert(alias, l);
                }
                Err(CoreError::Invalid(p)) => {
                    problems.extend(p.into_iter().map(|p| format!("{at}.{p}")))
                }
                Err(e) => problems.push(format!("{at}.{e}")),
            }
        }
        let mut types = stored_lists.clone();
        types.extend(value_lists.iter().map(|(k, v)| (k.clone(), v.item_type)));

        let mut action_configurations = BTreeMap::new();
        for (code, raw) in configs_raw {
            let at = format!("actionConfigurations.{code}");
            if let Err(e) = check_action_code(&code, &at) {
                problems.push(e.to_string());
                continue;
            }
            let mut fields = object(Some(raw), &at, &mut problems);
            let rules_raw = match fields.remove("rules") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a,
                Some(other) => {
                    problems.push(format!("{at}.rules: must be an array, found {other}"));
                    Vec::new()
                }
            };
            let input: Option<ActionConfigurationInput> =
                typed(Value::Object(fields), &at, &mut problems);
            if let Some(i) = &input
                && let Err(CoreError::Invalid(p)) = i.validate()
            {
                problems.extend(p.into_iter().map(|p| format!("{at}.{p}")));
            }
            if rules_raw.len() > MAX_RULES {
                problems.push(format!("{at}.rules: at most {MAX_RULES} rules"));
            }
            let mut rules: Vec<Rule> = Vec::new();
            for (i, r) in rules_raw.into_iter().enumerate() {
                let rat = format!("{at}.rules[{i}]");
                let mut obj = object(Some(r), &rat, &mut problems);
                let rule_id = match obj.remove("ruleId") {
                    Some(Value::String(s)) => s,
                    _ => {
                        problems.push(format!("{rat}.ruleId: required, a string"));
                        continue;
                    }
                };
                if rules.iter().any(|x| x.rule_id == rule_id) {
                    problems.push(format!("{rat}.ruleId: {rule_id:?} is used twice"));
                }
                let Some(input) = typed::<RuleInput>(Value::Object(obj), &rat, &mut problems)
                else {
                    continue;
                };
                problems.extend(
                    validate_rule(&rule_id, &input, &types)
                        .into_iter()
                        .map(|p| format!("{rat}: {p}")),
                );
                rules.push(Rule { rule_id, input });
            }
            if let Some(input) = input {
                action_configurations.insert(code, (input, rules));
            }
        }
        if problems.is_empty() {
            Ok(ConfigDocument {
                value_lists,
                action_configurations,
                proxy,
            })
        } else {
            Err(CoreError::Invalid(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn parts_given_as_arrays_are_refused_not_read_positionally() {
        for (doc, problem) in [
            (r#"{"proxy": [null, null]}"#, "proxy: must be an object"),
            (
                r#"{"valueLists": {"l": ["L", "string"]}}"#,
                "valueLists.l: must be an object",
            ),
            (
                r#"{"actionConfigurations": {"a": ["ALLOW"]}}"#,
                "actionConfigurations.a",
            ),
        ] {
            let Err(CoreError::Invalid(p)) =
                ConfigDocument::parse(doc.as_bytes(), &ListTypes::new())
            else {
                panic!("{doc} was accepted");
            };
            assert!(p.iter().any(|x| x.contains(problem)), "{doc}: {p:?}");
        }
    }

    #[test]
    fn the_repository_demo_configuration_is_valid() {
        let doc = ConfigDocument::parse(
            include_bytes!("../../../../config/demo.json"),
            &ListTypes::new(),
        )
        .unwrap();
        let (wf, rules) = &doc.action_configurations["withdraw-funds"];
        assert_eq!(
            wf.default_user_action_result,
            crate::actions::state::Outcome::Allow
        );
        assert!(rules.len() >= 4);
        assert!(doc.value_lists.contains_key("sanctioned-accounts"));
    }

    #[test]
    fn every_problem_is_reported_with_its_location() {
        let doc = br#"{
          "valueLists": {"bad list": {"name": "x", "itemType": "string", "items": []},
                         "nums": {"name": "n", "itemType": "number", "items": ["x"]}},
          "actionConfigurations": {
            "withdraw-funds": {"defaultUserActionResult": "SOMETIMES", "rules": [
              {"ruleId": "large-withdrawal", "name": "Large", "priority": 1, "type": "CHALLENGE",
               "conditions": {"and": [{">": [{"var": "action.custom.amount"}, 1]}, {"gtt": [1, 2]}]}},
              {"name": "no id", "priority": 1, "type": "BLOCK", "conditions": true},
              {"ruleId": "r3", "name": "x", "priority": -1, "type": "BLOCK", "conditions": true}
            ]}
          },
          "extra": 1
        }"#;
        let CoreError::Invalid(p) = ConfigDocument::parse(doc, &ListTypes::new()).unwrap_err()
        else {
            panic!()
        };
        let joined = p.join("\n");
        for needle in [
            "extra: unknown field",
            "valueLists.bad list: \"bad list\" is not a valid action code",
            "valueLists.nums.items[0]: \"x\" is not a finite number",
            "actionConfigurations.withdraw-funds.defaultUserActionResult: unknown variant `SOMETIMES`",
            "actionConfigurations.withdraw-funds.rules[0]: rule \"large-withdrawal\": conditions.and[1]: unknown operator \"gtt\"",
            "actionConfigurations.withdraw-funds.rules[1].ruleId: required",
            "actionConfigurations.withdraw-funds.rules[2].priority: invalid value: integer `-1`",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in:\n{joined}");
        }
    }

    #[test]
    fn rules_may_use_lists_already_stored() {
        let doc =
            br#"{"actionConfigurations": {"pay": {"defaultUserActionResult": "ALLOW", "rules": [
            {"ruleId": "r", "name": "r", "priority": 0, "type": "BLOCK",
             "conditions": {"inValueList": [{"var": "action.custom.to"}, "stored"]}}]}}}"#;
        assert!(ConfigDocument::parse(doc, &ListTypes::new()).is_err());
        let stored =
            ListTypes::from([("stored".to_owned(), crate::policy::lists::ItemType::String)]);
        assert!(ConfigDocument::parse(doc, &stored).is_ok());
    }
}
