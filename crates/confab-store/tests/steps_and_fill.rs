//! What a dashboard asks of the store beyond a list page: conversations by the dialogue steps
//! they passed through (`step`) or stopped at (`last_step`), and datapoint fill rates over any
//! filtered set of conversations (`Store::datapoint_fill`) — the `Store` trait called directly,
//! on every backend (`backend_tests!`). Fill rates are checked against a brute-force count over
//! the listed conversations' datapoints as well as against known numbers.

#[macro_use]
mod backends;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use confab_core::conversation::{IngestOutcome, Status};
use confab_core::datapoints::SchemaInput;
use confab_core::query::{ConversationFilter, PageRequest};
use confab_core::time::{self, Millis};
use confab_core::{MessageInput, NewMessage};
use confab_store::{DatapointFill, Store, StoreError};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const HOUR: Millis = 3_600_000;

/// The clock every message is validated against: fixed, so the tests do not depend on today.
fn now() -> Millis {
    time::parse_rfc3339("now", "2026-06-01T00:00:00Z").unwrap()
}

/// `h` hours after 2026-01-10T00:00:00Z, the origin of the timeline.
fn at(h: i64) -> Millis {
    time::parse_rfc3339("t0", "2026-01-10T00:00:00Z").unwrap() + h * HOUR
}

/// A message of `conversation` at hour `h`, at dialogue step `step` when given.
fn said(conversation: &str, role: &str, content: &str, h: i64, step: Option<&str>) -> NewMessage {
    with(conversation, role, content, h, step, json!({}))
}

/// [`said`], with more wire fields (dimensions) from `extra`.
fn with(
    conversation: &str,
    role: &str,
    content: &str,
    h: i64,
    step: Option<&str>,
    extra: Value,
) -> NewMessage {
    let mut v = json!({"conversation_id": conversation, "role": role, "content": content,
                       "timestamp": at(h)});
    if let Some(step) = step {
        v["step"] = json!({"id": step, "type": "message"});
    }
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value::<MessageInput>(v).unwrap().validate(now()).unwrap()
}

async fn ingest(store: &Arc<dyn Store>, team: i64, bot: &str, msgs: Vec<NewMessage>) {
    let n = msgs.len();
    let out = store.ingest(team, bot, true, msgs).await.unwrap();
    assert_eq!(out, vec![IngestOutcome::Stored; n], "every message is new");
}

fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn filter(p: &[(&str, &str)]) -> ConversationFilter {
    ConversationFilter::from_params(&params(p)).unwrap().0
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Every conversation the parameters select, following pages of `page_size`; each at most once.
async fn select_paged(
    store: &Arc<dyn Store>,
    team: i64,
    bot: &str,
    p: &[(&str, &str)],
    page_size: u32,
) -> BTreeSet<String> {
    let (f, _) = ConversationFilter::from_params(&params(p)).unwrap();
    let mut page = PageRequest { limit: page_size, cursor: None };
    let mut all = vec![];
    loop {
        let got = store.list_conversations(team, bot, &f, &page).await.unwrap();
        all.extend(got.items.into_iter().map(|c| c.conversation_id));
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let unique: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(unique.len(), all.len(), "no conversation listed twice for {p:?}: {all:?}");
    unique
}

async fn select(
    store: &Arc<dyn Store>,
    team: i64,
    bot: &str,
    p: &[(&str, &str)],
) -> BTreeSet<String> {
    select_paged(store, team, bot, p, 100).await
}

/// The fill rates of what the parameters select.
async fn fill(store: &Arc<dyn Store>, team: i64, bot: &str, p: &[(&str, &str)]) -> DatapointFill {
    store.datapoint_fill(team, bot, &filter(p)).await.unwrap()
}

/// The fill rates counted by hand: the listed conversations, and each one's datapoints.
async fn brute_force_fill(
    store: &Arc<dyn Store>,
    team: i64,
    bot: &str,
    p: &[(&str, &str)],
) -> DatapointFill {
    let listed = select(store, team, bot, p).await;
    let mut keys: BTreeMap<String, i64> = BTreeMap::new();
    for id in &listed {
        let (_, values) = store.conversation_datapoints(team, bot, id).await.unwrap();
        for d in values {
            *keys.entry(d.key).or_default() += 1;
        }
    }
    DatapointFill { conversations: listed.len() as i64, keys: keys.into_iter().collect() }
}

fn expect(conversations: i64, keys: &[(&str, i64)]) -> DatapointFill {
    DatapointFill { conversations, keys: keys.iter().map(|(k, n)| (k.to_string(), *n)).collect() }
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound(_)))
}

