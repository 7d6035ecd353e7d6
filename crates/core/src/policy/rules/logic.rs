//! JSON Logic evaluation of rule conditions.
//!
//! Evaluates the operators [`super::validate_rule`] accepts with the
//! semantics of datalogic-rs 5.4.0 under its default `EvaluationConfig`:
//! JavaScript truthiness; loose equality that raises an error for values of
//! incompatible types; a "not a number" error for arithmetic on non-numbers
//! and for ordering a number against a non-numeric string; and, for a
//! floating-point division by zero, the saturated value datalogic-rs
//! returns (`f64::MAX`, `f64::MIN`, or 0 for a zero dividend; an integer
//! divided by an integer zero is an error). We own this small evaluator
//! because datalogic-rs cost about 180 KiB of the Worker's 1 MiB gzipped
//! upload for the ~30 operators rules use; `tests/logic_differential.rs`
//! keeps the two in agreement on generated expressions and data.
//!
//! Deliberate differences from datalogic-rs, which `tests/logic_differential.rs`
//! leaves out of its comparison:
//! - A number outside f64's finite range (an overflowing product, or the
//!   strings `"1e999"` and `"NaN"` in arithmetic) is an error,
//!   [`LogicError::OutOfRange`]: JSON cannot hold infinity or NaN, and
//!   datalogic-rs would carry them on.
//! - Where datalogic-rs's fast paths disagree with its own general
//!   evaluation, we follow the general one: `filter` with
//!   `{"===": [{"var": p}, null]}` keeps elements without `p` (`var` reads
//!   null there), `reduce` with `{"+": [{"var": "current"}, {"var":
//!   "accumulator.x"}]}` reads `accumulator.x`, and `map` with
//!   `{"+": [{"var": p}, 1]}` keeps integers beyond 2^53 exact when another
//!   element is fractional.
//! - datalogic-rs prunes `if`/`?:`/`and`/`or` after literal conditions at
//!   compile time, so `{"if": [true, [1], {"var": "x"}]}` counts as a
//!   literal where it treats literals apart: as the lone argument of `+`,
//!   `*`, `max`, `min` (a literal array is an error), as the minimum of
//!   `missing_some` (a literal fraction is truncated), and when pre-adding
//!   the literal operands of `+` and `*` (which can change float rounding and
//!   integers beyond 2^53). We treat only data-free expressions as literals.
//! - Not reachable by a validated rule: `var` takes only a literal path
//!   (datalogic-rs reads a computed one with `val` semantics); `{}` is an
//!   error, not an empty-object literal; and an object with several keys is
//!   an error only when evaluation reaches it (datalogic-rs refuses the
//!   whole expression).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::policy::lists::ValueSet;

mod numbers;
mod tree;
mod values;

use tree::{Node, Op, Path, Var, walk};
use values::*;
pub use values::{LogicError, MAX_EVAL_DEPTH, truthy};

/// A condition compiled once (validated rules are, per configuration
/// version), then evaluated against each track's data.
#[derive(Debug, Clone)]
pub struct Expr(Node);

impl Expr {
    /// Compile `expr`. Never fails: what evaluation must raise (an unknown
    /// operator, nesting too deep) is raised where evaluation reaches it.
    pub fn compile(expr: &Value) -> Expr {
        Expr(Node::compile(expr, 0))
    }

    /// Evaluate against `data`; `inValueList` looks aliases up in `lists`.
    ///
    /// # Errors
    /// A [`LogicError`] wherever datalogic-rs raises one (see the module docs).
    pub fn eval(&self, data: &Value, lists: &Lists) -> Result<Value, LogicError> {
        self.result(data, lists).map(Cow::into_owned)
    }

    /// Whether the result is truthy ([`truthy`]), without copying it.
    ///
    /// # Errors
    /// As [`Expr::eval`].
    pub fn holds(&self, data: &Value, lists: &Lists) -> Result<bool, LogicError> {
        self.result(data, lists).map(|v| truthy(&v))
    }

    fn result<'a>(&'a self, data: &'a Value, lists: &Lists) -> Res<Cow<'a, Value>> {
        Evaluator { lists }.eval(&self.0, Scope::Data(data))
    }
}

/// The value lists `inValueList` reads, by alias.
pub type Lists = HashMap<String, Arc<ValueSet>>;

