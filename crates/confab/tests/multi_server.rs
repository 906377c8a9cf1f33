//! Three real servers on one PostgreSQL database, one of them SIGKILLed in the middle of ingest,
//! behind clients that retry a failed request on another server with the same message id (as a
//! client behind a load balancer does). Every acknowledged message is stored once, summaries and
//! analytics rollups are exact, and when the conversations go idle the surviving servers'
//! finalisers, racing each other, end each conversation once: one `conversation.ended` delivery
//! per conversation at a real webhook receiver, not one per server.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, start};
use serde_json::{Value, json};

const BOT: &str = "multi";
const CONVERSATIONS: usize = 40;
const PER_CONVERSATION: usize = 20;
const CLIENTS: usize = 12;
const SERVERS: usize = 3;
const HOUR_MS: i64 = 3_600_000;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

/// An RFC 3339 time in an answer, as epoch milliseconds.
fn millis(v: &Value) -> i64 {
    let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

async fn get(client: &reqwest::Client, key: &str, url: &str) -> (u16, Value) {
    let r = client.get(url).bearer_auth(key).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn put_timeout(client: &reqwest::Client, key: &str, base: &str, seconds: u32) {
    let r = client
        .put(format!("{base}/v1/bots/{BOT}/settings"))
        .bearer_auth(key)
        .json(&json!({ "inactivity_timeout_seconds": seconds }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(status, 200, "PUT settings: {}", r.text().await.unwrap_or_default());
}

/// One `POST` to the webhook receiver: the `Confab-Event-Id` header and the body.
#[derive(Debug, Clone)]
struct Received {
    event_id: String,
    body: Value,
}

/// A webhook subscriber on 127.0.0.1:0 that answers 200 and records every request.
async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let log = log.clone();
            async move {
                let event_id = headers
                    .get("confab-event-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                log.lock().unwrap().push(Received { event_id, body });
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// What the clients did, for the report at the end.
#[derive(Default)]
struct Tally {
    /// Requests that failed (connection error, timeout or non-2xx) and were sent again.
    retries: AtomicUsize,
    /// Acknowledgements that said `duplicate`: a retry of a message whose first try was stored
    /// but never acknowledged.
    duplicates: AtomicUsize,
    acknowledged: AtomicUsize,
}

/// Sends one message, starting with server `first` and moving to the next server on any failure,
/// until a server acknowledges it.
async fn send_until_acknowledged(
    client: &reqwest::Client,
    key: &str,
    bases: &[String],
    first: usize,
    body: &Value,
    tally: &Tally,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut server = first;
    loop {
        let r = client
            .post(format!("{}/v1/bots/{BOT}/messages", bases[server]))
            .bearer_auth(key)
            .json(body)
            .send()
            .await;
        let failure = match r {
            Ok(r) if r.status().is_success() => {
                let answer: Value = r.json().await.unwrap();
                match answer["status"].as_str() {
                    Some("stored") => {}
                    Some("duplicate") => {
                        tally.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    other => panic!("unexpected acknowledgement {other:?}: {answer}"),
                }
                tally.acknowledged.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(r) => {
                let status = r.status();
                assert!(status != 500, "a 500 for {body}: {}", r.text().await.unwrap_or_default());
                format!("HTTP {status}")
            }
            Err(e) => e.to_string(),
        };
        assert!(
            Instant::now() < deadline,
            "no server acknowledged {body} within 30 s; last failure: {failure}"
        );
        tally.retries.fetch_add(1, Ordering::Relaxed);
        server = (server + 1) % bases.len();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sum of every value of every serie in an analytics answer.
fn series_total(body: &Value) -> i64 {
    body["data"]["series"]
        .as_array()
        .unwrap_or_else(|| panic!("no series in {body}"))
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap())
        .map(|v| v.as_i64().unwrap_or_else(|| panic!("a count that is not an integer: {v}")))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_one_killed_store_once_and_finalise_once() {
    let Some(db) = confab_store::testing::TestDatabase::create().await else { return };
    let test_started = Instant::now();

    // Started one after the other: the first prints the key, the others find the team made.
    let mut servers: Vec<Server> = (0..SERVERS).map(|_| start(&db.url)).collect();
    let key = servers[0].first_key.clone().expect("the first start prints an admin key");
    assert!(servers[1..].iter().all(|s| s.first_key.is_none()), "one first start, one key");
    let bases: Arc<Vec<String>> = Arc::new(servers.iter().map(|s| s.base.clone()).collect());
    let key = Arc::new(key);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    // Nothing may finalise during ingest; the conversation.ended events go to our receiver.
    put_timeout(&client, &key, &bases[0], 604_800).await;
    let (hook_url, received) = receiver().await;
    let r = client
        .post(format!("{}/v1/bots/{BOT}/webhooks", bases[1]))
        .bearer_auth(&*key)
        .json(&json!({ "url": hook_url, "events": ["conversation.ended"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "subscribing: {}", r.text().await.unwrap_or_default());

    // Message `seq` of every conversation before message `seq + 1` of any: interleaved.
    let start_ms = now_ms() - 2 * HOUR_MS;
    let plan: Arc<Vec<Value>> = Arc::new(
        (0..PER_CONVERSATION)
            .flat_map(|seq| (0..CONVERSATIONS).map(move |conv| (conv, seq)))
            .map(|(conv, seq)| {
                json!({
                    "conversation_id": format!("conv-{conv}"),
                    "id": format!("conv-{conv}-msg-{seq}"),
                    "role": if seq % 2 == 0 { "user" } else { "bot" },
                    "content": format!("message {seq} of conversation {conv}"),
                    "timestamp": start_ms + (seq as i64) * 10_000 + conv as i64,
                })
            })
            .collect(),
    );
    let total = plan.len();
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Tally::default());
    let mut clients = vec![];
    for _ in 0..CLIENTS {
        let (client, key, bases, plan, next, tally) =
            (client.clone(), key.clone(), bases.clone(), plan.clone(), next.clone(), tally.clone());
        clients.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = plan.get(n) else { break };
                send_until_acknowledged(&client, &key, &bases, n % SERVERS, body, &tally).await;
            }
        }));
    }

    // SIGKILL the middle server about a third of the way through, while requests are in flight.
    let kill_deadline = Instant::now() + Duration::from_secs(60);
    while tally.acknowledged.load(Ordering::Relaxed) < total / 3 {
        assert!(Instant::now() < kill_deadline, "ingest is too slow");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let killed_at = tally.acknowledged.load(Ordering::Relaxed);
    servers[1].child.kill().unwrap();
    servers[1].child.wait().unwrap();
    for c in clients {
        c.await.expect("a client task failed");
    }
    let ingest_took = test_started.elapsed();
    assert_eq!(tally.acknowledged.load(Ordering::Relaxed), total);
    let live = [bases[0].clone(), bases[2].clone()];

    // Every acknowledged message is stored exactly once, in its conversation.
    for conv in 0..CONVERSATIONS {
        let (status, body) =
            get(&client, &key, &format!("{}/v1/bots/{BOT}/conversations/conv-{conv}", live[0]))
                .await;
        assert_eq!(status, 200, "conv-{conv}: {body}");
        let ids: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        let distinct: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len(), "conv-{conv} stored a message twice: {ids:?}");
        let expected: HashSet<String> =
            (0..PER_CONVERSATION).map(|seq| format!("conv-{conv}-msg-{seq}")).collect();
        assert_eq!(
            distinct,
            expected.iter().map(String::as_str).collect(),
            "conv-{conv}: the stored ids differ from the acknowledged ones"
        );
        assert_eq!(body["message_count"], PER_CONVERSATION, "conv-{conv}");
        // Interleaved arrival, summary in time order.
        assert_eq!(body["first_user_message"], format!("message 0 of conversation {conv}"));
        assert_eq!(body["first_bot_message"], format!("message 1 of conversation {conv}"));
        assert_eq!(body["messages_by_role"]["user"], PER_CONVERSATION / 2, "conv-{conv}");
        assert_eq!(body["messages_by_role"]["bot"], PER_CONVERSATION / 2, "conv-{conv}");
        assert_eq!(millis(&body["started_at"]), start_ms + conv as i64, "conv-{conv}");
        let last = start_ms + (PER_CONVERSATION as i64 - 1) * 10_000 + conv as i64;
        assert_eq!(millis(&body["last_message_at"]), last, "conv-{conv}");
    }

    // The summaries, as listed by the other live server.
    let (status, list) =
        get(&client, &key, &format!("{}/v1/bots/{BOT}/conversations?limit=100", live[1])).await;
    assert_eq!(status, 200, "{list}");
    let listed = list["data"].as_array().unwrap();
    assert_eq!(listed.len(), CONVERSATIONS, "{list}");
    for c in listed {
        assert_eq!(c["message_count"], PER_CONVERSATION, "{c}");
        assert_eq!(c["status"], "active", "{c}");
    }

    // The rollups, over whole hours (so nothing is counted from rows at a ragged edge).
    let from = (start_ms / HOUR_MS - 2) * HOUR_MS;
    let to = (now_ms() / HOUR_MS + 2) * HOUR_MS;
    let range = format!("start_time={}&end_time={}&bucket=1h", rfc3339(from), rfc3339(to));
    for (stat, expected) in [("messages", total), ("conversations", CONVERSATIONS)] {
        for base in &live {
            let url = format!("{base}/v1/bots/{BOT}/analytics/{stat}?{range}");
            let (status, body) = get(&client, &key, &url).await;
            assert_eq!(status, 200, "{url}: {body}");
            assert_eq!(series_total(&body), expected as i64, "{url}: {body}");
        }
    }
    let url = format!("{}/v1/bots/{BOT}/analytics/messages?{range}&group_by=role", live[0]);
    let (status, body) = get(&client, &key, &url).await;
    assert_eq!(status, 200, "{url}: {body}");
    assert_eq!(series_total(&body), total as i64, "{url}: {body}");

    // Now let everything go idle: both live finalisers race for the same conversations.
    put_timeout(&client, &key, &live[1], 60).await;
    let finalise_deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, list) = get(
            &client,
            &key,
            &format!("{}/v1/bots/{BOT}/conversations?status=ended&limit=100", live[0]),
        )
        .await;
        assert_eq!(status, 200, "{list}");
        if list["data"].as_array().unwrap().len() == CONVERSATIONS {
            break;
        }
        assert!(
            Instant::now() < finalise_deadline,
            "only {} of {CONVERSATIONS} conversations ended within 60 s",
            list["data"].as_array().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let finalised_after = test_started.elapsed();
    let delivery_deadline = Instant::now() + Duration::from_secs(30);
    while received.lock().unwrap().len() < CONVERSATIONS {
        assert!(
            Instant::now() < delivery_deadline,
            "only {} of {CONVERSATIONS} conversation.ended deliveries arrived within 30 s",
            received.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Longer than a finaliser's idle poll (5 s) plus the sender's (1 s): a second finalisation
    // or a second send of an event, if either happened, would have arrived by now.
    tokio::time::sleep(Duration::from_secs(7)).await;

    let received = received.lock().unwrap().clone();
    let mut per_conversation: HashMap<String, Vec<String>> = HashMap::new();
    let mut event_ids = HashSet::new();
    for r in &received {
        assert_eq!(r.body["event"], "conversation.ended", "{:?}", r);
        assert_eq!(r.body["id"], r.event_id, "the header names the body's event: {r:?}");
        assert!(r.event_id.starts_with("evt_"), "{r:?}");
        assert!(event_ids.insert(r.event_id.clone()), "event {} was delivered twice", r.event_id);
        assert_eq!(r.body["conversation"]["status"], "ended", "{r:?}");
        assert_eq!(r.body["conversation"]["message_count"], PER_CONVERSATION, "{r:?}");
        let conv = r.body["conversation"]["id"].as_str().unwrap().to_owned();
        per_conversation.entry(conv).or_default().push(r.event_id.clone());
    }
    assert_eq!(per_conversation.len(), CONVERSATIONS, "{per_conversation:?}");
    for (conv, events) in &per_conversation {
        assert_eq!(events.len(), 1, "{conv} was ended more than once: events {events:?}");
    }
    assert_eq!(received.len(), CONVERSATIONS);

    eprintln!(
        "{total} messages from {CLIENTS} clients to {SERVERS} servers; server 2 killed after \
         {killed_at} acknowledgements; {} retried requests, {} acknowledged as duplicates; \
         ingest {ingest_took:?}, all ended by {finalised_after:?}, total {:?}",
        tally.retries.load(Ordering::Relaxed),
        tally.duplicates.load(Ordering::Relaxed),
        test_started.elapsed()
    );
    drop(servers);
    drop(db);
}
