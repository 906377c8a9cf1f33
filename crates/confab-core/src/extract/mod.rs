//! Datapoint extraction without an LLM, as a slot filler: every message yields typed candidates
//! (`candidates`), and each schema key takes the value with the strongest evidence (`assign`):
//! the user agreeing to the bot's restatement or offer (confirmed) > a correction > an answer to
//! the bot's question for the key > the key's words beside the value > schema order > the only
//! key of the type. Later evidence replaces earlier, except that a value the user confirmed is
//! not replaced by a weaker guess. Bot messages are evidence (questions, restatements), never
//! a value of their own. The walk is a fold over messages with a small [`State`], so ingest can
//! continue it one message at a time (provisional values) and the finaliser can run it over the
//! whole transcript; both end with the same values. See docs/extraction.md.

mod assign;
mod candidates;
mod cues;
mod dialogue;
pub mod numbers;
pub(crate) mod slots;
mod typed;
pub mod when;
mod words;

use std::cell::LazyCell;
use std::collections::BTreeMap;

use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use typed::display;

use crate::buckets::TimeZone;
use crate::datapoints::{Definition, Evidence, Kind, Schema};
use crate::time::Millis;
use crate::{FieldError, Role};
use assign::Situation;
use slots::Words;

/// What extraction needs to know about the bot besides its schema.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where a phone number without a country code is read as local.
    pub region: Option<phonenumber::country::Id>,
    /// The zone dates and times are said in ("tomorrow", "at 5").
    pub zone: TimeZone,
}

impl Default for Context {
    fn default() -> Self {
        Context { region: None, zone: TimeZone::UTC }
    }
}

impl Context {
    /// From a bot's settings: a two-letter region (`US`, `PL`) and an IANA zone.
    pub fn new(region: Option<&str>, zone: Option<&str>) -> Result<Context, FieldError> {
        let region = match region {
            Some(r) => Some(r.to_ascii_uppercase().parse().map_err(|_| {
                FieldError::new("phone_region", format!("`{r}` is not a known region code"))
            })?),
            None => None,
        };
        let zone = match zone {
            Some(z) => crate::buckets::parse_tz("timezone", z)?,
            None => TimeZone::UTC,
        };
        Ok(Context { region, zone })
    }

    /// Whether the bot's users write numeric dates day first ("3/8" = 3 August): everywhere
    /// but the few regions that write the month first. Without a region, month first.
    pub fn day_first(&self) -> bool {
        const MONTH_FIRST: [&str; 6] = ["US", "CA", "PH", "FM", "MH", "PW"];
        self.region.is_some_and(|r| !MONTH_FIRST.contains(&format!("{r:?}").as_str()))
    }
}

/// One message as extraction sees it.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    pub role: Role,
    pub text: &'a str,
    pub at: Millis,
}

/// A value found, with the index of the turn it came from and why it is the key's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    pub value: Value,
    pub turn: usize,
    pub evidence: Evidence,
}

/// A value one message gives a key.
#[derive(Debug, Clone, PartialEq)]
pub struct Filled {
    pub key: String,
    pub value: Value,
    pub evidence: Evidence,
}

/// A key's current value as the walk remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Given {
    pub key: String,
    pub value: Value,
    pub evidence: Evidence,
}

/// What the walk remembers between messages; stored with the conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Keys the bot's last question asked for, not yet answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    /// Values the bot's last message put to the user (a restatement, an offer), which the
    /// user's yes makes theirs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offered: Vec<(String, Value)>,
    /// Keys the bot has asked for at some point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asked: Vec<String>,
    /// Keys with a value, the latest given last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<Given>,
}

impl State {
    fn given(&self, key: &str) -> Option<&Given> {
        self.given.iter().find(|g| g.key == key)
    }
}

/// Where the values of a kind that identifies itself (an email, a phone number, a URL) are in
/// `text`, as the walk's recognisers find them: what redaction masks (see `crate::redact`).
pub fn spans_of(kind: Kind, text: &str, ctx: &Context) -> Vec<std::ops::Range<usize>> {
    typed::find_unsolicited(kind, text, ctx).into_iter().map(|(range, _)| range).collect()
}

/// Runs the whole walk: every value found, the latest for each key.
pub fn extract(schema: &Schema, turns: &[Turn], ctx: &Context) -> BTreeMap<String, Found> {
    extract_with_state(schema, turns, ctx).0
}

