//! Botsheets' "Get Datapoints Collected" (seed `000`) end to end: every request form the seed
//! shows or implies (POST with a JSON body; curl's `-d`, which labels the JSON as a form; fetch's
//! string body, labelled text/plain; GET with a JSON body; GET with a query string; the seed's
//! own example with its trailing comma), the exact `{"datapoints": {…}}` shape with string
//! values, values refreshed at finalisation, and the errors: auth, parameters, teams.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use common::{TestApp, spawn_app};
use confab_core::time::{Millis, format_rfc3339, parse_rfc3339};
use confab_server::jobs::finalise::{Llm, LlmConfig, finalise_idle_once};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PATH: &str = "/compat/botsheets/api/v0/conversations/datapoints";
const SEC: Millis = 1000;
const IDLE: Millis = 600 * SEC;
const CONVERSATION: &str = "06811cd5-5595-41b2-98c2-dc108c0473bd";
const BOT: &str = "65fa4da045a986ffccec07w3";

fn base() -> Millis {
    parse_rfc3339("base", "2026-01-10T10:00:00Z").unwrap()
}

fn msg(conversation: &str, id: &str, role: &str, content: &str, s: i64) -> Value {
    json!({
        "conversation_id": conversation, "id": id, "role": role, "content": content,
        "timestamp": format_rfc3339(base() + s * SEC)
    })
}

