//! Where in its message a datapoint's value was read: the words a reader can check it against.
//! The store keeps the value in canonical form (E.164 phone, ISO date) and the message it came
//! from, not the span, so the span is found again here: the value as written, else the
//! shortest run of words that the key's own parser reads as the same value.

use std::ops::Range;

use confab_core::datapoints::Definition;
use confab_core::extract::{Context, parse_value};
use confab_core::time::Millis;
use serde_json::Value;

/// Runs of up to this many words are tried; values are written in a few words.
const MAX_WORDS: usize = 8;
/// A longer message is searched only this far (bytes): the page stays quick on a pasted essay.
const MAX_TEXT: usize = 4_000;

/// The byte range of `text` that says `value` for `def`, if one does.
pub fn span_of(
    def: Option<&Definition>,
    value: &Value,
    text: &str,
    ctx: &Context,
    at: Millis,
) -> Option<Range<usize>> {
    let text = &text[..floor_boundary(text, MAX_TEXT)];
    if let Value::String(s) = value
        && !s.is_empty()
    {
        // ASCII lower-casing keeps byte offsets.
        if let Some(i) = text.to_ascii_lowercase().find(&s.to_ascii_lowercase()) {
            return Some(i..i + s.len());
        }
    }
    let def = def?;
    let words = words(text);
    for len in 1..=MAX_WORDS.min(words.len()) {
        for w in words.windows(len) {
            let range = w[0].start..w[len - 1].end;
            let said = Value::String(text[range.clone()].to_owned());
            if parse_value(def, &said, ctx, at).as_ref() == Some(value) {
                return Some(range);
            }
        }
    }
    None
}

fn floor_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Runs of non-space characters, without the punctuation that closes a sentence or a clause.
fn words(text: &str) -> Vec<Range<usize>> {
    let mut out = vec![];
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                let word = text[s..i].trim_end_matches(['.', ',', '!', '?', ';', ':', ')', '"']);
                let lead = word.len() - word.trim_start_matches(['(', '"']).len();
                if word.len() > lead {
                    out.push(s + lead..s + word.len());
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// `text` cut into pieces, each either plain or one of `spans` (marked with its key), in order.
/// Overlapping spans: the first one wins.
pub fn segments(text: &str, spans: &[(Range<usize>, String)]) -> Vec<(String, Option<String>)> {
    let mut spans: Vec<&(Range<usize>, String)> = spans.iter().collect();
    spans.sort_by_key(|(r, _)| r.start);
    let mut out = vec![];
    let mut at = 0;
    for (r, key) in spans {
        if r.start < at || r.end > text.len() {
            continue;
        }
        if r.start > at {
            out.push((text[at..r.start].to_owned(), None));
        }
        out.push((text[r.clone()].to_owned(), Some(key.clone())));
        at = r.end;
    }
    if at < text.len() || out.is_empty() {
        out.push((text[at..].to_owned(), None));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::datapoints::SchemaInput;
    use serde_json::json;

    fn def(kind: &str) -> Definition {
        let input: SchemaInput =
            serde_json::from_value(json!({"datapoints": [{"key": "k", "type": kind}]})).unwrap();
        input.validate().unwrap().definitions.remove(0)
    }

    fn said<'a>(kind: &str, value: Value, text: &'a str) -> Option<&'a str> {
        let ctx = Context::new(Some("PL"), None).unwrap();
        // 2026-03-02 10:00 UTC, a Monday.
        span_of(Some(&def(kind)), &value, text, &ctx, 1_772_445_600_000).map(|r| &text[r])
    }

    #[test]
    fn a_value_as_written_is_found_whatever_its_case() {
        assert_eq!(
            said("email", json!("ana@example.com"), "It is Ana@Example.com."),
            Some("Ana@Example.com")
        );
    }

    #[test]
    fn a_canonical_value_is_found_by_reading_the_words_again() {
        assert_eq!(
            said("phone", json!("+48601234567"), "call me on 601 234 567, thanks"),
            Some("601 234 567")
        );
        assert_eq!(said("number", json!(3), "we are (3) people"), Some("3"));
    }

    #[test]
    fn nothing_is_quoted_when_the_message_does_not_say_it() {
        assert_eq!(said("email", json!("bo@example.com"), "no idea"), None);
        let ctx = Context::default();
        assert_eq!(span_of(None, &json!(12), "twelve", &ctx, 0), None);
    }

    #[test]
    fn segments_mark_spans_in_order_and_keep_the_rest() {
        let text = "mail a@b.co or call 123";
        let s = segments(text, &[(20..23, "phone".into()), (5..11, "email".into())]);
        let joined: String = s.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(joined, text);
        assert_eq!(s[1], ("a@b.co".to_owned(), Some("email".to_owned())));
        assert_eq!(s[3], ("123".to_owned(), Some("phone".to_owned())));
        assert_eq!(segments("", &[]), vec![(String::new(), None)]);
    }
}
