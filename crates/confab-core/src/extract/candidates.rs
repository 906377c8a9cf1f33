//! Every typed value a message holds, whether or not anyone asked for it: dates, times,
//! moments, counts, amounts, emails, phones, URLs, names, a choice's values, a pattern's
//! matches — each with its span and normalised value. Which key, if any, a value fills is
//! decided afterwards, by evidence (`super::assign`).

use std::ops::Range;
use std::sync::LazyLock;

use jiff::Zoned;
use regex::Regex;
use serde_json::Value;

use super::{Context, cues, numbers, typed, when};
use crate::datapoints::{Definition, Kind, Schema};

/// A value found in a message.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) kind: Kind,
    pub(crate) range: Range<usize>,
    pub(crate) value: Value,
    /// A choice's or pattern's definition (by index): those values belong to one key.
    pub(crate) def: Option<usize>,
    /// For a count, the words right after it that say what it counts ("3 bedrooms").
    pub(crate) counted: Option<Range<usize>>,
}

/// Which kinds the schema has, so that a message is only searched for what can fill a key.
pub(crate) fn wanted(schema: &Schema) -> [bool; 12] {
    let mut out = [false; 12];
    for d in &schema.definitions {
        out[d.kind as usize] = true;
    }
    out
}

/// Words after which a number counts people: "party of 4", "group of 3", "table for 2".
static COUNT_ONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)(?:^|[^\p{L}])(?:just (?:me|myself|for me|one)|only (?:me|myself|for me)|by myself",
        r"|on my own|for myself|myself only|me alone|alone|solo|single person|only one person",
        r"|just the one|one person)(?:[^\p{L}]|$)"
    ))
    .expect("a valid pattern")
});

static COUNT_TWO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)(?:^|[^\p{L}])(?:me and (?:my|a) (?:wife|husband|partner|friend|girlfriend",
        r"|boyfriend|son|daughter|mom|mother|dad|father|colleague|brother|sister)|my (?:wife",
        r"|husband|partner|friend|girlfriend|boyfriend) and (?:i|me)|the two of us|both of us",
        r"|a couple of people|for a couple|for two)(?:[^\p{L}]|$)"
    ))
    .expect("a valid pattern")
});

/// A message that closes the conversation ("thanks, that's all for today").
static CLOSING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(?:thanks?|thank you|that'?s all|that is all|that'?s it|that will be all",
        r"|that'll be all|that'll do|nothing else|nothing more|all i need|all for (?:now|today)",
        r"|for your help|have a (?:good|great|nice))\b"
    ))
    .expect("a valid pattern")
});

static TODAY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(?:today|tonight)$").expect("a valid pattern"));

