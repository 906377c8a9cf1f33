//! Bad input end to end: every class gets a 4xx JSON error naming the problem (never a 500), and
//! changes nothing, which is checked by reading everything back.

mod common;

use common::{TestApp, spawn_app};
use confab_core::time::{format_rfc3339, now_millis};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const HOUR: i64 = 3600 * 1000;

fn msg(conv: &str, id: &str, content: &str) -> Value {
    json!({"conversation_id": conv, "id": id, "role": "user", "content": content,
           "timestamp": "2026-01-10T10:00:00Z"})
}

/// `base` with `k` set to `v`, or removed when `v` is `None`.
fn set(base: &Value, k: &str, v: Option<Value>) -> Value {
    let mut m = base.clone();
    match v {
        Some(v) => m[k] = v,
        None => {
            m.as_object_mut().unwrap().remove(k);
        }
    }
    m
}

/// Asserts a JSON error: this status (a 4xx), a code, a message, and the field when given.
#[track_caller]
fn assert_bad(what: &str, status: StatusCode, body: &Value, want: StatusCode, field: Option<&str>) {
    assert!(status.is_client_error(), "{what}: {status} {body}");
    assert_eq!(status, want, "{what}: {body}");
    let e = &body["error"];
    assert!(e["code"].as_str().is_some_and(|c| !c.is_empty()), "{what}: no code in {body}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: no message in {body}");
    if let Some(f) = field {
        assert_eq!(e["field"], f, "{what}: {body}");
    }
}

