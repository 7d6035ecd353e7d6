//! The core's one error type.
//!
//! Each variant carries what a caller needs to explain the problem; the
//! worker maps [`ErrorKind`] to an HTTP status in one place and never shows
//! the text of an [`CoreError::Internal`] to a client.

use crate::actions::state::{ActionState, IllegalTransition, UnknownState};

/// Broad class of a [`CoreError`], used by the HTTP layer to pick a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or asks for something invalid (400).
    BadRequest,
    /// The credential presented (a session token) is not accepted (401).
    Unauthorized,
    /// Refused by the action's own decision (403).
    Forbidden,
    /// The thing asked for does not exist (404).
    NotFound,
    /// The request conflicts with stored state (409).
    Conflict,
    /// The body's media type is not one the endpoint reads (415).
    UnsupportedMediaType,
    /// Too many requests of this kind; try again later (429).
    TooManyRequests,
    /// Something failed inside; details are logged, not returned (500).
    Internal,
}

/// Errors produced by the core.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CoreError {
    /// A field of a request or configuration has a bad value.
    #[error("{field}: {message}")]
    InvalidField {
        /// Dotted path of the offending field (`custom.amount`, `state`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A JSON body could not be parsed.
    #[error("{0}")]
    InvalidBody(String),
    /// Several problems found while validating one document.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// A state change the state machine does not allow.
    #[error("cannot change action state from {from} to {to}")]
    IllegalTransition {
        /// Current state.
        from: ActionState,
        /// Requested state.
        to: ActionState,
    },
    /// No action with that key.
    #[error("action not found")]
    ActionNotFound,
    /// No authenticator with that id.
    #[error("authenticator not found")]
    AuthenticatorNotFound,
    /// The idempotency key was already used for a different request.
    #[error("idempotencyKey {0:?} was already used for this action with a different request body")]
    IdempotencyConflict(String),
    /// A limit on how often something may be done was reached.
    #[error("{0}")]
    TooManyRequests(String),
    /// Too many attempts for now: the client may try again after
    /// `retry_after` seconds (sent as `Retry-After`).
    #[error("{message}")]
    Throttled {
        /// What was limited, for the client.
        message: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// A code went out on this channel moments ago; it still works.
    #[error("{0}")]
    CodeRecentlySent(String),
    /// A request an app could read in more than one way (the edge proxy
    /// refuses it rather than guess which reading the app takes).
    #[error("{0}")]
    AmbiguousRequest(String),
    /// A body sent with a media type the route does not read.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A protected route's attribute is absent from the request.
    #[error("The request lacks {0:?}, which this route requires.")]
    MissingAttribute(String),
    /// A protected route's attribute does not convert to its type.
    #[error("{name}: {message}.")]
    InvalidAttribute {
        /// The attribute.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// The action's configuration or rules block it.
    #[error("{0}")]
    Blocked(String),
    /// Storage failed; the message is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
    /// A WebAuthn ceremony was refused.
    #[error("{0}")]
    WebAuthn(#[from] crate::auth::webauthn::WebAuthnError),
    /// Something the request names does not exist (404 `not_found`).
    #[error("{0}")]
    NotFound(String),
    /// Refused for a reason of its own (403 with this code).
    #[error("{message}")]
    Refused {
        /// The error code.
        code: &'static str,
        /// What happened, for the client.
        message: String,
    },
    /// A session request was refused.
    #[error("{0}")]
    Session(#[from] crate::auth::session_error::SessionError),
}

impl From<IllegalTransition> for CoreError {
    fn from(e: IllegalTransition) -> Self {
        CoreError::IllegalTransition {
            from: e.from,
            to: e.to,
        }
    }
}

impl From<UnknownState> for CoreError {
    fn from(e: UnknownState) -> Self {
        let message = e.to_string();
        CoreError::field(e.field, message)
    }
}

impl CoreError {
    /// Shorthand for [`CoreError::InvalidField`].
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CoreError::InvalidField { .. }
            | CoreError::InvalidBody(_)
            | CoreError::Invalid(_)
            | CoreError::IllegalTransition { .. }
            | CoreError::AmbiguousRequest(_)
            | CoreError::MissingAttribute(_)
            | CoreError::InvalidAttribute { .. }
            | CoreError::WebAuthn(_) => ErrorKind::BadRequest,
            CoreError::UnsupportedMediaType(_) => ErrorKind::UnsupportedMediaType,
            CoreError::Blocked(_) | CoreError::Refused { .. } => ErrorKind::Forbidden,
            CoreError::NotFound(_) => ErrorKind::NotFound,
            CoreError::ActionNotFound | CoreError::AuthenticatorNotFound => ErrorKind::NotFound,
            CoreError::IdempotencyConflict(_) => ErrorKind::Conflict,
            CoreError::TooManyRequests(_)
            | CoreError::Throttled { .. }
            | CoreError::CodeRecentlySent(_) => ErrorKind::TooManyRequests,
            CoreError::Session(e) if e.unauthorized() => ErrorKind::Unauthorized,
            CoreError::Session(_) => ErrorKind::Forbidden,
            CoreError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Stable machine-readable code, sent as `error` and `errorCode`.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::InvalidField { .. } | CoreError::InvalidBody(_) | CoreError::Invalid(_) => {
                "invalid_request"
            }
            CoreError::IllegalTransition { .. } => "invalid_state_transition",
            CoreError::AmbiguousRequest(_) => "ambiguous_request",
            CoreError::UnsupportedMediaType(_) => "unsupported_media_type",
            CoreError::MissingAttribute(_) => "missing_attribute",
            CoreError::InvalidAttribute { .. } => "invalid_attribute",
            CoreError::ActionNotFound => "action_not_found",
            CoreError::AuthenticatorNotFound => "authenticator_not_found",
            CoreError::IdempotencyConflict(_) => "idempotency_conflict",
            CoreError::TooManyRequests(_) | CoreError::Throttled { .. } => "too_many_requests",
            CoreError::CodeRecentlySent(_) => "code_recently_sent",
            CoreError::Blocked(_) => "action_blocked",
            CoreError::NotFound(_) => "not_found",
            CoreError::Refused { code, .. } => code,
            CoreError::Internal(_) => "internal_error",
            CoreError::WebAuthn(e) => e.code(),
            CoreError::Session(e) => e.code(),
        }
    }

    /// Seconds a client should wait before trying again, if known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            CoreError::Throttled { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Text safe to show a client. Internal errors get a generic sentence.
    pub fn public_description(&self) -> String {
        match self {
            CoreError::Internal(_) => "An internal error occurred.".to_owned(),
            other => other.to_string(),
        }
    }
}

/// Parse a JSON document into `T`, naming the field at fault on error.
///
/// # Errors
/// [`CoreError::InvalidBody`] with a message such as
/// `defaultUserActionResult: unknown variant "MAYBE", expected one of ...`.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CoreError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let v = read_at(de, bytes).map_err(body_error)?;
    de.end().map_err(trailing)?;
    Ok(v)
}

/// `T` read from `bytes` by `de`, or serde_json's error with the path of
/// the field at fault (see [`crate::json_path`]).
pub(crate) fn read_at<T: serde::de::DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
    bytes: &[u8],
) -> Result<T, (String, serde_json::Error)> {
    T::deserialize(de).map_err(|e| {
        let about_object = e.to_string().starts_with("missing field");
        let path = crate::json_path::path_at(bytes, e.line(), e.column(), about_object);
        (path, e)
    })
}

