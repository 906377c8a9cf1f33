//! Time as Confab stores it (UTC epoch milliseconds, `i64`) and as clients write it (RFC 3339,
//! epoch milliseconds, or a bare `YYYY-MM-DD` where a vendor API uses dates).

use jiff::{Timestamp, civil::Date, tz::TimeZone};

use crate::FieldError;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// 2000-01-01T00:00:00Z: nothing a chatbot said is older.
pub const EARLIEST: Millis = 946_684_800_000;
/// How far ahead of the server's clock a client's timestamp may be.
pub const MAX_FUTURE: Millis = 24 * 3600 * 1000;
pub const DAY: Millis = 24 * 3600 * 1000;

pub fn now_millis() -> Millis {
    Timestamp::now().as_millisecond()
}

/// Parses an RFC 3339 timestamp (`2026-11-21T10:00:00Z`, `…+01:00`, fractional seconds allowed).
pub fn parse_rfc3339(field: &str, s: &str) -> Result<Millis, FieldError> {
    s.parse::<Timestamp>().map(|t| t.as_millisecond()).map_err(|_| {
        FieldError::new(
            field,
            format!("`{s}` is not an RFC 3339 timestamp such as 2026-01-31T09:30:00Z"),
        )
    })
}

/// A timestamp given either as RFC 3339 text or as integer epoch milliseconds.
pub fn parse_json_timestamp(field: &str, v: &serde_json::Value) -> Result<Millis, FieldError> {
    match v {
        serde_json::Value::String(s) => parse_rfc3339(field, s),
        serde_json::Value::Number(n) => n.as_i64().ok_or_else(|| {
            FieldError::new(field, "must be an RFC 3339 string or integer epoch milliseconds")
        }),
        _ => {
            Err(FieldError::new(field, "must be an RFC 3339 string or integer epoch milliseconds"))
        }
    }
}

/// Checks a message time against the accepted window: not before 2000, at most 24 h ahead of `now`.
pub fn check_window(field: &str, ts: Millis, now: Millis) -> Result<Millis, FieldError> {
    if ts < EARLIEST {
        return Err(FieldError::new(field, "must not be before 2000-01-01T00:00:00Z"));
    }
    if ts > now + MAX_FUTURE {
        return Err(FieldError::new(field, "must not be more than 24 hours in the future"));
    }
    Ok(ts)
}

/// A date strictly as `YYYY-MM-DD` (`2023-07-10`, never `2023-7-10`).
pub fn parse_date_strict(field: &str, s: &str) -> Result<Date, FieldError> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    let bad = || {
        FieldError::new(field, format!("`{s}` is not a date in YYYY-MM-DD form, e.g. 2023-07-10"))
    };
    if !shaped {
        return Err(bad());
    }
    s.parse::<Date>().map_err(|_| bad())
}

/// Midnight UTC at the start of `date`, in epoch milliseconds.
pub fn date_start_utc(date: Date) -> Millis {
    date.to_zoned(TimeZone::UTC).map(|z| z.timestamp().as_millisecond()).unwrap_or(EARLIEST)
}

/// Serializes a time as [`format_rfc3339`] gives it.
pub fn serialize_rfc3339<S: serde::Serializer>(t: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*t))
}

/// RFC 3339 in UTC with millisecond precision: `2026-11-21T10:00:00.000Z`.
pub fn format_rfc3339(ms: Millis) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(t) => format!("{t:.3}"),
        Err(_) => String::new(),
    }
}

/// RFC 3339 in UTC with microsecond precision, as Botuj writes `createdOn`.
pub fn format_rfc3339_micros(ms: Millis) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(t) => format!("{t:.6}"),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_zero_padded() {
        assert!(parse_date_strict("startDate", "2023-07-10").is_ok());
        let err = parse_date_strict("startDate", "2023-7-10").unwrap_err();
        assert_eq!(err.field, "startDate");
        assert!(parse_date_strict("d", "2023-02-30").is_err());
        assert!(parse_date_strict("d", "20230710").is_err());
        assert!(parse_date_strict("d", "2023-07-1x").is_err());
    }

    #[test]
    fn timestamps_parse_and_format() {
        let ms = parse_rfc3339("t", "2024-06-23T11:34:35.397Z").unwrap();
        assert_eq!(format_rfc3339(ms), "2024-06-23T11:34:35.397Z");
        assert_eq!(format_rfc3339_micros(ms), "2024-06-23T11:34:35.397000Z");
        assert_eq!(parse_rfc3339("t", "2024-06-23T13:34:35.397+02:00").unwrap(), ms);
        assert_eq!(parse_json_timestamp("t", &serde_json::json!(ms)).unwrap(), ms);
        assert!(parse_json_timestamp("t", &serde_json::json!(true)).is_err());
        assert!(parse_rfc3339("t", "yesterday").is_err());
    }

    #[test]
    fn window_rejects_ancient_and_far_future() {
        let now = parse_rfc3339("t", "2026-01-01T00:00:00Z").unwrap();
        assert!(check_window("t", EARLIEST - 1, now).is_err());
        assert!(check_window("t", now + MAX_FUTURE + 1, now).is_err());
        assert!(check_window("t", now + MAX_FUTURE, now).is_ok());
    }

    #[test]
    fn date_start_is_utc_midnight() {
        let d = parse_date_strict("d", "2023-07-10").unwrap();
        assert_eq!(format_rfc3339(date_start_utc(d)), "2023-07-10T00:00:00.000Z");
    }
}
