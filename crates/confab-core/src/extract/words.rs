//! Numbers spelled out in words: English ("one hundred and sixteen", "a dozen", "twenty-first")
//! and the everyday numbers of Spanish, French, German and Polish ("treinta y dos", "vingt-cinq",
//! "einundzwanzig", "dwadzieścia pięć"). English is a small grammar rather than a word list, so
//! that "five six" stays two numbers while "one hundred and sixteen" is one. The other languages
//! cover 0–19 and the tens, plus a ten and a unit together; not French 70–99 ("soixante-dix").
//!
//! A lone "second" is flagged, as it is a unit of time or "the second one" far more often than
//! the number 2 ("twenty-second" is a number); "a couple" is 2; a lone "one" after a determiner
//! with no noun after it is a pronoun ("no one", "the blue one"), but "just the one night"
//! counts. The Spanish "once" (11) and the German "null" (0) are left out: they are English words.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::LazyLock;

/// English 0–19, by position.
pub(crate) const UNITS: &str = "zero one two three four five six seven eight nine ten eleven \
    twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen";
/// English twenty to ninety.
pub(crate) const TENS: &str = "twenty thirty forty fifty sixty seventy eighty ninety";
/// English ordinals 0th–19th, by position.
pub(crate) const ORD_UNITS: &str = "zeroth first second third fourth fifth sixth seventh eighth \
    ninth tenth eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth \
    eighteenth nineteenth";
const ORD_TENS: &str = "twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth \
    ninetieth";

/// Words `from..to` of one of the lists above, as a regex alternation.
pub(crate) fn alternation(list: &str, from: usize, to: usize) -> String {
    list.split_whitespace().skip(from).take(to - from).collect::<Vec<_>>().join("|")
}

/// A number written in words.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WordNumber {
    pub(crate) range: Range<usize>,
    pub(crate) value: u64,
    pub(crate) ordinal: bool,
    /// A lone "second", far more often a unit of time or "the second one" than the number 2.
    pub(crate) bare_second: bool,
}

/// Words that make a "one" up to two words later a pronoun, unless a noun follows it.
const DETERMINERS: [&str; 12] =
    ["the", "this", "that", "which", "each", "every", "any", "no", "another", "other", "a", "an"];
/// Words after "one" that are not the noun it counts ("this one is fine", "the one with…").
const FUNCTION_WORDS: [&str; 20] = [
    "is", "was", "that", "which", "who", "with", "for", "of", "please", "and", "or", "but", "in",
    "on", "at", "to", "i", "you", "too", "instead",
];

/// Every number written in words in `text`, in order.
pub(crate) fn find_word_numbers(text: &str) -> Vec<WordNumber> {
    let toks = words(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let first = &text[toks[i].clone()];
        // Words with digits in them ("8th", "5k") are read by numbers.rs.
        let parsed = if first.chars().all(char::is_alphabetic) {
            parse_english(text, &toks, i).or_else(|| parse_foreign(text, &toks, i))
        } else {
            None
        };
        let Some((last, value, ordinal)) = parsed else {
            i += 1;
            continue;
        };
        // "Sept 5" is September, not the French seven.
        let rest = text[toks[last].end..].trim_start_matches('.').trim_start();
        let month =
            first.eq_ignore_ascii_case("sept") && rest.starts_with(|c: char| c.is_ascii_digit());
        // "no one", "the blue one", "this one is fine": a pronoun, not a count; but "just the
        // one night" counts nights, so a noun right after keeps it a number.
        let lower = |k: usize| text[toks[k].clone()].to_lowercase();
        let next = toks.get(i + 1).filter(|t| joined(text, &toks[i], t)).map(|_| lower(i + 1));
        let alone = next.is_none_or(|w| FUNCTION_WORDS.contains(&w.as_str()));
        let after_determiner =
            (i.saturating_sub(2)..i).any(|k| DETERMINERS.contains(&lower(k).as_str()));
        let pronoun = last == i
            && first.eq_ignore_ascii_case("one")
            && ((i > 0 && lower(i - 1) == "no") || (after_determiner && alone));
        if !month && !pronoun {
            out.push(WordNumber {
                range: toks[i].start..toks[last].end,
                value,
                ordinal,
                bare_second: last == i && first.eq_ignore_ascii_case("second"),
            });
        }
        i = last + 1;
    }
    out
}