/// `T` read from a JSON value (a part of a configuration document), or the
/// path of the field at fault and why. Read from the value's text, as every
/// body is, so that one deserializer of `T` is compiled into the worker.
pub(crate) fn read_value<T: serde::de::DeserializeOwned>(
    v: &serde_json::Value,
) -> Result<T, (String, String)> {
    let bytes = serde_json::to_vec(v).map_err(|e| (String::new(), e.to_string()))?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    read_at(de, &bytes).map_err(|(path, e)| (path, strip_position(&e.to_string())))
}

/// Parse a request body of the Server or Client API, a tolerant reader as
/// Authsignal's API is: a field `T` does not know is ignored (the SDKs add
/// fields release by release; the Python SDK passes attributes through as
/// given), and the names of those at the top level are returned beside the
/// value so the shell can log them. A known field of the wrong type, and a
/// body that is not JSON, are errors as in [`parse_json`]. Configuration
/// documents and management bodies stay strict ([`parse_json`],
/// [`parse_json_all`] and `deny_unknown_fields`).
///
/// (`serde_ignored` would name nested fields too, but adds about 22 KiB
/// gzipped to the upload; the top level is where a misspelt field lands.)
///
/// # Errors
/// As [`parse_json`].
pub fn parse_wire<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, Vec<String>), CoreError> {
    let value = parse_json(bytes)?;
    let known = field_names::<T>();
    let ignored = if known.is_empty() {
        Vec::new()
    } else {
        top_level_keys(bytes)
            .into_iter()
            .filter(|k| !known.contains(&k.as_str()))
            .collect()
    };
    Ok((value, ignored))
}

