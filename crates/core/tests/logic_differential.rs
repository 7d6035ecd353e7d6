//! Property: `rules::logic` evaluates JSON Logic the way datalogic-rs 5.4.0
//! does, the engine it replaced, in its default configuration and with
//! `inValueList` registered as a custom operator as the rules engine did.
//! For generated expressions over every operator rules may use (nested four
//! levels, with literals of every JSON type, numeric and empty strings, and
//! `var` paths into generated data with nested objects and arrays), either
//! both evaluators fail, or both succeed with the same truthiness and equal
//! values (numbers compared as f64). The differences the `rules::logic`
//! docs list are kept out: the generator writes `var` paths as literals,
//! and [`deviation`] skips the cases that reach one of the others; the test
//! fails if it skips more than one case in twenty. A failing case is kept
//! by proptest in `logic_differential.proptest-regressions` next to this
//! file and replayed first on every later run.
#![cfg(not(target_arch = "wasm32"))]

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use actiongate_core::policy::lists::{ItemType, ValueListInput, ValueSet};
use actiongate_core::policy::rules::logic::{self, LogicError};
use datalogic_rs::bumpalo::Bump;
use datalogic_rs::{ArenaExt, CustomOperator, DataValue, Engine};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

const CASES: u32 = 10_000;

type Lists = HashMap<String, Arc<ValueSet>>;

fn lists() -> Lists {
    let list = |item_type, items: Value| {
        Arc::new(ValueSet::from_list(&ValueListInput {
            name: "list".into(),
            item_type,
            normalize: None,
            items: serde_json::from_value(items).unwrap(),
        }))
    };
    HashMap::from([
        (
            "words".to_owned(),
            list(ItemType::String, json!(["abc", "a", "1"])),
        ),
        (
            "numbers".to_owned(),
            list(ItemType::Number, json!([1, 2.5, -3])),
        ),
    ])
}

/// `inValueList` as the rules engine registered it with datalogic-rs.
struct InValueList(Arc<Lists>);

impl CustomOperator for InValueList {
    fn evaluate<'a>(
        &self,
        args: &[&'a DataValue<'a>],
        _ctx: &mut datalogic_rs::operator::EvalContext<'_, 'a>,
        arena: &'a Bump,
    ) -> datalogic_rs::Result<&'a DataValue<'a>> {
        let (Some(value), Some(alias)) = (args.first(), args.get(1)) else {
            return Ok(arena.bool(false));
        };
        let Some(set) = alias.as_str().and_then(|a| self.0.get(a)) else {
            return Ok(arena.bool(false));
        };
        Ok(arena.bool(match value {
            DataValue::String(s) => set.contains_str(s),
            DataValue::Number(n) => set.contains_number(n.as_f64()),
            _ => false,
        }))
    }
}

/// datalogic-rs's verdict: the result's truthiness and value, or its error.
fn reference(engine: &Engine, expr: &Value, data: &Value) -> Result<(bool, Value), String> {
    let compiled = engine.compile(expr).map_err(|e| e.to_string())?;
    let arena = Bump::new();
    let v = engine
        .evaluate(&compiled, data, &arena)
        .map_err(|e| e.to_string())?;
    Ok((engine.truthy(v), serde_json::to_value(v).unwrap()))
}

/// Equal values, numbers compared as f64 (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Whether `e` reads data or uses an operator datalogic-rs never folds.
fn computed(e: &Value) -> bool {
    #[rustfmt::skip]
    const DYNAMIC: &[&str] = &[
        "var", "missing", "missing_some", "map", "filter", "reduce", "all", "some", "none",
        "merge", "min", "max", "inValueList",
    ];
    match e {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| DYNAMIC.contains(&k.as_str()) || computed(v)),
        Value::Array(a) => a.iter().any(computed),
        _ => false,
    }
}

