//! Pre-aggregated analytics. Every conversation contributes additive counters to rows keyed by
//! its rollup dimensions and a UTC time slot; stores keep those rows in the same transaction as
//! the messages, and series are sums of rows, never scans of messages.
//!
//! Slots are 15 minutes: every UTC offset in use since 2000 is a multiple of 15 minutes
//! (Asia/Kolkata +5:30, Asia/Kathmandu +5:45, Australia/Eucla +8:45, Lord Howe's half-hour
//! DST), so every hour, day, week and month boundary of every zone falls on a slot boundary.
//! Rows exist at three levels (15 minutes, hours, days, all UTC-aligned) so that a long range
//! reads one row per day where it can. A range edge inside a slot (a `start_time` of 10:07) is
//! counted exactly from stored rows instead: see [`Plan`].
//!
//! Where things count: conversations, their duration, hand-offs, flow edges and last steps in
//! the slot of the conversation's start; messages, not-handled messages and LLM token usage (by
//! model) in the slot of each message. All of them under the conversation's dimensions, which may change as earlier
//! messages arrive; the store then moves the conversation's whole contribution.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::buckets::Buckets;
use crate::flow::{self, StepKey, Visits, walk};
use crate::message::{MAX_ID_CHARS, Role};
use crate::summary::{Dim, Summary};
use crate::time::Millis;

pub const SLOT: Millis = 15 * 60 * 1000;
const HOUR: Millis = 60 * 60 * 1000;
const DAY: Millis = 24 * HOUR;
/// The length of a row at each level.
pub const LEVELS: [Millis; 3] = [SLOT, HOUR, DAY];
/// The levels flow rows are kept at. A flow is one total over one range, so only its two ends
/// need rows finer than a day; hour rows would triple the writes of the busiest rollup for
/// little gain.
pub const FLOW_LEVELS: [usize; 2] = [0, 2];

/// The start of the row at `level` holding `t`.
pub fn floor(t: Millis, level: usize) -> Millis {
    t.div_euclid(LEVELS[level]) * LEVELS[level]
}

/// The dimensions rollups are keyed by (bot aside): what series filter and group by.
pub const ROLLUP_DIMS: [Dim; 5] =
    [Dim::Version, Dim::ChannelType, Dim::Language, Dim::CampaignId, Dim::CampaignSource];

/// The level that also has rows per single dimension: days. Counters are kept once more per
/// bot, UTC day and value of each rollup dimension on its own (stores' `dim_rollups`), each
/// conversation once under each dimension: what a series that filters or groups by at most one
/// dimension reads its whole days from (see [`crate::series::SeriesRequest::single_dim`]),
/// instead of a row per combination of all five.
pub const DIM_LEVEL: usize = 2;

/// The code a dimension's rows per single dimension are stored under: its place in
/// [`ROLLUP_DIMS`] (so that order never changes).
pub fn dim_code(d: Dim) -> Option<usize> {
    ROLLUP_DIMS.iter().position(|x| *x == d)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct DimsKey(pub [Option<String>; 5]);

impl DimsKey {
    pub fn of(s: &Summary) -> DimsKey {
        DimsKey(ROLLUP_DIMS.map(|d| s.dim(d).map(str::to_owned)))
    }

    pub fn get(&self, d: Dim) -> Option<&str> {
        let i = ROLLUP_DIMS.iter().position(|x| *x == d)?;
        self.0[i].as_deref()
    }
}

/// The additive counters of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub conversations: i64,
    pub duration_ms: i64,
    /// Conversations with at least one `agent` message.
    pub handoffs: i64,
    /// Messages by [`Role::code`].
    pub messages: [i64; 4],
    /// Messages whose metadata says `"handled": false`.
    pub not_handled: i64,
    /// Conversations that reached a goal step ([`Summary::completed`]).
    pub completed: i64,
}

impl Counters {
    pub fn add(&mut self, o: &Counters, sign: i64) {
        self.conversations += sign * o.conversations;
        self.duration_ms += sign * o.duration_ms;
        self.handoffs += sign * o.handoffs;
        for (a, b) in self.messages.iter_mut().zip(o.messages) {
            *a += sign * b;
        }
        self.not_handled += sign * o.not_handled;
        self.completed += sign * o.completed;
    }

