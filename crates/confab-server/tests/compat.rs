//! End to end over HTTP: the vendor-compatible APIs, Chatzuri (seed 002) and Botuj (seed 003).
//! Every parameter, default, limit, field and format the seeds name, and Confab's choices for what
//! they leave open (see `docs/compat.md`).

mod common;

use std::collections::BTreeSet;

use common::{TestApp, spawn_app};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const CZ: &str = "/compat/chatzuri/api/v1/get-conversations";
const BOTUJ: &str = "/compat/botuj/v1/api/conversations";

fn msg(conv: &str, id: &str, role: &str, content: &str, ts: &str) -> Value {
    json!({"conversation_id": conv, "id": id, "role": role, "content": content, "timestamp": ts})
}

/// `m` with the fields of `extra` added.
fn with(mut m: Value, extra: Value) -> Value {
    let extra = extra.as_object().unwrap().clone();
    m.as_object_mut().unwrap().extend(extra);
    m
}

fn assert_invalid(status: StatusCode, body: &Value, field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

/// The conversation ids of a Chatzuri answer, in order.
fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array: {body}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

async fn cz_get(app: &TestApp, query: &str) -> (StatusCode, Value) {
    app.get(&app.admin_key, &format!("{CZ}?{query}")).await
}

/// The ids a Chatzuri GET returns, asserting success.
async fn cz_ids(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = cz_get(app, query).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    ids(&body)
}

async fn cz_id_set(app: &TestApp, query: &str) -> BTreeSet<String> {
    cz_ids(app, query).await.into_iter().collect()
}

// ---------------------------------------------------------------------------------------------
// Chatzuri
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn chatzuri_chatbot_id_is_required_and_must_exist() {
    let app = spawn_app().await;
    app.ingest("shop", vec![msg("c1", "m1", "user", "hi", "2024-01-01T00:00:00Z")]).await;

    let (status, body) = app.get(&app.admin_key, CZ).await;
    assert_invalid(status, &body, "chatbotId");
    let (status, body) = cz_get(&app, "page=1&size=10").await;
    assert_invalid(status, &body, "chatbotId");
    let (status, body) = app.post(&app.admin_key, CZ, &json!({})).await;
    assert_invalid(status, &body, "chatbotId");
    let (status, body) = app.post(&app.admin_key, CZ, &json!({"chatbotId": null})).await;
    assert_invalid(status, &body, "chatbotId");
    let (status, body) = app.call(reqwest::Method::POST, &app.admin_key, CZ, None).await;
    assert_invalid(status, &body, "chatbotId");
    let (status, body) = cz_get(&app, "chatbotId=").await;
    assert_invalid(status, &body, "chatbotId");

    let (status, body) = cz_get(&app, "chatbotId=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = app.post(&app.admin_key, CZ, &json!({"chatbotId": "nope"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The seed's example URL lacks a value for chatbotId: `chatbotId=startDate=2023-01-01` names
    // a bot called `startDate=2023-01-01`, which does not exist.
    let (status, body) =
        cz_get(&app, "chatbotId=startDate=2023-01-01&endDate=2023-12-12&page=1&size=20").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    assert_eq!(cz_ids(&app, "chatbotId=shop").await, ["c1"]);
}

#[tokio::test]
async fn chatzuri_params_from_query_body_or_both() {
    let app = spawn_app().await;
    app.ingest(
        "shop",
        vec![
            msg("s1", "1", "user", "a", "2024-01-01T00:00:00Z"),
            msg("s2", "2", "user", "b", "2024-01-02T00:00:00Z"),
            msg("s3", "3", "user", "c", "2024-01-03T00:00:00Z"),
        ],
    )
    .await;
    app.ingest("123", vec![msg("n1", "1", "user", "n", "2024-01-01T00:00:00Z")]).await;
    let key = &app.admin_key;

    // Query string on GET.
    assert_eq!(cz_ids(&app, "chatbotId=shop").await, ["s3", "s2", "s1"]);
    assert_eq!(cz_ids(&app, "chatbotId=shop&page=2&size=2").await, ["s1"]);
    // A parameter repeated in the query string: the last one counts.
    assert_eq!(cz_ids(&app, "chatbotId=nope&chatbotId=shop&size=5&size=1").await, ["s3"]);

    // JSON body on POST, values as the seed's strings or as numbers.
    let (status, body) = app.post(key, CZ, &json!({"chatbotId": "shop"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), ["s3", "s2", "s1"]);
    let (_, body) =
        app.post(key, CZ, &json!({"chatbotId": "shop", "page": "2", "size": "2"})).await;
    assert_eq!(ids(&body), ["s1"]);
    let (_, body) = app.post(key, CZ, &json!({"chatbotId": "shop", "page": 2, "size": 2})).await;
    assert_eq!(ids(&body), ["s1"]);
    let (status, body) = app.post(key, CZ, &json!({"chatbotId": 123})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), ["n1"]);
    assert_eq!(body["data"][0]["chatbot_id"], "123");
    // A JSON null is as if the parameter were absent.
    let (_, body) = app
        .post(key, CZ, &json!({"chatbotId": "shop", "filteredSources": null, "size": null}))
        .await;
    assert_eq!(ids(&body), ["s3", "s2", "s1"]);

    // Query and body together: parameters from both are used; the body wins a tie.
    let (status, body) = app.post(key, &format!("{CZ}?chatbotId=shop"), &json!({"size": 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), ["s3"]);
    let (_, body) = app
        .post(key, &format!("{CZ}?chatbotId=123&size=1&page=2"), &json!({"chatbotId": "shop"}))
        .await;
    assert_eq!(ids(&body), ["s2"]);
    assert_eq!(body["data"][0]["chatbot_id"], "shop");
    let (_, body) =
        app.post(key, &format!("{CZ}?chatbotId=shop&size=1"), &json!({"size": "3"})).await;
    assert_eq!(ids(&body), ["s3", "s2", "s1"]);

    // A body on GET is read as well.
    let resp = app
        .client
        .get(app.url(CZ))
        .bearer_auth(key)
        .json(&json!({"chatbotId": "shop", "size": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ids(&body), ["s3"]);

    // Values that are neither strings nor numbers, and bodies that are not a JSON object.
    let (status, body) = app.post(key, CZ, &json!({"chatbotId": "shop", "size": true})).await;
    assert_invalid(status, &body, "size");
    let (status, body) = app.post(key, CZ, &json!({"chatbotId": ["shop"]})).await;
    assert_invalid(status, &body, "chatbotId");
    let (status, body) = app.post(key, CZ, &json!(["shop"])).await;
    assert_invalid(status, &body, "body");
    let resp = app
        .client
        .post(app.url(CZ))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(r#"{"chatbotId": "shop""#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["field"], "body", "{body}");
}

#[tokio::test]
async fn chatzuri_unknown_parameters_are_rejected() {
    let app = spawn_app().await;
    app.ingest("shop", vec![msg("c1", "m1", "user", "hi", "2024-01-01T00:00:00Z")]).await;
    let (status, body) = cz_get(&app, "chatbotId=shop&chatbotID=shop").await;
    assert_invalid(status, &body, "chatbotID");
    let (status, body) = cz_get(&app, "chatbotId=shop&limit=5").await;
    assert_invalid(status, &body, "limit");
    let (status, body) =
        app.post(&app.admin_key, CZ, &json!({"chatbotId": "shop", "source": "API"})).await;
    assert_invalid(status, &body, "source");
    let (status, body) =
        app.post(&app.admin_key, &format!("{CZ}?per_page=5"), &json!({"chatbotId": "shop"})).await;
    assert_invalid(status, &body, "per_page");
}

#[tokio::test]
async fn chatzuri_filtered_sources_map_to_channel_types() {
    let app = spawn_app().await;
    let channels = [
        "api",
        "chatzuri_site",
        "instagram",
        "messenger",
        "facebook",
        "slack",
        "whatsapp",
        "widget",
        "iframe",
        "web",
        "telegram",
    ];
    let mut batch: Vec<Value> = channels
        .iter()
        .enumerate()
        .map(|(i, ch)| {
            with(
                msg(&format!("c-{ch}"), "m", "user", "hi", &format!("2024-01-01T00:{i:02}:00Z")),
                json!({"channel_type": ch}),
            )
        })
        .collect();
    batch.push(msg("c-none", "m", "user", "hi", "2024-01-01T01:00:00Z"));
    app.ingest("src", batch).await;

    // Each source name, as a client would URL-encode it.
    let cases: [(&str, &[&str]); 8] = [
        ("API", &["c-api"]),
        ("Chatzuri%20site", &["c-chatzuri_site"]),
        ("Instagram", &["c-instagram"]),
        ("Messenger", &["c-messenger", "c-facebook"]),
        ("Slack", &["c-slack"]),
        ("WhatsApp", &["c-whatsapp"]),
        ("Widget%20or%20Iframe", &["c-widget", "c-iframe", "c-web"]),
        ("Unspecified", &["c-telegram", "c-none"]),
    ];
    for (source, expected) in cases {
        let got =
            cz_id_set(&app, &format!("chatbotId=src&size=100&filteredSources={source}")).await;
        assert_eq!(got, set(expected), "filteredSources={source}");
    }

    // Each conversation's `source` is the name its channel type maps to.
    let (_, body) = cz_get(&app, "chatbotId=src&size=100").await;
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 12);
    let expected_source = |id: &str| match id {
        "c-api" => "API",
        "c-chatzuri_site" => "Chatzuri site",
        "c-instagram" => "Instagram",
        "c-messenger" | "c-facebook" => "Messenger",
        "c-slack" => "Slack",
        "c-whatsapp" => "WhatsApp",
        "c-widget" | "c-iframe" | "c-web" => "Widget or Iframe",
        _ => "Unspecified",
    };
    for c in data {
        let id = c["id"].as_str().unwrap();
        assert_eq!(c["source"], expected_source(id), "{c}");
    }

    // Comma-separated lists, spaces around names, any letter case.
    assert_eq!(
        cz_id_set(&app, "chatbotId=src&size=100&filteredSources=whatsapp,%20SLACK%20,api").await,
        set(&["c-whatsapp", "c-slack", "c-api"])
    );
    assert_eq!(
        cz_id_set(&app, "chatbotId=src&size=100&filteredSources=WhatsApp,Unspecified").await,
        set(&["c-whatsapp", "c-telegram", "c-none"])
    );
    assert_eq!(
        cz_id_set(&app, "chatbotId=src&size=100&filteredSources=widget%20OR%20iframe,unspecified")
            .await,
        set(&["c-widget", "c-iframe", "c-web", "c-telegram", "c-none"])
    );
    let (status, body) = app
        .post(
            &app.admin_key,
            CZ,
            &json!({"chatbotId": "src", "size": 100, "filteredSources": "Messenger,Chatzuri site"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        ids(&body).into_iter().collect::<BTreeSet<_>>(),
        set(&["c-messenger", "c-facebook", "c-chatzuri_site"])
    );
    // An empty list filters nothing.
    assert_eq!(cz_ids(&app, "chatbotId=src&size=100&filteredSources=").await.len(), 12);

    // Unknown names are an error, never an empty or unfiltered answer.
    let (status, body) = cz_get(&app, "chatbotId=src&filteredSources=Telegram").await;
    assert_invalid(status, &body, "filteredSources");
    let (status, body) = cz_get(&app, "chatbotId=src&filteredSources=WhatsApp,Nope").await;
    assert_invalid(status, &body, "filteredSources");
    let (status, body) = cz_get(&app, "chatbotId=src&filteredSources=whatsapp_business").await;
    assert_invalid(status, &body, "filteredSources");
    let (status, body) = app
        .post(&app.admin_key, CZ, &json!({"chatbotId": "src", "filteredSources": ["API"]}))
        .await;
    assert_invalid(status, &body, "filteredSources");
}

#[tokio::test]
async fn chatzuri_date_range_is_strict_and_inclusive() {
    let app = spawn_app().await;
    app.ingest(
        "d",
        vec![
            msg("before", "1", "user", "x", "2023-07-09T23:59:59.999Z"),
            // Starts before the range; a later message inside it does not bring it in.
            msg("spans", "1", "user", "x", "2023-07-09T23:00:00Z"),
            msg("spans", "2", "bot", "y", "2023-07-10T01:00:00Z"),
            msg("start", "1", "user", "x", "2023-07-10T00:00:00Z"),
            msg("mid", "1", "user", "x", "2023-07-11T12:00:00Z"),
            msg("end", "1", "user", "x", "2023-07-13T23:59:59.999Z"),
            msg("after", "1", "user", "x", "2023-07-14T00:00:00Z"),
        ],
    )
    .await;
    let q = |rest: &str| format!("chatbotId=d&size=100&{rest}");

    assert_eq!(
        cz_ids(&app, &q("startDate=2023-07-10&endDate=2023-07-13")).await,
        ["end", "mid", "start"]
    );
    assert_eq!(
        cz_id_set(&app, &q("startDate=2023-07-10")).await,
        set(&["start", "mid", "end", "after"])
    );
    assert_eq!(
        cz_id_set(&app, &q("endDate=2023-07-13")).await,
        set(&["before", "spans", "start", "mid", "end"])
    );
    assert_eq!(cz_ids(&app, &q("startDate=2023-07-11&endDate=2023-07-11")).await, ["mid"]);
    assert_eq!(cz_ids(&app, &q("startDate=2023-07-12&endDate=2023-07-12")).await.len(), 0);
    let (status, body) = app
        .post(
            &app.admin_key,
            CZ,
            &json!({"chatbotId": "d", "startDate": "2023-07-14", "endDate": "2023-07-14"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), ["after"]);
    assert_eq!(body["data"][0]["created_at"], "2023-07-14T00:00:00.000Z");

    let (status, body) = cz_get(&app, &q("startDate=2023-07-13&endDate=2023-07-10")).await;
    assert_invalid(status, &body, "endDate");
    for bad in [
        "2023-7-10",
        "2023-07-1",
        "23-07-10",
        "2023/07/10",
        "2023-02-30",
        "2023-13-01",
        "2023-07-10T00:00:00Z",
        "10-07-2023",
        "yesterday",
        "",
    ] {
        let (status, body) = cz_get(&app, &q(&format!("startDate={bad}"))).await;
        assert_invalid(status, &body, "startDate");
        let (status, body) = cz_get(&app, &q(&format!("endDate={bad}"))).await;
        assert_invalid(status, &body, "endDate");
    }
    let (status, body) =
        app.post(&app.admin_key, CZ, &json!({"chatbotId": "d", "endDate": "2023-7-13"})).await;
    assert_invalid(status, &body, "endDate");
    let (status, body) =
        app.post(&app.admin_key, CZ, &json!({"chatbotId": "d", "startDate": 20230710})).await;
    assert_invalid(status, &body, "startDate");
}

#[tokio::test]
async fn chatzuri_pages_default_to_ten_newest_first() {
    let app = spawn_app().await;
    let batch = (0..25)
        .map(|i| msg(&format!("c{i:02}"), "m", "user", "hi", &format!("2024-01-01T00:{i:02}:00Z")))
        .collect();
    app.ingest("p", batch).await;
    let expect = |range: std::ops::Range<i32>| -> Vec<String> {
        range.rev().map(|i| format!("c{i:02}")).collect()
    };

    assert_eq!(cz_ids(&app, "chatbotId=p").await, expect(15..25));
    assert_eq!(cz_ids(&app, "chatbotId=p&page=1").await, expect(15..25));
    assert_eq!(cz_ids(&app, "chatbotId=p&page=2").await, expect(5..15));
    assert_eq!(cz_ids(&app, "chatbotId=p&page=3").await, expect(0..5));
    assert_eq!(cz_ids(&app, "chatbotId=p&page=4").await.len(), 0);
    assert_eq!(cz_ids(&app, "chatbotId=p&size=7&page=2").await, expect(11..18));
    assert_eq!(cz_ids(&app, "chatbotId=p&size=25").await, expect(0..25));
    assert_eq!(cz_ids(&app, "chatbotId=p&size=100").await, expect(0..25));
    assert_eq!(cz_ids(&app, "chatbotId=p&size=1").await, expect(24..25));
    assert_eq!(cz_ids(&app, "chatbotId=p&page=4294967295&size=100").await.len(), 0);

    for bad in ["101", "0", "abc", "-1", "1.5", "", "1000000000000"] {
        let (status, body) = cz_get(&app, &format!("chatbotId=p&size={bad}")).await;
        assert_invalid(status, &body, "size");
    }
    for bad in ["0", "abc", "-1", "2.0", ""] {
        let (status, body) = cz_get(&app, &format!("chatbotId=p&page={bad}")).await;
        assert_invalid(status, &body, "page");
    }
    let (status, body) =
        app.post(&app.admin_key, CZ, &json!({"chatbotId": "p", "size": 101})).await;
    assert_invalid(status, &body, "size");
    let (status, body) =
        app.post(&app.admin_key, CZ, &json!({"chatbotId": "p", "size": 2.5})).await;
    assert_invalid(status, &body, "size");
    let (status, body) = app.post(&app.admin_key, CZ, &json!({"chatbotId": "p", "page": 0})).await;
    assert_invalid(status, &body, "page");
}

#[tokio::test]
async fn chatzuri_response_has_exactly_the_seed_shape() {
    let app = spawn_app().await;
    app.ingest(
        "shape",
        vec![
            // Sent out of order; the transcript comes back in time order.
            msg("c1", "4", "system", "conversation closed", "2024-03-01T09:00:30Z"),
            with(
                msg("c1", "1", "user", "Hi", "2024-03-01T09:00:00.250Z"),
                json!({"user_id": "u-42", "channel_type": "whatsapp", "language": "en"}),
            ),
            msg("c1", "2", "bot", "Hello! How can I help?", "2024-03-01T09:00:05Z"),
            msg("c1", "3", "agent", "A human here", "2024-03-01T09:00:20Z"),
            msg("c2", "1", "bot", "Welcome", "2024-03-02T10:00:00Z"),
        ],
    )
    .await;
    let expected = json!({"data": [
        {
            "id": "c2",
            "created_at": "2024-03-02T10:00:00.000Z",
            "messages": [{"role": "assistant", "content": "Welcome"}],
            "chatbot_id": "shape",
            "customer": "",
            "source": "Unspecified"
        },
        {
            "id": "c1",
            "created_at": "2024-03-01T09:00:00.250Z",
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "agent", "content": "A human here"},
                {"role": "system", "content": "conversation closed"}
            ],
            "chatbot_id": "shape",
            "customer": "u-42",
            "source": "WhatsApp"
        }
    ]});
    let (status, body) = cz_get(&app, "chatbotId=shape").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, expected);
    let (status, body) = app.post(&app.admin_key, CZ, &json!({"chatbotId": "shape"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, expected);
    // No conversations: still the object with an empty list.
    let (_, body) = cz_get(&app, "chatbotId=shape&startDate=2025-01-01").await;
    assert_eq!(body, json!({"data": []}));
}

#[tokio::test]
async fn chatzuri_needs_a_key_that_may_read_the_bot() {
    let app = spawn_app().await;
    app.ingest("a", vec![msg("ca", "m", "user", "hi", "2024-01-01T00:00:00Z")]).await;
    app.ingest("b", vec![msg("cb", "m", "user", "hi", "2024-01-01T00:00:00Z")]).await;

    let resp = app.client.get(app.url(&format!("{CZ}?chatbotId=a"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let resp = app.client.post(app.url(CZ)).json(&json!({"chatbotId": "a"})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("cfb_not_a_real_key", &format!("{CZ}?chatbotId=a")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A read key limited to bot `a`.
    let only_a = app.key(app.team_id, &["read"], Some(vec!["a"])).await;
    let (status, body) = app.get(&only_a, &format!("{CZ}?chatbotId=a")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), ["ca"]);
    let (status, body) = app.get(&only_a, &format!("{CZ}?chatbotId=b")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = app.post(&only_a, CZ, &json!({"chatbotId": "b"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An unrestricted read key sees both; an ingest-only key none.
    let reader = app.key(app.team_id, &["read"], None).await;
    let (status, body) = app.get(&reader, &format!("{CZ}?chatbotId=b")).await;
    assert_eq!((status, ids(&body)), (StatusCode::OK, vec!["cb".to_owned()]));
    let writer = app.key(app.team_id, &["ingest"], None).await;
    let (status, body) = app.get(&writer, &format!("{CZ}?chatbotId=a")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Another team's key does not see this team's bot.
    let (_, other) = app.new_team("b").await;
    let (status, _) = app.get(&other, &format!("{CZ}?chatbotId=a")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// Botuj
// ---------------------------------------------------------------------------------------------

async fn botuj(app: &TestApp, key: &str, query: &str) -> (StatusCode, HeaderMap, Value) {
    let url = if query.is_empty() { app.url(BOTUJ) } else { app.url(&format!("{BOTUJ}?{query}")) };
    let resp = app.client.get(url).bearer_auth(key).send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap()
}

/// The `sessionid`s of a Botuj answer, in order.
fn sessions(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap_or_else(|| panic!("not an array: {body}"))
        .iter()
        .map(|c| c["sessionid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn botuj_pages_default_to_twenty_newest_first() {
    let app = spawn_app().await;
    let batch = (0..45)
        .map(|i| msg(&format!("c{i:02}"), "m", "user", "hi", &format!("2024-06-01T10:{i:02}:00Z")))
        .collect();
    app.ingest("pl", batch).await;
    let key = &app.admin_key;
    let expect = |range: std::ops::Range<i32>| -> Vec<String> {
        range.rev().map(|i| format!("c{i:02}")).collect()
    };

    let (status, headers, body) = botuj(&app, key, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.is_array(), "a bare JSON array: {body}");
    assert_eq!(sessions(&body), expect(25..45));
    assert_eq!(header(&headers, "x-total-count"), "45");
    assert_eq!(header(&headers, "x-page"), "1");
    assert_eq!(header(&headers, "x-per-page"), "20");

    let (_, headers, body) = botuj(&app, key, "page=2").await;
    assert_eq!(sessions(&body), expect(5..25));
    assert_eq!(header(&headers, "x-page"), "2");
    let (_, headers, body) = botuj(&app, key, "page=3").await;
    assert_eq!(sessions(&body), expect(0..5));
    assert_eq!(header(&headers, "x-total-count"), "45");
    let (status, headers, body) = botuj(&app, key, "page=4").await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
    assert_eq!(header(&headers, "x-total-count"), "45");

    // The seed's example.
    let (_, headers, body) = botuj(&app, key, "page=2&per_page=10").await;
    assert_eq!(sessions(&body), expect(25..35));
    assert_eq!(header(&headers, "x-per-page"), "10");
    let (_, headers, body) = botuj(&app, key, "per_page=100").await;
    assert_eq!(sessions(&body), expect(0..45));
    assert_eq!(header(&headers, "x-per-page"), "100");
    let (_, _, body) = botuj(&app, key, "per_page=1").await;
    assert_eq!(sessions(&body), ["c44"]);
    let (status, _, body) = botuj(&app, key, "page=4294967295&per_page=100").await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));

    for bad in ["101", "0", "abc", "-1", "2.5", ""] {
        let (status, _, body) = botuj(&app, key, &format!("per_page={bad}")).await;
        assert_invalid(status, &body, "per_page");
    }
    for bad in ["0", "abc", "-1", "1.0", ""] {
        let (status, _, body) = botuj(&app, key, &format!("page={bad}")).await;
        assert_invalid(status, &body, "page");
    }
    let (status, _, body) = botuj(&app, key, "limit=5").await;
    assert_invalid(status, &body, "limit");
    let (status, _, body) = botuj(&app, key, "page=1&perPage=5").await;
    assert_invalid(status, &body, "perPage");
}

#[tokio::test]
async fn botuj_objects_have_exactly_the_seed_fields() {
    let app = spawn_app().await;
    let session = "tC4lQY781a207d-8ca7-44e5-9939-03d18e9a99a8";
    let bot_object = r#"{ "message": "Hi", "buttons": ["a", "b"] }"#;
    app.ingest(
        "pl",
        vec![
            with(
                msg("c1", "1", "user", "Hej", "2024-06-23T11:34:35.397Z"),
                json!({"type": "freeshot", "session_id": session}),
            ),
            msg("c1", "2", "bot", "Hej! W czym mogę Ci dzisiaj pomóc", "2024-06-23T11:34:36Z"),
            msg("c1", "3", "user", "Chcę zamówić", "2024-06-23T11:34:40Z"),
            msg("c1", "4", "bot", "Jasne", "2024-06-23T11:34:41Z"),
            msg("c1", "5", "agent", "Tu konsultant", "2024-06-23T11:35:00Z"),
            msg("c1", "6", "system", "koniec", "2024-06-23T11:36:00Z"),
            // No type or session; the bot's first message is already a JSON object.
            msg("c2", "1", "user", "Hi", "2024-06-24T08:00:00Z"),
            msg("c2", "2", "bot", bot_object, "2024-06-24T08:00:01Z"),
            // Only a user message; epoch milliseconds.
            json!({"conversation_id": "c3", "id": "1", "role": "user", "content": "anyone?",
                   "timestamp": 1_719_302_400_001_i64}),
            // Only bot messages, which are JSON but not objects, or have quotes.
            msg("c4", "1", "bot", "42", "2024-06-26T00:00:00Z"),
            msg("c5", "1", "bot", r#"say "hi" \o/"#, "2024-06-27T00:00:00Z"),
            msg("c6", "1", "bot", r#"["a","b"]"#, "2024-06-28T00:00:00Z"),
        ],
    )
    .await;
    let (status, _, body) = botuj(&app, &app.admin_key, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list = body.as_array().unwrap();
    assert_eq!(sessions(&body), ["c6", "c5", "c4", "c3", "c2", session]);
    let keys: BTreeSet<&str> =
        ["id", "type", "count", "sessionid", "firstUserMessage", "firstBotMessage", "createdOn"]
            .into();
    for c in list {
        assert_eq!(
            c.as_object().unwrap().keys().map(String::as_str).collect::<BTreeSet<_>>(),
            keys
        );
        assert!(c["id"].as_i64().is_some_and(|id| id > 0), "{c}");
        let created = c["createdOn"].as_str().unwrap();
        // e.g. 2024-06-23T11:34:35.397000Z
        assert_eq!(created.len(), 27, "{created}");
        assert!(created.ends_with('Z') && created.as_bytes()[19] == b'.', "{created}");
        assert!(created[20..26].bytes().all(|b| b.is_ascii_digit()), "{created}");
    }
    let by_session = |s: &str| list.iter().find(|c| c["sessionid"] == s).unwrap().clone();

    let c1 = by_session(session);
    assert_eq!(
        c1,
        json!({
            "id": c1["id"],
            "type": "freeshot",
            "count": 6,
            "sessionid": session,
            "firstUserMessage": "Hej",
            "firstBotMessage": "{\"message\":\"Hej! W czym mogę Ci dzisiaj pomóc\"}",
            "createdOn": "2024-06-23T11:34:35.397000Z"
        })
    );
    let c2 = by_session("c2");
    assert_eq!(c2["type"], Value::Null);
    assert_eq!(c2["count"], 2);
    assert_eq!(c2["firstUserMessage"], "Hi");
    assert_eq!(c2["firstBotMessage"], bot_object, "kept as it is");
    assert_eq!(c2["createdOn"], "2024-06-24T08:00:00.000000Z");
    let c3 = by_session("c3");
    assert_eq!(c3["firstUserMessage"], "anyone?");
    assert_eq!(c3["firstBotMessage"], Value::Null);
    assert_eq!(c3["createdOn"], "2024-06-25T08:00:00.001000Z");
    let c4 = by_session("c4");
    assert_eq!(c4["firstUserMessage"], Value::Null);
    assert_eq!(c4["firstBotMessage"], r#"{"message":"42"}"#);
    let c5 = by_session("c5");
    let parsed: Value = serde_json::from_str(c5["firstBotMessage"].as_str().unwrap()).unwrap();
    assert_eq!(parsed, json!({"message": r#"say "hi" \o/"#}));
    assert_eq!(by_session("c6")["firstBotMessage"], r#"{"message":"[\"a\",\"b\"]"}"#);

    // `id` is Confab's numeric conversation id: distinct, stable, the native API's `numeric_id`.
    let numeric: BTreeSet<i64> = list.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(numeric.len(), list.len());
    let (_, native) = app.get(&app.admin_key, "/v1/bots/pl/conversations/c1").await;
    assert_eq!(native["numeric_id"], c1["id"]);
    let (_, _, again) = botuj(&app, &app.admin_key, "").await;
    assert_eq!(again, body);
}

#[tokio::test]
async fn botuj_lists_what_the_key_may_see() {
    let app = spawn_app().await;
    app.ingest(
        "a1",
        vec![
            msg("a1-c1", "m", "user", "x", "2024-01-01T00:00:00Z"),
            msg("a1-c2", "m", "user", "x", "2024-01-02T00:00:00Z"),
        ],
    )
    .await;
    app.ingest("a2", vec![msg("a2-c1", "m", "user", "x", "2024-01-03T00:00:00Z")]).await;
    // The same conversation id in two bots is two conversations.
    app.ingest("a3", vec![msg("a1-c1", "m", "user", "x", "2024-01-04T00:00:00Z")]).await;
    let (team_b, key_b) = app.new_team("b").await;
    assert_ne!(team_b, app.team_id);
    let (status, body) = app
        .post(
            &key_b,
            "/v1/bots/b1/messages/batch",
            &json!({"messages": [msg("b1-c1", "m", "user", "x", "2024-01-05T00:00:00Z")]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Team b also has a bot named like one of team a's.
    let (status, body) = app
        .post(
            &key_b,
            "/v1/bots/a1/messages/batch",
            &json!({"messages": [msg("b-a1-c1", "m", "user", "x", "2024-01-06T00:00:00Z")]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let team_a_all = ["a1-c1", "a2-c1", "a1-c2", "a1-c1"];
    let (status, headers, body) = botuj(&app, &app.admin_key, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(sessions(&body), team_a_all);
    assert_eq!(header(&headers, "x-total-count"), "4");
    let reader = app.key(app.team_id, &["read"], None).await;
    let (_, _, body) = botuj(&app, &reader, "").await;
    assert_eq!(sessions(&body), team_a_all);

    let only_a1 = app.key(app.team_id, &["read"], Some(vec!["a1"])).await;
    let (status, headers, body) = botuj(&app, &only_a1, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(sessions(&body), ["a1-c2", "a1-c1"]);
    assert_eq!(header(&headers, "x-total-count"), "2");
    let a1_a2 = app.key(app.team_id, &["read"], Some(vec!["a1", "a2"])).await;
    let (_, headers, body) = botuj(&app, &a1_a2, "").await;
    assert_eq!(sessions(&body), ["a2-c1", "a1-c2", "a1-c1"]);
    assert_eq!(header(&headers, "x-total-count"), "3");
    let (_, headers, body) = botuj(&app, &a1_a2, "per_page=1&page=3").await;
    assert_eq!(sessions(&body), ["a1-c1"]);
    assert_eq!(header(&headers, "x-total-count"), "3");

    let (status, headers, body) = botuj(&app, &key_b, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(sessions(&body), ["b-a1-c1", "b1-c1"]);
    assert_eq!(header(&headers, "x-total-count"), "2");

    let writer = app.key(app.team_id, &["ingest"], None).await;
    let (status, _, body) = botuj(&app, &writer, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let resp = app.client.get(app.url(BOTUJ)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (status, _, body) = botuj(&app, "cfb_not_a_real_key", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
}
