//! One parser per datapoint type: what a value of that type looks like in a user's message, in
//! its canonical form (emails lower-cased, phones E.164, dates `YYYY-MM-DD`, times `HH:MM`,
//! datetimes RFC 3339 with the bot's offset, money `{amount, currency}`). The same parsers check
//! values the LLM pass proposes, so nothing reaches a datapoint that a rule could not have found.

use std::ops::Range;
use std::sync::LazyLock;

use jiff::Zoned;
use linkify::{LinkFinder, LinkKind};
use regex::Regex;
use serde_json::{Value, json};

use super::{Context, cues, numbers, when};
use crate::datapoints::{Definition, Kind};

/// Longest text kept for a `text` datapoint: an answer, not an essay.
const MAX_TEXT_CHARS: usize = 500;
const MAX_NAME_WORDS: usize = 4;

/// The first value of `def`'s type in `text`, read as an answer to the bot asking for it.
pub(super) fn parse_answer(
    def: &Definition,
    text: &str,
    ctx: &Context,
    now: &Zoned,
) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match def.kind {
        Kind::Text => {
            if cues::is_refusal(text) {
                return None;
            }
            Some(Value::String(text.chars().take(MAX_TEXT_CHARS).collect()))
        }
        Kind::Name => cues::name_said(text).or_else(|| parse_name(text)).map(Value::String),
        Kind::Email => find_emails(text).into_iter().next().map(Value::String),
        Kind::Url => find_urls(text).into_iter().next().map(Value::String),
        Kind::Phone => find_phones(text, ctx).into_iter().next().map(Value::String),
        Kind::Number => numbers::find_numbers(text).into_iter().next().map(|(_, n)| number(n)),
        Kind::Money => match numbers::find_money(text).into_iter().next() {
            Some((_, m)) => Some(money(m.amount, m.currency)),
            None => numbers::find_numbers(text).into_iter().next().map(|(_, n)| money(n, None)),
        },
        Kind::Date => when::find_dates_in(text, now, ctx.day_first())
            .into_iter()
            .next()
            .map(|(_, d)| Value::String(d.strftime("%Y-%m-%d").to_string())),
        Kind::Time => when::find_times(text)
            .into_iter()
            .next()
            .map(|(_, t)| Value::String(t.strftime("%H:%M").to_string())),
        Kind::Datetime => when::find_datetimes_in(text, now, ctx.day_first())
            .into_iter()
            .next()
            .and_then(|(_, dt)| {
                let z = dt.to_zoned(ctx.zone.clone()).ok()?;
                Some(Value::String(z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()))
            }),
        Kind::Choice => parse_choice(&def.values, text).map(Value::String),
        Kind::Regex => {
            let re = def.pattern.as_ref()?;
            re.find(text).map(|m| Value::String(m.as_str().to_owned()))
        }
    }
}

/// Values of the types that identify themselves (an email is an email wherever it appears),
/// found in any user message whether or not the bot asked.
/// Each value comes with its byte offset, so the key named nearest before it can claim it.
pub(super) fn find_unsolicited(
    kind: Kind,
    text: &str,
    ctx: &Context,
) -> Vec<(Range<usize>, String)> {
    match kind {
        Kind::Email => find_emails_at(text),
        Kind::Url => find_urls_at(text),
        Kind::Phone => find_phones_at(text, ctx),
        _ => vec![],
    }
}

pub(super) fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 { json!(n as i64) } else { json!(n) }
}

pub(super) fn money(amount: f64, currency: Option<&str>) -> Value {
    json!({ "amount": number(amount), "currency": currency })
}

/// A value as one line of text: what Botsheets and CSV cells show.
pub fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.contains_key("amount") => {
            let amount = o.get("amount").map(Value::to_string).unwrap_or_default();
            match o.get("currency").and_then(Value::as_str) {
                Some(c) => format!("{amount} {c}"),
                None => amount,
            }
        }
        other => other.to_string(),
    }
}

fn find_emails(text: &str) -> Vec<String> {
    find_emails_at(text).into_iter().map(|(_, e)| e).collect()
}

fn find_emails_at(text: &str) -> Vec<(Range<usize>, String)> {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Email]);
    finder
        .links(text)
        .map(|l| {
            // The local part is case-sensitive in theory but never in practice; the domain is
            // case-insensitive by definition. Lower-casing lets a repeat compare equal.
            (l.start()..l.end(), l.as_str().trim_end_matches('.').to_lowercase())
        })
        .collect()
}