/// Sends a raw body (any bytes) with a Bearer key.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    body: impl Into<reqwest::Body>,
    content_type: &str,
) -> (StatusCode, Value) {
    let resp = app
        .client
        .request(method, app.url(path))
        .bearer_auth(&app.admin_key)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Everything the team holds: what its admin key sees, and its keys.
async fn snapshot(app: &TestApp) -> Value {
    let mut out = app.snapshot(&app.admin_key).await;
    out["keys"] = app.get(&app.admin_key, "/v1/keys").await.1;
    out
}

/// An app whose bot `b` holds conversations `c` (one message, `m1`) and `c2`.
async fn seeded() -> TestApp {
    let app = spawn_app().await;
    app.ingest("b", vec![msg("c", "m1", "hello"), msg("c2", "m1", "other")]).await;
    app
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn long(n: usize) -> String {
    "a".repeat(n)
}

/// Message bodies that fail one check each, the field the error must name, and a word the
/// message must contain.
fn bad_messages() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    // Onto the existing conversation `c`, reusing no id: were any stored, `c` would change.
    let base = json!({"conversation_id": "c", "id": "new", "role": "user", "content": "x",
                      "timestamp": "2026-01-10T11:00:00Z"});
    let now = now_millis();
    let s = |k, v| set(&base, k, Some(v));
    vec![
        // Wrong types.
        ("content is a number", s("content", json!(5)), "content", "string"),
        ("content is null", s("content", Value::Null), "content", "string"),
        (
            "conversation_id is a number",
            s("conversation_id", json!(7)),
            "conversation_id",
            "string",
        ),
        ("role is a list", s("role", json!(["user"])), "role", "string"),
        ("id is an object", s("id", json!({})), "id", "string"),
        ("user_id is a bool", s("user_id", json!(true)), "user_id", "string"),
        ("step is a string", s("step", json!("greet")), "step", "invalid type"),
        ("step lacks id", s("step", json!({"type": "message"})), "step.id", "required"),
        ("timestamp is a bool", s("timestamp", json!(true)), "timestamp", "RFC 3339"),
        ("timestamp is a float", s("timestamp", json!(1.7e12)), "timestamp", "RFC 3339"),
        // Unknown fields, named, at any depth.
        ("unknown field", s("colour", json!("red")), "colour", "colour"),
        ("unknown step field", s("step", json!({"id": "a", "colour": 1})), "step.colour", "colour"),
        (
            "unknown campaign field",
            s("campaign", json!({"id": "a", "medium": "x"})),
            "campaign.medium",
            "medium",
        ),
        // Missing required fields.
        ("no conversation_id", set(&base, "conversation_id", None), "conversation_id", "required"),
        ("no role", set(&base, "role", None), "role", "required"),
        ("no content", set(&base, "content", None), "content", "required"),
        // Values out of range.
        ("unknown role", s("role", json!("robot")), "role", "robot"),
        ("empty role", s("role", json!("")), "role", "role"),
        ("role in capitals", s("role", json!("USER")), "role", "USER"),
        ("empty conversation_id", s("conversation_id", json!("")), "conversation_id", "empty"),
        (
            "conversation_id of 257",
            s("conversation_id", json!(long(257))),
            "conversation_id",
            "256",
        ),
        (
            "conversation_id of 257 chars",
            s("conversation_id", json!("é".repeat(257))),
            "conversation_id",
            "256",
        ),
        ("id of 257", s("id", json!(long(257))), "id", "256"),
        ("user_id of 257", s("user_id", json!(long(257))), "user_id", "256"),
        ("session_id of 257", s("session_id", json!(long(257))), "session_id", "256"),
        ("step.id of 257", s("step", json!({"id": long(257)})), "step.id", "256"),
        ("control char in id", s("id", json!("a\u{0}b")), "id", "control"),
        ("content over 64 KiB", s("content", json!(long(64 * 1024 + 1))), "content", "64 KiB"),
        (
            "metadata over 16 KiB",
            s("metadata", json!({"k": long(16 * 1024 - 7)})),
            "metadata",
            "16 KiB",
        ),
        ("metadata is a list", s("metadata", json!([1, 2])), "metadata", "object"),
        ("metadata is a string", s("metadata", json!("{}")), "metadata", "object"),
        ("metadata is a number", s("metadata", json!(3)), "metadata", "object"),
        (
            "timestamp before 2000",
            s("timestamp", json!("1999-12-31T23:59:59.999Z")),
            "timestamp",
            "2000",
        ),
        ("timestamp of epoch 0", s("timestamp", json!(0)), "timestamp", "2000"),
        ("timestamp in epoch seconds", s("timestamp", json!(1_767_225_600)), "timestamp", "2000"),
        ("negative timestamp", s("timestamp", json!(-1)), "timestamp", "2000"),
        (
            "timestamp 25 h ahead",
            s("timestamp", json!(format_rfc3339(now + 25 * HOUR))),
            "timestamp",
            "future",
        ),
        ("timestamp ms 25 h ahead", s("timestamp", json!(now + 25 * HOUR)), "timestamp", "future"),
        ("timestamp i64::MAX", s("timestamp", json!(i64::MAX)), "timestamp", "future"),
        ("timestamp u64::MAX", s("timestamp", json!(u64::MAX)), "timestamp", "RFC 3339"),
        ("timestamp unparseable", s("timestamp", json!("yesterday")), "timestamp", "yesterday"),
        (
            "timestamp month 13",
            s("timestamp", json!("2026-13-01T00:00:00Z")),
            "timestamp",
            "RFC 3339",
        ),
        (
            "timestamp without zone",
            s("timestamp", json!("2026-01-10T10:00:00")),
            "timestamp",
            "RFC 3339",
        ),
        ("timestamp as a date", s("timestamp", json!("2026-01-10")), "timestamp", "RFC 3339"),
        ("timestamp empty", s("timestamp", json!("")), "timestamp", "RFC 3339"),
    ]
}

#[tokio::test]
async fn each_bad_message_is_refused_by_field_and_changes_nothing() {
    let app = seeded().await;
    let before = snapshot(&app).await;
    for (what, body, field, word) in bad_messages() {
        // Into the existing bot and into a bot that does not exist yet (it must not be created).
        for bot in ["b", "fresh"] {
            let (status, resp) =
                app.post(&app.admin_key, &format!("/v1/bots/{bot}/messages"), &body).await;
            assert_bad(what, status, &resp, StatusCode::BAD_REQUEST, Some(field));
            assert_eq!(resp["error"]["code"], "invalid_request", "{what}: {resp}");
            let message = resp["error"]["message"].as_str().unwrap();
            assert!(message.contains(word), "{what}: `{message}` does not say `{word}`");
            assert!(!message.contains(" at line "), "{what}: {message}");
        }
        // As the only item of a batch: rejected by name, nothing stored.
        let (status, resp) = app
            .post(&app.admin_key, "/v1/bots/b/messages/batch", &json!({"messages": [body]}))
            .await;
        assert_eq!(status, StatusCode::MULTI_STATUS, "{what}: {resp}");
        assert_eq!(resp["stored"], 0, "{what}: {resp}");
        assert_eq!(resp["results"][0]["status"], "rejected", "{what}: {resp}");
        assert_eq!(resp["results"][0]["error"]["field"], field, "{what}: {resp}");
    }
    assert_eq!(snapshot(&app).await, before, "a bad message changed something");
}

#[tokio::test]
async fn malformed_and_empty_bodies_are_400_and_change_nothing() {
    let app = seeded().await;
    let before = snapshot(&app).await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty body", b"".to_vec()),
        ("whitespace body", b"  \n\t ".to_vec()),
        ("truncated JSON", br#"{"conversation_id": "c", "role": "user", "#.to_vec()),
        ("not JSON", b"conversation_id=c&role=user&content=x".to_vec()),
        ("single quotes", b"{'conversation_id': 'c'}".to_vec()),
        (
            "trailing comma",
            br#"{"conversation_id": "c", "role": "user", "content": "x",}"#.to_vec(),
        ),
        (
            "trailing garbage",
            br#"{"conversation_id": "c", "role": "user", "content": "x"} x"#.to_vec(),
        ),
        ("two objects", br#"{"conversation_id": "c", "role": "user", "content": "x"}{}"#.to_vec()),
        ("not UTF-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}']),
        (
            "lone surrogate",
            br#"{"conversation_id": "\ud800", "role": "user", "content": "x"}"#.to_vec(),
        ),
        ("a list", br#"[{"conversation_id": "c", "role": "user", "content": "x"}]"#.to_vec()),
        ("positional fields", br#"["c", "p", "user", "positional"]"#.to_vec()),
        (
            "positional batch",
            br#" [[{"conversation_id": "c", "role": "user", "content": "x"}]]"#.to_vec(),
        ),
        ("a string", br#""hello""#.to_vec()),
        ("null", b"null".to_vec()),
        ("a number", b"42".to_vec()),
        ("deeply nested metadata", {
            let mut s = br#"{"conversation_id": "c", "role": "user", "content": "x", "metadata": "#
                .to_vec();
            s.extend(std::iter::repeat_n(b'[', 100_000));
            s
        }),
    ];
    for path in ["/v1/bots/b/messages", "/v1/bots/fresh/messages", "/v1/bots/b/messages/batch"] {
        for (what, body) in &cases {
            for ct in ["application/json", "text/plain"] {
                let (status, resp) = raw(&app, Method::POST, path, body.clone(), ct).await;
                assert_bad(what, status, &resp, StatusCode::BAD_REQUEST, None);
                let field = resp["error"]["field"].as_str().unwrap_or_default();
                assert!(
                    field == "body"
                        || field == "conversation_id"
                        || field == "metadata"
                        || field == "messages",
                    "{path} {what}: {resp}"
                );
            }
        }
    }
    // The empty body names itself.
    let (status, resp) =
        raw(&app, Method::POST, "/v1/bots/b/messages", "", "application/json").await;
    assert_bad("empty", status, &resp, StatusCode::BAD_REQUEST, Some("body"));
    assert!(resp["error"]["message"].as_str().unwrap().contains("required"), "{resp}");
    let (status, resp) = raw(
        &app,
        Method::POST,
        "/v1/bots/b/messages",
        "{\"conversation_id\": ",
        "application/json",
    )
    .await;
    assert_bad("truncated", status, &resp, StatusCode::BAD_REQUEST, Some("body"));
    assert!(resp["error"]["message"].as_str().unwrap().contains("malformed JSON"), "{resp}");
    assert_eq!(snapshot(&app).await, before, "a malformed body changed something");
}

#[tokio::test]
async fn bad_batches_are_refused_whole_and_change_nothing() {
    let app = seeded().await;
    let before = snapshot(&app).await;
    let ok = msg("batchconv", "m", "fine");
    let many = |n: usize| -> Vec<Value> {
        (0..n).map(|i| msg("batchconv", &format!("m{i}"), "fine")).collect()
    };
    let cases = vec![
        ("empty batch", json!({"messages": []}), StatusCode::BAD_REQUEST, "messages"),
        ("no messages", json!({}), StatusCode::BAD_REQUEST, "messages"),
        ("messages is null", json!({"messages": null}), StatusCode::BAD_REQUEST, "messages"),
        (
            "messages is an object",
            json!({"messages": {"0": ok}}),
            StatusCode::BAD_REQUEST,
            "messages",
        ),
        ("messages is a string", json!({"messages": "[]"}), StatusCode::BAD_REQUEST, "messages"),
        (
            "unknown top-level field",
            json!({"messages": [ok], "dry_run": true}),
            StatusCode::BAD_REQUEST,
            "dry_run",
        ),
        (
            "1,001 messages",
            json!({"messages": many(1001)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "messages",
        ),
        (
            "5,000 messages",
            json!({"messages": many(5000)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "messages",
        ),
        ("a string", json!("messages"), StatusCode::BAD_REQUEST, "body"),
        ("a number", json!(5), StatusCode::BAD_REQUEST, "body"),
    ];
    for bot in ["b", "fresh"] {
        for (what, body, want, field) in &cases {
            let (status, resp) =
                app.post(&app.admin_key, &format!("/v1/bots/{bot}/messages/batch"), body).await;
            assert_bad(what, status, &resp, *want, Some(field));
        }
    }
    // A struct written as a positional array is not accepted, as a body or as an item.
    let (status, resp) =
        app.post(&app.admin_key, "/v1/bots/b/messages/batch", &json!([[ok]])).await;
    assert_bad("[[message]]", status, &resp, StatusCode::BAD_REQUEST, Some("body"));
    let (status, resp) = app
        .post(
            &app.admin_key,
            "/v1/bots/b/messages/batch",
            &json!({"messages": [["c", "p", "user", "x"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{resp}");
    assert_eq!(resp["results"][0]["status"], "rejected", "{resp}");
    let (_, resp) = app
        .post(&app.admin_key, "/v1/bots/b/messages/batch", &json!({"messages": many(1001)}))
        .await;
    assert_eq!(resp["error"]["code"], "payload_too_large");
    assert!(resp["error"]["message"].as_str().unwrap().contains("1000"), "{resp}");
    assert_eq!(snapshot(&app).await, before, "a refused batch changed something");
}

#[tokio::test]
async fn bodies_over_10_mib_are_413_and_change_nothing() {
    let app = seeded().await;
    let before = snapshot(&app).await;
    // One message whose body alone is over the limit (its content would also be too long).
    let big = serde_json::to_vec(&msg("c", "huge", &long(10 * 1024 * 1024 + 1))).unwrap();
    // A batch of valid messages (each under 64 KiB) that together are over 10 MiB.
    let batch: Vec<Value> =
        (0..170).map(|i| msg("c", &format!("big{i}"), &long(63 * 1024))).collect();
    let batch = serde_json::to_vec(&json!({ "messages": batch })).unwrap();
    assert!(batch.len() > 10 * 1024 * 1024);
    for (path, body) in [
        ("/v1/bots/b/messages", big.clone()),
        ("/v1/bots/fresh/messages", big),
        ("/v1/bots/b/messages/batch", batch.clone()),
        ("/v1/bots/fresh/messages/batch", batch),
    ] {
        let (status, resp) = raw(&app, Method::POST, path, body, "application/json").await;
        assert_bad(path, status, &resp, StatusCode::PAYLOAD_TOO_LARGE, Some("body"));
        assert_eq!(resp["error"]["code"], "payload_too_large", "{resp}");
    }
    assert_eq!(snapshot(&app).await, before, "an oversized body changed something");
}

/// The controls for the limits above: each limit itself is accepted.
#[tokio::test]
async fn values_at_each_limit_are_accepted() {
    let app = spawn_app().await;
    let key = &app.admin_key;
    let base = json!({"conversation_id": "edge", "role": "user", "content": "x"});
    let now = now_millis();
    let at_limit = [
        set(&base, "conversation_id", Some(json!(long(256)))),
        set(&base, "conversation_id", Some(json!("é".repeat(256)))),
        set(&base, "id", Some(json!(long(256)))),
        set(&base, "user_id", Some(json!(long(256)))),
        set(&base, "content", Some(json!(long(64 * 1024)))),
        // `{"k":"…"}` is 8 bytes around the value: exactly 16 KiB.
        set(&base, "metadata", Some(json!({"k": long(16 * 1024 - 8)}))),
        set(&base, "timestamp", Some(json!("2000-01-01T00:00:00Z"))),
        set(&base, "timestamp", Some(json!(946_684_800_000_i64))),
        set(&base, "timestamp", Some(json!(format_rfc3339(now + 23 * HOUR)))),
        set(&base, "timestamp", Some(json!("2026-01-10T11:00:00.123+02:00"))),
    ];
    for (i, body) in at_limit.iter().enumerate() {
        let body = set(body, "id", Some(body.get("id").cloned().unwrap_or(json!(format!("m{i}")))));
        let (status, resp) = app.post(key, "/v1/bots/edge/messages", &body).await;
        assert_eq!(status, StatusCode::OK, "case {i}: {resp}");
        assert_eq!(resp["status"], "stored", "case {i}: {resp}");
    }
    // Exactly 1,000 messages, close to 10 MiB in all.
    let batch: Vec<Value> =
        (0..1000).map(|i| msg("full", &format!("m{i}"), &long(9_900))).collect();
    let batch = json!({ "messages": batch });
    assert!(serde_json::to_vec(&batch).unwrap().len() > 9_900_000);
    let (status, resp) = app.post(key, "/v1/bots/edge/messages/batch", &batch).await;
    assert_eq!(status, StatusCode::OK, "{}", resp["error"]);
    assert_eq!(resp["stored"], 1000);
    let (_, conv) = app.get(key, "/v1/bots/edge/conversations/full").await;
    assert_eq!(conv["message_count"], 1000);
}

#[tokio::test]
async fn bad_list_parameters_are_400_by_name() {
    let app = seeded().await;
    let before = snapshot(&app).await;
    // A real cursor, made for the default sort (started_at).
    let (_, page) = app.get(&app.admin_key, "/v1/bots/b/conversations?limit=1").await;
    let cursor = page["next_cursor"].as_str().expect("two conversations, limit 1").to_owned();
    let q501 = "a".repeat(501);
    let key65 = "k".repeat(65);
    let long_channel = long(257);
    let cases: Vec<(String, &str)> = vec![
        ("limit=0".into(), "limit"),
        ("limit=101".into(), "limit"),
        ("limit=abc".into(), "limit"),
        ("limit=-1".into(), "limit"),
        ("limit=1.5".into(), "limit"),
        ("limit=".into(), "limit"),
        ("limit=99999999999999999999".into(), "limit"),
        ("cursor=garbage".into(), "cursor"),
        ("cursor=".into(), "cursor"),
        ("cursor=%00%01".into(), "cursor"),
        ("cursor=MXM".into(), "cursor"),
        (format!("cursor={}", b64("1s123.abc")), "cursor"),
        (format!("cursor={}", b64("2s1.1")), "cursor"),
        (format!("cursor={}", b64("1x1.1")), "cursor"),
        (format!("cursor={}", b64("1s.1")), "cursor"),
        (format!("cursor={}", b64("1s1")), "cursor"),
        (format!("cursor={}", b64("1s99999999999999999999.1")), "cursor"),
        (format!("sort=last_message_at&cursor={cursor}"), "cursor"),
        ("colour=red".into(), "colour"),
        ("Limit=10".into(), "Limit"),
        ("bot_id=b".into(), "bot_id"),
        ("start_time=2026-01-02&end_time=2026-01-01".into(), "end_time"),
        ("start_time=yesterday".into(), "start_time"),
        ("start_time=2026-1-1".into(), "start_time"),
        ("end_time=2026-02-30".into(), "end_time"),
        ("end_time=1767225600000".into(), "end_time"),
        ("status=done".into(), "status"),
        ("status=".into(), "status"),
        ("status=ACTIVE".into(), "status"),
        ("time_field=created_at".into(), "time_field"),
        ("time_field=".into(), "time_field"),
        ("sort=newest".into(), "sort"),
        ("metadata.=x".into(), "metadata."),
        ("metadata.a.b=x".into(), "metadata.a.b"),
        ("metadata.a%27b=x".into(), "metadata.a'b"),
        ("metadata.a%22%5D=x".into(), "metadata.a\"]"),
        (
            format!("metadata.{key65}=x"),
            "metadata.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
        ),
        ("min_messages=-1".into(), "min_messages"),
        ("min_messages=many".into(), "min_messages"),
        ("q=!!!".into(), "q"),
        (format!("q={q501}"), "q"),
        (format!("channel_type={long_channel}"), "channel_type"),
        ("user_id=".into(), "user_id"),
    ];
    for (query, field) in &cases {
        let (status, resp) =
            app.get(&app.admin_key, &format!("/v1/bots/b/conversations?{query}")).await;
        assert_bad(query, status, &resp, StatusCode::BAD_REQUEST, Some(field));
        assert_eq!(resp["error"]["code"], "invalid_request", "{query}: {resp}");
    }
    // The controls: the same parameters, well formed, are accepted.
    for query in [
        "limit=1",
        "limit=100",
        &format!("cursor={cursor}"),
        "start_time=2026-01-01&end_time=2026-01-02",
        "start_time=2026-01-01&end_time=2026-01-01",
        "status=active",
        "time_field=last_message_at",
        "sort=last_message_at",
        "metadata.plan_2-x=pro",
        "min_messages=0",
        "q=hello",
        "channel_type=web",
    ] {
        let (status, resp) =
            app.get(&app.admin_key, &format!("/v1/bots/b/conversations?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {resp}");
    }
    assert_eq!(snapshot(&app).await, before);
}

#[tokio::test]
async fn bad_path_segments_are_400_by_name() {
    let app = seeded().await;
    let before = snapshot(&app).await;
    let l = long(257);
    let key = &app.admin_key;
    let m = msg("c", "p1", "x");
    let cases: Vec<(Method, String, Option<Value>, &str)> = vec![
        (Method::POST, format!("/v1/bots/{l}/messages"), Some(m.clone()), "bot_id"),
        (
            Method::POST,
            format!("/v1/bots/{l}/messages/batch"),
            Some(json!({"messages": [m]})),
            "bot_id",
        ),
        (Method::POST, "/v1/bots/a%00b/messages".into(), Some(m.clone()), "bot_id"),
        (Method::GET, format!("/v1/bots/{l}/conversations"), None, "bot_id"),
        (Method::GET, format!("/v1/bots/b/conversations/{l}"), None, "conversation_id"),
        (Method::GET, "/v1/bots/b/conversations/c%0A".into(), None, "conversation_id"),
        (Method::DELETE, format!("/v1/bots/b/conversations/{l}"), None, "conversation_id"),
        (Method::DELETE, format!("/v1/bots/b/users/{l}"), None, "user_id"),
        (Method::DELETE, format!("/v1/bots/{l}/users/u"), None, "bot_id"),
        (Method::DELETE, "/v1/keys/abc".into(), None, "path"),
        (Method::DELETE, "/v1/keys/99999999999999999999".into(), None, "path"),
        (
            Method::GET,
            "/compat/chatzuri/api/v1/get-conversations?chatbotId=".into(),
            None,
            "chatbotId",
        ),
        (
            Method::GET,
            format!("/compat/chatzuri/api/v1/get-conversations?chatbotId={l}"),
            None,
            "chatbotId",
        ),
    ];
    for (method, path, body, field) in &cases {
        let (status, resp) = app.call(method.clone(), key, path, body.as_ref()).await;
        assert_bad(
            &format!("{method} {}", &path[..path.len().min(60)]),
            status,
            &resp,
            StatusCode::BAD_REQUEST,
            Some(field),
        );
    }
    let (status, resp) = app.delete(key, "/v1/keys/99999").await;
    assert_bad("unknown key", status, &resp, StatusCode::NOT_FOUND, None);
    assert_eq!(snapshot(&app).await, before);
}

#[tokio::test]
async fn bad_key_requests_are_400_by_name() {
    let app = seeded().await;
    let before = snapshot(&app).await;
    let cases = vec![
        (json!({}), "name"),
        (json!({"scopes": ["read"]}), "name"),
        (json!({"name": "k"}), "scopes"),
        (json!({"name": "", "scopes": ["read"]}), "name"),
        (json!({"name": long(257), "scopes": ["read"]}), "name"),
        (json!({"name": "k", "scopes": []}), "scopes"),
        (json!({"name": "k", "scopes": ["root"]}), "scopes"),
        (json!({"name": "k", "scopes": "read"}), "scopes"),
        (json!({"name": "k", "scopes": [1]}), "scopes[0]"),
        (json!({"name": "k", "scopes": ["read"], "bots": [""]}), "bots[0]"),
        (json!({"name": "k", "scopes": ["read"], "bots": ["b", long(257)]}), "bots[1]"),
        (json!({"name": "k", "scopes": ["read"], "bots": "b"}), "bots"),
        (json!({"name": "k", "scopes": ["read"], "expires": "never"}), "expires"),
        (json!([]), "body"),
    ];
    for (body, field) in &cases {
        let (status, resp) = app.post(&app.admin_key, "/v1/keys", body).await;
        assert_bad(&body.to_string(), status, &resp, StatusCode::BAD_REQUEST, Some(field));
    }
    let (status, resp) = raw(&app, Method::POST, "/v1/keys", "{", "application/json").await;
    assert_bad("malformed", status, &resp, StatusCode::BAD_REQUEST, Some("body"));
    assert_eq!(snapshot(&app).await, before, "a refused key request changed the keys");
}

#[tokio::test]
async fn bad_compat_parameters_are_400_by_name() {
    let app = seeded().await;
    let key = &app.admin_key;
    let cz = "/compat/chatzuri/api/v1/get-conversations";
    for (query, field) in [
        ("", "chatbotId"),
        ("chatbotId=b&colour=red", "colour"),
        ("chatbotId=b&startDate=2023-7-10", "startDate"),
        ("chatbotId=b&endDate=yesterday", "endDate"),
        ("chatbotId=b&startDate=2023-07-10&endDate=2023-07-09", "endDate"),
        ("chatbotId=b&size=0", "size"),
        ("chatbotId=b&size=101", "size"),
        ("chatbotId=b&page=abc", "page"),
        ("chatbotId=b&page=0", "page"),
        ("chatbotId=b&filteredSources=Telegram", "filteredSources"),
    ] {
        let (status, resp) = app.get(key, &format!("{cz}?{query}")).await;
        assert_bad(query, status, &resp, StatusCode::BAD_REQUEST, Some(field));
    }
    for (body, field) in [
        (json!({"chatbotId": ["b"]}), "chatbotId"),
        (json!({"chatbotId": "b", "size": {"n": 1}}), "size"),
        (json!({"chatbotId": "b", "size": -5}), "size"),
        (json!({"chatbotId": "b", "extra": 1}), "extra"),
        (json!([1]), "body"),
    ] {
        let (status, resp) = app.post(key, cz, &body).await;
        assert_bad(&body.to_string(), status, &resp, StatusCode::BAD_REQUEST, Some(field));
    }
    let (status, resp) = raw(&app, Method::POST, cz, "{\"chatbotId\":", "application/json").await;
    assert_bad("malformed", status, &resp, StatusCode::BAD_REQUEST, Some("body"));
    for (query, field) in [
        ("page=0", "page"),
        ("page=x", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("colour=red", "colour"),
    ] {
        let (status, resp) =
            app.get(key, &format!("/compat/botuj/v1/api/conversations?{query}")).await;
        assert_bad(query, status, &resp, StatusCode::BAD_REQUEST, Some(field));
    }
}

/// Whatever arrives, the answer is never a 500 and always JSON with a code and a message.
#[tokio::test]
async fn odd_requests_never_500() {
    let app = seeded().await;
    let before = snapshot(&app).await;
    let key = &app.admin_key;
    for (method, path) in [
        (Method::GET, "/v1/bots/b/conversations?%ZZ=1"),
        (Method::GET, "/v1/bots/b/conversations?limit=%ZZ"),
        (Method::GET, "/v1/bots/b/conversations?&&&="),
        (Method::GET, "/v1/bots/b/conversations?q=%22%22%22*%20OR%20NEAR(a)"),
        (Method::GET, "/v1/bots/b/conversations?q=a%20AND%20-b%20%5E%7Bc%7D"),
        (Method::GET, "/v1/bots/%F0%9F%A4%96/conversations"),
        (Method::GET, "/v1/bots/b/conversations/%E2%80%AE"),
        (Method::PUT, "/v1/bots/b/messages"),
        (Method::GET, "/v1/bots/b/messages"),
        (Method::PATCH, "/v1/keys"),
        (Method::GET, "/v1/nope"),
        (
            Method::GET,
            "/compat/chatzuri/api/v1/get-conversations?chatbotId=b&filteredSources=%2C%2C",
        ),
        (Method::GET, "/compat/botuj/v1/api/conversations?page=4294967295&per_page=100"),
    ] {
        let (status, resp) = app.call(method.clone(), key, path, None).await;
        assert!(!status.is_server_error(), "{method} {path}: {status} {resp}");
        if !status.is_success() {
            assert_bad(&format!("{method} {path}"), status, &resp, status, None);
        }
    }
    // A known path with another method: 405 in the same JSON shape, with `Allow`.
    let resp = app
        .client
        .put(app.url("/v1/bots/b/messages"))
        .bearer_auth(key)
        .json(&msg("c", "put", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()[reqwest::header::ALLOW], "POST");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    assert_eq!(snapshot(&app).await, before);
}
