//! Redaction at ingest: the spans of a message's text a bot's `redact` setting names (emails,
//! phone numbers, card numbers, IBANs, its own patterns) replaced by a typed mask (`[email]`)
//! before the text is stored. Emails and phone numbers are found by extraction's own
//! recognisers, so that what is masked is what extraction would read as one; a card number is a
//! Luhn-valid run of 13–19 digits, an IBAN a run whose mod-97 checksum holds — a digit run that
//! fails its checksum is kept as typed. See docs/extraction.md for how datapoints still fill.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::FieldError;
use crate::datapoints::Kind;
use crate::extract::{self, Context};

/// At most this many rules per bot.
pub const MAX_RULES: usize = 20;
/// The longest custom pattern, in bytes.
pub const MAX_PATTERN_BYTES: usize = 500;
/// The most memory one compiled pattern may take (the `regex` crate's size limit).
const PATTERN_SIZE_LIMIT: usize = 256 * 1024;
/// The mask of a custom pattern that names none: `[redacted]`.
pub const DEFAULT_MASK: &str = "redacted";

/// A built-in kind of value to mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RedactKind {
    Email,
    Phone,
    Card,
    Iban,
}

impl RedactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RedactKind::Email => "email",
            RedactKind::Phone => "phone",
            RedactKind::Card => "card",
            RedactKind::Iban => "iban",
        }
    }

    fn parse(s: &str) -> Option<RedactKind> {
        [RedactKind::Email, RedactKind::Phone, RedactKind::Card, RedactKind::Iban]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A bot's own pattern: its matches become `[mask]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomRedaction {
    /// A regular expression (Rust `regex` syntax, at most 500 bytes).
    pub pattern: String,
    /// The mask's name: letters, digits, `_` or `-`, at most 32; `redacted` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
}

/// One entry of the `redact` setting: a built-in kind (`"email"`) or a pattern
/// (`{"pattern": "ORD-\\d{6}", "mask": "order"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RedactRule {
    Kind(RedactKind),
    Custom(CustomRedaction),
}

impl<'de> Deserialize<'de> for RedactRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::String(s) => RedactKind::parse(&s).map(RedactRule::Kind).ok_or_else(|| {
                D::Error::custom(format!(
                    "unknown kind `{s}`: use email, phone, card, iban or {{\"pattern\": …, \"mask\": …}}"
                ))
            }),
            v @ Value::Object(_) => {
                serde_json::from_value(v).map(RedactRule::Custom).map_err(D::Error::custom)
            }
            _ => Err(D::Error::custom(
                "expected a kind (email, phone, card, iban) or {\"pattern\": …, \"mask\": …}",
            )),
        }
    }
}

/// Checks a bot's rules (`field` is the setting's name, for the errors): known kinds, patterns
/// that compile within the size limit and cannot match nothing, mask names.
pub fn validate(rules: &[RedactRule], field: &str) -> Result<(), FieldError> {
    if rules.len() > MAX_RULES {
        return Err(FieldError::new(field, format!("at most {MAX_RULES} rules")));
    }
    for (i, rule) in rules.iter().enumerate() {
        if let RedactRule::Custom(c) = rule {
            compile(c).map_err(|e| e.within(&format!("{field}[{i}]")))?;
        }
    }
    Ok(())
}

fn compile(c: &CustomRedaction) -> Result<(Regex, String), FieldError> {
    if c.pattern.len() > MAX_PATTERN_BYTES {
        return Err(FieldError::new("pattern", format!("at most {MAX_PATTERN_BYTES} bytes")));
    }
    let re = RegexBuilder::new(&c.pattern)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| FieldError::new("pattern", format!("not a valid pattern: {e}")))?;
    if re.is_match("") {
        return Err(FieldError::new("pattern", "matches the empty string"));
    }
    let mask = c.mask.clone().unwrap_or_else(|| DEFAULT_MASK.to_owned());
    let ok = (1..=32).contains(&mask.len())
        && mask.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
    if !ok {
        return Err(FieldError::new("mask", "1 to 32 letters, digits, `_` or `-`"));
    }
    Ok((re, mask))
}

/// A bot's rules, compiled.
#[derive(Debug, Clone)]
pub struct Redactor {
    kinds: Vec<RedactKind>,
    custom: Vec<(Regex, String)>,
    ctx: Context,
}

