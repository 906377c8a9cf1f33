//! A conversation's lifecycle at the store: provisional datapoints written by ingest, explicit
//! values, the finaliser's lease and compare-and-set, and the webhook outbox — the `Store` trait
//! called directly, on every backend (`backend_tests!`), with the races the server relies on the
//! store to settle (finalisers, senders and writers running at once).
//! Time is the test's wherever the trait takes it (`now` of the finaliser and the sender); ingest,
//! explicit values and new subscriptions are stamped by the store's clock, checked in a window.

#[macro_use]
mod backends;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use confab_core::bot::BotSettings;
use confab_core::buckets::{Bucket, TimeZone};
use confab_core::conversation::{IngestOutcome, Status};
use confab_core::datapoints::{Datapoint, Evidence, Method, NewDatapoint, SchemaInput};
use confab_core::extract::{self, Turn};
use confab_core::series::{SeriesRequest, Stat};
use confab_core::time::{self, Millis, now_millis};
use confab_core::webhook::{DeliveryState, Event, NewWebhook, WebhookInput};
use confab_core::{MessageInput, NewMessage, Role};
use confab_store::{
    BotSelector, Delivery, DeliveryResult, DueDelivery, IdleConversation, Store, StoreError,
    Webhook,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const SEC: Millis = 1000;
const MIN: Millis = 60 * SEC;
const HOUR: Millis = 60 * MIN;
/// The default inactivity timeout.
const IDLE: Millis = 600 * SEC;
/// How long the tests lease what they claim.
const LEASE: Millis = 5 * MIN;

/// The clock every message is validated against: fixed, so the tests do not depend on today.
fn now() -> Millis {
    time::parse_rfc3339("now", "2026-06-01T00:00:00Z").unwrap()
}

/// Every conversation here starts at this time (seconds are offsets from it).
fn base() -> Millis {
    time::parse_rfc3339("base", "2026-01-10T10:00:00Z").unwrap()
}

/// `s` seconds after [`base`].
fn at(s: i64) -> Millis {
    base() + s * SEC
}

/// A validated message from its wire form.
fn msg(v: Value) -> NewMessage {
    serde_json::from_value::<MessageInput>(v).unwrap().validate(now()).unwrap()
}

/// A message with a client id, `s` seconds after [`base`].
fn said(conversation: &str, id: &str, role: &str, content: &str, s: i64) -> NewMessage {
    msg(json!({"conversation_id": conversation, "id": id, "role": role, "content": content,
               "timestamp": at(s)}))
}

fn schema() -> SchemaInput {
    serde_json::from_value(json!({"datapoints": [
        {"key": "Name", "type": "name"},
        {"key": "Email", "type": "email"},
        {"key": "Phone", "type": "phone"},
        {"key": "Plan", "type": "choice", "values": ["Basic", "Pro"]}
    ]}))
    .unwrap()
}

fn us_settings(inactivity_timeout_seconds: u32) -> BotSettings {
    BotSettings {
        inactivity_timeout_seconds,
        phone_region: Some("US".into()),
        ..BotSettings::default()
    }
}

/// Gives `bot` (created) the usual schema, with US phone numbers and the default timeout.
async fn setup_bot(store: &Arc<dyn Store>, team: i64, bot: &str) {
    let checked = schema().validate().unwrap();
    store.put_datapoint_schema(team, bot, true, &checked.input).await.unwrap();
    store.put_bot_settings(team, bot, false, &us_settings(600)).await.unwrap();
}

async fn ingest(store: &Arc<dyn Store>, team: i64, bot: &str, msgs: Vec<NewMessage>) {
    let n = msgs.len();
    let out = store.ingest(team, bot, true, msgs).await.unwrap();
    assert_eq!(out, vec![IngestOutcome::Stored; n], "every message is new");
}

/// A datapoint without `updated_at` (the store's clock for ingest and explicit values).
#[derive(Debug, Clone, PartialEq)]
struct Dp {
    key: String,
    value: Value,
    method: Method,
    message_id: Option<String>,
    message_at: Option<Millis>,
}

fn dps(values: &[Datapoint]) -> Vec<Dp> {
    values
        .iter()
        .map(|d| Dp {
            key: d.key.clone(),
            value: d.value.clone(),
            method: d.method,
            message_id: d.message_id.clone(),
            message_at: d.message_at,
        })
        .collect()
}

/// A value extracted by the rules from the message with client id `id` at `s` seconds.
fn rule(key: &str, value: &str, id: Option<&str>, s: i64) -> Dp {
    Dp {
        key: key.into(),
        value: json!(value),
        method: Method::Rule,
        message_id: id.map(str::to_owned),
        message_at: Some(at(s)),
    }
}

/// A value with no source message (given by the bot, or by the LLM pass).
fn sourceless(key: &str, value: &str, method: Method) -> Dp {
    Dp { key: key.into(), value: json!(value), method, message_id: None, message_at: None }
}

/// A conversation's status and values (sorted by key, as the store lists them).
async fn values(store: &Arc<dyn Store>, team: i64, bot: &str, id: &str) -> (Status, Vec<Dp>) {
    let (status, values) = store.conversation_datapoints(team, bot, id).await.unwrap();
    (status, dps(&values))
}

/// Each key's evidence in a conversation (sorted by key).
async fn evidence_of(
    store: &Arc<dyn Store>,
    team: i64,
    bot: &str,
    id: &str,
) -> Vec<(String, Option<Evidence>)> {
    let (_, values) = store.conversation_datapoints(team, bot, id).await.unwrap();
    values.into_iter().map(|d| (d.key, d.evidence)).collect()
}

fn evidence(pairs: &[(&str, Option<Evidence>)]) -> Vec<(String, Option<Evidence>)> {
    pairs.iter().map(|(k, e)| ((*k).to_owned(), *e)).collect()
}

async fn pk_of(store: &Arc<dyn Store>, team: i64, bot: &str, id: &str) -> i64 {
    store.get_conversation(team, bot, id).await.unwrap().0.pk
}

async fn status_of(store: &Arc<dyn Store>, team: i64, bot: &str, id: &str) -> Status {
    let (conv, _) = store.get_conversation(team, bot, id).await.unwrap();
    let (status, _) = store.conversation_datapoints(team, bot, id).await.unwrap();
    assert_eq!(conv.status, status, "the conversation and its datapoints agree on {id}");
    status
}

/// The numeric ids of the conversations idle at `now`, leased until `lease_until`.
async fn idle_pks(store: &Arc<dyn Store>, now: Millis, lease_until: Millis) -> Vec<i64> {
    let idle = store.idle_conversations(now, lease_until, 100).await.unwrap();
    idle.iter().map(|c| c.pk).collect()
}

/// What the server's finaliser computes without an LLM: the values the rules find in the whole
/// transcript, each pointing at its message's row.
fn final_values(conv: &IdleConversation) -> Vec<NewDatapoint> {
    let Some(input) = conv.schema.clone() else { return vec![] };
    let schema = input.validate().unwrap();
    let ctx = conv.settings.context().unwrap();
    let turns: Vec<Turn> = conv
        .messages
        .iter()
        .map(|m| Turn { role: m.role, text: &m.content, at: m.timestamp })
        .collect();
    extract::extract(&schema, &turns, &ctx)
        .into_iter()
        .map(|(key, found)| NewDatapoint {
            key,
            value: found.value,
            method: Method::Rule,
            evidence: Some(found.evidence),
            message_pk: Some(conv.messages[found.turn].pk),
        })
        .collect()
}

/// One round of the finaliser without an LLM: ends every conversation idle at `now` with its
/// final values; returns how many it ended.
async fn finalise_idle(store: &Arc<dyn Store>, now: Millis) -> usize {
    let mut ended = 0;
    for conv in store.idle_conversations(now, now + LEASE, 100).await.unwrap() {
        let values = final_values(&conv);
        if store
            .finalise(conv.pk, conv.last_message_at, conv.message_count, values, now)
            .await
            .unwrap()
        {
            ended += 1;
        }
    }
    ended
}

fn subscription(url: &str, events: &[&str]) -> NewWebhook {
    let events = events.iter().map(|e| (*e).to_owned()).collect();
    WebhookInput { url: url.into(), events, secret: None }.validate().unwrap()
}

/// A subscription's deliveries, newest first (all of them: fewer than a page).
async fn deliveries(store: &Arc<dyn Store>, team: i64, bot: &str, hook: i64) -> Vec<Delivery> {
    store.list_deliveries(team, bot, hook, None, None, 100).await.unwrap()
}

fn events_of(deliveries: &[Delivery]) -> Vec<&str> {
    deliveries.iter().map(|d| d.event.as_str()).collect()
}

fn ids_of(claimed: &[DueDelivery]) -> BTreeSet<i64> {
    claimed.iter().map(|d| d.id).collect()
}

/// A time at which everything queued so far is due, whichever clock stamped it (ingest and
/// explicit values queue events at the store's clock, the finaliser at the test's).
fn all_due_after(t: Millis) -> Millis {
    now_millis().max(t) + HOUR
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound(_)))
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// Each ingest continues the conversation's extraction in its own transaction: the values
/// appear as messages arrive, by rule, pointing at the message they came from, and a value that
/// did not change keeps its `updated_at`.
async fn provisional_values_on_ingest(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    setup_bot(&store, team, "shop").await;
    assert_eq!(store.datapoint_schema(team, "shop").await.unwrap(), Some(schema()));
    assert_eq!(store.bot_settings(team, "shop").await.unwrap(), us_settings(600));

    let steps: Vec<(NewMessage, Vec<Dp>)> = vec![
        (said("c", "m1", "bot", "Hi! What's your name?", 0), vec![]),
        (
            said("c", "m2", "user", "Anna Kowalska", 10),
            vec![rule("Name", "Anna Kowalska", Some("m2"), 10)],
        ),
        (said("c", "m3", "bot", "Thanks Anna. What's your email?", 20), vec![]),
        (
            said("c", "m4", "user", "anna@example.com", 30),
            vec![rule("Email", "anna@example.com", Some("m4"), 30)],
        ),
        (said("c", "m5", "bot", "Which plan would you like, Basic or Pro?", 40), vec![]),
        (
            said("c", "m6", "user", "Pro please, and my phone is (415) 555-2671", 50),
            vec![
                rule("Plan", "Pro", Some("m6"), 50),
                rule("Phone", "+14155552671", Some("m6"), 50),
            ],
        ),
        // Without a client id: the value has its message's time but no id to point at.
        (
            msg(json!({"conversation_id": "c", "role": "user", "timestamp": at(60),
                       "content": "sorry, it's actually anna.k@example.com"})),
            vec![rule("Email", "anna.k@example.com", None, 60)],
        ),
    ];
    let mut want: BTreeMap<String, Dp> = BTreeMap::new();
    let mut stamps: BTreeMap<String, Millis> = BTreeMap::new();
    for (m, found) in steps {
        let what = m.content.clone();
        let before = now_millis();
        ingest(&store, team, "shop", vec![m]).await;
        let after = now_millis();
        let changed: BTreeSet<String> = found.iter().map(|d| d.key.clone()).collect();
        want.extend(found.into_iter().map(|d| (d.key.clone(), d)));
        let (status, got) = store.conversation_datapoints(team, "shop", "c").await.unwrap();
        assert_eq!(status, Status::Active, "after {what:?}");
        assert_eq!(dps(&got), want.values().cloned().collect::<Vec<_>>(), "after {what:?}");
        for d in &got {
            if changed.contains(&d.key) {
                assert!((before..=after).contains(&d.updated_at), "{d:?} after {what:?}");
                stamps.insert(d.key.clone(), d.updated_at);
            } else {
                assert_eq!(d.updated_at, stamps[&d.key], "{d:?} unchanged by {what:?}");
            }
        }
    }

    // The same values by numeric id, for this team only.
    let pk = pk_of(&store, team, "shop", "c").await;
    let (_, current) = store.conversation_datapoints(team, "shop", "c").await.unwrap();
    assert_eq!(store.datapoints_of(team, &[pk]).await.unwrap(), vec![(pk, current)]);
    let other = store.create_team("other").await.unwrap().id;
    assert_eq!(store.datapoints_of(other, &[pk]).await.unwrap(), vec![]);
    assert!(is_not_found(store.conversation_datapoints(other, "shop", "c").await));
    assert!(is_not_found(store.conversation_datapoints(team, "shop", "nope").await));
    assert!(is_not_found(store.conversation_datapoints(team, "nobot", "c").await));

    // A bot without a schema collects nothing.
    ingest(&store, team, "plain", vec![said("c", "m1", "user", "my email is a@example.com", 0)])
        .await;
    assert_eq!(store.datapoint_schema(team, "plain").await.unwrap(), None);
    assert_eq!(values(&store, team, "plain", "c").await, (Status::Active, vec![]));
}

