//! The words around a value that tell what it is: "my name is …", "sorry, it's actually …",
//! "what's your email?". English first, with the common forms in Spanish, French, German,
//! Polish, Italian and Portuguese. Everything here is matched on lower-cased text.

use std::sync::LazyLock;

use regex::Regex;

use crate::datapoints::Kind;

/// How a user says their name without being asked. The name is the capture.
static NAME_CUES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|[^\p{L}])(?i:my name is|my name's|name's|i am called|call me|soy|chamo-me|au nom de|i'm|i am|im|this is|me llamo|mi nombre es|je m'appelle|je m’appelle|je suis|mon nom est|ich heiße|ich heisse|ich bin|mein name ist|nazywam się|mam na imię|jestem|mi chiamo|il mio nome è|me chamo|meu nome é|o meu nome é)\s+(\p{L}[\p{L}'’\-]*(?:\s+\p{Lu}[\p{L}'’\-]*){0,2})",
    )
    .expect("a valid pattern")
});

/// The user's own name in a message that says it ("I'm Anna", "call me Bob"), when the words
/// after the cue look like a name: capitalised, or the whole rest of a short message.
pub(super) fn name_said(text: &str) -> Option<String> {
    name_said_at(text).map(|(_, name)| name)
}

/// [`name_said`], with the span of the name.
pub(super) fn name_said_at(text: &str) -> Option<(std::ops::Range<usize>, String)> {
    for caps in NAME_CUES.captures_iter(text) {
        let m = caps.get(1)?;
        let first = m.as_str().split_whitespace().next().unwrap_or_default();
        // "call me on 555…", "I'm looking for…": a cue followed by an ordinary word.
        if is_common_word(first) {
            continue;
        }
        let rest = text[m.end()..].trim_matches(|c: char| !c.is_alphanumeric());
        let capitalised = first.chars().next().is_some_and(char::is_uppercase);
        if capitalised || rest.is_empty() {
            return super::typed::parse_name(m.as_str()).map(|n| (m.range(), n));
        }
    }
    None
}

static NAME_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:(?:hi|hello|hey|hiya|yea|yep|sure|yes|yeah|ok|okay|of course|sorry|oops|actually|no|hola|oui|ja|tak|sì|sim)[,!.]?\s+)*((?:(?:it's|it is|its|my name is|my name's|name's|i am|i'm|im|this is|call me|me llamo|soy|mi nombre es|je m'appelle|je suis|c'est|ich heiße|ich heisse|ich bin|mein name ist|nazywam się|mam na imię|jestem|to|mi chiamo|sono|me chamo|sou|actually)\s+)*)",
    )
    .expect("a valid pattern")
});

/// The text after greetings and name cues, and whether there was a cue ("it's", "I'm"…) rather
/// than only a greeting.
pub(super) fn strip_name_prefix(text: &str) -> (&str, bool) {
    match NAME_PREFIX.captures(text) {
        Some(c) => {
            let end = c.get(0).map_or(0, |m| m.end());
            (&text[end..], c.get(1).is_some_and(|m| !m.as_str().is_empty()))
        }
        None => (text, false),
    }
}

