//! Store-level tests: the `Store` trait called directly, no HTTP. Every scenario is an
//! `async fn(Arc<dyn Store>)` that assumes only a fresh, empty store, so the same scenarios can run
//! on every backend; `backend_tests!` (in `tests/backends`) generates one `#[tokio::test]` per
//! scenario and backend (SQLite in a tempdir today).

#[macro_use]
mod backends;

use std::collections::BTreeSet;
use std::sync::Arc;

use confab_core::auth::{Caller, Scope, Scopes};
use confab_core::conversation::{Conversation, IngestOutcome, Message, Status};
use confab_core::query::{ConversationFilter, Page, PageRequest, TimeField};
use confab_core::summary::Dim;
use confab_core::time::{self, Millis};
use confab_core::{MessageInput, NewMessage, Role};
use confab_store::{BotSelector, NewKey, OffsetFilter, Store, StoreError};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const HOUR: Millis = 3_600_000;

/// The clock every message is validated against: fixed, so the tests do not depend on today.
fn now() -> Millis {
    time::parse_rfc3339("now", "2026-06-01T00:00:00Z").unwrap()
}

/// 2026-01-10T00:00:00Z: the origin of every scenario's timeline.
fn t0() -> Millis {
    time::parse_rfc3339("t0", "2026-01-10T00:00:00Z").unwrap()
}

/// `h` hours after [`t0`].
fn at(h: i64) -> Millis {
    t0() + h * HOUR
}

fn rfc(ms: Millis) -> String {
    time::format_rfc3339(ms)
}

/// A validated message from its wire form.
fn msg(v: Value) -> NewMessage {
    serde_json::from_value::<MessageInput>(v).unwrap().validate(now()).unwrap()
}

/// A plain message of `conversation` at `ms`, with no client id and no dimensions.
fn plain(conversation: &str, role: &str, content: &str, ms: Millis) -> NewMessage {
    msg(json!({"conversation_id": conversation, "role": role, "content": content, "timestamp": ms}))
}

async fn ingest(store: &Arc<dyn Store>, team: i64, bot: &str, msgs: Vec<NewMessage>) {
    let n = msgs.len();
    let out = store.ingest(team, bot, true, msgs).await.unwrap();
    assert_eq!(out, vec![IngestOutcome::Stored; n], "every message is new");
}

fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn ids(items: &[Conversation]) -> Vec<String> {
    items.iter().map(|c| c.conversation_id.clone()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// One page, from query parameters parsed exactly as the HTTP API parses them.
async fn page(
    store: &Arc<dyn Store>,
    team: i64,
    bot: &str,
    p: &[(&str, &str)],
) -> Page<Conversation> {
    let (filter, page) = ConversationFilter::from_params(&params(p)).unwrap();
    store.list_conversations(team, bot, &filter, &page).await.unwrap()
}

/// Every conversation the filter selects, all pages followed, in list order.
async fn list_all(store: &Arc<dyn Store>, team: i64, bot: &str, p: &[(&str, &str)]) -> Vec<String> {
    let mut out = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let mut q: Vec<(&str, &str)> = p.to_vec();
        q.push(("limit", "100"));
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let page = page(store, team, bot, &q).await;
        out.extend(ids(&page.items));
        match page.next_cursor {
            Some(c) => cursor = Some(c.encode()),
            None => return out,
        }
    }
}

/// The set of conversation ids the filter selects.
async fn select(
    store: &Arc<dyn Store>,
    team: i64,
    bot: &str,
    p: &[(&str, &str)],
) -> BTreeSet<String> {
    let all = list_all(store, team, bot, p).await;
    let unique: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(unique.len(), all.len(), "no conversation listed twice for {p:?}: {all:?}");
    unique
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound(_)))
}