/// Values the bot gives win over extraction, on ingest and at finalisation; `None` takes an
/// explicit value back (and only an explicit one), and the transcript's value stands again at
/// the next finalisation. Changes queue `datapoints.updated`; a put that changes nothing does
/// not.
async fn explicit_values_win(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    setup_bot(&store, team, "shop").await;
    let hook = store
        .create_webhook(
            team,
            "shop",
            false,
            &subscription("https://x.test/h", &["datapoints.updated"]),
        )
        .await
        .unwrap()
        .id;
    let updates =
        |store: Arc<dyn Store>| async move { deliveries(&store, team, "shop", hook).await.len() };
    ingest(
        &store,
        team,
        "shop",
        vec![
            said("c", "m1", "bot", "What's your email?", 0),
            said("c", "m2", "user", "anna@example.com", 10),
        ],
    )
    .await;
    assert_eq!(updates(store.clone()).await, 1);

    let put = vec![
        ("Email".to_owned(), Some(json!("boss@example.com"))),
        ("Plan".to_owned(), Some(json!("Pro"))),
    ];
    let before = now_millis();
    let (status, got) =
        store.put_explicit_datapoints(team, "shop", "c", put.clone()).await.unwrap();
    let after = now_millis();
    let given = vec![
        sourceless("Email", "boss@example.com", Method::Explicit),
        sourceless("Plan", "Pro", Method::Explicit),
    ];
    assert_eq!((status, dps(&got)), (Status::Active, given.clone()));
    assert!(got.iter().all(|d| (before..=after).contains(&d.updated_at)), "{got:?}");
    assert_eq!(values(&store, team, "shop", "c").await, (Status::Active, given.clone()));
    assert_eq!(updates(store.clone()).await, 2);
    // The same values again change nothing and queue nothing.
    let (_, again) = store.put_explicit_datapoints(team, "shop", "c", put).await.unwrap();
    assert_eq!(dps(&again), given);
    assert_eq!(updates(store.clone()).await, 2);

    // Later messages that would give other values do not replace explicit ones.
    ingest(
        &store,
        team,
        "shop",
        vec![
            said("c", "m3", "user", "my email is other@example.com", 20),
            said("c", "m4", "user", "my plan is Basic", 30),
            said("c", "m5", "bot", "What's your name?", 40),
            said("c", "m6", "user", "Bob", 50),
        ],
    )
    .await;
    let with_name = vec![given[0].clone(), rule("Name", "Bob", Some("m6"), 50), given[1].clone()];
    assert_eq!(values(&store, team, "shop", "c").await, (Status::Active, with_name.clone()));
    assert_eq!(updates(store.clone()).await, 3, "only the name changed");

    // Nor does finalisation, though the rules found other values in the transcript.
    let end = at(50) + IDLE;
    let [conv] = store.idle_conversations(end, end + LEASE, 10).await.unwrap().try_into().unwrap();
    let proposed = final_values(&conv);
    let proposed_keys: Vec<(&str, &Value)> =
        proposed.iter().map(|v| (v.key.as_str(), &v.value)).collect();
    assert_eq!(
        proposed_keys,
        [
            ("Email", &json!("other@example.com")),
            ("Name", &json!("Bob")),
            ("Plan", &json!("Basic"))
        ]
    );
    assert!(
        store
            .finalise(conv.pk, conv.last_message_at, conv.message_count, proposed, end)
            .await
            .unwrap()
    );
    assert_eq!(values(&store, team, "shop", "c").await, (Status::Ended, with_name.clone()));
    assert_eq!(updates(store.clone()).await, 3, "finalisation changed nothing");

    // `None` removes an explicit value; on a rule value it does nothing. Ending stays.
    let (status, got) = store
        .put_explicit_datapoints(
            team,
            "shop",
            "c",
            vec![("Plan".to_owned(), None), ("Name".to_owned(), None)],
        )
        .await
        .unwrap();
    let without_plan = with_name[..2].to_vec();
    assert_eq!((status, dps(&got)), (Status::Ended, without_plan.clone()));
    assert_eq!(values(&store, team, "shop", "c").await, (Status::Ended, without_plan));
    assert_eq!(updates(store.clone()).await, 4);

    // The next finalisation fills the key from the transcript again.
    ingest(&store, team, "shop", vec![said("c", "m7", "user", "thanks, bye", 60)]).await;
    assert_eq!(status_of(&store, team, "shop", "c").await, Status::Active);
    assert_eq!(finalise_idle(&store, at(60) + IDLE).await, 1);
    let (status, got) = values(&store, team, "shop", "c").await;
    assert_eq!(status, Status::Ended);
    assert_eq!(
        got,
        vec![
            given[0].clone(),
            rule("Name", "Bob", Some("m6"), 50),
            rule("Plan", "Basic", Some("m4"), 30)
        ]
    );
    assert_eq!(updates(store.clone()).await, 5);

    // Unknown conversation, bot or team: not found, nothing written.
    let one = || vec![("Plan".to_owned(), Some(json!("Pro")))];
    assert!(is_not_found(store.put_explicit_datapoints(team, "shop", "nope", one()).await));
    assert!(is_not_found(store.put_explicit_datapoints(team, "nobot", "c", one()).await));
    let other = store.create_team("other").await.unwrap().id;
    assert!(is_not_found(store.put_explicit_datapoints(other, "shop", "c", one()).await));
    assert_eq!(values(&store, team, "shop", "c").await.1, got);
}