fn find_urls(text: &str) -> Vec<String> {
    find_urls_at(text).into_iter().map(|(_, u)| u).collect()
}

fn find_urls_at(text: &str) -> Vec<(Range<usize>, String)> {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]).url_must_have_scheme(false);
    finder
        .links(text)
        .map(|l| (l.start()..l.end(), l.as_str().to_owned()))
        // Without a scheme, linkify takes the domain of an email for a URL.
        .filter(|(_, u)| !u.contains('@'))
        .collect()
}

/// Stretches that could be a phone number: digits with the separators people type. The
/// `phonenumber` crate validates one number but does not find numbers in text.
static PHONE_CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+|00)?\(?\d[\d \u{a0}().\-/]{5,20}\d(?:\s*(?:ext\.?|x)\s*\d{1,6})?")
        .expect("a valid pattern")
});

/// Words after which a run of digits is an identifier, not a phone number.
static ID_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:order|ticket|invoice|ref|reference|account|customer|kunden\w*|tracking|booking|confirmation|reservation|case|iban|pesel|nip|zamówieni\w*|pedido|commande|bestell\w*|id|nr|no\.?|#)\W{0,3}(?:number|nummer|numer|número|numéro|no\.?|nr\.?|id|#)?\W{0,3}(?:is|ist|es|est|to|:)?\s*$",
    )
    .expect("a valid pattern")
});

fn find_phones(text: &str, ctx: &Context) -> Vec<String> {
    find_phones_at(text, ctx).into_iter().map(|(_, p)| p).collect()
}

fn find_phones_at(text: &str, ctx: &Context) -> Vec<(Range<usize>, String)> {
    let mut out: Vec<(Range<usize>, String)> = Vec::new();
    for m in PHONE_CANDIDATE.find_iter(text) {
        // A candidate glued to letters or more digits is part of something else (an order
        // number, an IBAN).
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        if before.is_some_and(|c| c.is_alphanumeric()) || after.is_some_and(|c| c.is_alphanumeric())
        {
            continue;
        }
        let before_text =
            &text[text[..m.start()].char_indices().rev().nth(30).map_or(0, |(i, _)| i)..m.start()];
        if ID_CONTEXT.is_match(before_text) {
            continue;
        }
        let raw = m.as_str().trim();
        let digits = raw.chars().filter(char::is_ascii_digit).count();
        if !(7..=15).contains(&digits) || looks_like_date(raw) {
            continue;
        }
        let normalised = match raw.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => raw.to_owned(),
        };
        let Ok(number) = phonenumber::parse(ctx.region, &normalised) else { continue };
        if !number.is_valid() {
            continue;
        }
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        if !out.iter().any(|(_, p)| *p == e164) {
            out.push((m.start()..m.start() + m.as_str().trim_end().len(), e164));
        }
    }
    out
}

static DATE_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$")
        .expect("a valid pattern")
});

fn looks_like_date(s: &str) -> bool {
    DATE_LIKE.is_match(s)
}

/// A person's name in an answer: the cue words dropped ("my name is", "it's", "call me"), then
/// one to four words of letters. Sentences, refusals and anything with digits are not names.
/// Of several clauses ("hi Ava, it's Marcus"), one with a cue wins over a bare one.
pub(super) fn parse_name(text: &str) -> Option<String> {
    let mut bare = None;
    for clause in text.split([',', '.', '!', '?', ';', '(', '\n']) {
        let (rest, cued) = cues::strip_name_prefix(clause.trim());
        let Some(name) = name_words(rest) else { continue };
        if cued {
            return Some(name);
        }
        bare.get_or_insert(name);
    }
    bare
}

fn name_words(text: &str) -> Option<String> {
    let text = text.trim_matches(|c: char| c.is_whitespace() || ".,!;:\"'".contains(c));
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || words.len() > MAX_NAME_WORDS || cues::is_refusal(text) {
        return None;
    }
    let name_like = |w: &&str| {
        w.chars().all(|c| c.is_alphabetic() || c == '\'' || c == '-' || c == '’')
            && w.chars().any(char::is_alphabetic)
    };
    if !words.iter().all(name_like) || words.iter().any(|w| cues::is_common_word(w)) {
        return None;
    }
    Some(words.iter().map(|w| capitalise(w)).collect::<Vec<_>>().join(" "))
}

