//! Chatlayer's response types, with the integer types Sinch's OpenAPI gives them: every number
//! of a `Serie` (`values`, `mean`, `max`, `min`, `sum`) and a transition's `depth` are int32, so
//! they are `i32` here and the JSON can never hold a float. The one place where Confab's numbers
//! become Chatlayer's: worked out exactly from integers (counts, milliseconds), rounded half
//! away from zero, then clamped to the int32 range (see `docs/compat.md`).

use std::collections::BTreeMap;

use confab_core::conversation::{Conversation, Message};
use confab_core::flow::StepKey;
use confab_core::rollup::Counters;
use confab_core::series::{self, Cells, SeriesRequest};
use confab_core::time::format_rfc3339;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The body of the three series operations: `{"data": SeriesData}`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SeriesResponse {
    pub data: SeriesData,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SeriesData {
    pub series: Vec<Serie>,
    pub series_labels: Vec<String>,
    pub x_values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Serie {
    pub values: Vec<i32>,
    pub mean: i32,
    pub max: i32,
    pub min: i32,
    pub sum: i32,
    /// Confab's addition: the group-by values of the serie (`{}` without `group_by`).
    pub labels: BTreeMap<String, String>,
}

/// The body of the flow operation.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Flow {
    pub bot_id: String,
    pub conversation_id: String,
    pub user_id: Option<String>,
    pub transitions: Vec<FlowTransition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FlowTransition {
    pub id: String,
    pub from_step: StepKey,
    pub to_step: StepKey,
    pub depth: i32,
    pub timestamp: String,
}

/// `v` in the int32 range: larger numbers are `i32::MAX` (smaller ones `i32::MIN`), never
/// wrapped.
pub fn clamp(v: i128) -> i32 {
    v.clamp(i32::MIN.into(), i32::MAX.into()) as i32
}

/// `num / den` rounded half away from zero; `0` when `den` is `0` (the mean of nothing).
pub fn div_round(num: i128, den: i128) -> i128 {
    if den == 0 {
        return 0;
    }
    let q = (2 * num.abs() + den.abs()) / (2 * den.abs());
    if (num < 0) != (den < 0) { -q } else { q }
}

/// Whole seconds of `total_ms` shared by `n` conversations: the mean is taken on the
/// milliseconds and rounded once, so 499.5 ms is 0 s and 500 ms is 1 s.
pub fn mean_seconds(total_ms: i64, n: i64) -> i128 {
    div_round(total_ms.into(), i128::from(n) * 1000)
}

impl Serie {
    /// A serie of exact integers: the summaries are worked out on them before any is clamped,
    /// and an empty serie's are `0`.
    pub fn new(values: &[i128], labels: BTreeMap<String, String>) -> Serie {
        let sum: i128 = values.iter().sum();
        Serie {
            values: values.iter().map(|&v| clamp(v)).collect(),
            mean: clamp(div_round(sum, values.len() as i128)),
            max: clamp(values.iter().copied().max().unwrap_or(0)),
            min: clamp(values.iter().copied().min().unwrap_or(0)),
            sum: clamp(sum),
            labels,
        }
    }
}

/// A count from a native serie: an integer there (a float or `null` would be a bug upstream; it
/// is rounded, or `0`, rather than sent).
fn count(v: &Value) -> i128 {
    match v.as_i64() {
        Some(n) => n.into(),
        None => v.as_f64().map_or(0, |f| f.round() as i128),
    }
}

impl SeriesData {
    /// A native series of counts (conversations, messages), each serie summed up again on its
    /// integer values.
    pub fn counts(native: series::SeriesData) -> SeriesData {
        SeriesData {
            series: native
                .series
                .into_iter()
                .map(|s| {
                    let values: Vec<i128> = s.values.iter().map(count).collect();
                    Serie::new(&values, s.labels)
                })
                .collect(),
            series_labels: native.series_labels,
            x_values: native.x_values,
        }
    }

    /// The mean conversation duration in whole seconds per bucket of an ungrouped request, from
    /// the buckets' total milliseconds (`0` where no conversation started).
    pub fn mean_durations(req: &SeriesRequest, cells: &Cells<Counters>) -> SeriesData {
        let mut totals = vec![Counters::default(); req.buckets.len()];
        for group in cells.groups.values() {
            for (total, c) in totals.iter_mut().zip(group) {
                total.add(c, 1);
            }
        }
        let values: Vec<i128> =
            totals.iter().map(|c| mean_seconds(c.duration_ms, c.conversations)).collect();
        SeriesData {
            series: vec![Serie::new(&values, BTreeMap::new())],
            series_labels: vec![req.stat.name().to_owned()],
            x_values: req.buckets.labels().to_vec(),
        }
    }
}

impl Flow {
    /// A conversation's transitions, or only the one a message made when `message_id` is given:
    /// the native flow with Chatlayer's integer depth.
    pub fn new(c: &Conversation, messages: &[Message], message_id: Option<&str>) -> Flow {
        let native = crate::api::views::flow(c, messages, message_id);
        Flow {
            bot_id: native.bot_id,
            conversation_id: native.conversation_id,
            user_id: native.user_id,
            transitions: native
                .transitions
                .into_iter()
                .map(|t| FlowTransition {
                    timestamp: format_rfc3339(t.timestamp),
                    depth: clamp(t.depth.into()),
                    id: t.id,
                    from_step: t.from_step,
                    to_step: t.to_step,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_away_from_zero() {
        let cases =
            [(23, 3, 8), (5, 3, 2), (2, 3, 1), (1, 3, 0), (3, 2, 2), (5, 2, 3), (-3, 2, -2)];
        for (num, den, want) in cases {
            assert_eq!(div_round(num, den), want, "{num}/{den}");
        }
        assert_eq!(div_round(7, 0), 0);
    }

    #[test]
    fn seconds_round_once_on_milliseconds() {
        assert_eq!(mean_seconds(251_252, 1), 251);
        assert_eq!(mean_seconds(500, 1), 1);
        assert_eq!(mean_seconds(499, 1), 0);
        // 499 and 500 ms: a mean of 499.5 ms, under half a second.
        assert_eq!(mean_seconds(999, 2), 0);
        // 1.4 and 1.6 s: 1.5 s, not the mean of whole seconds (1).
        assert_eq!(mean_seconds(3_000, 2), 2);
        assert_eq!(mean_seconds(0, 0), 0);
    }

    #[test]
    fn summaries_are_exact_then_clamped() {
        let s = Serie::new(&[7, 8, 8], BTreeMap::new());
        assert_eq!((s.values, s.mean, s.max, s.min, s.sum), (vec![7, 8, 8], 8, 8, 7, 23));
        let big = i128::from(i32::MAX) + 10;
        let s = Serie::new(&[big, big], BTreeMap::new());
        assert_eq!((s.values, s.mean, s.sum), (vec![i32::MAX, i32::MAX], i32::MAX, i32::MAX));
        let s = Serie::new(&[i32::MAX.into(), 1], BTreeMap::new());
        assert_eq!((s.max, s.min, s.sum, s.mean), (i32::MAX, 1, i32::MAX, 1 << 30));
        let s = Serie::new(&[], BTreeMap::new());
        assert_eq!((s.values.len(), s.mean, s.max, s.min, s.sum), (0, 0, 0, 0, 0));
    }
}
