//! A conversation's lifecycle end to end: provisional datapoints as messages arrive, the
//! finaliser ending each idle conversation exactly once (even with eight finalisers racing),
//! reopening on a late message, per-bot timeouts, explicit values, corrections, out-of-order
//! arrival and erasure. The LLM pass (and a message arriving while it runs) is in `llm_pass.rs`.
//! Time is the test's: messages carry fixed timestamps and the finaliser gets `now` by hand.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::lifecycle::*;
use common::{TestApp, spawn_app};
use confab_core::Role;
use confab_core::bot::BotSettings;
use confab_core::datapoints::{Evidence, SchemaInput};
use confab_core::extract::{self, Turn};
use confab_core::time::{Millis, parse_rfc3339};
use confab_server::jobs::finalise::{FinaliseOutcome, finalise_idle_once};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The extraction walk over [`schema`] with US phone numbers, as ingest runs it: the evidence
/// each message gives its values, taken from confab-core so that these tests check that the API
/// shows it, not which evidence extraction picks.
struct Walk {
    schema: confab_core::datapoints::Schema,
    ctx: extract::Context,
    state: extract::State,
}

impl Walk {
    fn new() -> Walk {
        let schema = serde_json::from_value::<SchemaInput>(schema()).unwrap().validate().unwrap();
        let settings: BotSettings = serde_json::from_value(json!({"phone_region": "US"})).unwrap();
        Walk { schema, ctx: settings.context().unwrap(), state: extract::State::default() }
    }

    /// Key → evidence of the values message `m` (its wire form) gives.
    fn step(&mut self, m: &Value) -> BTreeMap<String, Evidence> {
        let turn = Turn {
            role: Role::parse(m["role"].as_str().unwrap()).unwrap(),
            text: m["content"].as_str().unwrap(),
            at: parse_rfc3339("timestamp", m["timestamp"].as_str().unwrap()).unwrap(),
        };
        let found = extract::step(&self.schema, &mut self.state, &turn, &self.ctx);
        found.into_iter().map(|f| (f.key, f.evidence)).collect()
    }
}

/// One message per request, in the order given.
async fn send(app: &TestApp, bot: &str, m: Value) {
    let (status, body) = app.post(&app.admin_key, &format!("/v1/bots/{bot}/messages"), &m).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Key → (value, method, evidence, status, message_id, message_at): everything but `updated_at`.
fn without_updated_at(body: &Value) -> BTreeMap<String, Value> {
    body["datapoints"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("updated_at");
            (k.clone(), v)
        })
        .collect()
}

