//! Dates and times as people type them, resolved against when the message was sent: "2026-12-01",
//! "Dec 1st", "the 1st of December", "tomorrow", "in two weeks", "Friday next week", "the 8th";
//! "16:45", "4pm", "half past 11 in the morning", "19h30", "19 Uhr", "6ish", "8 tonight".
//!
//! Reading rules where text is ambiguous (weeks start on Monday, as ISO weeks do):
//! - "12/01/2026" is month/day unless the first number is over 12 ("13/01/2026" is day/month);
//!   dots are always day.month ("1.12.2026"); without a year ("15/12", "03.12.") they count only
//!   as the whole message or after a word that introduces a date ("on", "el", "le", "am", "na"),
//!   since in running text they are fractions, ratings, "24/7" or decimals;
//! - a date without a year is its next occurrence on or after today; "the 8th" is this month's
//!   8th if that is today or later, else the next month that has one;
//! - "Friday" is the next Friday strictly after today; "this Friday" may be today; "next Friday"
//!   and "Friday next week" are the Friday of next week; "last Friday" is strictly before today;
//! - an hour with no am/pm and no hint ("4 o'clock", "half past 11", "at 9") is read on the
//!   24-hour clock, so 1–12 are morning; "in the afternoon/evening", "tonight", "at night", or
//!   "tonight"/"evening" just before the time ("tonight at 8") move it to the afternoon/evening;
//! - a bare number is a time only after "at" ("at 9", 1–24) and not when a unit or currency
//!   follows ("at 9 euros"); "ten to five" after "from" is a range, not 4:50;
//! - ranges leave out a leading "at" or "on" but keep words that carry meaning ("in 3 days").

use std::ops::Range;
use std::sync::LazyLock;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::{ToSpan, Zoned};
use regex::{Captures, Regex, RegexSet};

use super::numbers::{self, ORD_UNITS, TENS, UNITS, alternation};

/// Every calendar date in `text`, resolved against `now` (the message's time in the bot's zone).
/// "3/8" is March 8th here; [`find_dates_in`] reads it as 3 August where days come first.
pub fn find_dates(text: &str, now: &Zoned) -> Vec<(Range<usize>, Date)> {
    find_dates_in(text, now, false)
}

/// [`find_dates`], with numeric dates read day first ("3/8" = 3 August) when `day_first`, as
/// most of the world outside the United States writes them.
pub fn find_dates_in(text: &str, now: &Zoned, day_first: bool) -> Vec<(Range<usize>, Date)> {
    date_hits(text, now.date(), day_first).into_iter().map(|h| (h.range, h.date)).collect()
}

/// Every time of day in `text`.
pub fn find_times(text: &str) -> Vec<(Range<usize>, Time)> {
    let hits = TIME_RULES.captures(text).filter_map(|(rule, c)| time_hit(rule, &c, text)).collect();
    without_overlaps(hits, |h: &(Range<usize>, Time)| h.0.clone())
}

/// Every moment in `text` that has both a date and a time, resolved against `now`. A time pairs
/// with the date next to it ("tomorrow at 4pm", "at 4pm tomorrow"); a time left over pairs with
/// the nearest date before it, else after it ("tomorrow at 4 or 5pm" gives two); a time with no
/// date anywhere in the text gives nothing.
pub fn find_datetimes(text: &str, now: &Zoned) -> Vec<(Range<usize>, DateTime)> {
    find_datetimes_in(text, now, false)
}

/// [`find_datetimes`], numeric dates read as [`find_dates_in`] does.
pub fn find_datetimes_in(
    text: &str,
    now: &Zoned,
    day_first: bool,
) -> Vec<(Range<usize>, DateTime)> {
    let dates = find_dates_in(text, now, day_first);
    // A time inside a date ("Dec 3 in the evening" read as 3pm) is a misreading; a date inside a
    // time ("8 tonight") is part of it.
    let times = find_times(text).into_iter().filter(|(tr, _)| {
        !dates.iter().any(|(dr, _)| {
            dr.start < tr.end && tr.start < dr.end && !(tr.start <= dr.start && dr.end <= tr.end)
        })
    });
    let mut parts: Vec<(Range<usize>, Option<Date>, Option<Time>)> =
        dates.iter().map(|(r, d)| (r.clone(), Some(*d), None)).collect();
    parts.extend(times.map(|(r, t)| (r, None, Some(t))));
    parts.sort_by_key(|p| p.0.start);
    let n = parts.len();
    let is_time = |i: usize| i < n && parts[i].2.is_some();
    let mut paired = vec![false; n];
    let mut pairs = Vec::new();
    let mut i = 0;
    while i + 1 < n {
        let date_then_time = parts[i].1.is_some() && is_time(i + 1);
        let time_then_date = is_time(i) && parts[i + 1].1.is_some() && !is_time(i + 2);
        if date_then_time || time_then_date {
            let (d, t) = if date_then_time { (i, i + 1) } else { (i + 1, i) };
            pairs.push((d, t));
            paired[i] = true;
            paired[i + 1] = true;
            i += 2;
        } else {
            i += 1;
        }
    }
    for t in (0..n).filter(|&t| is_time(t) && !paired[t]) {
        let before = (0..t).rev().find(|&d| parts[d].1.is_some());
        if let Some(d) = before.or_else(|| (t + 1..n).find(|&d| parts[d].1.is_some())) {
            pairs.push((d, t));
        }
    }
    let mut out: Vec<_> = pairs
        .into_iter()
        .filter_map(|(d, t)| {
            let (dr, date, _) = &parts[d];
            let (tr, _, time) = &parts[t];
            Some((dr.start.min(tr.start)..dr.end.max(tr.end), (*date)?.to_datetime((*time)?)))
        })
        .collect();
    out.sort_by_key(|(r, _)| r.start);
    out
}

