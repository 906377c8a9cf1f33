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
use crate::summary::Dim;
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
/// step, how many conversations are last seen there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowTotals {
    pub edges: BTreeMap<(StepKey, StepKey), i64>,
    pub exits: BTreeMap<StepKey, i64>,
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

    pub fn merge(&mut self, other: &FlowTotals) {
        for ((from, to), n) in &other.edges {
            self.add_edge(from, to, *n);
        }
        for (step, n) in &other.exits {
            self.add_exit(step, *n);
        }
    }

    /// The graph: `exits` here are drop-offs, so the caller has already taken out the last
    /// steps of conversations still active.
    pub fn graph(&self) -> FlowGraph {
        let mut counts: BTreeMap<&StepKey, i64> = BTreeMap::new();
        let mut edges = vec![];
        let mut started = 0;
        for ((from, to), &n) in &self.edges {
            *counts.entry(to).or_default() += n;
            if from.id == "START" && from.kind == "start" {
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
        let mut nodes: Vec<FlowNode> =
            counts.into_iter().map(|(k, count)| FlowNode { step: k.clone(), count }).collect();
        if started > 0 {
            nodes.push(FlowNode { step: StepKey::start(), count: started });
        }
        if dropped > 0 {
            nodes.push(FlowNode { step: dropoff, count: dropped });
        }
        nodes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.step.cmp(&b.step)));
        edges.sort_by(|a, b| {
            b.count.cmp(&a.count).then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to)))
        });
        FlowGraph { nodes, edges }
    }
}

/// What a step's box shows beside its entries: how many conversations dropped off there, and
/// that as a share of its entries. Completed conversations (goals) never count as drop-offs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepRates {
    /// Traversals into the step (a conversation that returns counts again).
    pub entries: i64,
    /// Ended, not completed conversations whose last step this is.
    pub dropoffs: i64,
    /// `dropoffs ÷ entries`; `None` without entries.
    pub dropoff_rate: Option<f64>,
}

impl FlowTotals {
    /// Per step, the figures of [`StepRates`], for the flows page (which reads these totals).
    pub fn step_rates(&self) -> BTreeMap<StepKey, StepRates> {
        let mut out: BTreeMap<StepKey, StepRates> = BTreeMap::new();
        for ((_, to), &n) in &self.edges {
            out.entry(to.clone()).or_default().entries += n;
        }
        for (step, &n) in &self.exits {
            out.entry(step.clone()).or_default().dropoffs += n;
        }
        for r in out.values_mut() {
            r.dropoff_rate = (r.entries > 0).then(|| r.dropoffs as f64 / r.entries as f64);
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FlowNode {
    #[serde(flatten)]
    pub step: StepKey,
    pub count: i64,
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
        let rates = t.step_rates();
        assert_eq!(
            rates[&key("a")],
            StepRates { entries: 3, dropoffs: 1, dropoff_rate: Some(1.0 / 3.0) }
        );
        assert_eq!(rates[&key("b")].dropoff_rate, Some(1.0));
        assert!(!rates.contains_key(&StepKey::start()));
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(
            json["nodes"][0],
            serde_json::json!({"id": "DROPOFF", "type": "dropoff", "count": 3})
        );
    }
}
