//! Deterministic, realistic chatbot traffic at any size: conversation `i` of a data set depends
//! only on the [`Config`] and `i`, so a million conversations can be made in chunks, in any order
//! or in parallel, and be the same every time. Each bot has its own small dialogue graph (greet →
//! menu → questions, booking or a problem → goodbye, with drop-offs at every node), languages,
//! channels and versions; users come back, answer the bot's questions with names, emails, phones
//! and dates in their own language, and are sometimes handed to a human agent.

use std::fmt::Write as _;

use confab_core::time::{DAY, Millis};
use confab_core::{Campaign, MessageInput, Role, Step};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::{Value, json};

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

/// The datapoint schema the users' answers fit (JSON for `PUT /v1/bots/{bot}/datapoints/schema`):
/// the bots' questions in all five languages contain these phrases.
pub fn schema() -> Value {
    json!({"datapoints": [
        {"key": "Name", "type": "name", "required": true, "questions": [
            "your name", "jak masz na imię", "wie ist ihr name", "cómo te llamas",
            "vous appelez-vous"]},
        {"key": "Email", "type": "email", "required": true, "questions": [
            "email address", "adres e-mail", "e-mail-adresse", "correo electrónico",
            "adresse e-mail"]},
        {"key": "Phone", "type": "phone", "questions": [
            "phone number", "numerem telefonu", "telefonnummer", "número de teléfono",
            "numéro de téléphone"]},
        {"key": "Date", "type": "date", "questions": [
            "which date", "jaki termin", "welcher tag", "qué fecha", "quelle date"]},
    ]})
}

// ---------------------------------------------------------------------------------------------
// Seeds and ids

const CONVERSATION: u64 = 0x636f_6e76;
const IDS: u64 = 0x6964_7331;
const SESSION: u64 = 0x7365_7373;
const BOT: u64 = 0x626f_7473;
const ONCE: u64 = 0x6f6e_6365;
const REGULAR: u64 = 0x7265_6775;

/// SplitMix64's finaliser: a bijection on `u64` that scatters neighbouring inputs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed for item `i` of a stream: distinct `i` give distinct values (a bijection of `i`).
fn hash(seed: u64, stream: u64, i: u64) -> u64 {
    mix(mix(seed ^ mix(stream)).wrapping_add(i))
}

/// A UUID-shaped id whose last 64 bits are a bijection of `i`, so ids never collide.
fn conversation_id(seed: u64, i: usize) -> String {
    let a = hash(seed, IDS, i as u64);
    let b = mix(a ^ IDS);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        b >> 32,
        (b >> 16) & 0xffff,
        (b & 0x0fff) | 0x4000,
        a >> 48,
        a & 0xffff_ffff_ffff
    )
}

/// A cheap generator for the fixed traits of a bot or a user (SplitMix64).
struct Traits(u64);

impl RngCore for Traits {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes()[..chunk.len()]);
        }
    }
}

fn pick<T: Copy>(rng: &mut impl Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// An index into `weights`, in proportion to them.
fn weighted(rng: &mut impl Rng, weights: &[u32]) -> usize {
    let mut x = rng.random_range(0..weights.iter().sum::<u32>());
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    0
}

fn exponential(rng: &mut impl Rng, mean: f64) -> f64 {
    -(1.0 - rng.random::<f64>()).ln() * mean
}

// ---------------------------------------------------------------------------------------------
// Bots, users and time

const LANG_WEIGHTS: [u32; 5] = [40, 20, 15, 15, 10];
const CHANNELS: [(&str, u32); 5] =
    [("web", 45), ("whatsapp", 25), ("messenger", 14), ("telegram", 8), ("sms", 8)];
const CAMPAIGNS: [(&str, &str); 7] = [
    ("spring-sale", "facebook"),
    ("black-friday", "google"),
    ("newsletter-11", "email"),
    ("qr-in-store", "offline"),
    ("summer-promo", "instagram"),
    ("retargeting-q3", "google"),
    ("launch-video", "tiktok"),
];

/// Bot `k` of `bots`, with probability ln((k+2)/(k+1)) / ln(bots+1): bot-0 has the most.
fn pick_bot(rng: &mut impl Rng, bots: usize) -> usize {
    let k = ((bots as f64 + 1.0).powf(rng.random::<f64>()) - 1.0) as usize;
    k.min(bots - 1)
}

fn bot_share(k: usize, bots: usize) -> f64 {
    ((k as f64 + 2.0) / (k as f64 + 1.0)).ln() / (bots as f64 + 1.0).ln()
}

/// A third of conversations come from a bot's regulars, who visit about three times each (a few
/// much more often), so about 30% of conversations are by a user seen in another one.
const REGULAR_SHARE: f64 = 0.33;
const VISITS_PER_REGULAR: f64 = 3.0;

fn user_key(cfg: &Config, rng: &mut impl Rng, bot: &BotProfile, bots: usize, i: usize) -> u64 {
    if !rng.random_bool(REGULAR_SHARE) {
        return hash(cfg.seed, ONCE, i as u64);
    }
    let visits = cfg.conversations as f64 * bot_share(bot.index, bots) * REGULAR_SHARE;
    let pool = (visits / VISITS_PER_REGULAR).ceil().max(1.0) as u64;
    let u = rng.random::<f64>();
    let j = ((u * u * pool as f64) as u64).min(pool - 1);
    hash(hash(cfg.seed, REGULAR, bot.index as u64), REGULAR, j)
}

/// What stays the same across a bot's conversations: its languages, channels, graph and rates.
struct BotProfile {
    index: usize,
    language: usize,
    channel: usize,
    release: (u32, u32, u32),
    /// Weights of the menu's branches: questions, booking, problem.
    branches: [u32; 3],
    /// The fields the booking asks for, in order (indices into [`ASK`]).
    collect: [usize; 4],
    collected: usize,
    drop: f64,
    handoff: f64,
    fallback: f64,
}

impl BotProfile {
    fn new(seed: u64, index: usize) -> BotProfile {
        let mut t = Traits(hash(seed, BOT, index as u64));
        let mut collect = [0; 4];
        let mut collected = 0;
        for (field, p) in [(NAME, 0.9), (EMAIL, 0.75), (PHONE, 0.6), (DATE, 0.6)] {
            if t.random_bool(p) {
                collect[collected] = field;
                collected += 1;
            }
        }
        if collected == 0 {
            collect[0] = EMAIL;
            collected = 1;
        } else if collect[collected - 1] == DATE && t.random_bool(0.5) {
            // Some bots ask for the date first and the details after.
            collect[..collected].rotate_right(1);
        }
        BotProfile {
            index,
            language: weighted(&mut t, &LANG_WEIGHTS),
            channel: weighted(&mut t, &CHANNELS.map(|c| c.1)),
            release: (t.random_range(1..5), t.random_range(1..13), t.random_range(0..6)),
            branches: [t.random_range(30..50), t.random_range(25..45), t.random_range(15..30)],
            collect,
            collected,
            drop: t.random_range(0.08..0.14),
            handoff: t.random_range(0.25..0.5),
            fallback: t.random_range(0.04..0.12),
        }
    }

    /// Mostly `LIVE`; some traffic on the current and previous release and on `DRAFT`.
    fn version(&self, rng: &mut impl Rng) -> String {
        let (major, minor, patch) = self.release;
        match weighted(rng, &[84, 6, 6, 4]) {
            0 => "LIVE".to_owned(),
            1 => format!("{major}.{minor}.{patch}"),
            2 => format!("{major}.{}.{}", minor - 1, (patch + 3) % 7),
            _ => "DRAFT".to_owned(),
        }
    }
}

/// Who the user is, the same in each of their conversations.
struct Persona {
    key: u64,
    lang: usize,
    channel: usize,
    female: bool,
    first: &'static str,
    last: &'static str,
    /// English speakers in the US rather than the UK.
    american: bool,
}

impl Persona {
    fn new(key: u64, bot: &BotProfile) -> Persona {
        let mut t = Traits(key);
        let lang = if t.random_bool(0.7) { bot.language } else { weighted(&mut t, &LANG_WEIGHTS) };
        let channel =
            if t.random_bool(0.3) { bot.channel } else { weighted(&mut t, &CHANNELS.map(|c| c.1)) };
        let bank = LANGS[lang];
        let female = t.random_bool(0.5);
        let first = pick(&mut t, if female { bank.first_f } else { bank.first_m });
        Persona {
            key,
            lang,
            channel,
            female,
            first,
            last: pick(&mut t, bank.last),
            american: t.random_bool(0.6),
        }
    }

    fn utc_offset_hours(&self) -> i64 {
        match (self.lang, self.american) {
            (EN, true) => -5,
            (EN, false) => 0,
            _ => 1,
        }
    }

    /// The full name; Polish surnames in -ski/-cki take -ska/-cka for women.
    fn name(&self) -> String {
        let mut name = format!("{} {}", self.first, self.last);
        if self.lang == PL && self.female && (name.ends_with("ski") || name.ends_with("cki")) {
            name.pop();
            name.push('a');
        }
        name
    }

    fn email(&self) -> String {
        let mut t = Traits(self.key ^ 0x656d_6169);
        let (first, last) = (ascii(self.first), ascii(&self.name()[self.first.len() + 1..]));
        let domain = pick(&mut t, LANGS[self.lang].domains);
        match t.random_range(0..4) {
            0 => format!("{first}.{last}@{domain}"),
            1 => format!("{first}{last}{}@{domain}", t.random_range(1..100)),
            2 => format!("{}{last}@{domain}", &first[..1]),
            _ => format!("{first}_{last}{}@{domain}", t.random_range(70..100)),
        }
    }

    /// A valid mobile number of the user's country, as people type it.
    fn phone(&self) -> String {
        let mut t = Traits(self.key ^ 0x7068_6f6e);
        let plan = match self.lang {
            EN if self.american => &US,
            EN => &UK,
            lang => &PHONES[lang - 1],
        };
        let mut digits = String::with_capacity(12);
        digits.push_str(pick(&mut t, plan.prefixes));
        digits.push(char::from(b'2' + t.random_range(0..8u8)));
        while digits.len() < plan.len {
            digits.push(char::from(b'0' + t.random_range(0..10u8)));
        }
        let mut out = String::with_capacity(20);
        let style = weighted(&mut t, &[55, 20, 25]);
        if style == 1 {
            return format!("+{}{digits}", plan.country);
        }
        if style == 0 {
            write!(out, "+{} ", plan.country).ok();
        } else {
            out.push_str(plan.trunk);
        }
        let mut at = 0;
        for (n, g) in plan.groups.iter().enumerate() {
            if n > 0 {
                out.push(if style == 2 && plan.country == "1" { '-' } else { ' ' });
            }
            out.push_str(&digits[at..at + g]);
            at += g;
        }
        out
    }
}

/// How a country's mobile numbers look: national prefixes, length, grouping.
struct PhonePlan {
    country: &'static str,
    trunk: &'static str,
    prefixes: &'static [&'static str],
    len: usize,
    groups: &'static [usize],
}