/// [`extract`], with the state the walk ends in (to continue it with later messages).
pub fn extract_with_state(
    schema: &Schema,
    turns: &[Turn],
    ctx: &Context,
) -> (BTreeMap<String, Found>, State) {
    let mut state = State::default();
    let mut found = BTreeMap::new();
    for (i, turn) in turns.iter().enumerate() {
        for f in step(schema, &mut state, turn, ctx) {
            found.insert(f.key, Found { value: f.value, turn: i, evidence: f.evidence });
        }
    }
    (found, state)
}

/// Takes one message into the walk; returns the values it gives, which replace earlier ones.
pub fn step(schema: &Schema, state: &mut State, turn: &Turn, ctx: &Context) -> Vec<Filled> {
    if schema.definitions.is_empty() {
        return vec![];
    }
    let now = Timestamp::from_millisecond(turn.at)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(ctx.zone.clone());
    match turn.role {
        Role::Bot | Role::Agent => {
            bot_turn(schema, state, turn.text, ctx, &now);
            vec![]
        }
        Role::System => vec![],
        Role::User => {
            let out = user_turn(schema, state, turn.text, ctx, &now);
            state.offered.clear();
            for f in &out {
                state.pending.retain(|k| *k != f.key);
                state.given.retain(|g| g.key != f.key);
                state.given.push(Given {
                    key: f.key.clone(),
                    value: f.value.clone(),
                    evidence: f.evidence,
                });
            }
            out
        }
    }
}

fn index_of(schema: &Schema, key: &str) -> Option<usize> {
    schema.definitions.iter().position(|d| d.key == key)
}