/// Words that are never (part of) a name in an answer, so "I'm fine" or "call me later" do
/// not make one.
const COMMON: &[&str] = &[
    "a",
    "about",
    "actually",
    "after",
    "again",
    "all",
    "already",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anyone",
    "are",
    "as",
    "at",
    "available",
    "back",
    "bad",
    "be",
    "because",
    "before",
    "busy",
    "but",
    "by",
    "can",
    "cannot",
    "confused",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "done",
    "dont",
    "don't",
    "email",
    "fine",
    "for",
    "from",
    "going",
    "good",
    "great",
    "happy",
    "have",
    "having",
    "help",
    "her",
    "here",
    "him",
    "his",
    "how",
    "i",
    "if",
    "in",
    "interested",
    "is",
    "it",
    "just",
    "later",
    "like",
    "looking",
    "maybe",
    "me",
    "mine",
    "more",
    "my",
    "name",
    "nervous",
    "new",
    "no",
    "nope",
    "not",
    "now",
    "number",
    "of",
    "off",
    "ok",
    "okay",
    "on",
    "one",
    "or",
    "our",
    "phone",
    "please",
    "ready",
    "really",
    "right",
    "so",
    "sorry",
    "still",
    "sure",
    "thanks",
    "thank",
    "that",
    "the",
    "their",
    "them",
    "there",
    "they",
    "this",
    "to",
    "tomorrow",
    "too",
    "trying",
    "unsure",
    "up",
    "us",
    "very",
    "want",
    "wanting",
    "was",
    "we",
    "well",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "would",
    "yes",
    "yet",
    "you",
    "your",
    "here's",
    "calling",
    "writing",
    "glad",
    "sad",
    "tired",
    "hungry",
    "late",
    "early",
    "afraid",
    "not",
    "asking",
    "wondering",
    "curious",
    "planning",
    "hoping",
    "new",
    "online",
    "away",
    "en",
    "un",
    "una",
    "el",
    "la",
    "le",
    "de",
    "muy",
    "bien",
    "très",
    "bardzo",
    "gut",
    "nicht",
    "sehr",
    "ein",
    "eine",
    "skip",
    "pass",
    "nothing",
    "none",
    "n/a",
    "na",
    "idk",
    "unknown",
    "anonymous",
    "private",
    "secret",
    "rather",
    "prefer",
    "say",
];

pub(super) fn is_common_word(w: &str) -> bool {
    let w = w.to_lowercase();
    let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
    COMMON.contains(&w)
}

static REFUSAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\W*(?:no|nope|skip|pass|n/?a|none|nothing|idk|i don'?t know|not sure|no idea|rather not( say)?|i'?d rather not( say)?|prefer not( to say)?|why\??|later|no thanks|no thank you|ok|okay|yes|sure)\W*$",
    )
    .expect("a valid pattern")
});

/// An answer that declines or stalls rather than answers.
pub(super) fn is_refusal(text: &str) -> bool {
    REFUSAL.is_match(text.trim())
}

static CORRECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:^|[^\p{L}])(?:sorry|actually|i mean|i meant|correction|oops|my bad|typo|wrong|not that|scratch that|instead|no wait|wait no|make it|change it to|change that to|rather|perdón|perdon|lo siento|en realidad|quise decir|pardon|désolé|desole|en fait|je voulais dire|entschuldigung|eigentlich|ich meinte|przepraszam|właściwie|wlasciwie|pomyłka|pomylka|scusa|anzi|desculpa|na verdade)(?:[^\p{L}]|$)",
    )
    .expect("a valid pattern")
});

/// Whether the user is correcting what they said before.
pub(super) fn is_correction(text: &str) -> bool {
    CORRECTION.is_match(text)
}

/// What follows the last correction cue ("4, no wait, 5" → " 5"): the corrected value, when
/// the message gives the old one too.
pub(super) fn after_correction(text: &str) -> Option<&str> {
    let last = CORRECTION.find_iter(text).last()?;
    let rest = &text[last.end()..];
    (!rest.trim().is_empty()).then_some(rest)
}

/// Whether a bot's sentence (lower-cased) holds, as whole words, one of the words by which it
/// asks for a value of this type ("what time", "how many"), when the schema gives no questions.
pub(super) fn names_kind(kind: Kind, lower: &str) -> bool {
    /// Per type, its words as one pattern: a bot message is read for every type of the schema.
    static PATTERNS: LazyLock<Vec<Option<Regex>>> = LazyLock::new(|| {
        Kind::ALL
            .iter()
            .map(|&k| {
                let words = kind_words(k);
                let words: Vec<String> = words.iter().map(|w| regex::escape(w)).collect();
                (!words.is_empty()).then(|| {
                    let words = words.join("|");
                    Regex::new(&format!(r"(?:^|[^\p{{Alphabetic}}\p{{N}}])(?:{words})(?:[^\p{{Alphabetic}}\p{{N}}]|$)"))
                        .expect("a valid pattern")
                })
            })
            .collect()
    });
    PATTERNS[kind as usize].as_ref().is_some_and(|re| re.is_match(lower))
}

