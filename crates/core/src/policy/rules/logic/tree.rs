//! A condition compiled once into a tree ([`Node`]): each operation's
//! operator found from its name, each `var` path split into segments, and
//! what evaluation must raise where it reaches it (an unknown operator, an
//! object with several keys, a computed `var` path, nesting beyond
//! [`MAX_EVAL_DEPTH`]) kept at its place, so that a rule evaluated on every
//! track walks no JSON and compares no names.

use serde_json::Value;

use super::values::{LogicError, MAX_EVAL_DEPTH, number_text};

/// A supported operator, found by [`operator`] (by its [`Op::name`]) when a
/// condition is compiled, so that evaluation branches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Var,
    Eq,
    StrictEq,
    Ne,
    StrictNe,
    Not,
    NotNot,
    Gt,
    Ge,
    Lt,
    Le,
    And,
    Or,
    If,
    Elvis,
    In,
    Add,
    Mul,
    Sub,
    Div,
    Mod,
    Max,
    Min,
    Map,
    All,
    Cat,
    None,
    Some,
    Filter,
    Reduce,
    Merge,
    Substr,
    Missing,
    MissingSome,
    InValueList,
}

impl Op {
    /// Every operator.
    #[cfg(test)]
    #[rustfmt::skip]
    const ALL: [Op; 35] = [
        Op::Var, Op::Eq, Op::StrictEq, Op::Ne, Op::StrictNe, Op::Not, Op::NotNot, Op::Gt, Op::Ge,
        Op::Lt, Op::Le, Op::And, Op::Or, Op::If, Op::Elvis, Op::In, Op::Add, Op::Mul, Op::Sub,
        Op::Div, Op::Mod, Op::Max, Op::Min, Op::Map, Op::All, Op::Cat, Op::None, Op::Some,
        Op::Filter, Op::Reduce, Op::Merge, Op::Substr, Op::Missing, Op::MissingSome,
        Op::InValueList,
    ];

    /// Whether datalogic-rs always evaluates it at run time (see [`is_static`]).
    fn is_dynamic(self) -> bool {
        matches!(
            self,
            Op::Var
                | Op::Missing
                | Op::MissingSome
                | Op::Map
                | Op::Filter
                | Op::Reduce
                | Op::All
                | Op::Some
                | Op::None
                | Op::Merge
                | Op::Min
                | Op::Max
                | Op::InValueList
        )
    }

    /// The operator's name, for errors and the helpers that take one.
    pub(super) fn name(self) -> &'static str {
        match self {
            Op::Var => "var",
            Op::Eq => "==",
            Op::StrictEq => "===",
            Op::Ne => "!=",
            Op::StrictNe => "!==",
            Op::Not => "!",
            Op::NotNot => "!!",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::And => "and",
            Op::Or => "or",
            Op::If => "if",
            Op::Elvis => "?:",
            Op::In => "in",
            Op::Add => "+",
            Op::Mul => "*",
            Op::Sub => "-",
            Op::Div => "/",
            Op::Mod => "%",
            Op::Max => "max",
            Op::Min => "min",
            Op::Map => "map",
            Op::All => "all",
            Op::Cat => "cat",
            Op::None => "none",
            Op::Some => "some",
            Op::Filter => "filter",
            Op::Reduce => "reduce",
            Op::Merge => "merge",
            Op::Substr => "substr",
            Op::Missing => "missing",
            Op::MissingSome => "missing_some",
            Op::InValueList => "inValueList",
        }
    }
}