/// Evaluate `expr` against `data` once ([`Expr::compile`], then
/// [`Expr::eval`]); `inValueList` looks aliases up in `lists`.
///
/// # Errors
/// A [`LogicError`] wherever datalogic-rs raises one (see the module docs).
pub fn apply(expr: &Value, data: &Value, lists: &Lists) -> Result<Value, LogicError> {
    Expr::compile(expr).eval(data, lists)
}

/// What `var` and `missing` read: the rule's data, an element inside
/// `map`/`filter`/`all`/`none`/`some`, or a `reduce` step, whose data is
/// `current` and which also names `current` and `accumulator`.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Data(&'a Value),
    Reduce {
        current: &'a Value,
        accumulator: &'a Value,
    },
}

impl<'a> Scope<'a> {
    fn data(self) -> &'a Value {
        match self {
            Scope::Data(d) => d,
            Scope::Reduce { current, .. } => current,
        }
    }
}

struct Evaluator<'l> {
    lists: &'l Lists,
}

impl Evaluator<'_> {
    fn eval<'a>(&self, n: &'a Node, s: Scope<'a>) -> Res<Cow<'a, Value>> {
        match n {
            Node::Literal(v) => Ok(Cow::Borrowed(v)),
            Node::Call(c) => self.op(c.op, &c.args, c.listed, s),
            Node::Var(v) => self.var(v, s),
            Node::List(items) => items
                .iter()
                .map(|i| self.eval(i, s).map(Cow::into_owned))
                .collect::<Res<Vec<_>>>()
                .map(|v| Cow::Owned(Value::Array(v))),
            Node::Fail(f) => Err(f.error.clone()),
        }
    }

    /// One operation; `listed` says whether its arguments were a JSON array.
    fn op<'a>(&self, op: Op, args: &'a [Node], listed: bool, s: Scope<'a>) -> Res<Cow<'a, Value>> {
        let ev = |x: &'a Node| self.eval(x, s);
        let name = op.name();
        let invalid = LogicError::InvalidArguments(name);
        let v = match op {
            // Compiled to Node::Var.
            Op::Var => return Err(invalid),
            Op::If | Op::Elvis | Op::And | Op::Or if !listed => return Err(invalid),
            Op::If | Op::Elvis => {
                for pair in args.chunks(2) {
                    match pair {
                        [cond, then] if truthy(&*ev(cond)?) => return ev(then),
                        [otherwise] => return ev(otherwise),
                        _ => {}
                    }
                }
                Value::Null
            }
            Op::And | Op::Or => {
                let mut last = Cow::Owned(Value::Null);
                for a in args {
                    last = ev(a)?;
                    if truthy(&last) != (op == Op::And) {
                        break;
                    }
                }
                return Ok(last);
            }
            Op::Not | Op::NotNot => {
                let v = args.first().map(ev).transpose()?;
                Value::Bool(v.is_some_and(|v| truthy(&v)) == (op == Op::NotNot))
            }
            // `==` and `===` compare each argument with the first, `<` & co.
            // with the one before (up to the first false), `!=` and `!==`
            // the first two.
            Op::Eq | Op::StrictEq | Op::Ne | Op::StrictNe | Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                let [first, second, rest @ ..] = args else {
                    return Err(invalid);
                };
                let rest = if matches!(op, Op::Ne | Op::StrictNe) {
                    &[][..]
                } else {
                    rest
                };
                let mut prev = ev(first)?;
                let mut holds = true;
                for x in std::iter::once(second).chain(rest) {
                    let cur = ev(x)?;
                    holds = match op {
                        Op::Eq | Op::Ne => loose_eq(&prev, &cur, name)?,
                        Op::StrictEq | Op::StrictNe => strict_eq(&prev, &cur),
                        _ => ordered(&prev, &cur, name)?,
                    };
                    if !holds {
                        break;
                    }
                    if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) {
                        prev = cur;
                    }
                }
                Value::Bool(holds != matches!(op, Op::Ne | Op::StrictNe))
            }
            Op::Max | Op::Min => return self.min_max(op, args, s),
            Op::Add | Op::Mul | Op::Sub => self.arith(name, args, s)?.value(name)?,
            Op::Div | Op::Mod => self.divide(name, args, s)?.value(name)?,
            Op::Map | Op::Filter | Op::All | Op::None | Op::Some | Op::Reduce => {
                return self.iterate(op, args, s);
            }
            Op::Merge => {
                let mut out = Vec::new();
                for a in args {
                    match ev(a)?.into_owned() {
                        Value::Array(items) => {
                            out.extend(items.into_iter().filter(|i| !i.is_null()))
                        }
                        Value::Null => {}
                        other => out.push(other),
                    }
                }
                Value::Array(out)
            }
            Op::Cat => {
                let mut out = String::new();
                for a in args {
                    match &*ev(a)? {
                        Value::Array(items) => items.iter().for_each(|i| push_text(&mut out, i)),
                        other => push_text(&mut out, other),
                    }
                }
                Value::String(out)
            }
            Op::Substr => {
                let first = args.first().map(ev).transpose()?;
                let mut written = String::new();
                let text = match first.as_deref() {
                    Some(Value::String(t)) => t.as_str(),
                    Some(other) => {
                        push_text(&mut written, other);
                        written.as_str()
                    }
                    None => "",
                };
                let int_arg = |i: usize| -> Res<Option<i64>> {
                    Ok(args.get(i).map(ev).transpose()?.and_then(|v| num_i64(&v)))
                };
                let start = int_arg(1)?.unwrap_or(0);
                Value::String(substr(text, start, int_arg(2)?))
            }
            Op::In => {
                let (Some(a), Some(b)) = (args.first(), args.get(1)) else {
                    return Ok(Cow::Owned(Value::Bool(false)));
                };
                let (needle, haystack) = (ev(a)?, ev(b)?);
                Value::Bool(match (&*haystack, &*needle) {
                    (Value::String(h), Value::String(n)) => h.contains(n.as_str()),
                    (Value::Array(items), n) => items.iter().any(|i| strict_eq(i, n)),
                    _ => false,
                })
            }
            Op::Missing => {
                let mut missing = Vec::new();
                for a in args {
                    let mut check = |p: &str| {
                        if lookup(s.data(), p).is_none() {
                            missing.push(Value::String(p.to_owned()));
                        }
                    };
                    match &*ev(a)? {
                        Value::Array(items) => {
                            items.iter().filter_map(Value::as_str).for_each(check)
                        }
                        Value::String(p) => check(p),
                        _ => {}
                    }
                }
                Value::Array(missing)
            }
            Op::MissingSome => {
                let none_missing = Cow::Owned(Value::Array(Vec::new()));
                let Some(min_expr) = args.first() else {
                    return Ok(none_missing);
                };
                let min_value = ev(min_expr)?;
                // datalogic-rs truncates a literal fraction and reads any
                // other non-integer as 1.
                let min = match &*min_value {
                    Value::Number(n) if n.as_i64().is_none() && min_expr.is_static() => {
                        n.as_f64().map_or(0, |f| f.max(0.0) as usize)
                    }
                    v => to_usize(num_i64(v).unwrap_or(1)),
                };
                let Some(paths_expr) = args.get(1) else {
                    return Ok(none_missing);
                };
                let paths = ev(paths_expr)?;
                let (mut missing, mut present) = (Vec::new(), 0usize);
                for p in paths
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if lookup(s.data(), p).is_none() {
                        missing.push(Value::String(p.to_owned()));
                    } else {
                        present += 1;
                        if present >= min {
                            break;
                        }
                    }
                }
                if present >= min {
                    missing.clear();
                }
                Value::Array(missing)
            }
            Op::InValueList => {
                let values = args.iter().map(ev).collect::<Res<Vec<_>>>()?;
                let set = values
                    .get(1)
                    .and_then(|alias| alias.as_str())
                    .and_then(|alias| self.lists.get(alias));
                Value::Bool(match (values.first().map(|v| &**v), set) {
                    (Some(Value::String(s)), Some(set)) => set.contains_str(s),
                    (Some(Value::Number(n)), Some(set)) => {
                        n.as_f64().is_some_and(|f| set.contains_number(f))
                    }
                    _ => false,
                })
            }
        };
        Ok(Cow::Owned(v))
    }

    /// `var`: a dotted path (numeric segments index arrays) into the data,
    /// or the whole data for `""` or no argument; the second argument is
    /// evaluated only when the path leads nowhere (a present null is kept).
    fn var<'a>(&self, v: &'a Var, s: Scope<'a>) -> Res<Cow<'a, Value>> {
        let found = match (&v.path, s) {
            (Path::Whole, _) => return Ok(Cow::Borrowed(s.data())),
            (Path::Dotted { segments, .. }, Scope::Data(data)) => walk(data, segments),
            (
                Path::Dotted { text, .. },
                Scope::Reduce {
                    current,
                    accumulator,
                },
            ) => match &**text {
                "current" => return Ok(Cow::Borrowed(current)),
                "accumulator" => return Ok(Cow::Borrowed(accumulator)),
                p => match (p.strip_prefix("current."), p.strip_prefix("accumulator.")) {
                    (Some(rest), _) => lookup(current, rest),
                    (_, Some(rest)) => lookup(accumulator, rest),
                    _ => lookup(current, p),
                },
            },
        };
        match (found, &v.default) {
            (Some(v), _) => Ok(Cow::Borrowed(v)),
            (None, Some(default)) => self.eval(default, s),
            (None, None) => Ok(Cow::Owned(Value::Null)),
        }
    }

    /// `map`, `filter`, `all`, `none`, `some` and `reduce` over an array's
    /// items or an object's values (null is empty; `map` treats another
    /// value as a one-element array, `filter` refuses it, the others treat
    /// it as empty).
    fn iterate<'a>(&self, op: Op, args: &'a [Node], s: Scope<'a>) -> Res<Cow<'a, Value>> {
        let invalid = LogicError::InvalidArguments(op.name());
        let reduce = op == Op::Reduce;
        let (Some(source), Some(body)) = (args.first(), args.get(1)) else {
            return Err(invalid);
        };
        if args.len() > 2 + usize::from(reduce) {
            return Err(invalid);
        }
        let initial = match args.get(2) {
            Some(init) => self.eval(init, s)?,
            None => Cow::Owned(Value::Null),
        };
        let input = self.eval(source, s)?;
        let items: Vec<&Value> = match &*input {
            Value::Null => Vec::new(),
            Value::Array(a) => a.iter().collect(),
            Value::Object(m) if op == Op::Filter => {
                let mut kept = Map::new();
                for (k, v) in m {
                    if truthy(&*self.eval(body, Scope::Data(v))?) {
                        kept.insert(k.clone(), v.clone());
                    }
                }
                return Ok(Cow::Owned(Value::Object(kept)));
            }
            Value::Object(m) => m.values().collect(),
            other if op == Op::Map => vec![other],
            _ if op == Op::Filter => return Err(invalid),
            _ => Vec::new(),
        };
        let each =
            |item: &Value| -> Res<bool> { Ok(truthy(&*self.eval(body, Scope::Data(item))?)) };
        let v = match op {
            Op::Map => Value::Array(
                items
                    .into_iter()
                    .map(|i| self.eval(body, Scope::Data(i)).map(Cow::into_owned))
                    .collect::<Res<_>>()?,
            ),
            Op::Filter => {
                let mut kept = Vec::new();
                for i in items {
                    if each(i)? {
                        kept.push(i.clone());
                    }
                }
                Value::Array(kept)
            }
            Op::All | Op::None | Op::Some => {
                // `all` stops at a falsy element, the others at a truthy one.
                let mut stopped = false;
                for i in &items {
                    if each(i)? == (op != Op::All) {
                        stopped = true;
                        break;
                    }
                }
                Value::Bool(match op {
                    Op::All => !items.is_empty() && !stopped,
                    Op::Some => stopped,
                    _ => !stopped,
                })
            }
            _ => {
                let mut acc = initial;
                for current in items {
                    let scope = Scope::Reduce {
                        current,
                        accumulator: &acc,
                    };
                    let next = self.eval(body, scope)?.into_owned();
                    acc = Cow::Owned(next);
                }
                return Ok(acc);
            }
        };
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use serde_json::json;

    fn run(expr: Value, data: Value) -> Result<Value, LogicError> {
        apply(&expr, &data, &HashMap::new())
    }

    fn ok(expr: Value) -> Value {
        run(expr, json!({"a": {"b": [10, 20]}, "s": "hello", "n": null})).unwrap()
    }

    #[test]
    fn loose_equality_coerces_null_and_numeric_strings() {
        assert_eq!(ok(json!({"==": [null, 0]})), json!(true));
        assert_eq!(ok(json!({"==": ["1", 1]})), json!(true));
        assert_eq!(ok(json!({"==": [null, ""]})), json!(true));
        assert_eq!(ok(json!({"!=": [true, 1]})), json!(false));
        assert_eq!(ok(json!({"===": [1, 1.0]})), json!(true));
        assert_eq!(ok(json!({"===": ["1", 1]})), json!(false));
    }

    #[test]
    fn incompatible_comparisons_are_errors() {
        assert_eq!(
            run(json!({"==": [1, "abc"]}), json!({})),
            Err(LogicError::NotComparable("=="))
        );
        assert!(run(json!({"<": [1, "abc"]}), json!({})).is_err());
        assert!(run(json!({"==": [[1], "1"]}), json!({})).is_err());
        // A bool against a non-numeric string is simply not ordered.
        assert_eq!(ok(json!({"<": [true, "abc"]})), json!(false));
    }

    #[test]
    fn arithmetic_on_a_string_is_an_error() {
        assert_eq!(
            run(json!({"/": ["not-a-number", 2]}), json!({})),
            Err(LogicError::NotANumber("/"))
        );
        assert!(run(json!({"+": [1, {"var": "a"}]}), json!({"a": {}})).is_err());
        assert_eq!(ok(json!({"+": ["2", 3, null]})), json!(5));
        assert_eq!(ok(json!({"*": [1.5, 2]})), json!(3));
        assert_eq!(ok(json!({"-": [{"var": "a.b.1"}]})), json!(-20));
        // A computed array is summed; a literal one is an error.
        assert_eq!(ok(json!({"+": {"var": "a.b"}})), json!(30));
        assert!(run(json!({"+": [[1, 2]]}), json!({})).is_err());
        assert_eq!(
            run(json!({"*": [1e200, 1e200]}), json!({})),
            Err(LogicError::OutOfRange("*"))
        );
    }

    #[test]
    fn division_by_zero_saturates_unless_both_are_integers() {
        assert_eq!(
            run(json!({"/": [1, 0]}), json!({})),
            Err(LogicError::DivisionByZero("/"))
        );
        assert_eq!(ok(json!({"/": [1.5, 0]})), json!(f64::MAX));
        assert_eq!(ok(json!({"/": [-1, "0"]})), json!(f64::MIN));
        assert_eq!(ok(json!({"%": [7, 4]})), json!(3));
        assert_eq!(ok(json!({"/": [7, 2]})), json!(3.5));
    }

    #[test]
    fn in_finds_substrings_and_array_members() {
        assert_eq!(ok(json!({"in": ["ell", {"var": "s"}]})), json!(true));
        assert_eq!(ok(json!({"in": [20, {"var": "a.b"}]})), json!(true));
        assert_eq!(ok(json!({"in": ["20", {"var": "a.b"}]})), json!(false));
        assert_eq!(ok(json!({"in": [1, "123"]})), json!(false));
    }

    #[test]
    fn substr_counts_negative_positions_from_the_end() {
        assert_eq!(ok(json!({"substr": ["jsonlogic", 4]})), json!("logic"));
        assert_eq!(ok(json!({"substr": ["jsonlogic", -5]})), json!("logic"));
        assert_eq!(ok(json!({"substr": ["jsonlogic", 1, 3]})), json!("son"));
        assert_eq!(ok(json!({"substr": ["jsonlogic", 4, -2]})), json!("log"));
        assert_eq!(ok(json!({"substr": ["äöü", -2, 1]})), json!("ö"));
        // ASCII text is cut by bytes, with the same bounds.
        assert_eq!(ok(json!({"substr": ["abc", 5]})), json!(""));
        assert_eq!(ok(json!({"substr": ["abc", -5, 2]})), json!("ab"));
        assert_eq!(ok(json!({"substr": ["abc", 1, -5]})), json!(""));
        assert_eq!(ok(json!({"substr": [12.5, 1]})), json!("2.5"));
        assert_eq!(ok(json!({"substr": [{"var": "s"}, 1, 3]})), json!("ell"));
    }

    #[test]
    fn reduce_reads_current_and_accumulator() {
        let sum = json!({"reduce": [{"var": "a.b"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, 5]});
        assert_eq!(ok(sum), json!(35));
        let empty = json!({"reduce": [{"var": "missing"}, {"var": "current"}, "init"]});
        assert_eq!(ok(empty), json!("init"));
    }

    #[test]
    fn missing_and_missing_some_list_absent_paths() {
        assert_eq!(ok(json!({"missing": ["a.b", "x", "n"]})), json!(["x"]));
        assert_eq!(ok(json!({"missing_some": [1, ["x", "s"]]})), json!([]));
        assert_eq!(
            ok(json!({"missing_some": [2, ["x", "s", "y"]]})),
            json!(["x", "y"])
        );
    }

    #[test]
    fn three_argument_less_than_is_a_between_test() {
        assert_eq!(ok(json!({"<": [1, 5, 10]})), json!(true));
        assert_eq!(ok(json!({"<": [1, 10, 10]})), json!(false));
        assert_eq!(ok(json!({"<=": [1, 10, 10]})), json!(true));
        // Stops at the first false pair, before the erroring operand.
        assert_eq!(ok(json!({"<": [5, 1, {"/": [1, 0]}]})), json!(false));
    }

    #[test]
    fn and_or_return_the_deciding_value() {
        assert_eq!(ok(json!({"and": [1, "", {"/": [1, 0]}]})), json!(""));
        assert_eq!(ok(json!({"or": [0, [], "x"]})), json!("x"));
        assert_eq!(ok(json!({"if": [false, 1, null, 2, 3]})), json!(3));
        assert_eq!(
            ok(json!({"var": ["nope", {"cat": ["d", 1.0]}]})),
            json!("d1.0")
        );
    }

    #[test]
    fn structural_errors_and_depth_are_reported() {
        assert!(run(json!({"a": 1, "b": 2}), json!({})).is_err());
        assert!(run(json!({"gtt": [1]}), json!({})).is_err());
        let mut deep = json!(true);
        for _ in 0..70 {
            deep = json!({"!": [deep]});
        }
        assert_eq!(run(deep, json!({})), Err(LogicError::TooDeep));
    }

    #[test]
    fn a_compiled_condition_raises_errors_only_where_evaluation_reaches_them() {
        let mut deep = json!(true);
        for _ in 0..70 {
            deep = json!({"!": [deep]});
        }
        for never_reached in [
            json!({"gtt": [1]}),
            json!({"a": 1, "b": 2}),
            json!({"var": [{"var": "x"}]}),
            deep,
        ] {
            let or = json!({"or": [{"var": "t"}, never_reached.clone()]});
            let c = Expr::compile(&or);
            let lists = HashMap::new();
            assert_eq!(c.eval(&json!({"t": 1}), &lists), Ok(json!(1)), "{or}");
            assert!(c.eval(&json!({"t": 0}), &lists).is_err(), "{or}");
            let default = json!({"var": ["x", never_reached]});
            let c = Expr::compile(&default);
            assert_eq!(c.eval(&json!({"x": null}), &lists), Ok(json!(null)));
            assert!(c.eval(&json!({}), &lists).is_err(), "{default}");
        }
    }

    #[test]
    fn at_the_depth_limit_a_written_array_is_still_refused_as_one() {
        // `max` at depth 64, its written array at 65: refused for being an
        // array before anything nested too deep is evaluated.
        for (op, error) in [
            ("max", LogicError::InvalidArguments("max")),
            ("+", LogicError::NotANumber("+")),
        ] {
            let mut e = json!({op: [[1, 2]]});
            for _ in 0..63 {
                e = json!({"!": e});
            }
            let e = json!({"var": ["absent", e]});
            assert_eq!(run(e, json!({})), Err(error), "{op}");
        }
    }

    #[test]
    fn a_compiled_condition_serves_any_number_of_evaluations() {
        let c = Expr::compile(&json!({"and": [
            {">": [{"var": "a.b.1"}, 15]},
            {"==": [{"substr": [{"var": "s"}, 0, 2]}, "he"]},
        ]}));
        let lists = HashMap::new();
        for (data, holds) in [
            (json!({"a": {"b": [10, 20]}, "s": "hello"}), true),
            (json!({"a": {"b": [10, 5]}, "s": "hello"}), false),
            (json!({"a": {"b": [10, 20]}, "s": "world"}), false),
            (json!({"a": {"b": {"1": 30}}, "s": "hex"}), true),
            (json!({}), false),
        ] {
            assert_eq!(c.holds(&data, &lists), Ok(holds), "{data}");
        }
    }

    #[test]
    fn truthiness_is_javascripts() {
        for falsy in [
            json!(null),
            json!(false),
            json!(0),
            json!(-0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&falsy), "{falsy}");
        }
        for t in [
            json!(true),
            json!(0.5),
            json!("0"),
            json!([0]),
            json!({"a": null}),
        ] {
            assert!(truthy(&t), "{t}");
        }
    }
}