fn kind_words(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Email => &["email", "e-mail", "mail address", "correo", "courriel", "adres e-mail"],
        Kind::Phone => &[
            "phone",
            "number",
            "mobile",
            "cell",
            "telephone",
            "teléfono",
            "telefono",
            "téléphone",
            "telefon",
            "numer",
            "handynummer",
            "whatsapp",
        ],
        Kind::Name => &[
            "name",
            "namen",
            "nombre",
            "nom",
            "imię",
            "imie",
            "nome",
            "call you",
            "who am i speaking",
            "who am i chatting",
            "who am i talking",
            "te llamas",
            "se llama",
            "vous appelez",
            "t'appelles",
            "heißen sie",
            "heisst du",
            "heißt du",
            "ti chiami",
            "si chiama",
            "jak się nazywasz",
            "con quién",
            "chama",
        ],
        Kind::Url => &["website", "url", "link", "site", "web page", "webpage"],
        Kind::Date => &["date", "which day", "what day", "when", "fecha", "datum", "data", "kiedy"],
        Kind::Time => &["time", "what time", "when", "hora", "heure", "uhrzeit", "godzin"],
        Kind::Datetime => &["date", "time", "when", "fecha", "heure", "termin", "kiedy"],
        Kind::Money => &["budget", "price", "amount", "how much", "cost", "spend", "presupuesto"],
        Kind::Number => &["how many", "number of", "cuántos", "combien", "wie viele", "ile"],
        Kind::Text | Kind::Choice | Kind::Regex => &[],
    }
}

/// "first" → 1 … "tenth" → 10, for picking a choice by position.
pub(super) fn ordinal(w: &str) -> Option<usize> {
    const ORDINALS: [&str; 10] = [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth",
    ];
    ORDINALS.iter().position(|o| *o == w).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_said_with_cues() {
        assert_eq!(name_said("Hi, I'm Anna and I need help").as_deref(), Some("Anna"));
        assert_eq!(name_said("my name is John Smith").as_deref(), Some("John Smith"));
        assert_eq!(name_said("Hola, me llamo Lucía García").as_deref(), Some("Lucía García"));
        assert_eq!(name_said("Nazywam się Paweł").as_deref(), Some("Paweł"));
        assert_eq!(name_said("I'm looking for a room"), None);
        assert_eq!(name_said("call me on 555 0100"), None);
        assert_eq!(name_said("I'm fine thanks"), None);
        assert_eq!(name_said("this is urgent, please help"), None);
    }

    #[test]
    fn a_types_words_are_whole_words() {
        assert!(names_kind(Kind::Time, "what time suits you?"));
        assert!(names_kind(Kind::Time, "à quelle heure ?"));
        assert!(names_kind(Kind::Number, "how many people?"));
        assert!(!names_kind(Kind::Time, "sometimes we close early"));
        assert!(!names_kind(Kind::Phone, "numbers"));
        assert!(!names_kind(Kind::Text, "what time"));
    }

    #[test]
    fn corrections_and_refusals() {
        assert!(is_correction("Sorry, it's actually bob@example.com"));
        assert!(is_correction("oops typo: 555 0199"));
        assert!(is_correction("Przepraszam, mój email to x@y.pl"));
        assert!(!is_correction("my email is bob@example.com"));
        assert!(is_refusal("I'd rather not say"));
        assert!(is_refusal("no"));
        assert!(!is_refusal("Anna"));
    }
}
