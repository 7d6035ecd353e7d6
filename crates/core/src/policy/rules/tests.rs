#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::*;
use crate::policy::lists::ItemType;
use serde_json::json;

fn rule(id: &str, priority: u32, outcome: &str, conditions: Value) -> Rule {
    Rule {
        rule_id: id.into(),
        input: serde_json::from_value(json!({
            "name": id, "priority": priority, "type": outcome, "conditions": conditions,
        }))
        .unwrap(),
    }
}

fn lists() -> Arc<HashMap<String, Arc<ValueSet>>> {
    let sanctioned = crate::policy::lists::ValueListInput {
        name: "Sanctioned accounts".into(),
        item_type: ItemType::String,
        normalize: None,
        items: vec![json!("acct-666"), json!("acct-777")],
    };
    let asns = crate::policy::lists::ValueListInput {
        name: "Hosting ASNs".into(),
        item_type: ItemType::Number,
        normalize: None,
        items: vec![json!(16509), json!(14061)],
    };
    Arc::new(HashMap::from([
        (
            "sanctioned".to_owned(),
            Arc::new(ValueSet::from_list(&sanctioned)),
        ),
        (
            "hosting-asns".to_owned(),
            Arc::new(ValueSet::from_list(&asns)),
        ),
    ]))
}

fn ctx(amount: f64) -> Value {
    json!({"action": {"code": "withdraw-funds", "custom": {"amount": amount, "destination": "acct-1"}},
           "device": {"id": "d1", "isNew": false, "count": 1}, "ip": {"asn": 13335}, "now": 1_795_380_179})
}

fn ids(e: &Evaluation) -> Vec<&str> {
    e.matched.iter().map(|r| r.rule_id.as_str()).collect()
}

#[test]
fn lowest_priority_number_decides_and_all_matches_are_reported() {
    let rules = vec![
        rule(
            "big",
            10,
            "CHALLENGE",
            json!({">": [{"var": "action.custom.amount"}, 1000]}),
        ),
        rule(
            "huge",
            5,
            "REVIEW",
            json!({">": [{"var": "action.custom.amount"}, 10000]}),
        ),
        rule(
            "tiny",
            0,
            "ALLOW",
            json!({"<": [{"var": "action.custom.amount"}, 10]}),
        ),
    ];
    let c = CompiledRules::compile(&rules, lists()).unwrap();
    assert_eq!(ids(&c.evaluate(&ctx(50_000.0))), ["huge", "big"]);
    assert_eq!(
        c.evaluate(&ctx(50_000.0)).deciding().unwrap().input.outcome,
        Outcome::Review
    );
    assert_eq!(ids(&c.evaluate(&ctx(5_000.0))), ["big"]);
    assert_eq!(ids(&c.evaluate(&ctx(5.0))), ["tiny"]);
    assert!(c.evaluate(&ctx(500.0)).matched.is_empty());
}

#[test]
fn equal_priorities_are_ordered_by_rule_id() {
    let rules = vec![
        rule("b-rule", 1, "BLOCK", json!(true)),
        rule("a-rule", 1, "CHALLENGE", json!(true)),
    ];
    let c = CompiledRules::compile(&rules, lists()).unwrap();
    assert_eq!(ids(&c.evaluate(&ctx(1.0))), ["a-rule", "b-rule"]);
}

#[test]
fn inactive_rules_are_not_evaluated() {
    let mut r = rule("off", 0, "BLOCK", json!(true));
    r.input.is_active = false;
    let c = CompiledRules::compile(&[r], lists()).unwrap();
    assert_eq!(c.active_count(), 0);
    assert!(c.evaluate(&ctx(1.0)).matched.is_empty());
    assert_eq!(c.trace(&ctx(1.0))[0]["isActive"], false);
}

