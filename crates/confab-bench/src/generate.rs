//! Deterministic, realistic chatbot traffic at any size: conversation `i` of a data set depends
//! only on the [`Config`] and `i`, so a million conversations can be made in chunks, in any order
//! or in parallel, and be the same every time. Each bot has its own small dialogue graph (greet →
//! menu → questions, booking or a problem → goodbye, with drop-offs at every node), languages,
//! channels and versions; users come back, answer the bot's questions with names, emails, phones
//! and dates in their own language, and are sometimes handed to a human agent.

mod datapoints;
mod dialogue;
mod people;
mod phrases;
mod random;

use confab_core::time::{DAY, Millis};
use confab_core::{Campaign, MessageInput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use dialogue::Talk;
use people::{BotProfile, CAMPAIGNS, CHANNELS, Persona, pick_bot, start_time, user_key};
use phrases::LANGS;
use random::{CONVERSATION, SESSION, conversation_id, hash, pick};

/// What to generate. Every timestamp falls in `[end - days, end)` (`days` of 0 counts as 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub seed: u64,
    pub conversations: usize,
    /// Conversations are spread over this many bots, unevenly: a few big bots, a tail of small.
    pub bots: usize,
    /// Exclusive end of the time window, epoch milliseconds.
    pub end: Millis,
    pub days: u32,
}

/// One conversation of one bot, its messages in time order.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub bot_id: String,
    pub messages: Vec<MessageInput>,
}

/// Conversation `i` (0-based) of the data set: depends only on (config, i), so chunks can be
/// generated in any order or in parallel.
pub fn conversation(cfg: &Config, i: usize) -> Conversation {
    let mut rng = StdRng::seed_from_u64(hash(cfg.seed, CONVERSATION, i as u64));
    let bots = cfg.bots.max(1);
    let bot = BotProfile::new(cfg.seed, pick_bot(&mut rng, bots));
    let user = user_key(cfg, &mut rng, &bot, bots, i);
    let persona = Persona::new(user, &bot);
    let span = DAY * i64::from(cfg.days.max(1));
    let start = start_time(&mut rng, cfg.end - span, span, persona.utc_offset_hours());
    let version = bot.version(&mut rng);
    let campaign = rng.random_bool(0.2).then(|| {
        let (id, source) = pick(&mut rng, &CAMPAIGNS);
        Campaign { id: Some(id.to_owned()), source: Some(source.to_owned()) }
    });
    let id = conversation_id(cfg.seed, i);
    let mut talk = Talk {
        rng,
        bank: LANGS[persona.lang],
        bot: &bot,
        persona: &persona,
        short: CHANNELS[persona.channel].0 == "sms",
        start,
        at: start,
        messages: Vec::with_capacity(24),
        id,
    };
    talk.run();
    let mut messages = talk.messages;

    // A conversation begun late must still end before `end`: move it back as a whole. No
    // conversation lasts a day (at most MAX_MESSAGES gaps of MAX_GAP), so it stays in the window.
    let last = messages.last().and_then(|m| m.timestamp.as_ref()).and_then(Value::as_i64);
    if let Some(last) = last.filter(|&t| t >= cfg.end) {
        let shift = last - (cfg.end - 1);
        for m in &mut messages {
            let t = m.timestamp.as_ref().and_then(Value::as_i64).unwrap_or(start);
            m.timestamp = Some(Value::from(t - shift));
        }
    }
    // The first message sets the conversation's dimensions; the earliest setter wins anyway.
    if let Some(first) = messages.first_mut() {
        first.channel_type = Some(CHANNELS[persona.channel].0.to_owned());
        first.language = Some(LANGS[persona.lang].code.to_owned());
        first.version = Some(version);
        first.user_id = Some(format!("u-{user:016x}"));
        first.campaign = campaign;
        if CHANNELS[persona.channel].0 == "web" {
            first.session_id = Some(format!("s-{:016x}", hash(cfg.seed, SESSION, i as u64)));
        }
    }
    Conversation { bot_id: format!("bot-{}", bot.index), messages }
}

/// Every conversation in order.
pub fn conversations(cfg: &Config) -> impl Iterator<Item = Conversation> + '_ {
    (0..cfg.conversations).map(move |i| conversation(cfg, i))
}

