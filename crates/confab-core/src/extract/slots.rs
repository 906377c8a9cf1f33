//! What a schema key is called in running text: the words of its key and of its questions,
//! stemmed, with the words every key shares left out, so that "check in on the 3rd" names
//! `check_in_date` and not `check_out_date`, and "3 bedrooms" names `number_of_beds`. A small
//! table of general English synonyms joins words that count or mark the same thing (people,
//! guests, riders; nights and days; leave and depart). Cues are computed once per schema.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::LazyLock;

use crate::datapoints::{Definition, Kind, Question};

/// Words that say nothing about which key a value belongs to.
const STOP: &[&str] = &[
    "a", "an", "the", "of", "for", "to", "in", "on", "at", "by", "or", "and", "with", "from", "is",
    "are", "be", "it", "its", "this", "that", "these", "those", "which", "what", "when", "how",
    "many", "much", "do", "you", "your", "yours", "i", "me", "my", "we", "our", "us", "would",
    "like", "want", "need", "please", "will", "can", "could", "should", "there", "here", "some",
    "any", "one", "so", "as", "if", "not", "no", "yes", "about", "then", "than", "just", "also",
    "find", "get", "make", "have", "has", "had", "want", "into", "up", "out", "off", "id", "value",
    "key", "given", "user",
];

/// Words that finish a verb ("check in", "pick up", "drop off").
const PARTICLES: &[&str] = &["in", "out", "up", "off", "on", "back"];

/// Words that only repeat a value's type ("booking date", "number of rooms").
fn type_words(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Date => &["date", "day", "dat"],
        Kind::Time => &["time", "tim", "hour"],
        Kind::Datetime => &["date", "time", "dat", "tim"],
        Kind::Number => &["number", "count", "quantity", "amount"],
        Kind::Money => &["amount", "money", "sum", "price"],
        Kind::Email => &["email", "mail", "address"],
        Kind::Phone => &["phone", "number", "telephone", "mobile"],
        Kind::Url => &["url", "link", "website"],
        Kind::Name => &["name"],
        Kind::Text | Kind::Choice | Kind::Regex => &[],
    }
}

/// Groups of stems that mean the same for telling keys apart; a stem is replaced by the
/// group's first.
const SYNONYMS: &[&[&str]] = &[
    &[
        "person",
        "peopl",
        "adult",
        "guest",
        "pax",
        "individu",
        "traveler",
        "traveller",
        "passenger",
        "rider",
        "attende",
        "ticket",
        "seat",
        "spot",
        "party",
        "group",
        "head",
    ],
    &["night", "day", "nite"],
    &["bed", "bedroom"],
    &["bath", "bathroom", "restroom", "toilet"],
    &["depart", "leav"],
    &["outbound", "onward", "outgo"],
    &["return", "back", "inbound"],
    &["arriv", "land", "reach"],
    &["pickup", "collect", "pick"],
    &["dropoff", "drop"],
    &["start", "begin", "commenc"],
    &["end", "finish", "until", "till"],
    &["checkin"],
    &["checkout"],
];

/// A word's stem: lower-case, possessive and the commonest English endings taken off, so
/// "departing", "departure" and "depart" meet, as do "nights" and "night".
pub(crate) fn stem(word: &str) -> String {
    let mut out = String::new();
    push_stem(word, &mut out);
    out
}

/// [`stem`], appended to `out` (a message's words are stemmed into one buffer).
fn push_stem(word: &str, out: &mut String) {
    let start = out.len();
    for c in word.chars() {
        match c {
            '’' => out.push('\''),
            c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
            c => out.extend(c.to_lowercase()),
        }
    }
    if out[start..].ends_with("'s") {
        out.truncate(out.len() - 2);
    }
    for suffix in
        ["ations", "ation", "ings", "ing", "ures", "ure", "als", "al", "ies", "es", "ed", "s", "e"]
    {
        if out.len() - start >= suffix.len() + 3 && out.ends_with(suffix) {
            out.truncate(out.len() - suffix.len());
            break;
        }
    }
}