#[test]
fn value_list_membership_for_strings_and_numbers() {
    let rules = vec![
        rule(
            "sanctioned",
            0,
            "BLOCK",
            json!({"inValueList": [{"var": "action.custom.destination"}, "sanctioned"]}),
        ),
        rule(
            "hosting",
            1,
            "CHALLENGE",
            json!({"inValueList": [{"var": "ip.asn"}, "hosting-asns"]}),
        ),
    ];
    let c = CompiledRules::compile(&rules, lists()).unwrap();
    assert!(c.evaluate(&ctx(1.0)).matched.is_empty());
    let mut x = ctx(1.0);
    x["action"]["custom"]["destination"] = json!("acct-666");
    x["ip"]["asn"] = json!(16509);
    assert_eq!(ids(&c.evaluate(&x)), ["sanctioned", "hosting"]);
    // A number is never in a string list and null is in none.
    x["action"]["custom"]["destination"] = json!(666);
    x["ip"]["asn"] = Value::Null;
    assert!(c.evaluate(&x).matched.is_empty());
}

#[test]
fn missing_data_is_null_not_a_crash() {
    let rules = vec![
        rule(
            "new-device",
            0,
            "CHALLENGE",
            json!({"==": [{"var": "device.isNew"}, true]}),
        ),
        rule(
            "country",
            1,
            "BLOCK",
            json!({"in": [{"var": "ip.countryCode"}, ["KP", "IR"]]}),
        ),
    ];
    let c = CompiledRules::compile(&rules, lists()).unwrap();
    let e = c.evaluate(&json!({}));
    assert!(e.matched.is_empty());
    assert!(e.errors.is_empty());
}

#[test]
fn validation_lists_every_problem_with_its_location() {
    let types: ListTypes = HashMap::from([("sanctioned".to_owned(), ItemType::String)]);
    let input: RuleInput = serde_json::from_value(json!({
        "name": "large-withdrawal", "priority": 1, "type": "ALLOW",
        "reviewAfterChallenge": true,
        "conditions": {"and": [
            {">": [{"var": "action.custom.amount"}, 1000]},
            {"gtt": [{"var": "action.custom.amount"}, 5]},
            {"==": [{"var": "device.isnew"}, true]},
            {"==": [{"var": "wallet.balance"}, 0]},
            {"inValueList": [{"var": "action.custom.to"}, "missing-list"]},
            {"!": [1, 2]},
            {"var": {"cat": ["a", "b"]}},
        ]}
    }))
    .unwrap();
    let problems = validate_rule("large-withdrawal", &input, &types);
    assert_eq!(
        problems,
        [
            "rule \"large-withdrawal\": reviewAfterChallenge: only a CHALLENGE rule can require review after its challenge",
            "rule \"large-withdrawal\": conditions.and[1]: unknown operator \"gtt\"",
            "rule \"large-withdrawal\": conditions.and[2].==[0].var: unknown variable \"device.isnew\"",
            "rule \"large-withdrawal\": conditions.and[3].==[0].var: unknown variable \"wallet.balance\" (variables start with one of action, user, device, ip, request, ua, velocity, now)",
            "rule \"large-withdrawal\": conditions.and[4].inValueList[1]: no value list \"missing-list\"",
            "rule \"large-withdrawal\": conditions.and[5].!: \"!\" takes 1 argument(s), found 2",
            "rule \"large-withdrawal\": conditions.and[6].var: a variable path must be a string literal, found {\"cat\":[\"a\",\"b\"]}",
        ]
    );
}

#[test]
fn every_documented_variable_validates() {
    let types = ListTypes::new();
    for v in FIXED_VARIABLES
        .iter()
        .chain(["action.custom.anything.nested", "user.custom.tier"].iter())
    {
        let input: RuleInput = serde_json::from_value(json!({
            "name": "x", "priority": 0, "type": "BLOCK", "conditions": {"!!": {"var": v}}
        }))
        .unwrap();
        assert!(validate_rule("x", &input, &types).is_empty(), "{v}");
    }
}

