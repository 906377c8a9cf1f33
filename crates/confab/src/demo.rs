//! `confab demo`: fills the database with realistic, deterministic conversations (three bots,
//! three languages, six channels, dialogue steps, names, emails and phone numbers in the answers,
//! hand-offs and misunderstood messages), then prints a key and requests to try.

use std::sync::Arc;

use anyhow::Result;
use confab_core::auth::Scopes;
use confab_core::bot::BotSettings;
use confab_core::datapoints::SchemaInput;
use confab_core::message::{NewMessage, Role, Step};
use confab_core::summary::{DIM_COUNT, Dim};
use confab_core::time::{DAY, now_millis};
use confab_store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

const SEED: u64 = 20_261_121;
const BOTS: [(&str, &str, &[&str]); 3] = [
    ("shop-assistant", "order", &["en", "de", "pl"]),
    ("hotel-concierge", "booking", &["en", "de"]),
    ("bank-helpdesk", "card", &["pl", "en"]),
];
const CHANNELS: [(&str, u32); 6] =
    [("web", 40), ("whatsapp", 25), ("messenger", 12), ("instagram", 8), ("slack", 5), ("api", 10)];
const NAMES: [&str; 10] = [
    "Anna Kowalska",
    "Jan Nowak",
    "Maria Schmidt",
    "Lukas Weber",
    "Emily Clark",
    "James Miller",
    "Zofia Wiśniewska",
    "Paul Fischer",
    "Olivia Brown",
    "Piotr Zieliński",
];
const PHONES: [&str; 6] = [
    "+48 512 345 678",
    "+49 151 23456789",
    "+1 415 555 0123",
    "+44 7700 900123",
    "512-987-654",
    "0151 9876543",
];