/// The ids of the bots (`bot-0`, …) in the data set.
pub fn bot_ids(cfg: &Config) -> Vec<String> {
    (0..cfg.bots.max(1)).map(|k| format!("bot-{k}")).collect()
}

/// Each bot's id with its datapoint schema (JSON for `PUT /v1/bots/{bot}/datapoints/schema`):
/// the fields its booking asks for, in its order, and the email its agents ask for, each with
/// the phrases by which its messages ask for it in all five languages.
pub fn schemas(cfg: &Config) -> Vec<(String, Value)> {
    (0..cfg.bots.max(1))
        .map(|k| (format!("bot-{k}"), datapoints::of_bot(&BotProfile::new(cfg.seed, k))))
        .collect()
}

/// A schema with every field the users answer (name, email, phone, date), for a bot whose
/// traffic mixes every bot's conversations; the bots' questions in all five languages contain
/// its phrases.
pub fn schema() -> Value {
    datapoints::union()
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use confab_core::Role;
    use confab_core::datapoints::SchemaInput;
    use confab_core::extract::{Context, Turn, extract};

    use serde_json::json;

    use super::dialogue::{DATE, EMAIL, MAX_MESSAGES, NAME, PHONE, fill};
    use super::people::{HOUR, ascii};
    use super::*;

    const END: Millis = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn config(conversations: usize) -> Config {
        Config { seed: 7, conversations, bots: 8, end: END, days: 30 }
    }

    fn json_of(c: &Conversation) -> String {
        serde_json::to_string(&(&c.bot_id, &c.messages)).unwrap()
    }

    fn timestamp(m: &MessageInput) -> Millis {
        m.timestamp.as_ref().and_then(Value::as_i64).unwrap()
    }

    #[test]
    fn the_same_config_gives_the_same_data_in_any_order() {
        let cfg = config(300);
        let all: Vec<String> = conversations(&cfg).map(|c| json_of(&c)).collect();
        assert_eq!(all, conversations(&cfg).map(|c| json_of(&c)).collect::<Vec<_>>());
        for i in [299, 0, 150, 17] {
            assert_eq!(json_of(&conversation(&cfg, i)), all[i]);
        }
        let other = Config { seed: 8, ..cfg };
        assert_ne!(json_of(&conversation(&other, 0)), all[0]);
    }

    #[test]
    fn every_message_validates_inside_the_window() {
        let cfg = config(3_000);
        let bots: HashSet<String> = bot_ids(&cfg).into_iter().collect();
        let mut conversation_ids = HashSet::new();
        for c in conversations(&cfg) {
            assert!(bots.contains(&c.bot_id), "{}", c.bot_id);
            assert!(!c.messages.is_empty() && c.messages.len() <= MAX_MESSAGES);
            let cid = c.messages[0].conversation_id.clone();
            assert!(conversation_ids.insert(cid.clone()), "duplicate {cid}");
            let mut ids = HashSet::new();
            let mut previous = Millis::MIN;
            for m in c.messages {
                let t = timestamp(&m);
                assert!(t > previous, "{cid}: timestamps must increase");
                assert!((END - 30 * DAY..END).contains(&t), "{cid}: {t} outside the window");
                previous = t;
                assert_eq!(m.conversation_id, cid);
                assert!(ids.insert(m.id.clone().unwrap()));
                m.validate(cfg.end).unwrap();
            }
        }
        // A one-day window holds even the longest conversations.
        let day = Config { days: 1, ..config(2_000) };
        for c in conversations(&day) {
            for m in c.messages {
                assert!((END - DAY..END).contains(&timestamp(&m)));
            }
        }
    }

    #[test]
    fn the_data_looks_like_real_traffic() {
        let cfg = config(20_000);
        let (mut messages, mut longest, mut over_50, mut long_texts) = (0, 0, 0, 0);
        let mut users: HashMap<(String, String), usize> = HashMap::new();
        let mut seen: HashMap<&str, HashSet<String>> = HashMap::new();
        let (mut campaigns, mut agents, mut unhandled, mut steps) = (0, 0, 0, 0);
        let (mut diacritics_pl, mut diacritics_de) = (0, 0);
        let (mut day_starts, mut night_starts, mut per_bot) = (0, 0, HashMap::new());
        for c in conversations(&cfg) {
            let n = c.messages.len();
            messages += n;
            longest = longest.max(n);
            over_50 += usize::from(n > 50);
            *per_bot.entry(c.bot_id.clone()).or_insert(0) += 1;
            let first = &c.messages[0];
            let lang = first.language.clone().unwrap();
            *users.entry((c.bot_id.clone(), first.user_id.clone().unwrap())).or_default() += 1;
            seen.entry("language").or_default().insert(lang.clone());
            seen.entry("channel").or_default().insert(first.channel_type.clone().unwrap());
            seen.entry("version").or_default().insert(first.version.clone().unwrap());
            campaigns += usize::from(first.campaign.is_some());
            let hour = timestamp(first).div_euclid(HOUR).rem_euclid(24);
            day_starts += usize::from((9..17).contains(&hour));
            night_starts += usize::from((1..5).contains(&hour));
            agents += usize::from(c.messages.iter().any(|m| m.role == "agent"));
            for m in &c.messages {
                long_texts += usize::from(m.content.len() > 300);
                unhandled += usize::from(m.metadata == Some(json!({"handled": false})));
                if let Some(step) = &m.step {
                    steps += 1;
                    seen.entry("step").or_default().insert(step.id.clone());
                }
                if lang == "pl" && m.content.contains(['ą', 'ę', 'ł', 'ś', 'ż', 'ć', 'ń']) {
                    diacritics_pl += 1;
                }
                if lang == "de" && m.content.contains(['ä', 'ö', 'ü', 'ß']) {
                    diacritics_de += 1;
                }
            }
        }
        let mean = messages as f64 / cfg.conversations as f64;
        let returning: usize = users.values().filter(|&&v| v > 1).sum();
        let returning = returning as f64 / cfg.conversations as f64;
        let share = |k: &str| per_bot.get(k).copied().unwrap_or(0) as f64 / 20_000.0;
        println!(
            "mean {mean:.2}, longest {longest}, over 50: {over_50}, returning {returning:.3}, \
             campaigns {campaigns}, agents {agents}, unhandled {unhandled}, long {long_texts}, \
             bot-0 {:.2}, bot-7 {:.2}",
            share("bot-0"),
            share("bot-7")
        );
        assert!((8.0..=12.0).contains(&mean), "mean length {mean}");
        assert!(longest >= 100 && over_50 >= 20, "a long tail: {longest}, {over_50}");
        assert!((0.2..=0.4).contains(&returning), "returning users {returning}");
        assert!((3_000..5_000).contains(&campaigns), "campaigns {campaigns}");
        assert!(agents > 200 && unhandled > 500 && long_texts > 500 && steps > messages / 3);
        assert!(diacritics_pl > 1_000 && diacritics_de > 1_000);
        assert!(day_starts > 4 * night_starts, "{day_starts} by day, {night_starts} at night");
        assert!(share("bot-0") > 2.0 * share("bot-7"), "a few big bots");
        assert_eq!(seen["language"].len(), 5, "{:?}", seen["language"]);
        assert_eq!(seen["channel"].len(), 5, "{:?}", seen["channel"]);
        assert!(seen["version"].contains("LIVE") && seen["version"].contains("DRAFT"));
        assert!(seen["version"].len() >= 4, "{:?}", seen["version"]);
        assert!(seen["step"].len() >= 15, "{:?}", seen["step"]);
    }

    fn turns(c: &Conversation) -> Vec<Turn<'_>> {
        c.messages
            .iter()
            .map(|m| Turn {
                role: Role::parse(&m.role).unwrap(),
                text: &m.content,
                at: timestamp(m),
            })
            .collect()
    }

    fn keys(schema: &Value) -> Vec<&str> {
        schema["datapoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["key"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn answers_carry_the_schemas_datapoints() {
        let schema = serde_json::from_value::<SchemaInput>(schema()).unwrap().validate().unwrap();
        let ctx = Context::default();
        let mut found: HashMap<String, usize> = HashMap::new();
        let mut langs: HashMap<String, usize> = HashMap::new();
        for c in conversations(&config(2_000)) {
            let values = extract(&schema, &turns(&c), &ctx);
            for key in values.keys() {
                *found.entry(key.clone()).or_default() += 1;
            }
            if values.contains_key("Date") {
                *langs.entry(c.messages[0].language.clone().unwrap()).or_default() += 1;
            }
        }
        println!("{found:?} dates by language {langs:?}");
        for key in ["Name", "Email", "Phone", "Date"] {
            assert!(found.get(key).copied().unwrap_or(0) > 100, "{key}: {found:?}");
        }
        assert_eq!(langs.len(), 5, "dates read in every language: {langs:?}");
    }

    #[test]
    fn each_bot_has_the_schema_of_what_it_asks() {
        let cfg = config(3_000);
        let schemas: HashMap<String, Value> = schemas(&cfg).into_iter().collect();
        assert_eq!(schemas.len(), cfg.bots);
        let mut compiled = HashMap::new();
        for (bot, schema) in &schemas {
            let keys = keys(schema);
            assert!(keys.contains(&"Email"), "{bot}: agents ask for the email: {keys:?}");
            let input: SchemaInput = serde_json::from_value(schema.clone()).unwrap();
            compiled.insert(bot.clone(), input.validate().unwrap());
        }
        // The bots differ, and each asks for exactly its schema's fields (bar the agents' email).
        let distinct: HashSet<Vec<&str>> = schemas.values().map(keys).collect();
        assert!(distinct.len() > 1, "{schemas:?}");
        let ctx = Context::default();
        let mut asked: HashMap<&str, HashSet<&str>> = HashMap::new();
        let mut found: HashMap<(String, String), usize> = HashMap::new();
        for c in conversations(&cfg) {
            for m in &c.messages {
                if let Some(step) = &m.step
                    && let Some(field) = step.id.strip_prefix("ask_")
                {
                    asked.entry(schemas.get_key_value(&c.bot_id).unwrap().0).or_default().insert(
                        match field {
                            "name" => "Name",
                            "email" => "Email",
                            "phone" => "Phone",
                            _ => "Date",
                        },
                    );
                }
            }
            for key in extract(&compiled[&c.bot_id], &turns(&c), &ctx).into_keys() {
                *found.entry((c.bot_id.clone(), key)).or_default() += 1;
            }
        }
        let mut shown: Vec<(&String, Vec<&str>)> =
            schemas.iter().map(|(b, s)| (b, keys(s))).collect();
        shown.sort();
        println!("{shown:?}\nconversations with a value: {found:?}");
        for (bot, schema) in &schemas {
            let mut keys: HashSet<&str> = keys(schema).into_iter().collect();
            assert_eq!(asked[bot.as_str()].difference(&keys).count(), 0, "{bot}");
            keys.remove("Email");
            assert!(keys.is_subset(&asked[bot.as_str()]), "{bot}: {keys:?} never asked");
        }
        // Every key of the biggest bot is found in many of its conversations.
        for key in keys(&schemas["bot-0"]) {
            let n = found.get(&("bot-0".to_owned(), key.to_owned())).copied().unwrap_or(0);
            assert!(n > 50, "bot-0 {key}: {n}");
        }
    }

    #[test]
    fn the_schemas_questions_are_in_the_bots_lines() {
        for bank in LANGS {
            for field in [NAME, EMAIL, PHONE, DATE] {
                let line = bank.ask[field].to_lowercase();
                let questions = datapoints::questions(field);
                assert!(questions.iter().any(|q| line.contains(q)), "{}: {line}", bank.code);
            }
            let agent = bank.agent_asks.to_lowercase();
            assert!(datapoints::questions(EMAIL).iter().any(|q| agent.contains(q)), "{agent}");
        }
    }

    #[test]
    fn fill_replaces_known_keys_only() {
        assert_eq!(fill("I'm {first} ({x})", &[("first", "Zofia")]), "I'm Zofia ({x})");
        assert_eq!(fill("{a}{a} {", &[("a", "1")]), "11 {");
        assert_eq!(ascii("Łukasz Wiśniewski-Größer"), "lukaszwisniewskigroesser");
    }
}
