//! The rules benchmark of `crates/core/benches/rules.rs`, compiled to
//! wasm32 and driven from Node by `scripts/bench.sh`: the same 50 compiled
//! rules over the same context, timed with the JavaScript clock.

use wasm_bindgen::prelude::wasm_bindgen;

include!("../../core/benches/fixture.rs");

/// Evaluate the 50 fixture rules `iterations` times; microseconds per evaluation.
#[wasm_bindgen]
pub fn evaluate_50_rules(iterations: u32) -> f64 {
    let (rules, context) = fixture();
    // Warm up, then time.
    for _ in 0..iterations.min(1000) {
        std::hint::black_box(rules.evaluate(&context));
    }
    let start = js_sys::Date::now();
    for _ in 0..iterations {
        std::hint::black_box(rules.evaluate(std::hint::black_box(&context)));
    }
    (js_sys::Date::now() - start) * 1000.0 / f64::from(iterations.max(1))
}

/// How many rules the fixture compiles to (a sanity check for the caller).
#[wasm_bindgen]
pub fn active_rules() -> u32 {
    u32::try_from(fixture().0.active_count()).unwrap_or(0)
}
