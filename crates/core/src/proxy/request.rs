//! One reading of each protected request.
//!
//! The rules must see exactly what the app will execute. Apps read requests
//! leniently: the last of repeated form fields, JSON whatever the
//! `Content-Type`, `Number()` for amounts, a method override in a header, the
//! query or the body. So the edge proxy reads a protected request strictly,
//! and refuses it (400 or 415, nothing forwarded) wherever a lenient reader
//! could obtain another value than the one the rules would see:
//!
//! - a form or query field the route reads that appears more than once, or a
//!   JSON object with a repeated key anywhere in the body: `ambiguous_request`;
//! - a route that reads `body:` takes only JSON (`application/json`,
//!   `*/*+json`), one that reads `form:` only
//!   `application/x-www-form-urlencoded`; any other or missing type on a
//!   request with a body: `unsupported_media_type` (415); a charset other
//!   than UTF-8 likewise; a form body that is also a JSON document:
//!   `ambiguous_request`; a body that does not parse: `invalid_request`;
//! - a typed attribute converts only from the syntax every common parser
//!   reads alike (numbers: plain decimals, at most 15 significant digits;
//!   booleans: `true`/`false`): `invalid_attribute` otherwise;
//! - an attribute is required unless the route marks it `optional`:
//!   `missing_attribute` when absent (a JSON `null` counts as absent).

use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;
use url::form_urlencoded;

use crate::error::CoreError;
use crate::proxy::routes::{AttributeType, RouteConfig};

/// What the worker knows of a request, for attribute extraction.
#[derive(Debug, Clone, Default)]
pub struct RequestParts<'a> {
    /// Lower-cased header names and their values.
    pub headers: Vec<(String, String)>,
    /// The raw query string (no `?`).
    pub query: &'a str,
    /// The body, when read.
    pub body: &'a [u8],
    /// The `Content-Type` header as sent (empty when absent).
    pub content_type: &'a str,
    /// Path parameters of the route.
    pub params: BTreeMap<String, String>,
}

/// A `Content-Type` value taken apart: its essence, lower-cased, and
/// whether its charset (if any) is UTF-8.
struct MediaType {
    essence: String,
    utf8: bool,
}

impl MediaType {
    fn parse(header: &str) -> Self {
        let mut parts = header.split(';');
        let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let utf8 = parts.all(|p| match p.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
                let v = v.trim().trim_matches('"');
                v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("utf8")
            }
            _ => true,
        });
        MediaType { essence, utf8 }
    }

    fn is_json(&self) -> bool {
        self.essence == "application/json"
            || (self.essence.ends_with("+json") && self.essence.contains('/'))
    }

    fn is_form(&self) -> bool {
        self.essence == "application/x-www-form-urlencoded"
    }
}

fn ambiguous(why: impl Into<String>) -> CoreError {
    CoreError::AmbiguousRequest(why.into())
}

fn unsupported(why: impl Into<String>) -> CoreError {
    CoreError::UnsupportedMediaType(why.into())
}

/// Whether a body carries anything (a body of only white space reads as
/// none to every JSON and form reader).
fn has_body(body: &[u8]) -> bool {
    !body.iter().all(u8::is_ascii_whitespace)
}

/// Whether the body's first non-blank byte opens a JSON object or array.
fn looks_like_json(body: &[u8]) -> bool {
    matches!(first_byte(body), Some(b'{' | b'['))
}

/// The body without a UTF-8 byte order mark (decoders drop it).
fn without_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

/// The first byte that is not blank, after any byte order mark.
fn first_byte(body: &[u8]) -> Option<u8> {
    without_bom(body)
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace())
}

/// A field name as parsers that rewrite names read it: PHP drops leading
/// spaces and turns spaces and dots into `_`; qs, Rack and PHP read
/// `name[]` and `name[key]` as `name`. (`amount[]`, `.amount`, ` amount`.)
fn folded_name(name: &str) -> String {
    name.trim_start_matches(' ')
        .split('[')
        .next()
        .unwrap_or("")
        .replace([' ', '.'], "_")
}

