//! The values JSON Logic works on: numbers as datalogic-rs reads them,
//! arithmetic folds, equality and ordering, text, and the errors.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};

/// Deepest nesting evaluated; validated conditions stop at [`super::MAX_DEPTH`].
pub const MAX_EVAL_DEPTH: usize = 64;

/// Why a condition could not be evaluated. The rules engine treats any
/// error as a match for CHALLENGE, REVIEW and BLOCK rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogicError {
    /// An operand is not a number (datalogic-rs's "NaN" error).
    #[error("{0}: not a number")]
    NotANumber(&'static str),
    /// The two values cannot be compared (arrays, objects, a number and a
    /// non-numeric string).
    #[error("{0}: these values cannot be compared")]
    NotComparable(&'static str),
    /// The operator cannot take these arguments.
    #[error("{0}: invalid arguments")]
    InvalidArguments(&'static str),
    /// An integer divided by an integer zero.
    #[error("{0}: division by zero")]
    DivisionByZero(&'static str),
    /// The result is not a finite number.
    #[error("{0}: result out of range")]
    OutOfRange(&'static str),
    /// An operator outside the supported set.
    #[error("unknown operator {0:?}")]
    UnknownOperator(String),
    /// An object with other than one key.
    #[error("an operation is an object with exactly one key")]
    NotAnOperation,
    /// A `var` path that is not a string or number literal.
    #[error("var: the path must be a string or number literal")]
    VariablePath,
    /// The expression nests deeper than [`MAX_EVAL_DEPTH`].
    #[error("nested deeper than {MAX_EVAL_DEPTH} levels")]
    TooDeep,
}

pub(crate) type Res<T> = Result<T, LogicError>;

/// JavaScript truthiness: null, false, 0, "", [] and {} are falsy.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// A number as datalogic-rs holds it: an exact integer or a float.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub(crate) fn of(n: &Number) -> Num {
        n.as_i64()
            .map_or_else(|| Num::Float(n.as_f64().unwrap_or(0.0)), Num::Int)
    }

    /// A float result, an integer when it is a whole number that fits.
    pub(crate) fn from_f64(f: f64) -> Num {
        exact_i64(f).map_or(Num::Float(f), Num::Int)
    }

    pub(crate) fn f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    pub(crate) fn i64(self) -> Option<i64> {
        match self {
            Num::Int(i) => Some(i),
            Num::Float(f) => exact_i64(f),
        }
    }

    pub(crate) fn value(self, op: &'static str) -> Res<Value> {
        match self {
            Num::Int(i) => Ok(Value::from(i)),
            Num::Float(f) => Number::from_f64(f)
                .map(Value::Number)
                .ok_or(LogicError::OutOfRange(op)),
        }
    }
}

pub(crate) fn exact_i64(f: f64) -> Option<i64> {
    (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
}

pub(crate) fn to_usize(i: i64) -> usize {
    usize::try_from(i.max(0)).unwrap_or(usize::MAX)
}

/// The number datalogic-rs's default coercion reads: a number; a string in
/// Rust's float syntax (untrimmed; "" is 0); false, true and null as 0, 1, 0.
pub(crate) fn to_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(Num::of(n).f64()),
        Value::String(s) if s.is_empty() => Some(0.0),
        Value::String(s) => s.parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Null => Some(0.0),
        _ => None,
    }
}

/// [`to_f64`]'s integer twin: whole numbers, integer strings, bools, null.
pub(crate) fn to_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => Num::of(n).i64(),
        Value::String(s) if s.is_empty() => Some(0),
        Value::String(s) => s.parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Null => Some(0),
        _ => None,
    }
}

/// A whole number that is a JSON number (no coercion).
pub(crate) fn num_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => Num::of(n).i64(),
        _ => None,
    }
}

/// An arithmetic operand; `strict` takes integers only from numbers.
pub(crate) fn operand(v: &Value, strict: bool) -> Option<Num> {
    let int = if strict { num_i64(v) } else { to_i64(v) };
    int.map(Num::Int).or_else(|| to_f64(v).map(Num::Float))
}

