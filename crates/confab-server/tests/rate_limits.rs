//! Rate limits per API key over HTTP: a key past its write burst gets `429` with `Retry-After`
//! and the `RateLimit-*` headers while other keys (of its team or another) go on; reads have a
//! bucket of their own; after `Retry-After` the key is served again; and with no limits set
//! (the default) nothing is limited and no header is added.

mod common;

use std::time::Duration;

use common::{TestApp, spawn_app, spawn_app_with};
use confab_server::Config;
use confab_server::ratelimit::Rate;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn limited(writes: &str, reads: &str) -> TestApp {
    spawn_app_with(Config {
        background_jobs: false,
        rate_limit_writes: Some(Rate::parse(writes).unwrap()),
        rate_limit_reads: Some(Rate::parse(reads).unwrap()),
        ..Config::default()
    })
    .await
}

/// What one request got: status, the rate-limit headers (`limit`, `remaining`, `reset`,
/// `retry-after`; absent ones are `None`) and the JSON body.
struct Answer {
    status: StatusCode,
    headers: [Option<u64>; 4],
    body: Value,
}

async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.unwrap();
    let header =
        |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    let headers = [
        header("ratelimit-limit"),
        header("ratelimit-remaining"),
        header("ratelimit-reset"),
        header("retry-after"),
    ];
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    Answer { status, headers, body }
}

async fn write(app: &TestApp, key: &str, id: &str) -> Answer {
    let message = json!({"conversation_id": "c", "id": id, "role": "user", "content": "hi",
                         "timestamp": "2026-01-10T10:00:00Z"});
    answer(app.client.post(app.url("/v1/bots/shop/messages")).bearer_auth(key).json(&message)).await
}

async fn read(app: &TestApp, key: &str) -> Answer {
    answer(app.client.get(app.url("/v1/bots/shop/conversations")).bearer_auth(key)).await
}

#[tokio::test]
async fn a_key_past_its_write_burst_is_refused_and_no_other_key_is() {
    // One request back every 30 s: nothing refills while the test runs.
    let app = limited("2/m,burst=3", "2/m,burst=2").await;
    let noisy = app.key(app.team_id, &["ingest", "read"], None).await;
    let same_team = app.key(app.team_id, &["ingest", "read"], None).await;
    let (other_team, other_admin) = app.new_team("other").await;
    let other_team_key = app.key(other_team, &["ingest"], None).await;

    for (i, remaining) in [2, 1, 0].into_iter().enumerate() {
        let a = write(&app, &noisy, &format!("m{i}")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let [limit, left, reset, retry] = a.headers;
        assert_eq!((limit, left, retry), (Some(3), Some(remaining), None));
        assert!(reset.is_some_and(|r| r <= 90), "{reset:?}");
    }
    let refused = write(&app, &noisy, "m3").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let [limit, left, reset, retry] = refused.headers;
    assert_eq!((limit, left), (Some(3), Some(0)));
    assert!(retry.is_some_and(|r| (1..=30).contains(&r)), "{retry:?}");
    assert!(reset.is_some_and(|r| r >= retry.unwrap()), "{reset:?}");
    assert_eq!(refused.body["error"]["code"], "rate_limited", "{}", refused.body);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("writes"));

    // Other keys, of the same team and of another, are not held back.
    for key in [&same_team, &other_team_key, &other_admin] {
        let a = write(&app, key, &format!("from-{key}")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.headers[1], Some(2));
    }
    // Reads are counted apart: the noisy key still reads, within its own read burst.
    for remaining in [1, 0] {
        let a = read(&app, &noisy).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.headers[..2], [Some(2), Some(remaining)]);
    }
    assert_eq!(read(&app, &noisy).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(read(&app, &same_team).await.status, StatusCode::OK);
    // A vendor API read by POST takes from the read bucket (burst 2), not the write one (3).
    let botsheets = app.url("/compat/botsheets/api/v0/conversations/datapoints");
    let a = answer(app.client.post(botsheets).bearer_auth(&same_team).json(&json!({}))).await;
    assert_eq!(a.headers[..2], [Some(2), Some(0)], "{}", a.body);
    // The refused write stored nothing: m0..m2 and the same-team key's message.
    let (_, conv) = app.get(&app.admin_key, "/v1/bots/shop/conversations/c").await;
    let ids: Vec<&str> =
        conv["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&"m3"), "{ids:?}");
    assert_eq!(ids.len(), 4, "{ids:?}");
    app.stop().await;
}

#[tokio::test]
async fn after_retry_after_the_key_is_served_again() {
    let app = limited("1/s,burst=2", "100/s").await;
    let key = app.key(app.team_id, &["ingest"], None).await;
    assert_eq!(write(&app, &key, "a").await.status, StatusCode::OK);
    assert_eq!(write(&app, &key, "b").await.status, StatusCode::OK);
    let refused = write(&app, &key, "c").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let wait = refused.headers[3].expect("a Retry-After");
    assert_eq!(wait, 1);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let again = write(&app, &key, "c").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    app.stop().await;
}

#[tokio::test]
async fn without_limits_nothing_is_limited_and_no_header_is_added() {
    let app = spawn_app().await;
    for i in 0..50 {
        let a = write(&app, &app.admin_key, &format!("m{i}")).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.headers, [None; 4]);
    }
    let a = read(&app, &app.admin_key).await;
    assert_eq!((a.status, a.headers), (StatusCode::OK, [None; 4]));
    app.stop().await;
}
