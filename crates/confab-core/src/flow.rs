//! Dialogue flows, from each message's `step {id, type}`. A conversation's path is its
//! step-bearing messages in time order (ties in the order they were stored), with repeats of the
//! same step collapsed: a bot that sends three messages from one node stays in that node. The
//! path begins at the special node `START`; an ended conversation leaves its last step for the
//! special node `DROPOFF`. Step ids `START` and `DROPOFF` with those types are reserved.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::FieldError;
use crate::conversation::Message;
use crate::message::Step;
use crate::rollup::{Plan, ROLLUP_DIMS};
use crate::series::{list_values, parse_range, parse_zone, push_filter};
use crate::summary::{Dim, Stamps};
use crate::time::Millis;

impl FlowRequest {
    /// Parses `GET /v1/bots/{bot_id}/analytics/flows`: `start_time`, `end_time` (required),
    /// `tz` (for date bounds) and filters on the rollup dimensions.
    pub fn from_params(
        params: &[(String, String)],
        active_after: Millis,
    ) -> Result<FlowRequest, FieldError> {
        let get = |k: &str| params.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let tz = parse_zone(get("tz"))?;
        let mut filters = vec![];
        for (k, v) in params {
            match k.as_str() {
                "start_time" | "end_time" | "tz" => {}
                k => match ROLLUP_DIMS.into_iter().find(|d| d.name() == k) {
                    Some(d) => push_filter(&mut filters, d, &list_values(k, v)?),
                    None => return Err(FieldError::new(k, "unknown query parameter")),
                },
            }
        }
        let (start, end) = parse_range(get("start_time"), get("end_time"), &tz)?;
        Ok(FlowRequest { start, end, plan: Plan::span(start, end), filters, active_after })
    }
}

/// An aggregate flow: conversations started in `[start, end)` matching `filters`; those still
/// active (status active, a message after `active_after`) have not dropped off.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRequest {
    pub start: Millis,
    pub end: Millis,
    pub plan: Plan,
    pub filters: Vec<(Dim, Vec<String>)>,
    pub active_after: Millis,
}

/// A node of the flow graph: a step id and its type (`""` when the bot sent none, shown as null).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[schema(as = FlowStep)]
pub struct StepKey {
    pub id: String,
    #[serde(rename = "type", serialize_with = "empty_as_null")]
    #[schema(value_type = Option<String>)]
    pub kind: String,
}

fn empty_as_null<S: serde::Serializer>(kind: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_some(&(!kind.is_empty()).then_some(kind))
}

impl StepKey {
    pub fn start() -> StepKey {
        StepKey { id: "START".into(), kind: "start".into() }
    }

    pub fn dropoff() -> StepKey {
        StepKey { id: "DROPOFF".into(), kind: "dropoff".into() }
    }

    pub fn of(step: &Step) -> StepKey {
        StepKey { id: step.id.clone(), kind: step.kind.clone().unwrap_or_default() }
    }
}

/// Calls `edge(from, to)` for each transition of a path that continues from `prev` (the step
/// the conversation was in before these, `None` at its start) through `steps`, and returns the
/// step it ends in. Shared by the incremental rollup update and the full recomputation, so that
/// both count the same transitions.
pub fn walk<'a>(
    prev: Option<&'a StepKey>,
    steps: impl IntoIterator<Item = &'a StepKey>,
    mut edge: impl FnMut(&StepKey, &'a StepKey),
) -> Option<&'a StepKey> {
    let start = StepKey::start();
    let mut at = prev;
    for step in steps {
        if at == Some(step) {
            continue;
        }
        edge(at.unwrap_or(&start), step);
        at = Some(step);
    }
    at
}

/// Conversations that were at a step (each once, however often it came back), and how many of
/// them reached one of the bot's goal steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Visits {
    pub conversations: i64,
    pub completed: i64,
}

