//! Timestamps: milliseconds since the Unix epoch inside, RFC 3339 on the wire.
//!
//! The core never reads the clock; callers pass `now`. Dates are converted
//! with the proleptic Gregorian calendar's closed-form day count (Howard
//! Hinnant's `days_from_civil`), which is all the wire needs: a date-time
//! library's formatting and parsing machinery would cost the upload more
//! than these few lines.

use crate::error::CoreError;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

/// An hour in milliseconds (history windows).
pub const HOUR: Millis = 3_600_000;
/// A day in milliseconds, the longest history window.
pub const DAY: Millis = 24 * HOUR;
const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a date (month 1–12, day 1–31).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Format as RFC 3339 with milliseconds and `Z` (`2026-11-22T20:42:59.123Z`).
/// Instants outside the years 0000–9999 are written as the epoch.
pub fn to_rfc3339(ms: Millis) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(DAY_MS));
    if !(0..=9999).contains(&year) {
        return "1970-01-01T00:00:00.000Z".to_owned();
    }
    let in_day = ms.rem_euclid(DAY_MS);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// Parse an RFC 3339 timestamp or a bare `YYYY-MM-DD` date (midnight UTC).
///
/// # Errors
/// [`CoreError::InvalidField`] naming `field`.
pub fn parse_date(s: &str, field: &str) -> Result<Millis, CoreError> {
    parse(s).ok_or_else(|| {
        CoreError::field(
            field,
            format!("{s:?} is not an RFC 3339 timestamp or YYYY-MM-DD date"),
        )
    })
}

/// A fixed-width decimal field of `s` at `at..at + len`.
fn digits(s: &[u8], at: usize, len: usize) -> Option<i64> {
    let part = s.get(at..at + len)?;
    part.iter().try_fold(0i64, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

fn parse(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    let (year, month, day) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
    {
        return None;
    }
    let date = days_from_civil(year, month, day) * DAY_MS;
    if b.len() == 10 {
        return Some(date);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (h, m, sec) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Fractional seconds: any number of digits, kept to the millisecond.
    let mut at = 19;
    let mut milli = 0;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        at = start;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return None;
        }
        let take = (at - start).min(3);
        milli = digits(b, start, take)? * 10i64.pow(3 - take as u32);
    }
    let offset_min = match b.get(at)? {
        b'Z' | b'z' if b.len() == at + 1 => 0,
        sign @ (b'+' | b'-') if b.len() == at + 6 && b.get(at + 3) == Some(&b':') => {
            let (oh, om) = (digits(b, at + 1, 2)?, digits(b, at + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let total = oh * 60 + om;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    Some(date + ((h * 60 + m - offset_min) * 60 + sec) * 1000 + milli)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn formats_with_millis_and_z() {
        assert_eq!(to_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(to_rfc3339(1_795_380_179_123), "2026-11-22T20:42:59.123Z");
        assert_eq!(to_rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(to_rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(to_rfc3339(i64::MAX), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn parses_timestamps_and_dates() {
        assert_eq!(
            parse_date("2026-11-22T20:42:59.123Z", "fromDate"),
            Ok(1_795_380_179_123)
        );
        assert_eq!(
            parse_date("2026-11-22T21:42:59.123+01:00", "fromDate"),
            Ok(1_795_380_179_123)
        );
        assert_eq!(
            parse_date("2026-11-22T20:42:59.123456789Z", "fromDate"),
            Ok(1_795_380_179_123)
        );
        assert_eq!(
            parse_date("2026-11-22t20:42:59z", "fromDate"),
            Ok(1_795_380_179_000)
        );
        assert_eq!(
            parse_date("2026-11-22T12:12:59.1-08:30", "fromDate"),
            Ok(1_795_380_179_100)
        );
        assert_eq!(parse_date("1970-01-02", "fromDate"), Ok(86_400_000));
        assert_eq!(parse_date("2000-02-29", "fromDate"), Ok(951_782_400_000));
        for bad in [
            "yesterday",
            "2026-02-29",
            "2026-13-01",
            "2026-11-22T24:00:00Z",
            "2026-11-22T20:42:59",
            "2026-11-22T20:42:59.Z",
            "2026-11-22T20:42:59+0100",
            "2026-11-22T20:42:59Zjunk",
            "2026-1-02",
            "",
        ] {
            let err = parse_date(bad, "fromDate").unwrap_err();
            assert!(err.to_string().starts_with("fromDate: "), "{bad:?}");
        }
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        let mut days = days_from_civil(1900, 1, 1);
        for year in 1900..2300 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(year, month, day), days);
                    assert_eq!(civil_from_days(days), (year, month, day));
                    days += 1;
                }
            }
        }
    }
}
