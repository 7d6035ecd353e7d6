//! Value lists: named sets of strings or numbers (sanctioned accounts,
//! blocked countries, trusted ASNs) that rule conditions test membership in
//! with `{"inValueList": [<expression>, "<alias>"]}`.
//!
//! A list is stored as its items; for evaluation it becomes a hash set, so
//! membership in a 100,000-entry list is one lookup, not a scan.
//!
//! A string list says how its items and the values looked up in it are
//! normalised (`normalize`), the same way on write and on lookup, so that
//! `nz-0000-666 ` is the sanctioned `NZ-0000-666`:
//! - `foldWidth`: full-width forms of ASCII (`ＮＺ－０`) and the ideographic
//!   space are their ASCII selves (the part of Unicode's NFKC that matters for
//!   identifiers people type, without NFKC's tables in the upload);
//! - `trim`: white space at either end is dropped;
//! - `stripSeparators`: spaces, `-`, `.`, `_` and `/` anywhere are dropped
//!   (account numbers and IBANs, written with or without separators);
//! - `caseFold`: Latin letters compare without case (`A`–`Z` as `a`–`z`,
//!   full-width ones too after `foldWidth`); other scripts compare as they
//!   are (Unicode's case tables would cost the upload more than the
//!   identifiers lists hold need).
//!
//! Steps run in that order, whatever order the list names them in. A string
//! list without `normalize` gets `["foldWidth", "trim", "caseFold"]`: lists are
//! mostly identifiers people and apps type in varying case and width, and a
//! blocklist that misses a spelling is the failure that matters. Give
//! `"normalize": []` for exact, byte-for-byte matching.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CoreError, parse_json_all};
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

/// One normalisation step of a string list (see the module's header). On
/// the wire it is its name (`foldWidth`, `trim`, `stripSeparators`,
/// `caseFold`), checked by [`ValueListInput::parse`] as a plain string (a
/// derived enum deserializer costs the upload more than this check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Normalization {
    /// Full-width ASCII forms and the ideographic space as ASCII.
    FoldWidth,
    /// Drop white space at either end.
    Trim,
    /// Drop spaces, `-`, `.`, `_` and `/` anywhere.
    StripSeparators,
    /// Compare Latin letters without case.
    CaseFold,
}

impl Normalization {
    /// Every step, in the order they apply.
    pub const ALL: [Normalization; 4] = [
        Normalization::FoldWidth,
        Normalization::Trim,
        Normalization::StripSeparators,
        Normalization::CaseFold,
    ];

    /// Its wire name.
    pub fn name(self) -> &'static str {
        match self {
            Normalization::FoldWidth => "foldWidth",
            Normalization::Trim => "trim",
            Normalization::StripSeparators => "stripSeparators",
            Normalization::CaseFold => "caseFold",
        }
    }

    /// The step of a wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.name() == name)
    }
}

/// What a string list without `normalize` gets.
pub const DEFAULT_NORMALIZATION: [Normalization; 3] = [
    Normalization::FoldWidth,
    Normalization::Trim,
    Normalization::CaseFold,
];

/// `s` normalised by `steps` (in their fixed order, see [`Normalization`]).
///
/// Every value a rule looks up in a list goes through this, so it makes
/// one pass for the characters, trims what it built, and a second pass
/// only to strip or fold (each step as `normalize_in_steps` in the tests,
/// which keeps the two in agreement).
pub fn normalize(s: &str, steps: &[Normalization]) -> String {
    if steps.is_empty() {
        return s.to_owned();
    }
    let has = |n: Normalization| steps.contains(&n);
    let fold_width = has(Normalization::FoldWidth);
    // Invisible formatting characters (soft hyphen, zero-width spaces and
    // joiners, word joiners, byte order marks) go with any normalisation:
    // no one types them meaning something.
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
        {
            continue;
        }
        out.push(if fold_width { folded_width(c) } else { c });
    }
    if has(Normalization::Trim) {
        let trimmed = out.trim();
        if trimmed.len() != out.len() {
            out = trimmed.to_owned();
        }
    }
    let strip = has(Normalization::StripSeparators);
    let case_fold = has(Normalization::CaseFold);
    if strip || case_fold {
        // Folding a case never makes a separator, nor stripping a letter:
        // the two steps can share the pass.
        out = out
            .chars()
            .filter(|&c| !(strip && is_separator(c)))
            .map(|c| if case_fold { folded_case(c) } else { c })
            .collect();
    }
    out
}

/// A full-width form as its ASCII character, the ideographic space as a space.
fn folded_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        other => other,
    }
}

/// White space, ASCII separators and the Unicode dashes and minus.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.' | '_' | '/' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}'
        )
}

/// Latin letters without case (and the Kelvin sign, long s and dotted or
/// dotless I as the letters they stand for).
fn folded_case(c: char) -> char {
    match c {
        '\u{212A}' => 'k',
        '\u{017F}' => 's',
        '\u{0130}' | '\u{0131}' => 'i',
        c => c.to_ascii_lowercase(),
    }
}

