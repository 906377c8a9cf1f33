//! Datapoint extraction without an LLM: a walk over a conversation's messages that remembers
//! which value the bot just asked for, reads the user's next message by that value's type, and
//! also picks up values that announce themselves (an email, a phone, "my name is …"). The walk
//! is a fold over messages with a small [`State`], so ingest can continue it one message at a
//! time (provisional values) and the finaliser can run it over the whole transcript.

mod cues;
pub mod numbers;
mod typed;
pub mod when;
mod words;

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use typed::display;

use crate::buckets::TimeZone;
use crate::datapoints::{Definition, Kind, Schema};
use crate::time::Millis;
use crate::{FieldError, Role};

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
}

/// One message as extraction sees it.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    pub role: Role,
    pub text: &'a str,
    pub at: Millis,
}

/// A value found, with the index of the turn it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    pub value: Value,
    pub turn: usize,
}

/// What the walk remembers between messages; stored with the conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Keys the bot's last question asked for, not yet answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    /// The key the user gave last, which a correction ("sorry, it's actually …") replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    /// Keys with a value, so that a second email goes to a second email key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filled: Vec<String>,
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
        for (key, value) in step(schema, &mut state, turn, ctx) {
            found.insert(key, Found { value, turn: i });
        }
    }
    (found, state)
}

/// Takes one message into the walk; returns the values it gives, which replace earlier ones.
pub fn step(
    schema: &Schema,
    state: &mut State,
    turn: &Turn,
    ctx: &Context,
) -> Vec<(String, Value)> {
    if schema.definitions.is_empty() {
        return vec![];
    }
    match turn.role {
        Role::Bot | Role::Agent => {
            let asked = asked_for(schema, turn.text);
            if !asked.is_empty() {
                state.pending = asked;
            } else if cues::is_question(turn.text) {
                state.pending.clear();
            }
            vec![]
        }
        Role::System => vec![],
        Role::User => {
            let out = user_turn(schema, state, turn, ctx);
            for (key, _) in &out {
                state.pending.retain(|k| k != key);
                if !state.filled.contains(key) {
                    state.filled.push(key.clone());
                }
                state.last = Some(key.clone());
            }
            out
        }
    }
}

/// The keys a bot's message asks for: by the schema's questions, or, for definitions without
/// any, by the key's words in a message that asks something — or, failing those, by the
/// type's words ("how many guests?" asks for Guests, not also for Nights).
fn asked_for(schema: &Schema, text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let question = cues::is_question(text);
    let by_questions = |d: &&Definition| d.questions.iter().any(|q| q.asked_in(text));
    let by_key = |d: &&Definition| {
        d.questions.is_empty() && question && typed::contains_words(&lower, &key_words(&d.key))
    };
    let by_kind = |d: &&Definition| {
        d.questions.is_empty()
            && question
            && cues::kind_words(d.kind).iter().any(|w| typed::contains_words(&lower, w))
    };
    let defs = &schema.definitions;
    let mut asked: Vec<&Definition> =
        defs.iter().filter(|d| by_questions(d) || by_key(d)).collect();
    if asked.is_empty() {
        asked = defs.iter().filter(by_kind).collect();
    }
    asked.into_iter().map(|d| d.key.clone()).collect()
}