/// Fold operands into `acc` with `op` (`+`, `-` or `*`).
pub(crate) fn fold<'v>(
    op: &'static str,
    mut acc: Num,
    operands: impl Iterator<Item = Res<Cow<'v, Value>>>,
    strict: bool,
) -> Res<Num> {
    let float = |a: f64, b: f64| match op {
        "+" => a + b,
        "-" => a - b,
        _ => a * b,
    };
    for v in operands {
        let x = operand(&*v?, strict).ok_or(LogicError::NotANumber(op))?;
        acc = match (acc, x) {
            (Num::Int(a), Num::Int(b)) => match op {
                "+" => a.checked_add(b),
                "-" => a.checked_sub(b),
                _ => a.checked_mul(b),
            }
            .map_or_else(|| Num::Float(float(a as f64, b as f64)), Num::Int),
            (a, b) => Num::Float(float(a.f64(), b.f64())),
        };
    }
    Ok(match acc {
        Num::Float(f) => Num::from_f64(f),
        int => int,
    })
}

/// `/` or `%` of the first operand by each next one, in f64.
pub(crate) fn divide_fold<'v>(
    op: &'static str,
    mut operands: impl Iterator<Item = Res<Cow<'v, Value>>>,
) -> Res<Num> {
    let first = operands.next().ok_or(LogicError::InvalidArguments(op))??;
    let mut acc = to_f64(&first).ok_or(LogicError::NotANumber(op))?;
    for (i, v) in operands.enumerate() {
        let v = v?;
        let n = to_f64(&v).ok_or(LogicError::NotANumber(op))?;
        if n == 0.0 {
            let dividend_int = if i == 0 {
                num_i64(&first).is_some()
            } else {
                acc.fract() == 0.0 && acc >= i64::MIN as f64 && acc <= i64::MAX as f64
            };
            return by_zero(op, acc, dividend_int, &v);
        }
        acc = if op == "%" { acc % n } else { acc / n };
    }
    Ok(Num::from_f64(acc))
}

/// Division by zero: an error for an integer by an integer, else the
/// saturated value datalogic-rs returns.
pub(crate) fn by_zero(
    op: &'static str,
    dividend: f64,
    dividend_int: bool,
    divisor: &Value,
) -> Res<Num> {
    if dividend_int && num_i64(divisor).is_some() {
        return Err(LogicError::DivisionByZero(op));
    }
    Ok(if dividend > 0.0 {
        Num::Float(f64::MAX)
    } else if dividend < 0.0 {
        Num::Float(f64::MIN)
    } else {
        Num::Int(0)
    })
}

/// Loose equality (`==`): numbers against numeric strings, booleans and
/// null; null equals 0, false and ""; an error for other mixed types.
pub(crate) fn loose_eq(a: &Value, b: &Value, op: &'static str) -> Res<bool> {
    let num = |n: &Number| Num::of(n).f64();
    Ok(match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => num(x) == num(y),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            match s.parse::<f64>() {
                Ok(f) => num(n) == f,
                Err(_) => return Err(LogicError::NotComparable(op)),
            }
        }
        (Value::Number(n), Value::Bool(b)) | (Value::Bool(b), Value::Number(n)) => {
            num(n) == f64::from(u8::from(*b))
        }
        (Value::String(s), Value::Bool(b)) | (Value::Bool(b), Value::String(s)) => {
            s == if *b { "true" } else { "false" }
        }
        (Value::Null, Value::Number(n)) | (Value::Number(n), Value::Null) => num(n) == 0.0,
        (Value::Null, Value::Bool(b)) | (Value::Bool(b), Value::Null) => !b,
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.is_empty(),
        (Value::Array(_), Value::Array(_)) if strict_eq(a, b) => true,
        (Value::Object(_), Value::Object(_)) => false,
        _ => return Err(LogicError::NotComparable(op)),
    })
}

/// Strict equality (`===`): same type and value; numbers compare as f64.
pub(crate) fn strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Num::of(x).f64() == Num::of(y).f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| strict_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| strict_eq(v, w)))
        }
        _ => a == b,
    }
}

/// `<`, `<=`, `>`, `>=`: strings by bytes, otherwise as numbers.
pub(crate) fn ordered(a: &Value, b: &Value, op: &'static str) -> Res<bool> {
    let composite = |v: &Value| v.is_array() || v.is_object();
    let ord = match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ if composite(a) || composite(b) => return Err(LogicError::NotComparable(op)),
        _ => match (to_f64(a), to_f64(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ if (a.is_number() && b.is_string()) || (a.is_string() && b.is_number()) => {
                return Err(LogicError::NotComparable(op));
            }
            _ => return Ok(false),
        },
    };
    Ok(match op {
        ">" => ord == Some(Ordering::Greater),
        ">=" => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        "<" => ord == Some(Ordering::Less),
        _ => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
    })
}

