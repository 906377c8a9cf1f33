//! What people say, per language (one file each): the bot's lines, the users' answers, names,
//! months and email domains.

mod english;
mod french;
mod german;
mod polish;
mod spanish;

use english::ENGLISH;
use french::FRENCH;
use german::GERMAN;
use polish::POLISH;
use spanish::SPANISH;

pub(super) const EN: usize = 0;
pub(super) const PL: usize = 1;
pub(super) const DE: usize = 2;
pub(super) const ES: usize = 3;
pub(super) const FR: usize = 4;
pub(super) const LANGS: [&Bank; 5] = [&ENGLISH, &POLISH, &GERMAN, &SPANISH, &FRENCH];

pub(super) type Lines = &'static [&'static str];

/// One language's side of the dialogue graph. `{name}`, `{first}`, `{email}`, `{phone}`,
/// `{date}` and `{agent}` are filled in.
pub(super) struct Bank {
    pub(super) code: &'static str,
    pub(super) hello: Lines,
    pub(super) greet: Lines,
    pub(super) menu: &'static str,
    /// The user's pick of the menu's branches: questions, booking, problem.
    pub(super) choose: [Lines; 3],
    pub(super) faq_q: [&'static str; 6],
    pub(super) faq_a: [&'static str; 6],
    /// Sentences that make an answer long.
    pub(super) detail: Lines,
    pub(super) anything_else: &'static str,
    pub(super) another: Lines,
    /// The bot asking for name, email, phone and date (matching [`schema`](super::schema)'s
    /// questions).
    pub(super) ask: [&'static str; 4],
    pub(super) name_says: Lines,
    pub(super) email_says: Lines,
    pub(super) phone_says: Lines,
    pub(super) date_says: Lines,
    pub(super) relative: Lines,
    pub(super) months: [&'static str; 12],
    pub(super) refuse: Lines,
    pub(super) skip: Lines,
    pub(super) confirm: &'static str,
    pub(super) problem: Lines,
    pub(super) more_problem: Lines,
    pub(super) troubleshoot: &'static str,
    pub(super) did_it_help: &'static str,
    pub(super) helped: Lines,
    pub(super) not_helped: Lines,
    pub(super) handoff: &'static str,
    pub(super) agent_joined: &'static str,
    pub(super) agents: Lines,
    pub(super) agent_intro: &'static str,
    pub(super) agent_says: Lines,
    pub(super) agent_asks: &'static str,
    pub(super) agent_closing: &'static str,
    pub(super) to_agent: Lines,
    pub(super) thanks: Lines,
    pub(super) goodbye: Lines,
    pub(super) fallback: Lines,
    pub(super) off_script: Lines,
    pub(super) first_f: Lines,
    pub(super) first_m: Lines,
    pub(super) last: Lines,
    pub(super) domains: Lines,
}