/// "booking_date", "bookingDate", "Booking Date" → "booking date".
fn key_words(key: &str) -> String {
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

/// Types whose values are recognisable wherever they appear.
const SELF_IDENTIFYING: [Kind; 3] = [Kind::Email, Kind::Phone, Kind::Url];

fn user_turn(schema: &Schema, state: &State, turn: &Turn, ctx: &Context) -> Vec<(String, Value)> {
    let text = turn.text;
    let now = Timestamp::from_millisecond(turn.at)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(ctx.zone.clone());
    let lower = text.to_lowercase();
    let mut out: Vec<(String, Value)> = Vec::new();
    let put = |out: &mut Vec<(String, Value)>, key: &str, value: Value| {
        if !out.iter().any(|(k, _)| k == key) {
            out.push((key.to_owned(), value));
        }
    };

    // What follows "no wait", "I mean"…: in "4, no wait, 5" the answer is 5.
    let correction = cues::is_correction(text);
    let corrected = cues::after_correction(text);
    let answer = |d: &Definition| {
        corrected
            .and_then(|t| typed::parse_answer(d, t, ctx, &now))
            .or_else(|| typed::parse_answer(d, text, ctx, &now))
    };

    // 1. The answer to what the bot asked (self-identifying values are placed in 3, which
    //    sorts out several of them in one answer).
    for key in &state.pending {
        if let Some(d) = schema.definition(key)
            && !SELF_IDENTIFYING.contains(&d.kind)
            && let Some(v) = answer(d)
        {
            put(&mut out, key, v);
        }
    }

    // 2. A correction: of the last value given, or else of the latest-given key whose type
    //    reads the corrected words ("not friday, saturday" after a time was given).
    if correction && out.is_empty() {
        let last = state.last.as_deref();
        let mut candidates: Vec<&Definition> =
            last.and_then(|k| schema.definition(k)).into_iter().collect();
        candidates.extend(
            state.filled.iter().rev().filter(|k| Some(k.as_str()) != last).filter_map(|k| {
                schema.definition(k).filter(|d| !matches!(d.kind, Kind::Text | Kind::Name))
            }),
        );
        if let Some((d, v)) = candidates.into_iter().find_map(|d| answer(d).map(|v| (d, v))) {
            put(&mut out, &d.key, v);
        }
    }

    // 3. Values that say what they are, wherever they appear.
    for kind in SELF_IDENTIFYING {
        let defs: Vec<&Definition> = schema.definitions.iter().filter(|d| d.kind == kind).collect();
        if defs.is_empty() {
            continue;
        }
        let mut found = typed::find_unsolicited(kind, text, ctx);
        if correction {
            // "646 555 0199, I mean 646 555 0198": the later value is the one meant.
            found.reverse();
        }
        // The key named nearest before a value claims it ("personal one is a@x, work email is
        // b@y"); values with no key named before them take the keys left.
        let named: Vec<Option<&Definition>> = found
            .iter()
            .map(|(at, _)| {
                let before = &lower[..(*at).min(lower.len())];
                defs.iter()
                    .filter_map(|d| {
                        typed::word_matches(before, &key_words(&d.key)).last().map(|i| (i, *d))
                    })
                    .max_by_key(|(i, _)| *i)
                    .map(|(_, d)| d)
            })
            .collect();
        let claimed: Vec<&str> = named.iter().flatten().map(|d| d.key.as_str()).collect();
        for ((_, value), named) in found.into_iter().zip(named) {
            let value = Value::String(value);
            if out.iter().any(|(k, v)| *v == value && defs.iter().any(|d| d.key == *k)) {
                continue;
            }
            let free = |d: &&&Definition| !claimed.contains(&d.key.as_str());
            let target = named
                .or_else(|| {
                    defs.iter().filter(free).find(|d| state.pending.contains(&d.key)).copied()
                })
                .or_else(|| {
                    defs.iter().filter(free).find(|d| !state.filled.contains(&d.key)).copied()
                })
                .or_else(|| {
                    // Every key of the kind has a value: a correction replaces the last given.
                    defs.iter()
                        .rev()
                        .find(|d| state.last.as_deref() == Some(d.key.as_str()))
                        .copied()
                })
                .or(defs.first().copied());
            if let Some(d) = target {
                put(&mut out, &d.key, value);
            }
        }
    }

    // 4. A name said with a cue ("I'm Anna", "me llamo …").
    if let Some(d) = schema.definitions.iter().find(|d| d.kind == Kind::Name)
        && let Some(name) = cues::name_said(text)
    {
        put(&mut out, &d.key, Value::String(name));
    }

    // 5. A key named by the user ("my budget is 500 bucks", "order number AB123456"): what
    //    follows the key's words, read by its type.
    for d in &schema.definitions {
        if matches!(d.kind, Kind::Text | Kind::Name | Kind::Email | Kind::Phone | Kind::Url) {
            continue;
        }
        let words = key_words(&d.key);
        if let Some(at) = typed::word_matches(&lower, &words).next() {
            let rest = &text[at + words.len()..];
            if let Some(v) = typed::parse_answer(d, rest, ctx, &now) {
                put(&mut out, &d.key, v);
            }
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
            for (k, v) in step(&s, &mut state, turn, &ctx) {
                one_by_one.insert(k, v);
            }
        }
        assert_eq!(
            values(&whole),
            one_by_one.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
        );
        assert_eq!(one_by_one["Company"], json!("Acme Ltd"));
        assert_eq!(one_by_one["Name"], json!("Bob"));
    }

    #[test]
    fn key_words_split_every_style() {
        assert_eq!(key_words("booking_date"), "booking date");
        assert_eq!(key_words("bookingDate"), "booking date");
        assert_eq!(key_words("Booking Date"), "booking date");
    }
}