const US: PhonePlan = PhonePlan {
    country: "1",
    trunk: "",
    prefixes: &["212", "415", "646", "312", "617", "206", "303", "512", "305", "702"],
    len: 10,
    groups: &[3, 3, 4],
};
const UK: PhonePlan = PhonePlan {
    country: "44",
    trunk: "0",
    prefixes: &["71", "72", "73"],
    len: 10,
    groups: &[4, 6],
};
/// Poland, Germany, Spain, France.
const PHONES: [PhonePlan; 4] = [
    PhonePlan {
        country: "48",
        trunk: "",
        prefixes: &["50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88"],
        len: 9,
        groups: &[3, 3, 3],
    },
    PhonePlan {
        country: "49",
        trunk: "0",
        prefixes: &["151", "152", "157", "160", "170", "171", "172", "173", "176", "177", "178"],
        len: 11,
        groups: &[3, 8],
    },
    PhonePlan { country: "34", trunk: "", prefixes: &["6"], len: 9, groups: &[3, 2, 2, 2] },
    PhonePlan {
        country: "33",
        trunk: "0",
        prefixes: &["60", "61", "62", "64", "65", "66", "67", "68", "75", "76", "77", "78"],
        len: 9,
        groups: &[1, 2, 2, 2, 2],
    },
];

/// A name as an email address spells it: lower case, diacritics written out.
fn ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        out.push_str(match c {
            'ą' | 'á' | 'à' | 'â' => "a",
            'ä' => "ae",
            'ć' | 'ç' => "c",
            'ę' | 'é' | 'è' | 'ê' | 'ë' => "e",
            'í' | 'î' | 'ï' => "i",
            'ł' => "l",
            'ń' | 'ñ' => "n",
            'ó' | 'ô' => "o",
            'ö' => "oe",
            'ś' => "s",
            'ß' => "ss",
            'ú' | 'û' => "u",
            'ü' => "ue",
            'ź' | 'ż' => "z",
            c if c.is_ascii_alphanumeric() => {
                out.push(c);
                continue;
            }
            _ => continue,
        });
    }
    out
}

const HOUR: Millis = 3_600_000;
/// Relative traffic by local hour: quiet at night, busy in office hours, a peak in the evening.
const HOURLY: [f64; 24] = [
    0.12, 0.07, 0.05, 0.04, 0.05, 0.09, 0.2, 0.4, 0.65, 0.8, 0.9, 0.95, 0.9, 0.9, 0.92, 0.9, 0.88,
    0.85, 0.85, 0.95, 1.0, 0.9, 0.6, 0.3,
];
/// Relative traffic by weekday, Monday first.
const WEEKLY: [f64; 7] = [1.0, 1.0, 1.0, 0.98, 0.92, 0.65, 0.55];

/// A start time in `[from, from + span)`, denser in the users' day than at night or weekends.
fn start_time(rng: &mut impl Rng, from: Millis, span: Millis, offset_hours: i64) -> Millis {
    for _ in 0..64 {
        let t = from + rng.random_range(0..span);
        let local = t + offset_hours * HOUR;
        let hour = local.div_euclid(HOUR).rem_euclid(24) as usize;
        // 1970-01-01 was a Thursday.
        let weekday = (local.div_euclid(DAY) + 3).rem_euclid(7) as usize;
        if rng.random::<f64>() < HOURLY[hour] * WEEKLY[weekday] {
            return t;
        }
    }
    from + rng.random_range(0..span)
}

// ---------------------------------------------------------------------------------------------
// The dialogue

const MAX_MESSAGES: usize = 200;
/// The longest pause between two messages, well inside the default inactivity timeout.
const MAX_GAP: Millis = 5 * 60 * 1000;

const NAME: usize = 0;
const EMAIL: usize = 1;
const PHONE: usize = 2;
const DATE: usize = 3;

type Node = (&'static str, &'static str);
const GREET: Node = ("greet", "message");
const MENU: Node = ("menu", "choice");
const FAQ: [Node; 6] = [
    ("faq_hours", "answer"),
    ("faq_prices", "answer"),
    ("faq_delivery", "answer"),
    ("faq_payment", "answer"),
    ("faq_location", "answer"),
    ("faq_contact", "answer"),
];
const ASK: [Node; 4] =
    [("ask_name", "input"), ("ask_email", "input"), ("ask_phone", "input"), ("ask_date", "input")];
const SKIP: Node = ("skip_field", "message");
const CONFIRM: Node = ("confirm", "message");
const TROUBLESHOOT: Node = ("troubleshoot", "answer");
const DID_IT_HELP: Node = ("did_it_help", "question");
const HANDOFF: Node = ("handoff", "handoff");
const ANYTHING_ELSE: Node = ("anything_else", "question");
const GOODBYE: Node = ("goodbye", "end");
const FALLBACK: Node = ("fallback", "fallback");

