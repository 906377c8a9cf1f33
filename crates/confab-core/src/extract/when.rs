//! Dates and times as people type them, relative to when the message was sent. (Being written.)

use std::ops::Range;

use jiff::Zoned;
use jiff::civil::{Date, DateTime, Time};

/// Every calendar date in `text`, resolved against `now` (the message's time in the bot's zone).
pub fn find_dates(_text: &str, _now: &Zoned) -> Vec<(Range<usize>, Date)> {
    Vec::new()
}

/// Every time of day in `text`.
pub fn find_times(_text: &str) -> Vec<(Range<usize>, Time)> {
    Vec::new()
}

/// Every moment in `text` that has both a date and a time, resolved against `now`.
pub fn find_datetimes(_text: &str, _now: &Zoned) -> Vec<(Range<usize>, DateTime)> {
    Vec::new()
}