    pub fn is_zero(&self) -> bool {
        *self == Counters::default()
    }

    /// A conversation's own counters, in the slot of its start.
    pub fn of_conversation(s: &Summary) -> Counters {
        Counters {
            conversations: 1,
            duration_ms: s.duration_ms(),
            handoffs: i64::from(s.count(Role::Agent) > 0),
            completed: i64::from(s.completed()),
            ..Counters::default()
        }
    }

    pub fn of_message(role: Role, not_handled: bool) -> Counters {
        let mut c = Counters::default();
        c.messages[role.code() as usize] = 1;
        c.not_handled = i64::from(not_handled);
        c
    }
}

/// Whether a message's metadata marks it as not handled by the bot.
pub fn is_not_handled(metadata: Option<&Map<String, Value>>) -> bool {
    metadata.and_then(|m| m.get("handled")) == Some(&Value::Bool(false))
}

/// The most tokens one message may report for a count of it to be taken; a larger value (no
/// model call comes near it) is not counted, so that sums of them cannot overflow.
pub const MAX_TOKENS: i64 = 1_000_000_000;

/// Token counts of LLM calls, summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tokens {
    pub input: i64,
    pub output: i64,
}

impl Tokens {
    pub fn add(&mut self, o: &Tokens, sign: i64) {
        self.input += sign * o.input;
        self.output += sign * o.output;
    }

    pub fn is_zero(&self) -> bool {
        *self == Tokens::default()
    }
}

/// What a message's metadata says of the LLM call behind it: the model (`""` when it names
/// none) and its token counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUsage {
    pub model: String,
    pub tokens: Tokens,
}

/// Reads `input_tokens`, `output_tokens` and `model` from a message's metadata (as the OTLP
/// receiver writes them for a bot's answer). A count is taken only when it is a JSON integer
/// from 0 to [`MAX_TOKENS`]; `None` when neither is. A model that is not a string counts as
/// none; a name is cut to [`MAX_ID_CHARS`] characters.
pub fn token_usage(metadata: Option<&Map<String, Value>>) -> Option<TokenUsage> {
    let m = metadata?;
    let count =
        |key: &str| m.get(key).and_then(Value::as_i64).filter(|n| (0..=MAX_TOKENS).contains(n));
    let (input, output) = (count("input_tokens"), count("output_tokens"));
    if input.is_none() && output.is_none() {
        return None;
    }
    let model = match m.get("model") {
        Some(Value::String(s)) => s.chars().take(MAX_ID_CHARS).collect(),
        _ => String::new(),
    };
    Some(TokenUsage {
        model,
        tokens: Tokens { input: input.unwrap_or(0), output: output.unwrap_or(0) },
    })
}

/// What a stored message contributes; `order` is its place in the conversation (timestamp,
/// then the order of storing).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageFacts {
    pub order: (Millis, i64),
    pub role: Role,
    pub not_handled: bool,
    pub step: Option<StepKey>,
    pub usage: Option<TokenUsage>,
}

impl MessageFacts {
    /// The facts of a message as stored: its metadata is the stored JSON text.
    pub fn stored(
        order: (Millis, i64),
        role: Role,
        step: Option<StepKey>,
        metadata: Option<&str>,
    ) -> MessageFacts {
        let metadata: Option<Map<String, Value>> =
            metadata.and_then(|m| serde_json::from_str(m).ok());
        MessageFacts {
            order,
            role,
            not_handled: is_not_handled(metadata.as_ref()),
            step,
            usage: token_usage(metadata.as_ref()),
        }
    }
}

