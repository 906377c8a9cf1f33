//! Retention end to end, on SQLite and PostgreSQL: a bot's `retention_days`, the retention job
//! run at a controlled `now`, and what is left. The old conversations of the retaining bot are
//! gone everywhere (transcript, lists, search, exports, datapoints, the SQLite file's bytes),
//! everything else stays, analytics counts do not move, a second run deletes nothing, and on
//! PostgreSQL two jobs racing delete (and count) each conversation once.

mod common;

use std::path::Path;

use common::{TestApp, spawn_app, spawn_app_postgres};
use confab_core::time::{DAY, now_millis};
use confab_server::jobs::retention::{BATCH, expire_once};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Said in the conversations that must go; searched for in the API and in the files.
const SECRET: &str = "zebracode7731";
const SECRET_EMAIL: &str = "gone.user@retained.example";
/// What the same conversations say where they stay.
const KEPT_EMAIL: &str = "other.user@retained.example";

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

fn conversation(id: &str, user: &str, at: i64, text: &str) -> Vec<Value> {
    vec![
        json!({"conversation_id": id, "id": format!("{id}-1"), "role": "bot",
               "content": "What is your email?", "timestamp": rfc3339(at), "user_id": user}),
        json!({"conversation_id": id, "id": format!("{id}-2"), "role": "user",
               "content": text, "timestamp": rfc3339(at + 1_000), "user_id": user}),
    ]
}

async fn put(app: &TestApp, key: &str, path: &str, body: Value) -> Value {
    let (status, body) = app.call(Method::PUT, key, path, Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "PUT {path}: {body}");
    body
}

async fn text(app: &TestApp, key: &str, path: &str) -> String {
    let resp = app.client.get(app.url(path)).bearer_auth(key).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.text().await.unwrap()
}