/// Each value keeps why extraction gave it, through every reader (by conversation, by numeric
/// id, the webhook payloads): ingest stores the walk's evidence and replaces it when a later
/// message gives the same value stronger evidence (the user confirming it: a change, queued as
/// `datapoints.updated`, since the payloads show it); the finaliser's
/// values keep theirs; explicit and LLM values have none, and an explicit value put over an
/// extracted one drops the extracted value's evidence.
async fn evidence_round_trips(store: Arc<dyn Store>) {
    use Evidence::{Asked, Confirmed, Corrected, Order};
    let team = store.create_team("t").await.unwrap().id;
    setup_bot(&store, team, "shop").await;
    let ended = subscription("https://x.test/ended", &["conversation.ended"]);
    store.create_webhook(team, "shop", false, &ended).await.unwrap();
    let updated = subscription("https://x.test/updated", &["datapoints.updated"]);
    let updated = store.create_webhook(team, "shop", false, &updated).await.unwrap().id;
    let email = |store: Arc<dyn Store>| async move {
        let (_, values) = store.conversation_datapoints(team, "shop", "c").await.unwrap();
        let d = values.into_iter().find(|d| d.key == "Email").expect("an email");
        (d.value, d.evidence, d.message_id)
    };

    ingest(
        &store,
        team,
        "shop",
        vec![
            said("c", "m1", "bot", "What's your email?", 0),
            said("c", "m2", "user", "anna@example.com", 10),
        ],
    )
    .await;
    let asked = (json!("anna@example.com"), Some(Asked), Some("m2".to_owned()));
    assert_eq!(email(store.clone()).await, asked);
    // The same value, confirmed: the evidence and the message it points at move on.
    ingest(
        &store,
        team,
        "shop",
        vec![
            said("c", "m3", "bot", "So your email is anna@example.com, is that right?", 20),
            said("c", "m4", "user", "yes", 30),
        ],
    )
    .await;
    let confirmed = (json!("anna@example.com"), Some(Confirmed), Some("m4".to_owned()));
    assert_eq!(email(store.clone()).await, confirmed);
    assert_eq!(deliveries(&store, team, "shop", updated).await.len(), 2, "a change to show");
    ingest(
        &store,
        team,
        "shop",
        vec![said("c", "m5", "user", "sorry, it's actually anna.k@example.com", 40)],
    )
    .await;
    let corrected = (json!("anna.k@example.com"), Some(Corrected), Some("m5".to_owned()));
    assert_eq!(email(store.clone()).await, corrected);

    // Explicit values have none, also over an extracted one.
    ingest(
        &store,
        team,
        "shop",
        vec![said("c", "m6", "bot", "What's your name?", 50), said("c", "m7", "user", "Anna", 60)],
    )
    .await;
    assert_eq!(
        evidence_of(&store, team, "shop", "c").await,
        evidence(&[("Email", Some(Corrected)), ("Name", Some(Asked))])
    );
    let put = vec![("Name".to_owned(), Some(json!("Anna Kowalska")))];
    let (_, got) = store.put_explicit_datapoints(team, "shop", "c", put).await.unwrap();
    let name = got.iter().find(|d| d.key == "Name").unwrap();
    assert_eq!((name.method, name.evidence), (Method::Explicit, None));
    let pk = pk_of(&store, team, "shop", "c").await;
    let (_, current) = store.conversation_datapoints(team, "shop", "c").await.unwrap();
    assert_eq!(store.datapoints_of(team, &[pk]).await.unwrap(), vec![(pk, current)]);

    // The finaliser's values: the rules' (with the evidence the whole transcript gives), one
    // found only by the full pass, and one from the LLM pass.
    let end = at(60) + IDLE;
    let [conv] = store.idle_conversations(end, end + LEASE, 10).await.unwrap().try_into().unwrap();
    let mut finals = final_values(&conv);
    let proposed: Vec<_> = finals.iter().map(|v| (v.key.as_str(), v.evidence)).collect();
    assert_eq!(proposed, [("Email", Some(Corrected)), ("Name", Some(Asked))]);
    finals.push(NewDatapoint {
        key: "Phone".into(),
        value: json!("+14155552671"),
        method: Method::Rule,
        evidence: Some(Order),
        message_pk: Some(conv.messages[4].pk),
    });
    finals.push(NewDatapoint {
        key: "Plan".into(),
        value: json!("Pro"),
        method: Method::Llm,
        evidence: None,
        message_pk: None,
    });
    assert!(
        store
            .finalise(conv.pk, conv.last_message_at, conv.message_count, finals, end)
            .await
            .unwrap()
    );
    let want = evidence(&[
        ("Email", Some(Corrected)),
        ("Name", None),
        ("Phone", Some(Order)),
        ("Plan", None),
    ]);
    assert_eq!(evidence_of(&store, team, "shop", "c").await, want);
    let (_, current) = store.conversation_datapoints(team, "shop", "c").await.unwrap();
    assert_eq!(store.datapoints_of(team, &[pk]).await.unwrap(), vec![(pk, current)]);

    // The `conversation.ended` payload shows the same.
    let claimed = store.claim_deliveries(all_due_after(end), end + HOUR, 100).await.unwrap();
    let [delivery] =
        &claimed.iter().filter(|d| d.event == "conversation.ended").collect::<Vec<_>>()[..]
    else {
        panic!("one conversation.ended in {claimed:?}")
    };
    let payload: Value = serde_json::from_str(&delivery.payload).unwrap();
    let shown: Vec<(&str, &Value)> = payload["datapoints"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), &v["evidence"]))
        .collect();
    assert_eq!(
        shown,
        [
            ("Email", &json!("corrected")),
            ("Name", &Value::Null),
            ("Phone", &json!("order")),
            ("Plan", &Value::Null)
        ]
    );
}

