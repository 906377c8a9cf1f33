//! Numbers and amounts of money as people type them. (Being written; see the issue-4 brief.)

use std::ops::Range;

/// An amount of money; `currency` is an ISO 4217 code when the text names one.
#[derive(Debug, Clone, PartialEq)]
pub struct Money {
    pub amount: f64,
    pub currency: Option<&'static str>,
}

/// Every number in `text`, in order, with its byte range.
pub fn find_numbers(_text: &str) -> Vec<(Range<usize>, f64)> {
    Vec::new()
}

/// Every amount of money in `text`, in order, with its byte range.
pub fn find_money(_text: &str) -> Vec<(Range<usize>, Money)> {
    Vec::new()
}