/// Changes to rollup rows, at slot level, gathered while a write runs and applied at its end.
/// Dimension keys are interned: most changes of a batch share a few.
#[derive(Debug, Default)]
pub struct Deltas {
    pub dims: Vec<DimsKey>,
    index: HashMap<DimsKey, usize>,
    pub counters: HashMap<(usize, Millis), Counters>,
    pub edges: HashMap<(usize, Millis, StepKey, StepKey), i64>,
    pub exits: HashMap<(usize, Millis, StepKey), i64>,
    /// Token usage by dimensions, slot and model.
    pub tokens: HashMap<(usize, Millis, String), Tokens>,
    /// Conversations per step they were at (and of them, completed ones).
    pub steps: HashMap<(usize, Millis, StepKey), Visits>,
}

impl Deltas {
    pub fn intern(&mut self, k: &DimsKey) -> usize {
        if let Some(&i) = self.index.get(k) {
            return i;
        }
        self.dims.push(k.clone());
        self.index.insert(k.clone(), self.dims.len() - 1);
        self.dims.len() - 1
    }

    fn count(&mut self, dims: usize, ts: Millis, c: &Counters, sign: i64) {
        self.counters.entry((dims, floor(ts, 0))).or_default().add(c, sign);
    }

    /// Adds (`sign` 1) or takes away (-1) the conversation-level part of a summary: its counts,
    /// duration, hand-off and last step.
    pub fn conversation(&mut self, s: &Summary, sign: i64) {
        let d = self.intern(&DimsKey::of(s));
        self.count(d, s.started_at, &Counters::of_conversation(s), sign);
        // A completed conversation did not drop off where it stopped.
        if let Some(step) = s.last_step.as_ref().filter(|_| !s.completed()) {
            *self.exits.entry((d, floor(s.started_at, 0), StepKey::of(step))).or_default() += sign;
        }
    }

    pub fn message(&mut self, dims: usize, m: &MessageFacts, sign: i64) {
        self.count(dims, m.order.0, &Counters::of_message(m.role, m.not_handled), sign);
        if let Some(u) = &m.usage {
            self.usage(dims, m.order.0, u, sign);
        }
    }

    /// Adds or takes away one message's token usage, at its time `ts`.
    pub fn usage(&mut self, dims: usize, ts: Millis, u: &TokenUsage, sign: i64) {
        let key = (dims, floor(ts, 0), u.model.clone());
        self.tokens.entry(key).or_default().add(&u.tokens, sign);
    }

    /// Adds or takes away the steps a conversation was at ([`flow::visited`]), counted once
    /// each in the slot of its start, with whether it is completed.
    pub fn visits(&mut self, dims: usize, s: &Summary, sign: i64) {
        let slot = floor(s.started_at, 0);
        let v = Visits { conversations: 1, completed: i64::from(s.completed()) };
        for step in flow::visited(&s.stamps) {
            self.steps.entry((dims, slot, step)).or_default().add(&v, sign);
        }
    }

    /// What a conversation that grew at its end (same dimensions and start slot, so its
    /// visited steps only grew too) changes in the visits: each step new to it counts once,
    /// and every step counts as completed once it has just reached a goal. Touches nothing
    /// for the common message that brings no new step and no goal.
    pub fn grown_visits(&mut self, dims: usize, before: &Summary, after: &Summary) {
        let slot = floor(after.started_at, 0);
        let was = before.stamps.visited.len();
        // START is one more, when there was any step.
        let known = if was == 0 { 0 } else { was + 1 };
        let done = i64::from(after.completed());
        let just_done = i64::from(after.completed() && !before.completed());
        if just_done == 0 && known == after.stamps.visited.len() + 1 {
            return;
        }
        for (i, step) in flow::visited(&after.stamps).enumerate() {
            let v = if i >= known {
                Visits { conversations: 1, completed: done }
            } else {
                Visits { conversations: 0, completed: just_done }
            };
            if !v.is_zero() {
                self.steps.entry((dims, slot, step)).or_default().add(&v, 1);
            }
        }
    }

