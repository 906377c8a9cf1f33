//! The date range a page looks at (`from`, `to`: whole days, both included, in a zone) and the
//! period before it, of the same length, for comparison.

use confab_core::FieldError;
use confab_core::buckets::{TimeZone, parse_tz};
use confab_core::time::{Millis, now_millis, parse_date_strict};
use jiff::ToSpan;
use jiff::civil::Date;

use super::session::Viewer;

/// The longest range a page draws: a year of hourly buckets stays under the series limit.
pub const MAX_DAYS: i32 = 366;
/// The range when none is given: the last week, today included.
pub const DEFAULT_DAYS: i32 = 7;

#[derive(Debug, Clone)]
pub struct Period {
    pub tz: TimeZone,
    pub zone: String,
    pub from: Date,
    pub to: Date,
    /// `[start, end)`: midnight of `from` to midnight after `to`, in the zone.
    pub start: Millis,
    pub end: Millis,
    /// The same number of days just before.
    pub prev_start: Millis,
    pub prev_end: Millis,
    pub days: i32,
}

fn midnight(field: &str, d: Date, tz: &TimeZone) -> Result<Millis, FieldError> {
    d.to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|_| FieldError::new(field, "is out of range"))
}

impl Period {
    /// Reads `from`, `to` and `tz` (the viewer's zone when absent) from a page's query.
    pub fn from_params(params: &[(String, String)], viewer: &Viewer) -> Result<Period, FieldError> {
        let get = |k: &str| {
            params.iter().rev().find(|(n, v)| n == k && !v.trim().is_empty()).map(|(_, v)| v.trim())
        };
        let (tz, zone) = match get("tz") {
            Some(name) => (parse_tz("tz", name)?, name.to_owned()),
            None => (viewer.tz.clone(), viewer.zone_name.clone()),
        };
        let today = jiff::Timestamp::from_millisecond(now_millis())
            .map_err(|_| FieldError::new("to", "is out of range"))?
            .to_zoned(tz.clone())
            .date();
        let to = match get("to") {
            Some(v) => parse_date_strict("to", v)?,
            None => today,
        };
        let from = match get("from") {
            Some(v) => parse_date_strict("from", v)?,
            None => to
                .checked_sub((DEFAULT_DAYS - 1).days())
                .map_err(|_| FieldError::new("to", "is out of range"))?,
        };
        if to < from {
            return Err(FieldError::new("to", "must not be before from"));
        }
        let days = (to - from).get_days() + 1;
        if days > MAX_DAYS {
            return Err(FieldError::new("from", format!("the range is at most {MAX_DAYS} days")));
        }
        let after =
            to.checked_add(1.day()).map_err(|_| FieldError::new("to", "is out of range"))?;
        let before = from
            .checked_sub(days.days())
            .map_err(|_| FieldError::new("from", "is out of range"))?;
        Ok(Period {
            start: midnight("from", from, &tz)?,
            end: midnight("to", after, &tz)?,
            prev_start: midnight("from", before, &tz)?,
            prev_end: midnight("from", from, &tz)?,
            tz,
            zone,
            from,
            to,
            days,
        })
    }

    /// The range as list filters (`start_time`/`end_time` on the start of conversations).
    pub fn list_query(&self) -> String {
        use confab_core::time::format_rfc3339;
        format!(
            "start_time={}&end_time={}",
            url(&format_rfc3339(self.start)),
            url(&format_rfc3339(self.end))
        )
    }

    /// Links to the last 7, 30 and 90 days ending on `to`.
    pub fn presets(&self) -> Vec<(&'static str, String)> {
        [("7 days", 7), ("30 days", 30), ("90 days", 90)]
            .into_iter()
            .filter_map(|(label, days)| {
                let from = self.to.checked_sub((days - 1).days()).ok()?;
                Some((label, format!("?from={from}&to={}&tz={}", self.to, url(&self.zone))))
            })
            .collect()
    }
}

/// A path segment or query value, percent-encoded (`/` too, and a space as `%20`, which both
/// paths and queries read as a space).
pub fn url(s: &str) -> String {
    // `byte_serialize` writes a space as `+` and a `+` as `%2B`, so this swap is exact.
    form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}
