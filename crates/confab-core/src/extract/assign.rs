//! Which key each value of a message fills, by the evidence for it, strongest first: the key's
//! words beside the value ("check in on the 3rd", "3 bedrooms"); the key the bot just asked
//! for; two values of a type in one message going to two keys of it in schema order ("from the
//! 3rd to the 7th"); the only key of the value's type; with several keys of a type and no other
//! evidence, a moment or an identifier goes to the first such key still empty (or, when the
//! user corrects, to the one they gave last). A value no evidence points to is dropped.

use super::candidates::Candidate;
use super::slots::Words;
use crate::datapoints::{Definition, Evidence, Kind, Schema};

/// A value given to a key: the definition's index, the candidate's, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Assigned {
    pub(crate) def: usize,
    pub(crate) cand: usize,
    pub(crate) evidence: Evidence,
}

/// What the conversation says around the message.
pub(crate) struct Situation<'a> {
    /// Definitions the bot's last question asked for.
    pub(crate) asked: &'a [usize],
    /// The user is taking back an earlier value ("no, for 4 people", "actually …").
    pub(crate) correction: bool,
    /// Definitions with a value, the latest given last.
    pub(crate) given: &'a [usize],
    /// Definitions whose value the user may be correcting: those given, and those the bot just
    /// put to the user.
    pub(crate) corrigible: &'a [usize],
}

/// How far back (in words) a key's words still name the value after them, and how far on they
/// name the value before them ("the 8th for check in", "7:30 for my return flight").
const CUE_BEFORE: usize = 8;
const CUE_AFTER: usize = 6;

/// Words after a number that do not say what it counts.
const FILLERS: &[&str] = &[
    "please", "total", "in", "more", "only", "of", "for", "and", "or", "at", "on", "the", "then",
    "thank", "thanks", "if", "is", "are", "will", "would", "so", "but", "too", "as", "with", "to",
    "pm", "am", "that", "it", "this", "we", "i", "you", "my", "our", "a", "an", "just", "pleas",
];

/// Kinds a value may fill with no evidence but the order of the schema.
fn placeable(kind: Kind) -> bool {
    matches!(kind, Kind::Date | Kind::Time | Kind::Datetime | Kind::Email | Kind::Phone | Kind::Url)
}

/// Whether candidate `c` can be a value of `d`; amounts without a currency only with the key
/// asked for or named.
fn fits(i: usize, d: &Definition, c: &Candidate) -> bool {
    match c.def {
        Some(of) => of == i,
        None => d.kind == c.kind,
    }
}

fn fits_weakly(d: &Definition, c: &Candidate) -> bool {
    d.kind == Kind::Money && c.kind == Kind::Number
}

/// Words before a bare number that make it a count ("for 4", "party of 6", "just 2").
const COUNT_BEFORE: &[&str] = &[
    "for", "of", "just", "only", "be", "are", "is", "us", "party", "group", "with", "need", "want",
    "get", "book", "buy", "reserve", "make", "total", "take", "have", "about", "around", "maybe",
    "perhaps", "probably", "it's", "its", "all", "so",
];

/// Whether a number with nothing said about it is a count of something: said after a word
/// that counts ("for 4", "party of 6"), or alone as a short answer ("4", "3 please"). "Puerto
/// 27" and "Route 66" are names.
fn counts_here(text: &str, words: &Words, c: &Candidate) -> bool {
    if names_something(text, words, c) {
        return true;
    }
    let first = words.index_at(c.range.start);
    let short = words.len() <= 4;
    let before = first.checked_sub(1).map(|k| text[words.ranges[k].clone()].to_lowercase());
    short || before.is_some_and(|w| COUNT_BEFORE.contains(&w.as_str()))
}