/// The field names a derived `Deserialize` of a struct declares (its
/// `FIELDS`), read by asking it to deserialize from a deserializer that
/// only notes them; empty for anything but a struct.
fn field_names<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{Deserializer, Error as _, Visitor};
    #[derive(Debug)]
    struct Noted(&'static [&'static str]);
    impl std::fmt::Display for Noted {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field names noted")
        }
    }
    impl std::error::Error for Noted {}
    impl serde::de::Error for Noted {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Noted(&[])
        }
    }
    struct Names;
    impl<'de> Deserializer<'de> for Names {
        type Error = Noted;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Noted> {
            Err(Noted::custom(""))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Noted> {
            Err(Noted(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    match T::deserialize(Names) {
        Err(Noted(fields)) => fields,
        Ok(_) => &[],
    }
}

/// The keys of a JSON object, in order (empty for anything else).
fn top_level_keys(bytes: &[u8]) -> Vec<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some(k) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                keys.push(k);
            }
            Ok(keys)
        }
    }
    serde_json::Deserializer::from_slice(bytes)
        .deserialize_map(Keys)
        .unwrap_or_default()
}

/// A body that did not read as `T`: where and why.
fn body_error((path, inner): (String, serde_json::Error)) -> CoreError {
    if inner.is_syntax() || inner.is_eof() {
        CoreError::InvalidBody(format!("invalid JSON body: {inner}"))
    } else if path.is_empty() {
        // The body is JSON, of the wrong shape: a field missing (named as
        // the others are), or not an object at all.
        let msg = strip_position(&inner.to_string());
        match msg
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            Some(field) => CoreError::InvalidBody(format!("{field}: required")),
            None => CoreError::InvalidBody(format!("invalid body: {msg}")),
        }
    } else {
        let msg = strip_position(&inner.to_string());
        CoreError::InvalidBody(format!("{path}: {msg}"))
    }
}

/// Something after the JSON document.
fn trailing(e: serde_json::Error) -> CoreError {
    CoreError::InvalidBody(format!("invalid JSON body: {e}"))
}