/// The path of a `var` (`{"var": "a.b"}`, `{"var": 1}`, `{"var": ["a", 0]}`).
fn var_path(e: &Value) -> Option<String> {
    let path = match e.get("var")? {
        Value::Array(args) => args.first()?,
        path => path,
    };
    match path {
        Value::String(p) => Some(p.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Why a case is outside the comparison: a deviation `rules::logic`
/// documents, reached by this expression.
fn deviation(
    expr: &Value,
    data: &Value,
    ours: &Result<Value, LogicError>,
    lists: &Lists,
) -> Option<&'static str> {
    // JSON has no infinity or NaN; datalogic-rs carries them on.
    if let Err(LogicError::OutOfRange(_)) = ours {
        return Some("non-finite number");
    }
    // Integers beyond 2^53: in the data, the expression, or from `*`.
    let big = |v: &Value| match v {
        Value::Number(n) => n.as_f64().is_some_and(|f| f.abs() >= 2f64.powi(53)),
        Value::String(s) => s.parse::<f64>().is_ok_and(|f| f.abs() >= 2f64.powi(53)),
        _ => false,
    };
    let big = any_value(expr, &big)
        || any_value(data, &big)
        || any_value(expr, &|v: &Value| v.get("*").is_some());
    fn walk(e: &Value, lists: &Lists, big: bool) -> Option<&'static str> {
        let children: Vec<&Value> = match e {
            Value::Object(m) => m.values().collect(),
            Value::Array(a) => a.iter().collect(),
            _ => return None,
        };
        // datalogic-rs's filter fast path drops elements lacking the path
        // of `{"===": [{"var": path}, null]}`, where `var` reads null.
        if let Some([_, body]) = e.get("filter").and_then(Value::as_array).map(Vec::as_slice)
            && let Some([x, y]) = body
                .get("===")
                .or_else(|| body.get("!=="))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
        {
            // What datalogic-rs can fold to a null literal gives null
            // whatever the data.
            let null_literal = |v: &Value| logic::apply(v, &Value::Null, lists) == Ok(Value::Null);
            if (var_path(x).is_some() && null_literal(y))
                || (var_path(y).is_some() && null_literal(x))
            {
                return Some("filter === null fast path");
            }
        }
        // datalogic-rs's reduce fast path reads `accumulator.path` as the
        // accumulator itself.
        if let Some(Value::Array(args)) = e.get("reduce")
            && let Some(Value::Object(body)) = args.get(1)
            && let Some((op, Value::Array(pair))) = body.iter().next()
            && ["+", "-", "*"].contains(&op.as_str())
            && pair
                .iter()
                .any(|p| var_path(p).is_some_and(|p| p.starts_with("accumulator.")))
            && pair
                .iter()
                .any(|p| var_path(p).is_some_and(|p| p.starts_with("current")))
        {
            return Some("reduce accumulator.path fast path");
        }
        // datalogic-rs's map fast path for bodies like `{"+": [{"var":
        // "a"}, 1]}` computes every element in f64 once one element needs
        // it, which rounds integers beyond 2^53.
        if big
            && let Some([_, body]) = e.get("map").and_then(Value::as_array).map(Vec::as_slice)
            && let Some((op, Value::Array(pair))) = body.as_object().and_then(|m| m.iter().next())
            && ["+", "-", "*"].contains(&op.as_str())
            && pair.len() == 2
            && pair.iter().all(|x| var_path(x).is_some() || x.is_number())
        {
            return Some("map arithmetic fast path");
        }
        // datalogic-rs prunes `if`/`and`/`or` after literal conditions at
        // compile time, so an operand reading data only in a pruned branch
        // counts as a literal where that matters: pre-adding the literal
        // operands of `+` and `*`, a lone argument of `+`, `*`, `max` and
        // `min`, and the minimum of `missing_some`.
        let literal_sensitive: &[Value] = match e.as_object().and_then(|m| m.iter().next()) {
            Some((op, Value::Array(args))) if ["+", "*", "max", "min"].contains(&op.as_str()) => {
                if op.starts_with('m') && args.len() > 1 {
                    &[]
                } else {
                    args
                }
            }
            Some((op, arg)) if ["+", "*", "max", "min"].contains(&op.as_str()) => {
                std::slice::from_ref(arg)
            }
            Some((op, Value::Array(args))) if op == "missing_some" => args.get(..1).unwrap_or(&[]),
            _ => &[],
        };
        if literal_sensitive.iter().any(prunable) {
            return Some("compile-time pruning");
        }
        children.into_iter().find_map(|c| walk(c, lists, big))
    }
    walk(expr, lists, big)
}

fn any_value(v: &Value, f: &impl Fn(&Value) -> bool) -> bool {
    f(v) || match v {
        Value::Array(a) => a.iter().any(|x| any_value(x, f)),
        Value::Object(m) => m.values().any(|x| any_value(x, f)),
        _ => false,
    }
}

/// Whether `e` holds an `if`/`and`/`or` that reads data next to a literal
/// argument, which datalogic-rs's compile-time pruning may remove.
fn prunable(e: &Value) -> bool {
    match e {
        Value::Object(m) => m.iter().any(|(op, args)| {
            let pruned = ["if", "?:", "and", "or"].contains(&op.as_str())
                && computed(args)
                && args
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| !computed(x)));
            pruned || prunable(args)
        }),
        Value::Array(a) => a.iter().any(prunable),
        _ => false,
    }
}