/// The words after a count that could say what it counts: not fillers, not digits.
fn counted_words<'a>(
    text: &'a str,
    words: &'a Words,
    c: &Candidate,
) -> impl Iterator<Item = usize> + 'a {
    let (first, last) = match &c.counted {
        Some(r) => (words.index_at(r.start), words.index_at(r.end).min(words.len())),
        None => (0, 0),
    };
    (first..last).filter(move |&k| {
        let w = text[words.ranges[k].clone()].to_lowercase();
        !FILLERS.contains(&w.as_str()) && w.chars().all(char::is_alphabetic) && w.len() > 2
    })
}

fn names_something(text: &str, words: &Words, c: &Candidate) -> bool {
    counted_words(text, words, c).next().is_some()
}

/// Whether the words after a count name something this key does not count ("3 stars" for a
/// number of guests).
fn counts_other(text: &str, words: &Words, d: &Definition, c: &Candidate) -> bool {
    let Some(counted) = &c.counted else { return false };
    let (first, last) = (words.index_at(counted.start), words.index_at(counted.end));
    if (first..last.min(words.len())).any(|k| words.cue_at(k, &d.cues).is_some()) {
        return false;
    }
    names_something(text, words, c)
}

/// How strongly the key's words name the candidate: how many of them stand in its clause
/// (the counted words of a count weigh most), and how close the nearest comes (in words).
fn cue_score(text: &str, words: &Words, d: &Definition, c: &Candidate) -> Option<(usize, usize)> {
    if d.cues.is_empty() {
        return None;
    }
    if let Some(counted) = &c.counted {
        let (a, b) = (words.index_at(counted.start), words.index_at(counted.end));
        if (a..b.min(words.len())).any(|k| words.cue_at(k, &d.cues).is_some()) {
            return Some((CUE_BEFORE + CUE_AFTER, 0));
        }
    }
    let first = words.index_at(c.range.start);
    let after = words.index_at(c.range.end).max(first);
    let (lo, hi) = clause(text, words, first, after);
    let mut matched: Vec<&str> = Vec::new();
    let mut nearest = usize::MAX;
    for k in lo..hi {
        if (first..after).contains(&k) {
            continue;
        }
        if let Some((cue, n)) = words.cue_at(k, &d.cues) {
            if !matched.contains(&cue) {
                matched.push(cue);
            }
            let dist = if k < first { first - (k + n - 1) } else { k - after + 1 };
            nearest = nearest.min(dist);
        }
    }
    (!matched.is_empty()).then_some((matched.len(), nearest))
}

/// The words around a candidate (tokens `first..after`) that belong to its clause: not past a
/// sentence's end, an "and" or a "but", nor further than a few words.
fn clause(text: &str, words: &Words, first: usize, after: usize) -> (usize, usize) {
    let ends_clause = |k: usize| {
        let w = &text[words.ranges[k].clone()];
        ["and", "but", "while", "whereas"].iter().any(|b| w.eq_ignore_ascii_case(b))
    };
    let stop_between = |a: usize, b: usize| a < b && text[a..b].contains(['.', '?', '!', ';']);
    let start_byte = words.ranges.get(first).map_or(text.len(), |r| r.start);
    let mut lo = first;
    while lo > 0
        && first - lo < CUE_BEFORE
        && !ends_clause(lo - 1)
        && !stop_between(words.ranges[lo - 1].end, start_byte)
    {
        lo -= 1;
    }
    let end_byte = words.ranges.get(after.max(1) - 1).map_or(0, |r| r.end);
    let mut hi = after;
    while hi < words.len()
        && hi - after < CUE_AFTER
        && !ends_clause(hi)
        && !stop_between(end_byte, words.ranges[hi].start)
    {
        hi += 1;
    }
    (lo, hi)
}