/// The value of a phrase that is exactly one number: "8", "8th", "eleven", "twenty-first",
/// "second" (which `find_numbers` leaves out when alone, but "the second of May" needs).
pub(crate) fn value_of(phrase: &str) -> Option<u64> {
    let phrase = phrase.trim();
    let digits = phrase.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let suffix = phrase[digits.len()..].to_ascii_lowercase();
        let ordinal_or_none = ["", "st", "nd", "rd", "th"].contains(&suffix.as_str());
        return ordinal_or_none.then(|| digits.parse().ok())?;
    }
    let toks = words(phrase);
    let (last, value, _) = parse_english(phrase, &toks, 0)?;
    (last + 1 == toks.len()).then_some(value)
}

/// Words of `text` (runs of letters and digits), by byte range.
fn words(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// Whether two words can be parts of one number: a hyphen or spaces on one line between them.
fn joined(text: &str, a: &Range<usize>, b: &Range<usize>) -> bool {
    let gap = &text[a.end..b.start];
    gap == "-" || (!gap.is_empty() && gap.chars().all(|c| c.is_whitespace() && c != '\n'))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum En {
    Unit(u64),
    Ten(u64),
    Hundred,
    Scale(u64),
    Dozen,
    Couple,
    A,
    And,
}

/// An English number word and whether it is an ordinal ("first", "hundredth").
fn english(word: &str) -> Option<(En, bool)> {
    // The word lists as one table, built once: this runs for every word of every message.
    static TABLE: LazyLock<HashMap<&'static str, (En, bool)>> = LazyLock::new(|| {
        let mut t = HashMap::new();
        type List = (&'static str, bool, fn(u64) -> En);
        let lists: [List; 4] = [
            (UNITS, false, En::Unit),
            (ORD_UNITS, true, En::Unit),
            (TENS, false, |i| En::Ten(i * 10 + 20)),
            (ORD_TENS, true, |i| En::Ten(i * 10 + 20)),
        ];
        for (list, ordinal, make) in lists {
            for (i, w) in list.split_whitespace().enumerate() {
                t.entry(w).or_insert((make(i as u64), ordinal));
            }
        }
        t
    });
    let w = word.to_lowercase();
    if let Some(hit) = TABLE.get(w.as_str()) {
        return Some(*hit);
    }
    let ordinal = w.ends_with("th");
    Some(match w.trim_end_matches("th") {
        "hundred" => (En::Hundred, ordinal),
        "thousand" => (En::Scale(1_000), ordinal),
        "million" => (En::Scale(1_000_000), ordinal),
        "billion" => (En::Scale(1_000_000_000), ordinal),
        "dozen" if !ordinal => (En::Dozen, false),
        "couple" if !ordinal => (En::Couple, false),
        "a" | "an" if !ordinal => (En::A, false),
        "and" if !ordinal => (En::And, false),
        _ => return None,
    })
}

/// The longest English number starting at word `i`: its last word, value and whether it is
/// an ordinal. Each word must fit after the one before it ("twenty" then "five", "hundred"
/// after a unit, "and" only after a hundred or a thousand and before more of the number).
fn parse_english(text: &str, toks: &[Range<usize>], i: usize) -> Option<(usize, u64, bool)> {
    let (mut total, mut seg, mut seg_has_hundred, mut last_scale) = (0u64, 0u64, false, u64::MAX);
    let mut prev: Option<En> = None;
    let mut best = None;
    for j in i..toks.len() {
        if j > i && !joined(text, &toks[j - 1], &toks[j]) {
            break;
        }
        let Some((w, ordinal)) = english(&text[toks[j].clone()]) else { break };
        let ok = match (prev, w) {
            (None, En::A | En::Unit(_) | En::Ten(_)) => true,
            (_, En::Unit(0)) => false,
            (Some(En::Hundred | En::Scale(_) | En::And), En::Unit(_) | En::Ten(_)) => true,
            (Some(En::Ten(_)), En::Unit(v)) => v <= 9,
            (Some(En::A), En::Hundred | En::Dozen | En::Couple) => true,
            (Some(En::Unit(_) | En::Ten(_)), En::Hundred) => !seg_has_hundred && seg < 100,
            (Some(En::A | En::Unit(_) | En::Ten(_) | En::Hundred), En::Scale(s)) => s < last_scale,
            (Some(En::Unit(_) | En::Ten(_)), En::Dozen) => seg < 100,
            (Some(En::Hundred | En::Scale(_)), En::And) => true,
            _ => false,
        };
        if !ok {
            break;
        }
        if prev == Some(En::A) {
            seg = 1;
        }
        match w {
            En::Unit(v) | En::Ten(v) => seg += v,
            En::Hundred => (seg, seg_has_hundred) = (seg * 100, true),
            En::Scale(s) => {
                (total, seg, seg_has_hundred, last_scale) = (total + seg * s, 0, false, s);
            }
            En::Dozen => seg *= 12,
            En::Couple => seg = 2,
            En::A | En::And => {}
        }
        if !matches!(w, En::A | En::And) {
            best = Some((j, total + seg, ordinal));
        }
        if ordinal || matches!(w, En::Unit(0) | En::Dozen | En::Couple) {
            break;
        }
        prev = Some(w);
    }
    best
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Lang {
    Es,
    Fr,
    De,
    Pl,
}

/// The everyday numbers of the other languages our users write in: 0–19 by position, then
/// twenty to ninety; `|` separates forms of one number, `-` marks a gap. Left out because they
/// are English words too: Spanish "once" (11) and German "null" (0).
const FOREIGN: [(Lang, &str, &str); 4] = [
    (
        Lang::Es,
        "cero uno|una dos tres cuatro cinco seis siete ocho nueve diez - doce trece catorce quince \
         dieciséis diecisiete dieciocho diecinueve",
        "veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa",
    ),
    (
        Lang::Fr,
        "zéro un|une deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze \
         quinze seize",
        "vingt trente quarante cinquante soixante",
    ),
    (
        Lang::De,
        "- eins zwei drei vier fünf|fuenf sechs sieben acht neun zehn elf zwölf|zwoelf dreizehn \
         vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn",
        "zwanzig dreißig|dreissig vierzig fünfzig sechzig siebzig achtzig neunzig",
    ),
    (
        Lang::Pl,
        "zero jeden|jedna|jedno dwa|dwie trzy cztery pięć sześć siedem osiem dziewięć dziesięć \
         jedenaście dwanaście trzynaście czternaście piętnaście szesnaście siedemnaście \
         osiemnaście dziewiętnaście",
        "dwadzieścia trzydzieści czterdzieści pięćdziesiąt sześćdziesiąt siedemdziesiąt \
         osiemdziesiąt dziewięćdziesiąt",
    ),
];

/// `word` with Polish, French, Spanish and German diacritics dropped.
fn fold(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            'ą' | 'ä' => 'a',
            'ć' => 'c',
            'ę' | 'é' | 'è' => 'e',
            'ł' => 'l',
            'ń' => 'n',
            'ó' | 'ö' => 'o',
            'ś' | 'ß' => 's',
            'ź' | 'ż' => 'z',
            'ü' => 'u',
            c => c,
        })
        .collect()
}

