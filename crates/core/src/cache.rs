//! The isolate's caches of action configurations and value lists are keyed
//! by names a client chooses (the token-less passkey routes take any action
//! code), so they must stay bounded: an absent name is cached only while
//! there is room, and a full cache drops what expired and what is absent
//! before anything else.

use std::collections::HashMap;

/// Most entries one cache holds.
pub const MAX_ENTRIES: usize = 1024;

/// Insert `value` for `key`, valid until `expires` (ms), keeping the cache
/// at most [`MAX_ENTRIES`] long.
pub fn insert_bounded<V>(
    cache: &mut HashMap<String, (u64, Option<V>)>,
    key: &str,
    expires: u64,
    value: Option<V>,
    now: u64,
) {
    if cache.len() >= MAX_ENTRIES && !cache.contains_key(key) {
        cache.retain(|_, (exp, v)| *exp > now && v.is_some());
        if cache.len() >= MAX_ENTRIES {
            if value.is_none() {
                return;
            }
            cache.clear();
        }
    }
    cache.insert(key.to_owned(), (expires, value));
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn unknown_names_cannot_grow_the_cache() {
        let mut c: HashMap<String, (u64, Option<u32>)> = HashMap::new();
        insert_bounded(&mut c, "withdraw", 10_000, Some(1), 0);
        for i in 0..100_000 {
            insert_bounded(&mut c, &format!("nope-{i}"), 10_000, None, 0);
        }
        assert!(c.len() <= MAX_ENTRIES);
        // Absent names made room; the real one stayed.
        assert_eq!(c.get("withdraw"), Some(&(10_000, Some(1))));
        // Real entries past the bound start over rather than grow.
        for i in 0..(2 * MAX_ENTRIES) {
            insert_bounded(&mut c, &format!("real-{i}"), 10_000, Some(2), 0);
        }
        assert!(c.len() <= MAX_ENTRIES);
        // Expired entries go first.
        let mut c: HashMap<String, (u64, Option<u32>)> = HashMap::new();
        for i in 0..MAX_ENTRIES {
            insert_bounded(&mut c, &format!("old-{i}"), 5, Some(3), 0);
        }
        insert_bounded(&mut c, "fresh", 100, None, 10);
        assert_eq!(c.len(), 1);
    }
}
