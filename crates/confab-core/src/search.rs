//! How text is folded for full-text search, the same for every store: letters and digits only,
//! lower-cased, accents removed, and the letters Unicode gives no decomposition (`ł`, `ß`, `æ`…)
//! spelled out, so that `zazolc` finds `Zażółć` and `strasse` finds `Straße`.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

/// Spells out the letters that keep their look under Unicode decomposition. SQLite's FTS5
/// (`unicode61 remove_diacritics 2`) removes the other accents itself; [`lexemes`] removes them
/// here.
pub fn fold_letters(s: &str) -> Cow<'_, str> {
    fn fold(c: char) -> Option<&'static str> {
        Some(match c {
            'ł' | 'Ł' | 'ŀ' | 'Ŀ' => "l",
            'đ' | 'Đ' | 'ð' | 'Ð' => "d",
            'ø' | 'Ø' => "o",
            'ħ' | 'Ħ' => "h",
            'ı' | 'ɨ' | 'Ɨ' => "i",
            'ŧ' | 'Ŧ' => "t",
            'ƀ' | 'Ƀ' => "b",
            'ǥ' | 'Ǥ' => "g",
            'ʉ' | 'Ʉ' => "u",
            'ŋ' | 'Ŋ' => "n",
            'ĸ' => "k",
            'ß' | 'ẞ' => "ss",
            'æ' | 'Æ' => "ae",
            'œ' | 'Œ' => "oe",
            'þ' | 'Þ' => "th",
            _ => return None,
        })
    }
    if s.is_ascii() || !s.chars().any(|c| fold(c).is_some()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match fold(c) {
            Some(f) => out.push_str(f),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `c` is a combining accent of the kind FTS5's `remove_diacritics` drops: the
/// combining diacritical-mark blocks. Other combining marks — Devanagari vowel signs, Arabic
/// harakat — make different words and stay.
fn is_accent(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// The longest word kept, in bytes: longer runs are no words anyone searches for, and stores
/// limit the size of one indexed term (PostgreSQL: under 2 KiB).
pub const MAX_LEXEME_BYTES: usize = 2046;

/// The words of `text` as a search index keeps them: runs of letters and digits (the split of
/// [`crate::query::search_terms`]), folded. Over-long runs are left out.
pub fn lexemes(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).filter_map(|w| {
        let folded: String = if w.is_ascii() {
            w.to_ascii_lowercase()
        } else {
            fold_letters(w).nfd().filter(|c| !is_accent(*c)).flat_map(char::to_lowercase).collect()
        };
        (!folded.is_empty() && folded.len() <= MAX_LEXEME_BYTES).then_some(folded)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        lexemes(s).collect()
    }

    #[test]
    fn folds_case_accents_and_undecomposable_letters() {
        assert_eq!(words("Zażółć gęślą jaźń"), ["zazolc", "gesla", "jazn"]);
        assert_eq!(words("Die Straße, MÜNCHEN!"), ["die", "strasse", "munchen"]);
        assert_eq!(words("Crème brûlée; Ærø"), ["creme", "brulee", "aero"]);
        assert_eq!(words("order #A-123_x"), ["order", "a", "123", "x"]);
        // Marks that make another word are not accents.
        assert_ne!(words("काम"), words("कम"));
        assert_ne!(words("مَرْحَبًا"), words("مرحبا"));
    }

    #[test]
    fn splits_like_search_terms_and_drops_overlong_runs() {
        let long = "a".repeat(MAX_LEXEME_BYTES + 1);
        assert_eq!(words(&format!("ok {long} fine")), ["ok", "fine"]);
        assert_eq!(words("日本語 テキスト"), ["日本語", "テキスト"]);
        assert!(words(" ... ").is_empty());
    }
}
