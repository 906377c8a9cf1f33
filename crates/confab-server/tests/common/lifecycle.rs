//! What the conversation-lifecycle tests share (`lifecycle.rs`, `llm_pass.rs`): messages at
//! fixed times, the usual datapoint schema, and reading datapoints back.

use std::collections::BTreeMap;

use confab_core::time::{Millis, format_rfc3339, parse_rfc3339};
use confab_server::jobs::finalise::{FinaliseOutcome, finalise_idle_once};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::TestApp;

pub const SEC: Millis = 1000;
/// The default inactivity timeout.
pub const IDLE: Millis = 600 * SEC;

/// Every conversation here starts at this time (seconds are offsets from it).
pub fn base() -> Millis {
    parse_rfc3339("base", "2026-01-10T10:00:00Z").unwrap()
}

pub fn at(s: i64) -> String {
    format_rfc3339(base() + s * SEC)
}

pub fn msg(conversation: &str, id: &str, role: &str, content: &str, s: i64) -> Value {
    json!({
        "conversation_id": conversation, "id": id, "role": role, "content": content,
        "timestamp": at(s)
    })
}

pub fn schema() -> Value {
    json!({"datapoints": [
        {"key": "Name", "type": "name"},
        {"key": "Email", "type": "email"},
        {"key": "Phone", "type": "phone"},
        {"key": "Plan", "type": "choice", "values": ["Basic", "Pro"]}
    ]})
}

/// Gives `bot` the usual schema, with US phone numbers.
pub async fn setup_bot(app: &TestApp, bot: &str) {
    let (status, body) = app
        .call(
            Method::PUT,
            &app.admin_key,
            &format!("/v1/bots/{bot}/datapoints/schema"),
            Some(&schema()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    put_settings(app, bot, json!({"phone_region": "US"})).await;
}

pub async fn put_settings(app: &TestApp, bot: &str, settings: Value) {
    let (status, body) = app
        .call(Method::PUT, &app.admin_key, &format!("/v1/bots/{bot}/settings"), Some(&settings))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// `GET …/conversations/{id}/datapoints`, asserted 200.
pub async fn datapoints(app: &TestApp, bot: &str, conversation: &str) -> Value {
    let path = format!("/v1/bots/{bot}/conversations/{conversation}/datapoints");
    let (status, body) = app.get(&app.admin_key, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub async fn transcript(app: &TestApp, bot: &str, conversation: &str) -> Value {
    let (status, body) =
        app.get(&app.admin_key, &format!("/v1/bots/{bot}/conversations/{conversation}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Key → value of a datapoints answer.
pub fn values(body: &Value) -> BTreeMap<String, Value> {
    body["datapoints"]
        .as_object()
        .unwrap_or_else(|| panic!("no datapoints in {body}"))
        .iter()
        .map(|(k, v)| (k.clone(), v["value"].clone()))
        .collect()
}

pub fn expect(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

pub async fn finalise(app: &TestApp, now: Millis) -> FinaliseOutcome {
    finalise_idle_once(&*app.store, None, now).await.unwrap()
}
