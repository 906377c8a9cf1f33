//! Webhooks end to end: the subscription API, and deliveries sent to a real receiver on a
//! loopback port — signed, retried with back-off, dead-lettered and retried by hand, kept across
//! a restart; targets that are not public addresses refused unless the server allows them.
//! Events come from ingesting messages and running the finaliser; the sender is run
//! by hand with the clock each test chooses.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::IntoResponse;
use axum::routing::post;
use common::{TestApp, spawn_app, spawn_app_with};
use confab_core::time::{Millis, format_rfc3339, now_millis};
use confab_core::webhook::{MAX_ATTEMPTS, next_attempt};
use confab_server::Config;
use confab_server::jobs::deliver::{DeliverOutcome, LEASE_MS, client, deliver_due_once};
use confab_server::jobs::finalise::finalise_idle_once;
use confab_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const HOUR: Millis = 3_600_000;
const SEC: Millis = 1000;

// ---- a receiver that records what it is sent ----

#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: String,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Recorded {
    hits: Mutex<Vec<Hit>>,
    /// Requests to `/hook` still to be answered 500.
    failures_left: AtomicU32,
}

/// An HTTP server on a loopback port: `/hook` records the request and answers 200 (or 500 while
/// told to fail), `/moved` records it and redirects to `/hook`. The sender awaits each answer,
/// so what was sent is recorded by the time `deliver_due_once` returns: no waiting needed.
struct Receiver {
    base: String,
    recorded: Arc<Recorded>,
}

impl Receiver {
    async fn spawn() -> Receiver {
        let recorded = Arc::new(Recorded::default());
        let app = Router::new()
            .route("/hook", post(answer))
            .route("/moved", post(redirect))
            .with_state(recorded.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { base, recorded }
    }

    fn url(&self) -> String {
        format!("{}/hook", self.base)
    }

    fn fail_next(&self, n: u32) {
        self.recorded.failures_left.store(n, Ordering::SeqCst);
    }

    fn hits(&self) -> Vec<Hit> {
        self.recorded.hits.lock().unwrap().clone()
    }
}

fn record(recorded: &Recorded, uri: &Uri, headers: HeaderMap, body: Bytes) {
    let body = String::from_utf8(body.to_vec()).unwrap();
    recorded.hits.lock().unwrap().push(Hit { path: uri.path().to_owned(), headers, body });
}

async fn answer(
    State(recorded): State<Arc<Recorded>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    record(&recorded, &uri, headers, body);
    let fail = recorded
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    match fail {
        true => (StatusCode::INTERNAL_SERVER_ERROR, "database is down"),
        false => (StatusCode::OK, "thanks"),
    }
}

async fn redirect(
    State(recorded): State<Arc<Recorded>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    record(&recorded, &uri, headers, body);
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, "/hook")])
}

// ---- what a receiver does to check a delivery: HMAC-SHA256 over `{timestamp}.{body}` ----

