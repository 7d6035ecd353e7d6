//! Where in a JSON document serde_json stopped: the path (`rules[0].name`)
//! of the field whose value it was reading when `T`'s `Deserialize`
//! refused it, found from the error's line and column by walking the text.
//!
//! This names the field at fault as `serde_path_to_error` did, without
//! wrapping every type's deserializer in a second, path-tracking one: that
//! wrapper was compiled once per type read, about 5% of the worker's code.
//! A unit test holds the two to the same answers.

/// One open container on the way to the error.
enum Frame {
    /// An object, with the key last read in it and whether a key comes next.
    Object { key: Option<String>, want_key: bool },
    /// An array, with the index of the element being read.
    Array(usize),
}

/// The byte offset of serde_json's (1-based) line and column.
fn offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match bytes
            .get(start..)
            .and_then(|b| b.iter().position(|c| *c == b'\n'))
        {
            Some(i) => start += i + 1,
            None => return bytes.len(),
        }
    }
    (start + column).min(bytes.len())
}

/// The path to the value serde_json was reading at `line`:`column` of
/// `bytes` (a document it has read up to there); `about_object` when the
/// error is about the innermost object itself (a missing field), whose
/// own path is then the answer. Empty for the document itself.
pub(crate) fn path_at(bytes: &[u8], line: usize, column: usize, about_object: bool) -> String {
    let mut end = offset(bytes, line, column);
    // A missing field is reported at the object's closing brace, which has
    // been read: the object is still the one the error is about.
    if about_object && end > 0 && bytes.get(end - 1) == Some(&b'}') {
        end -= 1;
    }
    let mut frames: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        let Some(&c) = bytes.get(i) else { break };
        match c {
            b'{' => frames.push(Frame::Object {
                key: None,
                want_key: true,
            }),
            b'[' => frames.push(Frame::Array(0)),
            b'}' | b']' => {
                frames.pop();
            }
            b',' => match frames.last_mut() {
                Some(Frame::Object { want_key, .. }) => *want_key = true,
                Some(Frame::Array(n)) => *n += 1,
                None => {}
            },
            b'"' => {
                let start = i;
                i += 1;
                while let Some(&b) = bytes.get(i) {
                    match b {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                if let Some(Frame::Object { key, want_key }) = frames.last_mut()
                    && *want_key
                {
                    let text = bytes.get(start..=i).unwrap_or_default();
                    *key = serde_json::from_slice::<String>(text).ok();
                    *want_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if about_object && let Some(Frame::Object { key, .. }) = frames.last_mut() {
        *key = None;
    }
    let mut path = String::new();
    for f in &frames {
        match f {
            Frame::Object { key: Some(k), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array(n) => {
                path.push('[');
                path.push_str(&n.to_string());
                path.push(']');
            }
        }
    }
    path
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::policy::config::ActionConfigurationInput;
    use crate::policy::rules::RuleInput;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// Our path for `T` read from `doc`, and `serde_path_to_error`'s.
    fn both<T: serde::de::DeserializeOwned>(doc: &str) -> (String, String) {
        let ours = match serde_json::from_str::<T>(doc) {
            Ok(_) => panic!("{doc} was accepted"),
            Err(e) => path_at(
                doc.as_bytes(),
                e.line(),
                e.column(),
                e.to_string().starts_with("missing field"),
            ),
        };
        let de = &mut serde_json::Deserializer::from_str(doc);
        let theirs = match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(_) => panic!("{doc} was accepted"),
            Err(e) => e.path().to_string(),
        };
        (ours, if theirs == "." { String::new() } else { theirs })
    }

    #[test]
    fn names_the_field_as_serde_path_to_error_does() {
        let rules = [
            r#"{"name": 7, "outcome": "ALLOW"}"#,
            r#"{"name": "n", "outcome": "MAYBE"}"#,
            r#"{"name": "n", "outcome": "ALLOW", "priority": "high"}"#,
            r#"{"name": "n", "outcome": "ALLOW", "extra": 1}"#,
            r#"{"outcome": "ALLOW"}"#,
            r#"{"name": "n", "outcome": "ALLOW", "verificationMethods": ["PASSKEY", "NOPE"]}"#,
            r#"{"name": "n", "outcome": "ALLOW", "conditions": {"and": [{"var": 1}, 2]}}"#,
            "{\n  \"name\": \"n\",\n  \"outcome\":\n   \"ALLOW\",\n  \"priority\": -3\n}",
            r#"{"name": "a \"quoted\" name", "outcome": "ALLOW", "pri\u006frity": []}"#,
            r#"{"name": "é€ — ünïcode", "outcome": "ALLOW", "priority": "x"}"#,
            r#"{"name": "n", "outcome": "ALLOW", "description": {"x": [1, {"y": 2}]}, "priority": true}"#,
        ];
        for doc in rules {
            let (ours, theirs) = both::<RuleInput>(doc);
            assert_eq!(ours, theirs, "{doc}");
        }
        let configs = [
            r#"{"defaultUserActionResult": "MAYBE"}"#,
            r#"{"defaultUserActionResult": "ALLOW", "verificationMethods": "PASSKEY"}"#,
            r#"{"defaultUserActionResult": "ALLOW", "messages": {"en": 3}}"#,
            r#"{}"#,
            r#"{"defaultUserActionResult": "ALLOW", "unknown": {}}"#,
        ];
        for doc in configs {
            let (ours, theirs) = both::<ActionConfigurationInput>(doc);
            assert_eq!(ours, theirs, "{doc}");
        }
        let proxies = [
            r#"{"originUrl": 5}"#,
            r#"{"originUrl": "https://app.example", "routes": [{"method": "POST"}]}"#,
            r#"{"originUrl": "https://app.example", "routes": [{"method": "POST", "path": "/w", "action": "w", "bodyLimit": "x"}]}"#,
            r#"{"originUrl": "https://app.example", "identity": {"jwt": {"cookie": 1}}}"#,
            r#"{"originUrl": "https://app.example", "routes": [{"method": "POST", "path": "/w", "action": "w", "custom": {"to": {"type": "number"}}}]}"#,
            r#"{"originUrl": "https://app.example", "routes": [{"method": "POST", "path": "/w", "action": "w", "custom": {"to": 5}}]}"#,
            r#"{"originUrl": "https://app.example", "identity": {"trustedHeader": {"header": "X-User"}}}"#,
            r#"{"originUrl": "https://app.example", "routes": [{"method": "POST", "path": "/w", "action": "w", "custom": {"to": {"from": "body:/to", "type": "date"}}}]}"#,
        ];
        for doc in proxies {
            let (ours, theirs) = both::<crate::proxy::ProxyConfig>(doc);
            assert_eq!(ours, theirs, "{doc}");
        }
    }

    #[test]
    fn finds_the_offset_of_a_line_and_column() {
        let doc = b"{\n  \"a\": 1,\n  \"b\": x\n}";
        assert_eq!(path_at(doc, 3, 8, false), "b");
        assert_eq!(path_at(doc, 9, 1, false), "");
    }
}