/// Follow a dotted path; a numeric segment indexes an array; "" is `v`.
pub(crate) fn lookup<'v>(mut v: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(v);
    }
    // Split at each '.' by its byte (an ASCII byte is always a boundary):
    // paths are short, and a `str::split` searcher costs more to set up
    // than the search.
    let mut rest = path;
    loop {
        let (segment, tail) = match rest.bytes().position(|b| b == b'.') {
            Some(i) => (rest.get(..i)?, rest.get(i + 1..)),
            None => (rest, None),
        };
        v = match v {
            Value::Object(m) => m.get(segment)?,
            Value::Array(a) => a.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
        match tail {
            Some(t) => rest = t,
            None => return Some(v),
        }
    }
}

/// A number as `cat` writes it: `1`, `1.0` for a whole float, `0.5`.
pub(crate) fn number_text(n: &Number) -> String {
    match Num::of(n) {
        Num::Int(i) => i.to_string(),
        Num::Float(f) => match exact_i64(f) {
            Some(i) => format!("{i}.0"),
            None if f.fract() == 0.0 => format!("{f:?}"),
            None => format!("{f}"),
        },
    }
}

/// Append a value as text: null as nothing, arrays and objects as JSON.
pub(crate) fn push_text(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_text(n)),
        composite => push_json(out, composite),
    }
}

/// Append `v` as compact JSON as datalogic-rs writes it: serde_json's
/// escapes, floats in ryu's notation (`1e300`, where serde_json has `1e+300`).
pub(crate) fn push_json(out: &mut String, v: &Value) {
    match v {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => out.push_str(&i.to_string()),
            (None, Some(f)) => push_float(out, f),
            _ => {}
        },
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json(out, item);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                push_json(out, item);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A float in ryu's notation: shortest digits, positional from 1e-5 to
/// 1e16 (`0.001`, `12.5`, `100.0`), else `1.5e-7`, `1e300`.
pub(crate) fn push_float(out: &mut String, f: f64) {
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits = mantissa.replace('.', "");
    let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let kk = exp.parse::<i32>().unwrap_or(0) + 1; // 10^(kk-1) <= |f| < 10^kk
    let zeros = |n: i32| "0".repeat(usize::try_from(n).unwrap_or(0));
    if f.is_sign_negative() {
        out.push('-');
    }
    let (head, tail) = digits
        .split_at_checked(usize::try_from(kk.clamp(1, len)).unwrap_or(1))
        .unwrap_or((&digits, ""));
    match kk {
        _ if len <= kk && kk <= 16 => out.push_str(&format!("{digits}{}.0", zeros(kk - len))),
        1..=16 => out.push_str(&format!("{head}.{tail}")),
        -4..=0 => out.push_str(&format!("0.{}{digits}", zeros(-kk))),
        _ => {
            let (first, rest) = digits.split_at_checked(1).unwrap_or((&digits, ""));
            let dot = if rest.is_empty() { "" } else { "." };
            out.push_str(&format!("{first}{dot}{rest}e{}", kk - 1));
        }
    }
}

/// Characters from `start` (from the end if negative), `len` of them (all
/// but the last `-len` if negative, the rest if absent).
pub(crate) fn substr(s: &str, start: i64, len: Option<i64>) -> String {
    // Positions count characters; in ASCII text they are bytes.
    let ascii = s.is_ascii();
    let n = if ascii { s.len() } else { s.chars().count() };
    let abs = |x: i64| usize::try_from(x.unsigned_abs()).unwrap_or(usize::MAX);
    let from = if start < 0 {
        n.saturating_sub(abs(start))
    } else {
        abs(start).min(n)
    };
    let to = match len {
        Some(l) if l < 0 => n.saturating_sub(abs(l)).max(from),
        Some(l) => from.saturating_add(abs(l)).min(n),
        None => n,
    };
    if ascii {
        return s.get(from..to).unwrap_or_default().to_owned();
    }
    s.chars().skip(from).take(to.saturating_sub(from)).collect()
}
