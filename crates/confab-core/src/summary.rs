//! A conversation's summary, derived from its messages so that the result is the same whatever
//! order they arrive in: the earliest message (by timestamp) that sets a field wins, ties going
//! to the one that arrived first. Stores keep the summary row and re-apply messages to it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::message::{MAX_METADATA_BYTES, NewMessage, Role, Step};
use crate::time::Millis;

pub const DIM_COUNT: usize = 8;

/// The dimensions a conversation is sliced by, fixed by the earliest message that sets each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dim {
    ChannelType,
    Language,
    Version,
    UserId,
    CampaignId,
    CampaignSource,
    Type,
    SessionId,
}

impl Dim {
    pub const ALL: [Dim; DIM_COUNT] = [
        Dim::ChannelType,
        Dim::Language,
        Dim::Version,
        Dim::UserId,
        Dim::CampaignId,
        Dim::CampaignSource,
        Dim::Type,
        Dim::SessionId,
    ];

    /// The name in filters, group-bys and output.
    pub fn name(self) -> &'static str {
        match self {
            Dim::ChannelType => "channel_type",
            Dim::Language => "language",
            Dim::Version => "version",
            Dim::UserId => "user_id",
            Dim::CampaignId => "campaign_id",
            Dim::CampaignSource => "campaign_source",
            Dim::Type => "type",
            Dim::SessionId => "session_id",
        }
    }

    /// The path of the field in a posted message.
    pub fn field(self) -> &'static str {
        match self {
            Dim::CampaignId => "campaign.id",
            Dim::CampaignSource => "campaign.source",
            d => d.name(),
        }
    }
}

/// When each derived field was set: the timestamp of the message it came from. Stores keep this
/// beside the summary so that a late-arriving earlier message can still take its place.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stamps {
    #[serde(rename = "d", default)]
    pub dims: [Option<Millis>; DIM_COUNT],
    #[serde(rename = "u", default)]
    pub first_user: Option<Millis>,
    #[serde(rename = "b", default)]
    pub first_bot: Option<Millis>,
    #[serde(rename = "m", default)]
    pub metadata: BTreeMap<String, Millis>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub last_step: Option<Millis>,
    /// The earliest message at one of the bot's goal steps, as they were when it was stored:
    /// the conversation is *completed* (see [`Summary::reach_goal`]).
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<Millis>,
    /// The distinct steps the conversation has been at, `(id, type)` with `""` for no type, in
    /// the order their first messages were stored, at most [`MAX_VISITED`]: what the flow's
    /// per-step conversation and completion counts take away and add back as it changes.
    #[serde(rename = "v", default, skip_serializing_if = "Vec::is_empty")]
    pub visited: Vec<(String, String)>,
}

/// Steps per conversation counted as visited; a conversation at more (a bot sending a new step
/// id with every message) counts in the first ones stored.
pub const MAX_VISITED: usize = 64;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    pub started_at: Millis,
    pub last_message_at: Millis,
    /// Message counts indexed by [`Role::code`].
    pub counts: [i64; 4],
    pub first_user_message: Option<String>,
    pub first_bot_message: Option<String>,
    pub dims: [Option<String>; DIM_COUNT],
    /// Message metadata merged per key (earliest wins), at most 16 KiB.
    pub metadata: Map<String, Value>,
    /// The step of the latest message that has one (ties go to the one stored last): where the
    /// conversation is, or where it dropped off once it has ended.
    pub last_step: Option<Step>,
    pub stamps: Stamps,
}

fn json_len<T: Serialize + ?Sized>(v: &T) -> usize {
    serde_json::to_vec(v).map_or(0, |v| v.len())
}

/// Whether a value stamped `new` replaces one stamped `old`: strictly earlier wins.
fn earlier(new: Millis, old: Option<Millis>) -> bool {
    old.is_none_or(|old| new < old)
}

impl Summary {
    /// The summary of a conversation whose first message is `m`.
    pub fn first(m: &NewMessage) -> Summary {
        let mut s =
            Summary { started_at: m.timestamp, last_message_at: m.timestamp, ..Default::default() };
        s.apply_fields(m);
        s
    }

    /// Folds one more (newly stored, not duplicate) message into the summary.
    pub fn apply(&mut self, m: &NewMessage) {
        self.started_at = self.started_at.min(m.timestamp);
        self.last_message_at = self.last_message_at.max(m.timestamp);
        self.apply_fields(m);
    }