/// A foreign number word's value and language. The table's words also match with diacritics
/// dropped ("piec", "funf"), as phone keyboards often drop them; the input is not folded, so an
/// accented word that differs ("très") stays unmatched.
fn foreign(word: &str) -> Option<(u64, Lang)> {
    // Every form and its folded spelling, the first language listing it winning; built once.
    static TABLE: LazyLock<HashMap<String, (u64, Lang)>> = LazyLock::new(|| {
        let mut t = HashMap::new();
        for (lang, units, tens) in FOREIGN {
            let tens = tens.split_whitespace().zip((20..).step_by(10));
            for (forms, value) in units.split_whitespace().zip(0..).chain(tens) {
                for f in forms.split('|') {
                    t.entry(f.to_owned()).or_insert((value, lang));
                    t.entry(fold(f)).or_insert((value, lang));
                }
            }
        }
        t
    });
    let w = word.to_lowercase();
    if let Some(hit) = TABLE.get(&w) {
        return Some(*hit);
    }
    // German writes 21–99 as one word: "einundzwanzig".
    let (unit, ten) = w.split_once("und")?;
    let unit = if unit == "ein" { 1 } else { foreign(unit).filter(|f| f.1 == Lang::De)?.0 };
    let ten = foreign(ten).filter(|&(t, l)| l == Lang::De && t >= 20 && t % 10 == 0)?.0;
    (1..=9).contains(&unit).then_some((ten + unit, Lang::De))
}