/// One conversation being written.
struct Talk<'a> {
    rng: StdRng,
    bank: &'static Bank,
    bot: &'a BotProfile,
    persona: &'a Persona,
    /// SMS users get no long answers.
    short: bool,
    start: Millis,
    at: Millis,
    id: String,
    messages: Vec<MessageInput>,
}

impl Talk<'_> {
    fn run(&mut self) {
        let b = self.bank;
        if self.rng.random_bool(0.55) {
            self.user_one(b.hello);
        }
        self.bot_one(b.greet, GREET);
        if self.leaves() {
            return;
        }
        for round in 0.. {
            self.bot(b.menu, MENU);
            if self.leaves() {
                return;
            }
            if self.rng.random_bool(self.bot.fallback) {
                self.user_one(b.off_script);
                self.fallback();
            }
            let branch = weighted(&mut self.rng, &self.bot.branches);
            self.user_one(b.choose[branch]);
            let carry_on = match branch {
                0 => self.questions(),
                1 => self.booking(),
                _ => self.problem(),
            };
            if !carry_on || self.full() {
                return;
            }
            self.bot(b.anything_else, ANYTHING_ELSE);
            if round == 3 || !self.rng.random_bool(0.15) {
                break;
            }
            self.user_one(b.another);
        }
        if self.rng.random_bool(0.25) {
            return;
        }
        self.user_one(b.thanks);
        self.bot_one(b.goodbye, GOODBYE);
    }

    /// A few questions from the FAQ; returns whether the user is still there.
    fn questions(&mut self) -> bool {
        let b = self.bank;
        loop {
            let k = self.rng.random_range(0..FAQ.len());
            self.user(b.faq_q[k]);
            if self.rng.random_bool(self.bot.fallback) {
                self.fallback();
                if self.leaves() {
                    return false;
                }
                self.user(b.faq_q[k]);
            }
            let answer = self.long(b.faq_a[k]);
            self.say(Role::Bot, answer, Some(FAQ[k]));
            if self.full() || !self.rng.random_bool(0.4) {
                return true;
            }
            if self.leaves() {
                return false;
            }
        }
    }

    /// The bot collects its fields and confirms; returns whether the user stayed to the end.
    fn booking(&mut self) -> bool {
        let b = self.bank;
        let (fields, n) = (self.bot.collect, self.bot.collected);
        for &field in &fields[..n] {
            self.bot(b.ask[field], ASK[field]);
            if self.leaves() {
                return false;
            }
            if self.rng.random_bool(0.05) {
                self.user_one(b.refuse);
                self.bot_one(b.skip, SKIP);
                if self.rng.random_bool(0.4) {
                    return false;
                }
                continue;
            }
            let answer = self.answer(field);
            self.say(Role::User, answer, None);
        }
        self.bot(b.confirm, CONFIRM);
        true
    }

    /// The user reports a problem; the bot tries, and may hand over to an agent.
    fn problem(&mut self) -> bool {
        let b = self.bank;
        let mut text = pick(&mut self.rng, b.problem).to_owned();
        if self.rng.random_bool(0.35) {
            let n = 1 + (exponential(&mut self.rng, 1.0) as usize).min(3);
            let from = self.rng.random_range(0..b.more_problem.len());
            for k in 0..n {
                text.push(' ');
                text.push_str(b.more_problem[(from + k) % b.more_problem.len()]);
            }
        }
        self.say(Role::User, text, None);
        if self.rng.random_bool(0.25) {
            self.user_one(b.more_problem);
        }
        self.bot(b.troubleshoot, TROUBLESHOOT);
        self.bot(b.did_it_help, DID_IT_HELP);
        if self.leaves() {
            return false;
        }
        if self.rng.random_bool(self.bot.handoff) {
            self.user_one(b.not_helped);
            self.agent();
            return false;
        }
        self.user_one(b.helped);
        true
    }

    /// A human takes over: a heavy-tailed number of exchanges (Pareto, α = 1.3).
    fn agent(&mut self) {
        let b = self.bank;
        self.bot(b.handoff, HANDOFF);
        if self.rng.random_bool(0.1) {
            return;
        }
        let agent = pick(&mut self.rng, b.agents);
        self.say(Role::System, fill(b.agent_joined, &[("agent", agent)]), None);
        self.say(Role::Agent, fill(b.agent_intro, &[("agent", agent)]), None);
        let u = self.rng.random::<f64>();
        let rounds = ((1.5 / (1.0 - u).powf(1.0 / 1.3)) as usize).min(MAX_MESSAGES);
        let asks_email = self.rng.random_bool(0.5).then(|| self.rng.random_range(0..rounds));
        for round in 0..rounds {
            if self.full() {
                return;
            }
            if asks_email == Some(round) {
                self.say(Role::Agent, b.agent_asks.to_owned(), None);
                let answer = self.answer(EMAIL);
                self.say(Role::User, answer, None);
                continue;
            }
            if self.rng.random_bool(0.15) {
                self.user_one(b.more_problem);
            } else {
                self.user_one(b.to_agent);
            }
            if self.rng.random_bool(0.2) {
                self.user_one(b.to_agent);
            }
            let line = pick(&mut self.rng, b.agent_says);
            self.say(Role::Agent, line.to_owned(), None);
        }
        self.say(Role::Agent, b.agent_closing.to_owned(), None);
        if self.rng.random_bool(0.7) {
            self.user_one(b.thanks);
        }
    }

    /// The user's answer to the bot's question for `field`, in their own words.
    fn answer(&mut self, field: usize) -> String {
        let b = self.bank;
        match field {
            NAME => {
                let name = self.persona.name();
                let said = fill(
                    pick(&mut self.rng, b.name_says),
                    &[("name", &name), ("first", self.persona.first)],
                );
                if self.rng.random_bool(0.15) { said.to_lowercase() } else { said }
            }
            EMAIL => fill(pick(&mut self.rng, b.email_says), &[("email", &self.persona.email())]),
            PHONE => fill(pick(&mut self.rng, b.phone_says), &[("phone", &self.persona.phone())]),
            _ if self.rng.random_bool(0.25) => pick(&mut self.rng, b.relative).to_owned(),
            _ => {
                let date = self.booking_date();
                fill(pick(&mut self.rng, b.date_says), &[("date", &date)])
            }
        }
    }

    /// A day one to six weeks after the conversation, written as people of the language do.
    fn booking_date(&mut self) -> String {
        let ahead = jiff::Span::new().days(self.rng.random_range(1..45));
        let day = jiff::Timestamp::from_millisecond(self.start)
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
            .ok()
            .and_then(|d| d.checked_add(ahead).ok())
            .unwrap_or_default();
        let (y, m, d) = (day.year(), day.month(), day.day());
        let month = self.bank.months[(m - 1) as usize];
        let lang = self.persona.lang;
        match (lang, self.rng.random_range(0..4)) {
            (_, 0) => format!("{y}-{m:02}-{d:02}"),
            (EN, 1) => format!("{month} {d}"),
            (EN, 2) => format!("{d} {month} {y}"),
            (EN, _) => format!("{m}/{d}/{y}"),
            (PL | DE, 1) => format!("{d:02}.{m:02}.{y}"),
            (PL, 2) => format!("{d} {month}"),
            (DE, 2) => format!("{d}. {month}"),
            (PL | DE, _) => format!("{d}.{m:02}."),
            (ES, 1) => format!("{d} de {month}"),
            (FR, 1) => format!("{d} {month}"),
            (_, 2) => format!("{d:02}/{m:02}/{y}"),
            _ => format!("{d}/{m}"),
        }
    }

    /// `base`, sometimes followed by a few more sentences: the long tail of answer lengths.
    fn long(&mut self, base: &str) -> String {
        let detail = self.bank.detail;
        if self.short || !self.rng.random_bool(0.35) {
            return base.to_owned();
        }
        let n = 1 + (exponential(&mut self.rng, 1.5) as usize).min(detail.len() - 1);
        let from = self.rng.random_range(0..detail.len());
        let mut text = String::with_capacity(base.len() + n * 90);
        text.push_str(base);
        for k in 0..n {
            text.push(' ');
            text.push_str(detail[(from + k) % detail.len()]);
        }
        text
    }

    fn fallback(&mut self) {
        let text = pick(&mut self.rng, self.bank.fallback).to_owned();
        if self.say(Role::Bot, text, Some(FALLBACK))
            && let Some(m) = self.messages.last_mut()
        {
            m.metadata = Some(json!({"handled": false}));
        }
    }

    fn leaves(&mut self) -> bool {
        self.full() || self.rng.random_bool(self.bot.drop)
    }

    fn full(&self) -> bool {
        self.messages.len() >= MAX_MESSAGES
    }

    fn user(&mut self, text: &'static str) {
        self.say(Role::User, text.to_owned(), None);
    }

    fn user_one(&mut self, lines: Lines) {
        let text = pick(&mut self.rng, lines);
        self.user(text);
    }

    fn bot_one(&mut self, lines: Lines, step: Node) {
        let text = pick(&mut self.rng, lines);
        self.bot(text, step);
    }

    fn bot(&mut self, text: &'static str, step: Node) {
        self.say(Role::Bot, text.to_owned(), Some(step));
    }

    /// Adds a message, unless the conversation is at its cap; returns whether it did.
    fn say(&mut self, role: Role, content: String, step: Option<Node>) -> bool {
        if self.full() {
            return false;
        }
        if !self.messages.is_empty() {
            self.at += self.gap(role, content.len());
        }
        let mut id = String::with_capacity(self.id.len() + 4);
        write!(id, "{}-{}", self.id, self.messages.len() + 1).ok();
        self.messages.push(MessageInput {
            conversation_id: self.id.clone(),
            id: Some(id),
            role: role.as_str().to_owned(),
            content,
            timestamp: Some(Value::from(self.at)),
            step: step.map(|(id, kind)| Step { id: id.to_owned(), kind: Some(kind.to_owned()) }),
            metadata: None,
            channel_type: None,
            language: None,
            version: None,
            user_id: None,
            campaign: None,
            kind: None,
            session_id: None,
        });
        true
    }

    /// Milliseconds before a message: bots answer at once, people read, think and type.
    fn gap(&mut self, role: Role, len: usize) -> Millis {
        let r = &mut self.rng;
        let ms = match role {
            Role::Bot => r.random_range(300.0..1_800.0),
            Role::System => r.random_range(50.0..400.0),
            Role::User => {
                let away = if r.random_bool(0.04) { r.random_range(60e3..240e3) } else { 0.0 };
                1_500.0 + exponential(r, 9_000.0) + len as f64 * 180.0 + away
            }
            Role::Agent => 4_000.0 + exponential(r, 30_000.0) + len as f64 * 60.0,
        };
        (ms as Millis).clamp(1, MAX_GAP)
    }
}