/// `idle_conversations` takes only conversations idle past their own bot's timeout;
/// `finalise` ends one only if it is still as read — same last message time and count — and
/// only once; a later message reopens it (not a retried one), a message timestamped before the
/// last one too, and it ends again.
async fn finalise_compare_and_set(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    setup_bot(&store, team, "fast").await;
    setup_bot(&store, team, "slow").await;
    store.put_bot_settings(team, "fast", false, &us_settings(60)).await.unwrap();
    assert_eq!(store.bot_settings(team, "fast").await.unwrap(), us_settings(60));
    assert_eq!(store.bot_settings(team, "slow").await.unwrap(), us_settings(600));
    assert!(is_not_found(store.bot_settings(team, "nobot").await));
    assert!(is_not_found(store.put_bot_settings(team, "nobot", false, &us_settings(60)).await));
    let hook = subscription("https://x.test/h", &["conversation.ended"]);
    let hook = store.create_webhook(team, "fast", false, &hook).await.unwrap().id;
    ingest(
        &store,
        team,
        "fast",
        vec![
            said("a", "m1", "bot", "What's your email?", 0),
            said("a", "m2", "user", "a@example.com", 10),
        ],
    )
    .await;
    ingest(&store, team, "slow", vec![said("b", "m1", "user", "my email is b@example.com", 20)])
        .await;
    let (a, b) = (pk_of(&store, team, "fast", "a").await, pk_of(&store, team, "slow", "b").await);

    // Each bot's own timeout; leases here end at once (see `leases`).
    assert_eq!(idle_pks(&store, at(10) + 59 * SEC, at(10) + 59 * SEC).await, Vec::<i64>::new());
    let t = at(10) + MIN;
    let [idle] = store.idle_conversations(t, t, 10).await.unwrap().try_into().unwrap();
    assert_eq!(
        (idle.pk, idle.team_id, idle.bot_id.as_str(), idle.last_message_at, idle.message_count),
        (a, team, "fast", at(10), 2)
    );
    assert_eq!((idle.schema.clone(), idle.settings.clone()), (Some(schema()), us_settings(60)));
    let transcript: Vec<(Option<&str>, Role, &str, Millis)> = idle
        .messages
        .iter()
        .map(|m| (m.client_id.as_deref(), m.role, m.content.as_str(), m.timestamp))
        .collect();
    assert_eq!(
        transcript,
        [
            (Some("m1"), Role::Bot, "What's your email?", at(0)),
            (Some("m2"), Role::User, "a@example.com", at(10)),
        ]
    );
    assert_eq!(idle_pks(&store, at(20) + IDLE - SEC, at(20) + IDLE - SEC).await, vec![a]);
    assert_eq!(idle_pks(&store, at(20) + IDLE, at(20) + IDLE).await, vec![a, b], "oldest first");

    // A stale read changes nothing: not the status, not the values, no event.
    let end = at(20) + IDLE;
    let values_before = store.conversation_datapoints(team, "fast", "a").await.unwrap();
    let finals = final_values(&idle);
    for (last, count) in [(at(10) - 1, 2), (at(10) + 1, 2), (at(10), 1), (at(10), 3)] {
        let ended = store.finalise(a, last, count, finals.clone(), end).await.unwrap();
        assert!(!ended, "finalise with ({last}, {count}) must not end it");
    }
    assert_eq!(store.conversation_datapoints(team, "fast", "a").await.unwrap(), values_before);
    assert_eq!(deliveries(&store, team, "fast", hook).await, vec![]);

    // The right read ends it, once.
    assert!(store.finalise(a, at(10), 2, finals.clone(), end).await.unwrap());
    assert!(!store.finalise(a, at(10), 2, finals.clone(), end).await.unwrap());
    assert_eq!(status_of(&store, team, "fast", "a").await, Status::Ended);
    assert_eq!(
        values(&store, team, "fast", "a").await,
        (Status::Ended, vec![rule("Email", "a@example.com", Some("m2"), 10)])
    );
    assert_eq!(events_of(&deliveries(&store, team, "fast", hook).await), ["conversation.ended"]);
    assert_eq!(idle_pks(&store, end + HOUR, end + HOUR).await, vec![b], "an ended one is done");
    assert_eq!(status_of(&store, team, "slow", "b").await, Status::Active);

    // A retried message (same client id) is not news: it stays ended.
    let out = store
        .ingest(team, "fast", false, vec![said("a", "m2", "user", "a@example.com", 10)])
        .await
        .unwrap();
    assert_eq!(out, [IngestOutcome::Duplicate]);
    assert_eq!(status_of(&store, team, "fast", "a").await, Status::Ended);
    assert_eq!(idle_pks(&store, end + HOUR, end + HOUR).await, vec![b]);

    // A late message stamped before the last reopens it, the last message time unchanged: the
    // count tells the old read from the new.
    ingest(&store, team, "fast", vec![said("a", "m3", "user", "call me (415) 555-2671", 5)]).await;
    assert_eq!(status_of(&store, team, "fast", "a").await, Status::Active);
    let t = end + HOUR;
    let idle = store.idle_conversations(t, t, 10).await.unwrap();
    let seen: Vec<(i64, Millis, i64)> =
        idle.iter().map(|c| (c.pk, c.last_message_at, c.message_count)).collect();
    assert_eq!(seen, [(a, at(10), 3), (b, at(20), 1)]);
    assert!(!store.finalise(a, at(10), 2, finals, t).await.unwrap(), "the old read is stale");
    assert_eq!(status_of(&store, team, "fast", "a").await, Status::Active);
    assert!(store.finalise(a, at(10), 3, final_values(&idle[0]), t).await.unwrap());
    assert_eq!(
        values(&store, team, "fast", "a").await,
        (
            Status::Ended,
            vec![
                rule("Email", "a@example.com", Some("m2"), 10),
                rule("Phone", "+14155552671", Some("m3"), 5),
            ]
        )
    );

    // A later message reopens it; idle again only once the timeout has passed since it.
    let late = 2 * 3600;
    ingest(&store, team, "fast", vec![said("a", "m4", "user", "one more thing", late)]).await;
    assert_eq!(status_of(&store, team, "fast", "a").await, Status::Active);
    let idle = store.idle_conversations(at(late) + 59 * SEC, at(late), 10).await.unwrap();
    assert!(idle.iter().all(|c| c.pk != a), "not idle yet");
    let t = at(late) + MIN;
    let idle = store.idle_conversations(t, t, 10).await.unwrap();
    let conv = idle.iter().find(|c| c.pk == a).expect("idle again");
    assert_eq!((conv.last_message_at, conv.message_count), (at(late), 4));
    assert!(store.finalise(a, at(late), 4, final_values(conv), t).await.unwrap());
    assert_eq!(status_of(&store, team, "fast", "a").await, Status::Ended);
    assert_eq!(events_of(&deliveries(&store, team, "fast", hook).await), ["conversation.ended"; 3]);
}

