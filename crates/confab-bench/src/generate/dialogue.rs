//! The dialogue graph every bot walks (greet → menu → questions, booking or a problem →
//! goodbye, with drop-offs, fallbacks and hand-offs to agents) and the messages of one walk,
//! timed as people read, think and type.

use std::fmt::Write as _;

use confab_core::time::Millis;
use confab_core::{MessageInput, Role, Step};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::people::{BotProfile, Persona};
use super::phrases::{Bank, DE, EN, ES, FR, Lines, PL};
use super::random::{exponential, pick, weighted};

pub(super) const MAX_MESSAGES: usize = 200;
/// The longest pause between two messages, well inside the default inactivity timeout.
pub(super) const MAX_GAP: Millis = 5 * 60 * 1000;

pub(super) const NAME: usize = 0;
pub(super) const EMAIL: usize = 1;
pub(super) const PHONE: usize = 2;
pub(super) const DATE: usize = 3;

pub(super) type Node = (&'static str, &'static str);
pub(super) const GREET: Node = ("greet", "message");
pub(super) const MENU: Node = ("menu", "choice");
pub(super) const FAQ: [Node; 6] = [
    ("faq_hours", "answer"),
    ("faq_prices", "answer"),
    ("faq_delivery", "answer"),
    ("faq_payment", "answer"),
    ("faq_location", "answer"),
    ("faq_contact", "answer"),
];
pub(super) const ASK: [Node; 4] =
    [("ask_name", "input"), ("ask_email", "input"), ("ask_phone", "input"), ("ask_date", "input")];
pub(super) const SKIP: Node = ("skip_field", "message");
pub(super) const CONFIRM: Node = ("confirm", "message");
pub(super) const TROUBLESHOOT: Node = ("troubleshoot", "answer");
pub(super) const DID_IT_HELP: Node = ("did_it_help", "question");
pub(super) const HANDOFF: Node = ("handoff", "handoff");
pub(super) const ANYTHING_ELSE: Node = ("anything_else", "question");
pub(super) const GOODBYE: Node = ("goodbye", "end");
pub(super) const FALLBACK: Node = ("fallback", "fallback");

/// One conversation being written.
pub(super) struct Talk<'a> {
    pub(super) rng: StdRng,
    pub(super) bank: &'static Bank,
    pub(super) bot: &'a BotProfile,
    pub(super) persona: &'a Persona,
    /// SMS users get no long answers.
    pub(super) short: bool,
    pub(super) start: Millis,
    pub(super) at: Millis,
    pub(super) id: String,
    pub(super) messages: Vec<MessageInput>,
}

impl Talk<'_> {
    pub(super) fn run(&mut self) {
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
pub(super) fn fill(template: &str, vars: &[(&str, &str)]) -> String {
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