/// A webhook subscribed to `conversation.ended`; returns its id.
async fn subscribe_ended(app: &TestApp, bot: &str) -> i64 {
    let (status, body) = app
        .post(
            &app.admin_key,
            &format!("/v1/bots/{bot}/webhooks"),
            &json!({"url": "http://127.0.0.1:9/x", "events": ["conversation.ended"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

/// The `conversation.ended` deliveries the webhook API lists.
async fn ended_deliveries(app: &TestApp, bot: &str, webhook: i64) -> usize {
    let path = format!("/v1/bots/{bot}/webhooks/{webhook}/deliveries?limit=100");
    let (status, body) = app.get(&app.admin_key, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all = body["deliveries"].as_array().unwrap();
    assert!(body["next_cursor"].is_null(), "more than one page of deliveries: {body}");
    all.iter().filter(|d| d["event"] == "conversation.ended").count()
}

/// Conversation id → number of queued `conversation.ended` events due at `now` not yet seen
/// by an earlier call (they are leased far into the future, so each is counted once).
async fn ended_events_by_conversation(app: &TestApp, now: Millis) -> HashMap<String, usize> {
    let due = app.store.claim_deliveries(now, Millis::MAX / 4, 10_000).await.unwrap();
    let mut out = HashMap::new();
    for d in due {
        let payload: Value = serde_json::from_str(&d.payload).unwrap();
        assert_eq!(payload["event"], d.event);
        if d.event == "conversation.ended" {
            // The event carries the conversation, ended, with its final values.
            assert_eq!(payload["conversation"]["status"], "ended", "{payload}");
            for (key, v) in payload["datapoints"].as_object().unwrap() {
                assert_eq!(v["status"], "final", "{key}: {payload}");
            }
            assert!(payload["datapoints"]["Email"]["value"].is_string(), "{payload}");
            let id = payload["conversation"]["id"].as_str().unwrap().to_owned();
            *out.entry(id).or_insert(0) += 1;
        }
    }
    out
}

// ---- provisional values ----

#[tokio::test]
async fn provisional_values_appear_as_messages_arrive() {
    let app = spawn_app().await;
    setup_bot(&app, "shop").await;
    let steps: [(Value, &[(&str, Value)]); 6] = [
        (msg("c", "m1", "bot", "Hi! What's your name?", 0), &[]),
        (msg("c", "m2", "user", "Anna Kowalska", 10), &[("Name", json!("Anna Kowalska"))]),
        (msg("c", "m3", "bot", "Thanks Anna. What's your email?", 20), &[]),
        (msg("c", "m4", "user", "anna@example.com", 30), &[("Email", json!("anna@example.com"))]),
        (msg("c", "m5", "bot", "Which plan would you like, Basic or Pro?", 40), &[]),
        (
            msg("c", "m6", "user", "Pro please, and my phone is (415) 555-2671", 50),
            &[("Plan", json!("Pro")), ("Phone", json!("+14155552671"))],
        ),
    ];
    let mut want: BTreeMap<String, Value> = BTreeMap::new();
    let mut walk = Walk::new();
    for (m, found) in steps {
        send(&app, "shop", m.clone()).await;
        let evidence = walk.step(&m);
        for (key, value) in found {
            want.insert(
                (*key).to_owned(),
                json!({
                    "value": value,
                    "method": "rule",
                    "evidence": evidence[*key],
                    "status": "provisional",
                    "message_id": m["id"],
                    "message_at": m["timestamp"],
                }),
            );
        }
        let body = datapoints(&app, "shop", "c").await;
        assert_eq!(body["conversation_id"], "c");
        assert_eq!(body["status"], "active");
        assert_eq!(without_updated_at(&body), want, "after message {}", m["id"]);
        for v in body["datapoints"].as_object().unwrap().values() {
            let updated = v["updated_at"].as_str().expect("updated_at is a timestamp");
            parse_rfc3339("updated_at", updated).unwrap();
        }
    }
    // A message without a client id: the value has its time but no id to point at.
    let correction = json!({
        "conversation_id": "c", "role": "user",
        "content": "sorry, it's actually anna.k@example.com", "timestamp": at(60)
    });
    send(&app, "shop", correction.clone()).await;
    let body = datapoints(&app, "shop", "c").await;
    let email = &body["datapoints"]["Email"];
    assert_eq!(email["value"], "anna.k@example.com");
    assert!(email["message_id"].is_null(), "{body}");
    assert_eq!(email["message_at"], at(60));
    want.insert(
        "Email".into(),
        json!({
            "value": "anna.k@example.com", "method": "rule",
            "evidence": walk.step(&correction)["Email"], "status": "provisional",
            "message_id": null, "message_at": at(60)
        }),
    );
    assert_eq!(without_updated_at(&body), want);

    // The transcript carries the same values, the status and no end yet.
    let conv = transcript(&app, "shop", "c").await;
    assert_eq!(conv["status"], "active");
    assert!(conv["ended_at"].is_null(), "{conv}");
    assert_eq!(without_updated_at(&conv), want);
    app.stop().await;
}

/// Every reading of a value says why extraction chose it, provisional and final: the answer to
/// the bot's question for the key is `asked`.
#[tokio::test]
async fn values_carry_their_evidence() {
    let app = spawn_app().await;
    let only_email = json!({"datapoints": [{"key": "Email", "type": "email"}]});
    let path = "/v1/bots/mail/datapoints/schema";
    let (status, body) = app.call(Method::PUT, &app.admin_key, path, Some(&only_email)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.ingest(
        "mail",
        vec![
            msg("c", "m1", "bot", "What's your email?", 0),
            msg("c", "m2", "user", "anna@example.com", 10),
        ],
    )
    .await;
    let email = |body: &Value| body["datapoints"]["Email"].clone();
    let provisional = email(&datapoints(&app, "mail", "c").await);
    assert_eq!(
        (&provisional["method"], &provisional["evidence"], &provisional["status"]),
        (&json!("rule"), &json!("asked"), &json!("provisional")),
        "{provisional}"
    );
    assert_eq!(email(&transcript(&app, "mail", "c").await), provisional);

    assert_eq!(finalise(&app, base() + 10 * SEC + IDLE).await.finalised, 1);
    let last = email(&datapoints(&app, "mail", "c").await);
    assert_eq!((&last["evidence"], &last["status"]), (&json!("asked"), &json!("final")), "{last}");
    assert_eq!(email(&transcript(&app, "mail", "c").await), last);
    app.stop().await;
}

// ---- finalisation ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_finalisers_end_each_idle_conversation_exactly_once() {
    let app = spawn_app().await;
    setup_bot(&app, "shop").await;
    let webhook = subscribe_ended(&app, "shop").await;
    let now = base() + 3600 * SEC;
    // Twelve conversations idle at `now`, one that is not (its last message 200 s before).
    let idle: Vec<String> = (0..12).map(|i| format!("idle-{i:02}")).collect();
    let mut batch = vec![];
    for (i, id) in idle.iter().enumerate() {
        batch.push(msg(id, "m1", "bot", "What's your email?", i as i64));
        batch.push(msg(id, "m2", "user", &format!("it's user{i}@example.com"), 30 + i as i64));
    }
    let fresh_at = (now - 200 * SEC - base()) / SEC;
    batch.push(msg("fresh", "m1", "user", "my email is fresh@example.com", fresh_at));
    app.ingest("shop", batch).await;

    let store = app.store.clone();
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { finalise_idle_once(&*store, None, now).await.unwrap() })
        })
        .collect();
    let mut finalised = 0;
    for run in runs {
        finalised += run.await.unwrap().finalised;
    }
    assert_eq!(finalised as usize, idle.len(), "each idle conversation is finalised once");

    for (i, id) in idle.iter().enumerate() {
        let body = datapoints(&app, "shop", id).await;
        assert_eq!(body["status"], "ended", "{id}");
        assert_eq!(body["datapoints"]["Email"]["value"], format!("user{i}@example.com"));
        assert_eq!(body["datapoints"]["Email"]["status"], "final");
        assert_eq!(body["datapoints"]["Email"]["message_id"], "m2");
        let conv = transcript(&app, "shop", id).await;
        assert_eq!(conv["status"], "ended");
        assert_eq!(
            conv["ended_at"],
            at(30 + i as i64),
            "a conversation ends with its last message"
        );
        assert_eq!(conv["datapoints"]["Email"]["status"], "final");
    }
    let fresh = datapoints(&app, "shop", "fresh").await;
    assert_eq!(fresh["status"], "active", "a conversation not idle yet is left alone");
    assert_eq!(fresh["datapoints"]["Email"]["status"], "provisional");

    // One `conversation.ended` per conversation.
    assert_eq!(ended_deliveries(&app, "shop", webhook).await, idle.len());
    let events = ended_events_by_conversation(&app, now).await;
    let want: HashMap<String, usize> = idle.iter().map(|id| (id.clone(), 1)).collect();
    assert_eq!(events, want);

    // A later round finds nothing to do.
    let again = finalise(&app, now + 30 * SEC).await;
    assert_eq!(again, FinaliseOutcome { finalised: 0, skipped: 0 });
    assert_eq!(ended_deliveries(&app, "shop", webhook).await, idle.len());

    // A late message reopens a conversation: active, provisional again, a new value taken in.
    let late = (now + 60 * SEC - base()) / SEC;
    send(&app, "shop", msg("idle-00", "m3", "user", "also call me on (415) 555-2671", late)).await;
    let reopened = datapoints(&app, "shop", "idle-00").await;
    assert_eq!(reopened["status"], "active");
    assert_eq!(
        values(&reopened),
        expect(&[("Email", json!("user0@example.com")), ("Phone", json!("+14155552671"))])
    );
    for (key, v) in reopened["datapoints"].as_object().unwrap() {
        assert_eq!(v["status"], "provisional", "{key}");
    }
    let conv = transcript(&app, "shop", "idle-00").await;
    assert_eq!((&conv["status"], &conv["ended_at"]), (&json!("active"), &Value::Null));

    // Not idle again until its own timeout has passed since the late message.
    let late_ms = base() + late * SEC;
    assert_eq!(finalise(&app, late_ms + IDLE - SEC).await.finalised, 1, "only `fresh`");
    assert_eq!(datapoints(&app, "shop", "idle-00").await["status"], "active");
    let round3 = late_ms + IDLE;
    assert_eq!(finalise(&app, round3).await.finalised, 1);
    let ended_again = datapoints(&app, "shop", "idle-00").await;
    assert_eq!(ended_again["status"], "ended");
    assert_eq!(ended_again["datapoints"]["Phone"]["status"], "final");
    assert_eq!(ended_again["datapoints"]["Phone"]["value"], "+14155552671");
    assert_eq!(datapoints(&app, "shop", "fresh").await["status"], "ended");

    // A second `conversation.ended` for the reopened one, one for `fresh`.
    assert_eq!(ended_deliveries(&app, "shop", webhook).await, idle.len() + 2);
    let events = ended_events_by_conversation(&app, round3).await;
    assert_eq!(events, HashMap::from([("idle-00".to_owned(), 1), ("fresh".to_owned(), 1)]));
    app.stop().await;
}

#[tokio::test]
async fn a_retried_message_does_not_reopen_an_ended_conversation() {
    let app = spawn_app().await;
    setup_bot(&app, "shop").await;
    let webhook = subscribe_ended(&app, "shop").await;
    let last = msg("c", "m2", "user", "my email is anna@example.com", 10);
    app.ingest("shop", vec![msg("c", "m1", "bot", "Hello!", 0), last.clone()]).await;
    let now = base() + 10 * SEC + IDLE;
    assert_eq!(finalise(&app, now).await.finalised, 1);
    // The client retries its last message (same id): stored once, nothing new arrived.
    let (status, body) = app.post(&app.admin_key, "/v1/bots/shop/messages", &last).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("duplicate")), "{body}");
    let body = datapoints(&app, "shop", "c").await;
    assert_eq!(body["status"], "ended");
    assert_eq!(body["datapoints"]["Email"]["status"], "final");
    assert_eq!(finalise(&app, now + SEC).await, FinaliseOutcome { finalised: 0, skipped: 0 });
    assert_eq!(ended_deliveries(&app, "shop", webhook).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_conversation_not_idle_yet_is_left_alone() {
    let app = spawn_app().await;
    setup_bot(&app, "shop").await;
    let now = base() + 2 * IDLE;
    let s = |ms: Millis| (ms - base()) / SEC;
    app.ingest(
        "shop",
        vec![
            msg("due", "m1", "user", "my email is due@example.com", s(now - IDLE)),
            msg("early", "m1", "user", "my email is early@example.com", s(now - IDLE + SEC)),
        ],
    )
    .await;
    assert_eq!(finalise(&app, now).await, FinaliseOutcome { finalised: 1, skipped: 0 });
    assert_eq!(datapoints(&app, "shop", "due").await["status"], "ended");
    let early = datapoints(&app, "shop", "early").await;
    assert_eq!(early["status"], "active");
    assert_eq!(early["datapoints"]["Email"]["status"], "provisional");
    assert_eq!(finalise(&app, now + SEC).await, FinaliseOutcome { finalised: 1, skipped: 0 });
    assert_eq!(datapoints(&app, "shop", "early").await["status"], "ended");
    app.stop().await;
}

#[tokio::test]
async fn each_bot_has_its_own_inactivity_timeout() {
    let app = spawn_app().await;
    setup_bot(&app, "fast").await;
    setup_bot(&app, "slow").await;
    let admin = app.admin_key.clone();

    // Bad settings are refused, naming the field, and change nothing.
    let before = app.get(&admin, "/v1/bots/fast/settings").await;
    assert_eq!(before.0, StatusCode::OK);
    assert_eq!(before.1["inactivity_timeout_seconds"], 600, "the default is ten minutes");
    for (bad, field) in [
        (json!({"inactivity_timeout_seconds": 59}), "inactivity_timeout_seconds"),
        (json!({"inactivity_timeout_seconds": 604_801}), "inactivity_timeout_seconds"),
        (json!({"inactivity_timeout_seconds": -5}), "inactivity_timeout_seconds"),
        (json!({"inactivity_timeout_seconds": "600"}), "inactivity_timeout_seconds"),
        (json!({"phone_region": "XX"}), "phone_region"),
        (json!({"timezone": "Mars/Base"}), "timezone"),
        (json!({"inactivity": 60}), "inactivity"),
    ] {
        let (status, body) =
            app.call(Method::PUT, &admin, "/v1/bots/fast/settings", Some(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["field"], field, "{bad}: {body}");
        assert_eq!(
            app.get(&admin, "/v1/bots/fast/settings").await,
            before,
            "{bad} changed nothing"
        );
    }
    let settings = json!({
        "inactivity_timeout_seconds": 60, "phone_region": "US", "timezone": "Europe/Warsaw"
    });
    put_settings(&app, "fast", settings.clone()).await;
    assert_eq!(app.get(&admin, "/v1/bots/fast/settings").await, (StatusCode::OK, settings));

    app.ingest("fast", vec![msg("c", "m1", "user", "my email is a@example.com", 0)]).await;
    app.ingest("slow", vec![msg("c", "m1", "user", "my email is b@example.com", 0)]).await;
    let last = base();
    assert_eq!(finalise(&app, last + 59 * SEC).await.finalised, 0);
    assert_eq!(finalise(&app, last + 60 * SEC).await.finalised, 1);
    assert_eq!(datapoints(&app, "fast", "c").await["status"], "ended");
    assert_eq!(datapoints(&app, "slow", "c").await["status"], "active");
    assert_eq!(finalise(&app, last + IDLE - SEC).await.finalised, 0);
    assert_eq!(finalise(&app, last + IDLE).await.finalised, 1);
    let slow = datapoints(&app, "slow", "c").await;
    assert_eq!(slow["status"], "ended");
    assert_eq!(slow["datapoints"]["Email"]["status"], "final");
    app.stop().await;
}

// ---- explicit values and corrections ----

#[tokio::test]
async fn explicit_values_win_and_survive_finalisation() {
    let app = spawn_app().await;
    setup_bot(&app, "shop").await;
    let path = "/v1/bots/shop/conversations/c/datapoints";
    app.ingest(
        "shop",
        vec![
            msg("c", "m1", "bot", "What's your email?", 0),
            msg("c", "m2", "user", "anna@example.com", 10),
        ],
    )
    .await;
    // An ingest key may set values; choices are canonicalised, emails lower-cased.
    let ingest = app.key(app.team_id, &["ingest"], None).await;
    let put =
        json!({"datapoints": {"Email": "Boss@Example.COM", "Plan": "pro", "Name": "anna smith"}});
    let (status, body) = app.call(Method::PUT, &ingest, path, Some(&put)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["conversation_id"], "c");
    assert_eq!(body["status"], "active");
    let want = expect(&[
        ("Email", json!("boss@example.com")),
        ("Name", json!("Anna Smith")),
        ("Plan", json!("Pro")),
    ]);
    assert_eq!(values(&body), want);
    for key in ["Email", "Plan", "Name"] {
        let v = &body["datapoints"][key];
        assert_eq!(v["method"], "explicit", "{key}: {body}");
        assert!(v["evidence"].is_null(), "{key}: {body}");
        assert_eq!(v["status"], "provisional", "{key}: {body}");
        assert!(v["message_id"].is_null(), "{key}: {body}");
        assert!(v["message_at"].is_null(), "{key}: {body}");
    }
    assert_eq!(values(&datapoints(&app, "shop", "c").await), want);

    // Later messages that would give other values do not replace explicit ones.
    app.ingest(
        "shop",
        vec![
            msg("c", "m3", "user", "my email is other@example.com", 20),
            msg("c", "m4", "user", "my plan is Basic", 30),
            msg("c", "m5", "user", "sorry, my name is Bob", 40),
        ],
    )
    .await;
    assert_eq!(values(&datapoints(&app, "shop", "c").await), want);

    // Nor does finalisation.
    assert_eq!(finalise(&app, base() + 40 * SEC + IDLE).await.finalised, 1);
    let ended = datapoints(&app, "shop", "c").await;
    assert_eq!(ended["status"], "ended");
    assert_eq!(values(&ended), want);
    for key in ["Email", "Plan", "Name"] {
        assert_eq!(ended["datapoints"][key]["method"], "explicit", "{key}");
        assert_eq!(ended["datapoints"][key]["status"], "final", "{key}");
    }

    // `null` takes an explicit value back; the transcript's value then stands again once the
    // conversation is next finalised.
    let (status, body) =
        app.call(Method::PUT, &ingest, path, Some(&json!({"datapoints": {"Plan": null}}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["datapoints"].get("Plan").is_none(), "{body}");
    assert_eq!(body["datapoints"]["Email"]["value"], "boss@example.com");
    send(&app, "shop", msg("c", "m6", "user", "thanks, bye", 50)).await;
    assert_eq!(finalise(&app, base() + 50 * SEC + IDLE).await.finalised, 1);
    let ended = datapoints(&app, "shop", "c").await;
    assert_eq!(ended["datapoints"]["Plan"]["value"], "Basic", "{ended}");
    assert_eq!(ended["datapoints"]["Plan"]["method"], "rule");
    assert!(ended["datapoints"]["Plan"]["evidence"].is_string(), "{ended}");
    assert_eq!(ended["datapoints"]["Plan"]["message_id"], "m4");
    assert_eq!(ended["datapoints"]["Email"]["value"], "boss@example.com");
    assert_eq!(ended["datapoints"]["Email"]["method"], "explicit");
    app.stop().await;
}

#[tokio::test]
async fn a_correction_in_a_later_message_replaces_the_value() {
    let app = spawn_app().await;
    setup_bot(&app, "shop").await;
    send(&app, "shop", msg("c", "m1", "bot", "What's your email?", 0)).await;
    send(&app, "shop", msg("c", "m2", "user", "anna@example.com", 10)).await;
    let first = datapoints(&app, "shop", "c").await;
    assert_eq!(first["datapoints"]["Email"]["value"], "anna@example.com");
    assert_eq!(first["datapoints"]["Email"]["message_id"], "m2");
    send(&app, "shop", msg("c", "m3", "user", "sorry, it's actually anna.k@example.com", 20)).await;
    let corrected = datapoints(&app, "shop", "c").await;
    assert_eq!(values(&corrected), expect(&[("Email", json!("anna.k@example.com"))]));
    assert_eq!(corrected["datapoints"]["Email"]["message_id"], "m3");
    assert_eq!(corrected["datapoints"]["Email"]["message_at"], at(20));
    // The full-transcript pass at finalisation agrees.
    assert_eq!(finalise(&app, base() + 20 * SEC + IDLE).await.finalised, 1);
    let ended = datapoints(&app, "shop", "c").await;
    assert_eq!(values(&ended), expect(&[("Email", json!("anna.k@example.com"))]));
    assert_eq!(ended["datapoints"]["Email"]["message_id"], "m3");
    assert_eq!(ended["datapoints"]["Email"]["status"], "final");
    app.stop().await;
}

/// A dialogue with a question, answers, a correction and an unsolicited phone number: the
/// values depend on the order of its messages.
fn script(conversation: &str) -> Vec<Value> {
    vec![
        msg(conversation, "m1", "bot", "Hi! What's your name?", 0),
        msg(conversation, "m2", "user", "Anna", 10),
        msg(conversation, "m3", "bot", "Nice to meet you. What's your email?", 20),
        msg(conversation, "m4", "user", "anna@example.com", 30),
        msg(conversation, "m5", "user", "sorry, it's actually anna.k@example.com", 40),
        msg(conversation, "m6", "bot", "Which plan would you like?", 50),
        msg(conversation, "m7", "user", "Pro", 60),
        msg(conversation, "m8", "user", "oh and call me on (415) 555-2671", 70),
    ]
}

#[tokio::test]
async fn out_of_order_arrival_ends_with_the_same_values() {
    let app = spawn_app().await;
    setup_bot(&app, "shop").await;
    for m in script("ordered") {
        send(&app, "shop", m).await;
    }
    let shuffled = script("shuffled");
    for batch in [&[5usize, 1][..], &[7], &[0, 6], &[3, 2, 4]] {
        app.ingest("shop", batch.iter().map(|&i| shuffled[i].clone()).collect()).await;
    }
    let want = expect(&[
        ("Email", json!("anna.k@example.com")),
        ("Name", json!("Anna")),
        ("Phone", json!("+14155552671")),
        ("Plan", json!("Pro")),
    ]);
    let ordered = datapoints(&app, "shop", "ordered").await;
    let out_of_order = datapoints(&app, "shop", "shuffled").await;
    assert_eq!(values(&ordered), want);
    assert_eq!(without_updated_at(&out_of_order), without_updated_at(&ordered));
    let sources: BTreeMap<&str, &Value> = ["Name", "Email", "Plan", "Phone"]
        .into_iter()
        .map(|k| (k, &out_of_order["datapoints"][k]["message_id"]))
        .collect();
    assert_eq!(
        sources,
        BTreeMap::from([
            ("Email", &json!("m5")),
            ("Name", &json!("m2")),
            ("Phone", &json!("m8")),
            ("Plan", &json!("m7"))
        ])
    );

    assert_eq!(finalise(&app, base() + 70 * SEC + IDLE).await.finalised, 2);
    let ordered = datapoints(&app, "shop", "ordered").await;
    let out_of_order = datapoints(&app, "shop", "shuffled").await;
    assert_eq!(values(&ordered), want);
    assert_eq!(without_updated_at(&out_of_order), without_updated_at(&ordered));
    assert_eq!(out_of_order["datapoints"]["Email"]["status"], "final");
    app.stop().await;
}

#[tokio::test]
async fn bad_explicit_values_name_the_field_and_change_nothing() {
    let app = spawn_app().await;
    setup_bot(&app, "shop").await;
    app.ingest(
        "shop",
        vec![
            msg("c", "m1", "bot", "What's your email?", 0),
            msg("c", "m2", "user", "anna@example.com", 10),
        ],
    )
    .await;
    let path = "/v1/bots/shop/conversations/c/datapoints";
    let admin = app.admin_key.clone();
    let ok = json!({"datapoints": {"Plan": "Basic"}});
    assert_eq!(app.call(Method::PUT, &admin, path, Some(&ok)).await.0, StatusCode::OK);
    let before = datapoints(&app, "shop", "c").await;

    for (bad, field) in [
        (json!({"datapoints": {"Colour": "red"}}), "datapoints.Colour"),
        (json!({"datapoints": {"email": "a@b.com"}}), "datapoints.email"),
        (json!({"datapoints": {"Email": "not an email"}}), "datapoints.Email"),
        (json!({"datapoints": {"Email": 42}}), "datapoints.Email"),
        (json!({"datapoints": {"Plan": "Platinum"}}), "datapoints.Plan"),
        (json!({"datapoints": {"Phone": "12"}}), "datapoints.Phone"),
        (json!({"datapoints": {"Name": "why do you need it"}}), "datapoints.Name"),
        (json!({"datapoints": {"Name": ["Anna"]}}), "datapoints.Name"),
        // One bad value refuses the whole request: the good one is not stored either.
        (json!({"datapoints": {"Name": "Bob", "Phone": "12"}}), "datapoints.Phone"),
        (json!({"datapoints": {}}), "datapoints"),
        (json!({"datapoints": "Email=a@b.com"}), "datapoints"),
        (json!({"values": {"Email": "a@b.com"}}), "values"),
    ] {
        let (status, body) = app.call(Method::PUT, &admin, path, Some(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["field"], field, "{bad}: {body}");
        assert_eq!(datapoints(&app, "shop", "c").await, before, "{bad} changed nothing");
    }
    // Unknown conversation or bot: not found; a read key may not set values.
    let put = json!({"datapoints": {"Plan": "Pro"}});
    let (status, body) = app
        .call(Method::PUT, &admin, "/v1/bots/shop/conversations/nope/datapoints", Some(&put))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .call(Method::PUT, &admin, "/v1/bots/nobot/conversations/c/datapoints", Some(&put))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let read = app.key(app.team_id, &["read"], None).await;
    assert_eq!(app.call(Method::PUT, &read, path, Some(&put)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(datapoints(&app, "shop", "c").await, before);
    app.stop().await;
}

#[tokio::test]
async fn erasing_a_conversation_removes_its_datapoints() {
    let app = spawn_app().await;
    setup_bot(&app, "shop").await;
    for id in ["gone", "kept"] {
        app.ingest(
            "shop",
            vec![
                msg(id, "m1", "bot", "What's your email?", 0),
                msg(id, "m2", "user", &format!("{id}@example.com"), 10),
            ],
        )
        .await;
    }
    let put = json!({"datapoints": {"Plan": "Pro"}});
    let path = "/v1/bots/shop/conversations/gone/datapoints";
    assert_eq!(app.call(Method::PUT, &app.admin_key, path, Some(&put)).await.0, StatusCode::OK);
    let (_, listed) = app.get(&app.admin_key, "/v1/bots/shop/conversations?datapoint=Email").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");

    let (status, _) = app.delete(&app.admin_key, "/v1/bots/shop/conversations/gone").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&app.admin_key, path).await.0, StatusCode::NOT_FOUND);
    let (_, listed) = app.get(&app.admin_key, "/v1/bots/shop/conversations?datapoint=Email").await;
    let ids: Vec<&str> =
        listed["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["kept"]);
    let (_, listed) = app.get(&app.admin_key, "/v1/bots/shop/conversations?datapoint=Plan").await;
    assert_eq!(listed["data"], json!([]));

    // The same id used again starts with nothing: no value survives the erasure.
    send(&app, "shop", msg("gone", "m1", "user", "hello again", 20)).await;
    let again = datapoints(&app, "shop", "gone").await;
    assert_eq!(again["datapoints"], json!({}));
    assert_eq!(finalise(&app, base() + 20 * SEC + IDLE).await.finalised, 2);
    assert_eq!(datapoints(&app, "shop", "gone").await["datapoints"], json!({}));
    assert_eq!(
        values(&datapoints(&app, "shop", "kept").await),
        expect(&[("Email", json!("kept@example.com"))])
    );

    // Erasing an end user takes their conversations' values too.
    let m = json!({
        "conversation_id": "u-conv", "role": "user", "user_id": "u9",
        "content": "my email is u9@example.com", "timestamp": at(30)
    });
    send(&app, "shop", m).await;
    assert_eq!(values(&datapoints(&app, "shop", "u-conv").await).len(), 1);
    let (status, body) = app.delete(&app.admin_key, "/v1/bots/shop/users/u9").await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({"deleted_conversations": 1})));
    let path = "/v1/bots/shop/conversations/u-conv/datapoints";
    assert_eq!(app.get(&app.admin_key, path).await.0, StatusCode::NOT_FOUND);
    let (_, listed) = app.get(&app.admin_key, "/v1/bots/shop/conversations?datapoint=Email").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    app.stop().await;
}