/// Gives the message's candidates to keys. `usable[i]` is false for candidates the user took
/// back ("not the 7th").
pub(crate) fn assign(
    schema: &Schema,
    text: &str,
    words: &Words,
    cands: &[Candidate],
    situation: &Situation,
) -> Vec<Assigned> {
    let defs = &schema.definitions;
    let mut def_free = vec![true; defs.len()];
    let mut cand_free = vec![true; cands.len()];
    let mut out = Vec::new();
    let give = |out: &mut Vec<Assigned>, def: usize, cand: usize, evidence: Evidence| {
        out.push(Assigned { def, cand, evidence });
    };
    // A correction's later value is the one meant ("4, no wait, 5").
    let order: Vec<usize> = if situation.correction {
        (0..cands.len()).rev().collect()
    } else {
        (0..cands.len()).collect()
    };

    // 1. The key's words beside the value: the most of them first, then the nearest.
    let mut named: Vec<(std::cmp::Reverse<usize>, usize, usize, usize)> = Vec::new();
    for (ci, c) in cands.iter().enumerate() {
        for (di, d) in defs.iter().enumerate() {
            if (fits(di, d, c) || fits_weakly(d, c))
                && let Some((hits, dist)) = cue_score(text, words, d, c)
            {
                named.push((std::cmp::Reverse(hits), dist, ci, di));
            }
        }
    }
    named.sort_unstable();
    for (_, _, ci, di) in named {
        if cand_free[ci] && def_free[di] {
            cand_free[ci] = false;
            def_free[di] = false;
            give(&mut out, di, ci, Evidence::Mentioned);
        }
    }

    // 2. What the bot asked for.
    for &di in situation.asked {
        let d = &defs[di];
        if !def_free[di] {
            continue;
        }
        let pick = order.iter().copied().find(|&ci| {
            let c = &cands[ci];
            cand_free[ci]
                && (fits(di, d, c) || fits_weakly(d, c))
                && !counts_other(text, words, d, c)
        });
        if let Some(ci) = pick {
            cand_free[ci] = false;
            def_free[di] = false;
            give(&mut out, di, ci, Evidence::Asked);
        }
    }

    // 3. Two or more values of a type for as many keys of it: in order.
    for kind in [Kind::Date, Kind::Time, Kind::Datetime] {
        let free_defs: Vec<usize> =
            (0..defs.len()).filter(|&d| def_free[d] && defs[d].kind == kind).collect();
        let free_cands: Vec<usize> =
            (0..cands.len()).filter(|&c| cand_free[c] && cands[c].kind == kind).collect();
        if free_defs.len() >= 2 && free_cands.len() >= 2 {
            for (&di, &ci) in free_defs.iter().zip(&free_cands) {
                cand_free[ci] = false;
                def_free[di] = false;
                give(&mut out, di, ci, Evidence::Order);
            }
        }
    }

    // 4. The only key of the value's type; else, for moments and identifiers, the first key of
    //    the type still empty (or the one corrected).
    for &ci in &order {
        if !cand_free[ci] {
            continue;
        }
        let c = &cands[ci];
        let of_kind: Vec<usize> = (0..defs.len()).filter(|&d| fits(d, &defs[d], c)).collect();
        let target = match of_kind.as_slice() {
            [] => None,
            [only] => Some((*only, Evidence::OnlyKey)),
            several if placeable(c.kind) => {
                let corrected = situation
                    .correction
                    .then(|| situation.given.iter().rev().find(|d| several.contains(d)))
                    .flatten();
                let empty = several.iter().find(|d| !situation.given.contains(d));
                let latest = situation.given.iter().rev().find(|d| several.contains(d));
                corrected.or(empty).or(latest).map(|&d| (d, Evidence::Order))
            }
            _ => None,
        };
        if let Some((di, evidence)) = target
            && def_free[di]
            && !counts_other(text, words, &defs[di], c)
            && (c.kind != Kind::Number || counts_here(text, words, c))
        {
            cand_free[ci] = false;
            def_free[di] = false;
            give(&mut out, di, ci, evidence);
        }
    }

    if situation.correction {
        for a in &mut out {
            if situation.corrigible.contains(&a.def) {
                a.evidence = Evidence::Corrected;
            }
        }
    }
    out
}