impl Redactor {
    /// The compiled rules; `None` when there are none. `ctx` says where a phone number without
    /// a country code is local, as for extraction.
    pub fn new(rules: &[RedactRule], ctx: Context) -> Result<Option<Redactor>, FieldError> {
        if rules.is_empty() {
            return Ok(None);
        }
        let mut kinds = vec![];
        let mut custom = vec![];
        for (i, rule) in rules.iter().enumerate() {
            match rule {
                RedactRule::Kind(k) => kinds.push(*k),
                RedactRule::Custom(c) => {
                    custom.push(compile(c).map_err(|e| e.within(&format!("redact[{i}]")))?)
                }
            }
        }
        Ok(Some(Redactor { kinds, custom, ctx }))
    }

    /// `text` with every span the rules find replaced by its mask; borrowed when none is found.
    /// Where spans overlap, the earlier rule's wins: cards, IBANs, emails, phone numbers, then
    /// the bot's patterns in order.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut spans: Vec<(Range<usize>, &str)> = vec![];
        for kind in [RedactKind::Card, RedactKind::Iban, RedactKind::Email, RedactKind::Phone] {
            if !self.kinds.contains(&kind) {
                continue;
            }
            let found = match kind {
                RedactKind::Card => find_cards(text),
                RedactKind::Iban => find_ibans(text),
                RedactKind::Email => extract::spans_of(Kind::Email, text, &self.ctx),
                RedactKind::Phone => extract::spans_of(Kind::Phone, text, &self.ctx),
            };
            take(&mut spans, found, kind.as_str());
        }
        for (re, mask) in &self.custom {
            let found = re.find_iter(text).filter(|m| !m.is_empty()).map(|m| m.range());
            take(&mut spans, found, mask);
        }
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        spans.sort_by_key(|(r, _)| r.start);
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (r, mask) in &spans {
            out.push_str(&text[at..r.start]);
            out.push('[');
            out.push_str(mask);
            out.push(']');
            at = r.end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }
}

/// Adds the spans `found` that overlap none already taken.
fn take<'m>(
    spans: &mut Vec<(Range<usize>, &'m str)>,
    found: impl IntoIterator<Item = Range<usize>>,
    mask: &'m str,
) {
    for r in found {
        if !spans.iter().any(|(s, _)| s.start < r.end && r.start < s.end) {
            spans.push((r, mask));
        }
    }
}

/// Digits with single spaces or dashes between groups, as card numbers are typed.
static DIGIT_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d(?:[ \-]?\d)*").expect("a valid pattern"));

/// Luhn-valid runs of 13–19 digits not glued to letters or other digits.
pub fn find_cards(text: &str) -> Vec<Range<usize>> {
    DIGIT_RUN
        .find_iter(text)
        .filter(|m| {
            let glued = text[..m.start()].chars().next_back().is_some_and(char::is_alphanumeric)
                || text[m.end()..].chars().next().is_some_and(char::is_alphanumeric);
            let digits: Vec<u32> = m.as_str().chars().filter_map(|c| c.to_digit(10)).collect();
            !glued && (13..=19).contains(&digits.len()) && luhn_valid(&digits)
        })
        .map(|m| m.range())
        .collect()
}

/// The Luhn checksum: from the right, every second digit doubled (less 9 past 9); the sum
/// divides by 10.
pub fn luhn_valid(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match i % 2 {
            1 if d * 2 > 9 => d * 2 - 9,
            1 => d * 2,
            _ => d,
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// A country code, two check digits, then letters and digits in groups with optional spaces.
static IBAN_CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,40}").expect("a valid pattern")
});

/// IBANs whose mod-97 checksum holds. A candidate may run on into the next word ("… 00 OK"),
/// so it is cut back at its spaces until a checksum holds.
pub fn find_ibans(text: &str) -> Vec<Range<usize>> {
    let mut out = vec![];
    for m in IBAN_CANDIDATE.find_iter(text) {
        let s = m.as_str();
        let mut ends: Vec<usize> = s.match_indices(' ').map(|(i, _)| i).collect();
        ends.push(s.len());
        let glued_after = text[m.end()..].chars().next().is_some_and(char::is_alphanumeric);
        for &end in ends.iter().rev() {
            if end == s.len() && glued_after {
                continue;
            }
            let compact: String = s[..end].chars().filter(|c| *c != ' ').collect();
            if (15..=34).contains(&compact.len()) && iban_valid(&compact) {
                out.push(m.start()..m.start() + end);
                break;
            }
        }
    }
    out
}