#[test]
fn iteration_bodies_may_use_element_paths() {
    let types = ListTypes::new();
    let input: RuleInput = serde_json::from_value(json!({
        "name": "x", "priority": 0, "type": "BLOCK",
        "conditions": {"some": [{"var": "action.custom.items"}, {">": [{"var": "price"}, 100]}]}
    }))
    .unwrap();
    assert!(validate_rule("x", &input, &types).is_empty());
}

#[test]
fn runtime_errors_fail_closed_except_for_allow_rules() {
    // Dividing a string is an error at run time (as in datalogic-rs).
    let bad = json!({"==": [{"/": ["not-a-number", {"var": "action.custom.amount"}]}, 1]});
    let rules = vec![
        rule("block-on-error", 1, "BLOCK", bad.clone()),
        rule("allow-on-error", 0, "ALLOW", bad),
    ];
    let c = CompiledRules::compile(&rules, lists()).unwrap();
    let e = c.evaluate(&ctx(0.0));
    assert_eq!(e.errors.len(), 2, "{e:?}");
    assert_eq!(ids(&e), ["block-on-error"]);
}

#[test]
fn trace_shows_each_condition_of_a_top_level_and() {
    let rules = vec![rule(
        "new-device-large",
        0,
        "CHALLENGE",
        json!({"and": [{">": [{"var": "action.custom.amount"}, 1000]}, {"==": [{"var": "device.isNew"}, true]}]}),
    )];
    let c = CompiledRules::compile(&rules, lists()).unwrap();
    let t = c.trace(&ctx(5000.0));
    assert_eq!(t[0]["matched"], false);
    assert_eq!(t[0]["conditions"][0]["path"], "conditions.and[0]");
    assert_eq!(t[0]["conditions"][0]["result"], true);
    assert_eq!(t[0]["conditions"][1]["path"], "conditions.and[1]");
    assert_eq!(t[0]["conditions"][1]["result"], false);
}

#[test]
fn compile_refuses_invalid_rules_listing_all() {
    let rules = vec![
        rule("a", 0, "BLOCK", json!({"gtt": [1, 2]})),
        rule("b", 0, "BLOCK", json!({"inValueList": [1, "nope"]})),
    ];
    let err = CompiledRules::compile(&rules, lists()).unwrap_err();
    let CoreError::Invalid(p) = err else {
        panic!("{err:?}")
    };
    assert_eq!(p.len(), 2);
}

#[test]
fn wire_form_is_flat() {
    let r = rule("r1", 3, "REVIEW", json!(true));
    let w = r.to_wire();
    assert_eq!(w["ruleId"], "r1");
    assert_eq!(w["type"], "REVIEW");
    assert_eq!(w["isActive"], true);
    assert_eq!(w["priority"], 3);
}

/// How an optional attribute's `null` meets each kind of condition (the
/// edge proxy page, docs/proxy.md, documents this table).
#[test]
fn null_attributes_meet_conditions_as_documented() {
    let cases = [
        ("gt", json!({">": [{"var": "action.custom.x"}, 1000]})),
        ("lt", json!({"<": [{"var": "action.custom.x"}, 1000]})),
        ("eq-number", json!({"==": [{"var": "action.custom.x"}, 0]})),
        ("eq-null", json!({"==": [{"var": "action.custom.x"}, null]})),
        (
            "eq-string",
            json!({"==": [{"var": "action.custom.x"}, "a"]}),
        ),
        ("not", json!({"!": [{"var": "action.custom.x"}]})),
        (
            "in-list",
            json!({"inValueList": [{"var": "action.custom.x"}, "sanctioned"]}),
        ),
        (
            "in-array",
            json!({"in": [{"var": "action.custom.x"}, ["a", "b"]]}),
        ),
        ("missing", json!({"missing": ["action.custom.x"]})),
    ];
    let rules: Vec<Rule> = cases
        .iter()
        .enumerate()
        .map(|(i, (id, c))| rule(id, i as u32, "BLOCK", c.clone()))
        .collect();
    let compiled = CompiledRules::compile(&rules, lists()).unwrap();
    let e = compiled.evaluate(&json!({"action": {"custom": {"x": null}}}));
    let mut got = ids(&e);
    got.sort_unstable();
    // `null` compares as 0 with numbers, is falsy, is no list member, and
    // is present (so `missing` does not report it).
    let mut want = vec!["lt", "eq-number", "eq-null", "not"];
    want.sort_unstable();
    assert_eq!(got, want, "errors: {:?}", e.errors);
}