impl Visits {
    pub fn add(&mut self, o: &Visits, sign: i64) {
        self.conversations += sign * o.conversations;
        self.completed += sign * o.completed;
    }

    pub fn is_zero(&self) -> bool {
        *self == Visits::default()
    }
}

/// The steps a conversation was at as its summary keeps them ([`Stamps::visited`]), `START`
/// first when there is any.
pub fn visited(s: &Stamps) -> impl Iterator<Item = StepKey> + '_ {
    let steps = &s.visited;
    let start = (!steps.is_empty()).then(StepKey::start);
    start
        .into_iter()
        .chain(steps.iter().map(|(id, kind)| StepKey { id: id.clone(), kind: kind.clone() }))
}

/// One transition of a conversation, as Chatlayer's `FlowTransition`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Transition {
    /// The id of the message that entered `to_step`: the client's id, else the numeric one.
    pub id: String,
    pub from_step: StepKey,
    pub to_step: StepKey,
    /// How many transitions lead to `to_step` from `START`, this one included.
    pub depth: u32,
    /// When: the message's time, RFC 3339.
    #[serde(serialize_with = "crate::time::serialize_rfc3339")]
    #[schema(value_type = String)]
    pub timestamp: Millis,
}

/// The transitions of a conversation whose messages are given in time order.
pub fn transitions(messages: &[Message]) -> Vec<Transition> {
    let keyed: Vec<(&Message, StepKey)> =
        messages.iter().filter_map(|m| Some((m, StepKey::of(m.step.as_ref()?)))).collect();
    let mut out = vec![];
    let mut at: Option<&StepKey> = None;
    for (m, step) in &keyed {
        if at == Some(step) {
            continue;
        }
        out.push(Transition {
            id: m.client_id.clone().unwrap_or_else(|| m.pk.to_string()),
            from_step: at.cloned().unwrap_or_else(StepKey::start),
            to_step: step.clone(),
            depth: out.len() as u32 + 1,
            timestamp: m.timestamp,
        });
        at = Some(step);
    }
    out
}

/// Flow totals over many conversations: traversals per edge (from `START` included) and, per
/// step, how many conversations are last seen there and how many were there at all (and of
/// them, completed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowTotals {
    pub edges: BTreeMap<(StepKey, StepKey), i64>,
    pub exits: BTreeMap<StepKey, i64>,
    pub visits: BTreeMap<StepKey, Visits>,
}

impl FlowTotals {
    pub fn add_edge(&mut self, from: &StepKey, to: &StepKey, n: i64) {
        let e = self.edges.entry((from.clone(), to.clone())).or_default();
        *e += n;
        if *e == 0 {
            self.edges.remove(&(from.clone(), to.clone()));
        }
    }

    pub fn add_exit(&mut self, step: &StepKey, n: i64) {
        let e = self.exits.entry(step.clone()).or_default();
        *e += n;
        if *e == 0 {
            self.exits.remove(step);
        }
    }

    pub fn add_visits(&mut self, step: &StepKey, v: &Visits) {
        let e = self.visits.entry(step.clone()).or_default();
        e.add(v, 1);
        if e.is_zero() {
            self.visits.remove(step);
        }
    }

    /// Counts one conversation whose stamps are `s` at each step it was at.
    pub fn add_conversation_visits(&mut self, s: &Stamps) {
        let v = Visits { conversations: 1, completed: i64::from(s.goal.is_some()) };
        for step in visited(s) {
            self.add_visits(&step, &v);
        }
    }

    pub fn merge(&mut self, other: &FlowTotals) {
        for ((from, to), n) in &other.edges {
            self.add_edge(from, to, *n);
        }
        for (step, n) in &other.exits {
            self.add_exit(step, *n);
        }
        for (step, v) in &other.visits {
            self.add_visits(step, v);
        }
    }

