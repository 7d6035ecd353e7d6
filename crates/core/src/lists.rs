//! Value lists: named sets of strings or numbers (sanctioned accounts,
//! blocked countries, trusted ASNs) that rule conditions test membership in
//! with `{"inValueList": [<expression>, "<alias>"]}`.
//!
//! A list is stored as its items; for evaluation it becomes a hash set, so
//! membership in a 100,000-entry list is one lookup, not a scan.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CoreError, parse_json};
use crate::time::Millis;

/// Most items a list may hold.
pub const MAX_ITEMS: usize = 200_000;
/// Longest string item, in bytes.
pub const MAX_ITEM_LEN: usize = 256;

/// What a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemType {
    /// Strings, compared exactly.
    String,
    /// Numbers, compared by value (`5` equals `5.0`).
    Number,
}

/// The body of `PUT /v1/management/value-lists/{alias}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueListInput {
    /// Human-readable name.
    pub name: String,
    /// `string` or `number`.
    pub item_type: ItemType,
    /// The items; duplicates are kept once.
    pub items: Vec<Value>,
}

/// A stored value list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueList {
    /// Its alias, as conditions name it.
    pub alias: String,
    /// The list itself.
    pub input: ValueListInput,
    /// When it was first stored.
    pub created_at: Millis,
    /// When it was last replaced; also its version for compiled rules.
    pub updated_at: Millis,
}

impl ValueListInput {
    /// Parse and validate a PUT body.
    ///
    /// # Errors
    /// [`CoreError::InvalidBody`] naming the field for type errors;
    /// [`CoreError::Invalid`] listing every bad item (at most 20 shown).
    pub fn parse(body: &[u8]) -> Result<Self, CoreError> {
        let mut input: ValueListInput = parse_json(body)?;
        let mut problems = Vec::new();
        if input.name.trim().is_empty() || input.name.len() > 200 {
            problems.push("name: must be 1 to 200 characters".to_owned());
        }
        if input.items.len() > MAX_ITEMS {
            problems.push(format!("items: at most {MAX_ITEMS} items"));
        }
        for (i, item) in input.items.iter().enumerate() {
            let ok = match input.item_type {
                ItemType::String => item.as_str().is_some_and(|s| s.len() <= MAX_ITEM_LEN),
                ItemType::Number => item.as_f64().is_some_and(f64::is_finite),
            };
            if !ok {
                problems.push(format!(
                    "items[{i}]: {item} is not a {} (itemType)",
                    match input.item_type {
                        ItemType::String => "string of at most 256 bytes",
                        ItemType::Number => "finite number",
                    }
                ));
                if problems.len() >= 20 {
                    problems.push("…and possibly more".to_owned());
                    break;
                }
            }
        }
        if !problems.is_empty() {
            return Err(CoreError::Invalid(problems));
        }
        let mut seen = HashSet::new();
        input
            .items
            .retain(|v| seen.insert(key_of(v).unwrap_or_default()));
        Ok(input)
    }
}

/// The lookup key of an item: strings as they are, numbers in one
/// canonical decimal form so that `5` and `5.0` are the same item.
pub fn key_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_f64().map(number_key),
        _ => None,
    }
}

/// Canonical key of a number.
pub fn number_key(f: f64) -> String {
    if f == 0.0 {
        // -0 and 0 are the same number.
        "0".to_owned()
    } else {
        format!("{f}")
    }
}

/// A list ready for lookups.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueSet {
    /// What it holds.
    pub item_type: ItemType,
    items: HashSet<String>,
}

impl ValueSet {
    /// Build the hash set of a list.
    pub fn from_list(list: &ValueListInput) -> Self {
        ValueSet {
            item_type: list.item_type,
            items: list.items.iter().filter_map(key_of).collect(),
        }
    }

    /// Whether a string is in a string list.
    pub fn contains_str(&self, s: &str) -> bool {
        self.item_type == ItemType::String && self.items.contains(s)
    }

    /// Whether a number is in a number list.
    pub fn contains_number(&self, f: f64) -> bool {
        self.item_type == ItemType::Number && self.items.contains(&number_key(f))
    }

    /// How many distinct items it holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn strings_and_numbers_are_hash_sets() {
        let s = ValueListInput::parse(
            br#"{"name":"Sanctioned","itemType":"string","items":["acc-1","acc-2","acc-1"]}"#,
        )
        .unwrap();
        assert_eq!(s.items.len(), 2, "duplicates are kept once");
        let set = ValueSet::from_list(&s);
        assert!(set.contains_str("acc-1"));
        assert!(!set.contains_str("ACC-1"));
        assert!(!set.contains_number(1.0));
        let n = ValueListInput::parse(
            br#"{"name":"ASNs","itemType":"number","items":[13335, 5.0, 0]}"#,
        )
        .unwrap();
        let set = ValueSet::from_list(&n);
        assert!(set.contains_number(13335.0));
        assert!(set.contains_number(5.0));
        assert!(set.contains_number(-0.0));
        assert!(!set.contains_str("13335"));
    }

    #[test]
    fn bad_items_are_located() {
        let err =
            ValueListInput::parse(br#"{"name":"x","itemType":"number","items":[1,"two",3,null]}"#)
                .unwrap_err();
        let CoreError::Invalid(p) = err else {
            panic!("{err:?}")
        };
        assert_eq!(p.len(), 2);
        assert!(
            p[0].starts_with("items[1]: \"two\" is not a finite number"),
            "{p:?}"
        );
        assert!(p[1].starts_with("items[3]: null"), "{p:?}");
    }

    #[test]
    fn unknown_fields_and_item_types_are_named() {
        let err =
            ValueListInput::parse(br#"{"name":"x","itemType":"date","items":[]}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("itemType: unknown variant"),
            "{err}"
        );
        let err = ValueListInput::parse(br#"{"name":"x","itemType":"string","items":[],"kind":1}"#)
            .unwrap_err();
        assert!(err.to_string().contains("kind"), "{err}");
    }

    #[test]
    fn a_hundred_thousand_items_are_a_lookup() {
        let items: Vec<Value> = (0..100_000)
            .map(|i| Value::String(format!("acct-{i}")))
            .collect();
        let list = ValueListInput {
            name: "big".into(),
            item_type: ItemType::String,
            items,
        };
        let set = ValueSet::from_list(&list);
        assert_eq!(set.len(), 100_000);
        assert!(set.contains_str("acct-99999"));
        assert!(!set.contains_str("acct-100000"));
    }
}
