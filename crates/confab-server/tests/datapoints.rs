//! The datapoint schema API: a schema round-trips, a bad one is refused whole and changes
//! nothing, only admin keys may replace it, and teams and bot-limited keys stay apart.

mod common;

use common::spawn_app;
use confab_server::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PATH: &str = "/v1/bots/shop/datapoints/schema";

fn schema() -> Value {
    json!({"datapoints": [
        {"key": "Name", "type": "name", "questions": ["what's your name", "/how (may|should) I call you/"], "required": true},
        {"key": "Email", "type": "email"},
        {"key": "Plan", "type": "choice", "values": ["Basic", "Pro"]},
        {"key": "Order number", "type": "regex", "pattern": "^[A-Z]{2}\\d{6}$"}
    ]})
}

#[tokio::test]
async fn a_schema_round_trips_and_a_bad_one_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_key.clone();
    // A bot without a schema has an empty one; a bot that does not exist is not found.
    app.ingest("shop", vec![json!({"conversation_id": "c", "role": "user", "content": "hi"})])
        .await;
    assert_eq!(app.get(&admin, PATH).await, (StatusCode::OK, json!({"datapoints": []})));
    assert_eq!(app.get(&admin, "/v1/bots/nope/datapoints/schema").await.0, StatusCode::NOT_FOUND);

    // The answer and later reads give the schema in full (`required` defaults to false).
    let mut stored = schema();
    for d in stored["datapoints"].as_array_mut().unwrap() {
        d.as_object_mut().unwrap().entry("required").or_insert(json!(false));
    }
    let (status, body) = app.call(Method::PUT, &admin, PATH, Some(&schema())).await;
    assert_eq!((status, &body), (StatusCode::OK, &stored));
    assert_eq!(app.get(&admin, PATH).await, (StatusCode::OK, stored.clone()));

    for (bad, field) in [
        (json!({"datapoints": [{"key": "a", "type": "colour"}]}), "datapoints[0].type"),
        (
            json!({"datapoints": [{"key": "a", "type": "text"}, {"key": "A", "type": "text"}]}),
            "datapoints[1].key",
        ),
        (
            json!({"datapoints": [{"key": "a", "type": "regex", "pattern": "("}]}),
            "datapoints[0].pattern",
        ),
        (json!({"datapoints": [{"key": "a", "type": "choice"}]}), "datapoints[0].values"),
        (
            json!({"datapoints": [{"key": "a", "type": "text", "colour": 1}]}),
            "datapoints[0].colour",
        ),
        (json!({"fields": []}), "fields"),
    ] {
        let (status, body) = app.call(Method::PUT, &admin, PATH, Some(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["field"], field, "{bad}: {body}");
        assert_eq!(app.get(&admin, PATH).await.1, stored, "a refused schema changes nothing");
    }
    // An empty schema clears it.
    let empty = json!({"datapoints": []});
    assert_eq!(app.call(Method::PUT, &admin, PATH, Some(&empty)).await.0, StatusCode::OK);
    assert_eq!(app.get(&admin, PATH).await.1, empty);
    app.stop().await;
}

#[tokio::test]
async fn only_admins_replace_and_keys_stay_in_their_team_and_bots() {
    let app = spawn_app().await;
    let read = app.key(app.team_id, &["read"], None).await;
    let (status, _) = app.call(Method::PUT, &read, PATH, Some(&schema())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // PUT creates the bot, as ingest does; a read key then sees the schema.
    let admin = app.admin_key.clone();
    assert_eq!(app.call(Method::PUT, &admin, PATH, Some(&schema())).await.0, StatusCode::OK);
    assert_eq!(app.get(&read, PATH).await.1["datapoints"].as_array().unwrap().len(), 4);
    // A key limited to another bot does not see this one.
    let other_bot = app.key(app.team_id, &["admin"], Some(vec!["other"])).await;
    assert_eq!(app.get(&other_bot, PATH).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call(Method::PUT, &other_bot, PATH, Some(&schema())).await.0,
        StatusCode::NOT_FOUND
    );
    // Another team has its own bot of the same name, without a schema.
    let (_, team_b) = app.new_team("b").await;
    assert_eq!(app.get(&team_b, PATH).await.0, StatusCode::NOT_FOUND);
    let empty = json!({"datapoints": []});
    assert_eq!(app.call(Method::PUT, &team_b, PATH, Some(&empty)).await.0, StatusCode::OK);
    assert_eq!(app.get(&admin, PATH).await.1["datapoints"].as_array().unwrap().len(), 4);
    app.stop().await;
}

#[tokio::test]
async fn without_bot_creation_an_unknown_bot_is_not_found() {
    let app = common::spawn_app_with(Config {
        create_bots: false,
        background_jobs: false,
        ..Config::default()
    })
    .await;
    let (status, body) = app.call(Method::PUT, &app.admin_key, PATH, Some(&schema())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    app.stop().await;
}
