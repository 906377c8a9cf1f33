//! End to end over HTTP: ingest, list, fetch, idempotency, out-of-order arrival, batches.

mod common;

use common::spawn_app;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn ingest_list_get_round_trip() {
    let app = spawn_app().await;
    let key = &app.admin_key;
    let (status, body) = app
        .post(key, "/v1/bots/shop/messages", &json!({
            "conversation_id": "c1", "id": "m1", "role": "user", "content": "Hello, I need help",
            "timestamp": "2026-01-10T10:00:00Z", "channel_type": "web", "language": "en", "user_id": "u1"
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "stored");
    app.post(
        key,
        "/v1/bots/shop/messages",
        &json!({
            "conversation_id": "c1", "id": "m2", "role": "bot", "content": "Sure, how can I help?",
            "timestamp": "2026-01-10T10:00:05Z", "step": {"id": "greet", "type": "message"}
        }),
    )
    .await;
    let (status, list) = app.get(key, "/v1/bots/shop/conversations").await;
    assert_eq!(status, StatusCode::OK);
    let c = &list["data"][0];
    assert_eq!(c["id"], "c1");
    assert_eq!(c["message_count"], 2);
    assert_eq!(c["channel_type"], "web");
    assert_eq!(c["duration_seconds"], 5.0);
    assert_eq!(c["first_bot_message"], "Sure, how can I help?");
    let (status, conv) = app.get(key, "/v1/bots/shop/conversations/c1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(conv["messages"][0]["content"], "Hello, I need help");
    assert_eq!(conv["messages"][1]["step"]["id"], "greet");
    assert_eq!(conv["messages"][1]["timestamp"], "2026-01-10T10:00:05.000Z");
}

#[tokio::test]
async fn retried_message_is_stored_once() {
    let app = spawn_app().await;
    let m = json!({"conversation_id": "c", "id": "m1", "role": "user", "content": "hi", "timestamp": "2026-01-01T00:00:00Z"});
    let (s1, b1) = app.post(&app.admin_key, "/v1/bots/b/messages", &m).await;
    let (s2, b2) = app.post(&app.admin_key, "/v1/bots/b/messages", &m).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!((b1["status"].as_str(), b2["status"].as_str()), (Some("stored"), Some("duplicate")));
    let (_, conv) = app.get(&app.admin_key, "/v1/bots/b/conversations/c").await;
    assert_eq!(conv["messages"].as_array().unwrap().len(), 1);
    assert_eq!(conv["message_count"], 1);
}

#[tokio::test]
async fn out_of_order_arrival_gives_in_order_summary() {
    let app = spawn_app().await;
    let msg = |id: &str, role: &str, content: &str, ts: &str| json!({"conversation_id": "c", "id": id, "role": role, "content": content, "timestamp": ts});
    app.ingest("b", vec![msg("m3", "user", "third", "2026-01-01T00:00:30Z")]).await;
    app.ingest("b", vec![msg("m4", "bot", "fourth", "2026-01-01T00:00:40Z")]).await;
    app.ingest("b", vec![msg("m2", "bot", "second", "2026-01-01T00:00:20Z")]).await;
    app.ingest("b", vec![msg("m1", "user", "first", "2026-01-01T00:00:10Z")]).await;
    let (_, c) = app.get(&app.admin_key, "/v1/bots/b/conversations/c").await;
    assert_eq!(c["started_at"], "2026-01-01T00:00:10.000Z");
    assert_eq!(c["last_message_at"], "2026-01-01T00:00:40.000Z");
    assert_eq!(c["first_user_message"], "first");
    assert_eq!(c["first_bot_message"], "second");
    assert_eq!(c["duration_seconds"], 30.0);
    assert_eq!(c["messages_by_role"], json!({"user": 2, "bot": 2, "agent": 0, "system": 0}));
    let order: Vec<_> =
        c["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(order, ["first", "second", "third", "fourth"]);
}

#[tokio::test]
async fn batch_with_bad_items_stores_the_good_ones() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            &app.admin_key,
            "/v1/bots/b/messages/batch",
            &json!({"messages": [
                {"conversation_id": "c", "id": "1", "role": "user", "content": "ok one"},
                {"conversation_id": "c", "id": "2", "role": "robot", "content": "bad role"},
                {"conversation_id": "c", "id": "3", "role": "bot", "content": "ok two"},
                {"conversation_id": "c", "id": "4", "role": "bot", "content": "x", "colour": "red"},
                {"conversation_id": "c", "id": "5", "role": "bot", "content": 7},
                {"conversation_id": "c", "id": "1", "role": "user", "content": "ok one"},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    let r = &body["results"];
    assert_eq!(r[0]["status"], "stored");
    assert_eq!(r[1]["status"], "rejected");
    assert_eq!(r[1]["error"]["field"], "role");
    assert_eq!(r[2]["status"], "stored");
    assert_eq!(r[3]["error"]["field"], "colour");
    assert_eq!(r[4]["error"]["field"], "content");
    assert_eq!(r[5]["status"], "duplicate");
    assert_eq!(
        (body["stored"].as_u64(), body["rejected"].as_u64(), body["duplicates"].as_u64()),
        (Some(2), Some(3), Some(1))
    );
    let (_, conv) = app.get(&app.admin_key, "/v1/bots/b/conversations/c").await;
    assert_eq!(conv["message_count"], 2);
}

#[tokio::test]
async fn fifty_concurrent_clients_lose_and_duplicate_nothing() {
    let app = std::sync::Arc::new(spawn_app().await);
    let mut tasks = vec![];
    for client in 0..50 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..200 {
                let (status, body) = app
                    .post(&app.admin_key, "/v1/bots/load/messages", &json!({
                        "conversation_id": format!("client-{client}"), "id": format!("m{i}"),
                        "role": if i % 2 == 0 { "user" } else { "bot" }, "content": format!("message {i} from {client}"),
                    }))
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/bots/load/conversations?limit=7&cursor={c}"),
            None => "/v1/bots/load/conversations?limit=7".to_owned(),
        };
        let (_, page) = app.get(&app.admin_key, &path).await;
        for c in page["data"].as_array().unwrap() {
            assert_eq!(c["message_count"], 200, "{c}");
            seen += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, 50);
    let (_, c) = app.get(&app.admin_key, "/v1/bots/load/conversations/client-7").await;
    let ids: std::collections::HashSet<_> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 200);
}

#[tokio::test]
async fn wrong_method_and_unknown_route_answer_json() {
    let app = spawn_app().await;
    let (status, body) =
        app.call(reqwest::Method::PUT, &app.admin_key, "/v1/bots/b/messages", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let (status, body) = app.get(&app.admin_key, "/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn unknown_query_parameters_are_rejected_everywhere() {
    let app = spawn_app().await;
    app.ingest("b", vec![json!({"conversation_id": "c", "role": "user", "content": "hi"})]).await;
    for path in [
        "/v1/bots?colour=red",
        "/v1/keys?colour=red",
        "/v1/bots/b/conversations/c?colour=red",
        "/v1/bots/b/conversations?colour=red",
        "/v1/bots/b/conversations?from=2026-01-01",
    ] {
        let (status, body) = app.get(&app.admin_key, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let field = body["error"]["field"].as_str().unwrap();
        assert!(field == "colour" || field == "from", "{path}: {body}");
    }
}
