//! Tenancy and scopes end to end: team A's keys can neither read, write, count nor delete
//! anything of team B's on any endpoint, and every key can do exactly what its scopes and bot
//! list allow. Each refusal is checked against B's data read back before and after.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{TestApp, spawn_app};
use reqwest::{Method, RequestBuilder, StatusCode, header};
use serde_json::{Value, json};

fn msg(conv: &str, id: &str, role: &str, content: &str, ts: &str) -> Value {
    json!({"conversation_id": conv, "id": id, "role": role, "content": content, "timestamp": ts})
}

fn with(mut m: Value, k: &str, v: Value) -> Value {
    m[k] = v;
    m
}

async fn ingest_as(app: &TestApp, key: &str, bot: &str, messages: Vec<Value>) {
    let n = messages.len() as u64;
    let (status, body) = app
        .post(key, &format!("/v1/bots/{bot}/messages/batch"), &json!({ "messages": messages }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stored"].as_u64(), Some(n), "{body}");
}

/// Asserts a JSON error of this status and code.
#[track_caller]
fn assert_err(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

fn ids(list: &Value) -> Vec<&str> {
    list["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect()
}

fn bot_ids(list: &Value) -> Vec<&str> {
    list["data"].as_array().unwrap().iter().map(|b| b["bot_id"].as_str().unwrap()).collect()
}

/// Team A (the harness's team, `a` its admin key) has bot `shared`; team B has bots `bbot` (only
/// B has one) and `shared` (both teams do). Both teams have an end user `bu`.
struct World {
    app: TestApp,
    a: String,
    b_team: i64,
    b: String,
}

async fn world() -> World {
    let app = spawn_app().await;
    let (b_team, b) = app.new_team("b").await;
    let a = app.admin_key.clone();
    ingest_as(
        &app,
        &b,
        "bbot",
        vec![
            with(
                msg("bc", "m1", "user", "my secret banana order", "2026-01-10T10:00:00Z"),
                "user_id",
                json!("bu"),
            ),
            msg("bc", "m2", "bot", "noted, banana lover", "2026-01-10T10:00:05Z"),
        ],
    )
    .await;
    ingest_as(
        &app,
        &b,
        "shared",
        vec![with(
            msg("bshared", "m1", "user", "banana in the shared bot", "2026-01-11T10:00:00Z"),
            "user_id",
            json!("bu"),
        )],
    )
    .await;
    ingest_as(
        &app,
        &a,
        "shared",
        vec![with(
            msg("ac", "m1", "user", "apple please", "2026-01-12T10:00:00Z"),
            "user_id",
            json!("bu"),
        )],
    )
    .await;
    World { app, a, b_team, b }
}

/// Sends `req` and returns status, headers and JSON.
async fn send(req: RequestBuilder) -> (StatusCode, header::HeaderMap, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
}

// ---------------------------------------------------------------------------------------------
// Teams
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ingest_to_another_teams_bot_id_creates_an_own_bot() {
    let w = world().await;
    let (app, a) = (&w.app, &w.a);
    let before = app.snapshot(&w.b).await;

    // The same bot, conversation and message ids as B's: were B's data reached, these would be
    // duplicates of B's messages, or added to B's conversation.
    let (status, body) = app
        .post(
            a,
            "/v1/bots/bbot/messages",
            &msg("bc", "m1", "user", "from A", "2026-02-01T00:00:00Z"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "stored", "{body}");
    let (status, body) = app
        .post(
            a,
            "/v1/bots/bbot/messages/batch",
            &json!({"messages": [
                msg("bc", "m2", "bot", "A's bot reply", "2026-02-01T00:00:01Z"),
                msg("bc", "m9", "user", "A again", "2026-02-01T00:00:02Z"),
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["stored"].as_u64(), body["duplicates"].as_u64()), (Some(2), Some(0)));
    let (status, body) = app
        .post(
            a,
            "/v1/bots/shared/messages",
            &msg("bshared", "m1", "user", "A in shared", "2026-02-01T00:00:00Z"),
        )
        .await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("stored")), "{body}");

    assert_eq!(app.snapshot(&w.b).await, before, "team B's data changed");

    // A sees its own conversation `bc` in its own bot `bbot`, with only its own messages.
    let (status, conv) = app.get(a, "/v1/bots/bbot/conversations/bc").await;
    assert_eq!(status, StatusCode::OK, "{conv}");
    let contents: Vec<_> = conv["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["from A", "A's bot reply", "A again"]);
    assert_eq!(conv["user_id"], Value::Null);
    let (_, bots) = app.get(a, "/v1/bots").await;
    assert_eq!(bot_ids(&bots), ["bbot", "shared"]);
    let counts: Vec<_> =
        bots["data"].as_array().unwrap().iter().map(|b| b["conversations"].as_i64()).collect();
    assert_eq!(counts, [Some(1), Some(2)], "{bots}");
}

#[tokio::test]
async fn reads_of_another_teams_bot_are_not_found() {
    let w = world().await;
    let (app, a) = (&w.app, &w.a);
    for path in [
        "/v1/bots/bbot/conversations",
        "/v1/bots/bbot/conversations?q=banana",
        "/v1/bots/bbot/conversations?user_id=bu",
        "/v1/bots/bbot/conversations/bc",
        "/v1/bots/shared/conversations/bshared",
    ] {
        let (status, body) = app.get(a, path).await;
        assert_err(status, &body, StatusCode::NOT_FOUND, "not_found");
        assert!(!body.to_string().contains("banana"), "{path}: {body}");
    }
    // In a bot id both teams use, A lists and searches only its own conversations.
    let (status, list) = app.get(a, "/v1/bots/shared/conversations").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(ids(&list), ["ac"]);
    let (_, list) = app.get(a, "/v1/bots/shared/conversations?user_id=bu").await;
    assert_eq!(ids(&list), ["ac"]);
    let (_, list) = app.get(a, "/v1/bots/shared/conversations?q=banana").await;
    assert_eq!(ids(&list), Vec::<&str>::new());
    // The control: the same search finds B's conversation for B, and A's for A.
    let (_, list) = app.get(&w.b, "/v1/bots/shared/conversations?q=banana").await;
    assert_eq!(ids(&list), ["bshared"]);
    let (_, list) = app.get(a, "/v1/bots/shared/conversations?q=apple").await;
    assert_eq!(ids(&list), ["ac"]);
    // A cursor is no way in either: B's cursor in A's bot pages A's data only.
    ingest_as(
        app,
        &w.b,
        "shared",
        vec![msg("bshared2", "m1", "user", "more", "2026-01-13T00:00:00Z")],
    )
    .await;
    let (_, page) = app.get(&w.b, "/v1/bots/shared/conversations?limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (status, list) =
        app.get(a, &format!("/v1/bots/shared/conversations?cursor={cursor}")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(ids(&list).iter().all(|id| *id == "ac"), "{list}");
}

#[tokio::test]
async fn deletes_never_reach_another_team() {
    let w = world().await;
    let (app, a) = (&w.app, &w.a);
    let before = app.snapshot(&w.b).await;
    for path in [
        "/v1/bots/bbot/conversations/bc",
        "/v1/bots/bbot/users/bu",
        "/v1/bots/shared/conversations/bshared",
    ] {
        let (status, body) = app.delete(a, path).await;
        assert_err(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    // Erasing user `bu` in A's `shared` erases A's conversation of `bu`, and only that.
    let (status, body) = app.delete(a, "/v1/bots/shared/users/bu").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deleted_conversations"], 1);
    let (status, _) = app.get(a, "/v1/bots/shared/conversations/ac").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.snapshot(&w.b).await, before, "team B's data changed");
    // B can still delete its own (the control for the 404s above).
    let (status, _) = app.delete(&w.b, "/v1/bots/bbot/conversations/bc").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn bot_list_counts_only_the_own_team() {
    let w = world().await;
    let (_, a_bots) = w.app.get(&w.a, "/v1/bots").await;
    assert_eq!(bot_ids(&a_bots), ["shared"]);
    assert_eq!(a_bots["data"][0]["conversations"], 1, "{a_bots}");
    let (_, b_bots) = w.app.get(&w.b, "/v1/bots").await;
    assert_eq!(bot_ids(&b_bots), ["bbot", "shared"]);
    assert_eq!(b_bots["data"][1]["conversations"], 1, "{b_bots}");
}

#[tokio::test]
async fn keys_are_listed_created_and_revoked_within_the_team() {
    let w = world().await;
    let (app, a, b) = (&w.app, &w.a, &w.b);
    let key_ids = |list: &Value| -> Vec<i64> {
        list["data"].as_array().unwrap().iter().map(|k| k["id"].as_i64().unwrap()).collect()
    };
    let (status, a_keys) = app.get(a, "/v1/keys").await;
    assert_eq!(status, StatusCode::OK, "{a_keys}");
    let (_, b_keys) = app.get(b, "/v1/keys").await;
    assert!(
        a_keys["data"].as_array().unwrap().iter().all(|k| k["team_id"] == app.team_id),
        "{a_keys}"
    );
    assert!(
        b_keys["data"].as_array().unwrap().iter().all(|k| k["team_id"] == w.b_team),
        "{b_keys}"
    );
    let b_ids = key_ids(&b_keys);
    assert!(!b_ids.is_empty());
    assert!(key_ids(&a_keys).iter().all(|id| !b_ids.contains(id)));

    // A key A creates belongs to A, and cannot be aimed at B's team.
    let (status, created) =
        app.post(a, "/v1/keys", &json!({"name": "r", "scopes": ["read"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["team_id"], app.team_id);
    let new_key = created["key"].as_str().unwrap();
    let (status, body) = app.get(new_key, "/v1/bots/bbot/conversations").await;
    assert_err(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (_, bots) = app.get(new_key, "/v1/bots").await;
    assert_eq!(bot_ids(&bots), ["shared"]);
    let (status, body) = app
        .post(a, "/v1/keys", &json!({"name": "x", "scopes": ["admin"], "team_id": w.b_team}))
        .await;
    assert_err(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(body["error"]["field"], "team_id");

    // A cannot revoke B's keys; they keep working.
    for id in &b_ids {
        let (status, body) = app.delete(a, &format!("/v1/keys/{id}")).await;
        assert_err(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, b_keys_after) = app.get(b, "/v1/keys").await;
    assert_eq!(status, StatusCode::OK, "B's admin key stopped working");
    assert_eq!(b_keys_after, b_keys, "B's keys changed");
    let (status, _) = app.get(b, "/v1/bots/bbot/conversations/bc").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn compat_endpoints_never_show_another_team() {
    let w = world().await;
    let (app, a, b) = (&w.app, &w.a, &w.b);
    // Chatzuri: B's bot id is not found, by query string or body.
    let (status, body) =
        app.get(a, "/compat/chatzuri/api/v1/get-conversations?chatbotId=bbot").await;
    assert_err(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .post(a, "/compat/chatzuri/api/v1/get-conversations", &json!({"chatbotId": "bbot"}))
        .await;
    assert_err(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) =
        app.get(a, "/compat/chatzuri/api/v1/get-conversations?chatbotId=shared").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), ["ac"]);
    let (_, body) = app.get(b, "/compat/chatzuri/api/v1/get-conversations?chatbotId=bbot").await;
    assert_eq!(ids(&body), ["bc"], "control: B sees its own");

    // Botuj: A's list and total count hold only A's conversations.
    let botuj = |key: &str| {
        app.client.get(app.url("/compat/botuj/v1/api/conversations?per_page=100")).bearer_auth(key)
    };
    let (status, headers, list) = send(botuj(a)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(headers["x-total-count"], "1");
    let sessions: Vec<_> =
        list.as_array().unwrap().iter().map(|c| c["sessionid"].as_str().unwrap()).collect();
    assert_eq!(sessions, ["ac"]);
    let (_, b_list) = app.get(b, "/v1/bots/bbot/conversations").await;
    let b_numeric = b_list["data"][0]["numeric_id"].clone();
    assert!(list.as_array().unwrap().iter().all(|c| c["id"] != b_numeric));
    let (_, headers, list) = send(botuj(b)).await;
    assert_eq!(headers["x-total-count"], "2", "control: B counts its own");
    assert_eq!(list.as_array().unwrap().len(), 2);
    // A second page for A is empty, whatever B has.
    let (status, headers, list) = send(
        app.client
            .get(app.url("/compat/botuj/v1/api/conversations?page=2&per_page=1"))
            .bearer_auth(a),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-total-count"], "1");
    assert_eq!(list, json!([]));
}

// ---------------------------------------------------------------------------------------------
// Keys and scopes
// ---------------------------------------------------------------------------------------------

/// Every endpoint, with a body it would accept from a key allowed to call it.
fn endpoints() -> Vec<(Method, &'static str, Option<Value>)> {
    let m = msg("c9", "m1", "user", "hi", "2026-01-10T10:00:00Z");
    vec![
        (Method::POST, "/v1/bots/newbot/messages", Some(m.clone())),
        (Method::POST, "/v1/bots/newbot/messages/batch", Some(json!({"messages": [m]}))),
        (Method::GET, "/v1/bots/shared/conversations", None),
        (Method::GET, "/v1/bots/shared/conversations?q=apple", None),
        (Method::GET, "/v1/bots/shared/conversations/ac", None),
        (Method::DELETE, "/v1/bots/shared/conversations/ac", None),
        (Method::DELETE, "/v1/bots/shared/users/bu", None),
        (Method::GET, "/v1/bots", None),
        (Method::GET, "/v1/keys", None),
        (Method::POST, "/v1/keys", Some(json!({"name": "k", "scopes": ["admin"]}))),
        (Method::DELETE, "/v1/keys/1", None),
        (Method::GET, "/compat/chatzuri/api/v1/get-conversations?chatbotId=shared", None),
        (
            Method::POST,
            "/compat/chatzuri/api/v1/get-conversations",
            Some(json!({"chatbotId": "shared"})),
        ),
        (Method::GET, "/compat/botuj/v1/api/conversations", None),
    ]
}

#[tokio::test]
async fn missing_or_unknown_keys_are_401_with_a_challenge() {
    let w = world().await;
    let app = &w.app;
    let before = app.snapshot(&w.a).await;
    let (_, keys_before) = app.get(&w.a, "/v1/keys").await;
    let basic = |s: &str| format!("Basic {}", STANDARD.encode(s));
    let unknown = confab_core::auth::generate_key();
    let headers: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some("Bearer garbage".into()),
        Some(format!("Bearer {unknown}")),
        Some(format!("Bearer {}x", w.a)),
        Some(format!("Token {}", w.a)),
        Some(format!("Digest {}", w.a)),
        Some("Basic !!!not-base64".into()),
        Some(basic("team:")),
        Some(basic(&format!("team:{unknown}"))),
        Some(basic(&format!("{unknown}:"))),
    ];
    for (method, path, body) in endpoints() {
        for h in &headers {
            let mut req = app.client.request(method.clone(), app.url(path));
            if let Some(h) = h {
                req = req.header(header::AUTHORIZATION, h);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let (status, resp_headers, resp) = send(req).await;
            assert_err(status, &resp, StatusCode::UNAUTHORIZED, "unauthorized");
            let challenge = resp_headers
                .get(header::WWW_AUTHENTICATE)
                .unwrap_or_else(|| panic!("{method} {path} {h:?}: no WWW-Authenticate"))
                .to_str()
                .unwrap();
            assert!(challenge.contains("Bearer") && challenge.contains("Basic"), "{challenge}");
        }
    }
    assert_eq!(app.snapshot(&w.a).await, before, "an unauthenticated request changed data");
    let (_, keys_after) = app.get(&w.a, "/v1/keys").await;
    assert_eq!(keys_after, keys_before, "an unauthenticated request changed the keys");
}

#[tokio::test]
async fn basic_auth_takes_the_key_as_user_or_password() {
    let w = world().await;
    let app = &w.app;
    let get_bots = |user: &str, password: Option<&str>| {
        let req = app.client.get(app.url("/v1/bots")).basic_auth(user, password);
        async move {
            let (status, _, body) = send(req).await;
            (status, body)
        }
    };
    for (key, want) in [(&w.a, vec!["shared"]), (&w.b, vec!["bbot", "shared"])] {
        for (user, password) in [
            (key.as_str(), None),
            (key.as_str(), Some("")),
            (key.as_str(), Some("ignored")),
            ("", Some(key.as_str())),
            ("team-name", Some(key.as_str())),
        ] {
            let (status, body) = get_bots(user, password).await;
            assert_eq!(status, StatusCode::OK, "{user:?}:{password:?} {body}");
            assert_eq!(bot_ids(&body), want, "{user:?}:{password:?}");
        }
    }
    let (status, body) = get_bots("team-name", Some("cfb_not_a_key")).await;
    assert_err(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    // Basic works for writes too.
    let req = app
        .client
        .post(app.url("/v1/bots/shared/messages"))
        .basic_auth("x", Some(&w.a))
        .json(&msg("basic", "m1", "user", "via basic", "2026-01-10T10:00:00Z"));
    let (status, _, body) = send(req).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("stored")), "{body}");
}

#[tokio::test]
async fn ingest_only_key_cannot_read_or_delete() {
    let w = world().await;
    let app = &w.app;
    let key = app.key(app.team_id, &["ingest"], None).await;
    let (status, body) = app
        .post(
            &key,
            "/v1/bots/shared/messages",
            &msg("ing", "m1", "user", "ingested", "2026-01-10T10:00:00Z"),
        )
        .await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("stored")), "{body}");
    let before = app.snapshot(&w.a).await;
    for (method, path, body) in endpoints().into_iter().skip(2) {
        let (status, resp) = app.call(method.clone(), &key, path, body.as_ref()).await;
        assert_err(status, &resp, StatusCode::FORBIDDEN, "forbidden");
        assert!(
            resp["error"]["message"].as_str().unwrap().contains("scope"),
            "{method} {path}: {resp}"
        );
    }
    assert_eq!(app.snapshot(&w.a).await, before);
}

#[tokio::test]
async fn read_key_cannot_ingest_delete_or_manage_keys() {
    let w = world().await;
    let app = &w.app;
    let key = app.key(app.team_id, &["read"], None).await;
    let (status, list) = app.get(&key, "/v1/bots/shared/conversations").await;
    assert_eq!(status, StatusCode::OK, "control: {list}");
    let before = app.snapshot(&w.a).await;
    let (_, keys_before) = app.get(&w.a, "/v1/keys").await;
    for (method, path, body) in endpoints() {
        if method == Method::GET && !path.starts_with("/v1/keys") {
            let (status, resp) = app.call(method.clone(), &key, path, body.as_ref()).await;
            assert_eq!(status, StatusCode::OK, "{method} {path}: {resp}");
            continue;
        }
        if path.starts_with("/compat/chatzuri") {
            // Chatzuri's POST is a read.
            let (status, resp) = app.call(method.clone(), &key, path, body.as_ref()).await;
            assert_eq!(status, StatusCode::OK, "{method} {path}: {resp}");
            continue;
        }
        let (status, resp) = app.call(method.clone(), &key, path, body.as_ref()).await;
        assert_err(status, &resp, StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(app.snapshot(&w.a).await, before, "a read key changed data");
    let (_, keys_after) = app.get(&w.a, "/v1/keys").await;
    assert_eq!(keys_after, keys_before, "a read key changed the keys");
}

#[tokio::test]
async fn bot_limited_key_sees_and_touches_only_its_bots() {
    let app = spawn_app().await;
    let admin = &app.admin_key;
    ingest_as(
        &app,
        admin,
        "x",
        vec![with(
            msg("cx", "m1", "user", "x talk", "2026-01-10T10:00:00Z"),
            "user_id",
            json!("u"),
        )],
    )
    .await;
    ingest_as(
        &app,
        admin,
        "y",
        vec![with(
            msg("cy", "m1", "user", "y talk", "2026-01-10T10:00:00Z"),
            "user_id",
            json!("u"),
        )],
    )
    .await;
    let before = app.snapshot(admin).await;
    let read_x = app.key(app.team_id, &["read"], Some(vec!["x"])).await;
    let ingest_x = app.key(app.team_id, &["ingest"], Some(vec!["x"])).await;
    let admin_x = app.key(app.team_id, &["admin"], Some(vec!["x"])).await;

    // Reads.
    let (status, list) = app.get(&read_x, "/v1/bots/x/conversations").await;
    assert_eq!((status, ids(&list)), (StatusCode::OK, vec!["cx"]));
    for path in [
        "/v1/bots/y/conversations",
        "/v1/bots/y/conversations?q=talk",
        "/v1/bots/y/conversations/cy",
        "/v1/bots/nope/conversations",
        "/compat/chatzuri/api/v1/get-conversations?chatbotId=y",
    ] {
        let (status, body) = app.get(&read_x, path).await;
        assert_err(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (_, bots) = app.get(&read_x, "/v1/bots").await;
    assert_eq!(bot_ids(&bots), ["x"]);
    let (status, body) =
        app.get(&read_x, "/compat/chatzuri/api/v1/get-conversations?chatbotId=x").await;
    assert_eq!((status, ids(&body)), (StatusCode::OK, vec!["cx"]));
    let (status, headers, list) =
        send(app.client.get(app.url("/compat/botuj/v1/api/conversations")).bearer_auth(&read_x))
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-total-count"], "1");
    assert_eq!(list[0]["sessionid"], "cx");

    // Writes: neither into y nor into a new bot.
    let m = msg("cy", "m2", "user", "sneaky", "2026-01-10T11:00:00Z");
    for path in ["/v1/bots/y/messages", "/v1/bots/z/messages"] {
        let (status, body) = app.post(&ingest_x, path, &m).await;
        assert_err(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, body) =
        app.post(&ingest_x, "/v1/bots/y/messages/batch", &json!({"messages": [m]})).await;
    assert_err(status, &body, StatusCode::NOT_FOUND, "not_found");

    // Deletes.
    for path in ["/v1/bots/y/conversations/cy", "/v1/bots/y/users/u"] {
        let (status, body) = app.delete(&admin_x, path).await;
        assert_err(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(app.snapshot(admin).await, before, "a key limited to x changed y");

    // Keys: only for its own bots.
    let (_, keys_before) = app.get(admin, "/v1/keys").await;
    for body in [
        json!({"name": "k", "scopes": ["read"], "bots": ["y"]}),
        json!({"name": "k", "scopes": ["read"], "bots": ["x", "y"]}),
        json!({"name": "k", "scopes": ["read"]}),
        json!({"name": "k", "scopes": ["admin"], "bots": null}),
    ] {
        let (status, resp) = app.post(&admin_x, "/v1/keys", &body).await;
        assert_err(status, &resp, StatusCode::FORBIDDEN, "forbidden");
    }
    let (_, keys_after) = app.get(admin, "/v1/keys").await;
    assert_eq!(keys_after, keys_before, "a refused key was created");
    let (status, created) = app
        .post(&admin_x, "/v1/keys", &json!({"name": "k", "scopes": ["read"], "bots": ["x"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["bots"], json!(["x"]));
    let (status, _) = app.get(created["key"].as_str().unwrap(), "/v1/bots/y/conversations").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nor can it see or revoke keys that reach beyond its bots (the team's unlimited admin key).
    let (status, list) = app.get(&admin_x, "/v1/keys").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let visible = list["data"].as_array().unwrap();
    assert!(
        visible.iter().all(|k| k["bots"].as_array().is_some_and(|b| b.iter().all(|b| b == "x"))),
        "a key limited to x lists keys beyond x: {list}"
    );
    let (_, all) = app.get(admin, "/v1/keys").await;
    let unlimited =
        all["data"].as_array().unwrap().iter().find(|k| k["bots"].is_null()).unwrap()["id"]
            .as_i64()
            .unwrap();
    let (status, body) = app.delete(&admin_x, &format!("/v1/keys/{unlimited}")).await;
    assert_err(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _) = app.get(admin, "/v1/bots").await;
    assert_eq!(status, StatusCode::OK, "the unlimited admin key was revoked by a key limited to x");
    // Its own kind it may revoke.
    let (status, _) = app.delete(&admin_x, &format!("/v1/keys/{}", created["id"])).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn revoked_key_is_refused_at_once() {
    let app = spawn_app().await;
    let admin = &app.admin_key;
    let (status, created) = app
        .post(admin, "/v1/keys", &json!({"name": "soon gone", "scopes": ["read", "ingest"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_i64().unwrap();
    // Used (and so cached) before the revocation.
    let (status, _) = app.get(&key, "/v1/bots").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(
            &key,
            "/v1/bots/b/messages",
            &msg("c", "m1", "user", "before", "2026-01-10T10:00:00Z"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, _) = app.delete(admin, &format!("/v1/keys/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, body) = app.get(&key, "/v1/bots").await;
    assert_err(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = app
        .post(&key, "/v1/bots/b/messages", &msg("c", "m2", "user", "after", "2026-01-10T10:00:01Z"))
        .await;
    assert_err(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, _, _) =
        send(app.client.get(app.url("/v1/bots")).basic_auth("team", Some(&key))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, conv) = app.get(admin, "/v1/bots/b/conversations/c").await;
    assert_eq!(conv["message_count"], 1, "a revoked key stored a message");

    // Revoking twice is not found; the list shows when it was revoked.
    let (status, body) = app.delete(admin, &format!("/v1/keys/{id}")).await;
    assert_err(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (_, keys) = app.get(admin, "/v1/keys").await;
    let k = keys["data"].as_array().unwrap().iter().find(|k| k["id"] == id).unwrap();
    assert!(k["revoked_at"].is_string(), "{k}");

    // An admin key that revokes itself is refused at once too.
    let (_, keys) = app.get(admin, "/v1/keys").await;
    let own = keys["data"].as_array().unwrap().iter().find(|k| k["revoked_at"].is_null()).unwrap()
        ["id"]
        .clone();
    let (status, _) = app.delete(admin, &format!("/v1/keys/{own}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(admin, "/v1/keys").await;
    assert_err(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
}