const KEYS: &[&str] = &["a", "b", "c", "l", "s", "n", "0"];
#[rustfmt::skip]
const PATHS: &[&str] = &[
    "", "a", "b", "c", "l", "s", "n", "0", "x", "a.b", "a.c", "l.0", "l.1", "l.9", "a.l.0",
    "a.b.c", "a.", "current", "accumulator", "current.a", "accumulator.a",
];
#[rustfmt::skip]
const STRINGS: &[&str] = &[
    "", "0", "1", "-2", "1.5", "abc", "a", "b", "ab", "true", "false", "1e3", " 1", "ä", "NaN",
    "-inf", "9007199254740993",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..=3).prop_map(Value::from),
        prop::sample::select(vec![
            json!(10),
            json!(-100),
            json!(1000),
            json!(0.5),
            json!(-1.5),
            json!(2.25),
            json!(1.0),
            json!(-0.0),
            json!(9_007_199_254_740_993_i64),
            json!(i64::MAX),
            json!(1e300),
        ]),
        prop::sample::select(STRINGS).prop_map(Value::from),
    ]
}

fn object(
    values: impl Strategy<Value = Value>,
    n: std::ops::Range<usize>,
) -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(KEYS), values, n)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn data() -> impl Strategy<Value = Value> {
    let nested = scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            object(inner, 0..4),
        ]
    });
    object(nested, 0..7)
}

fn op(name: &str, args: impl Into<Value>) -> Value {
    json!({ name: args.into() })
}

fn path() -> impl Strategy<Value = Value> {
    prop::sample::select(PATHS).prop_map(Value::from)
}

fn var() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => path().prop_map(|p| op("var", p)),
        1 => (path(), scalar()).prop_map(|(p, d)| op("var", vec![p, d])),
        1 => Just(json!({"var": []})),
        1 => (0i64..3).prop_map(|i| op("var", i)),
    ]
}