/// `template` with each `{key}` of `vars` replaced.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else { break };
        out.push_str(&rest[..open]);
        let key = &rest[open + 1..close];
        match vars.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => out.push_str(v),
            None => out.push_str(&rest[open..=close]),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// What people say, per language

const EN: usize = 0;
const PL: usize = 1;
const DE: usize = 2;
const ES: usize = 3;
const FR: usize = 4;
const LANGS: [&Bank; 5] = [&ENGLISH, &POLISH, &GERMAN, &SPANISH, &FRENCH];

type Lines = &'static [&'static str];

/// One language's side of the dialogue graph. `{name}`, `{first}`, `{email}`, `{phone}`,
/// `{date}` and `{agent}` are filled in.
struct Bank {
    code: &'static str,
    hello: Lines,
    greet: Lines,
    menu: &'static str,
    /// The user's pick of the menu's branches: questions, booking, problem.
    choose: [Lines; 3],
    faq_q: [&'static str; 6],
    faq_a: [&'static str; 6],
    /// Sentences that make an answer long.
    detail: Lines,
    anything_else: &'static str,
    another: Lines,
    /// The bot asking for name, email, phone and date (matching [`schema`]'s questions).
    ask: [&'static str; 4],
    name_says: Lines,
    email_says: Lines,
    phone_says: Lines,
    date_says: Lines,
    relative: Lines,
    months: [&'static str; 12],
    refuse: Lines,
    skip: Lines,
    confirm: &'static str,
    problem: Lines,
    more_problem: Lines,
    troubleshoot: &'static str,
    did_it_help: &'static str,
    helped: Lines,
    not_helped: Lines,
    handoff: &'static str,
    agent_joined: &'static str,
    agents: Lines,
    agent_intro: &'static str,
    agent_says: Lines,
    agent_asks: &'static str,
    agent_closing: &'static str,
    to_agent: Lines,
    thanks: Lines,
    goodbye: Lines,
    fallback: Lines,
    off_script: Lines,
    first_f: Lines,
    first_m: Lines,
    last: Lines,
    domains: Lines,
}

static ENGLISH: Bank = Bank {
    code: "en",
    hello: &["Hi", "Hello", "hey there", "Hi, I have a question", "good morning"],
    greet: &[
        "Hi! I'm the virtual assistant. How can I help you today?",
        "Hello and welcome! I'm a bot, but I'll do my best to help.",
        "Hey 👋 Thanks for reaching out!",
    ],
    menu: "I can help you with: 1) questions about our services, 2) booking an appointment, 3) a problem with an order. What would you like to do?",
    choose: [
        &["1", "I have a question", "questions"],
        &["2", "I'd like to book an appointment", "booking please"],
        &["3", "I have a problem with my order", "something is wrong with my order"],
    ],
    faq_q: [
        "What are your opening hours?",
        "How much does it cost?",
        "How long does delivery take?",
        "Can I pay by card?",
        "Where are you located?",
        "How can I talk to a real person?",
    ],
    faq_a: [
        "We're open Monday to Friday from 8:00 to 18:00 and on Saturdays from 9:00 to 14:00.",
        "Prices start at 49 USD; the exact amount depends on the options you choose.",
        "Standard delivery takes 2–3 business days; express delivery arrives the next day.",
        "Yes, we accept Visa, Mastercard, Apple Pay and bank transfers.",
        "You'll find us at 12 Market Street, right next to the central station.",
        "You can call our team on weekdays or write to us here, and a consultant will reply within a few hours.",
    ],
    detail: &[
        "Please note that public holidays may change these times.",
        "You can find more details on our website under Help.",
        "If you're a returning customer, your previous settings are saved in your account.",
        "Orders placed before noon are usually processed the same day.",
        "We also offer a 30-day satisfaction guarantee on everything we sell.",
        "Our team is happy to answer any further questions you might have about this.",
    ],
    anything_else: "Is there anything else I can help you with?",
    another: &["yes, one more thing", "actually yes", "yes please"],
    ask: [
        "Great! What's your name?",
        "Thanks! What is your email address?",
        "And what phone number can we reach you on?",
        "Which date would suit you?",
    ],
    name_says: &["{name}", "{first}", "I'm {name}", "my name is {name}", "it's {first}"],
    email_says: &["{email}", "it's {email}", "sure, {email}", "my email is {email}"],
    phone_says: &["{phone}", "my number is {phone}", "you can call me on {phone}"],
    date_says: &["{date}", "on {date}", "{date} if possible", "{date} works for me"],
    relative: &["tomorrow", "next Friday", "the day after tomorrow", "Monday next week"],
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    refuse: &["why do you need that?", "I'd rather not say", "skip"],
    skip: &["No problem, let's skip that.", "That's fine, we can do without it."],
    confirm: "Thank you! Your appointment is booked and you'll receive a confirmation shortly.",
    problem: &[
        "My order hasn't arrived yet.",
        "I received the wrong item.",
        "The parcel arrived damaged.",
        "I was charged twice for the same order.",
        "I can't log in to my account.",
    ],
    more_problem: &[
        "I ordered it over a week ago and the tracking page hasn't changed since Monday.",
        "I've already written to you by email but nobody answered.",
        "This is really frustrating because I needed it for a birthday this weekend.",
        "The receipt is somewhere in my inbox but I can't find it right now.",
        "Could someone please look into it as soon as possible?",
    ],
    troubleshoot: "I'm sorry to hear that. I've checked the status and passed your case to our team; you should get an update within 24 hours.",
    did_it_help: "Did that help?",
    helped: &["yes, thanks", "ok great", "that helps, thank you"],
    not_helped: &["no", "not really", "I want to talk to a human"],
    handoff: "I'm connecting you with one of our consultants. Please wait a moment…",
    agent_joined: "{agent} joined the conversation",
    agents: &["Sam", "Emily", "Jack"],
    agent_intro: "Hi, this is {agent}. I'm looking into it now.",
    agent_says: &[
        "Thanks for your patience. Could you tell me a bit more?",
        "I can see your order in our system.",
        "I've sent a replacement; it should arrive in 2–3 days.",
        "Sorry for the trouble!",
        "Let me check with the warehouse, one moment please.",
    ],
    agent_asks: "Could you give me the email address you used for the order?",
    agent_closing: "Is there anything else I can do for you?",
    to_agent: &[
        "ok",
        "thanks",
        "sure",
        "how long will that take?",
        "it's the blue one, size M",
        "yes that's right",
        "I'm still waiting...",
        "ok, I'll wait",
    ],
    thanks: &["thanks!", "thank you", "great, thanks", "👍", "no, that's all, bye"],
    goodbye: &["Thanks for chatting with us. Have a great day!", "Goodbye! Come back any time."],
    fallback: &[
        "Sorry, I didn't quite get that. Could you rephrase?",
        "I'm not sure I understand. Please choose one of the options above.",
    ],
    off_script: &["are you a bot?", "asdf", "what??", "can you sing a song", "lol", "hello?"],
    first_f: &["Emily", "Olivia", "Sarah", "Jessica", "Hannah", "Grace"],
    first_m: &["James", "Michael", "David", "Daniel", "Thomas", "Ryan"],
    last: &["Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Clark", "Walker"],
    domains: &["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.co.uk"],
};

static POLISH: Bank = Bank {
    code: "pl",
    hello: &["Dzień dobry", "Cześć", "Hej", "Dzień dobry, mam pytanie", "Witam"],
    greet: &[
        "Dzień dobry! Jestem wirtualnym asystentem. W czym mogę pomóc?",
        "Cześć! Tu automatyczny asystent, chętnie pomogę.",
        "Witaj 👋 Dziękujemy za wiadomość!",
    ],
    menu: "Mogę pomóc w sprawach: 1) pytania o nasze usługi, 2) umówienie wizyty, 3) problem z zamówieniem. Co wybierasz?",
    choose: [
        &["1", "Mam pytanie", "pytania"],
        &["2", "Chcę umówić wizytę", "rezerwacja"],
        &["3", "Mam problem z zamówieniem", "coś jest nie tak z moim zamówieniem"],
    ],
    faq_q: [
        "W jakich godzinach jesteście otwarci?",
        "Ile to kosztuje?",
        "Jak długo trwa dostawa?",
        "Czy mogę zapłacić kartą?",
        "Gdzie się znajdujecie?",
        "Jak mogę porozmawiać z człowiekiem?",
    ],
    faq_a: [
        "Jesteśmy otwarci od poniedziałku do piątku w godz. 8:00–18:00, a w soboty od 9:00 do 14:00.",
        "Ceny zaczynają się od 199 zł; dokładna kwota zależy od wybranych opcji.",
        "Standardowa dostawa trwa 2–3 dni robocze, kurier ekspresowy dowozi następnego dnia.",
        "Tak, przyjmujemy karty Visa i Mastercard, BLIK oraz przelewy.",
        "Znajdziesz nas przy ul. Marszałkowskiej 12, tuż obok dworca centralnego.",
        "Możesz zadzwonić do nas w dni robocze albo napisać tutaj, a konsultant odpowie w ciągu kilku godzin.",
    ],
    detail: &[
        "W dni świąteczne godziny mogą się różnić.",
        "Więcej szczegółów znajdziesz na naszej stronie w zakładce Pomoc.",
        "Jeśli jesteś stałym klientem, Twoje poprzednie ustawienia są zapisane na koncie.",
        "Zamówienia złożone przed południem zwykle wysyłamy tego samego dnia.",
        "Na wszystkie produkty udzielamy 30-dniowej gwarancji satysfakcji.",
        "Nasz zespół chętnie odpowie na wszystkie dodatkowe pytania.",
    ],
    anything_else: "Czy mogę pomóc w czymś jeszcze?",
    another: &["tak, jeszcze jedno", "właściwie tak", "tak, poproszę"],
    ask: [
        "Świetnie! Jak masz na imię?",
        "Dziękuję! Podaj proszę swój adres e-mail.",
        "Pod jakim numerem telefonu możemy się z Tobą skontaktować?",
        "Jaki termin Ci odpowiada?",
    ],
    name_says: &[
        "{name}",
        "{first}",
        "Nazywam się {name}",
        "Mam na imię {first}",
        "Jestem {first}",
    ],
    email_says: &["{email}", "mój mail to {email}", "proszę: {email}"],
    phone_says: &["{phone}", "mój numer to {phone}", "tel. {phone}"],
    date_says: &["{date}", "na {date}", "może być {date}", "{date}, jeśli się da"],
    relative: &["jutro", "w przyszły piątek", "pojutrze", "w poniedziałek"],
    months: [
        "stycznia",
        "lutego",
        "marca",
        "kwietnia",
        "maja",
        "czerwca",
        "lipca",
        "sierpnia",
        "września",
        "października",
        "listopada",
        "grudnia",
    ],
    refuse: &["a po co wam to?", "wolę nie podawać", "pomiń"],
    skip: &["Nie ma problemu, pominiemy to.", "W porządku, obejdzie się bez tego."],
    confirm: "Dziękuję! Wizyta została zarezerwowana, potwierdzenie wyślemy wkrótce.",
    problem: &[
        "Moje zamówienie jeszcze nie dotarło.",
        "Przyszedł zły produkt.",
        "Przesyłka przyszła uszkodzona.",
        "Pobrano ode mnie opłatę dwa razy.",
        "Nie mogę zalogować się na swoje konto.",
    ],
    more_problem: &[
        "Zamówienie złożone ponad tydzień temu, a status przesyłki nie zmienił się od poniedziałku.",
        "To już druga wiadomość w tej sprawie, na maila nikt nie odpowiada.",
        "To naprawdę frustrujące, bo potrzebuję tego na urodziny w ten weekend.",
        "Paragon mam gdzieś w skrzynce, ale nie mogę go teraz znaleźć.",
        "Czy ktoś może się tym zająć jak najszybciej?",
    ],
    troubleshoot: "Przykro mi to słyszeć. Sprawdziłem status i przekazałem zgłoszenie do zespołu; odpowiedź otrzymasz w ciągu 24 godzin.",
    did_it_help: "Czy to pomogło?",
    helped: &["tak, dziękuję", "ok, super", "pomogło, dzięki"],
    not_helped: &["nie", "nie bardzo", "chcę rozmawiać z konsultantem"],
    handoff: "Łączę Cię z konsultantem. Proszę chwilę poczekać…",
    agent_joined: "{agent} dołącza do rozmowy",
    agents: &["Marta", "Tomasz", "Kasia"],
    agent_intro: "Dzień dobry, tu {agent}. Już sprawdzam.",
    agent_says: &[
        "Dziękuję za cierpliwość. Czy może Pan/Pani napisać coś więcej?",
        "Widzę zamówienie w naszym systemie.",
        "Wysłaliśmy nową paczkę, powinna dotrzeć w ciągu 2–3 dni.",
        "Przepraszamy za kłopot!",
        "Sprawdzę to z magazynem, proszę o chwilę.",
    ],
    agent_asks: "Czy może Pan/Pani podać adres e-mail użyty przy zamówieniu?",
    agent_closing: "Czy mogę jeszcze w czymś pomóc?",
    to_agent: &[
        "ok",
        "dzięki",
        "jasne",
        "ile to potrwa?",
        "chodzi o niebieską, rozmiar M",
        "tak, zgadza się",
        "dalej czekam...",
        "dobrze, poczekam",
    ],
    thanks: &["dzięki!", "dziękuję", "super, dziękuję", "👍", "nie, to wszystko, pa"],
    goodbye: &["Dziękujemy za rozmowę. Miłego dnia!", "Do zobaczenia! Zapraszamy ponownie."],
    fallback: &[
        "Przepraszam, nie zrozumiałem. Czy możesz napisać to inaczej?",
        "Nie jestem pewien, o co chodzi. Wybierz proszę jedną z opcji powyżej.",
    ],
    off_script: &["jesteś botem?", "asdf", "co??", "zaśpiewasz coś?", "haha", "halo?"],
    first_f: &["Anna", "Zofia", "Katarzyna", "Małgorzata", "Agnieszka", "Joanna"],
    first_m: &["Piotr", "Krzysztof", "Tomasz", "Paweł", "Łukasz", "Michał"],
    last: &[
        "Kowalski",
        "Nowak",
        "Wiśniewski",
        "Wójcik",
        "Kamiński",
        "Lewandowski",
        "Zieliński",
        "Dąbrowski",
        "Wysocki",
    ],
    domains: &["gmail.com", "wp.pl", "onet.pl", "o2.pl", "interia.pl"],
};

static GERMAN: Bank = Bank {
    code: "de",
    hello: &["Hallo", "Guten Tag", "Hi", "Hallo, ich habe eine Frage", "Moin"],
    greet: &[
        "Hallo! Ich bin der digitale Assistent. Wie kann ich Ihnen helfen?",
        "Guten Tag und herzlich willkommen! Ich bin ein Bot, helfe aber gern weiter.",
        "Hi 👋 Schön, dass Sie da sind!",
    ],
    menu: "Ich kann Ihnen helfen bei: 1) Fragen zu unseren Leistungen, 2) einer Terminbuchung, 3) einem Problem mit Ihrer Bestellung. Was möchten Sie tun?",
    choose: [
        &["1", "Ich habe eine Frage", "Fragen"],
        &["2", "Ich möchte einen Termin buchen", "Termin bitte"],
        &[
            "3",
            "Ich habe ein Problem mit meiner Bestellung",
            "mit meiner Bestellung stimmt was nicht",
        ],
    ],
    faq_q: [
        "Wann haben Sie geöffnet?",
        "Was kostet das?",
        "Wie lange dauert die Lieferung?",
        "Kann ich mit Karte zahlen?",
        "Wo finde ich Sie?",
        "Wie erreiche ich einen Mitarbeiter?",
    ],
    faq_a: [
        "Wir haben Montag bis Freitag von 8:00 bis 18:00 Uhr und samstags von 9:00 bis 14:00 Uhr geöffnet.",
        "Die Preise beginnen bei 49 €; der genaue Betrag hängt von den gewählten Optionen ab.",
        "Die Standardlieferung dauert 2–3 Werktage, Express kommt schon am nächsten Tag.",
        "Ja, wir akzeptieren Visa, Mastercard, PayPal und Überweisung.",
        "Sie finden uns in der Hauptstraße 12, direkt neben dem Hauptbahnhof.",
        "Sie können uns werktags anrufen oder hier schreiben; ein Mitarbeiter antwortet innerhalb weniger Stunden.",
    ],
    detail: &[
        "An Feiertagen können die Zeiten abweichen.",
        "Weitere Details finden Sie auf unserer Website unter Hilfe.",
        "Als Stammkunde sind Ihre bisherigen Einstellungen in Ihrem Konto gespeichert.",
        "Bestellungen vor 12 Uhr werden in der Regel noch am selben Tag bearbeitet.",
        "Außerdem gewähren wir auf alle Produkte eine 30-tägige Zufriedenheitsgarantie.",
        "Unser Team beantwortet gern alle weiteren Fragen dazu.",
    ],
    anything_else: "Kann ich sonst noch etwas für Sie tun?",
    another: &["ja, noch etwas", "eigentlich schon", "ja, bitte"],
    ask: [
        "Gern! Wie ist Ihr Name?",
        "Danke! Wie lautet Ihre E-Mail-Adresse?",
        "Unter welcher Telefonnummer erreichen wir Sie?",
        "Welcher Tag passt Ihnen?",
    ],
    name_says: &[
        "{name}",
        "{first}",
        "Ich heiße {name}",
        "Mein Name ist {name}",
        "Ich bin {first}",
    ],
    email_says: &["{email}", "meine Mail ist {email}", "klar: {email}"],
    phone_says: &["{phone}", "meine Nummer ist {phone}", "Handy: {phone}"],
    date_says: &["{date}", "am {date}", "gerne am {date}", "{date} wäre gut"],
    relative: &["morgen", "nächsten Freitag", "übermorgen", "am Montag"],
    months: [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    refuse: &["wozu brauchen Sie das?", "das möchte ich lieber nicht sagen", "überspringen"],
    skip: &["Kein Problem, das überspringen wir.", "In Ordnung, es geht auch ohne."],
    confirm: "Vielen Dank! Ihr Termin ist gebucht, Sie erhalten in Kürze eine Bestätigung.",
    problem: &[
        "Meine Bestellung ist noch nicht angekommen.",
        "Ich habe den falschen Artikel bekommen.",
        "Das Paket kam beschädigt an.",
        "Mir wurde der Betrag doppelt abgebucht.",
        "Ich kann mich nicht in mein Konto einloggen.",
    ],
    more_problem: &[
        "Ich habe vor über einer Woche bestellt und die Sendungsverfolgung zeigt seit Montag nichts Neues.",
        "Ich habe schon per Mail geschrieben, aber niemand hat geantwortet.",
        "Das ist wirklich ärgerlich, weil ich es für einen Geburtstag am Wochenende brauche.",
        "Die Quittung ist irgendwo in meinem Postfach, aber ich finde sie gerade nicht.",
        "Kann sich bitte jemand möglichst schnell darum kümmern?",
    ],
    troubleshoot: "Das tut mir leid. Ich habe den Status geprüft und Ihren Fall an unser Team weitergegeben; Sie erhalten innerhalb von 24 Stunden eine Rückmeldung.",
    did_it_help: "Hat Ihnen das geholfen?",
    helped: &["ja, danke", "ok, super", "das hilft, danke"],
    not_helped: &["nein", "nicht wirklich", "ich möchte mit einem Menschen sprechen"],
    handoff: "Ich verbinde Sie mit einem Mitarbeiter. Einen Moment bitte…",
    agent_joined: "{agent} ist dem Gespräch beigetreten",
    agents: &["Sabine", "Jürgen", "Lena"],
    agent_intro: "Hallo, hier ist {agent}. Ich schaue mir das gleich an.",
    agent_says: &[
        "Danke für Ihre Geduld. Können Sie mir etwas mehr dazu sagen?",
        "Ich sehe Ihre Bestellung in unserem System.",
        "Ich habe Ersatz verschickt, er sollte in 2–3 Tagen ankommen.",
        "Entschuldigen Sie bitte die Umstände!",
        "Ich frage kurz im Lager nach, einen Moment bitte.",
    ],
    agent_asks: "Können Sie mir die E-Mail-Adresse nennen, mit der Sie bestellt haben?",
    agent_closing: "Kann ich sonst noch etwas für Sie tun?",
    to_agent: &[
        "ok",
        "danke",
        "klar",
        "wie lange dauert das?",
        "es ist die blaue, Größe M",
        "ja, genau",
        "ich warte immer noch...",
        "gut, ich warte",
    ],
    thanks: &["danke!", "vielen Dank", "super, danke", "👍", "nein, das war's, tschüss"],
    goodbye: &[
        "Danke für das Gespräch. Einen schönen Tag noch!",
        "Auf Wiedersehen! Schreiben Sie uns jederzeit wieder.",
    ],
    fallback: &[
        "Entschuldigung, das habe ich nicht verstanden. Können Sie es anders formulieren?",
        "Ich bin nicht sicher, was Sie meinen. Bitte wählen Sie eine der Optionen oben.",
    ],
    off_script: &["bist du ein Bot?", "asdf", "hä?", "kannst du singen?", "lol", "hallo?"],
    first_f: &["Anna", "Lena", "Sabine", "Julia", "Jana", "Käthe"],
    first_m: &["Jürgen", "Lukas", "Maximilian", "Stefan", "Jörg", "Tobias"],
    last: &["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Schäfer", "Köhler"],
    domains: &["gmail.com", "gmx.de", "web.de", "t-online.de", "outlook.de"],
};

static SPANISH: Bank = Bank {
    code: "es",
    hello: &["Hola", "Buenas", "Hola, tengo una pregunta", "Buenos días", "hola!"],
    greet: &[
        "¡Hola! Soy el asistente virtual. ¿En qué puedo ayudarte?",
        "¡Bienvenido! Soy un bot, pero haré todo lo posible por ayudarte.",
        "¡Hola 👋 Gracias por escribirnos!",
    ],
    menu: "Puedo ayudarte con: 1) preguntas sobre nuestros servicios, 2) reservar una cita, 3) un problema con tu pedido. ¿Qué quieres hacer?",
    choose: [
        &["1", "Tengo una pregunta", "preguntas"],
        &["2", "Quiero reservar una cita", "una cita, por favor"],
        &["3", "Tengo un problema con mi pedido", "algo va mal con mi pedido"],
    ],
    faq_q: [
        "¿Cuál es vuestro horario?",
        "¿Cuánto cuesta?",
        "¿Cuánto tarda el envío?",
        "¿Puedo pagar con tarjeta?",
        "¿Dónde estáis?",
        "¿Cómo puedo hablar con una persona?",
    ],
    faq_a: [
        "Abrimos de lunes a viernes de 8:00 a 18:00 y los sábados de 9:00 a 14:00.",
        "Los precios empiezan en 49 €; el importe exacto depende de las opciones que elijas.",
        "El envío estándar tarda de 2 a 3 días laborables; el exprés llega al día siguiente.",
        "Sí, aceptamos Visa, Mastercard, Bizum y transferencia bancaria.",
        "Estamos en la calle Mayor 12, justo al lado de la estación central.",
        "Puedes llamarnos en días laborables o escribir aquí, y un agente te responderá en pocas horas.",
    ],
    detail: &[
        "Ten en cuenta que en días festivos el horario puede cambiar.",
        "Encontrarás más información en nuestra web, en la sección Ayuda.",
        "Si ya eres cliente, tus preferencias están guardadas en tu cuenta.",
        "Los pedidos realizados antes de mediodía suelen salir el mismo día.",
        "Además, ofrecemos una garantía de satisfacción de 30 días en todos los productos.",
        "Nuestro equipo responderá encantado a cualquier otra pregunta.",
    ],
    anything_else: "¿Puedo ayudarte en algo más?",
    another: &["sí, una cosa más", "pues sí", "sí, por favor"],
    ask: [
        "¡Perfecto! ¿Cómo te llamas?",
        "¡Gracias! ¿Cuál es tu correo electrónico?",
        "¿En qué número de teléfono podemos contactarte?",
        "¿Qué fecha te viene bien?",
    ],
    name_says: &["{name}", "{first}", "Me llamo {name}", "Soy {first}", "Mi nombre es {name}"],
    email_says: &["{email}", "mi correo es {email}", "claro: {email}"],
    phone_says: &["{phone}", "mi número es {phone}", "móvil: {phone}"],
    date_says: &["{date}", "el {date}", "el {date}, si puede ser", "mejor el {date}"],
    relative: &["mañana", "el próximo viernes", "pasado mañana", "el lunes"],
    months: [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
    refuse: &["¿para qué lo necesitáis?", "prefiero no decirlo", "saltar"],
    skip: &["No pasa nada, nos lo saltamos.", "Vale, podemos seguir sin eso."],
    confirm: "¡Gracias! Tu cita está reservada y recibirás una confirmación en breve.",
    problem: &[
        "Mi pedido todavía no ha llegado.",
        "Me ha llegado un artículo equivocado.",
        "El paquete llegó dañado.",
        "Me habéis cobrado dos veces.",
        "No puedo entrar en mi cuenta.",
    ],
    more_problem: &[
        "Hice el pedido hace más de una semana y el seguimiento no ha cambiado desde el lunes.",
        "Ya os escribí por correo, pero nadie me ha contestado.",
        "Es muy frustrante porque lo necesitaba para un cumpleaños este fin de semana.",
        "El recibo está en algún sitio de mi bandeja de entrada, pero ahora no lo encuentro.",
        "¿Alguien puede revisarlo lo antes posible?",
    ],
    troubleshoot: "Siento mucho oír eso. He revisado el estado y he pasado tu caso al equipo; recibirás una respuesta en 24 horas.",
    did_it_help: "¿Te ha servido de ayuda?",
    helped: &["sí, gracias", "vale, genial", "me sirve, gracias"],
    not_helped: &["no", "la verdad es que no", "quiero hablar con una persona"],
    handoff: "Te paso con uno de nuestros agentes. Espera un momento, por favor…",
    agent_joined: "{agent} se ha unido a la conversación",
    agents: &["Lucía", "Javier", "Carmen"],
    agent_intro: "Hola, soy {agent}. Lo reviso ahora mismo.",
    agent_says: &[
        "Gracias por tu paciencia. ¿Me cuentas un poco más?",
        "Veo tu pedido en nuestro sistema.",
        "Te he enviado un repuesto; debería llegar en 2–3 días.",
        "¡Perdona las molestias!",
        "Lo consulto con el almacén, un momento por favor.",
    ],
    agent_asks: "¿Me puedes dar el correo electrónico con el que hiciste el pedido?",
    agent_closing: "¿Hay algo más en lo que pueda ayudarte?",
    to_agent: &[
        "vale",
        "gracias",
        "claro",
        "¿cuánto tardará?",
        "es la azul, talla M",
        "sí, eso es",
        "sigo esperando...",
        "vale, espero",
    ],
    thanks: &["¡gracias!", "muchas gracias", "genial, gracias", "👍", "no, eso es todo, adiós"],
    goodbye: &[
        "Gracias por escribirnos. ¡Que tengas un buen día!",
        "¡Hasta pronto! Vuelve cuando quieras.",
    ],
    fallback: &[
        "Perdona, no te he entendido. ¿Puedes decirlo de otra forma?",
        "No estoy seguro de lo que quieres decir. Elige una de las opciones de arriba, por favor.",
    ],
    off_script: &["¿eres un bot?", "asdf", "¿qué?", "¿sabes cantar?", "jajaja", "¿hola?"],
    first_f: &["Lucía", "María", "Carmen", "Sofía", "Paula", "Elena"],
    first_m: &["José", "Javier", "Alejandro", "Pablo", "Sergio", "Andrés"],
    last: &["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Fernández", "Núñez"],
    domains: &["gmail.com", "hotmail.es", "yahoo.es", "outlook.es", "telefonica.net"],
};

static FRENCH: Bank = Bank {
    code: "fr",
    hello: &["Bonjour", "Salut", "Bonjour, j'ai une question", "Bonsoir", "coucou"],
    greet: &[
        "Bonjour ! Je suis l'assistant virtuel. Comment puis-je vous aider ?",
        "Bienvenue ! Je suis un bot, mais je vais faire de mon mieux pour vous aider.",
        "Salut 👋 Merci de nous contacter !",
    ],
    menu: "Je peux vous aider pour : 1) des questions sur nos services, 2) prendre rendez-vous, 3) un problème avec votre commande. Que souhaitez-vous faire ?",
    choose: [
        &["1", "J'ai une question", "questions"],
        &["2", "Je voudrais prendre rendez-vous", "un rendez-vous svp"],
        &["3", "J'ai un problème avec ma commande", "il y a un souci avec ma commande"],
    ],
    faq_q: [
        "Quels sont vos horaires ?",
        "Combien ça coûte ?",
        "Combien de temps prend la livraison ?",
        "Je peux payer par carte ?",
        "Où êtes-vous situés ?",
        "Comment parler à une vraie personne ?",
    ],
    faq_a: [
        "Nous sommes ouverts du lundi au vendredi de 8h00 à 18h00 et le samedi de 9h00 à 14h00.",
        "Les prix commencent à 49 € ; le montant exact dépend des options choisies.",
        "La livraison standard prend 2 à 3 jours ouvrés, l'express arrive dès le lendemain.",
        "Oui, nous acceptons Visa, Mastercard, PayPal et les virements.",
        "Vous nous trouverez au 12 rue de la Gare, juste à côté de la gare centrale.",
        "Vous pouvez nous appeler en semaine ou écrire ici : un conseiller vous répondra en quelques heures.",
    ],
    detail: &[
        "Attention, les horaires peuvent changer les jours fériés.",
        "Vous trouverez plus de détails sur notre site, rubrique Aide.",
        "Si vous êtes déjà client, vos préférences sont enregistrées dans votre compte.",
        "Les commandes passées avant midi sont généralement expédiées le jour même.",
        "Nous offrons aussi une garantie satisfaction de 30 jours sur tous nos produits.",
        "Notre équipe répondra volontiers à toutes vos autres questions.",
    ],
    anything_else: "Puis-je vous aider pour autre chose ?",
    another: &["oui, encore une chose", "en fait oui", "oui, s'il vous plaît"],
    ask: [
        "Parfait ! Comment vous appelez-vous ?",
        "Merci ! Quelle est votre adresse e-mail ?",
        "À quel numéro de téléphone pouvons-nous vous joindre ?",
        "Quelle date vous conviendrait ?",
    ],
    name_says: &["{name}", "{first}", "Je m'appelle {name}", "C'est {first}", "Je suis {name}"],
    email_says: &["{email}", "mon e-mail : {email}", "c'est {email}"],
    phone_says: &["{phone}", "mon numéro : {phone}", "vous pouvez m'appeler au {phone}"],
    date_says: &["{date}", "le {date}", "le {date} si possible", "plutôt le {date}"],
    relative: &["demain", "vendredi prochain", "après-demain", "lundi"],
    months: [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    refuse: &["pourquoi vous en avez besoin ?", "je préfère ne pas le dire", "passer"],
    skip: &["Pas de souci, on passe.", "D'accord, on peut s'en passer."],
    confirm: "Merci ! Votre rendez-vous est réservé, vous recevrez une confirmation sous peu.",
    problem: &[
        "Ma commande n'est toujours pas arrivée.",
        "J'ai reçu le mauvais article.",
        "Le colis est arrivé abîmé.",
        "On m'a débité deux fois.",
        "Je n'arrive pas à me connecter à mon compte.",
    ],
    more_problem: &[
        "J'ai commandé il y a plus d'une semaine et le suivi n'a pas bougé depuis lundi.",
        "Je vous ai déjà écrit par e-mail mais personne n'a répondu.",
        "C'est vraiment pénible, j'en avais besoin pour un anniversaire ce week-end.",
        "Le reçu est quelque part dans ma boîte mail mais je ne le retrouve pas.",
        "Quelqu'un peut-il s'en occuper au plus vite ?",
    ],
    troubleshoot: "Je suis désolé. J'ai vérifié le statut et transmis votre dossier à l'équipe ; vous aurez une réponse sous 24 heures.",
    did_it_help: "Est-ce que cela vous a aidé ?",
    helped: &["oui, merci", "ok, super", "ça m'aide, merci"],
    not_helped: &["non", "pas vraiment", "je veux parler à un humain"],
    handoff: "Je vous mets en relation avec un conseiller. Merci de patienter un instant…",
    agent_joined: "{agent} a rejoint la conversation",
    agents: &["Camille", "Julien", "Élodie"],
    agent_intro: "Bonjour, ici {agent}. Je regarde tout de suite.",
    agent_says: &[
        "Merci de votre patience. Pouvez-vous m'en dire un peu plus ?",
        "Je vois votre commande dans notre système.",
        "Je vous ai envoyé un remplacement, il devrait arriver sous 2 à 3 jours.",
        "Désolé pour le désagrément !",
        "Je vérifie auprès de l'entrepôt, un instant s'il vous plaît.",
    ],
    agent_asks: "Pouvez-vous me donner l'adresse e-mail utilisée pour la commande ?",
    agent_closing: "Puis-je faire autre chose pour vous ?",
    to_agent: &[
        "ok",
        "merci",
        "d'accord",
        "ça va prendre combien de temps ?",
        "c'est le bleu, taille M",
        "oui c'est ça",
        "j'attends toujours...",
        "ok, j'attends",
    ],
    thanks: &["merci !", "merci beaucoup", "super, merci", "👍", "non, c'est tout, au revoir"],
    goodbye: &["Merci pour votre message. Bonne journée !", "Au revoir ! À bientôt."],
    fallback: &[
        "Désolé, je n'ai pas compris. Pouvez-vous reformuler ?",
        "Je ne suis pas sûr de comprendre. Merci de choisir une des options ci-dessus.",
    ],
    off_script: &["t'es un robot ?", "asdf", "quoi ??", "tu sais chanter ?", "mdr", "allô ?"],
    first_f: &["Camille", "Chloé", "Élodie", "Léa", "Manon", "Inès"],
    first_m: &["Julien", "Lucas", "François", "Hugo", "Théo", "Mathieu"],
    last: &["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Girard", "Rousseau", "Fournier"],
    domains: &["gmail.com", "orange.fr", "free.fr", "laposte.net", "hotmail.fr"],
};

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use confab_core::datapoints::SchemaInput;
    use confab_core::extract::{Context, Turn, extract};

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

    #[test]
    fn answers_carry_the_schemas_datapoints() {
        let schema = serde_json::from_value::<SchemaInput>(schema()).unwrap().validate().unwrap();
        let ctx = Context::default();
        let mut found: HashMap<String, usize> = HashMap::new();
        let mut langs: HashMap<String, usize> = HashMap::new();
        for c in conversations(&config(2_000)) {
            let turns: Vec<Turn> = c
                .messages
                .iter()
                .map(|m| Turn {
                    role: Role::parse(&m.role).unwrap(),
                    text: &m.content,
                    at: timestamp(m),
                })
                .collect();
            let values = extract(&schema, &turns, &ctx);
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
    fn fill_replaces_known_keys_only() {
        assert_eq!(fill("I'm {first} ({x})", &[("first", "Zofia")]), "I'm Zofia ({x})");
        assert_eq!(fill("{a}{a} {", &[("a", "1")]), "11 {");
        assert_eq!(ascii("Łukasz Wiśniewski-Größer"), "lukaszwisniewskigroesser");
    }
}