/// Every value of the kinds `want` names in `text`, without overlaps between dates, times,
/// amounts and counts (a time is not also a count, "8th" in a date is not a number).
pub(crate) fn find(
    schema: &Schema,
    want: &[bool; 12],
    text: &str,
    ctx: &Context,
    now: &Zoned,
) -> Vec<Candidate> {
    let has = |k: Kind| want[k as usize];
    let mut out: Vec<Candidate> = Vec::new();
    let plain = |kind: Kind, range: Range<usize>, value: Value| Candidate {
        kind,
        range,
        value,
        def: None,
        counted: None,
    };
    let numeric = has(Kind::Date)
        || has(Kind::Time)
        || has(Kind::Datetime)
        || has(Kind::Number)
        || has(Kind::Money);
    let mut taken: Vec<Range<usize>> = Vec::new();
    if numeric || has(Kind::Phone) {
        for (range, phone) in typed::find_unsolicited(Kind::Phone, text, ctx) {
            taken.push(range.clone());
            if has(Kind::Phone) {
                out.push(plain(Kind::Phone, range, Value::String(phone)));
            }
        }
    }
    for kind in [Kind::Email, Kind::Url] {
        if has(kind) {
            for (range, v) in typed::find_unsolicited(kind, text, ctx) {
                out.push(plain(kind, range, Value::String(v)));
            }
        }
    }
    if numeric {
        if has(Kind::Datetime) {
            for (range, dt) in when::find_datetimes_in(text, now, ctx.day_first()) {
                if let Ok(z) = dt.to_zoned(ctx.zone.clone()) {
                    let v = z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
                    out.push(plain(Kind::Datetime, range, Value::String(v)));
                }
            }
        }
        let dates = when::find_dates_in(text, now, ctx.day_first());
        let times = when::find_times(text);
        let closing = CLOSING.is_match(text);
        for (range, d) in &dates {
            taken.push(range.clone());
            // "That's all for today, thanks": a way of speaking, not a date.
            let idiom = closing && TODAY.is_match(&text[range.clone()]);
            if has(Kind::Date) && !idiom {
                let v = d.strftime("%Y-%m-%d").to_string();
                out.push(plain(Kind::Date, range.clone(), Value::String(v)));
            }
        }
        for (range, t) in &times {
            // "Dec 3 in the evening": the number is the day, not the hour.
            if dates.iter().any(|(d, _)| overlaps(d, range) && !contains(range, d)) {
                continue;
            }
            taken.push(range.clone());
            if has(Kind::Time) {
                let v = t.strftime("%H:%M").to_string();
                out.push(plain(Kind::Time, range.clone(), Value::String(v)));
            }
        }
        let mut money_spans = Vec::new();
        if has(Kind::Money) {
            for (range, m) in numbers::find_money(text) {
                if taken.iter().any(|t| overlaps(t, &range)) {
                    continue;
                }
                money_spans.push(range.clone());
                out.push(plain(Kind::Money, range, typed::money(m.amount, m.currency)));
            }
        }
        if has(Kind::Number) || has(Kind::Money) {
            for (range, n) in numbers::find_numbers(text) {
                if taken.iter().chain(&money_spans).any(|t| overlaps(t, &range)) {
                    continue;
                }
                // "a 3-star hotel", "10-minute walk": a number hyphened to a word describes.
                if text[range.end..].starts_with('-') {
                    continue;
                }
                let counted = counted_after(text, range.end);
                out.push(Candidate { counted, ..plain(Kind::Number, range, typed::number(n)) });
            }
            for (re, n) in [(&*COUNT_ONE, 1), (&*COUNT_TWO, 2)] {
                for m in re.find_iter(text) {
                    let range = m.range();
                    if out.iter().any(|c| c.kind == Kind::Number && overlaps(&c.range, &range)) {
                        continue;
                    }
                    out.push(Candidate {
                        counted: Some(range.clone()),
                        ..plain(Kind::Number, range, typed::number(f64::from(n)))
                    });
                }
            }
        }
    }
    if has(Kind::Name)
        && let Some((range, name)) = cues::name_said_at(text)
    {
        out.push(plain(Kind::Name, range, Value::String(name)));
    }
    for (i, d) in schema.definitions.iter().enumerate() {
        match d.kind {
            Kind::Choice => {
                if let Some((range, v)) = choice_named(d, text) {
                    out.push(Candidate { def: Some(i), ..plain(Kind::Choice, range, v.into()) });
                }
            }
            Kind::Regex => {
                if let Some(m) = d.pattern.as_ref().and_then(|p| p.find(text)) {
                    let v = Value::String(m.as_str().to_owned());
                    out.push(Candidate { def: Some(i), ..plain(Kind::Regex, m.range(), v) });
                }
            }
            _ => {}
        }
    }
    out.sort_by_key(|c| c.range.start);
    out
}

/// The one or two words after a number that name what it counts, skipping an adjective
/// or two ("3 bedrooms", "2 adult tickets", "4 of us").
fn counted_after(text: &str, end: usize) -> Option<Range<usize>> {
    let rest = &text[end..];
    if !rest.starts_with([' ', '\u{a0}']) {
        return None;
    }
    let words = super::slots::tokens(rest);
    let first = words.first()?;
    // Only words on the same clause: "2, please" counts nothing.
    if rest[..first.start].trim().chars().any(|c| !c.is_whitespace()) {
        return None;
    }
    let last =
        words.iter().take(3).take_while(|r| !rest[..r.start].contains([',', '.', '?', '!', ';']));
    let last = last.last()?;
    Some(end + first.start..end + last.end)
}

/// A choice's allowed value named as whole words (longest first, so "Pro Plus" beats "Pro").
fn choice_named(d: &Definition, text: &str) -> Option<(Range<usize>, String)> {
    let lower = text.to_lowercase();
    let mut by_len: Vec<&String> = d.values.iter().collect();
    by_len.sort_by_key(|v| std::cmp::Reverse(v.chars().count()));
    by_len.into_iter().find_map(|v| {
        let at = typed::word_matches(&lower, &v.to_lowercase()).next()?;
        // Lower-casing can change byte lengths; the range is only a position here.
        let end = (at + v.len()).min(text.len());
        let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let end = (end..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        Some((at..end, v.clone()))
    })
}

pub(crate) fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}