/// A foreign number at word `i`: a word, or a ten and a unit of the same language joined by a
/// hyphen, a space or the language's "and" ("vingt-cinq", "treinta y dos", "dwadzieścia pięć").
/// French "dix" counts as a ten here, for "dix-sept".
fn parse_foreign(text: &str, toks: &[Range<usize>], i: usize) -> Option<(usize, u64, bool)> {
    let (ten, lang) = foreign(&text[toks[i].clone()])?;
    let is_ten = ten >= 20 && ten % 10 == 0 || (lang == Lang::Fr && ten == 10);
    let connector = match lang {
        Lang::Es => "y",
        Lang::Fr => "et",
        _ => "",
    };
    let mut j = i + 1;
    if is_ten
        && j + 1 < toks.len()
        && joined(text, &toks[i], &toks[j])
        && text[toks[j].clone()].eq_ignore_ascii_case(connector)
    {
        j += 1;
    }
    if is_ten
        && j < toks.len()
        && joined(text, &toks[j - 1], &toks[j])
        && let Some((unit, l)) = foreign(&text[toks[j].clone()])
        && l == lang
        && (1..=9).contains(&unit)
    {
        return Some((j, ten + unit, false));
    }
    Some((i, ten, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<u64> {
        find_word_numbers(text).into_iter().filter(|n| !n.bare_second).map(|n| n.value).collect()
    }

    #[test]
    fn reads_english_numbers() {
        let cases: &[(&str, &[u64])] = &[
            ("five", &[5]),
            ("twenty-five", &[25]),
            ("twenty five", &[25]),
            ("one hundred and sixteen", &[116]),
            ("a hundred", &[100]),
            ("an hour", &[]),
            ("a dozen eggs", &[12]),
            ("two dozen", &[24]),
            ("a couple of days", &[2]),
            ("two thousand and five", &[2005]),
            ("one million two hundred thousand", &[1_200_000]),
            ("twenty five hundred", &[2500]),
            ("five six", &[5, 6]),
            ("one hundred and more", &[100]),
            ("Twenty-First", &[21]),
            ("first", &[1]),
            ("the twenty-second", &[22]),
            ("one hundredth", &[100]),
            ("zero", &[0]),
            ("zero one", &[0, 1]),
            ("I need one", &[1]),
            ("a table for one", &[1]),
            ("no one, the blue one, this one is fine, a big one please", &[]),
            ("tonight, just the one night", &[1]),
            ("the one hundred", &[100]),
            ("wait a second", &[]),
            ("someone often sent a tent", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(values(text), *want, "{text:?}");
        }
        let ordinals: Vec<bool> =
            find_word_numbers("fifth five ninetieth").into_iter().map(|n| n.ordinal).collect();
        assert_eq!(ordinals, [true, false, true]);
    }

    #[test]
    fn reads_spanish_french_german_and_polish_numbers() {
        let cases: &[(&str, &[u64])] = &[
            ("dos", &[2]),
            ("treinta y dos", &[32]),
            ("trois", &[3]),
            ("vingt-cinq", &[25]),
            ("vingt et un", &[21]),
            ("dix-sept", &[17]),
            ("zwei", &[2]),
            ("einundzwanzig", &[21]),
            ("Dreißig", &[30]),
            ("trzy", &[3]),
            ("dwadzieścia pięć", &[25]),
            ("piec", &[5]),
            ("Dziewiętnaście", &[19]),
            ("très bien", &[]),
            ("once", &[]),
            ("null", &[]),
            ("Sept 5", &[]),
            ("sept nuits", &[7]),
        ];
        for (text, want) in cases {
            assert_eq!(values(text), *want, "{text:?}");
        }
    }

    #[test]
    fn value_of_reads_a_whole_phrase() {
        assert_eq!(value_of("8th"), Some(8));
        assert_eq!(value_of("second"), Some(2));
        assert_eq!(value_of("twenty first"), Some(21));
        assert_eq!(value_of("eleven"), Some(11));
        assert_eq!(value_of("8x"), None);
        assert_eq!(value_of("five six"), None);
    }
}