    /// Adds or takes away the flow edges of a path continuing from `prev` through `steps` (in
    /// order), for a conversation started at `started_at`.
    pub fn flow<'a>(
        &mut self,
        dims: usize,
        started_at: Millis,
        prev: Option<&'a StepKey>,
        steps: impl IntoIterator<Item = &'a StepKey>,
        sign: i64,
    ) {
        let slot = floor(started_at, 0);
        walk(prev, steps, |from, to| {
            *self.edges.entry((dims, slot, from.clone(), to.clone())).or_default() += sign;
        });
    }

    /// Everything a conversation contributes, from its summary and all its messages (in
    /// order): what a late message that moves the conversation takes away and adds back.
    pub fn whole(&mut self, s: &Summary, messages: &[MessageFacts], sign: i64) {
        self.conversation(s, sign);
        let d = self.intern(&DimsKey::of(s));
        for m in messages {
            self.message(d, m, sign);
        }
        self.flow(d, s.started_at, None, messages.iter().filter_map(|m| m.step.as_ref()), sign);
        self.visits(d, s, sign);
    }

    /// Adds another write's changes to these: a store committing several writes together
    /// applies them once.
    pub fn merge(&mut self, other: Deltas) {
        let dims: Vec<usize> = other.dims.iter().map(|k| self.intern(k)).collect();
        for ((d, slot), c) in other.counters {
            self.counters.entry((dims[d], slot)).or_default().add(&c, 1);
        }
        for ((d, slot, from, to), n) in other.edges {
            *self.edges.entry((dims[d], slot, from, to)).or_default() += n;
        }
        for ((d, slot, step), n) in other.exits {
            *self.exits.entry((dims[d], slot, step)).or_default() += n;
        }
        for ((d, slot, model), t) in other.tokens {
            self.tokens.entry((dims[d], slot, model)).or_default().add(&t, 1);
        }
        for ((d, slot, step), v) in other.steps {
            self.steps.entry((dims[d], slot, step)).or_default().add(&v, 1);
        }
    }

    /// Drops entries that cancelled out, so that stores write only real changes.
    pub fn prune(&mut self) {
        self.counters.retain(|_, c| !c.is_zero());
        self.edges.retain(|_, n| *n != 0);
        self.exits.retain(|_, n| *n != 0);
        self.tokens.retain(|_, t| !t.is_zero());
        self.steps.retain(|_, v| !v.is_zero());
    }

    pub fn is_empty(&self) -> bool {
        self.counters.is_empty()
            && self.edges.is_empty()
            && self.exits.is_empty()
            && self.tokens.is_empty()
            && self.steps.is_empty()
    }
}

/// How a series over `[start, end)` is read: per level, the UTC ranges whose rows are whole
/// pieces of one bucket (merged where adjacent), and the sub-slot windows at range edges that
/// must be counted exactly from stored rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub levels: [Vec<(Millis, Millis)>; 3],
    pub partial: Vec<(Millis, Millis)>,
}

impl Plan {
    pub fn new(buckets: &Buckets, start: Millis, end: Millis) -> Plan {
        let mut plan = Plan::default();
        for i in 0..buckets.len() {
            let (lo, hi) = buckets.range(i);
            plan.add(lo.max(start), hi.min(end), &[0, 1, 2]);
        }
        plan
    }

    /// The plan of one range read from flow rows (see [`FLOW_LEVELS`]).
    pub fn span(start: Millis, end: Millis) -> Plan {
        let mut plan = Plan::default();
        plan.add(start, end, &FLOW_LEVELS);
        plan
    }