fn canonical(stem: &str) -> &str {
    static GROUPS: LazyLock<HashMap<&'static str, &'static str>> =
        LazyLock::new(|| SYNONYMS.iter().flat_map(|g| g.iter().map(|w| (*w, g[0]))).collect());
    GROUPS.get(stem).copied().unwrap_or(stem)
}

/// The words of `text` (letters and digits), with their byte ranges.
pub(crate) fn tokens(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let word = c.is_alphanumeric() || (c == '\'' || c == '’') && start.is_some();
        match (word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..text.len());
    }
    out
}

/// A message's words as cues see them: per token, the concepts it starts — its own stem's, and
/// those of it joined with the next one or two, so "pick up" meets "pickup" — computed once per
/// message, as every candidate and key looks at them.
pub(crate) struct Words {
    pub(crate) ranges: Vec<Range<usize>>,
    /// Per token, the canonical concept of 1, 2 and 3 tokens from it (empty past the end), as
    /// ranges of `text`.
    concepts: Vec<[Range<usize>; 3]>,
    /// The stems, then the concepts, one after another: one allocation, not four per word.
    text: String,
}

impl Words {
    pub(crate) fn new(message: &str) -> Words {
        let ranges = tokens(message);
        let mut text = String::with_capacity(message.len() * 4);
        let stems: Vec<Range<usize>> = ranges
            .iter()
            .map(|r| {
                let start = text.len();
                push_stem(&message[r.clone()], &mut text);
                start..text.len()
            })
            .collect();
        let mut joined = String::new();
        let concepts = (0..stems.len())
            .map(|i| {
                joined.clear();
                std::array::from_fn(|n| match stems.get(i + n) {
                    Some(s) => {
                        joined.push_str(&text[s.clone()]);
                        let start = text.len();
                        text.push_str(canonical(&joined));
                        start..text.len()
                    }
                    None => 0..0,
                })
            })
            .collect();
        Words { ranges, concepts, text }
    }

    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }

    /// The index of the first token at or after byte `at`.
    pub(crate) fn index_at(&self, at: usize) -> usize {
        self.ranges.partition_point(|r| r.end <= at)
    }

    /// The concept of the `n` + 1 tokens from token `i` (empty past the end).
    fn concept(&self, i: usize, n: usize) -> &str {
        self.concepts.get(i).map_or("", |c| &self.text[c[n].clone()])
    }

    /// The cue of `cues` that starts at token `i`, and how many tokens it spans.
    pub(crate) fn cue_at<'c>(&self, i: usize, cues: &'c [String]) -> Option<(&'c str, usize)> {
        (0..3).find_map(|n| {
            let c = self.concept(i, n);
            if c.is_empty() {
                return None;
            }
            cues.iter().find(|cue| *cue == c).map(|cue| (cue.as_str(), n + 1))
        })
    }
}

/// The cues of every definition, in schema order: stems of the key's words and its questions'
/// words (spelled-out key phrases such as "check in" also joined), without stop words, type
/// words, and — where several keys share a type — the words all of them share; where a schema
/// has three keys or more, a word in more than half of them says nothing either.
pub(crate) fn cues(definitions: &[Definition]) -> Vec<Vec<String>> {
    let own: Vec<Vec<String>> = definitions.iter().map(own_words).collect();
    let n = definitions.len();
    let df = |w: &String| own.iter().filter(|ws| ws.contains(w)).count();
    definitions
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let same_kind: Vec<usize> = (0..n).filter(|&j| definitions[j].kind == d.kind).collect();
            own[i]
                .iter()
                .filter(|w| {
                    let shared_by_kind =
                        same_kind.len() > 1 && same_kind.iter().all(|&j| own[j].contains(w));
                    let common = n >= 3 && df(w) * 2 > n;
                    !shared_by_kind && !common
                })
                .cloned()
                .collect()
        })
        .collect()
}