    /// The graph: `exits` here are drop-offs, so the caller has already taken out the last
    /// steps of conversations still active.
    pub fn graph(&self) -> FlowGraph {
        let mut counts: BTreeMap<&StepKey, i64> = BTreeMap::new();
        let mut edges = vec![];
        let mut started = 0;
        let start = StepKey::start();
        for ((from, to), &n) in &self.edges {
            *counts.entry(to).or_default() += n;
            if *from == start {
                started += n;
            }
            edges.push(FlowEdge { from: from.clone(), to: to.clone(), count: n });
        }
        let dropoff = StepKey::dropoff();
        let mut dropped = 0;
        for (step, &n) in &self.exits {
            dropped += n;
            edges.push(FlowEdge { from: step.clone(), to: dropoff.clone(), count: n });
        }
        let node = |step: &StepKey, count: i64, dropped: i64| {
            let v = self.visits.get(step).copied().unwrap_or_default();
            let rate = |n: i64| {
                (v.conversations > 0)
                    .then(|| (n as f64 / v.conversations as f64 * 1e4).round() / 1e4)
            };
            FlowNode {
                step: step.clone(),
                count,
                conversations: v.conversations,
                completed: v.completed,
                completion_rate: rate(v.completed),
                dropoff_rate: rate(dropped),
            }
        };
        let mut nodes: Vec<FlowNode> = counts
            .into_iter()
            .map(|(k, count)| node(k, count, self.exits.get(k).copied().unwrap_or(0)))
            .collect();
        if started > 0 {
            nodes.push(node(&start, started, dropped));
        }
        if dropped > 0 {
            nodes.push(FlowNode {
                step: dropoff,
                count: dropped,
                conversations: dropped,
                completed: 0,
                completion_rate: None,
                dropoff_rate: None,
            });
        }
        nodes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.step.cmp(&b.step)));
        edges.sort_by(|a, b| {
            b.count.cmp(&a.count).then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to)))
        });
        FlowGraph { nodes, edges }
    }
}