/// ISO 13616's check: the first four characters moved to the end, letters as 10–35, the number
/// mod 97 is 1.
pub fn iban_valid(compact: &str) -> bool {
    if compact.len() < 5 || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v < 10 { (rem * 10 + v) % 97 } else { (rem * 100 + v) % 97 };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(json: &str) -> Redactor {
        let rules: Vec<RedactRule> = serde_json::from_str(json).unwrap();
        let ctx = Context::new(Some("DE"), None).unwrap();
        Redactor::new(&rules, ctx).unwrap().unwrap()
    }

    #[test]
    fn luhn_tells_card_numbers_from_other_digits() {
        let digits = |s: &str| s.chars().filter_map(|c| c.to_digit(10)).collect::<Vec<_>>();
        assert!(luhn_valid(&digits("4111111111111111")));
        assert!(luhn_valid(&digits("5555 5555 5555 4444")));
        assert!(luhn_valid(&digits("378282246310005")));
        assert!(!luhn_valid(&digits("4111111111111112")));
        assert!(!luhn_valid(&[]));
        assert_eq!(find_cards("card 4111-1111-1111-1111."), vec![5..24]);
        assert_eq!(find_cards("card 4111 1111 1111 1111 exp 12/29"), vec![5..24]);
        // Luhn-invalid, too short, too long, glued to letters: kept.
        assert!(find_cards("4111 1111 1111 1112").is_empty());
        assert!(find_cards("411111111111").is_empty());
        assert!(find_cards("41111111111111111111").is_empty());
        assert!(find_cards("X4111111111111111").is_empty());
    }

    #[test]
    fn ibans_are_checked_mod_97() {
        assert!(iban_valid("DE89370400440532013000"));
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(!iban_valid("DE89370400440532013001"));
        let text = "pay to DE89 3704 0044 0532 0130 00 OK?";
        assert_eq!(&text[find_ibans(text)[0].clone()], "DE89 3704 0044 0532 0130 00");
        assert_eq!(find_ibans("iban GB82WEST12345698765432"), vec![5..27]);
        assert!(find_ibans("DE89 3704 0044 0532 0130 01").is_empty());
    }

    #[test]
    fn every_kind_gets_its_mask() {
        let r = redactor(
            r#"["email", "phone", "card", "iban", {"pattern": "ORD-\\d{6}", "mask": "order"}]"#,
        );
        let text = "I'm ann@example.com, +49 30 901820, card 4111 1111 1111 1111, \
                    not 4111 1111 1111 1112, IBAN DE89370400440532013000 \
                    (not DE89370400440532013001), order ORD-123456.";
        assert_eq!(
            r.redact(text),
            "I'm [email], [phone], card [card], not 4111 1111 1111 1112, IBAN [iban] \
             (not DE89370400440532013001), order [order]."
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn only_the_kinds_asked_for_are_masked() {
        let r = redactor(r#"["card", {"pattern": "secret-\\w+"}]"#);
        assert_eq!(
            r.redact("ann@example.com 4111111111111111 secret-zebra"),
            "ann@example.com [card] [redacted]"
        );
    }

    #[test]
    fn rules_are_validated_with_their_field() {
        let parse = |json: &str| serde_json::from_str::<Vec<RedactRule>>(json);
        assert!(parse(r#"["ssn"]"#).is_err());
        assert!(parse(r#"[3]"#).is_err());
        assert!(parse(r#"[{"pattern": "x", "colour": "red"}]"#).is_err());
        for (json, field) in [
            (r#"["email", "card", {"pattern": "ORD-(\\d"}]"#, "redact[2].pattern"),
            (r#"[{"pattern": "a*"}]"#, "redact[0].pattern"),
            (r#"[{"pattern": "x", "mask": "no spaces"}]"#, "redact[0].mask"),
        ] {
            let rules = parse(json).unwrap();
            assert_eq!(validate(&rules, "redact").unwrap_err().field, field, "{json}");
        }
        let long = format!(r#"[{{"pattern": "{}"}}]"#, "a".repeat(MAX_PATTERN_BYTES + 1));
        assert_eq!(
            validate(&parse(&long).unwrap(), "redact").unwrap_err().field,
            "redact[0].pattern"
        );
        let huge = parse(r#"[{"pattern": "\\w{1000}\\w{1000}"}]"#).unwrap();
        assert_eq!(validate(&huge, "redact").unwrap_err().field, "redact[0].pattern");
        let too_many = vec![RedactRule::Kind(RedactKind::Email); MAX_RULES + 1];
        assert_eq!(validate(&too_many, "redact").unwrap_err().field, "redact");
    }
}