/// The ids a list answers, newest first.
async fn ids(app: &TestApp, key: &str, path: &str) -> Vec<String> {
    let (status, body) = app.get(key, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

/// The retention counter in `/metrics`.
async fn deleted_by_retention(app: &TestApp) -> u64 {
    let body = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix("confab_conversations_deleted_total{reason=\"retention\"} "))
        .map_or(0, |n| n.trim().parse::<f64>().unwrap() as u64)
}

/// How often `needle` occurs in the SQLite database's files (main file, WAL, its index).
fn in_files(db: &Path, needle: &str) -> usize {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .filter_map(|s| std::fs::read(format!("{}{s}", db.display())).ok())
        .map(|bytes| bytes.windows(needle.len()).filter(|w| *w == needle.as_bytes()).count())
        .sum()
}

/// Two teams; team 1 has `short` (30 days) and `long` (kept forever); team 2 has a `short` of
/// its own, kept forever. Returns the time the old conversations were last active (`t0`).
async fn seed(app: &TestApp, other_key: &str) -> i64 {
    let admin = app.admin_key.clone();
    let t0 = now_millis() - 10 * DAY;
    let schema = json!({"datapoints": [{"key": "email", "type": "email"}]});
    for (key, bot) in [(&admin, "short"), (&admin, "long"), (&other_key.to_owned(), "short")] {
        put(app, key, &format!("/v1/bots/{bot}/datapoints/schema"), schema.clone()).await;
    }
    let settings = put(app, &admin, "/v1/bots/short/settings", json!({"retention_days": 30})).await;
    assert_eq!(settings["retention_days"], 30);
    let recent = "it is kept@retained.example";
    let messages = |old: &str| {
        let mut msgs = conversation("old-1", "u1", t0 - DAY, old);
        msgs.extend(conversation("old-2", "u2", t0, old));
        msgs.extend(conversation("recent", "u3", t0 + 5 * DAY, recent));
        msgs
    };
    app.ingest("short", messages(&format!("it is {SECRET_EMAIL}, code {SECRET}"))).await;
    let kept = messages(&format!("it is {KEPT_EMAIL}, code stays"));
    app.ingest("long", kept.clone()).await;
    let (status, body) =
        app.post(other_key, "/v1/bots/short/messages/batch", &json!({ "messages": kept })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    t0
}

async fn analytics(app: &TestApp, key: &str, bot: &str, t0: i64) -> Value {
    let from = jiff::Timestamp::from_millisecond(t0 - 20 * DAY).unwrap().strftime("%Y-%m-%d");
    let to = jiff::Timestamp::from_millisecond(t0 + 20 * DAY).unwrap().strftime("%Y-%m-%d");
    let path =
        format!("/v1/bots/{bot}/analytics/conversations?start_time={from}&end_time={to}&bucket=1d");
    let (status, body) = app.get(key, &path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// The scenario on one store; `sqlite` is the database file when the store is SQLite.
async fn old_conversations_go_and_the_rest_stays(app: &TestApp, sqlite: Option<&Path>) {
    let admin = app.admin_key.clone();
    let (_, other) = app.new_team("other").await;
    let t0 = seed(app, &other).await;
    let counts_before = analytics(app, &admin, "short", t0).await;
    assert_eq!(
        ids(app, &admin, &format!("/v1/bots/short/conversations?q={SECRET}")).await,
        ["old-2", "old-1"],
        "{}",
        app.get(&admin, "/v1/bots/short/conversations").await.1
    );
    if let Some(db) = sqlite {
        assert!(in_files(db, SECRET) > 0, "the secret is in the file before retention");
    }
    let metric_before = deleted_by_retention(app).await;

    // A day short of the retention: nothing is old enough.
    assert_eq!(expire_once(&*app.store, t0 + 29 * DAY).await.unwrap(), 0);
    // Thirty days and a minute after the last message of `old-2`, the later of the two.
    let now = t0 + 30 * DAY + 60_000;
    assert_eq!(expire_once(&*app.store, now).await.unwrap(), 2);
    assert_eq!(deleted_by_retention(app).await - metric_before, 2);
    // Run again: nothing more.
    assert_eq!(expire_once(&*app.store, now).await.unwrap(), 0);
    assert_eq!(deleted_by_retention(app).await - metric_before, 2);

    for id in ["old-1", "old-2"] {
        let (status, _) = app.get(&admin, &format!("/v1/bots/short/conversations/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        let path = format!("/v1/bots/short/conversations/{id}/datapoints");
        assert_eq!(app.get(&admin, &path).await.0, StatusCode::NOT_FOUND, "{id}");
    }
    assert_eq!(ids(app, &admin, "/v1/bots/short/conversations").await, ["recent"]);
    assert!(ids(app, &admin, &format!("/v1/bots/short/conversations?q={SECRET}")).await.is_empty());
    assert!(ids(app, &admin, "/v1/bots/short/conversations?user_id=u1").await.is_empty());
    let jsonl = text(app, &admin, "/v1/bots/short/export/conversations.jsonl").await;
    assert_eq!(jsonl.lines().count(), 1, "{jsonl}");
    assert!(!jsonl.contains(SECRET) && jsonl.contains("kept@retained.example"), "{jsonl}");
    let csv = text(app, &admin, "/v1/bots/short/export/datapoints.csv").await;
    assert!(!csv.contains(SECRET_EMAIL) && csv.contains("kept@retained.example"), "{csv}");
    // Counts are kept, as with erasure.
    assert_eq!(analytics(app, &admin, "short", t0).await, counts_before);

    // The bot without retention, and the other team's bot of the same name, keep everything.
    for (key, bot) in [(&admin, "long"), (&other, "short")] {
        let path = format!("/v1/bots/{bot}/conversations");
        assert_eq!(ids(app, key, &path).await, ["recent", "old-2", "old-1"], "{bot}");
        let (status, dps) =
            app.get(key, &format!("/v1/bots/{bot}/conversations/old-1/datapoints")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(dps["datapoints"]["email"]["value"], KEPT_EMAIL, "{dps}");
    }

    if let Some(db) = sqlite {
        // Already when the job returns: no copy in free pages, the search index or the WAL.
        assert_eq!(in_files(db, SECRET), 0, "deleted text is still in the database files");
        assert_eq!(in_files(db, SECRET_EMAIL), 0, "a deleted value is still in the files");
        assert!(in_files(db, KEPT_EMAIL) > 0, "the scan sees what is kept");
    }
}

#[tokio::test]
async fn retention_on_both_stores() {
    // One test, the stores in turn: the counter in /metrics is the process's.
    let app = spawn_app().await;
    let db = app.dir.path().join("confab.db");
    old_conversations_go_and_the_rest_stays(&app, Some(&db)).await;
    app.stop().await;

    let Some(app) = spawn_app_postgres().await else { return };
    old_conversations_go_and_the_rest_stays(&app, None).await;
    racing_jobs_delete_each_conversation_once(&app).await;
    app.stop().await;
}

/// Two retention jobs (as on two servers) over more conversations than a batch: each is deleted
/// once, and the counter counts each once.
async fn racing_jobs_delete_each_conversation_once(app: &TestApp) {
    let admin = app.admin_key.clone();
    put(app, &admin, "/v1/bots/race/settings", json!({"retention_days": 1})).await;
    let old = now_millis() - 5 * DAY;
    let n = 2 * BATCH as usize + 37;
    let msgs: Vec<Value> = (0..n)
        .map(|i| {
            json!({"conversation_id": format!("c{i}"), "role": "user", "content": "hello",
                   "timestamp": rfc3339(old + i as i64)})
        })
        .collect();
    app.ingest("race", msgs).await;
    let before = deleted_by_retention(app).await;
    let now = now_millis();
    let (a, b) = tokio::join!(expire_once(&*app.store, now), expire_once(&*app.store, now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a + b, n as u64, "deleted {a} + {b}");
    assert_eq!(deleted_by_retention(app).await - before, n as u64);
    assert!(ids(app, &admin, "/v1/bots/race/conversations").await.is_empty());
    assert_eq!(expire_once(&*app.store, now).await.unwrap(), 0);
}

#[tokio::test]
async fn retention_days_is_validated() {
    let app = spawn_app().await;
    for bad in [json!(0), json!(36_501), json!(-1), json!("30"), json!(1.5)] {
        let body = json!({ "retention_days": bad });
        let (status, err) =
            app.call(Method::PUT, &app.admin_key, "/v1/bots/b/settings", Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {err}");
        assert_eq!(err["error"]["field"], "retention_days", "{bad}: {err}");
    }
    // Nothing was changed: the bot keeps its conversations.
    let (status, settings) = app.get(&app.admin_key, "/v1/bots/b/settings").await;
    assert!(status == StatusCode::NOT_FOUND || settings.get("retention_days").is_none());
    let set =
        put(&app, &app.admin_key.clone(), "/v1/bots/b/settings", json!({"retention_days": 7}))
            .await;
    assert_eq!(set["retention_days"], 7);
    let (_, read) = app.get(&app.admin_key, "/v1/bots/b/settings").await;
    assert_eq!(read["retention_days"], 7);
    app.stop().await;
}