/// A conversation `idle_conversations` returned is skipped by other calls until its lease runs
/// out, then returned again; a message stored meanwhile ends the lease. The lease only saves
/// work: finalising during it still works.
async fn leases(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    ingest(&store, team, "shop", vec![said("old", "m1", "user", "hello", 0)]).await;
    ingest(&store, team, "shop", vec![said("new", "m1", "user", "hello", 30)]).await;
    let (old, new) =
        (pk_of(&store, team, "shop", "old").await, pk_of(&store, team, "shop", "new").await);

    let now = at(30) + IDLE;
    let lease = now + LEASE;
    let first = store.idle_conversations(now, lease, 1).await.unwrap();
    assert_eq!(first.iter().map(|c| c.pk).collect::<Vec<_>>(), [old], "oldest first, limited");
    assert_eq!(idle_pks(&store, now, lease).await, [new], "the leased one is skipped");
    assert_eq!(idle_pks(&store, now + SEC, now + LEASE).await, Vec::<i64>::new());
    assert_eq!(idle_pks(&store, lease - 1, lease + LEASE).await, Vec::<i64>::new());
    let lease2 = lease + LEASE;
    assert_eq!(idle_pks(&store, lease, lease2).await, [old, new], "leases ran out");
    assert_eq!(idle_pks(&store, lease + SEC, lease2).await, Vec::<i64>::new());

    // A message (still long idle) ends `old`'s lease; `new` stays leased.
    ingest(&store, team, "shop", vec![said("old", "m2", "user", "anyone?", 1)]).await;
    let idle = store.idle_conversations(lease + 2 * SEC, lease2, 10).await.unwrap();
    let seen: Vec<(i64, Millis, i64)> =
        idle.iter().map(|c| (c.pk, c.last_message_at, c.message_count)).collect();
    assert_eq!(seen, [(old, at(1), 2)]);

    // Finalising a leased conversation works; it is not returned again.
    assert!(store.finalise(new, at(30), 1, vec![], lease + 3 * SEC).await.unwrap());
    assert!(store.finalise(old, at(1), 2, vec![], lease + 3 * SEC).await.unwrap());
    assert_eq!(idle_pks(&store, lease2 + HOUR, lease2 + HOUR).await, Vec::<i64>::new());
    assert_eq!(status_of(&store, team, "shop", "old").await, Status::Ended);
    assert_eq!(status_of(&store, team, "shop", "new").await, Status::Ended);
}

/// Eight finalisers ending the same idle conversation at once: exactly one does, and its events
/// are queued once.
async fn racing_finalisers(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    setup_bot(&store, team, "shop").await;
    let both = subscription("https://x.test/h", &["conversation.ended", "datapoints.updated"]);
    let hook = store.create_webhook(team, "shop", false, &both).await.unwrap().id;
    ingest(
        &store,
        team,
        "shop",
        vec![
            said("c", "m1", "bot", "What's your email?", 0),
            said("c", "m2", "user", "anna@example.com", 10),
        ],
    )
    .await;
    let end = at(10) + IDLE;
    let [conv] = store.idle_conversations(end, end + LEASE, 10).await.unwrap().try_into().unwrap();
    // The rules' values and one the LLM pass added: a change, so `datapoints.updated` too.
    let mut finals = final_values(&conv);
    finals.push(NewDatapoint {
        key: "Name".into(),
        value: json!("Anna"),
        method: Method::Llm,
        evidence: None,
        message_pk: None,
    });

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, finals) = (store.clone(), finals.clone());
            let (pk, last, count) = (conv.pk, conv.last_message_at, conv.message_count);
            tokio::spawn(async move { store.finalise(pk, last, count, finals, end).await.unwrap() })
        })
        .collect();
    let mut ended = 0;
    for task in tasks {
        ended += usize::from(task.await.unwrap());
    }
    assert_eq!(ended, 1, "exactly one finaliser ends it");
    assert_eq!(
        values(&store, team, "shop", "c").await,
        (
            Status::Ended,
            vec![
                rule("Email", "anna@example.com", Some("m2"), 10),
                sourceless("Name", "Anna", Method::Llm),
            ]
        )
    );
    // Newest first: the end, the finaliser's update, ingest's update.
    assert_eq!(
        events_of(&deliveries(&store, team, "shop", hook).await),
        ["conversation.ended", "datapoints.updated", "datapoints.updated"]
    );
}

/// A dialogue with a question, answers, a correction and an unsolicited phone number: the
/// values depend on the order of its messages.
fn script(conversation: &str) -> Vec<NewMessage> {
    vec![
        said(conversation, "m1", "bot", "Hi! What's your name?", 0),
        said(conversation, "m2", "user", "Anna", 10),
        said(conversation, "m3", "bot", "Nice to meet you. What's your email?", 20),
        said(conversation, "m4", "user", "anna@example.com", 30),
        said(conversation, "m5", "user", "sorry, it's actually anna.k@example.com", 40),
        said(conversation, "m6", "bot", "Which plan would you like?", 50),
        said(conversation, "m7", "user", "Pro", 60),
        said(conversation, "m8", "user", "oh and call me on (415) 555-2671", 70),
    ]
}

/// Messages arriving out of order, in batches, end with the values of the ordered dialogue —
/// provisional and final.
async fn out_of_order_ingest(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    setup_bot(&store, team, "shop").await;
    for m in script("ordered") {
        ingest(&store, team, "shop", vec![m]).await;
    }
    let shuffled = script("shuffled");
    for batch in [&[5usize, 1][..], &[7], &[0, 6], &[3, 2, 4]] {
        ingest(&store, team, "shop", batch.iter().map(|&i| shuffled[i].clone()).collect()).await;
    }
    let want = vec![
        rule("Email", "anna.k@example.com", Some("m5"), 40),
        rule("Name", "Anna", Some("m2"), 10),
        rule("Phone", "+14155552671", Some("m8"), 70),
        rule("Plan", "Pro", Some("m7"), 60),
    ];
    assert_eq!(values(&store, team, "shop", "ordered").await, (Status::Active, want.clone()));
    assert_eq!(values(&store, team, "shop", "shuffled").await, (Status::Active, want.clone()));
    // The re-run walks store the evidence the ordered walk did.
    let ordered = evidence_of(&store, team, "shop", "ordered").await;
    assert!(ordered.iter().all(|(_, e)| e.is_some()), "{ordered:?}");
    assert_eq!(evidence_of(&store, team, "shop", "shuffled").await, ordered);

    assert_eq!(finalise_idle(&store, at(70) + IDLE).await, 2);
    assert_eq!(values(&store, team, "shop", "ordered").await, (Status::Ended, want.clone()));
    assert_eq!(values(&store, team, "shop", "shuffled").await, (Status::Ended, want));
}

