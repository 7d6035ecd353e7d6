// Shared by the native criterion benchmark and the wasm benchmark: the 50
// rules, value lists and context of bench/rules-fixture.json, compiled.
// (Included with `include!`, so it names crates, not `crate::`.)

/// The compiled fixture rules and the context to evaluate them against.
pub fn fixture() -> (
    actiongate_core::policy::rules::CompiledRules,
    serde_json::Value,
) {
    use std::collections::HashMap;
    use std::sync::Arc;
    let raw = include_str!("../../../bench/rules-fixture.json");
    let mut doc: serde_json::Value = serde_json::from_str(raw).unwrap_or_default();
    let context = doc
        .as_object_mut()
        .and_then(|o| o.remove("context"))
        .unwrap_or_default();
    let bytes = serde_json::to_vec(&doc).unwrap_or_default();
    let parsed =
        actiongate_core::policy::config_doc::ConfigDocument::parse(&bytes, &HashMap::new())
            .unwrap_or_else(|e| panic!("fixture does not validate: {e}"));
    let lists: HashMap<String, Arc<actiongate_core::policy::lists::ValueSet>> = parsed
        .value_lists
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Arc::new(actiongate_core::policy::lists::ValueSet::from_list(v)),
            )
        })
        .collect();
    let (_, rules) = parsed
        .action_configurations
        .values()
        .next()
        .unwrap_or_else(|| panic!("fixture has no action configuration"));
    let compiled = actiongate_core::policy::rules::CompiledRules::compile(rules, Arc::new(lists))
        .unwrap_or_else(|e| panic!("fixture does not compile: {e}"));
    (compiled, context)
}