/// The few words before `end` that can change how a match reads ("tonight at", "el"): looking
/// further back is only slower.
fn lead_in(text: &str, end: usize) -> &str {
    let mut from = end.saturating_sub(40);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    &text[from..end]
}

/// Whether a match at `range` starts and ends on word boundaries as Unicode sees them where
/// ASCII's see one: no letter or digit of another script joined to its first or last word
/// character ("maré" holds no "mar").
fn unicode_bounded(text: &str, range: &Range<usize>) -> bool {
    let joined = |inside: Option<char>, outside: Option<char>| {
        inside.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && outside.is_some_and(|c| !c.is_ascii() && c.is_alphanumeric())
    };
    let (before, inner, after) = (&text[..range.start], &text[range.clone()], &text[range.end..]);
    !joined(inner.chars().next(), before.chars().next_back())
        && !joined(inner.chars().next_back(), after.chars().next())
}

/// Keeps, of overlapping hits, the one that starts first and then the longest.
fn without_overlaps<T>(mut hits: Vec<T>, range: impl Fn(&T) -> Range<usize>) -> Vec<T> {
    hits.sort_by_key(|h| (range(h).start, std::cmp::Reverse(range(h).end)));
    let mut out: Vec<T> = Vec::with_capacity(hits.len());
    for h in hits {
        if out.last().is_none_or(|prev| range(prev).end <= range(&h).start) {
            out.push(h);
        }
    }
    out
}

/// Builds a case-insensitive pattern, splicing in the shared pieces named in braces. Word
/// boundaries are ASCII ones: with Unicode's, a message with one accented letter anywhere
/// cannot use the fast automaton and falls back to a backtracking search (half the walk's time
/// on multilingual traffic). They differ only beside a non-ASCII letter or digit: there the
/// rules check a match's ends ([`unicode_bounded`]); the patterns that read the few words around
/// a match ("tonight at", "el") do not need to.
fn pattern(template: &str) -> Regex {
    Regex::new(&expand(template)).expect("date and time patterns are valid")
}

/// A pattern's text: `template` with the shared pieces spliced in, case-insensitive.
fn expand(template: &str) -> String {
    let ones = alternation(UNITS, 1, 10);
    let tens = alternation(TENS, 0, 8);
    let ord_ones = alternation(ORD_UNITS, 1, 10);
    let ord_word = format!(
        "(?:twenty|thirty)[- ]?(?:{ord_ones})|{}|twentieth|thirtieth",
        alternation(ORD_UNITS, 1, 20)
    );
    let pieces = [
        (
            "{NUM}",
            format!("[0-9]{{1,2}}|(?:{tens})(?:[- ](?:{ones}))?|{}", alternation(UNITS, 0, 20)),
        ),
        ("{DAY}", format!("[0-9]{{1,2}}(?:st|nd|rd|th)?|{ord_word}")),
        ("{ORDDAY}", format!("[0-9]{{1,2}}(?:st|nd|rd|th)|{ord_word}")),
        ("{HOUR}", format!("[0-9]{{1,2}}|{}", alternation(UNITS, 1, 13))),
        (
            "{MONTH}",
            concat!(
                "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?",
                "|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
            )
            .into(),
        ),
        (
            "{WD}",
            "monday|tuesday|wednesday|thursday|friday|saturday|sunday|tues?|thu(?:rs?)?|fri".into(),
        ),
        ("{MER}", r"[ap]\.m\.|[ap]\.?m\b".into()),
        (
            "{PERIOD}",
            concat!(
                r"in\s+the\s+(?:morning|afternoon|evening|night)|at\s+night|tonight",
                r"|this\s+(?:morning|afternoon|evening)"
            )
            .into(),
        ),
    ];
    let mut s = template.to_owned();
    for (name, piece) in pieces {
        s = s.replace(name, &format!("(?:{piece})"));
    }
    format!("(?i){}", s.replace(r"\b", r"(?-u:\b)"))
}

/// A family of rules (dates, times), each a pattern with captures, and one set of them all:
/// the set's single pass over a message says which rules match at all, so that only those run
/// their slower search with captures — most messages hold no date or time.
struct Rules<R> {
    set: RegexSet,
    rules: Vec<(R, Regex)>,
}

impl<R: Copy> Rules<R> {
    fn new(templates: &[(R, &str)]) -> Rules<R> {
        let patterns: Vec<String> = templates.iter().map(|(_, t)| expand(t)).collect();
        let compile = |p: &String| Regex::new(p).expect("date and time patterns are valid");
        Rules {
            set: RegexSet::new(&patterns).expect("date and time patterns are valid"),
            rules: templates.iter().zip(&patterns).map(|((r, _), p)| (*r, compile(p))).collect(),
        }
    }