/// Subscriptions stay in their team and bot; finalisation and ingest queue events for the
/// subscribers of each event only; senders claim deliveries under a lease; results settle a
/// delivery once; dead ones can be put back in line; listings filter and page.
async fn webhooks_and_deliveries(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    let other_team = store.create_team("other").await.unwrap().id;
    setup_bot(&store, team, "shop").await;

    let before = now_millis();
    let both = store
        .create_webhook(
            team,
            "shop",
            false,
            &subscription("https://x.test/both", &["datapoints.updated", "conversation.ended"]),
        )
        .await
        .unwrap();
    let after = now_millis();
    assert_eq!(
        (both.bot_id.as_str(), both.url.as_str(), both.events.names()),
        ("shop", "https://x.test/both", vec!["conversation.ended", "datapoints.updated"])
    );
    assert!(both.secret.starts_with("whsec_"), "a secret is generated: {both:?}");
    assert!((before..=after).contains(&both.created_at), "{both:?}");
    let create = |bot: &'static str, url: &'static str, events: &'static [&'static str]| {
        let store = store.clone();
        async move {
            let w = subscription(url, events);
            let created = store.create_webhook(team, bot, true, &w).await.unwrap();
            assert_eq!(
                (created.url.as_str(), created.events, &created.secret),
                (url, w.events, &w.secret)
            );
            created
        }
    };
    let ended = create("shop", "https://x.test/ended", &["conversation.ended"]).await;
    let updated = create("shop", "https://x.test/updated", &["datapoints.updated"]).await;
    assert!(ended.events.contains(Event::ConversationEnded));
    assert!(!ended.events.contains(Event::DatapointsUpdated));
    assert!(updated.events.contains(Event::DatapointsUpdated));
    assert!(!updated.events.contains(Event::ConversationEnded));
    let elsewhere = create("elsewhere", "https://x.test/elsewhere", &["conversation.ended"]).await;
    let all = subscription("https://x.test/theirs", &["conversation.ended", "datapoints.updated"]);
    let theirs = store.create_webhook(other_team, "shop", true, &all).await.unwrap();
    assert!(is_not_found(store.create_webhook(team, "ghost", false, &all).await));

    // Listed and read in their own team and bot only.
    assert_eq!(
        store.list_webhooks(team, "shop").await.unwrap(),
        [both.clone(), ended.clone(), updated.clone()]
    );
    assert_eq!(store.list_webhooks(other_team, "shop").await.unwrap(), vec![theirs.clone()]);
    assert_eq!(store.get_webhook(team, "shop", ended.id).await.unwrap(), ended);
    assert!(is_not_found(store.list_webhooks(team, "nobot").await));
    for (t, bot, id) in [
        (other_team, "shop", both.id),
        (team, "shop", theirs.id),
        (team, "elsewhere", both.id),
        (team, "shop", elsewhere.id),
        (team, "nobot", both.id),
        (team, "shop", 999_999),
    ] {
        assert!(is_not_found(store.get_webhook(t, bot, id).await), "get {t} {bot} {id}");
        assert!(
            is_not_found(store.list_deliveries(t, bot, id, None, None, 10).await),
            "list {t} {bot} {id}"
        );
        assert!(is_not_found(store.retry_delivery(t, bot, id, 1, 0).await), "retry {t} {bot} {id}");
        assert!(is_not_found(store.delete_webhook(t, bot, id).await), "delete {t} {bot} {id}");
    }
    assert_eq!(store.list_webhooks(team, "shop").await.unwrap().len(), 3, "nothing deleted");

    // Events: ingest finds a value (`datapoints.updated`); finalising `c1` with the same
    // values queues only its end, `c2` with a new value both.
    let before = now_millis();
    ingest(
        &store,
        team,
        "shop",
        vec![
            said("c1", "m1", "bot", "What's your email?", 0),
            said("c1", "m2", "user", "anna@example.com", 10),
        ],
    )
    .await;
    let after = now_millis();
    ingest(&store, team, "shop", vec![said("c2", "m1", "user", "hello", 20)]).await;
    let end = at(20) + IDLE;
    let [c1, c2] =
        store.idle_conversations(end, end + LEASE, 10).await.unwrap().try_into().unwrap();
    assert!(store.finalise(c1.pk, c1.last_message_at, 2, final_values(&c1), end).await.unwrap());
    let plan = NewDatapoint {
        key: "Plan".into(),
        value: json!("Pro"),
        method: Method::Llm,
        evidence: None,
        message_pk: None,
    };
    assert!(store.finalise(c2.pk, c2.last_message_at, 1, vec![plan], end).await.unwrap());

    let listed = deliveries(&store, team, "shop", both.id).await;
    assert_eq!(
        events_of(&listed),
        ["conversation.ended", "datapoints.updated", "conversation.ended", "datapoints.updated"]
    );
    assert!(listed.windows(2).all(|w| w[0].id > w[1].id), "newest first: {listed:?}");
    let ended_listed = deliveries(&store, team, "shop", ended.id).await;
    let updated_listed = deliveries(&store, team, "shop", updated.id).await;
    assert_eq!(events_of(&ended_listed), ["conversation.ended"; 2]);
    assert_eq!(events_of(&updated_listed), ["datapoints.updated"; 2]);
    assert_eq!(deliveries(&store, team, "elsewhere", elsewhere.id).await, vec![]);
    assert_eq!(deliveries(&store, other_team, "shop", theirs.id).await, vec![]);
    // One event, one id, whoever it goes to; each event its own id.
    let event_ids: Vec<&str> = listed.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(event_ids.iter().collect::<BTreeSet<_>>().len(), 4, "{event_ids:?}");
    assert_eq!(
        ended_listed.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(),
        [event_ids[0], event_ids[2]]
    );
    assert_eq!(
        updated_listed.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(),
        [event_ids[1], event_ids[3]]
    );
    for d in listed.iter().chain(&ended_listed).chain(&updated_listed) {
        assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0), "{d:?}");
        assert_eq!((d.last_status, &d.last_error, d.delivered_at), (None, &None, None), "{d:?}");
        assert_eq!(d.next_attempt_at, Some(d.created_at), "due at once: {d:?}");
        if d.event_id == event_ids[3] {
            assert!((before..=after).contains(&d.created_at), "queued by ingest: {d:?}");
        } else {
            assert_eq!(d.created_at, end, "queued by the finaliser: {d:?}");
        }
    }
    let webhook_of: HashMap<i64, &Webhook> = listed
        .iter()
        .map(|d| (d.id, &both))
        .chain(ended_listed.iter().map(|d| (d.id, &ended)))
        .chain(updated_listed.iter().map(|d| (d.id, &updated)))
        .collect();
    let by_id: HashMap<i64, &Delivery> =
        listed.iter().chain(&ended_listed).chain(&updated_listed).map(|d| (d.id, d)).collect();

    // Claimed under a lease: not again before it ends, all again after.
    let t = all_due_after(end);
    let claimed = store.claim_deliveries(t, t + LEASE, 100).await.unwrap();
    assert_eq!(ids_of(&claimed), by_id.keys().copied().collect());
    assert_eq!(claimed.len(), 8, "each claimed once");
    for d in &claimed {
        let (listed, hook) = (by_id[&d.id], webhook_of[&d.id]);
        assert_eq!((&d.url, &d.secret), (&hook.url, &hook.secret), "{d:?}");
        assert_eq!((&d.event_id, &d.event, d.attempts), (&listed.event_id, &listed.event, 0));
        let body: Value = serde_json::from_str(&d.payload).unwrap();
        assert_eq!(
            (&body["id"], &body["event"], &body["bot_id"]),
            (&json!(d.event_id), &json!(d.event), &json!("shop"))
        );
        let conversation = body["conversation"]["id"].as_str().unwrap();
        let (status, data) = match (conversation, d.event.as_str()) {
            ("c1", "datapoints.updated") => ("active", json!({"Email": "anna@example.com"})),
            ("c1", "conversation.ended") => ("ended", json!({"Email": "anna@example.com"})),
            ("c2", _) => ("ended", json!({"Plan": "Pro"})),
            other => panic!("unexpected event {other:?}: {body}"),
        };
        assert_eq!(body["conversation"]["status"], status, "{body}");
        let values: serde_json::Map<String, Value> = body["datapoints"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v["value"].clone()))
            .collect();
        assert_eq!(Value::Object(values), data, "{body}");
    }
    assert_eq!(store.claim_deliveries(t + MIN, t + LEASE, 100).await.unwrap(), vec![]);
    assert_eq!(store.claim_deliveries(t + LEASE - 1, t + LEASE, 100).await.unwrap(), vec![]);
    let leased = deliveries(&store, team, "shop", both.id).await;
    assert!(leased.iter().all(|d| d.next_attempt_at == Some(t + LEASE)), "{leased:?}");
    let t2 = t + LEASE;
    let again = store.claim_deliveries(t2, t2 + LEASE, 100).await.unwrap();
    assert_eq!(ids_of(&again), ids_of(&claimed), "a lease that ran out frees them");

    // Delivered: settled; a late failure changes nothing.
    let r = t2 + SEC;
    let (delivered, failing, pending) = (listed[2].id, listed[3].id, listed[0].id);
    store
        .record_delivery(delivered, DeliveryResult::Delivered { status: 200 }, None, r)
        .await
        .unwrap();
    let settled = Delivery {
        state: DeliveryState::Delivered,
        attempts: 1,
        next_attempt_at: None,
        last_status: Some(200),
        last_error: None,
        delivered_at: Some(r),
        ..by_id[&delivered].clone()
    };
    let find = |id: i64| {
        let store = store.clone();
        let hook = webhook_of[&id].id;
        async move {
            let all = deliveries(&store, team, "shop", hook).await;
            all.into_iter().find(|d| d.id == id).unwrap()
        }
    };
    assert_eq!(find(delivered).await, settled);
    let late = DeliveryResult::Failed { status: Some(500), error: "late".into() };
    store.record_delivery(delivered, late.clone(), Some(r + MIN), r + SEC).await.unwrap();
    store.record_delivery(delivered, late, None, r + SEC).await.unwrap();
    store
        .record_delivery(delivered, DeliveryResult::Delivered { status: 204 }, None, r + SEC)
        .await
        .unwrap();
    assert_eq!(find(delivered).await, settled);

    // Failed with a retry time: pending, due then; without one: dead, and dead stays dead.
    let failed = DeliveryResult::Failed { status: Some(500), error: "HTTP 500".into() };
    store.record_delivery(failing, failed, Some(r + 30 * SEC), r).await.unwrap();
    let retrying = Delivery {
        attempts: 1,
        next_attempt_at: Some(r + 30 * SEC),
        last_status: Some(500),
        last_error: Some("HTTP 500".into()),
        ..by_id[&failing].clone()
    };
    assert_eq!(find(failing).await, retrying);
    assert_eq!(store.claim_deliveries(r + 29 * SEC, r + LEASE, 100).await.unwrap(), vec![]);
    let [due] =
        store.claim_deliveries(r + 30 * SEC, r + LEASE, 100).await.unwrap().try_into().unwrap();
    assert_eq!((due.id, due.attempts), (failing, 1));
    let refused = DeliveryResult::Failed { status: None, error: "connection refused".into() };
    store.record_delivery(failing, refused, None, r + 31 * SEC).await.unwrap();
    let dead = Delivery {
        state: DeliveryState::Dead,
        attempts: 2,
        next_attempt_at: None,
        last_status: None,
        last_error: Some("connection refused".into()),
        ..retrying.clone()
    };
    assert_eq!(find(failing).await, dead);
    store
        .record_delivery(failing, DeliveryResult::Delivered { status: 200 }, None, r + 32 * SEC)
        .await
        .unwrap();
    assert_eq!(find(failing).await, dead);
    // The other pending ones, parked out of the way for what follows.
    let parked = r + 3 * HOUR;
    assert_eq!(
        store.claim_deliveries(r + HOUR, parked, 100).await.unwrap().len(),
        6,
        "all but two"
    );

    // Filters by state, and pages.
    let only = |state: DeliveryState| {
        let store = store.clone();
        async move {
            let found = store.list_deliveries(team, "shop", both.id, Some(state), None, 100).await;
            found.unwrap().into_iter().map(|d| d.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(only(DeliveryState::Delivered).await, [delivered]);
    assert_eq!(only(DeliveryState::Dead).await, [failing]);
    assert_eq!(only(DeliveryState::Pending).await, [listed[0].id, listed[1].id]);
    let mut paged = vec![];
    let mut cursor = None;
    loop {
        let page = store.list_deliveries(team, "shop", both.id, None, cursor, 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        cursor = Some(last.id);
        paged.extend(page.iter().map(|d| d.id));
    }
    assert_eq!(paged, listed.iter().map(|d| d.id).collect::<Vec<_>>());
    let page = store.list_deliveries(
        team,
        "shop",
        both.id,
        Some(DeliveryState::Pending),
        Some(listed[0].id),
        10,
    );
    assert_eq!(page.await.unwrap().iter().map(|d| d.id).collect::<Vec<_>>(), [listed[1].id]);

    // A dead delivery back in line: pending, attempts reset, due at `now`; nothing else can be.
    let r2 = r + HOUR + MIN;
    let retried = store.retry_delivery(team, "shop", both.id, failing, r2).await.unwrap();
    assert_eq!(
        (retried.id, retried.state, retried.attempts, retried.next_attempt_at),
        (failing, DeliveryState::Pending, 0, Some(r2))
    );
    assert_eq!(find(failing).await, retried);
    let [due] = store.claim_deliveries(r2, r2 + LEASE, 100).await.unwrap().try_into().unwrap();
    assert_eq!((due.id, due.attempts, &due.event_id), (failing, 0, &listed[3].event_id));
    for id in [failing, delivered, pending] {
        assert!(is_conflict(store.retry_delivery(team, "shop", both.id, id, r2).await), "{id}");
    }
    assert!(is_not_found(store.retry_delivery(team, "shop", both.id, 999_999, r2).await));
    // Another subscription's delivery is not found through this one.
    let not_ours = ended_listed[0].id;
    assert!(is_not_found(store.retry_delivery(team, "shop", both.id, not_ours, r2).await));
    assert_eq!(find(delivered).await, settled);

    // Deleting a subscription takes its deliveries.
    store.delete_webhook(team, "shop", updated.id).await.unwrap();
    assert!(is_not_found(store.get_webhook(team, "shop", updated.id).await));
    assert!(is_not_found(store.delete_webhook(team, "shop", updated.id).await));
    assert!(is_not_found(store.list_deliveries(team, "shop", updated.id, None, None, 10).await));
    assert_eq!(store.list_webhooks(team, "shop").await.unwrap(), [both.clone(), ended.clone()]);
    let t3 = parked + HOUR;
    let left = ids_of(&store.claim_deliveries(t3, t3 + LEASE, 100).await.unwrap());
    let want: BTreeSet<i64> =
        [listed[0].id, listed[1].id, failing, ended_listed[0].id, ended_listed[1].id].into();
    assert_eq!(left, want);
}

/// Four senders claiming at once take each of forty pending deliveries exactly once.
async fn concurrent_claims(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    let mut hooks = vec![];
    for url in ["https://x.test/1", "https://x.test/2"] {
        let w = subscription(url, &["conversation.ended"]);
        hooks.push(store.create_webhook(team, "shop", true, &w).await.unwrap().id);
    }
    let batch: Vec<NewMessage> =
        (0..20).map(|i| said(&format!("c{i:02}"), "m1", "user", "hello", i)).collect();
    ingest(&store, team, "shop", batch).await;
    let end = at(20) + IDLE;
    assert_eq!(finalise_idle(&store, end).await, 20);
    let mut pending = BTreeSet::new();
    for hook in &hooks {
        pending.extend(deliveries(&store, team, "shop", *hook).await.iter().map(|d| d.id));
    }
    assert_eq!(pending.len(), 40);

    let t = all_due_after(end);
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = vec![];
                loop {
                    let got = store.claim_deliveries(t, t + LEASE, 3).await.unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|d| d.id));
                }
            })
        })
        .collect();
    let mut claimed = vec![];
    for sender in senders {
        claimed.extend(sender.await.unwrap());
    }
    claimed.sort_unstable();
    let unique: BTreeSet<i64> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "a delivery claimed twice: {claimed:?}");
    assert_eq!(unique, pending, "every delivery claimed");
    assert_eq!(store.claim_deliveries(t, t + LEASE, 100).await.unwrap(), vec![]);
}