/// "anna" → "Anna"; a name typed with capitals is kept as typed ("McDonald", "van Dijk").
fn capitalise(w: &str) -> String {
    if w.chars().any(char::is_uppercase) {
        return w.to_owned();
    }
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One of the allowed values, named as a whole word (longest first, so "Pro Plus" beats
/// "Pro"), or picked by its position ("2", "the second one").
fn parse_choice(values: &[String], text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let mut by_len: Vec<&String> = values.iter().collect();
    by_len.sort_by_key(|v| std::cmp::Reverse(v.chars().count()));
    for v in by_len {
        if contains_words(&lower, &v.to_lowercase()) {
            return Some(v.clone());
        }
    }
    let words: Vec<&str> =
        lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    if words.len() <= 4 {
        for w in &words {
            let n = w.parse::<usize>().ok().or_else(|| cues::ordinal(w));
            if let Some(n) = n.filter(|n| (1..=values.len()).contains(n)) {
                return Some(values[n - 1].clone());
            }
        }
    }
    None
}

/// Whether `needle` occurs in `hay` with no letter or digit glued to either end.
pub(super) fn contains_words(hay: &str, needle: &str) -> bool {
    word_matches(hay, needle).next().is_some()
}

/// The byte offsets where `needle` occurs in `hay` as whole words, in order.
pub(super) fn word_matches<'a>(hay: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    hay.match_indices(needle).map(|(i, _)| i).filter(move |&i| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !needle.is_empty()
            && !before.is_some_and(char::is_alphanumeric)
            && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context::new(Some("US"), None).unwrap()
    }

    #[test]
    fn phones_are_found_and_validated_in_text() {
        let c = ctx();
        assert_eq!(find_phones("call me on (415) 555-2671 after 5", &c), ["+14155552671"]);
        assert_eq!(find_phones("+48 601 234 567", &c), ["+48601234567"]);
        assert_eq!(find_phones("0044 20 7946 0958 please", &c), ["+442079460958"]);
        assert!(find_phones("order 12345 for 3 people", &c).is_empty());
        assert!(find_phones("on 2026-12-01", &c).is_empty());
        assert!(find_phones("ref AB4155552671", &c).is_empty());
        let pl = Context::new(Some("PL"), None).unwrap();
        assert_eq!(find_phones("mój numer to 601 234 567", &pl), ["+48601234567"]);
    }

    #[test]
    fn emails_and_urls_are_told_apart() {
        assert_eq!(find_emails("it's Anna.Smith@Example.COM."), ["anna.smith@example.com"]);
        assert!(find_urls("it's anna@example.com").is_empty());
        assert_eq!(find_urls("see https://example.com/a?b=1 ok"), ["https://example.com/a?b=1"]);
        assert_eq!(find_urls("our site is shop.example.org"), ["shop.example.org"]);
    }

    #[test]
    fn names_come_out_of_answers() {
        assert_eq!(parse_name("My name is anna smith").as_deref(), Some("Anna Smith"));
        assert_eq!(parse_name("It's Jean-Luc, thanks!").as_deref(), Some("Jean-Luc"));
        assert_eq!(parse_name("Piotr").as_deref(), Some("Piotr"));
        assert_eq!(parse_name("I'd rather not say"), None);
        assert_eq!(parse_name("why do you need it"), None);
        assert_eq!(parse_name("agent007"), None);
    }

    #[test]
    fn choices_match_whole_words_or_positions() {
        let v = vec!["Pro".to_owned(), "Pro Plus".to_owned(), "Basic".to_owned()];
        assert_eq!(parse_choice(&v, "I'll take pro plus").as_deref(), Some("Pro Plus"));
        assert_eq!(parse_choice(&v, "basic please").as_deref(), Some("Basic"));
        assert_eq!(parse_choice(&v, "the second one").as_deref(), Some("Pro Plus"));
        assert_eq!(parse_choice(&v, "a product"), None);
    }

    #[test]
    fn display_flattens_money() {
        assert_eq!(display(&money(116.0, Some("USD"))), "116 USD");
        assert_eq!(display(&money(2.5, None)), "2.5");
        assert_eq!(display(&json!("x")), "x");
    }
}