    /// Every match of the rules that match `text`, with its rule, in rule order.
    fn captures<'t>(&self, text: &'t str) -> impl Iterator<Item = (R, Captures<'t>)> {
        self.set.matches(text).into_iter().flat_map(move |i| {
            let (rule, re) = &self.rules[i];
            re.captures_iter(text)
                .filter(|c| unicode_bounded(text, &c.get_match().range()))
                .map(|c| (*rule, c))
        })
    }
}

// ---- Dates ----

#[derive(Debug, Clone, Copy, PartialEq)]
enum DateRule {
    Iso,
    Numeric,
    DayMonth,
    MonthDay,
    Relative,
    Offset,
    Weekday,
    NextWeekWeekday,
    DayOfMonth,
    TheDay,
    EndOfMonth,
}

static DATE_RULES: LazyLock<Rules<DateRule>> = LazyLock::new(|| {
    use DateRule::*;
    let rules = [
        (
            Iso,
            concat!(
                r"\b(?P<y>[0-9]{4})(?P<s1>[-/.])(?P<m>[0-9]{1,2})(?P<s2>[-/.])",
                r"(?P<d>[0-9]{1,2})(?:T|\b)"
            ),
        ),
        (
            Numeric,
            concat!(
                r"\b(?P<a>[0-9]{1,2})(?P<s1>[/.-])(?P<b>[0-9]{1,2})",
                r"(?:(?P<s2>[/.-])(?P<y>[0-9]{4}|[0-9]{2}))?\b"
            ),
        ),
        (
            DayMonth,
            concat!(
                r"\b(?:the\s+)?(?P<d>{DAY})\s+(?:of\s+)?(?P<m>{MONTH})\b\.?",
                r"(?:,?\s+(?P<y>[0-9]{4})\b)?"
            ),
        ),
        (MonthDay, r"\b(?P<m>{MONTH})\b\.?\s+(?:the\s+)?(?P<d>{DAY})\b(?:,?\s+(?P<y>[0-9]{4})\b)?"),
        (
            Relative,
            concat!(
                r"\b(?:(?P<plus2>(?:the\s+)?day\s+after\s+tomorrow)",
                r"|(?P<minus2>(?:the\s+)?day\s+before\s+yesterday)",
                r"|(?P<plus1>tomorrow|tmrw?)|(?P<minus1>yesterday)",
                r"|today|tonight|this\s+(?:morning|afternoon|evening))\b"
            ),
        ),
        (Offset, r"\bin\s+(?P<n>{NUM}|an?|a\s+couple\s+of)\s+(?P<u>day|week|month|year)s?\b"),
        (Offset, r"\b(?P<n>{NUM}|an?)\s+(?P<u>day|week|month|year)s?\s+from\s+(?:now|today)\b"),
        (
            Weekday,
            concat!(
                r"\b(?:(?P<q>this\s+coming|this|next|last|coming)\s+)?(?P<wd>{WD})\b",
                r"(?:,?\s+(?P<w>this|next)\s+week\b)?"
            ),
        ),
        // "Wed", "Sat", "Sun" and "Mon" are words too: they count only before a day ("Sat 5th").
        (Weekday, r"\b(?P<wd>mon|wed|sat|sun)\b\.?"),
        (NextWeekWeekday, r"\bnext\s+week(?:'s)?,?\s+(?:on\s+)?(?P<wd>{WD})\b"),
        (DayOfMonth, r"\b(?:the\s+)?(?P<d>{ORDDAY})\s+of\s+(?P<rel>this|next|last|the)\s+month\b"),
        (
            TheDay,
            concat!(
                r"\b(?:(?P<the>the)|on|(?:{WD}|mon|wed|sat|sun)\.?,?)",
                r"\s+(?P<d>[0-9]{1,2}(?:st|nd|rd|th))\b"
            ),
        ),
        (EndOfMonth, r"\b(?:the\s+)?end\s+of\s+(?:(?P<next>next)|the|this)\s+month\b"),
    ];
    Rules::new(&rules)
});

#[derive(Debug, Clone)]
struct DateHit {
    range: Range<usize>,
    date: Date,
    /// A plain weekday, which a day of month right after it overrides ("Friday the 8th").
    weekday_only: bool,
    /// A weekday written as a word of its own ("sat", "sun"): dropped unless a day follows.
    needs_day: bool,
    /// Names a day of the month rather than counting from today.
    explicit: bool,
}

fn date_hits(text: &str, today: Date, day_first: bool) -> Vec<DateHit> {
    let hits = DATE_RULES
        .captures(text)
        .filter_map(|(rule, c)| date_hit(rule, &c, text, today, day_first))
        .collect();
    let mut out: Vec<DateHit> = Vec::new();
    for h in without_overlaps(hits, |h: &DateHit| h.range.clone()) {
        if let Some(prev) = out.last_mut()
            && prev.weekday_only
            && h.explicit
            && text[prev.range.end..h.range.start].chars().all(|c| c.is_whitespace() || c == ',')
        {
            *prev = DateHit { range: prev.range.start..h.range.end, ..h };
            continue;
        }
        out.push(h);
    }
    out.retain(|h| !h.needs_day);
    out
}