/// A step of the aggregate flow. `count` counts entries (a conversation that comes back counts
/// each time); the rest count conversations, each once.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FlowNode {
    #[serde(flatten)]
    pub step: StepKey,
    /// Times the step was entered (for `START`, conversations that had any step; for
    /// `DROPOFF`, conversations that ended without reaching a goal).
    pub count: i64,
    /// Conversations that were at the step at least once (`START`: that had any step).
    pub conversations: i64,
    /// Of those, the ones that reached one of the bot's `goal_steps`, here or later.
    pub completed: i64,
    /// `completed / conversations`, rounded to four places; null without conversations (and
    /// for `DROPOFF`).
    pub completion_rate: Option<f64>,
    /// The share of `conversations` that ended at this step without reaching a goal (`START`:
    /// that ended anywhere without one), rounded to four places; null without conversations
    /// (and for `DROPOFF`).
    pub dropoff_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FlowEdge {
    pub from: StepKey,
    pub to: StepKey,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowGraph {
    pub nodes: Vec<FlowNode>,
    pub edges: Vec<FlowEdge>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Role;

    fn m(pk: i64, ts: Millis, step: Option<&str>) -> Message {
        Message {
            pk,
            client_id: (pk % 2 == 0).then(|| format!("m{pk}")),
            role: Role::Bot,
            content: String::new(),
            timestamp: ts,
            step: step.map(|s| Step { id: s.into(), kind: Some("node".into()) }),
            metadata: None,
        }
    }

    fn key(id: &str) -> StepKey {
        StepKey { id: id.into(), kind: "node".into() }
    }

    #[test]
    fn transitions_collapse_repeats_and_skip_messages_without_steps() {
        let msgs = [
            m(1, 10, Some("greet")),
            m(2, 20, None),
            m(3, 30, Some("greet")),
            m(4, 40, Some("ask_email")),
            m(5, 50, Some("ask_email")),
            m(6, 60, Some("greet")),
        ];
        let t = transitions(&msgs);
        let path: Vec<_> =
            t.iter().map(|t| (t.from_step.id.as_str(), t.to_step.id.as_str(), t.depth)).collect();
        assert_eq!(
            path,
            [("START", "greet", 1), ("greet", "ask_email", 2), ("ask_email", "greet", 3)]
        );
        assert_eq!(t[0].id, "1", "no client id: the numeric id");
        assert_eq!(t[1].id, "m4");
        assert_eq!(t[2].timestamp, 60);
    }

    #[test]
    fn walking_in_two_parts_counts_what_walking_at_once_does() {
        let steps = [key("a"), key("a"), key("b"), key("c"), key("c"), key("b")];
        let mut whole = FlowTotals::default();
        let end = walk(None, &steps, |f, t| whole.add_edge(f, t, 1));
        for split in 0..=steps.len() {
            let mut parts = FlowTotals::default();
            let mid = walk(None, &steps[..split], |f, t| parts.add_edge(f, t, 1));
            let last = walk(mid, &steps[split..], |f, t| parts.add_edge(f, t, 1));
            assert_eq!(parts, whole, "split at {split}");
            assert_eq!(last, end);
        }
        assert_eq!(whole.edges.len(), 4);
    }

    #[test]
    fn graph_counts_entries_and_dropoffs() {
        let mut t = FlowTotals::default();
        t.add_edge(&StepKey::start(), &key("a"), 3);
        t.add_edge(&key("a"), &key("b"), 2);
        t.add_exit(&key("a"), 1);
        t.add_exit(&key("b"), 2);
        let g = t.graph();
        let count = |id: &str| g.nodes.iter().find(|n| n.step.id == id).map(|n| n.count);
        assert_eq!(count("START"), Some(3));
        assert_eq!(count("a"), Some(3));
        assert_eq!(count("b"), Some(2));
        assert_eq!(count("DROPOFF"), Some(3));
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(
            json["nodes"][0],
            serde_json::json!({"id": "DROPOFF", "type": "dropoff", "count": 3, "conversations": 3,
                "completed": 0, "completion_rate": null, "dropoff_rate": null})
        );
        assert_eq!(json["nodes"][1]["completion_rate"], serde_json::Value::Null, "no visits");
    }

    #[test]
    fn graph_rates_count_conversations_once() {
        let mut t = FlowTotals::default();
        // Three conversations: one goes a → b → a → b and completes at b, one stops at a,
        // one is at b and ends there.
        let stamps = |steps: &[&str], done: bool| Stamps {
            visited: steps.iter().map(|s| (s.to_string(), "node".to_owned())).collect(),
            goal: done.then_some(1),
            ..Stamps::default()
        };
        t.add_conversation_visits(&stamps(&["a", "b"], true));
        t.add_conversation_visits(&stamps(&["a"], false));
        t.add_conversation_visits(&stamps(&["a", "b"], false));
        t.add_edge(&StepKey::start(), &key("a"), 3);
        t.add_edge(&key("a"), &key("b"), 3);
        t.add_edge(&key("b"), &key("a"), 1);
        t.add_exit(&key("a"), 1);
        t.add_exit(&key("b"), 1);
        let g = t.graph();
        let node = |id: &str| g.nodes.iter().find(|n| n.step.id == id).unwrap();
        let a = node("a");
        assert_eq!((a.count, a.conversations, a.completed), (4, 3, 1));
        assert_eq!((a.completion_rate, a.dropoff_rate), (Some(0.3333), Some(0.3333)));
        let b = node("b");
        assert_eq!((b.count, b.conversations, b.completed), (3, 2, 1));
        assert_eq!((b.completion_rate, b.dropoff_rate), (Some(0.5), Some(0.5)));
        let start = node("START");
        assert_eq!(
            (start.conversations, start.completed, start.dropoff_rate),
            (3, 1, Some(0.6667))
        );
    }
}