/// What the bot and the user say at each step, per language.
struct Lines {
    hello: &'static str,
    welcome: &'static str,
    intent: &'static str,
    ask_name: &'static str,
    name: &'static str,
    ask_email: &'static str,
    email: &'static str,
    ask_phone: &'static str,
    phone: &'static str,
    ask_date: &'static str,
    dates: [&'static str; 4],
    confirm: &'static str,
    thanks: &'static str,
    goodbye: &'static str,
    confused: &'static str,
    human: &'static str,
    agent: &'static str,
}

fn lines(lang: &str) -> Lines {
    match lang {
        "de" => Lines {
            hello: "Hallo",
            welcome: "Hallo! Ich bin der digitale Assistent. Wie kann ich helfen?",
            intent: "Ich möchte eine {topic} ändern",
            ask_name: "Gerne! Wie ist Ihr Name?",
            name: "Ich heiße {name}",
            ask_email: "Danke, {first}. Wie lautet Ihre E-Mail-Adresse?",
            email: "{email}",
            ask_phone: "Unter welcher Telefonnummer erreichen wir Sie?",
            phone: "Meine Nummer ist {phone}",
            ask_date: "Für welches Datum?",
            dates: ["nächsten Freitag", "am 8.", "übermorgen", "15.12.2026"],
            confirm: "Alles notiert. Ihre {topic} ist bestätigt.",
            thanks: "Danke schön!",
            goodbye: "Einen schönen Tag noch!",
            confused: "Entschuldigung, das habe ich nicht verstanden.",
            human: "Ich möchte mit einem Menschen sprechen",
            agent: "Hallo, hier ist Sabine vom Kundenservice. Ich übernehme.",
        },
        "pl" => Lines {
            hello: "Dzień dobry",
            welcome: "Dzień dobry! Jestem wirtualnym asystentem. W czym mogę pomóc?",
            intent: "Chcę zmienić {topic}",
            ask_name: "Oczywiście! Jak się Pan/Pani nazywa?",
            name: "Nazywam się {name}",
            ask_email: "Dziękuję, {first}. Jaki jest Pana/Pani adres e-mail?",
            email: "mój mail to {email}",
            ask_phone: "Pod jakim numerem telefonu możemy się skontaktować?",
            phone: "{phone}",
            ask_date: "Na jaki dzień?",
            dates: ["w przyszły piątek", "8 grudnia", "pojutrze", "2026-12-15"],
            confirm: "Zanotowane. {topic} potwierdzone.",
            thanks: "Dziękuję bardzo!",
            goodbye: "Miłego dnia!",
            confused: "Przepraszam, nie zrozumiałem.",
            human: "Chcę rozmawiać z konsultantem",
            agent: "Dzień dobry, tu Marta z obsługi klienta. Przejmuję rozmowę.",
        },
        _ => Lines {
            hello: "Hi",
            welcome: "Hi there! I'm the virtual assistant. How can I help you today?",
            intent: "I'd like to change my {topic}",
            ask_name: "Happy to help! What's your name?",
            name: "I'm {name}",
            ask_email: "Thanks, {first}. What's your email address?",
            email: "it's {email}",
            ask_phone: "And a phone number we can reach you on?",
            phone: "call me on {phone}",
            ask_date: "For which date?",
            dates: ["Friday next week", "the 8th", "day after tomorrow", "2026-12-15"],
            confirm: "All noted. Your {topic} is confirmed.",
            thanks: "thanks a lot!",
            goodbye: "Have a great day!",
            confused: "Sorry, I didn't get that. Could you rephrase?",
            human: "can I talk to a human please",
            agent: "Hi, this is Sam from customer support, taking over from here.",
        },
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn weighted<'a>(rng: &mut StdRng, items: &'a [(&'a str, u32)]) -> &'a str {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    items[0].0
}

struct Conversation {
    bot: &'static str,
    messages: Vec<NewMessage>,
}

/// One conversation of bot `b`, number `n`, starting at `start`.
fn conversation(rng: &mut StdRng, b: usize, n: usize, start: i64, users: usize) -> Conversation {
    let (bot, topic, langs) = BOTS[b];
    let lang = *pick(rng, langs);
    let l = lines(lang);
    let name = *pick(rng, &NAMES);
    let first = name.split(' ').next().unwrap_or(name);
    let email =
        format!("{}@example.com", name.to_lowercase().replace(' ', ".").replace(['ś', 'ń'], "s"));
    let phone = *pick(rng, &PHONES);
    let fill = |s: &str| {
        s.replace("{topic}", topic)
            .replace("{name}", name)
            .replace("{first}", first)
            .replace("{email}", &email)
            .replace("{phone}", phone)
    };
    let mut dims: [Option<String>; DIM_COUNT] = Default::default();
    dims[Dim::ChannelType as usize] = Some(weighted(rng, &CHANNELS).to_owned());
    dims[Dim::Language as usize] = Some(lang.to_owned());
    dims[Dim::Version as usize] =
        Some(if rng.random_bool(0.85) { "LIVE" } else { "2.3.0" }.to_owned());
    dims[Dim::UserId as usize] = Some(format!("user-{}", rng.random_range(0..users)));
    dims[Dim::SessionId as usize] = Some(format!("sess-{b}-{n:05}"));
    if rng.random_bool(0.2) {
        let (id, source) = *pick(
            rng,
            &[("spring-sale", "facebook"), ("newsletter-11", "email"), ("qr-store", "offline")],
        );
        dims[Dim::CampaignId as usize] = Some(id.to_owned());
        dims[Dim::CampaignSource as usize] = Some(source.to_owned());
    }
    let device = if rng.random_bool(0.7) { "mobile" } else { "desktop" };
    // The dialogue, as (role, step, text); the user may leave after any step.
    let date = *pick(rng, &l.dates);
    let script: Vec<(Role, &str, String)> = vec![
        (Role::User, "start", l.hello.to_owned()),
        (Role::Bot, "welcome", fill(l.welcome)),
        (Role::User, "welcome", fill(l.intent)),
        (Role::Bot, "ask_name", fill(l.ask_name)),
        (Role::User, "ask_name", fill(l.name)),
        (Role::Bot, "ask_email", fill(l.ask_email)),
        (Role::User, "ask_email", fill(l.email)),
        (Role::Bot, "ask_phone", fill(l.ask_phone)),
        (Role::User, "ask_phone", fill(l.phone)),
        (Role::Bot, "ask_date", fill(l.ask_date)),
        (Role::User, "ask_date", date.to_owned()),
        (Role::Bot, "confirm", fill(l.confirm)),
        (Role::User, "confirm", fill(l.thanks)),
        (Role::Bot, "goodbye", fill(l.goodbye)),
    ];
    // A long tail of lengths: most finish, some drop off early.
    let keep = if rng.random_bool(0.6) { script.len() } else { rng.random_range(1..script.len()) };
    let handoff = rng.random_bool(0.07);
    let confused_at =
        if rng.random_bool(0.15) { Some(rng.random_range(2..keep.max(3))) } else { None };
    let conversation_id = format!("demo-{bot}-{n:05}");
    let mut ts = start;
    let mut messages = Vec::with_capacity(keep + 3);
    let mut push =
        |role: Role, step: &str, content: String, metadata: Option<Map<String, Value>>, ts: i64| {
            let i = messages.len();
            messages.push(NewMessage {
                conversation_id: conversation_id.clone(),
                client_id: Some(format!("m{i}")),
                role,
                content,
                timestamp: ts,
                step: (role == Role::Bot)
                    .then(|| Step { id: step.to_owned(), kind: Some("message".to_owned()) }),
                metadata,
                dims: if i == 0 { dims.clone() } else { Default::default() },
            });
        };
    for (i, (role, step, text)) in script.into_iter().take(keep).enumerate() {
        let meta = (role == Role::User)
            .then(|| json!({ "device": device }).as_object().cloned())
            .flatten();
        push(role, step, text, meta, ts);
        ts += rng.random_range(3_000..45_000);
        if confused_at == Some(i) && role == Role::User {
            let meta = json!({ "handled": false }).as_object().cloned();
            push(Role::Bot, "fallback", l.confused.to_owned(), meta, ts);
            ts += rng.random_range(3_000..20_000);
        }
    }
    if handoff {
        push(Role::User, "", l.human.to_owned(), None, ts);
        ts += rng.random_range(20_000..120_000);
        push(Role::Agent, "", l.agent.to_owned(), None, ts);
    }
    Conversation { bot, messages }
}

/// Generates `count` conversations over the last 30 days into the team `demo`.
pub async fn run(store: &Arc<dyn Store>, count: usize, listen: &str) -> Result<()> {
    let team = match store.list_teams().await?.into_iter().find(|t| t.name == "demo") {
        Some(t) => t,
        None => store.create_team("demo").await?,
    };
    // Every bot collects the same facts; the answers above are written to be found by them.
    let schema: SchemaInput = serde_json::from_value(json!({"datapoints": [
        {"key": "Name", "type": "name", "required": true},
        {"key": "Email", "type": "email", "required": true},
        {"key": "Phone", "type": "phone"},
        {"key": "Date", "type": "date", "questions": ["which date", "welches datum", "jaki dzień"]},
    ]}))?;
    // A conversation that reaches `confirm` got what the bot wanted: the demo shows goals.
    let settings = BotSettings {
        phone_region: Some("PL".into()),
        goal_steps: vec!["confirm".into()],
        ..BotSettings::default()
    };
    for (bot, _, _) in BOTS {
        store.put_datapoint_schema(team.id, bot, true, &schema).await?;
        store.put_bot_settings(team.id, bot, true, &settings).await?;
    }
    let mut rng = StdRng::seed_from_u64(SEED);
    // Anchor at the start of today's UTC hour so a rerun in the same hour changes nothing.
    let now = now_millis() / 3_600_000 * 3_600_000;
    let users = (count / 3).max(1);
    let mut pending: Vec<Vec<NewMessage>> = vec![Vec::new(); BOTS.len()];
    let mut stored = 0usize;
    for n in 0..count {
        let b = n % BOTS.len();
        // Busier in the day than at night, spread over 30 days, ending two hours ago.
        let day = rng.random_range(0..30);
        let hour =
            if rng.random_bool(0.8) { rng.random_range(8..22) } else { rng.random_range(0..24) };
        let start =
            now - 2 * 3_600_000 - day * DAY - hour * 3_600_000 - rng.random_range(0..3_600_000);
        let conv = conversation(&mut rng, b, n, start, users);
        pending[b].extend(conv.messages);
        if pending[b].len() >= 2_000 {
            stored += flush(store, team.id, conv.bot, &mut pending[b]).await?;
        }
    }
    for (b, msgs) in pending.iter_mut().enumerate() {
        stored += flush(store, team.id, BOTS[b].0, msgs).await?;
    }
    let read =
        crate::new_key(store, team.id, Scopes::parse("scopes", ["read"])?, None, "demo read")
            .await?;
    let ingest =
        crate::new_key(store, team.id, Scopes::parse("scopes", ["ingest"])?, None, "demo ingest")
            .await?;
    let base = format!("http://{listen}");
    println!();
    println!(
        "Demo data: {count} conversations ({stored} new messages) for bots shop-assistant, hotel-concierge and bank-helpdesk in team `demo`."
    );
    println!("Read key:   {read}");
    println!("Ingest key: {ingest}");
    println!("(Keys are shown only once; each run of `confab demo` makes new ones.)");
    println!();
    println!("Dashboard:  {base}/  (sign in with the read key)");
    println!();
    println!("Try:");
    let h = format!("-H 'Authorization: Bearer {read}'");
    println!("  curl {h} '{base}/v1/bots/shop-assistant/conversations?limit=5'");
    println!(
        "  curl {h} '{base}/v1/bots/shop-assistant/conversations?channel_type=whatsapp&language=de&limit=3'"
    );
    println!("  curl {h} '{base}/v1/bots/hotel-concierge/conversations?q=friday&limit=3'");
    println!("  curl {h} '{base}/v1/bots/shop-assistant/conversations/demo-shop-assistant-00000'");
    println!(
        "  curl {h} '{base}/compat/chatzuri/api/v1/get-conversations?chatbotId=bank-helpdesk&filteredSources=WhatsApp&size=2'"
    );
    println!("  curl {h} '{base}/compat/botuj/v1/api/conversations?per_page=3'");
    // Analytics over the demo's 30 days (dates in UTC).
    let day = |ms: i64| confab_core::time::format_rfc3339(ms)[..10].to_owned();
    let (from, to) = (day(now - 31 * DAY), day(now + DAY));
    let range = format!("start_time={from}&end_time={to}");
    println!(
        "  curl {h} '{base}/v1/bots/shop-assistant/analytics/conversations?{range}&bucket=1w&group_by=channel_type'"
    );
    println!(
        "  curl {h} '{base}/v1/bots/hotel-concierge/analytics/insights?stat=containment_rate&{range}&tz=Europe/Warsaw'"
    );
    println!("  curl {h} '{base}/v1/bots/shop-assistant/analytics/flows?{range}'");
    println!(
        "  curl -u '{read}:' '{base}/compat/chatlayer/v1/bots/bank-helpdesk/conversations?version=LIVE&{range}&group_by=language'"
    );
    println!(
        "  curl -u '{read}:' '{base}/compat/chatlayer/v1/teams/{}/conversations?{range}&bucket=1w&group_by=bot_id'",
        team.id
    );
    println!(
        "  curl {h} '{base}/v1/bots/shop-assistant/conversations/demo-shop-assistant-00000/datapoints'"
    );
    println!(
        "  curl {h} '{base}/v1/bots/shop-assistant/export/datapoints.csv?status=ended' | head"
    );
    println!(
        "  curl {h} -d '{{\"conversationId\":\"demo-shop-assistant-00000\",\"botId\":\"shop-assistant\"}}' {base}/compat/botsheets/api/v0/conversations/datapoints"
    );
    println!(
        "  curl -H 'Authorization: Bearer {ingest}' -d '{{\"conversation_id\":\"try-1\",\"role\":\"user\",\"content\":\"Hello!\"}}' {base}/v1/bots/shop-assistant/messages"
    );
    println!();
    Ok(())
}

async fn flush(
    store: &Arc<dyn Store>,
    team_id: i64,
    bot: &str,
    msgs: &mut Vec<NewMessage>,
) -> Result<usize> {
    if msgs.is_empty() {
        return Ok(0);
    }
    let outcomes = store.ingest(team_id, bot, true, std::mem::take(msgs)).await?;
    Ok(outcomes.iter().filter(|o| **o == confab_core::conversation::IngestOutcome::Stored).count())
}