/// Parse a JSON document, refusing repeated keys in any object: parsers
/// differ on which of them counts (most take the last, some the first).
///
/// # Errors
/// [`CoreError::AmbiguousRequest`] for a repeated key,
/// [`CoreError::InvalidBody`] for anything that is not JSON.
pub fn parse_strict_json(body: &[u8]) -> Result<Value, CoreError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| CoreError::InvalidBody(format!("The JSON body does not parse: {e}.")))?;
    match repeated_key(body) {
        Some(key) => Err(ambiguous(format!(
            "The JSON body has the key {key:?} twice in one object (or in two cases); send each key once."
        ))),
        None => Ok(value),
    }
}

/// A key as case-insensitive readers match it (Go's `encoding/json`, .NET):
/// ASCII case, and the two non-ASCII letters Go folds onto ASCII ones (the
/// Kelvin sign, the long s).
fn key_fold(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{212A}' => 'k',
            '\u{017F}' => 's',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The first key that appears twice in one object of a document already
/// known to be valid JSON, comparing keys as case-insensitive readers do
/// ([`key_fold`]). (A scan of the text: cheaper, in code size, than a second
/// deserializer that tracks keys.) Keys are compared decoded, so `"a"` and
/// `"\u0061"` are the same key.
fn repeated_key(json: &[u8]) -> Option<String> {
    // One entry per open container: the keys seen, or `None` for an array.
    let mut open: Vec<Option<std::collections::HashSet<String>>> = Vec::new();
    let mut expect_key = false;
    let mut i = 0;
    while let Some(&b) = json.get(i) {
        match b {
            b'{' => {
                open.push(Some(std::collections::HashSet::new()));
                expect_key = true;
            }
            b'[' => {
                open.push(None);
                expect_key = false;
            }
            b'}' | b']' => {
                open.pop();
                expect_key = false;
            }
            b',' => expect_key = matches!(open.last(), Some(Some(_))),
            b'"' => {
                let end = string_end(json, i)?;
                if expect_key {
                    let key: String = serde_json::from_slice(json.get(i..=end)?).ok()?;
                    if let Some(Some(keys)) = open.last_mut()
                        && !keys.insert(key_fold(&key))
                    {
                        return Some(key);
                    }
                    expect_key = false;
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the quote that closes the JSON string opened at `start`.
fn string_end(json: &[u8], start: usize) -> Option<usize> {
    let mut j = start + 1;
    loop {
        match json.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j),
            _ => j += 1,
        }
    }
}

/// The body as the route reads it.
enum Body {
    None,
    Json(Value),
    Form(Vec<(String, String)>),
}

fn read_body(route: &RouteConfig, req: &RequestParts<'_>) -> Result<Body, CoreError> {
    let reads = |prefix: &str| route.custom.values().any(|s| s.from().starts_with(prefix));
    if !has_body(req.body) {
        return Ok(Body::None);
    }
    let media = MediaType::parse(req.content_type);
    if reads("body:") {
        if !media.is_json() {
            return Err(unsupported(
                "This request must be sent as JSON, with Content-Type: application/json.",
            ));
        }
        if !media.utf8 {
            return Err(unsupported("Send the JSON body in UTF-8."));
        }
        return parse_strict_json(req.body).map(Body::Json);
    }
    if reads("form:") {
        if media.essence == "multipart/form-data" {
            return Err(unsupported(
                "This form must be sent as application/x-www-form-urlencoded, not multipart/form-data.",
            ));
        }
        if !media.is_form() {
            return Err(unsupported(
                "This request must be sent as a form, with Content-Type: application/x-www-form-urlencoded.",
            ));
        }
        if !media.utf8 {
            return Err(unsupported("Send the form in UTF-8."));
        }
        // An app that reads JSON whatever the type would see other fields
        // (and JavaScript reads JSON that serde_json refuses, so whether it
        // parses does not matter); one that drops a byte order mark or a
        // leading `?` would see other names than the form parser here.
        if matches!(first_byte(req.body), Some(b'{' | b'[' | b'?'))
            || req.body.starts_with(b"\xEF\xBB\xBF")
        {
            return Err(ambiguous(
                "The form body starts like a JSON document, a query or a byte order mark; send the fields as a plain form.",
            ));
        }
        return Ok(Body::Form(
            form_urlencoded::parse(req.body).into_owned().collect(),
        ));
    }
    Ok(Body::None)
}

/// The one value of `name` among `pairs`; two or more, or another
/// spelling some parser reads as the same name (`name[]`, ` name`), is
/// ambiguous.
fn single<'p>(
    pairs: impl Iterator<Item = &'p (String, String)>,
    name: &str,
    place: &str,
) -> Result<Option<String>, CoreError> {
    let mut found = None;
    for (k, v) in pairs {
        if k == name {
            if found.is_some() {
                return Err(ambiguous(format!(
                    "The {place} field {name:?} appears more than once; send it once."
                )));
            }
            found = Some(v.clone());
        } else if folded_name(k) == name {
            return Err(ambiguous(format!(
                "The {place} field {k:?} is read as {name:?} by some apps; send {name:?} once, as it is."
            )));
        }
    }
    Ok(found)
}

/// The names a body holds, read every way an app might (a form whatever
/// its type, a JSON object's top-level keys), folded as [`folded_name`].
fn body_names(body: &[u8]) -> Vec<String> {
    let body = without_bom(body);
    let form = body.strip_prefix(b"?").unwrap_or(body);
    let mut names: Vec<String> = form_urlencoded::parse(form)
        .map(|(k, _)| folded_name(&k))
        .collect();
    if looks_like_json(body)
        && let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body)
    {
        names.extend(o.keys().map(|k| folded_name(k)));
    }
    names
}

/// Whether an object along the JSON pointer `ptr` has, instead of the
/// pointer's key, a key that case-insensitive readers take for it
/// (`{"Amount": …}` for `/amount`).
fn case_variant_on_path(doc: &Value, ptr: &str) -> bool {
    let mut at = doc;
    for raw in ptr.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        let Value::Object(o) = at else { return false };
        if let Some(next) = o.get(&seg) {
            at = next;
            continue;
        }
        let folded = key_fold(&seg);
        return o.keys().any(|k| key_fold(k) == folded);
    }
    false
}

/// Refuse `name` in `others`: an app that merges the query and the body
/// into one set of parameters (Rails, Laravel, PHP's `$_REQUEST`) would
/// take one of the two, and which one differs between frameworks.
fn not_also_in(others: &[String], name: &str, place: &str) -> Result<(), CoreError> {
    let name = folded_name(name);
    if others.contains(&name) {
        return Err(ambiguous(format!(
            "{name:?} is sent in the {place} as well; send it in one place."
        )));
    }
    Ok(())
}

/// Build a route's `custom` attributes from the request, strictly (see the
/// module's header).
///
/// # Errors
/// [`CoreError::AmbiguousRequest`], [`CoreError::UnsupportedMediaType`],
/// [`CoreError::InvalidBody`], [`CoreError::MissingAttribute`] or
/// [`CoreError::InvalidAttribute`]: the request is refused.
pub fn read_custom(
    route: &RouteConfig,
    req: &RequestParts<'_>,
) -> Result<Map<String, Value>, CoreError> {
    let body = read_body(route, req)?;
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query.as_bytes())
        .into_owned()
        .collect();
    let query_names: Vec<String> = query.iter().map(|(k, _)| folded_name(k)).collect();
    let reads_query = route
        .custom
        .values()
        .any(|s| s.from().starts_with("query:"));
    let body_names = if reads_query && has_body(req.body) {
        body_names(req.body)
    } else {
        Vec::new()
    };
    let mut out = Map::new();
    for (name, src) in &route.custom {
        let raw = match src.from().split_once(':') {
            Some(("body", ptr)) => {
                // The top-level key, which a merging app may take from the query.
                let top = ptr
                    .split('/')
                    .nth(1)
                    .unwrap_or("")
                    .replace("~1", "/")
                    .replace("~0", "~");
                not_also_in(&query_names, &folded_name(&top), "query")?;
                match &body {
                    Body::Json(j) => {
                        if case_variant_on_path(j, ptr) {
                            return Err(ambiguous(format!(
                                "The JSON body names {ptr:?} in another case; send it as the route reads it."
                            )));
                        }
                        j.pointer(ptr).cloned().filter(|v| !v.is_null())
                    }
                    _ => None,
                }
            }
            Some(("form", f)) => {
                not_also_in(&query_names, f, "query")?;
                match &body {
                    Body::Form(pairs) => single(pairs.iter(), f, "form")?.map(Value::String),
                    _ => None,
                }
            }
            Some(("query", q)) => {
                not_also_in(&body_names, q, "body")?;
                single(query.iter(), q, "query")?.map(Value::String)
            }
            Some(("header", h)) => {
                // CGI and WSGI servers fold `-` and `_` onto one variable.
                let folded = |k: &str| k.replace('_', "-");
                let mut hits = req
                    .headers
                    .iter()
                    .filter(|(k, _)| folded(k).eq_ignore_ascii_case(&folded(h)));
                let first = hits.next();
                if hits.next().is_some() || first.is_some_and(|(k, _)| !k.eq_ignore_ascii_case(h)) {
                    return Err(ambiguous(format!(
                        "The header {h:?} is sent in another spelling too; send it once, as it is."
                    )));
                }
                first.map(|(_, v)| Value::String(v.clone()))
            }
            Some(("param", p)) => req.params.get(p).map(|v| Value::String(v.clone())),
            _ => None,
        };
        let value = match raw {
            None if src.optional() => Value::Null,
            None => return Err(CoreError::MissingAttribute(name.clone())),
            Some(v) => convert(v, src.kind()).map_err(|message| CoreError::InvalidAttribute {
                name: name.clone(),
                message,
            })?,
        };
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// Convert a value to the attribute's type, accepting only the spellings
/// every common reader takes alike.
fn convert(v: Value, kind: Option<AttributeType>) -> Result<Value, String> {
    match (kind, v) {
        (None, v) => Ok(v),
        (Some(AttributeType::Number), Value::Number(n)) => Ok(Value::Number(n)),
        (Some(AttributeType::Number), Value::String(s)) => strict_number(&s)
            .map(Value::Number)
            .ok_or_else(|| "not a plain decimal number (such as 1250 or 99.95)".to_owned()),
        (Some(AttributeType::Number), _) => Err("not a number".to_owned()),
        (Some(AttributeType::Boolean), Value::Bool(b)) => Ok(Value::Bool(b)),
        (Some(AttributeType::Boolean), Value::String(s)) => match s.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("not true or false".to_owned()),
        },
        (Some(AttributeType::Boolean), _) => Err("not true or false".to_owned()),
        (Some(AttributeType::String), Value::String(s)) => Ok(Value::String(s)),
        (Some(AttributeType::String), Value::Number(n)) => js_text(&n)
            .map(Value::String)
            .ok_or_else(|| "a number that apps write differently; send it as a string".to_owned()),
        (Some(AttributeType::String), Value::Bool(b)) => Ok(Value::String(b.to_string())),
        (Some(AttributeType::String), _) => Err("not a string".to_owned()),
    }
}

/// A JSON number as JavaScript's `String()` writes it, where that is
/// certain: integers as integers (`12345.0` is `"12345"`, `-0` is `"0"`),
/// other numbers between 1e-6 and 1e21 in Rust's shortest form, which is
/// JavaScript's there. `None` for the rest (exponent notation).
fn js_text(n: &Number) -> Option<String> {
    const EXACT: u64 = 1 << 53;
    if let Some(i) = n.as_i64() {
        // Past 2^53 JavaScript reads another integer.
        return (i.unsigned_abs() <= EXACT).then(|| i.to_string());
    }
    if n.is_u64() {
        return n.as_u64().filter(|u| *u <= EXACT).map(|u| u.to_string());
    }
    let f = n.as_f64()?;
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return Some(format!("{}", f as i64));
    }
    (f.abs() >= 1e-6 && f.abs() < 1e21).then(|| format!("{f}"))
}