#[test]
fn a_rule_written_is_checked_inside_defaults_and_computed_paths() {
    let conditions = json!({"and": [
        {"var": ["action.custom.amount", {"gtt": 1}]},
        {"missing": [{"cat": ["action.", {"var": "wallet.x"}]}]},
        {"missing": [["action.custom.a", "wallet.y"]]},
        {"missing_some": [{"+": [1, {"var": "wallet.z"}]}, ["action.custom.a"]]},
        {"missing_some": [1, {"merge": [["action.custom.a"], {"gtt": 2}]}]},
        // `reduce`'s initial value reads the rule's data, not an element's.
        {"reduce": [[1], {"var": "accumulator"}, {"var": "wallet.w"}]},
        {"x.y": 1},
    ]});
    let written = rule("r", 1, "BLOCK", conditions);
    assert_eq!(
        validate_rule("r", &written.input, &ListTypes::new()),
        [
            "rule \"r\": conditions.and[0].var[1]: unknown operator \"gtt\"",
            "rule \"r\": conditions.and[1].missing[0].cat[1].var: unknown variable \"wallet.x\" (variables start with one of action, user, device, ip, request, ua, velocity, now)",
            "rule \"r\": conditions.and[2].missing: unknown variable \"wallet.y\"",
            "rule \"r\": conditions.and[3].missing_some[0].+[1].var: unknown variable \"wallet.z\" (variables start with one of action, user, device, ip, request, ua, velocity, now)",
            "rule \"r\": conditions.and[4].missing_some[1].merge[1]: unknown operator \"gtt\"",
            "rule \"r\": conditions.and[5].reduce[2].var: unknown variable \"wallet.w\" (variables start with one of action, user, device, ip, request, ua, velocity, now)",
            "rule \"r\": conditions.and[6]: unknown operator \"x.y\"",
        ]
    );
    // Valid defaults and computed paths pass.
    let fine = rule(
        "ok",
        1,
        "BLOCK",
        json!({"and": [
            {"var": ["action.custom.amount", {"var": "action.custom.fallback"}]},
            {"missing": [["action.custom.a"], {"merge": ["action.custom.b"]}]},
            {"missing_some": [{"+": [1, 0]}, ["action.custom.a", "device.isNew"]]},
        ]}),
    );
    assert_eq!(
        validate_rule("ok", &fine.input, &ListTypes::new()),
        Vec::<String>::new()
    );
}

#[test]
fn a_rule_stored_before_those_checks_still_compiles_and_fails_closed() {
    // Stored when a `var`'s default was not checked: compiling it refuses
    // nothing (which would make the action unavailable); where evaluation
    // reaches the unknown operator the BLOCK rule matches, with the error.
    let stored = rule(
        "old",
        1,
        "BLOCK",
        json!({"==": [{"var": ["action.custom.amount", {"gtt": 1}]}, 5]}),
    );
    // So was a `reduce` whose initial value reads an unknown variable.
    let reduced = rule(
        "old-reduce",
        2,
        "ALLOW",
        json!({"reduce": [[1], {"var": "accumulator"}, {"var": "wallet.w"}]}),
    );
    assert!(CompiledRules::compile(&[reduced], lists()).is_ok());
    let compiled = CompiledRules::compile(&[stored], lists()).unwrap();
    let present = compiled.evaluate(&json!({"action": {"custom": {"amount": 5}}}));
    assert_eq!(ids(&present), ["old"]);
    assert!(present.errors.is_empty());
    let absent = compiled.evaluate(&json!({"action": {"custom": {}}}));
    assert_eq!(ids(&absent), ["old"]);
    assert_eq!(absent.errors.len(), 1, "{:?}", absent.errors);
}
