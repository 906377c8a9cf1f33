//! `GET /v1/bots/{bot_id}/analytics/unhandled` and the dashboard's "Not handled" page, on both
//! stores: which messages count as not handled (a user message marked `handled: false`, or the
//! user message a bot's marked fallback answered, once each), the clusters, the range and its
//! validation, and team scoping.

mod common;

use common::dashboard::sign_in;
use common::{TestApp, spawn_app, spawn_app_postgres};
use confab_core::time::{format_rfc3339, now_millis};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BOT: &str = "shop";
const HOUR: i64 = 3_600_000;

fn msg(conv: &str, id: &str, role: &str, content: &str, ts: i64, handled: Option<bool>) -> Value {
    let mut m = json!({"conversation_id": conv, "id": id, "role": role, "content": content,
                       "timestamp": format_rfc3339(ts)});
    if let Some(h) = handled {
        m["metadata"] = json!({"handled": h});
    }
    m
}

async fn seed(app: &TestApp, now: i64) {
    let t = now - 10 * HOUR;
    app.ingest(
        BOT,
        vec![
            // Marked on the user's message.
            msg("c1", "1a", "user", "Where is my order?", t, Some(false)),
            // Marked on the bot's fallback: the user's message before it counts.
            msg("c2", "2a", "user", "hello", t + HOUR, None),
            msg("c2", "2b", "user", "where is my order", t + HOUR + 1_000, None),
            msg("c2", "2c", "bot", "Sorry, I did not get that.", t + HOUR + 2_000, Some(false)),
            msg("c3", "3a", "user", "Wo ist meine Bestellung?", t + 2 * HOUR, None),
            msg("c3", "3b", "bot", "Entschuldigung?", t + 2 * HOUR + 1_000, Some(false)),
            // Marked twice (user and fallback): counted once.
            msg("c4", "4a", "user", "cancel my subscription", t + 3 * HOUR, Some(false)),
            msg("c4", "4b", "bot", "Sorry?", t + 3 * HOUR + 1_000, Some(false)),
            // Handled, and a bot message marked handled: not counted.
            msg("c5", "5a", "user", "where is my order??", t + 4 * HOUR, Some(true)),
            msg("c5", "5b", "bot", "It ships today.", t + 4 * HOUR + 1_000, Some(true)),
            // Before the range.
            msg("c6", "6a", "user", "where is my order", now - 30 * 24 * HOUR, Some(false)),
        ],
    )
    .await;
}

fn range_query(now: i64) -> String {
    format!(
        "start_time={}&end_time={}",
        format_rfc3339(now - 7 * 24 * HOUR).replace('+', "%2B"),
        format_rfc3339(now + HOUR).replace('+', "%2B")
    )
}

async fn api_clusters_and_scoping(app: &TestApp) {
    let now = now_millis();
    seed(app, now).await;
    let key = app.key(app.team_id, &["read"], None).await;
    let path = format!("/v1/bots/{BOT}/analytics/unhandled?{}", range_query(now));
    let (status, body) = app.get(&key, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(data["messages"], 4, "{body}");
    assert_eq!(
        (data["truncated"].clone(), data["message_limit"].clone()),
        (json!(false), json!(20_000))
    );
    assert_eq!(data["clusters_total"], 3, "{body}");
    let first = &data["clusters"][0];
    assert_eq!(first["phrase"], "where is my order", "{body}");
    assert_eq!(first["count"], 2);
    assert_eq!(first["share"], 0.5);
    assert_eq!(first["trend"].as_array().unwrap().len(), 30);
    assert_eq!(
        first["trend"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        2
    );
    let examples: Vec<&str> = first["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(examples, ["c2", "c1"]);
    let phrases: Vec<&str> = data["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["phrase"].as_str().unwrap())
        .collect();
    assert!(
        phrases.contains(&"Wo ist meine Bestellung?")
            && phrases.contains(&"cancel my subscription"),
        "{phrases:?}"
    );

    // Bad input names its field.
    let (status, body) =
        app.get(&key, &format!("/v1/bots/{BOT}/analytics/unhandled?start_time=2026-01-01")).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("end_time")),
        "{body}"
    );
    let (status, body) = app.get(&key, &format!("{path}&group_by=language")).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("group_by")),
        "{body}"
    );
    let (status, _) =
        app.get(&key, &format!("/v1/bots/unknown/analytics/unhandled?{}", range_query(now))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Another team's key does not see the bot, even with a bot of its own of that name.
    let (other_team, other_admin) = app.new_team("other").await;
    let other = app.key(other_team, &["read"], None).await;
    let (status, body) = app.get(&other, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = app
        .post(
            &other_admin,
            &format!("/v1/bots/{BOT}/messages"),
            &msg("z", "z1", "user", "hi", now - HOUR, Some(false)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get(&other, &path).await;
    assert_eq!((status, body["data"]["messages"].clone()), (StatusCode::OK, json!(1)), "{body}");
}

#[tokio::test]
async fn unhandled_clusters_on_both_stores() {
    let app = spawn_app().await;
    api_clusters_and_scoping(&app).await;
    app.stop().await;
    let Some(app) = spawn_app_postgres().await else { return };
    api_clusters_and_scoping(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_page_lists_clusters_with_sparklines_and_links() {
    let app = spawn_app().await;
    let now = now_millis();
    seed(&app, now).await;
    let key = app.key(app.team_id, &["read"], None).await;
    let cookie = sign_in(&app, &key).await;
    let get = |path: String| {
        let (client, url, cookie) = (app.client.clone(), app.url(&path), cookie.clone());
        async move {
            let resp = client.get(url).header("cookie", cookie).send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        }
    };
    let (status, body) = get(format!("/bots/{BOT}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(&format!("href=\"/bots/{BOT}/unhandled\"")),
        "the bot's navigation links the page"
    );
    let (status, body) = get(format!("/bots/{BOT}/unhandled")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("4 user messages the bot could not answer"), "{body}");
    assert!(body.contains("<td class=\"phrase\">where is my order</td>"), "{body}");
    assert!(body.contains("50.0 %"));
    assert_eq!(body.matches("<polyline").count(), 3);
    assert!(body.contains(&format!("href=\"/bots/{BOT}/conversations/c2\"")), "{body}");
    assert!(body.contains("aria-current=\"page\">Not handled"));
    // A range without any: the empty state.
    let (status, body) = get(format!("/bots/{BOT}/unhandled?from=2020-01-01&to=2020-01-07")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("No messages the bot could not answer"), "{body}");
    // Another team's bot is not found.
    let (other_team, _) = app.new_team("other").await;
    let other = sign_in(&app, &app.key(other_team, &["read"], None).await).await;
    let resp = app
        .client
        .get(app.url(&format!("/bots/{BOT}/unhandled")))
        .header("cookie", other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
