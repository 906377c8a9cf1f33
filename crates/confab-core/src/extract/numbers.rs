//! Numbers and amounts of money as people type them: digits ("1,234.56", "3,5", "5k", "8th"),
//! English words ("one hundred and sixteen", "a dozen", "twenty-first") and the small numbers of
//! Spanish, French, German and Polish ("dos", "vingt-cinq", "zwei", "dwadzieścia pięć").
//!
//! Matches sit on word boundaries only ("often" holds no "ten"), and digits that belong to
//! something else (a phone, a date, a time, a code like "A12", "4pm") are not numbers here.
//! Reading rules where text is ambiguous:
//! - a comma followed by exactly three digits groups thousands ("1,234" = 1234), any other single
//!   comma is a decimal comma ("3,5" = 3.5); a single dot is always decimal ("1.234" = 1.234);
//!   with both, the last one is the decimal separator ("1.234,56" = 1234.56);
//! - "5k" is 5000 everywhere; "2.5m" and "3bn" only count next to a currency, since "5m" alone is
//!   more often minutes or metres than millions;
//! - as money, a single dot before exactly three digits groups thousands ("5.000 zł" = 5000 PLN),
//!   since prices never have three decimals;
//! - two digit groups one space apart, the second of exactly three digits, are one number
//!   ("25 000" = 25000); three or more groups ("415 555 0100", "600 700 800"), or two with a
//!   `+`, bracket or dash among them, are a phone number, so none of them is a number;
//! - a number hyphened to a word describes rather than counts ("5-star", "10-minute") and is
//!   skipped; "25ish" and "30-ish" are 25 and 30;
//! - "$" alone is USD; "R$", "CA$", "A$", "NZ$" are the other dollars;
//! - the word rules (a lone "second", the pronoun "one", which foreign words) are in `words.rs`.

use std::ops::Range;

// The word grammar (words.rs) is the other half of reading numbers; when.rs reaches it through
// the re-export below.
use super::words;

pub(crate) use words::{ORD_UNITS, TENS, UNITS, alternation, value_of};

/// An amount of money; `currency` is an ISO 4217 code when the text names one.
#[derive(Debug, Clone, PartialEq)]
pub struct Money {
    pub amount: f64,
    pub currency: Option<&'static str>,
}

/// Every number in `text`, in order, with its byte range.
pub fn find_numbers(text: &str) -> Vec<(Range<usize>, f64)> {
    scan(text)
        .into_iter()
        .filter(|f| !f.money_only && !f.bare_second)
        .map(|f| (f.range, f.value))
        .collect()
}

/// Every amount of money in `text`, in order, with its byte range (currency included).
pub fn find_money(text: &str) -> Vec<(Range<usize>, Money)> {
    scan(text)
        .into_iter()
        .filter(|f| !f.ordinal)
        .filter_map(|f| {
            let (range, code) = if let Some((code, end)) = f.currency {
                (f.range.start..end, code)
            } else if let Some((start, code)) = currency_before(text, f.range.start) {
                (start..f.range.end, code)
            } else {
                let (end, code) = currency_after(text, f.range.end)?;
                (f.range.start..end, code)
            };
            let amount = if f.dot_thousands { (f.value * 1e3).round() } else { f.value };
            Some((range, Money { amount, currency: Some(code) }))
        })
        .collect()
}

/// The ISO code a currency word, abbreviation or code stands for (`word` lower-cased).
pub(crate) fn currency_word(word: &str) -> Option<&'static str> {
    Some(match word {
        "usd" | "dollar" | "dollars" | "buck" | "bucks" => "USD",
        "eur" | "euro" | "euros" => "EUR",
        "gbp" | "pound" | "pounds" | "quid" => "GBP",
        "pln" | "zł" | "zl" | "złoty" | "zloty" | "złote" | "zlote" | "złotych" | "zlotych" => {
            "PLN"
        }
        "jpy" | "yen" => "JPY",
        "chf" | "franc" | "francs" => "CHF",
        "cad" => "CAD",
        "aud" => "AUD",
        "sek" => "SEK",
        "nok" => "NOK",
        "dkk" => "DKK",
        "czk" => "CZK",
        "brl" | "reais" => "BRL",
        "nzd" => "NZD",
        _ => return None,
    })
}

fn currency_symbol(c: char) -> Option<&'static str> {
    Some(match c {
        '$' => "USD",
        '€' => "EUR",
        '£' => "GBP",
        '¥' => "JPY",
        _ => return None,
    })
}

