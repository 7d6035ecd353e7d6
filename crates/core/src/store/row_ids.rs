//! The user object's action row ids: time-ordered, so that its table
//! grows at its end and "created at or after" is a range of ids (see the
//! worker's `src/users/actions_table.rs`).

use crate::time::Millis;

/// Ids per millisecond of creation time: room for this many actions of
/// one user in one millisecond before the ids run ahead of the clock
/// (they stay unique and ordered). Ids stay below 2^53 until the year 2248,
/// so JavaScript carries them exactly.
pub const ID_PER_MS: i64 = 1024;

/// The lowest id an action created at or after `from` has.
pub fn first_id_from(from: Millis) -> i64 {
    from.max(0).saturating_mul(ID_PER_MS)
}

/// The ids of rows moved from an earlier layout, given as (old row id,
/// creation time) in their order: (old row id, new id), increasing, each
/// at least its creation time's [`first_id_from`].
pub fn new_ids(old: &[(i64, Millis)]) -> Vec<(i64, i64)> {
    let mut last = 0i64;
    old.iter()
        .map(|&(rowid, created_at)| {
            last = last.saturating_add(1).max(first_id_from(created_at));
            (rowid, last)
        })
        .collect()
}

/// A mark of the old row ids (the last row counted) in new ids: the new id
/// of the last row at or before it, 0 when none is.
pub fn new_mark(ids: &[(i64, i64)], mark: i64) -> i64 {
    ids.iter()
        .take_while(|(old, _)| *old <= mark)
        .last()
        .map_or(0, |(_, new)| *new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_follow_the_old_order_and_never_fall_behind_the_clock() {
        // Two in one millisecond, then a clock that went back.
        let ids = new_ids(&[(1, 1000), (2, 1000), (5, 2000), (9, 1500)]);
        assert_eq!(
            ids,
            vec![
                (1, 1_024_000),
                (2, 1_024_001),
                (5, 2_048_000),
                (9, 2_048_001)
            ]
        );
        assert!(ids.windows(2).all(|w| w[0].1 < w[1].1));
    }

    #[test]
    fn the_count_mark_moves_to_the_new_id_of_the_last_row_it_counted() {
        let ids = new_ids(&[(1, 1000), (2, 1000), (5, 2000)]);
        assert_eq!(new_mark(&ids, 0), 0);
        assert_eq!(new_mark(&ids, 2), 1_024_001);
        assert_eq!(new_mark(&ids, 4), 1_024_001);
        assert_eq!(new_mark(&ids, 5), 2_048_000);
        assert_eq!(new_mark(&ids, 99), 2_048_000);
    }

    #[test]
    fn created_since_is_a_range_of_ids() {
        assert_eq!(first_id_from(1000), 1_024_000);
        assert_eq!(first_id_from(-5), 0);
        assert_eq!(first_id_from(i64::MAX), i64::MAX);
    }
}