fn contents(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

fn new_key(team_id: i64, seed: u8, scopes: &[&str], bots: Option<Vec<&str>>) -> NewKey {
    NewKey {
        team_id,
        name: format!("key {seed}"),
        hash: [seed; 32],
        hint: format!("cfb_{seed:06}"),
        scopes: Scopes::parse("scopes", scopes.iter().copied()).unwrap(),
        bots: bots.map(|b| b.into_iter().map(str::to_owned).collect()),
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// A retried message (same client id in the same conversation) is stored once, whether it comes
/// again in a later request or twice in one batch; messages without an id are never deduplicated;
/// the same client id in another conversation is another message.
async fn idempotent_ingest(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    let m = |conv: &str, id: Option<&str>, content: &str, h: i64| {
        let mut v = json!({"conversation_id": conv, "role": "user", "content": content,
                           "timestamp": rfc(at(h))});
        if let Some(id) = id {
            v["id"] = json!(id);
        }
        msg(v)
    };

    let out = store
        .ingest(team, "b", true, vec![m("c1", Some("m1"), "hello", 0), m("c1", Some("m2"), "x", 1)])
        .await
        .unwrap();
    assert_eq!(out, [IngestOutcome::Stored, IngestOutcome::Stored]);

    // The retry, with different text and time: nothing about the stored message changes.
    let out = store.ingest(team, "b", true, vec![m("c1", Some("m1"), "CHANGED", 5)]).await.unwrap();
    assert_eq!(out, [IngestOutcome::Duplicate]);

    // Duplicates inside one batch, next to new messages and messages without ids.
    let out = store
        .ingest(
            team,
            "b",
            true,
            vec![
                m("c1", Some("m3"), "third", 2),
                m("c1", Some("m3"), "third again", 2),
                m("c1", Some("m2"), "x again", 1),
                m("c1", None, "no id", 3),
                m("c1", None, "no id", 3),
                m("c2", Some("m1"), "other conversation", 0),
            ],
        )
        .await
        .unwrap();
    use IngestOutcome::{Duplicate, Stored};
    assert_eq!(out, [Stored, Duplicate, Duplicate, Stored, Stored, Stored]);

    let (conv, messages) = store.get_conversation(team, "b", "c1").await.unwrap();
    assert_eq!(contents(&messages), ["hello", "x", "third", "no id", "no id"]);
    assert_eq!(conv.summary.message_count(), 5, "duplicates are not counted");
    assert_eq!(conv.summary.count(Role::User), 5);
    assert_eq!(conv.summary.last_message_at, at(3), "a duplicate does not move the summary");
    assert_eq!(messages[0].client_id.as_deref(), Some("m1"));
    assert_eq!(messages[0].timestamp, at(0));

    let (conv2, messages2) = store.get_conversation(team, "b", "c2").await.unwrap();
    assert_eq!(contents(&messages2), ["other conversation"]);
    assert_eq!(conv2.summary.message_count(), 1);

    // A batch made only of duplicates writes nothing either.
    let out = store
        .ingest(team, "b", true, vec![m("c2", Some("m1"), "y", 0), m("c1", Some("m2"), "y", 0)])
        .await
        .unwrap();
    assert_eq!(out, [Duplicate, Duplicate]);
    let (_, messages) = store.get_conversation(team, "b", "c1").await.unwrap();
    assert_eq!(messages.len(), 5);

    // An unknown bot is created only when asked to.
    let r = store.ingest(team, "ghost", false, vec![m("c9", None, "boo", 0)]).await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "unknown bot without create_bot: {r:?}");
    let bots: Vec<String> =
        store.list_bots(team).await.unwrap().into_iter().map(|b| b.bot_id).collect();
    assert_eq!(bots, ["b"]);
    assert_eq!(store.bot_ids(team).await.unwrap(), ["b"]);
    assert_eq!(store.list_bots(team).await.unwrap()[0].conversations, 2);
    let out = store.ingest(team, "b", false, vec![m("c3", None, "known bot", 0)]).await.unwrap();
    assert_eq!(out, [Stored], "a known bot takes messages without create_bot");
}

/// The summary is the same whatever order the messages arrive in, over several requests.
async fn summaries_out_of_order(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    let script = [
        ("user", "hi, I need a table", 1),
        ("bot", "sure, for when?", 2),
        ("user", "friday", 3),
        ("agent", "a human here", 4),
        ("system", "closed", 6),
    ];
    let make = |conv: &str, i: usize| {
        let (role, content, h) = script[i];
        msg(json!({"conversation_id": conv, "id": format!("m{i}"), "role": role,
                   "content": content, "timestamp": at(h)}))
    };
    // In order, one request.
    ingest(&store, team, "b", (0..script.len()).map(|i| make("ordered", i)).collect()).await;
    // Shuffled: last message first, one per request, then the rest in a reversed batch.
    ingest(&store, team, "b", vec![make("shuffled", 4)]).await;
    ingest(&store, team, "b", vec![make("shuffled", 2)]).await;
    ingest(&store, team, "b", vec![make("shuffled", 3), make("shuffled", 1), make("shuffled", 0)])
        .await;

    let (ordered, om) = store.get_conversation(team, "b", "ordered").await.unwrap();
    let (shuffled, sm) = store.get_conversation(team, "b", "shuffled").await.unwrap();
    let s = &shuffled.summary;
    assert_eq!(s.started_at, at(1));
    assert_eq!(s.last_message_at, at(6));
    assert_eq!(s.duration_ms(), 5 * HOUR);
    assert_eq!(s.message_count(), 5);
    assert_eq!(
        [s.count(Role::User), s.count(Role::Bot), s.count(Role::Agent), s.count(Role::System)],
        [2, 1, 1, 1]
    );
    assert_eq!(s.first_user_message.as_deref(), Some("hi, I need a table"));
    assert_eq!(s.first_bot_message.as_deref(), Some("sure, for when?"));
    assert_eq!(shuffled.status, Status::Active);
    assert_eq!(s, &ordered.summary, "arrival order does not change the summary");
    // Transcripts come back in time order, whatever the arrival order.
    assert_eq!(contents(&sm), contents(&om));
    assert_eq!(contents(&sm)[0], "hi, I need a table");
    assert!(sm.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));

    // The list agrees with get_conversation.
    let p = page(&store, team, "b", &[("min_messages", "5")]).await;
    let listed = p.items.iter().find(|c| c.conversation_id == "shuffled").unwrap();
    assert_eq!(listed, &shuffled);
}

/// Each dimension and each metadata key is fixed by the earliest message (by timestamp) that
/// sets it, even when that message arrives last; filters see the corrected values.
async fn dimensions_fixed_by_earliest(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    // Arrives first, stamped second.
    ingest(
        &store,
        team,
        "b",
        vec![msg(json!({
            "conversation_id": "c", "role": "user", "content": "second", "timestamp": at(2),
            "channel_type": "sms", "language": "pl", "user_id": "late-user",
            "campaign": {"id": "late", "source": "email"},
            "metadata": {"plan": "pro", "seats": 3}
        }))],
    )
    .await;
    // Arrives second, stamped third: sets only what nobody earlier set.
    ingest(
        &store,
        team,
        "b",
        vec![msg(json!({
            "conversation_id": "c", "role": "bot", "content": "third", "timestamp": at(3),
            "channel_type": "whatsapp", "version": "2.0", "session_id": "s3",
            "metadata": {"plan": "enterprise", "vip": true}
        }))],
    )
    .await;
    // Arrives last, stamped first: wins every field it sets.
    ingest(
        &store,
        team,
        "b",
        vec![msg(json!({
            "conversation_id": "c", "role": "user", "content": "first", "timestamp": at(1),
            "channel_type": "web", "user_id": "early-user", "campaign": {"id": "early"},
            "type": "support", "metadata": {"plan": "free"}
        }))],
    )
    .await;

    let (conv, _) = store.get_conversation(team, "b", "c").await.unwrap();
    let s = &conv.summary;
    assert_eq!(s.dim(Dim::ChannelType), Some("web"));
    assert_eq!(s.dim(Dim::Language), Some("pl"));
    assert_eq!(s.dim(Dim::Version), Some("2.0"));
    assert_eq!(s.dim(Dim::UserId), Some("early-user"));
    assert_eq!(s.dim(Dim::CampaignId), Some("early"));
    assert_eq!(s.dim(Dim::CampaignSource), Some("email"), "each campaign field on its own");
    assert_eq!(s.dim(Dim::Type), Some("support"));
    assert_eq!(s.dim(Dim::SessionId), Some("s3"));
    assert_eq!(Value::Object(s.metadata.clone()), json!({"plan": "free", "seats": 3, "vip": true}));
    assert_eq!(s.first_user_message.as_deref(), Some("first"));
    assert_eq!(s.started_at, at(1));

    // The filter columns were updated too, not only the summary.
    for (k, v, hit) in [
        ("channel_type", "web", true),
        ("channel_type", "sms", false),
        ("user_id", "early-user", true),
        ("user_id", "late-user", false),
        ("campaign_id", "early", true),
        ("campaign_id", "late", false),
        ("metadata.plan", "free", true),
        ("metadata.plan", "pro", false),
        ("metadata.plan", "enterprise", false),
    ] {
        let found = select(&store, team, "b", &[(k, v)]).await;
        assert_eq!(found.contains("c"), hit, "{k}={v}");
    }
}

/// The conversations of the filter scenario, in start order. Times are hours after `t0`.
///
/// | id | started | last | msgs | channel | lang | version | user | campaign | metadata |
/// |----|---------|------|------|---------|------|---------|------|----------|----------|
/// | c1 | 1  | 30 | 3 | web      | en | LIVE  | u1 | spring | plan=pro seats=3 vip=true |
/// | c2 | 2  | 2  | 2 | sms      | pl | DRAFT | u2 | autumn | plan=free seats=10 vip=false |
/// | c5 | 3  | 4  | 2 | -        | -  | -     | -  | -      | - |
/// | c3 | 26 | 27 | 2 | web      | pl | LIVE  | u3 | -      | plan=pro ratio=2.5 |
/// | c4 | 50 | 53 | 4 | whatsapp | en | 2.0   | u1 | spring | seats="3" (a string) |
async fn seed_filter_data(store: &Arc<dyn Store>, team: i64) {
    let m = |v: Value| msg(v);
    ingest(
        store,
        team,
        "b",
        vec![
            m(json!({"conversation_id": "c1", "role": "user", "content": "Zażółć gęślą jaźń",
                "timestamp": at(1), "channel_type": "web", "language": "en", "version": "LIVE",
                "user_id": "u1", "campaign": {"id": "spring", "source": "ads"},
                "metadata": {"plan": "pro", "seats": 3, "vip": true}})),
            m(json!({"conversation_id": "c1", "role": "bot", "content": "Hello there, traveller",
                "timestamp": at(2)})),
            m(json!({"conversation_id": "c2", "role": "user", "content": "book a table for two",
                "timestamp": at(2), "channel_type": "sms", "language": "pl", "version": "DRAFT",
                "user_id": "u2", "campaign": {"id": "autumn"},
                "metadata": {"plan": "free", "seats": 10, "vip": false}})),
            m(json!({"conversation_id": "c2", "role": "bot", "content": "a window seat?",
                "timestamp": at(2)})),
            m(json!({"conversation_id": "c5", "role": "user", "content": "anyone there",
                "timestamp": at(3)})),
        ],
    )
    .await;
    ingest(store, team, "b", vec![plain("c5", "system", "timeout", at(4))]).await;
    ingest(
        store,
        team,
        "b",
        vec![
            m(json!({"conversation_id": "c3", "role": "user", "content": "a table near the window",
                "timestamp": at(26), "channel_type": "web", "language": "pl", "version": "LIVE",
                "user_id": "u3", "metadata": {"plan": "pro", "ratio": 2.5}})),
            m(json!({"conversation_id": "c3", "role": "bot", "content": "Gęś na stole",
                "timestamp": at(27)})),
            m(json!({"conversation_id": "c4", "role": "user", "content": "zazolc plain ascii",
                "timestamp": at(50), "channel_type": "whatsapp", "language": "en",
                "version": "2.0", "user_id": "u1", "campaign": {"id": "spring"},
                "metadata": {"seats": "3"}})),
            m(json!({"conversation_id": "c4", "role": "bot", "content": "ok", "timestamp": at(51)})),
            m(json!({"conversation_id": "c4", "role": "user", "content": "ok", "timestamp": at(52)})),
            m(json!({"conversation_id": "c4", "role": "bot", "content": "bye", "timestamp": at(53)})),
        ],
    )
    .await;
    // The third message of c1, late, and out of order.
    ingest(store, team, "b", vec![plain("c1", "user", "thanks", at(30))]).await;
    // Another bot of the same team, which no filter on `b` may ever return.
    ingest(
        store,
        team,
        "other",
        vec![m(json!({"conversation_id": "c1", "role": "user", "content": "Zażółć table window",
            "timestamp": at(1), "channel_type": "web", "language": "pl", "version": "LIVE",
            "user_id": "u1", "campaign": {"id": "spring"}, "metadata": {"plan": "pro"}}))],
    )
    .await;
}

/// Every filter of the list, each checked against the exact set of conversations it must select.
async fn list_filters(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    seed_filter_data(&store, team).await;
    let (from_1d, to_2d) = (rfc(at(24)), rfc(at(48)));
    let (from_2h, to_3h) = (rfc(at(2)), rfc(at(3)));
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (vec![], vec!["c1", "c2", "c3", "c4", "c5"]),
        // Time ranges are [from, to) on started_at by default…
        (vec![("start_time", &from_1d), ("end_time", &to_2d)], vec!["c3"]),
        (
            vec![("time_field", "started_at"), ("start_time", &from_1d), ("end_time", &to_2d)],
            vec!["c3"],
        ),
        (vec![("start_time", &from_1d)], vec!["c3", "c4"]),
        (vec![("end_time", &from_1d)], vec!["c1", "c2", "c5"]),
        (vec![("start_time", &from_2h), ("end_time", &to_3h)], vec!["c2"]),
        (vec![("start_time", "2026-01-10"), ("end_time", "2026-01-11")], vec!["c1", "c2", "c5"]),
        // …and on last_message_at when asked.
        (
            vec![("time_field", "last_message_at"), ("start_time", &from_1d), ("end_time", &to_2d)],
            vec!["c1", "c3"],
        ),
        (
            vec![("time_field", "last_message_at"), ("start_time", &from_2h), ("end_time", &to_3h)],
            vec!["c2"],
        ),
        (vec![("time_field", "last_message_at"), ("end_time", &to_3h)], vec!["c2"]),
        // Dimensions.
        (vec![("channel_type", "web")], vec!["c1", "c3"]),
        (vec![("channel_type", "whatsapp")], vec!["c4"]),
        (vec![("channel_type", "telegram")], vec![]),
        (vec![("language", "pl")], vec!["c2", "c3"]),
        (vec![("language", "PL")], vec![]),
        (vec![("version", "LIVE")], vec!["c1", "c3"]),
        (vec![("version", "2.0")], vec!["c4"]),
        (vec![("user_id", "u1")], vec!["c1", "c4"]),
        (vec![("user_id", "u2")], vec!["c2"]),
        (vec![("campaign_id", "spring")], vec!["c1", "c4"]),
        (vec![("campaign_id", "autumn")], vec!["c2"]),
        (vec![("channel_type", "web"), ("language", "pl")], vec!["c3"]),
        (vec![("user_id", "u1"), ("channel_type", "sms")], vec![]),
        // Several values of one dimension match any of them; different dimensions all apply.
        (vec![("channel_type", "web,sms")], vec!["c1", "c2", "c3"]),
        (vec![("channel_type", "web"), ("channel_type", "whatsapp")], vec!["c1", "c3", "c4"]),
        (vec![("language", "pl"), ("language", "en")], vec!["c1", "c2", "c3", "c4"]),
        (vec![("version", "DRAFT,2.0")], vec!["c2", "c4"]),
        (vec![("user_id", "u2"), ("user_id", "u3")], vec!["c2", "c3"]),
        (vec![("user_id", "u1,u2")], vec![]),
        (vec![("campaign_id", "spring"), ("campaign_id", "autumn")], vec!["c1", "c2", "c4"]),
        (vec![("channel_type", "web,sms"), ("language", "pl")], vec!["c2", "c3"]),
        // Status: nothing has been finalised yet.
        (vec![("status", "active")], vec!["c1", "c2", "c3", "c4", "c5"]),
        (vec![("status", "ended")], vec![]),
        // Metadata: strings as they are, numbers and booleans by their JSON text.
        (vec![("metadata.plan", "pro")], vec!["c1", "c3"]),
        (vec![("metadata.plan", "free")], vec!["c2"]),
        (vec![("metadata.plan", "Pro")], vec![]),
        (vec![("metadata.seats", "3")], vec!["c1", "c4"]),
        (vec![("metadata.seats", "10")], vec!["c2"]),
        (vec![("metadata.seats", "1")], vec![]),
        (vec![("metadata.vip", "true")], vec!["c1"]),
        (vec![("metadata.vip", "false")], vec!["c2"]),
        (vec![("metadata.ratio", "2.5")], vec!["c3"]),
        (vec![("metadata.missing", "x")], vec![]),
        (vec![("metadata.plan", "pro"), ("metadata.seats", "3")], vec!["c1"]),
        (vec![("metadata.plan", "pro"), ("language", "pl")], vec!["c3"]),
        // Full text: case- and diacritics-insensitive, every term required.
        (vec![("q", "zazolc")], vec!["c1", "c4"]),
        (vec![("q", "ZAŻÓŁĆ")], vec!["c1", "c4"]),
        (vec![("q", "gesla jazn")], vec!["c1"]),
        (vec![("q", "ges")], vec!["c3"]),
        (vec![("q", "table")], vec!["c2", "c3"]),
        (vec![("q", "window")], vec!["c2", "c3"]),
        (vec![("q", "table window")], vec!["c3"]),
        (vec![("q", "table nothing")], vec![]),
        (vec![("q", "tab")], vec![]),
        (vec![("q", "traveller")], vec!["c1"]),
        (vec![("q", "thanks")], vec!["c1"]),
        (vec![("q", "table"), ("language", "pl"), ("channel_type", "web")], vec!["c3"]),
        (vec![("q", "ok")], vec!["c4"]),
        // Message counts.
        (vec![("min_messages", "0")], vec!["c1", "c2", "c3", "c4", "c5"]),
        (vec![("min_messages", "3")], vec!["c1", "c4"]),
        (vec![("min_messages", "4")], vec!["c4"]),
        (vec![("min_messages", "5")], vec![]),
        // Everything at once.
        (
            vec![
                ("start_time", "2026-01-10"),
                ("channel_type", "web"),
                ("language", "en"),
                ("version", "LIVE"),
                ("user_id", "u1"),
                ("campaign_id", "spring"),
                ("status", "active"),
                ("metadata.vip", "true"),
                ("q", "zazolc"),
                ("min_messages", "3"),
            ],
            vec!["c1"],
        ),
    ];
    let mut failures = vec![];
    for (p, expected) in &cases {
        let got = select(&store, team, "b", p).await;
        if got != set(expected) {
            failures.push(format!("{p:?}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "filters that selected the wrong conversations:\n{}",
        failures.join("\n")
    );
}

/// Newest first by `started_at` or by `last_message_at`, ties broken the same way every time.
async fn sort_orders(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    seed_filter_data(&store, team).await;
    // started: c1 1, c2 2, c5 3, c3 26, c4 50. last: c2 2, c5 4, c3 27, c1 30, c4 53.
    let by_start = ["c4", "c3", "c5", "c2", "c1"];
    let by_last = ["c4", "c1", "c3", "c5", "c2"];
    assert_eq!(list_all(&store, team, "b", &[]).await, by_start);
    assert_eq!(list_all(&store, team, "b", &[("sort", "started_at")]).await, by_start);
    assert_eq!(list_all(&store, team, "b", &[("sort", "last_message_at")]).await, by_last);
    assert_eq!(list_all(&store, team, "b", &[("time_field", "last_message_at")]).await, by_last);
    // The range and the sort can use different times.
    let from = rfc(at(24));
    assert_eq!(
        list_all(&store, team, "b", &[("start_time", &from), ("sort", "last_message_at")]).await,
        ["c4", "c3"]
    );
    assert_eq!(
        list_all(
            &store,
            team,
            "b",
            &[("time_field", "last_message_at"), ("start_time", &from), ("sort", "started_at")]
        )
        .await,
        ["c4", "c3", "c1"]
    );
    // Pages of one follow the same order, with cursors for the sort asked for.
    for (sort, expected) in [("started_at", by_start), ("last_message_at", by_last)] {
        let mut got = vec![];
        let mut cursor = None;
        loop {
            let mut q = vec![("sort", sort), ("limit", "1")];
            let c: String;
            if let Some(cur) = cursor {
                c = confab_core::query::Cursor::encode(&cur);
                q.push(("cursor", &c));
            }
            let p = page(&store, team, "b", &q).await;
            assert!(p.items.len() <= 1);
            got.extend(ids(&p.items));
            if let Some(next) = p.next_cursor {
                assert_eq!(next.sort, TimeField::parse("sort", sort).unwrap());
            }
            cursor = p.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(got, expected, "pages of one sorted by {sort}");
    }
}

/// Cursor pages return every conversation exactly once, in order, even when new (newer)
/// conversations arrive between page fetches, and even when a page boundary falls inside a run
/// of conversations with the same time.
async fn cursor_pagination_stable_under_inserts(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    // 23 conversations; groups of three share a start time, so ties straddle page boundaries.
    let mut initial = vec![];
    for i in 0..23 {
        let start = at(i / 3);
        initial.push(format!("old{i:02}"));
        ingest(
            &store,
            team,
            "b",
            vec![
                plain(&format!("old{i:02}"), "user", "hello", start),
                plain(&format!("old{i:02}"), "bot", "hi", start + (23 - i) * 60_000),
            ],
        )
        .await;
    }
    let mut inserted = 0;
    for sort in ["started_at", "last_message_at"] {
        let expected = list_all(&store, team, "b", &[("sort", sort)]).await;
        assert_eq!(expected.len(), initial.len() + inserted);
        if sort == "started_at" {
            // Newest first; equal start times by creation, newest first.
            let newest_first: Vec<String> = initial.iter().rev().cloned().collect();
            assert_eq!(expected, newest_first);
        }
        let mut seen: Vec<String> = vec![];
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut q = vec![("sort", sort), ("limit", "4")];
            if let Some(c) = &cursor {
                q.push(("cursor", c.as_str()));
            }
            let p = page(&store, team, "b", &q).await;
            pages += 1;
            assert!(p.items.len() <= 4);
            seen.extend(ids(&p.items));
            // Two new conversations, newer than everything, between every two fetches.
            for k in 0..2 {
                let id = format!("new-{sort}-{pages}-{k}");
                let t = at(1_000 + inserted as i64 * 10 + k);
                ingest(&store, team, "b", vec![plain(&id, "user", "late", t)]).await;
            }
            inserted += 2;
            match p.next_cursor {
                Some(c) => cursor = Some(c.encode()),
                None => break,
            }
            assert!(pages < 50, "pagination does not end");
        }
        assert_eq!(pages, expected.len().div_ceil(4), "full pages of 4 ({sort})");
        assert_eq!(seen, expected, "every conversation once, in order ({sort})");
    }
    assert_eq!(inserted, 2 * (6 + 9), "23 then 35 conversations in pages of 4");
    let total = select(&store, team, "b", &[]).await.len();
    assert_eq!(total, 23 + inserted, "the new conversations were stored");

    // A page that ends exactly at the last item has no next cursor.
    let n = total.to_string();
    let p = page(&store, team, "b", &[("limit", &n)]).await;
    assert_eq!(p.items.len(), total);
    assert!(p.next_cursor.is_none());
    let n = (total - 1).to_string();
    let p = page(&store, team, "b", &[("limit", &n)]).await;
    assert_eq!(p.items.len(), total - 1);
    assert!(p.next_cursor.is_some());
}

/// Erasure removes conversations, their messages and their search entries; unknown things are
/// `NotFound`; the conversation id can be used again afterwards.
async fn delete_conversation_and_user(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    let user = |conv: &str, user: &str, content: &str, h: i64| {
        msg(json!({"conversation_id": conv, "id": format!("{conv}-m{h}"), "role": "user",
                   "content": content, "timestamp": at(h), "user_id": user}))
    };
    ingest(
        &store,
        team,
        "b",
        vec![
            user("a1", "alice", "pineapple pizza please", 1),
            plain("a1", "bot", "pineapple it is", at(2)),
            user("a2", "alice", "more pineapple", 3),
            user("b1", "bob", "pineapple for bob", 4),
            user("b2", "bob", "just water", 5),
        ],
    )
    .await;
    ingest(&store, team, "other", vec![user("a1", "alice", "pineapple elsewhere", 1)]).await;
    let q = [("q", "pineapple")];
    assert_eq!(select(&store, team, "b", &q).await, set(&["a1", "a2", "b1"]));

    // One conversation.
    store.delete_conversation(team, "b", "a1").await.unwrap();
    assert!(is_not_found(store.get_conversation(team, "b", "a1").await));
    assert_eq!(select(&store, team, "b", &q).await, set(&["a2", "b1"]));
    assert_eq!(select(&store, team, "b", &[]).await, set(&["a2", "b1", "b2"]));
    assert_eq!(select(&store, team, "b", &[("user_id", "alice")]).await, set(&["a2"]));
    let bots = store.list_bots(team).await.unwrap();
    assert_eq!(bots.iter().find(|b| b.bot_id == "b").unwrap().conversations, 3);
    // The same id in another bot is untouched.
    let (_, m) = store.get_conversation(team, "other", "a1").await.unwrap();
    assert_eq!(contents(&m), ["pineapple elsewhere"]);
    assert_eq!(select(&store, team, "other", &q).await, set(&["a1"]));

    // Unknown conversation, unknown bot, already deleted.
    assert!(is_not_found(store.delete_conversation(team, "b", "a1").await));
    assert!(is_not_found(store.delete_conversation(team, "b", "nope").await));
    assert!(is_not_found(store.delete_conversation(team, "ghost", "a2").await));

    // The id starts afresh: the old message ids are no longer duplicates.
    let out = store.ingest(team, "b", true, vec![user("a1", "carol", "fresh start", 9)]).await;
    assert_eq!(out.unwrap(), [IngestOutcome::Stored]);
    let (conv, m) = store.get_conversation(team, "b", "a1").await.unwrap();
    assert_eq!(contents(&m), ["fresh start"]);
    assert_eq!(conv.summary.message_count(), 1);
    assert_eq!(conv.summary.dim(Dim::UserId), Some("carol"));
    assert_eq!(conv.summary.first_user_message.as_deref(), Some("fresh start"));
    assert!(select(&store, team, "b", &q).await.iter().all(|id| id != "a1"));

    // Every conversation of a user.
    assert_eq!(store.delete_user(team, "b", "bob").await.unwrap(), 2);
    assert!(is_not_found(store.get_conversation(team, "b", "b1").await));
    assert!(is_not_found(store.get_conversation(team, "b", "b2").await));
    assert_eq!(select(&store, team, "b", &q).await, set(&["a2"]));
    assert_eq!(select(&store, team, "b", &[("q", "water")]).await, set(&[]));
    assert_eq!(select(&store, team, "b", &[("user_id", "bob")]).await, set(&[]));
    assert_eq!(select(&store, team, "b", &[]).await, set(&["a1", "a2"]));
    assert_eq!(store.delete_user(team, "b", "bob").await.unwrap(), 0, "nothing left of bob");
    assert_eq!(store.delete_user(team, "b", "nobody").await.unwrap(), 0);
    assert!(is_not_found(store.delete_user(team, "ghost", "bob").await));
    // The other bot's alice stays when alice is erased from `b`.
    assert_eq!(store.delete_user(team, "b", "alice").await.unwrap(), 1);
    assert_eq!(select(&store, team, "b", &[]).await, set(&["a1"]));
    assert_eq!(select(&store, team, "other", &[("user_id", "alice")]).await, set(&["a1"]));
    let (_, total) = store
        .list_conversations_offset(
            team,
            &BotSelector::Team(None),
            &OffsetFilter::default(),
            0,
            10,
            true,
        )
        .await
        .unwrap();
    assert_eq!(total, Some(2), "a1 of b and a1 of other");

    // The newest messages erased, then new ones stored (a backend may give them the freed
    // numeric ids): the erased words must not be found in the new messages.
    ingest(&store, team, "b", vec![plain("z1", "user", "kumquat marmalade", at(20))]).await;
    assert_eq!(select(&store, team, "b", &[("q", "kumquat")]).await, set(&["z1"]));
    store.delete_conversation(team, "b", "z1").await.unwrap();
    ingest(&store, team, "b", vec![plain("z2", "user", "plain toast", at(21))]).await;
    assert_eq!(select(&store, team, "b", &[("q", "kumquat")]).await, set(&[]));
    assert_eq!(select(&store, team, "b", &[("q", "marmalade")]).await, set(&[]));
    assert_eq!(select(&store, team, "b", &[("q", "toast")]).await, set(&["z2"]));
}

/// Keys: created with their scopes and bots, resolved by hash, listed per team, revoked once.
async fn api_keys(store: Arc<dyn Store>) {
    let t1 = store.create_team("one").await.unwrap().id;
    let t2 = store.create_team("two").await.unwrap().id;
    assert_ne!(t1, t2);

    let k1 = store.create_key(new_key(t1, 1, &["read", "ingest"], None)).await.unwrap();
    let k2 = store.create_key(new_key(t1, 2, &["read"], Some(vec!["b1", "b2"]))).await.unwrap();
    let k3 = store.create_key(new_key(t2, 3, &["admin"], None)).await.unwrap();
    assert_eq!((k1.team_id, k1.name.as_str(), k1.hint.as_str()), (t1, "key 1", "cfb_000001"));
    assert_eq!(k1.scopes.names(), ["ingest", "read"]);
    assert_eq!(k1.bots, None);
    assert_eq!(k1.revoked_at, None);
    assert_eq!(k2.bots, Some(vec!["b1".to_owned(), "b2".to_owned()]));
    assert!(k1.id != k2.id && k2.id != k3.id);

    assert!(is_not_found(store.create_key(new_key(t2 + 100, 4, &["read"], None)).await));
    assert!(store.create_key(new_key(t2, 1, &["read"], None)).await.is_err(), "hashes are unique");

    let c1 = store.caller_for_key([1; 32]).await.unwrap().unwrap();
    assert_eq!(
        c1,
        Caller { team_id: t1, key_id: k1.id, scopes: k1.scopes, bots: None },
        "the caller of key 1"
    );
    assert!(c1.scopes.allows(Scope::Ingest) && !c1.scopes.allows(Scope::Admin));
    let c2 = store.caller_for_key([2; 32]).await.unwrap().unwrap();
    assert_eq!(c2.bots, Some(vec!["b1".to_owned(), "b2".to_owned()]));
    assert!(c2.may_use_bot("b2") && !c2.may_use_bot("b3"));
    assert_eq!(store.caller_for_key([3; 32]).await.unwrap().unwrap().team_id, t2);
    assert_eq!(store.caller_for_key([9; 32]).await.unwrap(), None);

    let key_ids =
        |keys: Vec<confab_store::ApiKeyInfo>| keys.iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(key_ids(store.list_keys(Some(t1)).await.unwrap()), [k1.id, k2.id]);
    assert_eq!(key_ids(store.list_keys(Some(t2)).await.unwrap()), [k3.id]);
    assert_eq!(key_ids(store.list_keys(None).await.unwrap()), [k1.id, k2.id, k3.id]);
    assert_eq!(store.list_keys(Some(t1)).await.unwrap()[0], k1, "listed as created");

    // Revocation is scoped to the team when one is given.
    assert!(is_not_found(store.revoke_key(Some(t2), k1.id).await));
    assert!(store.caller_for_key([1; 32]).await.unwrap().is_some(), "still live");
    store.revoke_key(Some(t1), k1.id).await.unwrap();
    assert_eq!(store.caller_for_key([1; 32]).await.unwrap(), None);
    assert!(is_not_found(store.revoke_key(Some(t1), k1.id).await), "revoked once");
    assert!(is_not_found(store.revoke_key(None, 999_999).await));
    store.revoke_key(None, k3.id).await.unwrap();
    assert_eq!(store.caller_for_key([3; 32]).await.unwrap(), None);
    assert!(store.caller_for_key([2; 32]).await.unwrap().is_some(), "other keys stay live");

    let listed = store.list_keys(Some(t1)).await.unwrap();
    assert!(listed[0].revoked_at.is_some(), "revoked keys are listed as revoked");
    assert!(listed[1].revoked_at.is_none());
}

/// `create_first_team` creates `default` on an empty store, and never again.
async fn first_team_only_once(store: Arc<dyn Store>) {
    assert!(store.list_teams().await.unwrap().is_empty());
    let first = store.create_first_team().await.unwrap().expect("created on an empty store");
    assert_eq!(first.name, "default");
    assert_eq!(store.create_first_team().await.unwrap(), None);
    assert_eq!(store.list_teams().await.unwrap(), std::slice::from_ref(&first));
    let other = store.create_team("other").await.unwrap();
    assert_eq!(store.create_first_team().await.unwrap(), None);
    assert_eq!(store.list_teams().await.unwrap(), [first, other]);
}

/// `create_first_team` does nothing when a team was created some other way first.
async fn first_team_not_after_another(store: Arc<dyn Store>) {
    let t = store.create_team("mine").await.unwrap();
    assert_eq!(store.create_first_team().await.unwrap(), None);
    assert_eq!(store.list_teams().await.unwrap(), [t]);
}

/// Nothing crosses teams: a bot id of one team is another bot (or nothing) in another team.
async fn team_scoping(store: Arc<dyn Store>) {
    let t1 = store.create_team("one").await.unwrap().id;
    let t2 = store.create_team("two").await.unwrap().id;
    let m = |conv: &str, content: &str, user: &str| {
        msg(json!({"conversation_id": conv, "id": "m1", "role": "user", "content": content,
                   "timestamp": at(1), "user_id": user, "channel_type": "web"}))
    };
    ingest(&store, t1, "only1", vec![m("c", "team one private words", "u")]).await;
    ingest(&store, t1, "shared", vec![m("c", "team one in shared", "u")]).await;
    ingest(&store, t2, "shared", vec![m("d", "team two in shared", "u")]).await;

    // The bot of team 1 does not exist for team 2.
    let f = ConversationFilter::default();
    let p = PageRequest::default();
    assert!(is_not_found(store.list_conversations(t2, "only1", &f, &p).await));
    assert!(is_not_found(store.get_conversation(t2, "only1", "c").await));
    assert!(is_not_found(store.delete_conversation(t2, "only1", "c").await));
    assert!(is_not_found(store.delete_user(t2, "only1", "u").await));
    assert!(is_not_found(store.ingest(t2, "only1", false, vec![m("c", "intruder", "u")]).await));
    // Transcripts by numeric id: only the caller's team's.
    let (c1, _) = store.get_conversation(t1, "only1", "c").await.unwrap();
    assert!(store.transcripts(t2, &[c1.pk]).await.unwrap().is_empty());
    let own = store.transcripts(t1, &[c1.pk]).await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(contents(&own[0].1), ["team one private words"]);
    assert!(is_not_found(
        store
            .list_conversations_offset(
                t2,
                &BotSelector::One("only1".into()),
                &OffsetFilter::default(),
                0,
                10,
                true
            )
            .await
    ));

    // Same bot id in both teams: two bots.
    assert_eq!(select(&store, t1, "shared", &[]).await, set(&["c"]));
    assert_eq!(select(&store, t2, "shared", &[]).await, set(&["d"]));
    assert!(is_not_found(store.get_conversation(t2, "shared", "c").await));
    assert!(is_not_found(store.delete_conversation(t2, "shared", "c").await));
    assert_eq!(select(&store, t2, "shared", &[("q", "team")]).await, set(&["d"]));
    assert_eq!(select(&store, t2, "shared", &[("q", "one")]).await, set(&[]));
    assert_eq!(select(&store, t2, "shared", &[("user_id", "u")]).await, set(&["d"]));
    assert_eq!(store.delete_user(t2, "shared", "u").await.unwrap(), 1);
    assert_eq!(select(&store, t1, "shared", &[]).await, set(&["c"]), "team 1 keeps its data");
    let (_, msgs) = store.get_conversation(t1, "shared", "c").await.unwrap();
    assert_eq!(contents(&msgs), ["team one in shared"]);

    let bot_ids =
        |bots: Vec<confab_store::Bot>| bots.into_iter().map(|b| b.bot_id).collect::<Vec<_>>();
    assert_eq!(bot_ids(store.list_bots(t1).await.unwrap()), ["only1", "shared"]);
    assert_eq!(bot_ids(store.list_bots(t2).await.unwrap()), ["shared"]);

    let (items, total) = store
        .list_conversations_offset(
            t1,
            &BotSelector::Team(None),
            &OffsetFilter::default(),
            0,
            10,
            true,
        )
        .await
        .unwrap();
    assert_eq!(total, Some(2));
    assert!(items.iter().all(|c| c.conversation_id == "c"));
    let (_, total) = store
        .list_conversations_offset(
            t2,
            &BotSelector::Team(None),
            &OffsetFilter::default(),
            0,
            10,
            true,
        )
        .await
        .unwrap();
    assert_eq!(total, Some(0), "team 2 erased its only conversation");
    // Creating team 2's own `only1` leaves team 1's alone.
    ingest(&store, t2, "only1", vec![m("c", "team two now", "v")]).await;
    let (_, msgs) = store.get_conversation(t1, "only1", "c").await.unwrap();
    assert_eq!(contents(&msgs), ["team one private words"]);
    let (_, msgs) = store.get_conversation(t2, "only1", "c").await.unwrap();
    assert_eq!(contents(&msgs), ["team two now"]);
}

/// One search configuration for every language: case, accents and letters such as `ß`, `ł`,
/// `æ` fold the same way on both stores; words are whole (no stemming, no stop words, no
/// prefixes); every word of `q` must be in one message.
async fn search_in_any_language(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    let texts = [
        ("de", "Die Straße nach München ist gesperrt, über Köln fahren"),
        ("pl", "Zażółć gęślą jaźń, proszę o fakturę"),
        ("en", "The quick brown fox can't jump over O'Brien's fence"),
        ("fr", "Les élèves ont mangé une crème brûlée"),
        ("da", "Ærø og Øresund"),
        ("hi", "मुझे काम है"),
        ("ar", "مَرْحَبًا بِكُمْ"),
    ];
    let msgs = texts
        .iter()
        .enumerate()
        .map(|(i, (id, text))| plain(id, "user", text, at(i as i64)))
        .collect();
    ingest(&store, team, "b", msgs).await;
    let cases: &[(&str, &[&str])] = &[
        ("strasse", &["de"]),
        ("Straße", &["de"]),
        ("STRASSE münchen", &["de"]),
        ("munchen uber koln", &["de"]),
        ("zazolc", &["pl"]),
        ("fakture prosze", &["pl"]),
        ("Fakturę", &["pl"]),
        ("fox quick", &["en"]),
        ("obrien", &[]),
        ("o brien", &["en"]),
        ("can t", &["en"]),
        ("eleves creme brulee", &["fr"]),
        ("aero oresund", &["da"]),
        ("die", &["de"]),
        ("the", &["en"]),
        ("fox fence gesperrt", &[]),
        ("jumps", &[]),
        ("jum", &[]),
        ("élève", &[]),
        ("काम", &["hi"]),
        ("कम", &[]),
        ("مرحبا", &[]),
    ];
    for (q, want) in cases {
        let mut got = list_all(&store, team, "b", &[("q", q)]).await;
        got.sort();
        assert_eq!(got, *want, "q={q}");
    }
}

/// Numeric ids follow the order conversations first appear in a write, whatever their ids: the
/// tie-break of lists (same start) and the ids vendor APIs show are the same on every store.
async fn ids_follow_arrival(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    let msgs = ["zeta", "alpha", "mid", "alpha", "zeta"]
        .iter()
        .enumerate()
        .map(|(i, id)| plain(id, "user", "hello", at(0) + i64::from(i > 2)))
        .collect();
    ingest(&store, team, "b", msgs).await;
    let listed = list_all(&store, team, "b", &[("sort", "started_at")]).await;
    assert_eq!(listed, ["mid", "alpha", "zeta"]);
    let pks: Vec<i64> = pks_of(&store, team, &["zeta", "alpha", "mid"]).await;
    assert!(pks.windows(2).all(|w| w[0] < w[1]), "{pks:?}");
}

async fn pks_of(store: &Arc<dyn Store>, team: i64, ids: &[&str]) -> Vec<i64> {
    let mut out = vec![];
    for id in ids {
        out.push(store.get_conversation(team, "b", id).await.unwrap().0.pk);
    }
    out
}

/// Transcripts of several conversations (an export page) come in the order asked, each whole
/// and in time order, across bots; other teams' conversations are left out.
async fn transcripts_of_a_page(store: Arc<dyn Store>) {
    let t1 = store.create_team("one").await.unwrap().id;
    let t2 = store.create_team("two").await.unwrap().id;
    let mut msgs = vec![];
    for (conv, n) in [("a", 3), ("b", 1), ("c", 4)] {
        for i in 0..n {
            msgs.push(plain(conv, "user", &format!("{conv} {i}"), at(10 - i)));
        }
    }
    ingest(&store, t1, "x", msgs).await;
    ingest(&store, t1, "y", vec![plain("d", "bot", "d 0", at(1))]).await;
    ingest(&store, t2, "x", vec![plain("a", "user", "foreign", at(1))]).await;
    let pk = |team, bot: &'static str, id: &'static str| {
        let store = store.clone();
        async move { store.get_conversation(team, bot, id).await.unwrap() }
    };
    let (a, b, c, d) = (
        pk(t1, "x", "a").await,
        pk(t1, "x", "b").await,
        pk(t1, "x", "c").await,
        pk(t1, "y", "d").await,
    );
    let foreign = pk(t2, "x", "a").await.0.pk;
    let got = store.transcripts(t1, &[c.0.pk, foreign, d.0.pk, a.0.pk, b.0.pk]).await.unwrap();
    let want: Vec<(i64, Vec<Message>)> =
        [c, d, a, b].into_iter().map(|(conv, messages)| (conv.pk, messages)).collect();
    assert_eq!(got, want);
    assert_eq!(contents(&got[0].1), ["c 3", "c 2", "c 1", "c 0"]);
}

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

backend_tests!([
    idempotent_ingest,
    summaries_out_of_order,
    dimensions_fixed_by_earliest,
    list_filters,
    sort_orders,
    cursor_pagination_stable_under_inserts,
    delete_conversation_and_user,
    api_keys,
    first_team_only_once,
    first_team_not_after_another,
    team_scoping,
    search_in_any_language,
    ids_follow_arrival,
    transcripts_of_a_page,
]);