fn own_words(d: &Definition) -> Vec<String> {
    // A value that says what it is (an email, a phone) is named by its type's words ("my email
    // is …"); a date or a count is not ("the date is" says nothing about which date).
    let typed = !matches!(d.kind, Kind::Email | Kind::Phone | Kind::Url | Kind::Name);
    let skip = |raw: &str, s: &str| {
        STOP.contains(&raw) || typed && type_words(d.kind).contains(&s) || s.len() < 2
    };
    let mut out: Vec<String> = Vec::new();
    let mut add = |w: String| {
        if !out.contains(&w) {
            out.push(w);
        }
    };
    // The key: each word, and a verb with its particle joined ("check_in_date" → checkin).
    let key = spaced(&d.key);
    let key_stems: Vec<String> = tokens(&key).into_iter().map(|r| stem(&key[r])).collect();
    let phrase: Vec<&str> = key_stems
        .iter()
        .map(String::as_str)
        .filter(|s| !type_words(d.kind).contains(s) && (PARTICLES.contains(s) || !STOP.contains(s)))
        .collect();
    if phrase.len() > 1 && phrase.iter().any(|s| PARTICLES.contains(s)) {
        add(canonical(&phrase.concat()).to_owned());
    }
    for (r, s) in tokens(&key).into_iter().zip(&key_stems) {
        if !skip(&key[r], s) {
            add(canonical(s).to_owned());
        }
    }
    for q in &d.questions {
        if let Question::Phrase(p) = q {
            for r in tokens(p) {
                let s = stem(&p[r.clone()]);
                if !skip(&p[r], &s) {
                    add(canonical(&s).to_owned());
                }
            }
        }
    }
    out
}

/// "booking_date", "bookingDate", "Booking Date" → "booking date".
pub(crate) fn spaced(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev_lower = false;
    for c in key.chars() {
        if c == '_' || c == '-' || c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = c.is_lowercase();
        out.extend(c.to_lowercase());
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapoints::SchemaInput;
    use serde_json::json;

    fn schema_cues(v: serde_json::Value) -> Vec<Vec<String>> {
        let s = serde_json::from_value::<SchemaInput>(json!({ "datapoints": v }))
            .unwrap()
            .validate()
            .unwrap();
        s.definitions.iter().map(|d| d.cues.clone()).collect()
    }

    #[test]
    fn stems_meet() {
        for (a, b) in [("departing", "departure"), ("nights", "night"), ("Arrival", "arrive")] {
            assert_eq!(stem(a), stem(b), "{a} {b}");
        }
        assert_eq!(spaced("booking_date"), "booking date");
        assert_eq!(spaced("bookingDate"), "booking date");
        assert_eq!(spaced("Booking Date"), "booking date");
    }

    #[test]
    fn keys_of_one_type_are_told_apart() {
        let cues = schema_cues(json!([
            {"key": "check_in_date", "type": "date", "questions": ["Start date for the reservation"]},
            {"key": "check_out_date", "type": "date", "questions": ["End date for the reservation"]},
            {"key": "number_of_adults", "type": "number", "questions": ["Number of people"]}
        ]));
        assert!(cues[0].contains(&"checkin".to_owned()) && cues[0].contains(&"start".to_owned()));
        assert!(cues[1].contains(&"checkout".to_owned()) && cues[1].contains(&"end".to_owned()));
        assert!(!cues[0].contains(&"reservation".to_owned()), "{cues:?}");
        assert_eq!(cues[2], ["person"]);
        let w = Words::new("I'd like to check in on the 3rd and checking out the 7th");
        let at = |word: &str| (0..w.len()).find(|&i| w.concept(i, 0) == word).unwrap();
        assert_eq!(w.cue_at(at("check"), &cues[0]), Some(("checkin", 2)));
        assert_eq!(w.cue_at(at("check"), &cues[1]), None);
        let w = Words::new("two guests");
        assert_eq!(w.cue_at(1, &cues[2]), Some(("person", 1)));
    }
}