fn date_hit(
    rule: DateRule,
    c: &Captures,
    text: &str,
    today: Date,
    day_first: bool,
) -> Option<DateHit> {
    use DateRule::*;
    let whole = c.get(0)?;
    let group = |name: &str| c.name(name).map(|m| m.as_str());
    let end_of = |names: &[&str]| names.iter().find_map(|n| c.name(n)).map(|m| m.end());
    let num =
        |name: &str| group(name).and_then(numbers::value_of).and_then(|v| i8::try_from(v).ok());
    let year = || {
        group("y").and_then(|y| y.parse::<i16>().ok()).map(|y| if y < 100 { 2000 + y } else { y })
    };
    let mut range = whole.range();
    let date = match rule {
        Iso => {
            range.end = end_of(&["d"])?;
            if group("s1") != group("s2") {
                return None;
            }
            Date::new(year()?, num("m")?, num("d")?).ok()?
        }
        Numeric => {
            let joined_on = |s: &str| {
                s.starts_with(['/', '.', '-', ':'])
                    && s[1..].starts_with(|c: char| c.is_ascii_digit())
            };
            let before: String = text[..range.start].chars().rev().take(2).collect();
            let after = &text[range.end..];
            let separators_agree = match group("s2") {
                Some(s2) => group("s1") == Some(s2),
                None => group("s1") != Some("-") && yearless_date_context(text, range.clone()),
            };
            if !separators_agree || joined_on(&before) || joined_on(after) {
                return None;
            }
            let (a, b) = (num("a")?, num("b")?);
            let day_month = group("s1") == Some(".") || a > 12 || (day_first && b <= 12);
            let (d, m) = if day_month { (a, b) } else { (b, a) };
            match year() {
                Some(y) => Date::new(y, m, d).ok()?,
                None => next_yearly(today, m, d)?,
            }
        }
        DayMonth | MonthDay => {
            range.end = end_of(&["y", if rule == DayMonth { "m" } else { "d" }])?;
            let (m, d) = (month(group("m")?)?, num("d")?);
            match year() {
                Some(y) => Date::new(y, m, d).ok()?,
                None => next_yearly(today, m, d)?,
            }
        }
        Relative => {
            let offset = [("plus2", 2), ("minus2", -2), ("plus1", 1), ("minus1", -1)]
                .into_iter()
                .find_map(|(name, days)| c.name(name).map(|_| days))
                .unwrap_or(0);
            today.checked_add(offset.days()).ok()?
        }
        Offset => {
            let n = group("n")?.to_lowercase();
            let n = match n.as_str() {
                "a" | "an" => 1,
                _ if n.starts_with('a') => 2, // "a couple of"
                _ => i64::try_from(numbers::value_of(&n)?).ok()?,
            };
            let span = match group("u")?.to_lowercase().as_str() {
                "day" => n.days(),
                "week" => n.weeks(),
                "month" => n.months(),
                _ => n.years(),
            };
            today.checked_add(span).ok()?
        }
        Weekday | NextWeekWeekday => {
            let wd = weekday(group("wd")?)?;
            let q = group("q").map(|q| q.to_lowercase());
            let week = group("w").map(str::to_lowercase);
            let monday = today
                .checked_add((-i64::from(today.weekday().to_monday_zero_offset())).days())
                .ok()?;
            let in_week = |weeks: i64| {
                monday.checked_add((7 * weeks + i64::from(wd.to_monday_zero_offset())).days()).ok()
            };
            let ahead = i64::from(today.weekday().until(wd));
            let back = i64::from(today.weekday().since(wd));
            match (q.as_deref(), week.as_deref()) {
                _ if rule == NextWeekWeekday => in_week(1)?,
                (Some("next"), _) | (_, Some("next")) => in_week(1)?,
                (_, Some("this")) => in_week(0)?,
                (Some("this"), None) => today.checked_add(ahead.days()).ok()?,
                (Some("last"), None) => {
                    today.checked_add((-if back == 0 { 7 } else { back }).days()).ok()?
                }
                _ => today.checked_add((if ahead == 0 { 7 } else { ahead }).days()).ok()?,
            }
        }
        DayOfMonth | TheDay => {
            let d = num("d")?;
            if let Some(the) = c.name("the") {
                range.start = the.start();
            } else if rule == TheDay {
                range.start = c.name("d")?.start();
            }
            let months = match group("rel").map(str::to_lowercase).as_deref() {
                Some("this") => 0,
                Some("next") => 1,
                Some("last") => -1,
                _ => {
                    return (0..13)
                        .find_map(|k| in_month(today, k, d).filter(|x| *x >= today))
                        .map(|date| explicit(range, date));
                }
            };
            in_month(today, months, d)?
        }
        EndOfMonth => {
            let months = if c.name("next").is_some() { 1 } else { 0 };
            today.first_of_month().checked_add(months.months()).ok()?.last_of_month()
        }
    };
    let weekday_only = rule == Weekday && c.name("q").is_none() && c.name("w").is_none();
    let needs_day = weekday_only
        && ["mon", "wed", "sat", "sun"].contains(&group("wd")?.to_lowercase().as_str());
    let explicit = matches!(rule, Iso | Numeric | DayMonth | MonthDay | DayOfMonth | TheDay);
    Some(DateHit { range, date, weekday_only, needs_day, explicit })
}

