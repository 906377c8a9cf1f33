//! Who talks: each bot's fixed profile (languages, channels, versions, the fields it collects,
//! its rates), its users (personas with names, emails and phone numbers of their country,
//! regulars who come back) and when they come (a daily and weekly rhythm).

use std::fmt::Write as _;

use confab_core::time::{DAY, Millis};
use rand::Rng;

use super::Config;
use super::dialogue::{DATE, EMAIL, NAME, PHONE};
use super::phrases::{EN, LANGS, PL};
use super::random::{BOT, ONCE, REGULAR, Traits, hash, pick, weighted};

pub(super) const LANG_WEIGHTS: [u32; 5] = [40, 20, 15, 15, 10];
pub(super) const CHANNELS: [(&str, u32); 5] =
    [("web", 45), ("whatsapp", 25), ("messenger", 14), ("telegram", 8), ("sms", 8)];
pub(super) const CAMPAIGNS: [(&str, &str); 7] = [
    ("spring-sale", "facebook"),
    ("black-friday", "google"),
    ("newsletter-11", "email"),
    ("qr-in-store", "offline"),
    ("summer-promo", "instagram"),
    ("retargeting-q3", "google"),
    ("launch-video", "tiktok"),
];

/// Bot `k` of `bots`, with probability ln((k+2)/(k+1)) / ln(bots+1): bot-0 has the most.
pub(super) fn pick_bot(rng: &mut impl Rng, bots: usize) -> usize {
    let k = ((bots as f64 + 1.0).powf(rng.random::<f64>()) - 1.0) as usize;
    k.min(bots - 1)
}

pub(super) fn bot_share(k: usize, bots: usize) -> f64 {
    ((k as f64 + 2.0) / (k as f64 + 1.0)).ln() / (bots as f64 + 1.0).ln()
}

/// A third of conversations come from a bot's regulars, who visit about three times each (a few
/// much more often), so about 30% of conversations are by a user seen in another one.
pub(super) const REGULAR_SHARE: f64 = 0.33;
pub(super) const VISITS_PER_REGULAR: f64 = 3.0;

pub(super) fn user_key(
    cfg: &Config,
    rng: &mut impl Rng,
    bot: &BotProfile,
    bots: usize,
    i: usize,
) -> u64 {
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
pub(super) struct BotProfile {
    pub(super) index: usize,
    pub(super) language: usize,
    pub(super) channel: usize,
    pub(super) release: (u32, u32, u32),
    /// Weights of the menu's branches: questions, booking, problem.
    pub(super) branches: [u32; 3],
    /// The fields the booking asks for, in order (indices into [`ASK`](super::dialogue::ASK)).
    pub(super) collect: [usize; 4],
    pub(super) collected: usize,
    pub(super) drop: f64,
    pub(super) handoff: f64,
    pub(super) fallback: f64,
}

impl BotProfile {
    pub(super) fn new(seed: u64, index: usize) -> BotProfile {
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
    pub(super) fn version(&self, rng: &mut impl Rng) -> String {
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
pub(super) struct Persona {
    pub(super) key: u64,
    pub(super) lang: usize,
    pub(super) channel: usize,
    pub(super) female: bool,
    pub(super) first: &'static str,
    pub(super) last: &'static str,
    /// English speakers in the US rather than the UK.
    pub(super) american: bool,
}

impl Persona {
    pub(super) fn new(key: u64, bot: &BotProfile) -> Persona {
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

    pub(super) fn utc_offset_hours(&self) -> i64 {
        match (self.lang, self.american) {
            (EN, true) => -5,
            (EN, false) => 0,
            _ => 1,
        }
    }

    /// The full name; Polish surnames in -ski/-cki take -ska/-cka for women.
    pub(super) fn name(&self) -> String {
        let mut name = format!("{} {}", self.first, self.last);
        if self.lang == PL && self.female && (name.ends_with("ski") || name.ends_with("cki")) {
            name.pop();
            name.push('a');
        }
        name
    }

    pub(super) fn email(&self) -> String {
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
    pub(super) fn phone(&self) -> String {
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
pub(super) struct PhonePlan {
    country: &'static str,
    trunk: &'static str,
    prefixes: &'static [&'static str],
    len: usize,
    groups: &'static [usize],
}

pub(super) const US: PhonePlan = PhonePlan {
    country: "1",
    trunk: "",
    prefixes: &["212", "415", "646", "312", "617", "206", "303", "512", "305", "702"],
    len: 10,
    groups: &[3, 3, 4],
};
pub(super) const UK: PhonePlan = PhonePlan {
    country: "44",
    trunk: "0",
    prefixes: &["71", "72", "73"],
    len: 10,
    groups: &[4, 6],
};
/// Poland, Germany, Spain, France.
pub(super) const PHONES: [PhonePlan; 4] = [
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
pub(super) fn ascii(s: &str) -> String {
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

pub(super) const HOUR: Millis = 3_600_000;
/// Relative traffic by local hour: quiet at night, busy in office hours, a peak in the evening.
pub(super) const HOURLY: [f64; 24] = [
    0.12, 0.07, 0.05, 0.04, 0.05, 0.09, 0.2, 0.4, 0.65, 0.8, 0.9, 0.95, 0.9, 0.9, 0.92, 0.9, 0.88,
    0.85, 0.85, 0.95, 1.0, 0.9, 0.6, 0.3,
];
/// Relative traffic by weekday, Monday first.
pub(super) const WEEKLY: [f64; 7] = [1.0, 1.0, 1.0, 0.98, 0.92, 0.65, 0.55];

/// A start time in `[from, from + span)`, denser in the users' day than at night or weekends.
pub(super) fn start_time(
    rng: &mut impl Rng,
    from: Millis,
    span: Millis,
    offset_hours: i64,
) -> Millis {
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