    fn apply_fields(&mut self, m: &NewMessage) {
        let ts = m.timestamp;
        self.counts[m.role.code() as usize] += 1;
        let first = match m.role {
            Role::User => Some((&mut self.first_user_message, &mut self.stamps.first_user)),
            Role::Bot => Some((&mut self.first_bot_message, &mut self.stamps.first_bot)),
            Role::Agent | Role::System => None,
        };
        if let Some((text, at)) = first
            && earlier(ts, *at)
        {
            *text = Some(m.content.clone());
            *at = Some(ts);
        }
        for (i, value) in m.dims.iter().enumerate() {
            if let Some(v) = value
                && earlier(ts, self.stamps.dims[i])
            {
                self.dims[i] = Some(v.clone());
                self.stamps.dims[i] = Some(ts);
            }
        }
        if let Some(step) = &m.step {
            if self.stamps.last_step.is_none_or(|at| ts >= at) {
                self.last_step = Some(step.clone());
                self.stamps.last_step = Some(ts);
            }
            self.visit(step);
        }
        if let Some(meta) = &m.metadata {
            self.merge_metadata(meta, ts);
        }
    }

    fn merge_metadata(&mut self, meta: &Map<String, Value>, ts: Millis) {
        // The merged size is measured only when a new key asks to be added (most messages
        // repeat keys already set), and then kept up to date.
        let mut size: Option<usize> = None;
        for (k, v) in meta {
            let at = self.stamps.metadata.get(k).copied();
            if !earlier(ts, at) {
                continue;
            }
            if at.is_none() {
                let current = *size.get_or_insert_with(|| json_len(&self.metadata));
                let added = k.len() + json_len(v) + 4;
                if current + added > MAX_METADATA_BYTES {
                    continue;
                }
                size = Some(current + added);
            } else {
                // A replaced value may be longer: measure again when next needed.
                size = None;
            }
            self.metadata.insert(k.clone(), v.clone());
            self.stamps.metadata.insert(k.clone(), ts);
        }
    }

    /// Adds `step` to the visited steps when it is new and there is room.
    pub fn visit(&mut self, step: &Step) {
        let visited = &mut self.stamps.visited;
        let kind = step.kind.as_deref().unwrap_or("");
        if visited.len() < MAX_VISITED && !visited.iter().any(|(i, k)| *i == step.id && k == kind) {
            visited.push((step.id.clone(), kind.to_owned()));
        }
    }

    /// Marks the conversation completed when `m` (already applied) is at a goal step.
    /// Separate from [`Summary::apply`] because the goals are the bot's settings at the time of
    /// the write: a change of them applies to messages stored from then on.
    pub fn reach_goal(&mut self, m: &NewMessage, is_goal: impl Fn(&str) -> bool) {
        if let Some(step) = &m.step
            && is_goal(&step.id)
            && earlier(m.timestamp, self.stamps.goal)
        {
            self.stamps.goal = Some(m.timestamp);
        }
    }

    /// Whether a message at a goal step was stored.
    pub fn completed(&self) -> bool {
        self.stamps.goal.is_some()
    }

    pub fn message_count(&self) -> i64 {
        self.counts.iter().sum()
    }

    pub fn count(&self, role: Role) -> i64 {
        self.counts[role.code() as usize]
    }

    pub fn dim(&self, d: Dim) -> Option<&str> {
        self.dims[d as usize].as_deref()
    }

    pub fn duration_ms(&self) -> Millis {
        self.last_message_at - self.started_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: Role, ts: Millis, content: &str, channel: Option<&str>) -> NewMessage {
        let mut dims: [Option<String>; DIM_COUNT] = Default::default();
        dims[Dim::ChannelType as usize] = channel.map(str::to_owned);
        NewMessage {
            conversation_id: "c".into(),
            client_id: None,
            role,
            content: content.into(),
            timestamp: ts,
            step: None,
            metadata: Some(Map::from_iter([("k".to_owned(), Value::from(content))])),
            dims,
        }
    }

    fn fold(msgs: &[NewMessage]) -> Summary {
        let mut s = Summary::first(&msgs[0]);
        for m in &msgs[1..] {
            s.apply(m);
        }
        s
    }