fn explicit(range: Range<usize>, date: Date) -> DateHit {
    DateHit { range, date, weekday_only: false, needs_day: false, explicit: true }
}

/// Day `d` of month `m` on or after today (Feb 29 waits for a leap year).
fn next_yearly(today: Date, m: i8, d: i8) -> Option<Date> {
    (0..8).find_map(|k| Date::new(today.year() + k, m, d).ok().filter(|x| *x >= today))
}

/// Words that introduce a date in the languages our users write: "on", "el", "le", "il",
/// "dia", "am", "na"…
static DATE_INTRO: LazyLock<Regex> = LazyLock::new(|| {
    pattern(concat!(
        r"\b(?:on|by|until|till|from|before|after|el|del|al|para|le|du|au|pour|il|dal|per|dia",
        r"|em|no|am|bis|ab|vom|zum|den|na|do|od|dnia)\s+$"
    ))
});

/// Whether "15/12" or "03.12." without a year is a date: when it is the whole message or
/// follows a word that introduces a date. Elsewhere it is more often a fraction ("1/2"), a
/// rating ("9/10"), "24/7" or a decimal.
fn yearless_date_context(text: &str, range: Range<usize>) -> bool {
    let rest = text[range.end..].trim_matches(|c: char| c.is_whitespace() || ".,!?".contains(c));
    text[..range.start].trim().is_empty() && rest.is_empty()
        || DATE_INTRO.is_match(lead_in(text, range.start))
}

/// Day `d` of the month `months` after today's (before, if negative).
fn in_month(today: Date, months: i64, d: i8) -> Option<Date> {
    let first = today.first_of_month().checked_add(months.months()).ok()?;
    Date::new(first.year(), first.month(), d).ok()
}

fn month(name: &str) -> Option<i8> {
    let name = name.get(..3)?.to_ascii_lowercase();
    let months =
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    months.iter().position(|m| *m == name).map(|i| i as i8 + 1)
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.get(..2)?.to_ascii_lowercase().as_str() {
        "mo" => Weekday::Monday,
        "tu" => Weekday::Tuesday,
        "we" => Weekday::Wednesday,
        "th" => Weekday::Thursday,
        "fr" => Weekday::Friday,
        "sa" => Weekday::Saturday,
        "su" => Weekday::Sunday,
        _ => return None,
    })
}

// ---- Times ----

#[derive(Debug, Clone, Copy, PartialEq)]
enum TimeRule {
    Clock,
    Meridiem,
    French,
    Named,
    Past,
    OClock,
    Period,
    PeriodFirst,
    At,
}

static TIME_RULES: LazyLock<Rules<TimeRule>> = LazyLock::new(|| {
    use TimeRule::*;
    let rules = [
        (
            Clock,
            r"(?P<h>[0-9]{1,2})(?P<sep>[:.])(?P<m>[0-9]{2})(?::[0-9]{2})?(?:\s*(?P<ap>{MER}))?",
        ),
        (Meridiem, r"\b(?P<h>{HOUR})(?:-?ish)?\s*(?P<ap>{MER})"),
        (French, r"\b(?P<h>[0-9]{1,2})h(?P<m>[0-9]{2})?\b"),
        (Named, r"\b(?:12(?::00)?\s+)?(?P<n>noon|midday|midnight)\b"),
        (
            Past,
            concat!(
                r"\b(?P<q>half|(?:a\s+)?quarter|(?P<mins>{NUM})\s+min(?:ute)?s?",
                r"|twenty[- ]five|twenty|ten|five)\s+(?P<dir>past|after|to|till|til)",
                r"\s+(?:(?P<h>{HOUR})|(?P<n>noon|midday|midnight))\b"
            ),
        ),
        (OClock, r#"\b(?P<h>{HOUR})\s+(?:o['’"]?\s?clock|uhr)\b"#),
        (Period, r"\b(?P<h>{HOUR})(?:-?ish)?\s+{PERIOD}\b"),
        // "afternoon 12", "evening 5", "this evening 7", "morning 10:30".
        (
            PeriodFirst,
            concat!(
                r"\b(?:morning|afternoon|evening|night|tonight)\s*,?\s+(?:at\s+)?(?:around\s+",
                r"|about\s+)?(?P<h>{HOUR})(?:[:.](?P<m>[0-9]{2}))?\b"
            ),
        ),
        (At, r"\bat\s+(?:around\s+|about\s+)?(?P<h>{HOUR})(?:-?ish)?\b"),
    ];
    Rules::new(&rules)
});

/// A part of the day said next to an hour, which moves 1–12 to the afternoon or evening.
static PERIOD_AFTER: LazyLock<Regex> = LazyLock::new(|| pattern(r"^(?:-?ish)?\s*,?\s*{PERIOD}\b"));
static PERIOD_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"\b(?:tonight|morning|afternoon|evening|night)\s*,?\s*(?:at\s+)?(?:around\s+|about\s+)?$",
    )
});
/// What makes "at 9" not a time: a unit, a currency, a month ("at 5 December" is a date), or
/// an idiom ("at one point", "at one of them").
static NOT_AN_HOUR: LazyLock<Regex> = LazyLock::new(|| {
    pattern(concat!(
        r"^(?:[.,:][0-9]|\s*(?:[%$€£¥]|(?:percent|people|persons|guests|adults|children|kids",
        r"|rooms?|nights?|min(?:ute)?s?|hours?|days?|weeks?|months?|years?|km|kg|miles?|stars?",
        r"|point|times?|stage|go|of|with|another|{MONTH})\b))"
    ))
});
/// Words before a bare hour that make it a count ("a table for 6 tonight"), not a time.
static COUNT_BEFORE: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"\b(?:for|are|be|with|need|have|of|{MONTH})\s+$"));
static MONTH_BEFORE: LazyLock<Regex> = LazyLock::new(|| pattern(r"\b{MONTH}\.?\s+$"));
static IN_THE_PERIOD: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"in\s+the\s+(?:morning|afternoon|evening|night)"));
static AT_BEFORE: LazyLock<Regex> = LazyLock::new(|| pattern(r"\bat\s+(?:around\s+|about\s+)?$"));
static FROM_BEFORE: LazyLock<Regex> = LazyLock::new(|| pattern(r"\bfrom\s+$"));

