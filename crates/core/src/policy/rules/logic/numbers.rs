//! The numeric operators of [`super`]: `max`/`min`, `+ - *` and `/ %`,
//! with datalogic-rs's integer and float rules.

use std::borrow::Cow;

use serde_json::Value;

use super::tree::Node;
use super::values::*;
use super::{Evaluator, Op, Scope};

impl Evaluator<'_> {
    /// `max`/`min` of numbers: of the arguments, or of the one argument's
    /// array (a written array or an empty one is an error).
    pub(super) fn min_max<'a>(
        &self,
        op: Op,
        args: &'a [Node],
        s: Scope<'a>,
    ) -> Res<Cow<'a, Value>> {
        let max = op == Op::Max;
        let op = op.name();
        let invalid = LogicError::InvalidArguments(op);
        let better =
            |f: f64, best: Option<f64>| best.is_none_or(|b| if max { f > b } else { f < b });
        let mut best: Option<(Cow<'a, Value>, f64)> = None;
        if let [one] = args {
            if one.is_array() {
                return Err(invalid);
            }
            let v = self.eval(one, s)?;
            if v.is_array() && one.is_static() {
                return Err(invalid);
            }
            let Value::Array(items) = &*v else {
                return if v.is_number() { Ok(v) } else { Err(invalid) };
            };
            for item in items {
                let f = item.as_f64().ok_or(LogicError::InvalidArguments(op))?;
                if better(f, best.as_ref().map(|b| b.1)) {
                    best = Some((Cow::Owned(item.clone()), f));
                }
            }
        } else {
            for a in args {
                let v = self.eval(a, s)?;
                let f = v.as_f64().ok_or(LogicError::InvalidArguments(op))?;
                if better(f, best.as_ref().map(|b| b.1)) {
                    best = Some((v, f));
                }
            }
        }
        best.map(|b| b.0).ok_or(invalid)
    }

    /// `+`, `*` and `-`, in exact integers while every operand is one and
    /// the result fits, else in f64 (as datalogic-rs does).
    pub(super) fn arith<'a>(&self, op: &'static str, args: &'a [Node], s: Scope<'a>) -> Res<Num> {
        let ev = |x: &'a Node| self.eval(x, s);
        let nan = LogicError::NotANumber(op);
        let identity = Num::Int(i64::from(op == "*"));
        match (op, args) {
            ("-", []) => Err(LogicError::InvalidArguments(op)),
            ("-", [one]) => match &*ev(one)? {
                Value::Array(items) => {
                    let mut it = items.iter().map(|i| to_f64(i).ok_or(nan.clone()));
                    let first = it.next().ok_or(LogicError::InvalidArguments(op))??;
                    Ok(Num::from_f64(
                        it.try_fold(first, |acc, x| x.map(|x| acc - x))?,
                    ))
                }
                other => Ok(match operand(other, true).ok_or(nan)? {
                    Num::Int(i) => i
                        .checked_neg()
                        .map_or_else(|| Num::from_f64(-(i as f64)), Num::Int),
                    Num::Float(f) => Num::from_f64(-f),
                }),
            },
            ("-", [first, rest @ ..]) => {
                let first = operand(&*ev(first)?, false).ok_or(nan)?;
                fold(op, first, rest.iter().map(ev), false)
            }
            // A literal array is not summed (datalogic-rs's rule).
            (_, [one]) if one.is_array() => Err(nan),
            (_, [one]) => {
                let v = ev(one)?;
                match &*v {
                    Value::Array(_) if one.is_static() => Err(nan),
                    Value::Array(items) => fold(
                        op,
                        identity,
                        items.iter().map(|i| Ok(Cow::Borrowed(i))),
                        false,
                    ),
                    _ => fold(op, identity, std::iter::once(Ok(v)), false),
                }
            }
            // datalogic-rs adds (multiplies) two or more literal operands
            // at compile time, ahead of the others, unless that fails.
            _ => {
                let (fixed, computed): (Vec<&Node>, Vec<&Node>) =
                    args.iter().partition(|a| a.is_static());
                let ahead = if fixed.len() >= 2 && !computed.is_empty() {
                    fold(op, identity, fixed.iter().map(|a| ev(a)), fixed.len() > 2).ok()
                } else {
                    None
                };
                // Three or more operands take integers only from numbers.
                match ahead {
                    Some(acc) => {
                        let strict = computed.len() > 1;
                        fold(op, acc, computed.into_iter().map(ev), strict)
                    }
                    None => fold(op, identity, args.iter().map(ev), args.len() > 2),
                }
            }
        }
    }

    /// `/` and `%`: of two arguments, of the one argument's array, of more
    /// arguments left to right, or (`/` only) 1 divided by one argument.
    pub(super) fn divide<'a>(&self, op: &'static str, args: &'a [Node], s: Scope<'a>) -> Res<Num> {
        let ev = |x: &'a Node| self.eval(x, s);
        let nan = LogicError::NotANumber(op);
        let invalid = LogicError::InvalidArguments(op);
        match args {
            [] => Err(invalid),
            [one] => match &*ev(one)? {
                Value::Array(items) if items.len() > usize::from(op == "%") => {
                    divide_fold(op, items.iter().map(|i| Ok(Cow::Borrowed(i))))
                }
                Value::Array(_) => Err(invalid),
                _ if op == "%" => Err(invalid),
                other => match num_i64(other) {
                    Some(0) => Err(LogicError::DivisionByZero(op)),
                    Some(i) if 1_i64.checked_rem(i) == Some(0) => Ok(Num::Int(1 / i)),
                    Some(i) => Ok(Num::from_f64(1.0 / i as f64)),
                    None => match to_f64(other).ok_or(nan)? {
                        0.0 => Err(LogicError::DivisionByZero(op)),
                        f => Ok(Num::from_f64(1.0 / f)),
                    },
                },
            },
            [a, b] => {
                let (x, y) = (ev(a)?, ev(b)?);
                let af = to_f64(&x).ok_or(nan.clone())?;
                let bf = to_f64(&y).ok_or(nan)?;
                if bf == 0.0 {
                    return by_zero(op, af, num_i64(&x).is_some(), &y);
                }
                Ok(match (Num::from_f64(af), Num::from_f64(bf)) {
                    (Num::Int(a), Num::Int(b)) if op == "%" => {
                        Num::Int(a.checked_rem(b).unwrap_or(0))
                    }
                    (Num::Int(a), Num::Int(b)) => match (a.checked_rem(b), a.checked_div(b)) {
                        (Some(0), Some(q)) => Num::Int(q),
                        (Some(_), _) => Num::Float(a as f64 / b as f64),
                        (None, _) => Num::Float(-(a as f64)),
                    },
                    _ if op == "%" => Num::from_f64(af % bf),
                    _ => Num::from_f64(af / bf),
                })
            }
            _ => divide_fold(op, args.iter().map(ev)),
        }
    }
}
