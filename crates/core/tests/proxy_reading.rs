//! Property: the edge proxy reads a protected request the way every lenient
//! app reads it, or refuses it. For generated bodies (forms and JSON, with
//! repeated fields, odd number spellings and any content type), either
//! `read_custom` refuses the request, or each attribute it returns equals
//! what lenient reference readers obtain: JSON whatever the Content-Type,
//! the last (or the first) of repeated form fields and JSON keys, and
//! JavaScript's `Number()` for amounts. A failing case is kept by proptest
//! under `proptest-regressions/` and replayed first on every later run.
#![cfg(not(target_arch = "wasm32"))]

use actiongate_core::proxy::{ProxyConfig, RequestParts, parse_proxy, read_custom};
use proptest::prelude::*;
use serde_json::{Value, json};

fn config() -> ProxyConfig {
    parse_proxy(json!({
        "originUrl": "http://127.0.0.1:8788",
        "identity": {"jwt": {"cookie": "session", "algorithm": "HS256", "secretEnv": "APP_SESSION_SECRET"}},
        "routes": [
            {"method": "POST", "path": "/withdraw", "action": "w",
             "custom": {"amount": {"from": "form:amount", "type": "number"}, "to": "form:to"}},
            {"method": "POST", "path": "/api/withdraw", "action": "w",
             "custom": {"amount": {"from": "body:/amount", "type": "number"}, "to": {"from": "body:/to", "type": "string"}}}
        ]
    }))
    .expect("a valid configuration")
}

/// JavaScript's `Number(string)`.
fn js_number(s: &str) -> f64 {
    let t = s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if t.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = t.strip_prefix(prefix) {
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return f64::NAN;
            }
            return digits.chars().fold(0.0, |acc, c| {
                acc * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
            });
        }
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned == "Infinity" {
        return if t.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    // StrDecimalLiteral: digits [. digits] or . digits, then [eE][+-]digits.
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |x: &str| x.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = all_digits(int) && all_digits(frac) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    if !mantissa_ok || !exponent_ok {
        return f64::NAN;
    }
    let normal = format!(
        "{}{}.{}{}",
        if t.starts_with('-') { "-" } else { "" },
        if int.is_empty() { "0" } else { int },
        if frac.is_empty() { "0" } else { frac },
        exponent.map(|e| format!("e{e}")).unwrap_or_default()
    );
    normal.parse().unwrap_or(f64::NAN)
}

/// JavaScript's `String(value)` of a JSON value (what an app interpolates).
fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        // JavaScript writes an integral double as an integer (`1e0` is
        // "1", where serde_json writes "1.0"), and others in the shortest
        // form, as Rust does, between 1e-6 and 1e21.
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            (_, _, Some(f)) => format!("{f}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// How one lenient app reads parameters.
#[derive(Debug, Clone, Copy)]
struct Reader {
    /// The last of repeated names (else the first).
    last: bool,
    /// Where the query and the body both have a name, the query wins (Rails);
    /// else the body (Laravel).
    query_wins: bool,
    /// Form and query names are folded as PHP and qs do (` a`, `a[]`,
    /// `a.b` as `a_b`); JSON keys never are.
    folds: bool,
}

fn fold(name: &str) -> String {
    name.trim_start_matches(' ')
        .split('[')
        .next()
        .unwrap_or("")
        .replace([' ', '.'], "_")
}

/// The attributes a lenient app reads: JSON whatever the type (after a byte
/// order mark), else a form (after a leading `?`), merged with the query.
/// `None` when the app itself could not read the body (it executes nothing).
fn lenient(body: &[u8], query: &str, json_route: bool, r: Reader) -> Option<(Value, Value)> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let pick = |pairs: &[(String, Value)], wanted: &str, folds: bool| {
        let name = |k: &str| if folds { fold(k) } else { k.to_owned() };
        let mut hits = pairs
            .iter()
            .filter(|(k, _)| name(k) == wanted)
            .map(|(_, v)| v.clone());
        if r.last {
            hits.next_back()
        } else {
            hits.next()
        }
    };
    let query: Vec<(String, Value)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let merged = |body_pairs: &[(String, Value)], body_folds: bool, wanted: &str| {
        let from_query = pick(&query, wanted, r.folds);
        let from_body = pick(body_pairs, wanted, body_folds);
        if r.query_wins {
            from_query.or(from_body)
        } else {
            from_body.or(from_query)
        }
    };
    let json_pairs = || -> Option<Vec<(String, Value)>> {
        // serde_json keeps the last of repeated keys; read the raw pairs.
        let text = std::str::from_utf8(body).ok()?;
        let obj: Value = serde_json::from_str(text).ok()?;
        obj.as_object()?;
        let mut de = serde_json::Deserializer::from_str(text);
        let pairs: Pairs = serde::Deserialize::deserialize(&mut de).ok()?;
        Some(pairs.0)
    };
    // JSON keys are never folded; form names are, by a folding reader.
    let (pairs, folds) = match json_pairs() {
        Some(p) => (p, false),
        None if json_route => return None,
        None => (
            url::form_urlencoded::parse(body.strip_prefix(b"?").unwrap_or(body))
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
            r.folds,
        ),
    };
    Some((
        merged(&pairs, folds, "amount")?,
        merged(&pairs, folds, "to")?,
    ))
}