fn time_hit(rule: TimeRule, c: &Captures, text: &str) -> Option<(Range<usize>, Time)> {
    use TimeRule::*;
    let whole = c.get(0)?;
    let group = |name: &str| c.name(name).map(|m| m.as_str());
    let hour = i64::try_from(numbers::value_of(group("h").unwrap_or("0"))?).ok()?;
    let minute = group("m").map_or(Some(0), |m| m.parse::<i64>().ok())?;
    let before = lead_in(text, whole.start());
    let after = &text[whole.end()..];
    let mut range = whole.range();
    // Minutes from the hour: negative for "to".
    let mut delta = minute;
    let mut explicit = hour >= 13 || hour == 0 || c.name("n").is_some();
    match rule {
        Clock => {
            let clean_before = match before.chars().next_back() {
                None => true,
                // "2026-12-01T10:00"
                Some('T' | 't') => {
                    before[..before.len() - 1].ends_with(|c: char| c.is_ascii_digit())
                }
                Some(c) => !c.is_alphanumeric() && !":.,/".contains(c),
            };
            let joined_after = after.starts_with(|c: char| c.is_alphanumeric())
                || (after.starts_with(['.', ':', '/', ','])
                    && after[1..].starts_with(|c: char| c.is_ascii_digit()));
            let dotted = group("sep") == Some(".");
            if !clean_before
                || (group("ap").is_none()
                    && (joined_after || (dotted && !AT_BEFORE.is_match(before))))
            {
                return None;
            }
            explicit |= group("h")?.starts_with('0');
        }
        Past => {
            let q = group("q")?.to_lowercase();
            delta = if q == "half" {
                30
            } else if q.ends_with("quarter") {
                15
            } else {
                let mins = group("mins").unwrap_or(&q);
                i64::try_from(numbers::value_of(mins)?).ok().filter(|m| (1..60).contains(m))?
            };
            if group("dir")?.to_lowercase().starts_with('t') {
                if FROM_BEFORE.is_match(before) {
                    return None;
                }
                delta = -delta;
            }
        }
        // "a table for 6 tonight" counts people; "for six in the evening" is a time.
        Period
            if MONTH_BEFORE.is_match(before)
                || COUNT_BEFORE.is_match(before) && !IN_THE_PERIOD.is_match(whole.as_str()) =>
        {
            return None;
        }
        PeriodFirst => {
            range.start = c.name("h")?.start();
            let next = after.trim_start();
            let next = &next[..next.find(|c: char| !c.is_alphanumeric()).unwrap_or(next.len())];
            let priced = numbers::currency_word(&next.to_lowercase()).is_some();
            if priced || NOT_AN_HOUR.is_match(after) || hour > 12 && group("m").is_none() {
                return None;
            }
        }
        At => {
            range.start = c.name("h")?.start();
            let next = after.trim_start();
            let next = &next[..next.find(|c: char| !c.is_alphanumeric()).unwrap_or(next.len())];
            let priced = numbers::currency_word(&next.to_lowercase()).is_some();
            if !(1..=24).contains(&hour) || priced || NOT_AN_HOUR.is_match(after) {
                return None;
            }
        }
        Meridiem | French | OClock | Period | Named => {}
    }
    let hour = match group("ap").map(|ap| ap.to_ascii_lowercase()) {
        Some(ap) if (1..=12).contains(&hour) => {
            explicit = true;
            (hour % 12) + if ap.starts_with('p') { 12 } else { 0 }
        }
        Some(_) => return None,
        None => hour,
    };
    if hour > 24 || minute > 59 || (rule != At && hour == 24) {
        return None;
    }
    let mut hour = hour % 24;
    let core_end = if rule == Period { c.name("h")?.end() } else { range.end };
    let period = match PERIOD_AFTER.find(&text[core_end..]) {
        Some(p) => {
            range.end = range.end.max(core_end + p.end());
            Some(p.as_str())
        }
        None => PERIOD_BEFORE.find(lead_in(text, range.start)).map(|p| p.as_str()),
    };
    if let Some(period) = period.map(str::to_lowercase)
        && !explicit
        && (1..=12).contains(&hour)
    {
        let night = period.contains("night");
        if night && hour == 12 {
            hour = 0;
        } else if !period.contains("morning") && hour < 12 && !(night && hour <= 5) {
            hour += 12;
        }
    }
    if let Some(named) = group("n") {
        hour = if named.eq_ignore_ascii_case("midnight") { 0 } else { 12 };
    }
    let minutes = (hour * 60 + delta).rem_euclid(24 * 60);
    Some((range, Time::new((minutes / 60) as i8, (minutes % 60) as i8, 0, 0).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thursday 19 November 2026, 10:00 in Warsaw.
    fn now() -> Zoned {
        "2026-11-19T10:00[Europe/Warsaw]".parse().unwrap()
    }

    /// Phrases, `|` apart, by the date they mean on Thursday 19 November 2026.
    const DATES: &[(&str, &str)] = &[
        (
            "2026-12-01",
            "2026-12-01|2026/12/01|12/01/2026|1.12.2026|1.12.26|December 1|Dec 1st|dec. 1st\
             |1 December|1st of December|the 1st of December 2026|the first of December",
        ),
        ("2026-01-12", "01/12/2026"),
        ("2026-01-13", "13/01/2026|01/13/2026"),
        ("2027-12-01", "December 1, 2027"),
        ("2026-12-21", "December the twenty-first"),
        ("2026-11-19", "November 19|today|tonight|this evening|this Thursday|on the 19th"),
        ("2027-11-18", "November 18"),
        ("2027-03-03", "March 3"),
        ("2028-02-29", "Feb 29|the 29th of February"),
        ("2026-11-20", "Tomorrow|Friday|this Friday|fri|the 20th"),
        ("2026-11-21", "the day after tomorrow|day after tomorrow|in a couple of days"),
        ("2026-11-18", "yesterday"),
        ("2026-11-22", "in 3 days|3 days from now"),
        ("2026-12-03", "in two weeks|the 3rd of next month|the third of next month|03.12."),
        ("2026-11-26", "in a week|on Thursday|a week from today"),
        ("2027-01-19", "in 2 months"),
        ("2026-11-25", "this Wednesday|Wed 25th"),
        ("2026-11-27", "next Friday|Friday next week|Friday, next week|next week Friday"),
        ("2026-11-23", "next Monday"),
        ("2026-11-16", "Monday this week"),
        ("2026-11-13", "last Friday"),
        ("2026-12-08", "the 8th|Friday the 8th|the 8th of the month"),
        ("2026-12-31", "the 31st"),
        ("2026-11-11", "11th of this month"),
        ("2026-11-30", "end of the month"),
        ("2026-12-04", "Friday, December 4"),
        ("2026-12-05", "Sat. 5th|Sat Dec 5"),
        ("2026-12-18", "12/18|dia 18/12|by 12/18."),
        ("2026-12-15", "el 15/12"),
    ];

    /// Phrases, `|` apart, by the time of day they mean.
    const TIMES: &[(&str, &str)] = &[
        ("16:45", "16:45|4:45 pm|at 16.45"),
        ("16:00", "4pm|4 p.m.|four o’clock in the afternoon"),
        ("00:00", "12am|midnight|at 24"),
        ("12:00", "12 pm|noon|12 noon|midday|at 12:00 noon"),
        ("04:00", "4 o'clock"),
        ("11:30", "half past 11 in the morning|half past 11|11.30am"),
        ("23:30", "half past eleven tonight"),
        ("03:15", "quarter past 3"),
        ("02:45", "a quarter to 3"),
        ("05:10", "ten past five"),
        ("08:40", "twenty to nine"),
        ("18:25", "twenty-five past 6 in the evening"),
        ("18:00", "around 6ish in the evening|6-ish pm"),
        ("23:55", "5 minutes to 12 at night"),
        ("23:45", "quarter to midnight"),
        ("19:00", "at 7 in the evening|19h"),
        ("07:00", "7 in the morning"),
        ("11:00", "11am"),
        ("09:00", "at 9|at nine"),
        ("19:30", "19h30"),
        ("20:00", "8 tonight|tonight at 8|20 Uhr"),
        ("02:00", "at 2 at night"),
        ("10:00", "10:00:00"),
        ("08:30", "08:30 in the evening"),
        ("12:00", "afternoon 12|at afternoon 12"),
        ("17:00", "evening 5|this evening 5|5 o\"clock in the evening"),
        ("11:00", "morning 11|in the morning 11"),
        ("18:45", "evening 6:45"),
        ("20:00", "night 8"),
        ("21:45", "a quarter to 10 in the night"),
        ("13:00", "for 1 in the afternoon"),
        ("18:00", "for six in the evening"),
    ];

    #[test]
    fn finds_dates() {
        for (want, phrases) in DATES {
            let want: Date = want.parse().unwrap();
            for phrase in phrases.split('|') {
                let got = find_dates(phrase, &now());
                assert_eq!(got.first().map(|(_, d)| *d), Some(want), "{phrase:?}: {got:?}");
            }
        }
    }

    #[test]
    fn date_ranges_and_distractors() {
        let distractors = "Mayday|todays|in 3 minutes|add 1/2 cup|open 24/7|rated 9/10\
            |costs 20.12 euros|16:45|about 1.5 hours|the 8 rooms|secondly|March on|8th in line\
            |we sat in the sun|415-555-0100|192.168.1.1|2 weeks|next week|friday2";
        for text in distractors.split('|') {
            assert_eq!(find_dates(text, &now()), vec![], "{text:?}");
        }
        assert_eq!(find_dates_in("on 3/8", &now(), true)[0].1, "2027-08-03".parse().unwrap());
        assert_eq!(find_dates_in("on 3/8", &now(), false)[0].1, "2027-03-08".parse().unwrap());
        assert_eq!(find_dates_in("on 13/8", &now(), false)[0].1, "2027-08-13".parse().unwrap());
        let text = "on the 8th or Friday the 13th, not 32/13/2026; or in 3 days";
        let got: Vec<&str> = find_dates(text, &now()).into_iter().map(|(r, _)| &text[r]).collect();
        assert_eq!(got, ["the 8th", "Friday the 13th", "in 3 days"]);
    }

    /// The rules' word boundaries are ASCII ones (for speed); a letter of another script next
    /// to a match still joins it to a word, and one elsewhere in the message changes nothing.
    #[test]
    fn letters_beyond_ascii_bound_words() {
        for text in ["maré 5", "Ñsat 5th", "décembre", "5ª", "10h30é", "ésun 5th", "noonà"] {
            assert_eq!(find_dates(text, &now()), vec![], "{text:?}");
            assert_eq!(find_times(text), vec![], "{text:?}");
        }
        let text = "Café Zoë: tomorrow at 7 pm, or Dec 3rd at noon — merci";
        let dates: Vec<&str> =
            find_dates(text, &now()).into_iter().map(|(r, _)| &text[r]).collect();
        assert_eq!(dates, ["tomorrow", "Dec 3rd"]);
        let times: Vec<&str> = find_times(text).into_iter().map(|(r, _)| &text[r]).collect();
        assert_eq!(times, ["7 pm", "noon"]);
        let text = "el 5 de mayo, mañana a las 7 pm";
        assert_eq!(find_times(text).len(), 1, "{text}");
    }

    #[test]
    fn finds_times() {
        for (want, phrases) in TIMES {
            let want: Time = want.parse().unwrap();
            for phrase in phrases.split('|') {
                let got = find_times(phrase);
                assert_eq!(got.first().map(|(_, t)| *t), Some(want), "{phrase:?}: {got:?}");
            }
        }
    }

    #[test]
    fn time_ranges_and_distractors() {
        let distractors = "Mayday|often|at 5 people|at 15%|at 9 euros|2 to 3 people|1.5 hours\
            |3.14|from ten to five|a table for 6 tonight|at 25|25:00|16:75|2026-12-01|1.12.2026\
            |I am here|at one point|A12:30|at 5 December|Dec 3 in the evening";
        for text in distractors.split('|') {
            assert_eq!(find_times(text), vec![], "{text:?}");
        }
        let text = "at 7 in the evening or tomorrow at 4pm, half past 11";
        let got: Vec<&str> = find_times(text).into_iter().map(|(r, _)| &text[r]).collect();
        assert_eq!(got, ["7 in the evening", "4pm", "half past 11"]);
    }

    #[test]
    fn finds_datetimes() {
        // Phrase, the moment it means, and the part of it the range covers.
        let cases = [
            ("tomorrow at 4pm", "2026-11-20T16:00", "tomorrow at 4pm"),
            ("at 4pm tomorrow", "2026-11-20T16:00", "4pm tomorrow"),
            (
                "Friday next week, half past 11 in the morning",
                "2026-11-27T11:30",
                "Friday next week, half past 11 in the morning",
            ),
            ("2026-12-01T10:00", "2026-12-01T10:00", "2026-12-01T10:00"),
            ("2026-12-01 10:00", "2026-12-01T10:00", "2026-12-01 10:00"),
            ("am 03.12. um 14:30", "2026-12-03T14:30", "03.12. um 14:30"),
            ("on the 8th at 16:45", "2026-12-08T16:45", "the 8th at 16:45"),
            ("tonight at 8", "2026-11-19T20:00", "tonight at 8"),
            ("8 tonight", "2026-11-19T20:00", "8 tonight"),
            ("this evening at 7", "2026-11-19T19:00", "this evening at 7"),
        ];
        for (text, want, span) in cases {
            let got = find_datetimes(text, &now());
            let want: DateTime = want.parse().unwrap();
            assert_eq!(got.first().map(|(_, dt)| *dt), Some(want), "{text:?}: {got:?}");
            assert_eq!(&text[got[0].0.clone()], span, "{text:?}");
        }
        // No date, no time, or the number is the day rather than the hour: nothing.
        for text in ["at 4pm", "tomorrow", "Dec 3 in the evening"] {
            assert_eq!(find_datetimes(text, &now()), vec![], "{text:?}");
        }
        let got = find_datetimes("tomorrow at 4 or 5pm, or Friday at noon", &now());
        let got: Vec<String> = got.into_iter().map(|(_, dt)| dt.to_string()).collect();
        assert_eq!(got, ["2026-11-20T04:00:00", "2026-11-20T17:00:00", "2026-11-20T12:00:00"]);
    }
}