fn indices(schema: &Schema, keys: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<usize> {
    keys.into_iter().filter_map(|k| index_of(schema, k.as_ref())).collect()
}

/// A bot's message: which keys it asks for, and which values it puts to the user.
fn bot_turn(schema: &Schema, state: &mut State, text: &str, ctx: &Context, now: &Zoned) {
    let want = candidates::wanted(schema);
    let cands = candidates::find(schema, &want, text, ctx, now);
    // Most bot messages need no cues: their words are read only when a question or an offer does.
    let words = LazyCell::new(|| Words::new(text));
    let given = indices(schema, state.given.iter().map(|g| &g.key));

    let mut asked: Vec<usize> = Vec::new();
    let mut asked_something = false;
    for sentence in dialogue::sentences(text) {
        let said = &text[sentence.clone()];
        if !dialogue::asks(said) {
            continue;
        }
        asked_something = true;
        for i in asked_in(schema, &words, &sentence, said, &cands, &given) {
            if !asked.contains(&i) {
                asked.push(i);
            }
        }
    }
    if !asked.is_empty() {
        state.pending = asked.iter().map(|&i| schema.definitions[i].key.clone()).collect();
        for k in &state.pending {
            if !state.asked.contains(k) {
                state.asked.push(k.clone());
            }
        }
    } else if asked_something {
        state.pending.clear();
    }

    state.offered.clear();
    if !cands.is_empty() && dialogue::puts_to_user(text) {
        let situation = Situation { asked: &[], correction: false, given: &given, corrigible: &[] };
        for a in assign::assign(schema, text, &words, &cands, &situation) {
            let key = schema.definitions[a.def].key.clone();
            state.offered.push((key, value_for(&schema.definitions[a.def], &cands[a.cand])));
        }
    }
}

/// The keys one question of the bot's asks for: by the schema's questions; else by the words of
/// a type's question ("what time", "how many") or of a key, a value of that type not being in
/// the question already ("Shall I book it for 7 pm?" offers a time, it does not ask for one).
/// Of several keys of the asked type, the ones named; else the only one; else the first still
/// empty.
fn asked_in(
    schema: &Schema,
    words: &LazyCell<Words, impl FnOnce() -> Words>,
    sentence: &std::ops::Range<usize>,
    said: &str,
    cands: &[candidates::Candidate],
    given: &[usize],
) -> Vec<usize> {
    let defs = &schema.definitions;
    let lower = said.to_lowercase();
    let by_question: Vec<usize> = (0..defs.len())
        .filter(|&i| defs[i].questions.iter().any(|q| q.asked_in_lowered(said, &lower)))
        .collect();
    if !by_question.is_empty() {
        return by_question;
    }
    let named = |d: &Definition| {
        let (first, last) = (words.index_at(sentence.start), words.index_at(sentence.end));
        (first..last).any(|k| words.cue_at(k, &d.cues).is_some())
    };
    let offered = |kind: Kind| {
        cands.iter().any(|c| c.kind == kind && candidates::overlaps(&c.range, sentence))
    };
    let mut out = Vec::new();
    let mut kinds: Vec<Kind> = defs.iter().map(|d| d.kind).collect();
    kinds.dedup();
    for kind in kinds {
        // "Which plan, Basic or Pro?" lists a choice's values and still asks.
        if kind != Kind::Choice && offered(kind) {
            continue;
        }
        let of_kind: Vec<usize> = (0..defs.len()).filter(|&i| defs[i].kind == kind).collect();
        let cued: Vec<usize> = of_kind.iter().copied().filter(|&i| named(&defs[i])).collect();
        let typed_words = cues::names_kind(kind, &lower);
        if !cued.is_empty() && (typed_words || matches!(kind, Kind::Text | Kind::Choice)) {
            out.extend(cued);
        } else if typed_words {
            match of_kind.as_slice() {
                [only] => out.push(*only),
                several => {
                    if let Some(&i) =
                        several.iter().find(|i| !given.contains(i)).or(several.first())
                    {
                        out.push(i);
                    }
                }
            }
        }
    }
    out
}

/// A candidate's value as `def` keeps it: a bare number given for an amount is an amount with
/// no currency.
fn value_for(def: &Definition, cand: &candidates::Candidate) -> Value {
    match (def.kind, cand.kind, cand.value.as_f64()) {
        (Kind::Money, Kind::Number, Some(n)) => typed::money(n, None),
        _ => cand.value.clone(),
    }
}

/// A user's message: the values it gives, with their evidence.
fn user_turn(
    schema: &Schema,
    state: &State,
    text: &str,
    ctx: &Context,
    now: &Zoned,
) -> Vec<Filled> {
    let defs = &schema.definitions;
    let want = candidates::wanted(schema);
    let mut cands = candidates::find(schema, &want, text, ctx, now);
    let correction = cues::is_correction(text) || dialogue::disagrees(text);
    // "4, no wait, 5": of values of one type on both sides of the last correction cue, the
    // later is meant; a value the user takes back ("not the 7th") is nobody's.
    if let Some(cut) = cues::after_correction(text).map(|rest| text.len() - rest.len()) {
        let later: Vec<Kind> =
            cands.iter().filter(|c| c.range.start >= cut).map(|c| c.kind).collect();
        cands.retain(|c| c.range.start >= cut || !later.contains(&c.kind));
    }
    cands.retain(|c| !dialogue::negated(text, c.range.start));

    let asked = indices(schema, &state.pending);
    let given = indices(schema, state.given.iter().map(|g| &g.key));
    let mut corrigible = given.clone();
    corrigible.extend(indices(schema, state.offered.iter().map(|(k, _)| k)));
    let situation = Situation { asked: &asked, correction, given: &given, corrigible: &corrigible };
    let assigned = match cands.is_empty() {
        true => vec![],
        false => assign::assign(schema, text, &Words::new(text), &cands, &situation),
    };

    let mut out: Vec<Filled> = Vec::new();
    let put = |out: &mut Vec<Filled>, key: &str, value: Value, evidence: Evidence| {
        if let Some(i) = out.iter().position(|f| f.key == key) {
            // "Yes, but make it 7 pm": a correction beside the yes wins over it.
            if out[i].evidence == Evidence::Confirmed
                && evidence >= Evidence::Corrected
                && out[i].value != value
            {
                out[i] = Filled { key: key.to_owned(), value, evidence };
            }
            return;
        }
        // A value the user agreed to is not replaced by a weaker guess; the same value again
        // only ever raises its evidence.
        if let Some(g) = state.given(key) {
            let weak = evidence <= Evidence::Order && !correction;
            if (g.value == value && evidence <= g.evidence)
                || (g.evidence == Evidence::Confirmed && weak)
            {
                return;
            }
        }
        out.push(Filled { key: key.to_owned(), value, evidence });
    };
    // The user's yes to what the bot put to them, for keys the user has given: a value the bot
    // chose itself (today, for 2, the 4 pm show it found) is the bot's, even when the user is
    // happy with it. It comes first, so that other values beside the yes only replace it when
    // they correct it.
    if !state.offered.is_empty() && dialogue::agrees(text) {
        for (key, value) in &state.offered {
            if state.given(key).is_some() {
                put(&mut out, key, value.clone(), Evidence::Confirmed);
            }
        }
    }
    for a in &assigned {
        let value = value_for(&defs[a.def], &cands[a.cand]);
        put(&mut out, &defs[a.def].key, value, a.evidence);
    }
    // Answers read whole: free text, a name, a choice by position ("the second one").
    for &i in &asked {
        let d = &defs[i];
        if matches!(d.kind, Kind::Text | Kind::Name | Kind::Choice)
            && !assigned.iter().any(|a| a.def == i)
            && let Some(v) = typed::parse_answer(d, text, ctx, now)
        {
            put(&mut out, &d.key, v, Evidence::Asked);
        }
    }
    out
}

/// A value given for `def` from outside the walk — posted by the bot or proposed by the LLM —
/// checked and put in canonical form by the same parser that reads messages. A number counts
/// for `number` and `money`; `{amount, currency}` for `money`; anything else must be a string.
pub fn parse_value(def: &Definition, value: &Value, ctx: &Context, at: Millis) -> Option<Value> {
    // No store keeps NUL in text (PostgreSQL refuses it), so no value carries one.
    if matches!(value, Value::String(s) if s.contains('\0')) {
        return None;
    }
    let now =
        Timestamp::from_millisecond(at).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned(ctx.zone.clone());
    match (def.kind, value) {
        (Kind::Number, Value::Number(_)) => Some(value.clone()),
        (Kind::Money, Value::Number(n)) => Some(serde_json::json!({"amount": n, "currency": null})),
        (Kind::Money, Value::Object(o)) => {
            let amount = o.get("amount").filter(|a| a.is_number())?;
            let currency = match o.get("currency") {
                None | Some(Value::Null) => None,
                Some(Value::String(c))
                    if c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()) =>
                {
                    Some(c.to_ascii_uppercase())
                }
                Some(_) => return None,
            };
            Some(serde_json::json!({"amount": amount, "currency": currency}))
        }
        (Kind::Choice, Value::String(s)) => def
            .values
            .iter()
            .find(|v| v.eq_ignore_ascii_case(s.trim()))
            .map(|v| Value::String(v.clone())),
        (Kind::Regex, Value::String(s)) => {
            // The whole value must match, not merely contain a match.
            let m = def.pattern.as_ref()?.find(s.trim())?;
            (m.len() == s.trim().len()).then(|| Value::String(m.as_str().to_owned()))
        }
        (_, Value::String(s)) => typed::parse_answer(def, s, ctx, &now),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapoints::SchemaInput;
    use serde_json::json;

    fn schema(v: Value) -> Schema {
        serde_json::from_value::<SchemaInput>(json!({ "datapoints": v }))
            .unwrap()
            .validate()
            .unwrap()
    }

    fn turns<'a>(script: &[(&'a str, &'a str)]) -> Vec<Turn<'a>> {
        script
            .iter()
            .enumerate()
            .map(|(i, (role, text))| Turn {
                role: Role::parse(role).unwrap(),
                text,
                at: 1_700_000_000_000 + i as i64 * 1000,
            })
            .collect()
    }

    fn values(found: &BTreeMap<String, Found>) -> BTreeMap<&str, Value> {
        found.iter().map(|(k, f)| (k.as_str(), f.value.clone())).collect()
    }

    #[test]
    fn answers_pair_with_questions_and_corrections_replace() {
        let s = schema(json!([
            {"key": "Name", "type": "name"},
            {"key": "Email", "type": "email"},
            {"key": "Phone", "type": "phone"},
            {"key": "Plan", "type": "choice", "values": ["Basic", "Pro"]}
        ]));
        let t = turns(&[
            ("bot", "Hi! Call us at (415) 555-2671. What's your name?"),
            ("user", "anna kowalska"),
            ("bot", "Thanks Anna. Your email?"),
            ("user", "anna@example.com"),
            ("user", "sorry, it's actually anna.k@example.com"),
            ("bot", "Which plan would you like?"),
            ("user", "Pro please, and call me on 212 555 0123"),
        ]);
        let ctx = Context::new(Some("US"), None).unwrap();
        let found = extract(&s, &t, &ctx);
        assert_eq!(
            values(&found),
            BTreeMap::from([
                ("Name", json!("Anna Kowalska")),
                ("Email", json!("anna.k@example.com")),
                ("Phone", json!("+12125550123")),
                ("Plan", json!("Pro")),
            ])
        );
        assert_eq!(found["Email"].turn, 4);
    }

    #[test]
    fn the_walk_resumes_from_its_state() {
        let s =
            schema(json!([{"key": "Company", "type": "text"}, {"key": "Name", "type": "name"}]));
        let t =
            turns(&[("bot", "What is your company?"), ("user", "Acme Ltd"), ("user", "I'm Bob")]);
        let ctx = Context::default();
        let whole = extract(&s, &t, &ctx);
        let mut state = State::default();
        let mut one_by_one = BTreeMap::new();
        for turn in &t {
            // The state survives a round trip through the store.
            state = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
            for f in step(&s, &mut state, turn, &ctx) {
                one_by_one.insert(f.key, f.value);
            }
        }
        assert_eq!(
            values(&whole),
            one_by_one.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
        );
        assert_eq!(one_by_one["Company"], json!("Acme Ltd"));
        assert_eq!(one_by_one["Name"], json!("Bob"));
    }
}