/// Most significant digits a number may have: every decimal of up to 15
/// digits survives a round trip through a double, so `Number()`, `float()`
/// and decimal types all read the same value.
const MAX_DIGITS: usize = 15;

/// A number written as every common parser reads it alike: an optional
/// `-`, digits without a leading zero (or a single `0`), and optionally a
/// `.` followed by digits. No sign `+`, exponent, hex, separators, spaces,
/// `NaN` or `Infinity`.
pub fn strict_number(s: &str) -> Option<Number> {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (int.len() > 1 && int.starts_with('0')) {
        return None;
    }
    if frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    let significant = format!("{int}{}", frac.unwrap_or(""));
    if significant.trim_start_matches('0').len() > MAX_DIGITS {
        return None;
    }
    if frac.is_none() {
        return s.parse::<i64>().ok().map(Number::from);
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .and_then(Number::from_f64)
}

/// The methods a body may name in a `_method` field, read every way an app
/// might read it: as a form whatever its type (after a byte order mark or a
/// leading `?`, which decoders drop), as a JSON object's top-level
/// `_method`, with the name in any ASCII case. Where an app could read a
/// method that cannot be told here (`_method[]`, PHP's ` method`, a
/// non-string JSON value, a JSON-looking body serde_json refuses but
/// JavaScript reads, a multipart body naming it), every method counts.
/// Upper-cased.
pub fn body_method_overrides(body: &[u8], content_type: &str) -> Vec<String> {
    let every = || -> Vec<String> {
        crate::proxy::routes::METHODS
            .iter()
            .map(|m| (*m).to_owned())
            .collect()
    };
    let body = without_bom(body);
    let form = body.strip_prefix(b"?").unwrap_or(body);
    let mut out = Vec::new();
    for (k, v) in form_urlencoded::parse(form) {
        match method_name(&k) {
            Some(true) => out.push(v.trim().to_ascii_uppercase()),
            Some(false) => return every(),
            None => {}
        }
    }
    if looks_like_json(body) {
        match parse_strict_json(body) {
            Ok(Value::Object(o)) => {
                for (k, v) in &o {
                    match (method_name(k), v) {
                        (Some(true), Value::String(m)) => out.push(m.trim().to_ascii_uppercase()),
                        (Some(_), _) => return every(),
                        (None, _) => {}
                    }
                }
            }
            Ok(_) => {}
            Err(_) => return every(),
        }
    }
    let multipart = MediaType::parse(content_type).essence == "multipart/form-data";
    if multipart && body.windows(6).any(|w| w.eq_ignore_ascii_case(b"method")) {
        return every();
    }
    let mut once = Vec::with_capacity(out.len());
    for m in out {
        if !once.contains(&m) {
            once.push(m);
        }
    }
    once
}

/// Whether a field name is `_method`: `Some(true)` as it is (any ASCII
/// case), `Some(false)` in another spelling some parser folds onto it
/// (`_method[]`, ` method`, `.method`), `None` otherwise.
fn method_name(k: &str) -> Option<bool> {
    if k.eq_ignore_ascii_case("_method") {
        return Some(true);
    }
    folded_name(k)
        .eq_ignore_ascii_case("_method")
        .then_some(false)
}