    fn add(&mut self, lo: Millis, hi: Millis, levels: &[usize]) {
        fn push(ranges: &mut Vec<(Millis, Millis)>, lo: Millis, hi: Millis) {
            match ranges.last_mut() {
                Some(last) if last.1 == lo => last.1 = hi,
                _ => ranges.push((lo, hi)),
            }
        }
        if lo >= hi {
            return;
        }
        let first_slot = floor(lo + SLOT - 1, 0);
        let last_slot = floor(hi, 0);
        if first_slot >= last_slot {
            // The whole piece lies inside one slot.
            push(&mut self.partial, lo, hi);
            return;
        }
        if lo < first_slot {
            push(&mut self.partial, lo, first_slot);
        }
        // Greedy: at each point the longest row that starts there and fits.
        let mut t = first_slot;
        while t < last_slot {
            let level = levels
                .iter()
                .rev()
                .copied()
                .find(|&l| t % LEVELS[l] == 0 && t + LEVELS[l] <= last_slot)
                .unwrap_or(0);
            push(&mut self.levels[level], t, t + LEVELS[level]);
            t += LEVELS[level];
        }
        if last_slot < hi {
            push(&mut self.partial, last_slot, hi);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buckets::{Bucket, parse_tz};
    use crate::time::parse_rfc3339;

    fn ms(s: &str) -> Millis {
        parse_rfc3339("t", s).unwrap()
    }

    fn plan(bucket: &str, tz: &str, start: &str, end: &str) -> (Buckets, Plan) {
        let b = Buckets::new(
            Bucket::parse("bucket", bucket).unwrap(),
            &parse_tz("tz", tz).unwrap(),
            ms(start),
            ms(end),
        )
        .unwrap();
        let p = Plan::new(&b, ms(start), ms(end));
        (b, p)
    }

    /// The pieces of a plan cover `[start, end)` exactly once, and no piece crosses a bucket.
    fn assert_covers(b: &Buckets, p: &Plan, start: Millis, end: Millis) {
        let mut pieces: Vec<(Millis, Millis)> = p.partial.clone();
        for (l, ranges) in p.levels.iter().enumerate() {
            for &(lo, hi) in ranges {
                assert_eq!(lo % LEVELS[l], 0);
                assert_eq!(hi % LEVELS[l], 0);
                let mut t = lo;
                while t < hi {
                    pieces.push((t, t + LEVELS[l]));
                    let bucket = b.index_of(t).unwrap();
                    assert_eq!(b.index_of(t + LEVELS[l] - 1), Some(bucket), "row crosses a bucket");
                    t += LEVELS[l];
                }
            }
        }
        pieces.sort();
        assert_eq!(pieces.first().unwrap().0, start);
        assert_eq!(pieces.last().unwrap().1, end);
        for w in pieces.windows(2) {
            assert_eq!(w[0].1, w[1].0, "gap or overlap");
        }
    }

    #[test]
    fn utc_days_read_one_row_per_day() {
        let (b, p) = plan("1d", "UTC", "2024-01-01T00:00:00Z", "2024-03-31T00:00:00Z");
        assert_eq!(p.levels[2], [(ms("2024-01-01T00:00:00Z"), ms("2024-03-31T00:00:00Z"))]);
        assert!(p.levels[0].is_empty() && p.levels[1].is_empty() && p.partial.is_empty());
        assert_covers(&b, &p, ms("2024-01-01T00:00:00Z"), ms("2024-03-31T00:00:00Z"));
    }

    #[test]
    fn flow_plans_skip_hours() {
        let (start, end) = (ms("2024-03-30T10:00:00Z"), ms("2024-04-02T23:00:00Z"));
        let p = Plan::span(start, end);
        assert!(p.levels[1].is_empty());
        assert_eq!(p.levels[2], [(ms("2024-03-31T00:00:00Z"), ms("2024-04-02T00:00:00Z"))]);
        assert_eq!(
            p.levels[0],
            [(start, ms("2024-03-31T00:00:00Z")), (ms("2024-04-02T00:00:00Z"), end)]
        );
    }

    #[test]
    fn kathmandu_days_use_slots_hours_and_no_partial_windows() {
        let (start, end) = ("2024-05-01T00:00:00+05:45", "2024-05-04T00:00:00+05:45");
        let (b, p) = plan("1d", "Asia/Kathmandu", start, end);
        assert!(p.partial.is_empty());
        assert!(!p.levels[0].is_empty(), "the quarter hours need slots");
        assert_covers(&b, &p, ms(start), ms(end));
    }

    #[test]
    fn unaligned_edges_become_partial_windows() {
        let (start, end) = ("2024-03-30T10:07:00Z", "2024-04-02T23:59:59.999Z");
        for tz in ["UTC", "Europe/Warsaw", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"] {
            for bucket in ["1h", "1d", "1w", "1m"] {
                let (b, p) = plan(bucket, tz, start, end);
                assert_eq!(
                    p.partial,
                    [
                        (ms(start), ms("2024-03-30T10:15:00Z")),
                        (ms("2024-04-02T23:45:00Z"), ms(end))
                    ],
                    "{bucket} {tz}"
                );
                assert_covers(&b, &p, ms(start), ms(end));
            }
        }
        let (b, p) = plan("1h", "UTC", "2024-01-01T10:01:00Z", "2024-01-01T10:02:00Z");
        assert_eq!(p.partial.len(), 1);
        assert_covers(&b, &p, ms("2024-01-01T10:01:00Z"), ms("2024-01-01T10:02:00Z"));
    }

    #[test]
    fn every_offset_since_2000_is_a_multiple_of_a_slot() {
        use jiff::Timestamp;
        use jiff::tz::{TimeZone, db};
        let since = Timestamp::from_second(946_684_800).unwrap();
        let mut zones = 0;
        for name in db().available() {
            let tz = TimeZone::get(name.as_str()).unwrap();
            zones += 1;
            let offset = tz.to_offset(since).seconds();
            assert_eq!(offset % 900, 0, "{name} at 2000-01-01");
            for t in tz.following(since).take(400) {
                assert_eq!(t.offset().seconds() % 900, 0, "{name} at {}", t.timestamp());
            }
        }
        assert!(zones > 300, "the bundled database has {zones} zones");
    }

    #[test]
    fn a_conversation_taken_away_leaves_nothing() {
        let msg = |ts, role, step: Option<&str>| MessageFacts {
            order: (ts, ts),
            role,
            not_handled: role == Role::User,
            step: step.map(|s| StepKey { id: s.into(), kind: String::new() }),
            usage: (role == Role::Bot)
                .then(|| TokenUsage { model: "m".into(), tokens: Tokens { input: 10, output: 3 } }),
        };
        let messages = [
            msg(1_000, Role::User, None),
            msg(2_000, Role::Bot, Some("a")),
            msg(SLOT * 3, Role::Agent, Some("b")),
        ];
        let s = Summary {
            started_at: 1_000,
            last_message_at: SLOT * 3,
            counts: [1, 1, 1, 0],
            last_step: Some(crate::Step { id: "b".into(), kind: None }),
            ..Summary::default()
        };
        let mut d = Deltas::default();
        d.whole(&s, &messages, 1);
        assert_eq!(d.counters[&(0, 0)].conversations, 1);
        assert_eq!(d.counters[&(0, 0)].handoffs, 1);
        assert_eq!(d.counters[&(0, SLOT * 3)].messages, [0, 0, 1, 0]);
        assert_eq!(d.edges.len(), 2);
        assert_eq!(d.tokens[&(0, 0, "m".to_owned())], Tokens { input: 10, output: 3 });
        d.whole(&s, &messages, -1);
        d.prune();
        assert!(d.is_empty());

        // Merged changes add up by dimension values, whatever order each side interned them in.
        let mut web = s.clone();
        web.dims[crate::summary::Dim::ChannelType as usize] = Some("web".into());
        let (mut a, mut b) = (Deltas::default(), Deltas::default());
        a.whole(&s, &messages, 1);
        b.whole(&web, &messages, 1);
        b.whole(&s, &messages, 1);
        a.merge(b);
        let at = |d: &Deltas, s: &Summary| d.dims.iter().position(|k| *k == DimsKey::of(s));
        let (plain, web_at) = (at(&a, &s).unwrap(), at(&a, &web).unwrap());
        assert_eq!(a.counters[&(plain, 0)].conversations, 2);
        assert_eq!(a.counters[&(web_at, 0)].conversations, 1);
        assert_eq!(a.tokens[&(plain, 0, "m".to_owned())], Tokens { input: 20, output: 6 });
        assert_eq!(
            a.edges
                [&(web_at, 0, StepKey::start(), StepKey { id: "a".into(), kind: String::new() })],
            1
        );
        a.whole(&s, &messages, -2);
        a.whole(&web, &messages, -1);
        a.prune();
        assert!(a.is_empty());
    }

    #[test]
    fn grown_visits_change_what_taking_away_and_adding_back_would() {
        use crate::message::{NewMessage, Step};
        let msg = |ts: Millis, step: Option<&str>| NewMessage {
            conversation_id: "c".into(),
            client_id: None,
            role: Role::Bot,
            content: String::new(),
            timestamp: ts,
            step: step.map(|s| Step { id: s.into(), kind: None }),
            metadata: None,
            dims: Default::default(),
        };
        // Steps with repeats, a message without one, and the goal `g` reached midway.
        let path = [Some("a"), Some("b"), None, Some("a"), Some("g"), Some("b"), Some("c")];
        let is_goal = |id: &str| id == "g";
        let mut s = Summary::first(&msg(0, path[0]));
        s.reach_goal(&msg(0, path[0]), is_goal);
        for (i, step) in path.iter().enumerate().skip(1) {
            let m = msg(i as Millis * 1_000, *step);
            let mut after = s.clone();
            after.apply(&m);
            after.reach_goal(&m, is_goal);
            let (mut grown, mut moved) = (Deltas::default(), Deltas::default());
            grown.grown_visits(0, &s, &after);
            moved.visits(0, &s, -1);
            moved.visits(0, &after, 1);
            moved.prune();
            assert_eq!(grown.steps, moved.steps, "message {i}");
            if step.is_none() || *step == Some("a") {
                assert!(grown.steps.is_empty(), "message {i} changes nothing");
            }
            s = after;
        }
        let mut all = Deltas::default();
        all.visits(0, &s, 1);
        let node = |id: &str| all.steps[&(0, 0, StepKey { id: id.into(), kind: String::new() })];
        assert_eq!(all.steps.len(), 5, "START, a, b, g, c");
        assert_eq!(node("a"), Visits { conversations: 1, completed: 1 });
        assert_eq!(all.steps[&(0, 0, StepKey::start())].completed, 1);
    }

    #[test]
    fn token_usage_takes_only_whole_counts_in_range() {
        let usage = |v: Value| token_usage(v.as_object());
        let t = |input, output| Tokens { input, output };
        let got = usage(serde_json::json!({"model": "gpt-4o", "input_tokens": 12,
                                           "output_tokens": 5, "finish_reason": "stop"}));
        assert_eq!(got, Some(TokenUsage { model: "gpt-4o".into(), tokens: t(12, 5) }));
        // One count is enough; the other adds nothing.
        let got = usage(serde_json::json!({"output_tokens": 7}));
        assert_eq!(got, Some(TokenUsage { model: String::new(), tokens: t(0, 7) }));
        let got = usage(serde_json::json!({"model": 4, "input_tokens": 0, "output_tokens": -1}));
        assert_eq!(got, Some(TokenUsage { model: String::new(), tokens: t(0, 0) }));
        for bad in [
            serde_json::json!({"model": "m"}),
            serde_json::json!({"input_tokens": "12", "output_tokens": 2.5}),
            serde_json::json!({"input_tokens": -3, "output_tokens": null}),
            serde_json::json!({"input_tokens": 12.0}),
            serde_json::json!({"input_tokens": MAX_TOKENS + 1, "output_tokens": u64::MAX}),
        ] {
            assert_eq!(usage(bad.clone()), None, "{bad}");
        }
        assert_eq!(token_usage(None), None);
        let long = "x".repeat(MAX_ID_CHARS + 10);
        let got = usage(serde_json::json!({"model": long, "input_tokens": 1})).unwrap();
        assert_eq!(got.model.chars().count(), MAX_ID_CHARS);
        let stored = MessageFacts::stored(
            (5, 1),
            Role::Bot,
            None,
            Some(r#"{"handled":false,"model":"a","input_tokens":3}"#),
        );
        assert!(stored.not_handled);
        assert_eq!(stored.usage, Some(TokenUsage { model: "a".into(), tokens: t(3, 0) }));
        assert_eq!(MessageFacts::stored((5, 1), Role::Bot, None, Some("not json")).usage, None);
    }
}
