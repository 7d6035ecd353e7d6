//! Timestamps: milliseconds since the Unix epoch inside, RFC 3339 on the wire.
//!
//! The core never reads the clock; callers pass `now`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::error::CoreError;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

/// Format as RFC 3339 with milliseconds and `Z` (`2026-11-22T20:42:59.123Z`).
pub fn to_rfc3339(ms: Millis) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => "1970-01-01T00:00:00.000Z".to_owned(),
    }
}

/// Parse an RFC 3339 timestamp or a bare `YYYY-MM-DD` date (midnight UTC).
///
/// # Errors
/// [`CoreError::InvalidField`] naming `field`.
pub fn parse_date(s: &str, field: &str) -> Result<Millis, CoreError> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(dt) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(dt.and_utc().timestamp_millis());
    }
    Err(CoreError::field(
        field,
        format!("{s:?} is not an RFC 3339 timestamp or YYYY-MM-DD date"),
    ))
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
        assert_eq!(parse_date("1970-01-02", "fromDate"), Ok(86_400_000));
        let err = parse_date("yesterday", "fromDate").unwrap_err();
        assert!(err.to_string().starts_with("fromDate: "));
    }
}