/// Whether the `Confab-Signature` of `hit` is the one `secret` gives; computed here with
/// the `hmac` crate, as a receiver would, not with Confab's own signing function.
fn signed_with(secret: &str, hit: &Hit) -> bool {
    let signed = format!("{}.{}", hit.header("confab-timestamp"), hit.body);
    let mac = hmac_sha256(secret.as_bytes(), signed.as_bytes());
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    hit.header("confab-signature") == format!("v1={hex}")
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[test]
fn the_test_verifier_agrees_with_openssl() {
    // `printf '1700000000.{}' | openssl dgst -sha256 -hmac secret`
    let hit = Hit {
        path: "/hook".into(),
        headers: HeaderMap::from_iter([
            ("confab-timestamp".parse().unwrap(), "1700000000".parse().unwrap()),
            (
                "confab-signature".parse().unwrap(),
                "v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
                    .parse()
                    .unwrap(),
            ),
        ]),
        body: "{}".into(),
    };
    assert!(signed_with("secret", &hit));
    assert!(!signed_with("secreT", &hit));
    // Keys longer than a block are hashed first (RFC 4231, test case 6).
    let mac = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
    assert_eq!(mac[..4], [0x60, 0xe4, 0x31, 0x59]);
}

// ---- helpers ----

fn hooks(bot: &str) -> String {
    format!("/v1/bots/{bot}/webhooks")
}

/// Subscribes `url` to `events` of `bot` with the admin key; returns the created webhook (with
/// its secret).
async fn subscribe(app: &TestApp, bot: &str, url: &str, events: &[&str]) -> Value {
    let (status, body) =
        app.post(&app.admin_key, &hooks(bot), &json!({"url": url, "events": events})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// A user message an hour ago in each conversation, then the finaliser at `now_millis()`, which
/// ends them and queues their `conversation.ended` events; returns that time.
async fn end_conversations(app: &TestApp, bot: &str, ids: &[&str], content: &str) -> Millis {
    let at = format_rfc3339(now_millis() - HOUR);
    for id in ids {
        let (status, body) = app
            .post(
                &app.admin_key,
                &format!("/v1/bots/{bot}/messages"),
                &json!({"conversation_id": id, "role": "user", "content": content,
                        "timestamp": at}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let now = now_millis();
    let done = finalise_idle_once(&*app.store, None, now).await.unwrap();
    assert_eq!(done.finalised as usize, ids.len());
    now
}

async fn deliver(store: &dyn Store, now: Millis) -> DeliverOutcome {
    deliver_due_once(store, &client(true), now).await.unwrap()
}

fn outcome(delivered: u32, failed: u32, dead: u32) -> DeliverOutcome {
    DeliverOutcome { delivered, failed, dead }
}

/// The deliveries of a webhook (newest first), with an optional query string.
async fn deliveries(app: &TestApp, bot: &str, webhook: &Value, query: &str) -> Vec<Value> {
    let path = format!("{}/{}/deliveries{query}", hooks(bot), webhook["id"]);
    let (status, body) = app.get(&app.admin_key, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["deliveries"].as_array().unwrap().clone()
}

// ---- the subscription API ----

#[tokio::test]
async fn subscriptions_are_created_listed_fetched_and_deleted() {
    let app = spawn_app().await;
    let admin = app.admin_key.clone();
    let generated = subscribe(&app, "shop", "https://example.com/a", &["conversation.ended"]).await;
    let secret = generated["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 30, "{generated}");
    assert_eq!(generated["secret_hint"], format!("{}…", &secret[..10]));
    assert_eq!(generated["bot_id"], "shop");
    assert_eq!(generated["url"], "https://example.com/a");
    assert_eq!(generated["events"], json!(["conversation.ended"]));
    assert!(generated["created_at"].as_str().unwrap().ends_with('Z'));

    let (status, given) = app
        .post(
            &admin,
            &hooks("shop"),
            &json!({"url": "http://127.0.0.1:9/b",
                    "events": ["datapoints.updated", "conversation.ended"],
                    "secret": "my-own-secret-0123456789"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{given}");
    assert_eq!(given["secret"], "my-own-secret-0123456789");
    assert_eq!(given["secret_hint"], "my-own-sec…");
    assert_eq!(given["events"], json!(["conversation.ended", "datapoints.updated"]));

    // The secret is shown once: listings and reads give only its hint, to read keys too.
    let without_secret = |mut v: Value| {
        v.as_object_mut().unwrap().remove("secret");
        v
    };
    let expected = json!([without_secret(generated.clone()), without_secret(given.clone())]);
    let read = app.key(app.team_id, &["read"], None).await;
    for key in [&admin, &read] {
        assert_eq!(
            app.get(key, &hooks("shop")).await,
            (StatusCode::OK, json!({"webhooks": expected}))
        );
        let one = app.get(key, &format!("{}/{}", hooks("shop"), given["id"])).await;
        assert_eq!(one, (StatusCode::OK, expected[1].clone()));
    }
    assert_eq!(deliveries(&app, "shop", &given, "").await, Vec::<Value>::new());

    let path = format!("{}/{}", hooks("shop"), generated["id"]);
    assert_eq!(app.delete(&admin, &path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&admin, &path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&admin, &path).await.0, StatusCode::NOT_FOUND);
    let (_, list) = app.get(&admin, &hooks("shop")).await;
    assert_eq!(list["webhooks"], json!([expected[1]]));
    app.stop().await;
}

#[tokio::test]
async fn bad_subscriptions_and_queries_are_400_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_key.clone();
    let hook = subscribe(&app, "shop", "https://example.com/a", &["conversation.ended"]).await;
    let ok = json!({"url": "https://example.com/b", "events": ["conversation.ended"]});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    for (body, field) in [
        (without("url"), "url"),
        (with("url", json!("ftp://example.com")), "url"),
        (with("url", json!("https://")), "url"),
        (with("url", json!("https://exa mple.com")), "url"),
        (with("url", json!(format!("https://example.com/{}", "x".repeat(2048)))), "url"),
        (with("url", json!(7)), "url"),
        (without("events"), "events"),
        (with("events", json!([])), "events"),
        (with("events", json!("conversation.ended")), "events"),
        (with("events", json!(["conversation.ended", "message.created"])), "events[1]"),
        (with("secret", json!("short")), "secret"),
        (with("secret", json!("has spaces in the middle")), "secret"),
        (with("colour", json!("red")), "colour"),
    ] {
        let (status, resp) = app.post(&admin, &hooks("shop"), &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert_eq!(resp["error"]["field"], field, "{body}: {resp}");
    }
    let (_, list) = app.get(&admin, &hooks("shop")).await;
    assert_eq!(
        list["webhooks"].as_array().unwrap().len(),
        1,
        "a refused subscription is not stored"
    );

    let one = format!("{}/{}", hooks("shop"), hook["id"]);
    for (method, path, field) in [
        (Method::GET, format!("{}/abc", hooks("shop")), "path"),
        (Method::DELETE, format!("{}/1.5", hooks("shop")), "path"),
        (Method::GET, format!("{}?page=2", hooks("shop")), "page"),
        (Method::GET, format!("{one}/deliveries?state=failed"), "state"),
        (Method::GET, format!("{one}/deliveries?limit=0"), "limit"),
        (Method::GET, format!("{one}/deliveries?limit=101"), "limit"),
        (Method::GET, format!("{one}/deliveries?limit=ten"), "limit"),
        (Method::GET, format!("{one}/deliveries?cursor=abc"), "cursor"),
        (Method::GET, format!("{one}/deliveries?page=2"), "page"),
        (Method::POST, format!("{one}/deliveries/abc/retry"), "path"),
    ] {
        let (status, resp) = app.call(method.clone(), &admin, &path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {resp}");
        assert_eq!(resp["error"]["field"], field, "{method} {path}: {resp}");
    }
    for (method, path) in [
        (Method::GET, format!("{}/999999", hooks("shop"))),
        (Method::GET, format!("{}/999999/deliveries", hooks("shop"))),
        (Method::POST, format!("{one}/deliveries/999999/retry")),
        (Method::GET, hooks("nope")),
    ] {
        let (status, resp) = app.call(method.clone(), &admin, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {resp}");
    }
    app.stop().await;
}

#[tokio::test]
async fn webhooks_stay_in_their_team_and_only_admins_change_them() {
    let app = spawn_app().await;
    let ours = subscribe(&app, "shop", "https://example.com/a", &["conversation.ended"]).await;
    let one = format!("{}/{}", hooks("shop"), ours["id"]);
    let body = json!({"url": "https://example.com/b", "events": ["conversation.ended"]});

    // Another team, even with its own bot `shop`, sees nothing of ours.
    let (_, theirs) = app.new_team("other").await;
    let calls = [
        (Method::GET, hooks("shop"), None),
        (Method::GET, one.clone(), None),
        (Method::GET, format!("{one}/deliveries"), None),
        (Method::POST, format!("{one}/deliveries/1/retry"), None),
        (Method::DELETE, one.clone(), None),
    ];
    for (method, path, body) in &calls {
        let (status, resp) = app.call(method.clone(), &theirs, path, body.as_ref()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {resp}");
    }
    let (status, _) = app.post(&theirs, &hooks("shop"), &body).await;
    assert_eq!(status, StatusCode::CREATED);
    for (method, path, body) in &calls[1..] {
        let (status, resp) = app.call(method.clone(), &theirs, path, body.as_ref()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {resp}");
    }
    let (_, list) = app.get(&theirs, &hooks("shop")).await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert_ne!(list["webhooks"][0]["id"], ours["id"]);

    // A read key reads; only an admin key changes anything.
    let read = app.key(app.team_id, &["read"], None).await;
    assert_eq!(app.get(&read, &hooks("shop")).await.0, StatusCode::OK);
    assert_eq!(app.get(&read, &format!("{one}/deliveries")).await.0, StatusCode::OK);
    for (method, path, body) in [
        (Method::POST, hooks("shop"), Some(body.clone())),
        (Method::DELETE, one.clone(), None),
        (Method::POST, format!("{one}/deliveries/1/retry"), None),
    ] {
        let (status, resp) = app.call(method.clone(), &read, &path, body.as_ref()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {resp}");
    }
    let ingest = app.key(app.team_id, &["ingest"], None).await;
    assert_eq!(app.get(&ingest, &hooks("shop")).await.0, StatusCode::FORBIDDEN);
    // A key limited to another bot does not see this one.
    let limited = app.key(app.team_id, &["admin"], Some(vec!["other"])).await;
    assert_eq!(app.get(&limited, &hooks("shop")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.post(&limited, &hooks("shop"), &body).await.0, StatusCode::NOT_FOUND);

    let (_, list) = app.get(&app.admin_key, &hooks("shop")).await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["webhooks"][0]["id"], ours["id"]);
    app.stop().await;
}

// ---- sending ----

#[tokio::test]
async fn deliveries_are_signed_and_only_for_subscribed_events() {
    let app = spawn_app().await;
    let receiver = Receiver::spawn().await;
    let schema = json!({"datapoints": [{"key": "Email", "type": "email"}]});
    let (status, _) = app
        .call(Method::PUT, &app.admin_key, "/v1/bots/shop/datapoints/schema", Some(&schema))
        .await;
    assert_eq!(status, StatusCode::OK);
    let both =
        subscribe(&app, "shop", &receiver.url(), &["conversation.ended", "datapoints.updated"])
            .await;
    let ended_only = subscribe(
        &app,
        "shop",
        &format!("{}?who=ended-only", receiver.url()),
        &["conversation.ended"],
    )
    .await;

    let now = end_conversations(&app, "shop", &["c1"], "Hi, my email is jane@example.com").await;
    let done = deliver(&*app.store, now).await;
    let hits = receiver.hits();
    assert_eq!(done, outcome(hits.len() as u32, 0, 0));

    let mut seen = vec![];
    for hit in &hits {
        let body = hit.json();
        // Both subscriptions share the path; each has its own secret.
        let secret = [&both, &ended_only]
            .into_iter()
            .map(|w| w["secret"].as_str().unwrap())
            .find(|s| signed_with(s, hit))
            .expect("signed with a subscription's secret");
        assert_eq!(hit.path, "/hook");
        assert_eq!(hit.header("content-type"), "application/json");
        assert!(hit.header("user-agent").starts_with("Confab-Webhooks/"), "{hit:?}");
        assert_eq!(hit.header("confab-timestamp"), (now / 1000).to_string());
        assert_eq!(hit.header("confab-event"), body["event"]);
        assert_eq!(hit.header("confab-event-id"), body["id"]);
        assert!(hit.header("confab-event-id").starts_with("evt_"), "{hit:?}");
        assert_eq!(body["bot_id"], "shop");
        assert_eq!(body["conversation"]["id"], "c1");
        assert_eq!(body["datapoints"]["Email"]["value"], "jane@example.com", "{body}");
        assert!(body["datapoints"]["Email"]["evidence"].is_string(), "{body}");
        if body["event"] == "conversation.ended" {
            assert_eq!(body["conversation"]["status"], "ended");
            assert_eq!(body["datapoints"]["Email"]["status"], "final");
        }
        seen.push((secret == both["secret"], body["event"].as_str().unwrap().to_owned()));
        // A receiver that got the body changed, or another secret, refuses it.
        let tampered = Hit { body: hit.body.replace("jane", "john"), ..hit.clone() };
        assert!(!signed_with(secret, &tampered));
    }
    let count = |to_both: bool, event: &str| {
        seen.iter().filter(|(b, e)| *b == to_both && e == event).count()
    };
    assert_eq!(count(true, "conversation.ended"), 1, "{seen:?}");
    assert!(count(true, "datapoints.updated") >= 1, "{seen:?}");
    assert_eq!(count(false, "conversation.ended"), 1, "{seen:?}");
    assert_eq!(count(false, "datapoints.updated"), 0, "{seen:?}");

    // Delivered once: the next round sends nothing, and the API says how it went.
    assert_eq!(deliver(&*app.store, now + HOUR).await.tried(), 0);
    assert_eq!(receiver.hits().len(), hits.len());
    for d in deliveries(&app, "shop", &both, "").await {
        assert_eq!(d["state"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["last_status"], 200);
        assert_eq!(d["last_error"], Value::Null);
        assert_eq!(d["next_attempt_at"], Value::Null);
        assert_eq!(d["delivered_at"], format_rfc3339(now));
    }
    app.stop().await;
}

#[tokio::test]
async fn deliveries_are_listed_newest_first_in_pages() {
    let app = spawn_app().await;
    let receiver = Receiver::spawn().await;
    let hook = subscribe(&app, "shop", &receiver.url(), &["conversation.ended"]).await;
    end_conversations(&app, "shop", &["c1", "c2", "c3"], "hello").await;

    let path = format!("{}/{}/deliveries", hooks("shop"), hook["id"]);
    let (status, first) = app.get(&app.admin_key, &format!("{path}?limit=2")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let (_, second) = app.get(&app.admin_key, &format!("{path}?limit=2&cursor={cursor}")).await;
    assert_eq!(second["next_cursor"], Value::Null);
    let ids: Vec<i64> = [&first, &second]
        .iter()
        .flat_map(|p| p["deliveries"].as_array().unwrap().iter())
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{first} {second}");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    for d in first["deliveries"].as_array().unwrap() {
        assert_eq!(d["state"], "pending");
        assert_eq!(d["event"], "conversation.ended");
        assert_eq!(d["attempts"], 0);
    }
    assert_eq!(deliveries(&app, "shop", &hook, "?state=pending").await.len(), 3);
    assert_eq!(deliveries(&app, "shop", &hook, "?state=delivered").await.len(), 0);
    app.stop().await;
}

#[tokio::test]
async fn failed_deliveries_back_off_and_keep_their_event_id() {
    let app = spawn_app().await;
    let receiver = Receiver::spawn().await;
    let hook = subscribe(&app, "shop", &receiver.url(), &["conversation.ended"]).await;
    let t0 = end_conversations(&app, "shop", &["c1"], "hello").await;
    receiver.fail_next(2);

    assert_eq!(deliver(&*app.store, t0).await, outcome(0, 1, 0));
    let [d] = deliveries(&app, "shop", &hook, "").await.try_into().unwrap();
    assert_eq!(d["state"], "pending", "{d}");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["last_status"], 500);
    assert_eq!(d["last_error"], "HTTP 500 Internal Server Error: database is down");
    assert_eq!(d["next_attempt_at"], format_rfc3339(t0 + 30 * SEC));

    // Not due 10 s later; due again 30 s after the first try, then 60 s after the second.
    assert_eq!(deliver(&*app.store, t0 + 10 * SEC).await.tried(), 0);
    assert_eq!(receiver.hits().len(), 1);
    assert_eq!(deliver(&*app.store, t0 + 30 * SEC).await, outcome(0, 1, 0));
    assert_eq!(deliver(&*app.store, t0 + 89 * SEC).await.tried(), 0);
    assert_eq!(deliver(&*app.store, t0 + 90 * SEC).await, outcome(1, 0, 0));

    let [d] = deliveries(&app, "shop", &hook, "").await.try_into().unwrap();
    assert_eq!(d["state"], "delivered", "{d}");
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["last_status"], 200);
    assert_eq!(d["last_error"], Value::Null);
    assert_eq!(d["delivered_at"], format_rfc3339(t0 + 90 * SEC));

    // Each try is the same event, body and id (receivers dedupe on it), freshly signed.
    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    let secret = hook["secret"].as_str().unwrap();
    let stamps: Vec<&str> = hits.iter().map(|h| h.header("confab-timestamp")).collect();
    assert_eq!(stamps, [t0 / 1000, t0 / 1000 + 30, t0 / 1000 + 90].map(|s| s.to_string()));
    for hit in &hits {
        assert!(signed_with(secret, hit), "{hit:?}");
        assert_eq!(hit.header("confab-event-id"), d["event_id"]);
        assert_eq!(hit.body, hits[0].body);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_delivery_dies_after_max_attempts_and_can_be_retried() {
    let app = spawn_app().await;
    let receiver = Receiver::spawn().await;
    let hook = subscribe(&app, "shop", &receiver.url(), &["conversation.ended"]).await;
    let mut now = end_conversations(&app, "shop", &["c1"], "hello").await;
    receiver.fail_next(u32::MAX);

    for attempt in 1..MAX_ATTEMPTS {
        assert_eq!(deliver(&*app.store, now).await, outcome(0, 1, 0), "try {attempt}");
        now = next_attempt(attempt, now).unwrap();
    }
    assert_eq!(deliver(&*app.store, now).await, outcome(0, 0, 1));
    assert_eq!(receiver.hits().len(), MAX_ATTEMPTS as usize);
    // Dead is dead: no later round sends it.
    assert_eq!(deliver(&*app.store, now + 24 * HOUR).await.tried(), 0);

    assert_eq!(deliveries(&app, "shop", &hook, "?state=pending").await.len(), 0);
    let [dead] = deliveries(&app, "shop", &hook, "?state=dead").await.try_into().unwrap();
    assert_eq!(dead["attempts"], MAX_ATTEMPTS);
    assert_eq!(dead["last_status"], 500);
    assert_eq!(dead["next_attempt_at"], Value::Null);
    assert_eq!(dead["delivered_at"], Value::Null);

    // Back in line by hand, sent in the next round, and then no longer retryable.
    receiver.fail_next(0);
    let retry = format!("{}/{}/deliveries/{}/retry", hooks("shop"), hook["id"], dead["id"]);
    let (status, again) = app.post(&app.admin_key, &retry, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], dead["id"]);
    assert_eq!(again["state"], "pending");
    assert_eq!(again["attempts"], 0);
    assert_eq!(deliver(&*app.store, now_millis()).await, outcome(1, 0, 0));
    let [done] = deliveries(&app, "shop", &hook, "").await.try_into().unwrap();
    assert_eq!((&done["state"], &done["attempts"]), (&json!("delivered"), &json!(1)));
    let last = receiver.hits().pop().unwrap();
    assert_eq!(last.header("confab-event-id"), dead["event_id"]);
    assert!(signed_with(hook["secret"].as_str().unwrap(), &last));
    assert_eq!(app.post(&app.admin_key, &retry, &json!({})).await.0, StatusCode::CONFLICT);
    app.stop().await;
}

#[tokio::test]
async fn the_outbox_survives_a_restart() {
    let mut app = spawn_app().await;
    let receiver = Receiver::spawn().await;
    let hook = subscribe(&app, "shop", &receiver.url(), &["conversation.ended"]).await;
    let t0 = end_conversations(&app, "shop", &["claimed"], "hello").await;
    // A sender claims `claimed` and dies before sending it; `queued` is not claimed at all.
    assert_eq!(app.store.claim_deliveries(t0, t0 + LEASE_MS, 50).await.unwrap().len(), 1);
    end_conversations(&app, "shop", &["queued"], "hello").await;

    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    app.stop().await;
    let path = dir.path().join("confab.db");
    let store = confab_store::open(path.to_str().unwrap()).await.unwrap();

    let now = now_millis();
    assert_eq!(deliver(&*store, now).await, outcome(1, 0, 0));
    // The claimed one waits for its lease to run out, then goes too.
    assert_eq!(deliver(&*store, t0 + LEASE_MS).await, outcome(1, 0, 0));
    let sent: Vec<Value> = receiver.hits().iter().map(Hit::json).collect();
    let ids: Vec<&Value> = sent.iter().map(|b| &b["conversation"]["id"]).collect();
    assert_eq!(ids, [&json!("queued"), &json!("claimed")]);
    for hit in receiver.hits() {
        assert!(signed_with(hook["secret"].as_str().unwrap(), &hit));
    }
    assert_eq!(deliver(&*store, t0 + 2 * LEASE_MS).await.tried(), 0);
    store.close().await;
}

#[tokio::test]
async fn unreachable_and_redirecting_receivers_are_failures_not_crashes() {
    let app = spawn_app().await;
    let receiver = Receiver::spawn().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", listener.local_addr().unwrap())
    };
    let unreachable = subscribe(&app, "shop", &closed, &["conversation.ended"]).await;
    let moved = format!("{}/moved", receiver.base);
    let redirecting = subscribe(&app, "shop", &moved, &["conversation.ended"]).await;
    let t0 = end_conversations(&app, "shop", &["c1"], "hello").await;

    assert_eq!(deliver(&*app.store, t0).await, outcome(0, 2, 0));
    let [d] = deliveries(&app, "shop", &unreachable, "").await.try_into().unwrap();
    assert_eq!(
        (&d["state"], &d["attempts"], &d["last_status"]),
        (&json!("pending"), &json!(1), &Value::Null)
    );
    let error = d["last_error"].as_str().unwrap().to_lowercase();
    assert!(error.contains("connect"), "{error}");
    // A redirect is not followed: the signed body goes only where it was subscribed.
    let [d] = deliveries(&app, "shop", &redirecting, "").await.try_into().unwrap();
    assert_eq!((&d["state"], &d["last_status"]), (&json!("pending"), &json!(307)));
    assert!(d["last_error"].as_str().unwrap().contains("redirects are not followed"), "{d}");
    let paths: Vec<String> = receiver.hits().into_iter().map(|h| h.path).collect();
    assert_eq!(paths, ["/moved"]);
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_webhook_gets_nothing() {
    let app = spawn_app().await;
    let receiver = Receiver::spawn().await;
    let hook = subscribe(&app, "shop", &receiver.url(), &["conversation.ended"]).await;
    let t0 = end_conversations(&app, "shop", &["c1"], "hello").await;
    let path = format!("{}/{}", hooks("shop"), hook["id"]);
    assert_eq!(deliveries(&app, "shop", &hook, "?state=pending").await.len(), 1);

    assert_eq!(app.delete(&app.admin_key, &path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(deliver(&*app.store, t0 + HOUR).await.tried(), 0);
    assert!(receiver.hits().is_empty());
    assert_eq!(
        app.get(&app.admin_key, &format!("{path}/deliveries")).await.0,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

// ---- targets: only public addresses, unless the server allows private ones ----

/// Every spelling of a non-public target a subscription is refused for, and one that resolves
/// to loopback (`localhost`).
const REFUSED: [&str; 17] = [
    "http://127.0.0.1:9/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://255.255.255.255/hook",
    "http://[::1]:9/hook",
    "http://[::]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[ff02::1]/hook",
    "http://2130706433/hook",
    "http://localhost:9/hook",
];

#[tokio::test]
async fn subscribing_a_non_public_target_is_400_unless_allowed() {
    let guarded = spawn_app_with(Config { background_jobs: false, ..Config::default() }).await;
    for url in REFUSED {
        let body = json!({"url": url, "events": ["conversation.ended"]});
        let (status, resp) = guarded.post(&guarded.admin_key, &hooks("shop"), &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {resp}");
        assert_eq!(resp["error"]["field"], "url", "{url}: {resp}");
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("refused: resolves to "), "{url}: {message}");
    }
    // Nothing changed: not even the bot was created.
    assert_eq!(guarded.get(&guarded.admin_key, &hooks("shop")).await.0, StatusCode::NOT_FOUND);
    for url in ["https://8.8.8.8/hook", "https://[2001:4860:4860::8888]/hook"] {
        subscribe(&guarded, "shop", url, &["conversation.ended"]).await;
    }
    guarded.stop().await;

    // Allowed (the test helper's default), the same targets are taken and a local receiver
    // gets its delivery.
    let app = spawn_app().await;
    for url in REFUSED {
        subscribe(&app, "other", url, &["conversation.ended"]).await;
    }
    let receiver = Receiver::spawn().await;
    subscribe(&app, "shop", &receiver.url(), &["conversation.ended"]).await;
    let now = end_conversations(&app, "shop", &["c1"], "hello").await;
    assert_eq!(deliver(&*app.store, now).await, outcome(1, 0, 0));
    assert_eq!(receiver.hits().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_target_stored_while_allowed_is_refused_when_sent_by_a_server_that_does_not_allow() {
    let app = spawn_app().await;
    let receiver = Receiver::spawn().await;
    let by_address = subscribe(&app, "shop", &receiver.url(), &["conversation.ended"]).await;
    // The same receiver by a name: refused by the client's resolver, not before sending.
    let by_name = receiver.url().replace("127.0.0.1", "localhost");
    let by_name = subscribe(&app, "shop", &by_name, &["conversation.ended"]).await;
    let now = end_conversations(&app, "shop", &["c1"], "hello").await;
    let done = deliver_due_once(&*app.store, &client(false), now).await.unwrap();
    assert_eq!(done, outcome(0, 2, 0));
    assert!(receiver.hits().is_empty(), "the receiver was never called");
    for hook in [&by_address, &by_name] {
        let [d] = deliveries(&app, "shop", hook, "").await.try_into().unwrap();
        assert_eq!((&d["state"], d["attempts"].as_u64()), (&json!("pending"), Some(1)), "{d}");
        assert!(d["last_status"].is_null(), "{d}");
        let error = d["last_error"].as_str().unwrap();
        assert!(error.starts_with("refused: resolves to a loopback address "), "{error}");
    }
    let [d] = deliveries(&app, "shop", &by_address, "").await.try_into().unwrap();
    assert_eq!(d["last_error"], "refused: resolves to a loopback address 127.0.0.1");
    app.stop().await;
}