/// A JSON object's members in order, repeated keys kept.
struct Pairs(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn amount_spelling() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..10_000_000).prop_map(|n| n.to_string()),
        (0u64..100_000, 0u32..100).prop_map(|(a, b)| format!("{a}.{b:02}")),
        (0u64..10_000_000).prop_map(|n| format!("0x{n:X}")),
        (0u64..10_000).prop_map(|n| format!("0o{n:o}")),
        (0u64..1000).prop_map(|n| format!("0b{n:b}")),
        (1u64..100, 0u32..9).prop_map(|(m, e)| format!("{m}e{e}")),
        (0u64..100_000).prop_map(|n| format!("+{n}")),
        (0u64..100_000).prop_map(|n| format!(" {n} ")),
        (0u64..100_000).prop_map(|n| format!("00{n}")),
        (0u64..100_000).prop_map(|n| format!("-{n}")),
        (1u64..1000, 0u32..1000).prop_map(|(a, b)| format!("{a},{b:03}")),
        Just(String::new()),
        Just("NaN".to_owned()),
        Just("Infinity".to_owned()),
        Just(".5".to_owned()),
        Just("5.".to_owned()),
        Just("1e400".to_owned()),
        Just("９９".to_owned()),
        Just("12345678901234567890".to_owned()),
        "[0-9a-fx.+ -]{0,8}",
    ]
}

/// A value as it appears in a body: a JSON number literal, or a string.
#[derive(Debug, Clone)]
enum Written {
    Literal(String),
    Text(String),
}

fn field() -> impl Strategy<Value = (String, Written)> {
    let name = prop_oneof![
        3 => Just("amount".to_owned()),
        3 => Just("to".to_owned()),
        1 => Just("note".to_owned()),
        1 => Just("%61mount".to_owned()),
        1 => Just("Amount".to_owned()),
        1 => Just("amount[]".to_owned()),
        1 => Just("+to".to_owned()),
        1 => Just("to[x]".to_owned()),
    ];
    let value = prop_oneof![
        amount_spelling().prop_map(Written::Text),
        amount_spelling().prop_map(Written::Literal),
        prop_oneof![
            Just("NZ-1"),
            Just("GB-1234-999"),
            Just("a&amount=1"),
            Just("x\"y")
        ]
        .prop_map(|s| Written::Text(s.to_owned())),
    ];
    (name, value)
}

fn encode(fields: &[(String, Written)], as_json: bool) -> Vec<u8> {
    if as_json {
        let members: Vec<String> = fields
            .iter()
            .map(|(k, v)| {
                let key = serde_json::to_string(&k.replace("%61", "a")).unwrap_or_default();
                let value = match v {
                    Written::Literal(l) => l.clone(),
                    Written::Text(t) => serde_json::to_string(t).unwrap_or_default(),
                };
                format!("{key}: {value}")
            })
            .collect();
        format!("{{{}}}", members.join(", ")).into_bytes()
    } else {
        fields
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Written::Literal(l) | Written::Text(l) => l,
                };
                format!(
                    "{k}={}",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes()
    }
}

fn content_type() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("application/json"),
        Just("application/json; charset=utf-8"),
        Just("application/vnd.bank+json"),
        Just("application/x-www-form-urlencoded"),
        Just("application/x-www-form-urlencoded; charset=UTF-8"),
        Just("text/plain"),
        Just(""),
        Just("multipart/form-data; boundary=x"),
        Just("application/json; charset=utf-16"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn refused_or_read_as_every_lenient_app_reads_it(
        fields in prop::collection::vec(field(), 0..5),
        query_fields in prop::collection::vec(field(), 0..2),
        prefix in prop_oneof![4 => Just(""), 1 => Just("?"), 1 => Just("\u{feff}"), 1 => Just(" ")],
        as_json in any::<bool>(),
        json_route in any::<bool>(),
        ctype in content_type(),
    ) {
        let cfg = config();
        let path = if json_route { "/api/withdraw" } else { "/withdraw" };
        let (route, params) = cfg.route("POST", path).expect("the route");
        let mut body = prefix.as_bytes().to_vec();
        body.extend(encode(&fields, as_json));
        let query = String::from_utf8(encode(&query_fields, false)).unwrap_or_default();
        let read = read_custom(route, &RequestParts { body: &body, query: &query, content_type: ctype, params, ..Default::default() });
        if let Ok(attrs) = read {
            let seen_amount = attrs["amount"].as_f64().expect("a number");
            let seen_to = js_string(&attrs["to"]);
            for bits in 0..8u8 {
                let reader = Reader { last: bits & 1 != 0, query_wins: bits & 2 != 0, folds: bits & 4 != 0 };
                let Some((amount, to)) = lenient(&body, &query, json_route, reader) else { continue };
                let app_amount = match &amount {
                    Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                    other => js_number(&js_string(other)),
                };
                prop_assert_eq!(app_amount, seen_amount, "amount of {:?} ?{} as {:?} by {:?}", String::from_utf8_lossy(&body), query, ctype, reader);
                prop_assert_eq!(js_string(&to), seen_to.clone(), "to of {:?} ?{} as {:?} by {:?}", String::from_utf8_lossy(&body), query, ctype, reader);
            }
        }
    }
}

#[test]
fn the_reference_reads_numbers_as_javascript_does() {
    for (s, n) in [
        ("0x3D0900", 4_000_000.0),
        ("", 0.0),
        (" 12 ", 12.0),
        ("1e3", 1000.0),
        ("+5", 5.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("007", 7.0),
        ("-Infinity", f64::NEG_INFINITY),
    ] {
        assert_eq!(js_number(s), n, "{s:?}");
    }
    for s in ["12,5", "NaN", "0x", "1e", "inf", "1_0", "--1"] {
        assert!(js_number(s).is_nan(), "{s:?}");
    }
}