    #[test]
    fn every_arrival_order_gives_the_same_summary() {
        let msgs = [
            msg(Role::User, 1_000, "hello", None),
            msg(Role::Bot, 2_000, "hi, how can I help?", Some("web")),
            msg(Role::User, 3_000, "book a table", Some("sms")),
            msg(Role::Bot, 4_000, "for when?", None),
        ];
        let expected = fold(&msgs);
        assert_eq!(expected.first_user_message.as_deref(), Some("hello"));
        assert_eq!(expected.first_bot_message.as_deref(), Some("hi, how can I help?"));
        assert_eq!(expected.dim(Dim::ChannelType), Some("web"));
        assert_eq!(expected.metadata["k"], "hello");
        assert_eq!(expected.duration_ms(), 3_000);
        assert_eq!(expected.count(Role::User), 2);
        // All 24 permutations of four messages.
        let mut idx = [0, 1, 2, 3];
        let mut perms = vec![];
        permute(&mut idx, 0, &mut perms);
        assert_eq!(perms.len(), 24);
        for p in perms {
            let ordered: Vec<_> = p.iter().map(|&i| msgs[i].clone()).collect();
            let s = fold(&ordered);
            assert_eq!(
                (
                    s.started_at,
                    s.last_message_at,
                    s.counts,
                    &s.first_user_message,
                    &s.first_bot_message,
                    &s.dims,
                    &s.metadata
                ),
                (
                    expected.started_at,
                    expected.last_message_at,
                    expected.counts,
                    &expected.first_user_message,
                    &expected.first_bot_message,
                    &expected.dims,
                    &expected.metadata
                ),
                "order {p:?}"
            );
        }
    }

    fn permute(a: &mut [usize; 4], k: usize, out: &mut Vec<[usize; 4]>) {
        if k == a.len() {
            out.push(*a);
            return;
        }
        for i in k..a.len() {
            a.swap(k, i);
            permute(a, k + 1, out);
            a.swap(k, i);
        }
    }

    #[test]
    fn merged_metadata_stays_within_16_kib() {
        let mut s = Summary::first(&msg(Role::User, 0, "a", None));
        // Forty messages, each adding a 1 KiB key; earlier keys may be replaced with longer
        // values along the way.
        for i in 0..40 {
            let mut m = msg(Role::User, i + 1, "x", None);
            let mut meta = Map::new();
            meta.insert(format!("key{i}"), Value::from("v".repeat(1024)));
            m.metadata = Some(meta);
            s.apply(&m);
        }
        let mut earlier = msg(Role::User, -1, "x", None);
        earlier.metadata =
            Some(Map::from_iter([("key0".to_owned(), Value::from("w".repeat(2048)))]));
        s.apply(&earlier);
        let size = serde_json::to_vec(&s.metadata).unwrap().len();
        assert!(size <= MAX_METADATA_BYTES + 2048, "{size}");
        assert!(s.metadata.len() < 17, "new keys stop at the cap: {}", s.metadata.len());
        assert!(s.metadata.len() >= 14, "keys fill up to the cap: {}", s.metadata.len());
        assert_eq!(s.metadata["key0"], "w".repeat(2048), "the earliest value still wins");
    }

    #[test]
    fn visited_steps_are_distinct_in_storing_order_and_capped() {
        let at = |ts: Millis, id: &str, kind: Option<&str>| {
            let mut m = msg(Role::Bot, ts, "x", None);
            m.step = Some(Step { id: id.into(), kind: kind.map(str::to_owned) });
            m
        };
        let s = fold(&[
            at(30, "b", Some("q")),
            at(10, "a", None),
            at(40, "b", Some("q")),
            at(50, "b", Some("other")),
            at(20, "a", None),
        ]);
        let v: Vec<(&str, &str)> =
            s.stamps.visited.iter().map(|(i, k)| (i.as_str(), k.as_str())).collect();
        assert_eq!(v, [("b", "q"), ("a", ""), ("b", "other")]);
        let json = serde_json::to_string(&s.stamps).unwrap();
        assert_eq!(serde_json::from_str::<Stamps>(&json).unwrap(), s.stamps);
        let many: Vec<_> = (0..100).map(|i| at(i, &format!("s{i}"), None)).collect();
        let s = fold(&many);
        assert_eq!(s.stamps.visited.len(), MAX_VISITED);
        assert_eq!(s.stamps.visited[MAX_VISITED - 1].0, format!("s{}", MAX_VISITED - 1));
        let json = serde_json::to_string(&fold(&[msg(Role::User, 1, "a", None)]).stamps).unwrap();
        assert!(!json.contains("\"v\""), "no steps, no key: {json}");
    }

    #[test]
    fn stamps_round_trip_as_json() {
        let s = fold(&[msg(Role::User, 5, "a", Some("web"))]);
        let json = serde_json::to_string(&s.stamps).unwrap();
        assert_eq!(serde_json::from_str::<Stamps>(&json).unwrap(), s.stamps);
    }
}