/// A currency symbol or ISO code just before `start` ("$116", "$ 116", "CHF 40"): where it
/// starts and its code. Only codes may precede: nobody writes "dollars 5".
fn currency_before(text: &str, start: usize) -> Option<(usize, &'static str)> {
    let head = text[..start].trim_end_matches([' ', '\t']);
    let last = head.chars().next_back()?;
    if let Some(code) = currency_symbol(last) {
        let at = head.len() - last.len_utf8();
        // Other dollars carry their country: "R$ 250", "CA$40", "A$5", "US$ 10".
        let country = head[..at].rsplit(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
        let dollar = match (last, country.to_ascii_uppercase().as_str()) {
            ('$', "R") => Some("BRL"),
            ('$', "C" | "CA") => Some("CAD"),
            ('$', "A" | "AU") => Some("AUD"),
            ('$', "NZ") => Some("NZD"),
            ('$', "US") => Some("USD"),
            _ => None,
        };
        return Some(match dollar {
            Some(dollar) => (at - country.len(), dollar),
            None => (at, code),
        });
    }
    let word_start = head
        .rfind(|c: char| !c.is_alphanumeric())
        .map_or(0, |i| i + head[i..].chars().next().map_or(1, char::len_utf8));
    let word = head[word_start..].to_lowercase();
    let code = currency_word(&word)?;
    code.eq_ignore_ascii_case(&word).then_some((word_start, code))
}

/// A currency symbol or word just after `end` ("116$", "20 euros", "50 zł"): where it ends.
fn currency_after(text: &str, end: usize) -> Option<(usize, &'static str)> {
    let tail = &text[end..];
    let rest = tail.trim_start_matches([' ', '\t']);
    let at = end + (tail.len() - rest.len());
    let first = rest.chars().next()?;
    if let Some(code) = currency_symbol(first) {
        return Some((at + first.len_utf8(), code));
    }
    let len = rest.find(|c: char| !c.is_alphanumeric()).unwrap_or(rest.len());
    Some((at + len, currency_word(&rest[..len].to_lowercase())?))
}

/// A number found in text, before the caller decides what it counts as.
#[derive(Debug, Clone)]
struct Found {
    range: Range<usize>,
    value: f64,
    /// "2.5m", "3bn": a multiplier that only means millions next to a currency.
    money_only: bool,
    ordinal: bool,
    /// A currency glued to the digits ("50zł", "116USD"), and where it ends.
    currency: Option<(&'static str, usize)>,
    bare_second: bool,
    /// "5.000": five as a plain number, but 5000 as money, since prices never have three
    /// decimals while "5.000 zł" and "€1.500" are how much of Europe writes thousands.
    dot_thousands: bool,
}

/// Every number, digits and words, in order and without overlaps.
fn scan(text: &str) -> Vec<Found> {
    let mut found = digit_numbers(text);
    found.extend(words::find_word_numbers(text).into_iter().map(|n| Found {
        range: n.range,
        value: n.value as f64,
        money_only: false,
        ordinal: n.ordinal,
        currency: None,
        bare_second: n.bare_second,
        dot_thousands: false,
    }));
    found.sort_by_key(|f| f.range.start);
    let mut out: Vec<Found> = Vec::with_capacity(found.len());
    for f in found {
        if out.last().is_none_or(|prev| prev.range.end <= f.range.start) {
            out.push(f);
        }
    }
    out
}

// ---- Digits ----

fn digit_numbers(text: &str) -> Vec<Found> {
    let runs = digit_runs(text.as_bytes());
    let mut out = Vec::new();
    let mut i = 0;
    while i < runs.len() {
        let j = chain_end(text, &runs, i);
        let chain = &runs[i..=j];
        if let [a, b] = chain
            && thousands_pair(text, a, b)
        {
            out.extend(read_run(text, a.start..b.end));
        } else if !is_phone(text, chain) {
            out.extend(chain.iter().filter_map(|r| read_run(text, r.clone())));
        }
        i = j + 1;
    }
    out
}

/// Maximal runs of ASCII digits joined by single separators: "1,234.5", "16:45", "415-555-0100".
fn digit_runs(b: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len()
            && (b[i].is_ascii_digit()
                || (b".,:/-".contains(&b[i]) && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
        {
            i += 1;
        }
        out.push(start..i);
    }
    out
}

/// Spaces that group digits: French and Polish write "1 000" with a (narrow) no-break space.
const SPACES: [char; 3] = [' ', '\u{a0}', '\u{202f}'];

/// The last run of the chain that starts at run `i`: runs one space or bracket apart, as in a
/// phone number ("+1 (415) 555 0100") or a number grouped by spaces ("25 000").
fn chain_end(text: &str, runs: &[Range<usize>], i: usize) -> usize {
    let mut j = i;
    while j + 1 < runs.len() {
        let gap = &text[runs[j].end..runs[j + 1].start];
        let spaces = gap.chars().filter(|c| SPACES.contains(c)).count();
        let joined = (1..=3).contains(&gap.chars().count())
            && spaces <= 1
            && gap.chars().all(|c| SPACES.contains(&c) || c == '(' || c == ')');
        if !joined {
            break;
        }
        j += 1;
    }
    j
}

/// Three or more groups, or two with a `+`, bracket or dash about them, make a phone number,
/// which is one identifier and not several numbers; but a phone has at least seven digits, so
/// "4 (3 adults…)" is two numbers.
fn is_phone(text: &str, chain: &[Range<usize>]) -> bool {
    let (first, last) = (chain[0].start, chain[chain.len() - 1].end);
    let marked = text[..first].ends_with(['+', '(']) || text[first..last].contains(['(', ')', '-']);
    let digits = text[first..last].bytes().filter(u8::is_ascii_digit).count();
    digits >= 7 && (chain.len() >= 3 || (chain.len() == 2 && marked))
}

/// "1 000", "25 000,50": one to three digits, a space, then exactly three digits. Only one
/// space, because "600 700 800" is how Polish mobile numbers are written.
fn thousands_pair(text: &str, a: &Range<usize>, b: &Range<usize>) -> bool {
    let (head, tail) = (&text[a.clone()], &text[b.clone()]);
    let gap = &text[a.end..b.start];
    let tail_int = tail.split(['.', ',']).next().unwrap_or(tail);
    gap.chars().count() == 1
        && SPACES.iter().any(|c| gap.starts_with(*c))
        && (1..=3).contains(&head.len())
        && head.bytes().all(|b| b.is_ascii_digit())
        && tail_int.len() == 3
        && tail.bytes().filter(|b| !b.is_ascii_digit()).count() <= 1
        && !is_phone(text, &[a.clone(), b.clone()])
}

/// A digit run read as a number, with its sign, glued suffix and any scale words after it.
fn read_run(text: &str, run: Range<usize>) -> Option<Found> {
    let digits: String = text[run.clone()].chars().filter(|c| !SPACES.contains(c)).collect();
    if digits.contains([':', '/', '-']) {
        return None; // a time, a date, a phone or a range
    }
    let mut start = run.start;
    let mut sign = 1.0;
    let before = &text[..run.start];
    match before.chars().next_back() {
        Some(c) if c.is_alphanumeric() || c == '_' || c == '+' => return None,
        Some('-') => match before[..before.len() - 1].chars().next_back() {
            None => (start, sign) = (start - 1, -1.0),
            Some(c) if c.is_whitespace() || c == '(' => (start, sign) = (start - 1, -1.0),
            Some(c) if c.is_alphanumeric() => return None, // "COVID-19"
            Some(_) => {}
        },
        _ => {}
    }
    let integer = !digits.contains(['.', ',']);
    if !integer
        && digits.starts_with('0')
        && digits.as_bytes().get(1).is_some_and(u8::is_ascii_digit)
    {
        return None; // "03.12" is a date, not a decimal
    }
    let mut value = sign * parse_digits(&digits)?;
    let rest = &text[run.end..];
    // "5-star", "10-minute": a number inside an adjective describes; it doesn't count.
    let hyphened = rest.strip_prefix('-').unwrap_or("");
    if hyphened.starts_with(char::is_alphabetic) && !hyphened.to_lowercase().starts_with("ish") {
        return None;
    }
    let suffix_len = rest.find(|c: char| !c.is_alphanumeric()).unwrap_or(rest.len());
    let suffix = rest[..suffix_len].to_lowercase();
    let mut f = Found {
        range: start..run.end,
        value,
        money_only: false,
        ordinal: false,
        currency: None,
        bare_second: false,
        dot_thousands: false,
    };
    let (int, frac) = digits.split_once('.').unwrap_or((&digits, ""));
    let dot_thousands = frac.len() == 3 && !int.contains(',') && int != "0" && int.len() <= 3;
    match suffix.as_str() {
        "" | "ish" => {}
        "st" | "nd" | "rd" | "th" if integer && sign > 0.0 => f.ordinal = true,
        "k" => value *= 1e3,
        "m" | "mn" | "mln" => (value, f.money_only) = (value * 1e6, true),
        "bn" => (value, f.money_only) = (value * 1e9, true),
        other => {
            f.currency = Some((currency_word(other)?, run.end + suffix_len));
            (f.value, f.dot_thousands) = (value, dot_thousands);
            return Some(f);
        }
    }
    f.range.end += suffix_len;
    if suffix.is_empty() {
        let end = f.range.end;
        (value, f.range.end) = absorb_scale_words(text, value, end);
        f.dot_thousands = dot_thousands && f.range.end == end;
    }
    f.value = value;
    Some(f)
}

/// "5 hundred", "2.5 million": English scale words after digits multiply them.
fn absorb_scale_words(text: &str, mut value: f64, mut end: usize) -> (f64, usize) {
    loop {
        let tail = &text[end..];
        let rest = tail.trim_start_matches([' ', '\t']);
        if rest.len() == tail.len() {
            return (value, end);
        }
        let len = rest.find(|c: char| !c.is_alphanumeric()).unwrap_or(rest.len());
        let scale = match rest[..len].to_lowercase().as_str() {
            "hundred" => 1e2,
            "thousand" => 1e3,
            "million" => 1e6,
            "billion" => 1e9,
            _ => return (value, end),
        };
        value *= scale;
        end += tail.len() - rest.len() + len;
    }
}

/// Digits with thousands groups and one decimal separator, by the rules in the module doc.
fn parse_digits(s: &str) -> Option<f64> {
    let dots = s.matches('.').count();
    let commas = s.matches(',').count();
    let (int, frac, group) = match (dots, commas) {
        (0, 0) => return s.parse().ok(),
        (0, 1) => {
            let (a, b) = s.split_once(',')?;
            if b.len() == 3 && a != "0" { (s, "", Some(',')) } else { (a, b, None) }
        }
        (1, 0) => {
            let (a, b) = s.split_once('.')?;
            (a, b, None)
        }
        (_, 0) => (s, "", Some('.')),
        (0, _) => (s, "", Some(',')),
        _ => {
            let last = s.rfind(['.', ','])?;
            let sep = s[last..].chars().next()?;
            let other = if sep == '.' { ',' } else { '.' };
            if s[..last].contains(sep) {
                return None;
            }
            (&s[..last], &s[last + 1..], Some(other))
        }
    };
    let int = match group {
        Some(sep) => {
            let groups: Vec<&str> = int.split(sep).collect();
            let ok = (1..=3).contains(&groups[0].len())
                && groups[1..].iter().all(|g| g.len() == 3 && !g.contains(['.', ',']));
            if !ok {
                return None; // "1.12.2026", "1,2,3", "1.2.3"
            }
            groups.concat()
        }
        None => int.to_owned(),
    };
    if frac.is_empty() { int.parse().ok() } else { format!("{int}.{frac}").parse().ok() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_numbers_written_in_digits_and_words() {
        let cases: &[(&str, &[f64])] = &[
            ("5", &[5.0]),
            ("I need 3 rooms", &[3.0]),
            ("42 and 1,234", &[42.0, 1234.0]),
            ("1,234.56", &[1234.56]),
            ("1.234,56", &[1234.56]),
            ("1,234,567", &[1_234_567.0]),
            ("1 000 and 25\u{a0}000,50", &[1000.0, 25000.5]),
            ("3.5 or 3,5", &[3.5, 3.5]),
            ("5.000", &[5.0]),
            ("it is -5 outside", &[-5.0]),
            ("the 8th, the 21st", &[8.0, 21.0]),
            ("5k", &[5000.0]),
            ("2 million", &[2e6]),
            ("five", &[5.0]),
            ("one hundred and sixteen", &[116.0]),
            ("I need 3 rooms, wait a second", &[3.0]),
            ("twenty-second", &[22.0]),
            ("vingt-cinq", &[25.0]),
            ("50%", &[50.0]),
            ("(5)", &[5.0]),
            ("call 555 0100", &[555.0, 100.0]),
            ("50zł", &[50.0]),
            ("4 (3 adults and 1 kid)", &[4.0, 3.0, 1.0]),
            ("around 25ish, maybe 30-ish", &[25.0, 30.0]),
            ("the 5-star ones, 10-minute walk, 2 please", &[2.0]),
            ("Sept 5", &[5.0]),
        ];
        for (text, want) in cases {
            let got: Vec<f64> = find_numbers(text).into_iter().map(|(_, n)| n).collect();
            assert_eq!(got, *want, "{text:?}");
        }
    }

    #[test]
    fn skips_digits_and_words_that_are_not_standalone_numbers() {
        let groups: &[&[&str]] = &[
            &["email", "often", "someone", "tent", "A12", "x3", "3x", "a-5", "COVID-19"],
            &["+1 415 555 0100", "415-555-0100", "(415) 555-0100", "600 700 800"],
            &[
                "16:45",
                "2026-12-01",
                "12/01",
                "1.12.2026",
                "1.2.3",
                "4pm",
                "19h30",
                "5-6",
                "03.12.",
            ],
            &["5m", "a", "and", "hundred", "wait a second", "très bien", "once", "null"],
        ];
        for text in groups.iter().flat_map(|g| g.iter()) {
            assert_eq!(find_numbers(text), vec![], "{text:?}");
        }
    }

    #[test]
    fn ranges_cover_the_number_as_written() {
        let text = "about -5, then one hundred and six, then 5k and the 8th";
        let got: Vec<&str> = find_numbers(text).into_iter().map(|(r, _)| &text[r]).collect();
        assert_eq!(got, ["-5", "one hundred and six", "5k", "8th"]);
    }

    #[test]
    fn finds_money_with_a_currency() {
        let usd = Some("USD");
        let cases: &[(&str, f64, Option<&str>, &str)] = &[
            ("it costs $116", 116.0, usd, "$116"),
            ("$ 116", 116.0, usd, "$ 116"),
            ("116$", 116.0, usd, "116$"),
            ("116 USD", 116.0, usd, "116 USD"),
            ("USD 116", 116.0, usd, "USD 116"),
            ("116USD", 116.0, usd, "116USD"),
            ("€20", 20.0, Some("EUR"), "€20"),
            ("20€", 20.0, Some("EUR"), "20€"),
            ("20 EUR", 20.0, Some("EUR"), "20 EUR"),
            ("20 euros", 20.0, Some("EUR"), "20 euros"),
            ("20,50 €", 20.5, Some("EUR"), "20,50 €"),
            ("£5", 5.0, Some("GBP"), "£5"),
            ("5 pounds", 5.0, Some("GBP"), "5 pounds"),
            ("5 quid", 5.0, Some("GBP"), "5 quid"),
            ("50 zł", 50.0, Some("PLN"), "50 zł"),
            ("50zł", 50.0, Some("PLN"), "50zł"),
            ("50 zl", 50.0, Some("PLN"), "50 zl"),
            ("50 PLN", 50.0, Some("PLN"), "50 PLN"),
            ("50 złotych", 50.0, Some("PLN"), "50 złotych"),
            ("100 dollars", 100.0, usd, "100 dollars"),
            ("one hundred and sixteen bucks", 116.0, usd, "one hundred and sixteen bucks"),
            ("$5k", 5000.0, usd, "$5k"),
            ("5k EUR", 5000.0, Some("EUR"), "5k EUR"),
            ("$2.5m", 2.5e6, usd, "$2.5m"),
            ("2.5M USD", 2.5e6, usd, "2.5M USD"),
            ("2 million dollars", 2e6, usd, "2 million dollars"),
            ("1,200.50 USD", 1200.5, usd, "1,200.50 USD"),
            ("¥300", 300.0, Some("JPY"), "¥300"),
            ("300 yen", 300.0, Some("JPY"), "300 yen"),
            ("CHF 40", 40.0, Some("CHF"), "CHF 40"),
            ("40 francs", 40.0, Some("CHF"), "40 francs"),
            ("veinte euros", 20.0, Some("EUR"), "veinte euros"),
            ("1 000 euros", 1000.0, Some("EUR"), "1 000 euros"),
            ("5.000 zł", 5000.0, Some("PLN"), "5.000 zł"),
            ("€1.500,50", 1500.5, Some("EUR"), "€1.500,50"),
            ("até R$ 250", 250.0, Some("BRL"), "R$ 250"),
            ("CA$40", 40.0, Some("CAD"), "CA$40"),
        ];
        for (text, amount, currency, span) in cases {
            let got = find_money(text);
            assert_eq!(got.len(), 1, "{text:?}: {got:?}");
            let (range, money) = &got[0];
            assert_eq!(money, &Money { amount: *amount, currency: *currency }, "{text:?}");
            assert_eq!(&text[range.clone()], *span, "{text:?}");
        }
    }

    #[test]
    fn money_needs_a_currency() {
        for text in ["116", "five", "I need 3 rooms", "the 8th $", "5m", "USD", "15 cents"] {
            assert_eq!(find_money(text), vec![], "{text:?}");
        }
        let got = find_money("3 rooms at $100 each, 2 at €90");
        let amounts: Vec<_> = got.iter().map(|(_, m)| (m.amount, m.currency)).collect();
        assert_eq!(amounts, [(100.0, Some("USD")), (90.0, Some("EUR"))]);
    }
}
