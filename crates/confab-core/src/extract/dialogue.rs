//! What a message does in the dialogue, beyond the values in it: whether the bot asks, restates
//! or offers; whether the user agrees, disagrees or takes a value back. English first, with the
//! common forms in Spanish, French, German, Polish, Italian and Portuguese; matched on
//! lower-cased text.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// The sentences of a message, by byte range (a question mark, full stop or exclamation mark
/// followed by a space or the end closes one; "Mr." and "3.5" do not).
pub(crate) fn sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let closes = matches!(b, b'?' | b'!' | b'.' | b'\n')
            && bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace());
        if closes {
            if text[start..=i].trim().len() > 1 {
                out.push(start..i + 1);
            }
            start = i + 1;
        }
    }
    if text[start..].trim().len() > 1 {
        out.push(start..text.len());
    }
    out
}

// These patterns end a word with `(?:\W|$)`, not `\b`: the same for a match that nothing
// follows, and, unlike Unicode's `\b`, within reach of the fast automaton on text that is not
// ASCII (a fallback to backtracking otherwise, on every message).
static ASK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\?\s*$|^\W*(?:when|what|which|how|where|who|whom|whose|do|does|did|are|is|will|would",
        r"|could|can|shall|should|may)(?:\W|$)|(?:^|[^\p{L}])(?:please (?:enter|type|provide|share|give",
        r"|tell|send|leave|choose|select|pick|specify|confirm|let me know)|tell me|let me know",
        r"|enter your|type your|provide your|share your|what's your|what is your|may i have",
        r"|can i have|could i have|can you give|podaj|proszę podać|indique|indica|dime",
        r"|geben sie|bitte)"
    ))
    .expect("a valid pattern")
});

/// Whether a sentence of the bot's asks something rather than tells.
pub(crate) fn asks(sentence: &str) -> bool {
    ASK.is_match(sentence.trim())
}

static CONFIRM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)confirm|is (?:that|this|it) (?:correct|right|ok|okay|what you|fine|good)",
        r"|(?:correct|right|okay|ok)\s*\?|have i got|did i get|sound(?:s)? (?:good|right|ok)",
        r"|shall i|should i|would you like|do you want|want me to|would that|does that|will that",
        r"|how about|what about|is that what|to summari[sz]e|just to be sure|let me (?:check|repeat)",
        r"|confirma|confirme|bestätig|potwierd|conferm"
    ))
    .expect("a valid pattern")
});

/// Whether a bot's message puts values to the user for their yes: "Please confirm: a table for
/// 2 at 12 pm on March 8th", "You'd like to check in today, is that right?", "Shall I book it
/// for 7 pm?".
pub(crate) fn puts_to_user(text: &str) -> bool {
    CONFIRM.is_match(text)
}

static AGREE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^\W*(?:(?:oh|well|ok|okay|alright|great|so)\W+)?(?:yes|yeah|yea|yep|yup|ya|sure",
        r"|correct|right|exactly|precisely|perfect|great|good|fine|ok|okay|alright|all right",
        r"|absolutely|definitely|certainly|indeed|of course|cool|awesome|excellent|wonderful",
        r"|brilliant|lovely|affirmative|confirm(?:ed)?|agreed|please do|please proceed|go ahead",
        r"|do it|book it|that'?s? (?:\w+ )?(?:right|correct|perfect|great|fine|good|it|all|ok|okay",
        r"|true|accurate)|that is (?:\w+ )?(?:right|correct|perfect|great|fine|good|accurate|true)",
        r"|that (?:works|suits|sounds|would|will)|(?:it|this) (?:works|sounds|suits|is (?:right",
        r"|correct|perfect|fine|good))|sounds|works|suits|you got it|you've got it|yes please",
        r"|sí|si|claro|vale|oui|d'accord|ja|genau|richtig|tak|dokładnie|esatto|certo|sim)(?:\W|$)"
    ))
    .expect("a valid pattern")
});

static DISAGREE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^\W*(?:(?:oh|um|uh|hmm|well|wait)\W+)?(?:no|nope|nah|not|never|wrong|incorrect",
        r"|actually|sorry|apologies|oops|change|rather|instead|i'?m sorry|i am sorry|i changed",
        r"|i have changed|i've changed|that'?s not|that is not|it'?s not|it is not|non|nein|nie",
        r"|niet)(?:\W|$)"
    ))
    .expect("a valid pattern")
});

/// Whether the user's message agrees with what the bot put to them, without taking it back.
pub(crate) fn agrees(text: &str) -> bool {
    AGREE.is_match(text) && !disagrees(text)
}

/// Whether the user's message turns down what the bot put to them ("No, for 4 people.").
pub(crate) fn disagrees(text: &str) -> bool {
    DISAGREE.is_match(text)
}

static NEGATED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)(?:^|[^\p{L}])(?:not|instead of|rather than|except|but not|other than|no longer",
        r"|isn't|wasn't|can't do|cannot do|can'?t (?:go|make it|come|do)|cannot (?:go|make it",
        r"|come|do)|not on|not at|not for|nicht|nie|pas)\W+(?:(?:the|on|at",
        r"|for|a|an)\W+)?$"
    ))
    .expect("a valid pattern")
});

/// Whether the words just before a value take it back: "the 8th, not the 7th", "instead of
/// 5 pm".
pub(crate) fn negated(text: &str, start: usize) -> bool {
    let mut from = start.saturating_sub(24);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    NEGATED.is_match(&text[from..start])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_on_their_ends() {
        let t = "Found 3 places. Bird Dog is $3.5 per dish! Shall I book it? ok";
        let got: Vec<&str> = sentences(t).into_iter().map(|r| t[r].trim()).collect();
        assert_eq!(
            got,
            ["Found 3 places.", "Bird Dog is $3.5 per dish!", "Shall I book it?", "ok"]
        );
    }

    #[test]
    fn agreement_and_disagreement() {
        for yes in [
            "Yes",
            "Sure, that is great.",
            "That suits me well. Can you tell me if they feature live music?",
            "Yup, that's right.",
            "Perfect.",
            "Sounds good to me",
            "That's perfect",
            "Yes please",
        ] {
            assert!(agrees(yes), "{yes}");
        }
        for no in [
            "No, for 4 people.",
            "Actually, make it 7 pm instead.",
            "Sorry, it's actually for the 8th of March.",
            "No it doesn't. Change to 5:45 pm",
        ] {
            assert!(!agrees(no), "{no}");
        }
        assert!(disagrees("No, for 4 people."));
        assert!(disagrees("Actually, make it 7 pm instead."));
        assert!(!disagrees("Yes, that works"));
    }

    #[test]
    fn questions_and_restatements() {
        assert!(asks("What time would you like?"));
        assert!(asks("When do you plan to check out"));
        assert!(asks("Please enter your phone number"));
        assert!(!asks("Thanks, got it."));
        assert!(puts_to_user("Please confirm your reservation at Benissimo at 12 pm for 2."));
        assert!(puts_to_user("You'd like a table for 2 today at 5:30 pm. Is this correct?"));
        assert!(!puts_to_user("The restaurant is located at 420 Ramona Street."));
    }

    #[test]
    fn values_taken_back() {
        let t = "the 8th, not the 7th";
        assert!(negated(t, t.find("7th").unwrap()));
        assert!(!negated(t, t.find("8th").unwrap()));
        let t = "6 pm instead of 5 pm";
        assert!(negated(t, t.rfind('5').unwrap()));
    }
}
