//! Time buckets for series: `1h`, `1d`, `1w` (ISO weeks, from Monday) and `1m`, laid out in an
//! IANA time zone so that days and weeks follow the zone's calendar across DST changes (a day
//! may last 23 or 25 hours; an hour bucket is always 60 minutes of real time).

pub use jiff::tz::TimeZone;
use jiff::{RoundMode, Timestamp, ToSpan, Unit, Zoned, ZonedRound};

use crate::FieldError;
use crate::time::Millis;

/// The most buckets one series may have.
pub const MAX_BUCKETS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    Hour,
    Day,
    Week,
    Month,
}

impl Bucket {
    pub fn parse(field: &str, s: &str) -> Result<Bucket, FieldError> {
        match s {
            "1h" => Ok(Bucket::Hour),
            "1d" => Ok(Bucket::Day),
            "1w" => Ok(Bucket::Week),
            "1m" => Ok(Bucket::Month),
            _ => Err(FieldError::new(field, format!("unknown bucket `{s}`: use 1h, 1d, 1w or 1m"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "1h",
            Bucket::Day => "1d",
            Bucket::Week => "1w",
            Bucket::Month => "1m",
        }
    }

    /// The start of the bucket holding `t`.
    fn floor(self, t: &Zoned) -> Result<Zoned, jiff::Error> {
        match self {
            Bucket::Hour => t.round(ZonedRound::new().smallest(Unit::Hour).mode(RoundMode::Trunc)),
            Bucket::Day => t.start_of_day(),
            Bucket::Week => {
                let back = i64::from(t.date().weekday().to_monday_zero_offset());
                t.date().checked_sub(back.days())?.to_zoned(t.time_zone().clone())
            }
            Bucket::Month => t.date().first_of_month().to_zoned(t.time_zone().clone()),
        }
    }

    fn next(self, start: &Zoned) -> Result<Zoned, jiff::Error> {
        match self {
            // Real time: across a DST change the wall clock repeats or skips, the hour does not.
            Bucket::Hour => start.checked_add(1.hour()),
            // Calendar units: the next local midnight, Monday or first of the month.
            Bucket::Day => start.date().checked_add(1.day())?.to_zoned(start.time_zone().clone()),
            Bucket::Week => start.date().checked_add(1.week())?.to_zoned(start.time_zone().clone()),
            Bucket::Month => {
                start.date().checked_add(1.month())?.to_zoned(start.time_zone().clone())
            }
        }
    }
}

/// Parses an IANA time zone name (`Europe/Warsaw`, `UTC`).
pub fn parse_tz(field: &str, name: &str) -> Result<TimeZone, FieldError> {
    TimeZone::get(name).map_err(|_| {
        FieldError::new(
            field,
            format!("unknown time zone `{name}`: use an IANA name such as Europe/Warsaw"),
        )
    })
}

/// A bucket start as RFC 3339 with the zone's offset at that instant.
fn label(at: &Zoned) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// The buckets covering `[start, end)`: the first is the bucket holding `start`, the last the
/// one holding the last millisecond before `end`.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    pub bucket: Bucket,
    /// Bucket starts, plus the end of the last bucket, in epoch milliseconds.
    bounds: Vec<Millis>,
    labels: Vec<String>,
}

impl Buckets {
    /// Lays out the buckets; `field` names the parameter that made it too many.
    pub fn new(
        bucket: Bucket,
        tz: &TimeZone,
        start: Millis,
        end: Millis,
    ) -> Result<Buckets, FieldError> {
        if end <= start {
            return Err(FieldError::new("end_time", "must be after start_time"));
        }
        let zoned = |ms: Millis| {
            Timestamp::from_millisecond(ms)
                .map(|t| t.to_zoned(tz.clone()))
                .map_err(|_| FieldError::new("start_time", "is out of range"))
        };
        let out_of_range = |_| FieldError::new("end_time", "is out of range");
        let mut at = bucket.floor(&zoned(start)?).map_err(out_of_range)?;
        let mut bounds = vec![];
        let mut labels = vec![];
        while at.timestamp().as_millisecond() < end {
            if labels.len() == MAX_BUCKETS {
                return Err(FieldError::new(
                    "bucket",
                    format!(
                        "the range needs more than {MAX_BUCKETS} buckets of {}",
                        bucket.as_str()
                    ),
                ));
            }
            bounds.push(at.timestamp().as_millisecond());
            labels.push(label(&at));
            at = bucket.next(&at).map_err(out_of_range)?;
        }
        bounds.push(at.timestamp().as_millisecond());
        Ok(Buckets { bucket, bounds, labels })
    }

    /// One bucket that is exactly `[start, end)`, labelled with its start in the zone: for a
    /// total over a range rather than a series.
    pub fn whole(
        bucket: Bucket,
        tz: &TimeZone,
        start: Millis,
        end: Millis,
    ) -> Result<Buckets, FieldError> {
        if end <= start {
            return Err(FieldError::new("end_time", "must be after start_time"));
        }
        let at = Timestamp::from_millisecond(start)
            .map_err(|_| FieldError::new("start_time", "is out of range"))?
            .to_zoned(tz.clone());
        Ok(Buckets { bucket, bounds: vec![start, end], labels: vec![label(&at)] })
    }

    /// RFC 3339 bucket starts in the zone, as `x_values`.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `[start, end)` of bucket `i`, in epoch milliseconds.
    pub fn range(&self, i: usize) -> (Millis, Millis) {
        (self.bounds[i], self.bounds[i + 1])
    }

    /// The bucket holding `t`, if any.
    pub fn index_of(&self, t: Millis) -> Option<usize> {
        if t < self.bounds[0] || t >= *self.bounds.last()? {
            return None;
        }
        Some(self.bounds.partition_point(|&b| b <= t) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn ms(s: &str) -> Millis {
        parse_rfc3339("t", s).unwrap()
    }

    fn layout(bucket: &str, tz: &str, start: &str, end: &str) -> Buckets {
        Buckets::new(
            Bucket::parse("bucket", bucket).unwrap(),
            &parse_tz("tz", tz).unwrap(),
            ms(start),
            ms(end),
        )
        .unwrap()
    }

    fn hours(b: &Buckets, i: usize) -> f64 {
        let (s, e) = b.range(i);
        (e - s) as f64 / 3_600_000.0
    }

    #[test]
    fn warsaw_spring_forward_day_has_23_hours() {
        // 2026-03-29: Europe/Warsaw goes from +01:00 to +02:00 at 02:00.
        let b =
            layout("1d", "Europe/Warsaw", "2026-03-28T00:00:00+01:00", "2026-03-31T00:00:00+02:00");
        assert_eq!(
            b.labels(),
            ["2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"]
        );
        assert_eq!((hours(&b, 0), hours(&b, 1), hours(&b, 2)), (24.0, 23.0, 24.0));
        let h =
            layout("1h", "Europe/Warsaw", "2026-03-29T00:00:00+01:00", "2026-03-29T05:00:00+02:00");
        assert_eq!(
            h.labels(),
            [
                "2026-03-29T00:00:00+01:00",
                "2026-03-29T01:00:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-29T04:00:00+02:00"
            ]
        );
    }

    #[test]
    fn new_york_fall_back_day_has_25_hours_and_a_repeated_hour() {
        // 2026-11-01: America/New_York goes from -04:00 to -05:00 at 02:00.
        let b = layout(
            "1d",
            "America/New_York",
            "2026-11-01T00:00:00-04:00",
            "2026-11-02T00:00:00-05:00",
        );
        assert_eq!(b.len(), 1);
        assert_eq!(hours(&b, 0), 25.0);
        let h = layout(
            "1h",
            "America/New_York",
            "2026-11-01T00:00:00-04:00",
            "2026-11-01T03:00:00-05:00",
        );
        assert_eq!(
            h.labels(),
            [
                "2026-11-01T00:00:00-04:00",
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:00:00-05:00",
                "2026-11-01T02:00:00-05:00"
            ]
        );
    }

    #[test]
    fn kathmandu_quarter_hour_offset() {
        let b = layout("1d", "Asia/Kathmandu", "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z");
        assert_eq!(
            b.labels(),
            ["2026-01-01T00:00:00+05:45", "2026-01-02T00:00:00+05:45", "2026-01-03T00:00:00+05:45"]
        );
        assert_eq!(b.range(0).1, ms("2026-01-01T18:15:00Z"));
        let h = layout("1h", "Asia/Kathmandu", "2026-01-01T00:50:00Z", "2026-01-01T02:00:00Z");
        assert_eq!(h.labels()[0], "2026-01-01T06:00:00+05:45");
        assert_eq!(h.index_of(ms("2026-01-01T01:14:59.999Z")), Some(0));
        assert_eq!(h.index_of(ms("2026-01-01T01:15:00Z")), Some(1));
    }

    #[test]
    fn weeks_start_monday_and_months_vary() {
        let w = layout("1w", "UTC", "2026-11-18T12:00:00Z", "2026-11-30T00:00:00Z");
        assert_eq!(w.labels(), ["2026-11-16T00:00:00+00:00", "2026-11-23T00:00:00+00:00"]);
        let m = layout("1m", "Europe/Warsaw", "2026-01-15T00:00:00Z", "2026-04-01T00:00:00+02:00");
        assert_eq!(m.len(), 3);
        assert_eq!(m.labels()[2], "2026-03-01T00:00:00+01:00");
        assert_eq!(hours(&m, 1), 28.0 * 24.0);
        assert_eq!(hours(&m, 2), 31.0 * 24.0 - 1.0);
    }

    #[test]
    fn index_of_matches_the_ranges() {
        let b = layout("1h", "Asia/Kolkata", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
        assert_eq!(b.len(), 25, "a UTC day spans 25 half-offset hours");
        for i in 0..b.len() {
            let (s, e) = b.range(i);
            assert_eq!(b.index_of(s), Some(i));
            assert_eq!(b.index_of(e - 1), Some(i));
        }
        assert_eq!(b.index_of(b.range(0).0 - 1), None);
        assert_eq!(b.index_of(b.range(b.len() - 1).1), None);
    }

    #[test]
    fn bad_input_names_the_parameter() {
        assert_eq!(Bucket::parse("bucket", "2d").unwrap_err().field, "bucket");
        assert_eq!(parse_tz("tz", "Mars/Olympus").unwrap_err().field, "tz");
        let utc = TimeZone::UTC;
        assert_eq!(Buckets::new(Bucket::Day, &utc, 10, 10).unwrap_err().field, "end_time");
        let err = Buckets::new(
            Bucket::Hour,
            &utc,
            ms("2020-01-01T00:00:00Z"),
            ms("2026-01-01T00:00:00Z"),
        )
        .unwrap_err();
        assert_eq!(err.field, "bucket");
        assert_eq!(Buckets::new(Bucket::Hour, &utc, 0, 10_000 * 3_600_000).unwrap().len(), 10_000);
    }
}