/// The operator named `key`: a decision on the name's length and bytes (a
/// slice pattern compiles to one), not a scan of the list comparing names.
fn operator(key: &str) -> Option<Op> {
    let name = match key.as_bytes() {
        [b'v', b'a', b'r'] => Op::Var,
        [b'=', b'='] => Op::Eq,
        [b'=', b'=', b'='] => Op::StrictEq,
        [b'!', b'='] => Op::Ne,
        [b'!', b'=', b'='] => Op::StrictNe,
        [b'!'] => Op::Not,
        [b'!', b'!'] => Op::NotNot,
        [b'>'] => Op::Gt,
        [b'>', b'='] => Op::Ge,
        [b'<'] => Op::Lt,
        [b'<', b'='] => Op::Le,
        [b'a', b'n', b'd'] => Op::And,
        [b'o', b'r'] => Op::Or,
        [b'i', b'f'] => Op::If,
        [b'?', b':'] => Op::Elvis,
        [b'i', b'n'] => Op::In,
        [b'+'] => Op::Add,
        [b'*'] => Op::Mul,
        [b'-'] => Op::Sub,
        [b'/'] => Op::Div,
        [b'%'] => Op::Mod,
        [b'm', b'a', b'x'] => Op::Max,
        [b'm', b'i', b'n'] => Op::Min,
        [b'm', b'a', b'p'] => Op::Map,
        [b'a', b'l', b'l'] => Op::All,
        [b'c', b'a', b't'] => Op::Cat,
        [b'n', b'o', b'n', b'e'] => Op::None,
        [b's', b'o', b'm', b'e'] => Op::Some,
        [b'f', b'i', b'l', b't', b'e', b'r'] => Op::Filter,
        [b'r', b'e', b'd', b'u', b'c', b'e'] => Op::Reduce,
        [b'm', b'e', b'r', b'g', b'e'] => Op::Merge,
        [b's', b'u', b'b', b's', b't', b'r'] => Op::Substr,
        [b'm', b'i', b's', b's', b'i', b'n', b'g'] => Op::Missing,
        [
            b'm',
            b'i',
            b's',
            b's',
            b'i',
            b'n',
            b'g',
            b'_',
            b's',
            b'o',
            b'm',
            b'e',
        ] => Op::MissingSome,
        [
            b'i',
            b'n',
            b'V',
            b'a',
            b'l',
            b'u',
            b'e',
            b'L',
            b'i',
            b's',
            b't',
        ] => Op::InValueList,
        _ => return None,
    };
    Some(name)
}

/// One node of a compiled condition.
#[derive(Debug, Clone)]
pub(super) enum Node {
    /// A value evaluated as itself: a scalar, or an array without arrays
    /// or objects in it.
    Literal(Value),
    /// An array with arrays or objects in it: each item evaluated.
    List(Box<[Node]>),
    /// An operation other than `var`.
    Call(Box<Call>),
    /// `var`.
    Var(Box<Var>),
    /// What evaluating this node raises.
    Fail(Box<Fail>),
}

#[derive(Debug, Clone)]
pub(super) struct Call {
    pub(super) op: Op,
    /// Its arguments: the items of a JSON array, else the one value.
    pub(super) args: Box<[Node]>,
    /// Whether the arguments were a JSON array.
    pub(super) listed: bool,
    /// [`Node::is_static`].
    fixed: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Var {
    pub(super) path: Path,
    /// Evaluated only when the path leads nowhere.
    pub(super) default: Option<Node>,
}

/// A `var` path.
#[derive(Debug, Clone)]
pub(super) enum Path {
    /// No path or `""`: the data itself.
    Whole,
    /// A dotted path: its text (a `reduce` step reads `current.` and
    /// `accumulator.` from it) and its segments.
    Dotted {
        text: Box<str>,
        segments: Box<[Segment]>,
    },
}

/// A segment of a dotted path: an object's key, or an array's index when
/// it reads as one.
#[derive(Debug, Clone)]
pub(super) struct Segment {
    key: Box<str>,
    index: Option<usize>,
}

#[derive(Debug, Clone)]
pub(super) struct Fail {
    pub(super) error: LogicError,
    /// Whether datalogic-rs would read the expression as a literal.
    fixed: bool,
    /// Whether it was written as a JSON array (an array nested too deep).
    array: bool,
}

impl Node {
    /// Compile `e`, found at `depth` (an operation's arguments and an
    /// array's items one deeper).
    pub(super) fn compile(e: &Value, depth: usize) -> Node {
        if depth > MAX_EVAL_DEPTH {
            return Node::Fail(Box::new(Fail {
                error: LogicError::TooDeep,
                fixed: is_static(e),
                array: e.is_array(),
            }));
        }
        match e {
            Value::Object(m) => {
                let mut entries = m.iter();
                let (Some((key, raw)), None) = (entries.next(), entries.next()) else {
                    return Node::fail(LogicError::NotAnOperation, m.is_empty());
                };
                let Some(op) = operator(key) else {
                    return Node::fail(LogicError::UnknownOperator(key.clone()), false);
                };
                if op == Op::Var {
                    return Node::var(raw, depth);
                }
                let args: Box<[Node]> = match raw {
                    Value::Array(a) => a.iter().map(|x| Node::compile(x, depth + 1)).collect(),
                    other => Box::new([Node::compile(other, depth + 1)]),
                };
                let listed = raw.is_array();
                let unlisted = !listed && matches!(op, Op::If | Op::Elvis | Op::And | Op::Or);
                let fixed = !op.is_dynamic() && !unlisted && args.iter().all(Node::is_static);
                Node::Call(Box::new(Call {
                    op,
                    args,
                    listed,
                    fixed,
                }))
            }
            Value::Array(items) if items.iter().any(|i| i.is_array() || i.is_object()) => {
                Node::List(items.iter().map(|i| Node::compile(i, depth + 1)).collect())
            }
            other => Node::Literal(other.clone()),
        }
    }