/// A failure per case whose result differs from what was expected.
fn mismatches<T: PartialEq + std::fmt::Debug>(cases: &[(String, T, T)]) -> Vec<String> {
    cases
        .iter()
        .filter(|(_, want, got)| want != got)
        .map(|(p, want, got)| format!("{p}: expected {want:?}, got {got:?}"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// A checked schema, as the server stores it.
fn schema() -> SchemaInput {
    let input: SchemaInput = serde_json::from_value(json!({"datapoints": [
        {"key": "Name", "type": "name"},
        {"key": "Email", "type": "email"},
        {"key": "Phone", "type": "phone"},
        {"key": "Plan", "type": "choice", "values": ["Basic", "Pro"]}
    ]}))
    .unwrap();
    input.validate().unwrap().input
}

/// Bot `b` of `team`, with a schema (so ingest extracts provisional values) and:
///
/// | id | channel | steps in time order        | last step | datapoints                     |
/// |----|---------|----------------------------|-----------|--------------------------------|
/// | c1 | web     | greet, wrap_up             | wrap_up   | Email, Name (explicit)         |
/// | c2 | sms     | greet, menu                | menu      | Email (explicit); ended        |
/// | c3 | web     | greet (arrives last), menu | menu      | Plan (explicit)                |
/// | c4 | web     | -                          | -         | Email (extracted, provisional) |
///
/// `Phone` is in the schema but has no value anywhere. Bot `other` of the same team has a
/// conversation through `greet` with an Email; so does team `elsewhere`'s bot `b` (and a Zip).
/// Returns the other team's id.
async fn seed(store: &Arc<dyn Store>, team: i64) -> i64 {
    store.put_datapoint_schema(team, "b", true, &schema()).await.unwrap();
    let web = json!({"channel_type": "web"});
    ingest(
        store,
        team,
        "b",
        vec![
            with("c1", "user", "hello", 1, None, web.clone()),
            said("c1", "bot", "Welcome!", 1, Some("greet")),
            said("c1", "bot", "Anything else?", 2, Some("wrap_up")),
            said("c1", "user", "no thanks", 3, None),
            with("c2", "bot", "Welcome!", 2, Some("greet"), json!({"channel_type": "sms"})),
            said("c2", "bot", "Here is the menu", 3, Some("menu")),
            with("c3", "bot", "Today: pizza", 5, Some("menu"), web.clone()),
            with("c4", "bot", "What's your email?", 6, None, web.clone()),
            said("c4", "user", "anna@example.com", 7, None),
        ],
    )
    .await;
    // c3's greeting arrives after its menu, though it came first: the last step stays `menu`.
    ingest(store, team, "b", vec![said("c3", "bot", "Welcome!", 4, Some("greet"))]).await;

    let put = |values: &[(&str, &str)]| -> Vec<(String, Option<Value>)> {
        values.iter().map(|(k, v)| (k.to_string(), Some(json!(v)))).collect()
    };
    for (id, values) in [
        ("c1", put(&[("Email", "c1@example.com"), ("Name", "Ann")])),
        ("c2", put(&[("Email", "c2@example.com")])),
        ("c3", put(&[("Plan", "Pro")])),
    ] {
        store.put_explicit_datapoints(team, "b", id, values).await.unwrap();
    }
    // c4's value came from its transcript, not from the bot.
    let (_, c4) = store.conversation_datapoints(team, "b", "c4").await.unwrap();
    let c4: Vec<(&str, &Value)> = c4.iter().map(|d| (d.key.as_str(), &d.value)).collect();
    assert_eq!(c4, [("Email", &json!("anna@example.com"))]);

    // c2 ends (no extracted values to keep: its explicit Email stays).
    let c2 = store.get_conversation(team, "b", "c2").await.unwrap().0;
    let later = at(100);
    let idle = store.idle_conversations(later, later + HOUR, 100).await.unwrap();
    let c2 = idle.into_iter().find(|c| c.pk == c2.pk).expect("c2 is idle");
    assert!(
        store.finalise(c2.pk, c2.last_message_at, c2.message_count, vec![], later).await.unwrap()
    );
    let (status, c2) = store.conversation_datapoints(team, "b", "c2").await.unwrap();
    assert_eq!((status, c2.len()), (Status::Ended, 1), "the explicit Email stays");

    // Neighbours no query of team/b may count.
    ingest(store, team, "other", vec![said("o1", "bot", "Welcome!", 1, Some("greet"))]).await;
    store
        .put_explicit_datapoints(team, "other", "o1", put(&[("Email", "o@example.com")]))
        .await
        .unwrap();
    let elsewhere = store.create_team("elsewhere").await.unwrap().id;
    ingest(store, elsewhere, "b", vec![said("e1", "bot", "Welcome!", 1, Some("greet"))]).await;
    store
        .put_explicit_datapoints(
            elsewhere,
            "b",
            "e1",
            put(&[("Email", "e@example.com"), ("Zip", "00-950")]),
        )
        .await
        .unwrap();
    elsewhere
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// `step` selects the conversations with a message at that step, several `step`s all of them;
/// `last_step` the conversations whose latest message with a step (by time, not arrival) was
/// there. Both combine with the other filters, and pages split them as any list.
async fn step_filters(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    let elsewhere = seed(&store, team).await;
    let hour_2 = time::format_rfc3339(at(2));
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (vec![], vec!["c1", "c2", "c3", "c4"]),
        (vec![("step", "greet")], vec!["c1", "c2", "c3"]),
        (vec![("step", "menu")], vec!["c2", "c3"]),
        (vec![("step", "wrap_up")], vec!["c1"]),
        (vec![("step", "GREET")], vec![]),
        (vec![("step", "nowhere")], vec![]),
        // Several steps: all of them.
        (vec![("step", "greet"), ("step", "menu")], vec!["c2", "c3"]),
        (vec![("step", "greet"), ("step", "wrap_up")], vec!["c1"]),
        (vec![("step", "menu"), ("step", "wrap_up")], vec![]),
        (vec![("step", "greet"), ("step", "greet")], vec!["c1", "c2", "c3"]),
        // The last step.
        (vec![("last_step", "wrap_up")], vec!["c1"]),
        (vec![("last_step", "menu")], vec!["c2", "c3"]),
        // c3's greeting arrived last, but it is the earlier message.
        (vec![("last_step", "greet")], vec![]),
        (vec![("last_step", "nowhere")], vec![]),
        (vec![("step", "greet"), ("last_step", "menu")], vec!["c2", "c3"]),
        (vec![("step", "wrap_up"), ("last_step", "menu")], vec![]),
        // With the other filters.
        (vec![("step", "greet"), ("channel_type", "web")], vec!["c1", "c3"]),
        (vec![("last_step", "menu"), ("status", "ended")], vec!["c2"]),
        (vec![("last_step", "menu"), ("status", "active")], vec!["c3"]),
        (vec![("step", "menu"), ("q", "pizza")], vec!["c3"]),
        (vec![("step", "greet"), ("datapoint", "Email")], vec!["c1", "c2"]),
        (vec![("step", "greet"), ("start_time", &hour_2)], vec!["c2", "c3"]),
        (
            vec![("step", "menu"), ("sort", "last_message_at"), ("time_field", "last_message_at")],
            vec!["c2", "c3"],
        ),
    ];
    let mut results = vec![];
    for (p, want) in &cases {
        results.push((format!("{p:?}"), set(want), select(&store, team, "b", p).await));
        // One conversation a page: the cursor carries the step filters from page to page.
        results.push((
            format!("{p:?} by pages of 1"),
            set(want),
            select_paged(&store, team, "b", p, 1).await,
        ));
    }
    let failures = mismatches(&results);
    assert!(failures.is_empty(), "step filters that selected wrongly:\n{}", failures.join("\n"));

    // Another bot's and another team's conversations through the same step stay theirs.
    assert_eq!(select(&store, team, "other", &[("step", "greet")]).await, set(&["o1"]));
    assert_eq!(select(&store, elsewhere, "b", &[("step", "greet")]).await, set(&["e1"]));
    assert_eq!(select(&store, elsewhere, "b", &[("last_step", "menu")]).await, set(&[]));
}

/// Fill rates: the matching conversations and, per key, how many of them have a value (any
/// method, provisional or final); keys no matching conversation has are absent. Every filter
/// of the list applies; the sort changes nothing. Each case also equals a count by hand over
/// the list and the conversations' datapoints.
async fn datapoint_fill_rates(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    let elsewhere = seed(&store, team).await;
    let hour_4 = time::format_rfc3339(at(4));
    let all = expect(4, &[("Email", 3), ("Name", 1), ("Plan", 1)]);
    type Case<'a> = (Vec<(&'a str, &'a str)>, DatapointFill);
    let cases: Vec<Case> = vec![
        // No filter: `Phone` (in the schema, never given) and other bots' keys are absent.
        (vec![], all.clone()),
        (vec![("sort", "last_message_at")], all.clone()),
        (vec![("channel_type", "web")], expect(3, &[("Email", 2), ("Name", 1), ("Plan", 1)])),
        (vec![("channel_type", "sms")], expect(1, &[("Email", 1)])),
        (vec![("channel_type", "telegram")], DatapointFill::default()),
        (vec![("status", "ended")], expect(1, &[("Email", 1)])),
        (vec![("status", "active")], expect(3, &[("Email", 2), ("Name", 1), ("Plan", 1)])),
        (vec![("step", "menu")], expect(2, &[("Email", 1), ("Plan", 1)])),
        (vec![("step", "greet"), ("step", "wrap_up")], expect(1, &[("Email", 1), ("Name", 1)])),
        (vec![("last_step", "menu")], expect(2, &[("Email", 1), ("Plan", 1)])),
        (vec![("last_step", "greet")], DatapointFill::default()),
        (vec![("datapoint", "Email")], expect(3, &[("Email", 3), ("Name", 1)])),
        (vec![("datapoint", "Plan=Pro")], expect(1, &[("Plan", 1)])),
        (vec![("q", "pizza")], expect(1, &[("Plan", 1)])),
        (vec![("q", "nothing matches this")], DatapointFill::default()),
        (vec![("min_messages", "2")], expect(4, &[("Email", 3), ("Name", 1), ("Plan", 1)])),
        (vec![("min_messages", "3")], expect(1, &[("Email", 1), ("Name", 1)])),
        (vec![("start_time", &hour_4)], expect(2, &[("Email", 1), ("Plan", 1)])),
        (
            vec![("time_field", "last_message_at"), ("end_time", &hour_4)],
            expect(2, &[("Email", 2), ("Name", 1)]),
        ),
    ];
    let mut results = vec![];
    let mut by_hand = vec![];
    for (p, want) in &cases {
        let got = fill(&store, team, "b", p).await;
        by_hand.push((format!("{p:?}"), brute_force_fill(&store, team, "b", p).await, got.clone()));
        results.push((format!("{p:?}"), want.clone(), got));
    }
    let failures = mismatches(&results);
    assert!(failures.is_empty(), "fill rates that differ:\n{}", failures.join("\n"));
    let failures = mismatches(&by_hand);
    assert!(failures.is_empty(), "fill rates unlike a count by hand:\n{}", failures.join("\n"));

    // A bot with no conversation: nothing at all.
    store.put_datapoint_schema(team, "empty", true, &schema()).await.unwrap();
    assert_eq!(fill(&store, team, "empty", &[]).await, DatapointFill::default());

    // Unknown bots are not found, in this team or another one's.
    assert!(is_not_found(store.datapoint_fill(team, "nobot", &filter(&[])).await));
    assert!(is_not_found(store.datapoint_fill(elsewhere, "other", &filter(&[])).await));
    assert!(is_not_found(store.datapoint_fill(team + elsewhere + 1, "b", &filter(&[])).await));
    // The same bot id in two teams: each sees its own.
    assert_eq!(fill(&store, elsewhere, "b", &[]).await, expect(1, &[("Email", 1), ("Zip", 1)]));
    assert_eq!(fill(&store, team, "other", &[]).await, expect(1, &[("Email", 1)]));

    // Erasing a conversation takes its values out of the rates.
    store.delete_conversation(team, "b", "c1").await.unwrap();
    assert_eq!(fill(&store, team, "b", &[]).await, expect(3, &[("Email", 2), ("Plan", 1)]));
}

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

backend_tests!([step_filters, datapoint_fill_rates]);