/// The body of `PUT /v1/management/value-lists/{alias}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueListInput {
    /// Human-readable name.
    pub name: String,
    /// `string` or `number`.
    pub item_type: ItemType,
    /// How string items and looked-up values are normalised. Default for
    /// string lists: [`DEFAULT_NORMALIZATION`]; number lists take none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Vec<String>>,
    /// The items (strings normalised); duplicates are kept once.
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
        let mut input: ValueListInput = parse_json_all(body)?;
        let mut problems = Vec::new();
        if input.name.trim().is_empty() || input.name.len() > 200 {
            problems.push("name: must be 1 to 200 characters".to_owned());
        }
        if input.items.len() > MAX_ITEMS {
            problems.push(format!("items: at most {MAX_ITEMS} items"));
        }
        if input.item_type == ItemType::Number
            && input.normalize.as_ref().is_some_and(|n| !n.is_empty())
        {
            problems.push("normalize: only string lists are normalised".to_owned());
        }
        for (i, step) in input.normalize.iter().flatten().enumerate() {
            if Normalization::from_name(step).is_none() {
                problems.push(format!(
                    "normalize[{i}]: {step:?} is not one of foldWidth, trim, stripSeparators, caseFold"
                ));
            }
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
        let steps = input.normalization();
        for item in &mut input.items {
            if let Value::String(s) = item {
                *s = normalize(s, &steps);
            }
        }
        // An item that normalises to nothing would match every blank or
        // separator-only value.
        input
            .items
            .retain(|v| !matches!(v, Value::String(s) if s.is_empty()));
        let mut seen = HashSet::new();
        input
            .items
            .retain(|v| seen.insert(key_of(v).unwrap_or_default()));
        Ok(input)
    }

    /// The normalisation in force: as given, or the default of its type.
    pub fn normalization(&self) -> Vec<Normalization> {
        match (&self.normalize, self.item_type) {
            (_, ItemType::Number) => Vec::new(),
            (Some(n), ItemType::String) => n
                .iter()
                .filter_map(|s| Normalization::from_name(s))
                .collect(),
            (None, ItemType::String) => DEFAULT_NORMALIZATION.to_vec(),
        }
    }

    /// [`Self::normalization`] by name, for the wire.
    pub fn normalization_names(&self) -> Vec<&'static str> {
        self.normalization()
            .into_iter()
            .map(Normalization::name)
            .collect()
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
    normalize: Vec<Normalization>,
    items: HashSet<String>,
}