/// [`parse_json`] that goes on after the first type error: each field in
/// error is noted with its location and left out, and the rest read again,
/// so that a body with three wrong fields is told all three at once. A
/// field left out this way is not reported again as missing.
///
/// # Errors
/// [`CoreError::InvalidBody`] for a body that is not JSON or has one
/// problem, [`CoreError::Invalid`] listing each when it has several.
pub fn parse_json_all<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CoreError> {
    /// More problems than a person reads at once.
    const MOST: usize = 20;
    // One problem, or one that is not a field's (syntax, a missing field):
    // as [`parse_json`] says it.
    let first = match parse_json(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Err(first);
    };
    let mut problems = Vec::new();
    let mut left_out = false;
    loop {
        // Read again from bytes, as `parse_json` does: reading from a
        // `Value` would compile a second deserializer of `T` into the wasm.
        let bytes = serde_json::to_vec(&doc).map_err(|e| CoreError::Internal(e.to_string()))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match read_at::<T>(de, &bytes) {
            Ok(v) if problems.is_empty() => return Ok(v),
            Ok(_) => break,
            Err((path, e)) => {
                let msg = strip_position(&e.to_string());
                let top = path.split(['.', '[']).next().unwrap_or("").to_owned();
                let at_root = path.is_empty();
                if at_root && left_out {
                    // Most likely a field we left out, now missing.
                    break;
                }
                problems.push(if at_root {
                    msg
                } else {
                    format!("{path}: {msg}")
                });
                let removed = doc.as_object_mut().and_then(|o| o.remove(&top)).is_some();
                if at_root || !removed || problems.len() >= MOST {
                    break;
                }
                left_out = true;
            }
        }
    }
    if problems.len() <= 1 {
        Err(first)
    } else {
        Err(CoreError::Invalid(problems))
    }
}

/// serde_json appends " at line 1 column 17"; the field path says more.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(msg).to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        a: u32,
    }

    #[test]
    fn syntax_errors_say_json_with_position() {
        let err = parse_json::<Doc>(b"{not json").unwrap_err().to_string();
        assert!(
            err.starts_with("invalid JSON body: key must be a string at line 1"),
            "{err}"
        );
        let err = parse_json::<Doc>(b"{\"a\": 1").unwrap_err().to_string();
        assert!(err.starts_with("invalid JSON body: EOF"), "{err}");
    }

    #[test]
    fn type_errors_name_the_field_without_position() {
        let err = parse_json::<Doc>(br#"{"a": "x"}"#).unwrap_err().to_string();
        assert_eq!(err, "a: invalid type: string \"x\", expected u32");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rule {
        name: String,
        priority: u32,
        #[serde(rename = "type")]
        outcome: Kind,
        #[serde(default)]
        methods: Vec<Kind>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    enum Kind {
        Allow,
        Challenge,
    }

    #[test]
    fn every_wrong_field_is_told_at_once() {
        let body = br#"{"name": 7, "priority": "high", "type": "CHALENGE", "methods": ["Allow", 3], "extra": 1}"#;
        let CoreError::Invalid(p) = parse_json_all::<Rule>(body).unwrap_err() else {
            panic!("several problems")
        };
        assert_eq!(p.len(), 5, "{p:?}");
        for start in [
            "name: invalid type: integer `7`",
            "priority: invalid type: string",
            "type: unknown variant `CHALENGE`",
            "methods[1]: ",
            "extra: unknown field `extra`",
        ] {
            assert!(p.iter().any(|x| x.starts_with(start)), "{start}: {p:?}");
        }
        // Fields left out are not reported as missing as well.
        assert!(!p.iter().any(|x| x.contains("missing field")), "{p:?}");
    }

    #[test]
    fn one_problem_reads_as_before_and_missing_fields_are_told() {
        let one = parse_json_all::<Rule>(br#"{"name": "x", "priority": -1, "type": "Allow"}"#);
        assert!(
            matches!(one, Err(CoreError::InvalidBody(ref m)) if m.starts_with("priority: invalid value")),
            "{one:?}"
        );
        let missing = parse_json_all::<Rule>(br#"{"name": "x", "type": "Allow"}"#);
        assert!(
            matches!(missing, Err(CoreError::InvalidBody(ref m)) if m == "priority: required"),
            "{missing:?}"
        );
        assert!(
            parse_json_all::<Rule>(br#"{"name": "x", "priority": 1, "type": "Allow"}"#).is_ok()
        );
        assert!(matches!(
            parse_json_all::<Rule>(b"{x"),
            Err(CoreError::InvalidBody(_))
        ));
    }
}