async fn setup_bot(app: &TestApp, key: &str, bot: &str) {
    let schema = json!({"datapoints": [
        {"key": "Name", "type": "name"},
        {"key": "Email", "type": "email"},
        {"key": "Phone", "type": "phone"},
        {"key": "Plan", "type": "choice", "values": ["Basic", "Pro"]},
        {"key": "Budget", "type": "money"},
        {"key": "Guests", "type": "number"},
        {"key": "Booking date", "type": "date"}
    ]});
    let path = format!("/v1/bots/{bot}/datapoints/schema");
    let (status, body) = app.call(Method::PUT, key, &path, Some(&schema)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let path = format!("/v1/bots/{bot}/settings");
    let (status, body) =
        app.call(Method::PUT, key, &path, Some(&json!({"phone_region": "US"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn ingest(app: &TestApp, key: &str, bot: &str, messages: Vec<Value>) {
    let path = format!("/v1/bots/{bot}/messages/batch");
    let (status, body) = app.post(key, &path, &json!({ "messages": messages })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A full conversation: name, email and phone from the dialogue, plan, budget and guests
/// given explicitly by the bot.
async fn full_conversation(app: &TestApp, key: &str, bot: &str, conversation: &str) {
    ingest(
        app,
        key,
        bot,
        vec![
            msg(conversation, "m1", "bot", "Hi! What's your name?", 0),
            msg(conversation, "m2", "user", "Anna Kowalska", 10),
            msg(conversation, "m3", "bot", "Thanks! What's your email?", 20),
            msg(conversation, "m4", "user", "anna@example.com", 30),
            msg(conversation, "m5", "user", "and my phone is (415) 555-2671", 40),
        ],
    )
    .await;
    let path = format!("/v1/bots/{bot}/conversations/{conversation}/datapoints");
    let explicit = json!({"datapoints": {
        "Plan": "pro",
        "Budget": {"amount": 116, "currency": "usd"},
        "Guests": 5
    }});
    let (status, body) = app.call(Method::PUT, key, &path, Some(&explicit)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn full_answer() -> Value {
    json!({"datapoints": {
        "Name": "Anna Kowalska",
        "Email": "anna@example.com",
        "Phone": "+14155552671",
        "Plan": "Pro",
        "Budget": "116 USD",
        "Guests": "5"
    }})
}

/// A request as a vendor client would send it: any method, optional key, query, content type
/// and raw body.
async fn raw(
    app: &TestApp,
    method: Method,
    key: Option<&str>,
    query: &str,
    content_type: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, app.url(&format!("{PATH}{query}")));
    if let Some(k) = key {
        req = req.header(AUTHORIZATION, format!("Bearer {k}"));
    }
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| json!({"unparsed": text})))
}

/// POST with a JSON body, the form the seed's fetch example shows.
async fn ask(app: &TestApp, key: &str, bot: &str, conversation: &str) -> (StatusCode, Value) {
    let body = json!({"conversationId": conversation, "botId": bot}).to_string();
    raw(app, Method::POST, Some(key), "", Some("application/json"), Some(&body)).await
}

/// Every value a string, and nothing but `datapoints` at the top.
fn assert_shape(body: &Value) {
    let top = body.as_object().unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(top.keys().collect::<Vec<_>>(), ["datapoints"], "{body}");
    for (k, v) in body["datapoints"].as_object().unwrap() {
        assert!(v.is_string(), "{k} is not a string: {body}");
    }
}

#[tokio::test]
async fn every_request_form_in_the_seed_is_answered() {
    let app = spawn_app().await;
    let key = app.key(app.team_id, &["read"], None).await;
    setup_bot(&app, &app.admin_key, BOT).await;
    full_conversation(&app, &app.admin_key, BOT, CONVERSATION).await;
    let want = full_answer();

    let compact = json!({"conversationId": CONVERSATION, "botId": BOT}).to_string();
    // The seed's example body, trailing comma included.
    let seed_example =
        format!("{{\n  \"conversationId\": \"{CONVERSATION}\",\n  \"botId\": \"{BOT}\",\n}}");
    // The seed's curl body, tabs and all.
    let seed_curl =
        format!("{{\n  \t\"conversationId\": \"{CONVERSATION}\",\n  \t\"botId\": \"{BOT}\"\n}}");
    let query = format!("?conversationId={CONVERSATION}&botId={BOT}");
    let json_ct = Some("application/json");
    // (what, method, query string, content type, body)
    let cases = [
        ("POST JSON", Method::POST, "", json_ct, Some(&compact)),
        (
            "POST as curl -d sends it",
            Method::POST,
            "",
            Some("application/x-www-form-urlencoded"),
            Some(&seed_curl),
        ),
        (
            "POST as fetch sends a string",
            Method::POST,
            "",
            Some("text/plain;charset=UTF-8"),
            Some(&compact),
        ),
        ("POST without a content type", Method::POST, "", None, Some(&compact)),
        ("POST the seed's example", Method::POST, "", json_ct, Some(&seed_example)),
        ("GET with a JSON body", Method::GET, "", json_ct, Some(&compact)),
        ("GET the seed's example", Method::GET, "", json_ct, Some(&seed_example)),
        ("GET with a query string", Method::GET, &query, None, None),
        ("POST with a query string", Method::POST, &query, None, None),
    ];
    for (name, method, q, content_type, body) in cases {
        let (status, answer) =
            raw(&app, method, Some(&key), q, content_type, body.map(String::as_str)).await;
        assert_eq!(status, StatusCode::OK, "{name}: {answer}");
        assert_eq!(answer, want, "{name}");
        assert_shape(&answer);
    }
    app.stop().await;
}

#[tokio::test]
async fn values_are_provisional_then_final() {
    let app = spawn_app().await;
    let key = app.key(app.team_id, &["read"], None).await;
    let admin = app.admin_key.clone();
    setup_bot(&app, &admin, BOT).await;

    // A conversation with nothing collected yet answers an empty object.
    ingest(&app, &admin, BOT, vec![msg("c", "m1", "bot", "Hello! How can I help?", 0)]).await;
    assert_eq!(ask(&app, &key, BOT, "c").await, (StatusCode::OK, json!({"datapoints": {}})));

    // Values appear as the user gives them.
    ingest(
        &app,
        &admin,
        BOT,
        vec![msg("c", "m2", "user", "Book a table please, anna@example.com", 10)],
    )
    .await;
    assert_eq!(
        ask(&app, &key, BOT, "c").await,
        (StatusCode::OK, json!({"datapoints": {"Email": "anna@example.com"}}))
    );
    ingest(
        &app,
        &admin,
        BOT,
        vec![msg("c", "m3", "bot", "What's your name?", 20), msg("c", "m4", "user", "Anna", 30)],
    )
    .await;
    let provisional = json!({"datapoints": {"Email": "anna@example.com", "Name": "Anna"}});
    assert_eq!(ask(&app, &key, BOT, "c").await, (StatusCode::OK, provisional.clone()));
    let native = app.get(&admin, &format!("/v1/bots/{BOT}/conversations/c/datapoints")).await.1;
    assert_eq!(native["datapoints"]["Name"]["status"], "provisional");

    // After the inactivity timeout the values are refreshed from the whole transcript (here
    // with the LLM pass, which knows the full name and the date) and are final.
    let (endpoint, asked) = spawn_llm(json!({
        "Name": "Anna Kowalska",
        "Email": "anna@example.com",
        "Booking date": "2026-02-14"
    }))
    .await;
    let llm = Llm::new(
        LlmConfig {
            endpoint,
            model: "tiny-test".into(),
            api_key: None,
            timeout: std::time::Duration::from_secs(5),
        },
        true,
    );
    let done = finalise_idle_once(&*app.store, Some(&llm), base() + 30 * SEC + IDLE).await;
    assert_eq!(done.unwrap().finalised, 1);
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let (status, answer) = ask(&app, &key, BOT, "c").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"datapoints": {
            "Email": "anna@example.com",
            "Name": "Anna Kowalska",
            "Booking date": "2026-02-14"
        }})
    );
    assert_shape(&answer);
    let native = app.get(&admin, &format!("/v1/bots/{BOT}/conversations/c/datapoints")).await.1;
    assert_eq!(native["status"], "ended");
    assert_eq!(native["datapoints"]["Name"]["status"], "final");

    // Money and numbers are strings too.
    full_conversation(&app, &admin, BOT, "full").await;
    let (status, answer) = ask(&app, &key, BOT, "full").await;
    assert_eq!((status, &answer), (StatusCode::OK, &full_answer()));
    assert_shape(&answer);
    app.stop().await;
}

/// A chat-completions endpoint that always proposes `fill`; counts the requests.
async fn spawn_llm(fill: Value) -> (String, Arc<AtomicU32>) {
    async fn answer(State((fill, asked)): State<(Value, Arc<AtomicU32>)>) -> axum::Json<Value> {
        asked.fetch_add(1, Ordering::SeqCst);
        axum::Json(json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": fill.to_string()},
                "finish_reason": "stop"
            }]
        }))
    }
    let asked = Arc::new(AtomicU32::new(0));
    let router =
        Router::new().route("/v1/chat/completions", post(answer)).with_state((fill, asked.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (endpoint, asked)
}

#[tokio::test]
async fn a_key_is_required_and_must_read_this_bot() {
    let app = spawn_app().await;
    setup_bot(&app, &app.admin_key, BOT).await;
    full_conversation(&app, &app.admin_key, BOT, CONVERSATION).await;
    let body = json!({"conversationId": CONVERSATION, "botId": BOT}).to_string();
    let json_ct = Some("application/json");

    let (status, answer) = raw(&app, Method::POST, None, "", json_ct, Some(&body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(answer.get("datapoints").is_none(), "{answer}");
    for wrong in ["cfk_not_a_real_key", ""] {
        let (status, answer) = raw(&app, Method::POST, Some(wrong), "", json_ct, Some(&body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong:?}: {answer}");
    }
    let (status, _) = raw(
        &app,
        Method::GET,
        None,
        &format!("?conversationId={CONVERSATION}&botId={BOT}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A key without the read scope is refused; one limited to another bot does not see it.
    let ingest_only = app.key(app.team_id, &["ingest"], None).await;
    assert_eq!(ask(&app, &ingest_only, BOT, CONVERSATION).await.0, StatusCode::FORBIDDEN);
    let other_bot = app.key(app.team_id, &["read"], Some(vec!["other"])).await;
    assert_eq!(ask(&app, &other_bot, BOT, CONVERSATION).await.0, StatusCode::NOT_FOUND);
    // Read, or admin, or a key limited to this very bot: the values.
    for scopes in [&["read"][..], &["admin"], &["read", "ingest"]] {
        let key = app.key(app.team_id, scopes, None).await;
        assert_eq!(ask(&app, &key, BOT, CONVERSATION).await, (StatusCode::OK, full_answer()));
    }
    let this_bot = app.key(app.team_id, &["read"], Some(vec![BOT])).await;
    assert_eq!(ask(&app, &this_bot, BOT, CONVERSATION).await, (StatusCode::OK, full_answer()));
    app.stop().await;
}

#[tokio::test]
async fn missing_unknown_and_malformed_parameters_are_named() {
    let app = spawn_app().await;
    let key = app.key(app.team_id, &["read"], None).await;
    setup_bot(&app, &app.admin_key, BOT).await;
    full_conversation(&app, &app.admin_key, BOT, CONVERSATION).await;
    let json_ct = Some("application/json");
    let field = |body: &Value| body["error"]["field"].as_str().unwrap_or_default().to_owned();

    // Nothing at all, or an empty object: both parameters are named.
    for (method, body) in [
        (Method::POST, None),
        (Method::GET, None),
        (Method::POST, Some("{}")),
        (Method::GET, Some("  ")),
    ] {
        let (status, answer) = raw(&app, method.clone(), Some(&key), "", json_ct, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {body:?}: {answer}");
        let f = field(&answer);
        assert!(f.contains("conversationId") && f.contains("botId"), "{method} {body:?}: {answer}");
    }
    let both = format!("conversationId={CONVERSATION}&botId={BOT}");
    let body = |v: Value| Some(v.to_string());
    let cases: Vec<(Method, String, Option<String>, &str)> = vec![
        (Method::POST, String::new(), body(json!({"botId": BOT})), "conversationId"),
        (Method::POST, String::new(), body(json!({"conversationId": CONVERSATION})), "botId"),
        (Method::GET, format!("?botId={BOT}"), None, "conversationId"),
        (Method::GET, format!("?conversationId={CONVERSATION}"), None, "botId"),
        (
            Method::POST,
            String::new(),
            body(json!({"conversationId": CONVERSATION, "botId": BOT, "limit": "10"})),
            "limit",
        ),
        (Method::GET, format!("?{both}&format=csv"), None, "format"),
        (
            Method::POST,
            String::new(),
            body(json!({"conversationID": CONVERSATION, "botId": BOT})),
            "conversationID",
        ),
        (
            Method::POST,
            String::new(),
            body(json!({"conversationId": 42, "botId": BOT})),
            "conversationId",
        ),
        (
            Method::POST,
            String::new(),
            body(json!({"conversationId": CONVERSATION, "botId": null})),
            "botId",
        ),
        (
            Method::POST,
            String::new(),
            body(json!({"conversationId": "", "botId": BOT})),
            "conversationId",
        ),
        (
            Method::POST,
            String::new(),
            Some(format!("{{\"conversationId\": \"{CONVERSATION}\", \"botId\": ")),
            "body",
        ),
        (Method::POST, String::new(), Some(format!("[\"{CONVERSATION}\", \"{BOT}\"]")), "body"),
    ];
    for (method, query, body, want) in cases {
        let (status, answer) =
            raw(&app, method.clone(), Some(&key), &query, json_ct, body.as_deref()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {query} {body:?}: {answer}");
        assert_eq!(field(&answer), want, "{method} {query} {body:?}: {answer}");
    }

    // Well-formed but unknown: not found.
    assert_eq!(ask(&app, &key, BOT, "no-such-conversation").await.0, StatusCode::NOT_FOUND);
    assert_eq!(ask(&app, &key, "no-such-bot", CONVERSATION).await.0, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn teams_see_only_their_own_conversations() {
    let app = spawn_app().await;
    let key_a = app.key(app.team_id, &["read"], None).await;
    let (team_b, admin_b) = app.new_team("b").await;
    let key_b = app.key(team_b, &["read"], None).await;

    // The same bot and conversation ids in both teams, with different values.
    setup_bot(&app, &app.admin_key, BOT).await;
    full_conversation(&app, &app.admin_key, BOT, CONVERSATION).await;
    setup_bot(&app, &admin_b, BOT).await;
    ingest(
        &app,
        &admin_b,
        BOT,
        vec![
            msg(CONVERSATION, "m1", "bot", "What's your email?", 0),
            msg(CONVERSATION, "m2", "user", "zed@example.org", 10),
        ],
    )
    .await;
    assert_eq!(ask(&app, &key_a, BOT, CONVERSATION).await, (StatusCode::OK, full_answer()));
    assert_eq!(
        ask(&app, &key_b, BOT, CONVERSATION).await,
        (StatusCode::OK, json!({"datapoints": {"Email": "zed@example.org"}}))
    );

    // What only team A has is not found for team B, and the other way round.
    full_conversation(&app, &app.admin_key, BOT, "only-a").await;
    setup_bot(&app, &app.admin_key, "bot-of-a").await;
    full_conversation(&app, &app.admin_key, "bot-of-a", CONVERSATION).await;
    assert_eq!(ask(&app, &key_b, BOT, "only-a").await.0, StatusCode::NOT_FOUND);
    assert_eq!(ask(&app, &key_b, "bot-of-a", CONVERSATION).await.0, StatusCode::NOT_FOUND);
    let query = format!("?conversationId={CONVERSATION}&botId=bot-of-a");
    assert_eq!(
        raw(&app, Method::GET, Some(&key_b), &query, None, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(ask(&app, &key_a, "bot-of-a", CONVERSATION).await, (StatusCode::OK, full_answer()));
    // Within a team, a conversation is looked up in the bot named, not in any bot.
    assert_eq!(ask(&app, &key_a, "bot-of-a", "only-a").await.0, StatusCode::NOT_FOUND);
    app.stop().await;
}