impl ValueSet {
    /// Build the hash set of a list (its string items normalised, also when
    /// stored before normalisation existed).
    pub fn from_list(list: &ValueListInput) -> Self {
        let normalize = list.normalization();
        ValueSet {
            item_type: list.item_type,
            items: list
                .items
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(crate::policy::lists::normalize(s, &normalize))
                        .filter(|s| !s.is_empty()),
                    other => key_of(other),
                })
                .collect(),
            normalize,
        }
    }

    /// Whether a string is in a string list, normalised as the list says.
    pub fn contains_str(&self, s: &str) -> bool {
        self.item_type == ItemType::String && self.items.contains(&normalize(s, &self.normalize))
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

    /// `normalize` against the steps one after another (proptest runs
    /// natively only).
    #[cfg(not(target_arch = "wasm32"))]
    mod one_pass {
        use super::*;

        /// The steps one after another, as `normalize` made them before it took
        /// one pass: the reference it must agree with.
        fn normalize_in_steps(s: &str, steps: &[Normalization]) -> String {
            let has = |n: Normalization| steps.contains(&n);
            // Invisible formatting characters (soft hyphen, zero-width spaces and
            // joiners, word joiners, byte order marks) go with any normalisation:
            // no one types them meaning something.
            let s: String = if steps.is_empty() {
                s.to_owned()
            } else {
                s.chars()
                    .filter(|c| !matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'))
                    .collect()
            };
            let mut out: String = if has(Normalization::FoldWidth) {
                s.chars()
                    .map(|c| match c {
                        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                        '\u{3000}' => ' ',
                        other => other,
                    })
                    .collect()
            } else {
                s.to_owned()
            };
            if has(Normalization::Trim) {
                out = out.trim().to_owned();
            }
            if has(Normalization::StripSeparators) {
                // White space, ASCII separators and the Unicode dashes and minus.
                out.retain(|c| {
                    !(c.is_whitespace()
                        || matches!(
                            c,
                            '-' | '.' | '_' | '/' | '\u{2010}'
                                ..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}'
                        ))
                });
            }
            if has(Normalization::CaseFold) {
                out = out
                    .chars()
                    .map(|c| match c {
                        '\u{212A}' => 'k',
                        '\u{017F}' => 's',
                        '\u{0130}' | '\u{0131}' => 'i',
                        c => c.to_ascii_lowercase(),
                    })
                    .collect();
            }
            out
        }

        proptest::proptest! {
            #[test]
            fn one_pass_normalises_as_the_steps_in_turn(
                s in "[ a-zA-Z0-9._/-]{0,6}[\u{00AD}\u{200B}-\u{200F}\u{2060}\u{FEFF}\u{FF01}-\u{FF5E}\u{3000}\u{2010}-\u{2015}\u{2212}\u{212A}\u{017F}\u{0130}\u{0131}\u{00A0}\u{2028}\t\nÄéß]{0,4}[ a-zA-Z0-9._/-]{0,6}",
                mask in 0u8..16,
            ) {
                let steps: Vec<Normalization> = Normalization::ALL
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, n)| n)
                    .collect();
                proptest::prop_assert_eq!(normalize(&s, &steps), normalize_in_steps(&s, &steps));
            }
        }
    }

    #[test]
    fn strings_and_numbers_are_hash_sets() {
        let s = ValueListInput::parse(
            br#"{"name":"Sanctioned","itemType":"string","items":["acc-1","acc-2","acc-1"]}"#,
        )
        .unwrap();
        assert_eq!(s.items.len(), 2, "duplicates are kept once");
        let set = ValueSet::from_list(&s);
        assert!(set.contains_str("acc-1"));
        assert!(
            set.contains_str("ACC-1"),
            "string lists fold case by default"
        );
        assert!(!set.contains_str("acc1"));
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
            normalize: None,
            items,
        };
        let set = ValueSet::from_list(&list);
        assert_eq!(set.len(), 100_000);
        assert!(set.contains_str("acct-99999"));
        assert!(!set.contains_str("acct-100000"));
    }

    #[test]
    fn lists_match_the_way_their_owners_mean() {
        let accounts = ValueListInput::parse(
            br#"{"name":"Sanctioned","itemType":"string","normalize":["trim","caseFold","foldWidth","stripSeparators"],
                 "items":["NZ-0000-666","nz 0000 666","GB12 3456"]}"#,
        )
        .unwrap();
        assert_eq!(
            accounts.items,
            vec![Value::from("nz0000666"), Value::from("gb123456")],
            "stored normalised, once"
        );
        let set = ValueSet::from_list(&accounts);
        for spelling in [
            "NZ-0000-666",
            "nz-0000-666 ",
            " NZ.0000.666",
            "ＮＺ－００００－６６６",
            "nz/0000/666",
            "GB-1234-56",
        ] {
            assert!(set.contains_str(spelling), "{spelling:?}");
        }
        assert!(!set.contains_str("NZ-0000-667"));
        // Unicode dashes, the minus sign and invisible characters are separators too.
        for spelling in [
            "NZ\u{2010}0000\u{2010}666",
            "NZ\u{2212}0000\u{2212}666",
            "NZ0000\u{200B}666",
            "NZ-00\u{00AD}00-666",
        ] {
            assert!(set.contains_str(spelling), "{spelling:?}");
        }
        // An item that normalises to nothing is dropped: blanks match nothing.
        let blank = ValueListInput::parse(br#"{"name":"B","itemType":"string","normalize":["trim","stripSeparators"],"items":[" ","-","x"]}"#).unwrap();
        assert_eq!(blank.items, vec![Value::from("x")]);
        assert!(!ValueSet::from_list(&blank).contains_str(""));
        assert!(!ValueSet::from_list(&blank).contains_str(" - "));
        // Exact matching, when a list asks for it.
        let exact = ValueListInput::parse(
            br#"{"name":"Tokens","itemType":"string","normalize":[],"items":["aBc"]}"#,
        )
        .unwrap();
        let set = ValueSet::from_list(&exact);
        assert!(set.contains_str("aBc"));
        assert!(!set.contains_str("abc"));
        assert!(!set.contains_str(" aBc"));
        // The default: width, ends and case; separators count.
        let default =
            ValueListInput::parse(br#"{"name":"C","itemType":"string","items":["KP"]}"#).unwrap();
        assert_eq!(default.normalization(), DEFAULT_NORMALIZATION.to_vec());
        let set = ValueSet::from_list(&default);
        assert!(set.contains_str("kp "));
        assert!(set.contains_str("ＫＰ"));
        assert!(
            set.contains_str("\u{212A}p"),
            "the Kelvin sign folds as Go folds it"
        );
        assert!(!set.contains_str("K-P"));
        let err = ValueListInput::parse(
            br#"{"name":"S","itemType":"string","normalize":["trim","lower"],"items":[]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("normalize[1]: \"lower\""), "{err}");
        // Numbers are not normalised.
        let err = ValueListInput::parse(
            br#"{"name":"N","itemType":"number","normalize":["trim"],"items":[1]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("normalize"), "{err}");
    }
}