fn ops(e: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    let pick = |names: &'static [&'static str]| prop::sample::select(names);
    let args = |n: std::ops::Range<usize>| prop::collection::vec(e.clone(), n);
    // A lone argument datalogic-rs's optimiser cannot fold into a literal.
    let lone = e.clone().prop_filter("lone computed if/and/or", |x| {
        !(computed(x) && ["if", "?:", "and", "or"].iter().any(|k| x.get(k).is_some()))
    });
    // The shapes datalogic-rs's reduce fast path takes.
    let fold_shapes = (
        pick(&["+", "-", "*"]),
        pick(&["current", "current.a"]),
        prop_oneof![3 => Just("accumulator"), 1 => Just("accumulator.a")],
        any::<bool>(),
    )
        .prop_map(|(o, cur, acc, flip)| {
            let (a, b) = if flip { (acc, cur) } else { (cur, acc) };
            op(o, json!([{"var": a}, {"var": b}]))
        });
    prop_oneof![
        (path(), e.clone()).prop_map(|(p, d)| op("var", vec![p, d])),
        prop::collection::vec(path(), 0..4).prop_map(|p| op("missing", p)),
        e.clone().prop_map(|x| op("missing", vec![x])),
        (
            prop_oneof![
                prop::sample::select(vec![
                    json!(0),
                    json!(1),
                    json!(2),
                    json!(-1),
                    json!(1.5),
                    json!(2.7)
                ]),
                Just(json!({"+": [1, 0.5]})),
                Just(json!({"-": [3, 0.5]})),
                e.clone(),
            ],
            prop_oneof![
                prop::collection::vec(path(), 0..4).prop_map(Value::from),
                e.clone()
            ],
        )
            .prop_map(|(min, paths)| op("missing_some", vec![min, paths])),
        (pick(&["if", "?:"]), args(0..6)).prop_map(|(o, a)| op(o, a)),
        (pick(&["==", "===", "!=", "!=="]), args(2..3)).prop_map(|(o, a)| op(o, a)),
        (pick(&["!", "!!"]), e.clone(), any::<bool>())
            .prop_map(|(o, x, bare)| op(o, if bare { x } else { json!([x]) })),
        (pick(&["and", "or"]), args(1..4)).prop_map(|(o, a)| op(o, a)),
        (pick(&[">", ">=", "<", "<="]), args(2..3)).prop_map(|(o, a)| op(o, a)),
        (pick(&["<", "<="]), args(3..4)).prop_map(|(o, a)| op(o, a)),
        (pick(&["max", "min", "+", "*"]), lone).prop_map(|(o, x)| op(o, vec![x])),
        (pick(&["max", "min", "+", "*"]), args(2..5)).prop_map(|(o, a)| op(o, a)),
        (pick(&["+", "*"]), Just(Vec::<Value>::new())).prop_map(|(o, a)| op(o, a)),
        (pick(&["-", "/", "%"]), args(1..4)).prop_map(|(o, a)| op(o, a)),
        (pick(&["-", "/", "%"]), args(2..3)).prop_map(|(o, a)| op(o, a)),
        (
            pick(&["map", "filter", "all", "none", "some"]),
            e.clone(),
            e.clone()
        )
            .prop_map(|(o, src, body)| op(o, vec![src, body])),
        (e.clone(), prop_oneof![e.clone(), fold_shapes], e.clone())
            .prop_map(|(src, body, init)| op("reduce", vec![src, body, init])),
        (pick(&["merge", "cat"]), args(0..4)).prop_map(|(o, a)| op(o, a)),
        args(2..3).prop_map(|a| op("in", a)),
        (e.clone(), -4i64..5, prop::option::of(-4i64..5)).prop_map(|(s, start, len)| {
            let mut a = vec![s, json!(start)];
            a.extend(len.map(Value::from));
            op("substr", a)
        }),
        args(2..4).prop_map(|a| op("substr", a)),
        (e.clone(), pick(&["words", "numbers", "nope"]))
            .prop_map(|(x, alias)| op("inValueList", vec![x, json!(alias)])),
        args(0..4).prop_map(Value::Array),
    ]
}

fn expr() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![3 => scalar(), 3 => var()];
    leaf.prop_recursive(4, 48, 5, ops)
}

#[test]
fn agrees_with_datalogic_rs() {
    let lists = lists();
    let engine = Engine::builder()
        .add_operator("inValueList", InValueList(Arc::new(lists.clone())))
        .build();
    let (compared, skipped, errors) = (Cell::new(0u32), Cell::new(0u32), Cell::new(0u32));
    // A runner rather than `proptest!`, to count the cases afterwards; the
    // source file keeps proptest's default regression file.
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        source_file: Some(file!()),
        ..Config::default()
    });
    let result = runner.run(&(expr(), data()), |(expr, data)| {
        let ours = logic::apply(&expr, &data, &lists);
        if deviation(&expr, &data, &ours, &lists).is_some() {
            skipped.set(skipped.get() + 1);
            return Ok(());
        }
        let theirs = reference(&engine, &expr, &data);
        let agree = match (&ours, &theirs) {
            (Err(_), Err(_)) => {
                errors.set(errors.get() + 1);
                true
            }
            (Ok(v), Ok((truthy, w))) => logic::truthy(v) == *truthy && same(v, w),
            _ => false,
        };
        if !agree {
            return Err(TestCaseError::fail(format!(
                "expression {expr}\ndata {data}\nours {ours:?}\ndatalogic-rs {theirs:?}"
            )));
        }
        compared.set(compared.get() + 1);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (compared, skipped) = (compared.get(), skipped.get());
    eprintln!(
        "{compared} cases compared ({} both errors), {skipped} skipped as documented deviations",
        errors.get()
    );
    assert!(compared + skipped >= CASES, "{compared} cases compared");
    assert!(skipped * 20 < compared, "{skipped} cases skipped");
}