/// Eight writers ingesting into the same three conversations at once — distinct messages
/// interleaved in time, and ten retried by every writer — store each message once: the counts,
/// the transcripts and the rollups are exact.
async fn concurrent_ingest(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    const WRITERS: usize = 8;
    let conversation = |i: usize| format!("c{}", i % 3);
    let shared: Vec<NewMessage> = (0..10)
        .map(|k| said(&conversation(k), &format!("shared-{k}"), "user", "retried", 300 + k as i64))
        .collect();
    let sent: Vec<Vec<NewMessage>> = (0..WRITERS)
        .map(|w| {
            let mut mine: Vec<NewMessage> = (0..30)
                .map(|i| {
                    let role = if i % 2 == 0 { "user" } else { "bot" };
                    let s = (i * WRITERS + w) as i64;
                    said(&conversation(i), &format!("w{w}-m{i}"), role, &format!("{w}/{i}"), s)
                })
                .collect();
            // The retried ones in a different order and place for each writer.
            for k in 0..shared.len() {
                let m = shared[(k + w) % shared.len()].clone();
                mine.insert((3 * k + w) % (mine.len() + 1), m);
            }
            mine
        })
        .collect();

    let writers: Vec<_> = sent
        .iter()
        .cloned()
        .map(|messages| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut outcomes = vec![];
                for batch in messages.chunks(4) {
                    outcomes
                        .extend(store.ingest(team, "shop", true, batch.to_vec()).await.unwrap());
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes = vec![];
    for writer in writers {
        outcomes.extend(writer.await.unwrap());
    }
    let stored = outcomes.iter().filter(|o| **o == IngestOutcome::Stored).count();
    assert_eq!(stored, WRITERS * 30 + shared.len());
    assert_eq!(outcomes.len() - stored, (WRITERS - 1) * shared.len(), "the retries");

    // What should be stored: each (conversation, client id) once.
    let mut want: BTreeMap<String, BTreeMap<String, Role>> = BTreeMap::new();
    for m in sent.iter().flatten() {
        let id = m.client_id.clone().unwrap();
        want.entry(m.conversation_id.clone()).or_default().insert(id, m.role);
    }
    let mut by_role = [0i64; 4];
    for (id, messages) in &want {
        let (conv, transcript) = store.get_conversation(team, "shop", id).await.unwrap();
        let ids: Vec<String> = transcript.iter().map(|m| m.client_id.clone().unwrap()).collect();
        let unique: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "a client id stored twice in {id}");
        assert_eq!(unique, messages.keys().collect(), "{id}");
        assert_eq!(conv.summary.message_count(), messages.len() as i64, "{id}");
        for role in Role::ALL {
            let n = messages.values().filter(|r| **r == role).count() as i64;
            assert_eq!(conv.summary.count(role), n, "{id} {role:?}");
            by_role[role.code() as usize] += n;
        }
        assert!(transcript.windows(2).all(|w| w[0].timestamp <= w[1].timestamp), "{id}");
    }
    assert_eq!(want.values().map(BTreeMap::len).collect::<Vec<_>>(), [84, 83, 83]);
    assert_eq!(store.list_bots(team).await.unwrap()[0].conversations, 3);

    // The rollups count every stored message once.
    let day = time::parse_rfc3339("day", "2026-01-10T00:00:00Z").unwrap();
    let req = SeriesRequest::new(
        Stat::Messages,
        Bucket::Day,
        &TimeZone::UTC,
        day,
        day + 24 * HOUR,
        vec![],
        vec![],
        vec![],
    )
    .unwrap();
    let cells = store.series_counters(team, &BotSelector::One("shop".into()), &req).await.unwrap();
    let (mut messages, mut conversations) = ([0i64; 4], 0);
    for counters in cells.groups.values().flatten() {
        conversations += counters.conversations;
        for (sum, n) in messages.iter_mut().zip(counters.messages) {
            *sum += n;
        }
    }
    assert_eq!(messages, by_role);
    assert_eq!(messages.iter().sum::<i64>(), stored as i64);
    assert_eq!(conversations, 3);
}

/// Erasing a conversation removes its values and its queued events (even claimed ones, whose
/// late result then changes nothing); the id used again starts with nothing.
async fn erasure(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    setup_bot(&store, team, "shop").await;
    let both = subscription("https://x.test/h", &["conversation.ended", "datapoints.updated"]);
    let hook = store.create_webhook(team, "shop", false, &both).await.unwrap().id;
    for id in ["gone", "kept"] {
        ingest(
            &store,
            team,
            "shop",
            vec![
                said(id, "m1", "bot", "What's your email?", 0),
                said(id, "m2", "user", &format!("{id}@example.com"), 10),
            ],
        )
        .await;
    }
    let plan = vec![("Plan".to_owned(), Some(json!("Pro")))];
    store.put_explicit_datapoints(team, "shop", "gone", plan).await.unwrap();
    let end = at(10) + IDLE;
    assert_eq!(finalise_idle(&store, end).await, 2);
    let (gone, kept) =
        (pk_of(&store, team, "shop", "gone").await, pk_of(&store, team, "shop", "kept").await);
    let (_, kept_values) = store.conversation_datapoints(team, "shop", "kept").await.unwrap();

    // A sender holds every event when the erasure comes.
    let t = all_due_after(end);
    let claimed = store.claim_deliveries(t, t + LEASE, 100).await.unwrap();
    let mut of: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for d in &claimed {
        let body: Value = serde_json::from_str(&d.payload).unwrap();
        let id = body["conversation"]["id"].as_str().unwrap().to_owned();
        of.entry(id).or_default().insert(d.id);
    }
    assert_eq!((of["gone"].len(), of["kept"].len()), (3, 2), "{of:?}");

    store.delete_conversation(team, "shop", "gone").await.unwrap();
    assert!(is_not_found(store.conversation_datapoints(team, "shop", "gone").await));
    assert!(is_not_found(store.get_conversation(team, "shop", "gone").await));
    assert!(is_not_found(store.delete_conversation(team, "shop", "gone").await));
    assert_eq!(store.datapoints_of(team, &[gone, kept]).await.unwrap(), vec![(kept, kept_values)]);
    let listed: BTreeSet<i64> =
        deliveries(&store, team, "shop", hook).await.iter().map(|d| d.id).collect();
    assert_eq!(listed, of["kept"]);
    for id in &of["gone"] {
        store
            .record_delivery(*id, DeliveryResult::Delivered { status: 200 }, None, t)
            .await
            .unwrap();
    }
    let listed: BTreeSet<i64> =
        deliveries(&store, team, "shop", hook).await.iter().map(|d| d.id).collect();
    assert_eq!(listed, of["kept"], "a late result brings nothing back");
    let t2 = t + LEASE;
    assert_eq!(ids_of(&store.claim_deliveries(t2, t2 + LEASE, 100).await.unwrap()), of["kept"]);

    // The same id used again starts with nothing.
    ingest(&store, team, "shop", vec![said("gone", "m1", "user", "hello again", 20)]).await;
    assert_eq!(values(&store, team, "shop", "gone").await, (Status::Active, vec![]));
    assert_eq!(
        values(&store, team, "shop", "kept").await,
        (Status::Ended, vec![rule("Email", "kept@example.com", Some("m2"), 10)])
    );
}

backend_tests!([
    provisional_values_on_ingest,
    explicit_values_win,
    evidence_round_trips,
    finalise_compare_and_set,
    leases,
    racing_finalisers,
    out_of_order_ingest,
    webhooks_and_deliveries,
    concurrent_claims,
    concurrent_ingest,
    erasure,
]);