    fn fail(error: LogicError, fixed: bool) -> Node {
        Node::Fail(Box::new(Fail {
            error,
            fixed,
            array: false,
        }))
    }

    /// `var` (found at `depth`) of its arguments `raw`: a literal path,
    /// read as written, and the default, compiled.
    fn var(raw: &Value, depth: usize) -> Node {
        let (first, default) = match raw {
            Value::Array(a) => (a.first(), a.get(1)),
            other => (Some(other), None),
        };
        let text = match first {
            None => None,
            Some(Value::String(p)) => Some(p.clone()),
            Some(Value::Number(n)) => Some(number_text(n)),
            Some(_) => return Node::fail(LogicError::VariablePath, false),
        };
        let path = match text {
            None => Path::Whole,
            Some(t) if t.is_empty() => Path::Whole,
            Some(t) => Path::Dotted {
                segments: t
                    .split('.')
                    .map(|key| Segment {
                        index: key.parse().ok(),
                        key: key.into(),
                    })
                    .collect(),
                text: t.into(),
            },
        };
        let default = default.map(|d| Node::compile(d, depth + 1));
        Node::Var(Box::new(Var { path, default }))
    }

    /// Whether datalogic-rs computes it at compile time: it reads no data
    /// and uses no operator datalogic-rs keeps for run time.
    pub(super) fn is_static(&self) -> bool {
        match self {
            Node::Literal(_) => true,
            Node::List(items) => items.iter().all(Node::is_static),
            Node::Call(c) => c.fixed,
            Node::Var(_) => false,
            Node::Fail(f) => f.fixed,
        }
    }

    /// Whether it was written as a JSON array.
    pub(super) fn is_array(&self) -> bool {
        match self {
            Node::Literal(v) => v.is_array(),
            Node::List(_) => true,
            Node::Fail(f) => f.array,
            Node::Call(_) | Node::Var(_) => false,
        }
    }
}

/// Follow a path's segments from `v`.
pub(super) fn walk<'v>(mut v: &'v Value, segments: &[Segment]) -> Option<&'v Value> {
    for s in segments {
        v = match v {
            Value::Object(m) => m.get(&*s.key)?,
            Value::Array(a) => a.get(s.index?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// [`Node::is_static`] of an expression not compiled (what a failing node
/// was written as).
fn is_static(e: &Value) -> bool {
    match e {
        Value::Array(items) => items.iter().all(is_static),
        Value::Object(m) => {
            let mut entries = m.iter();
            let (Some((op, args)), None) = (entries.next(), entries.next()) else {
                return m.is_empty();
            };
            operator(op).is_some_and(|op| {
                let unlisted =
                    !args.is_array() && matches!(op, Op::If | Op::Elvis | Op::And | Op::Or);
                !op.is_dynamic() && !unlisted
            }) && is_static(args)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn operator_finds_exactly_the_listed_names() {
        for op in Op::ALL {
            assert_eq!(operator(op.name()), Some(op));
        }
        let mut names: Vec<&str> = Op::ALL.iter().map(|op| op.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Op::ALL.len(), "one name each");
        for other in [
            "",
            "va",
            "varr",
            "Var",
            "=",
            "====",
            "<>",
            "in ",
            "inValuelist",
            "missing_",
        ] {
            assert_eq!(operator(other), None, "{other:?}");
        }
    }
}
