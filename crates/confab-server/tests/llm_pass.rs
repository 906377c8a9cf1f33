//! The LLM pass at finalisation against a real chat-completions server on a loopback port: what
//! it is asked, what it may fill or replace, that a slow or failing endpoint never holds a
//! conversation open, and a message that arrives while the finaliser waits for it.
//! Time is the test's: messages carry fixed timestamps and the finaliser gets `now` by hand.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::lifecycle::*;
use common::{TestApp, spawn_app};
use confab_server::jobs::finalise::{FinaliseOutcome, Llm, LlmConfig, finalise_idle_once};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Clone)]
enum Reply {
    /// Answers with this JSON object as the message content.
    Fill(Value),
    /// Sleeps this long, then answers `{}`.
    Slow(Duration),
    /// Answers this status with a plain-text body.
    Fail(u16),
    /// Answers 200 with content that is not JSON.
    Prose,
    /// Before answering `{}` the first time, posts this message to Confab (`(url, key,
    /// message)`): a message that arrives while the finaliser is busy with the conversation.
    Interrupt(Arc<Mutex<Option<(String, String, Value)>>>),
}

#[derive(Clone)]
struct FakeLlm {
    reply: Reply,
    seen: Arc<Mutex<Vec<(String, HeaderMap, Value)>>>,
}

fn completion(content: String) -> Response {
    axum::Json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "tiny-test",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    }))
    .into_response()
}

async fn chat_completions(
    State(llm): State<FakeLlm>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    llm.seen.lock().unwrap().push((uri.path().to_owned(), headers, json));
    match llm.reply {
        Reply::Fill(v) => completion(v.to_string()),
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            completion("{}".into())
        }
        Reply::Fail(code) => (AxumStatus::from_u16(code).unwrap(), "overloaded").into_response(),
        Reply::Prose => completion("The user's name is probably Anna.".into()),
        Reply::Interrupt(pending) => {
            let next = pending.lock().unwrap().take();
            if let Some((url, key, message)) = next {
                let resp =
                    reqwest::Client::new().post(url).bearer_auth(key).json(&message).send().await;
                assert_eq!(resp.unwrap().status(), StatusCode::OK);
            }
            completion("{}".into())
        }
    }
}

/// An OpenAI-compatible endpoint on a loopback port; returns its base URL (`…/v1`) and what it
/// was sent.
async fn spawn_llm(reply: Reply) -> (String, FakeLlm) {
    let llm = FakeLlm { reply, seen: Arc::default() };
    let app =
        Router::new().route("/v1/chat/completions", post(chat_completions)).with_state(llm.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, llm)
}

fn llm_client(endpoint: &str, timeout: Duration) -> Llm {
    Llm::new(
        LlmConfig {
            endpoint: endpoint.to_owned(),
            model: "tiny-test".into(),
            api_key: Some("sk-test-123".into()),
            timeout,
        },
        true,
    )
}

fn booking_schema() -> Value {
    json!({"datapoints": [
        {"key": "Name", "type": "name"},
        {"key": "Email", "type": "email"},
        {"key": "Booking date", "type": "date"}
    ]})
}

async fn setup_booking(app: &TestApp) {
    let (status, body) = app
        .call(
            Method::PUT,
            &app.admin_key,
            "/v1/bots/shop/datapoints/schema",
            Some(&booking_schema()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.ingest(
        "shop",
        vec![
            msg("c", "m1", "bot", "Hello! How can I help?", 0),
            msg("c", "m2", "user", "I'd like to book a table, my email is anna@example.com", 10),
            msg("c", "m3", "bot", "Great, we'll be in touch.", 20),
        ],
    )
    .await;
    assert_eq!(
        values(&datapoints(app, "shop", "c").await),
        expect(&[("Email", json!("anna@example.com"))])
    );
}

#[tokio::test]
async fn the_llm_pass_fills_what_the_rules_missed() {
    let app = spawn_app().await;
    setup_booking(&app).await;
    let (endpoint, llm) = spawn_llm(Reply::Fill(json!({
        "Name": "anna kowalska",
        "Email": "anna@example.com",
        "Booking date": "2026-02-14"
    })))
    .await;
    let client = llm_client(&endpoint, Duration::from_secs(5));
    let done = finalise_idle_once(&*app.store, Some(&client), base() + 20 * SEC + IDLE).await;
    assert_eq!(done.unwrap().finalised, 1);

    let body = datapoints(&app, "shop", "c").await;
    assert_eq!(body["status"], "ended");
    assert_eq!(
        values(&body),
        expect(&[
            ("Booking date", json!("2026-02-14")),
            ("Email", json!("anna@example.com")),
            ("Name", json!("Anna Kowalska")),
        ])
    );
    let dp = &body["datapoints"];
    assert_eq!(
        (&dp["Name"]["method"], &dp["Booking date"]["method"]),
        (&json!("llm"), &json!("llm"))
    );
    assert_eq!(dp["Email"]["method"], "rule");
    assert_eq!(dp["Email"]["message_id"], "m2");
    for key in ["Name", "Email", "Booking date"] {
        assert_eq!(dp[key]["status"], "final", "{key}");
    }

    // What the endpoint was asked.
    let seen = llm.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one request per conversation");
    let (path, headers, request) = &seen[0];
    assert_eq!(path, "/v1/chat/completions");
    assert_eq!(headers.get(header::AUTHORIZATION).unwrap(), "Bearer sk-test-123");
    assert_eq!(request["model"], "tiny-test");
    let format = &request["response_format"];
    assert_eq!(format["type"], "json_schema", "{request}");
    assert!(format["json_schema"]["name"].is_string(), "{request}");
    assert!(format["json_schema"].get("strict").is_some(), "{request}");
    let properties = format["json_schema"]["schema"]["properties"].as_object().unwrap();
    let mut keys: Vec<&str> = properties.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["Booking date", "Email", "Name"]);
    let text: String = request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for said in [
        "Hello! How can I help?",
        "I'd like to book a table, my email is anna@example.com",
        "Great, we'll be in touch.",
    ] {
        assert!(text.contains(said), "the transcript is sent: {said:?} missing in {text:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_llm_never_replaces_a_self_identifying_rule_value() {
    let app = spawn_app().await;
    setup_bot(&app, "shop").await;
    app.ingest(
        "shop",
        vec![
            msg("c", "m1", "bot", "What's your name?", 0),
            msg("c", "m2", "user", "Anna", 10),
            msg("c", "m3", "user", "email anna@example.com, phone (415) 555-2671", 20),
        ],
    )
    .await;
    assert_eq!(
        values(&datapoints(&app, "shop", "c").await),
        expect(&[
            ("Email", json!("anna@example.com")),
            ("Name", json!("Anna")),
            ("Phone", json!("+14155552671")),
        ])
    );
    // An invalid email, a valid but different phone, a fuller name, a choice never said.
    let (endpoint, llm) = spawn_llm(Reply::Fill(json!({
        "Name": "Anna Kowalska",
        "Email": "anna(at)example",
        "Phone": "+1 212 555 0123",
        "Plan": "pro"
    })))
    .await;
    let (endpoint2, _) = spawn_llm(Reply::Fill(json!({"Plan": "pro"}))).await;
    app.ingest("shop", vec![msg("x", "m1", "user", "hi", 25)]).await;
    let put = json!({"datapoints": {"Plan": "Basic"}});
    let path = "/v1/bots/shop/conversations/x/datapoints";
    assert_eq!(app.call(Method::PUT, &app.admin_key, path, Some(&put)).await.0, StatusCode::OK);
    let client = llm_client(&endpoint, Duration::from_secs(5));
    let done = finalise_idle_once(&*app.store, Some(&client), base() + 20 * SEC + IDLE).await;
    assert_eq!(done.unwrap().finalised, 1);
    assert_eq!(llm.seen.lock().unwrap().len(), 1);
    let body = datapoints(&app, "shop", "c").await;
    assert_eq!(
        values(&body),
        expect(&[
            ("Email", json!("anna@example.com")),
            ("Name", json!("Anna Kowalska")),
            ("Phone", json!("+14155552671")),
            ("Plan", json!("Pro")),
        ])
    );
    let dp = &body["datapoints"];
    assert_eq!(dp["Email"]["method"], "rule");
    assert_eq!(dp["Email"]["message_id"], "m3");
    assert_eq!(dp["Phone"]["method"], "rule");
    assert_eq!(dp["Name"]["method"], "llm");
    assert_eq!(dp["Plan"]["method"], "llm");
    // The rules say why they chose a value; the LLM pass does not.
    assert!(dp["Email"]["evidence"].is_string(), "{body}");
    assert!(dp["Name"]["evidence"].is_null() && dp["Plan"]["evidence"].is_null(), "{body}");

    // Nor does the LLM replace a value the bot gave explicitly.
    assert_eq!(datapoints(&app, "shop", "x").await["status"], "active");
    let client2 = llm_client(&endpoint2, Duration::from_secs(5));
    let done = finalise_idle_once(&*app.store, Some(&client2), base() + 25 * SEC + IDLE).await;
    assert_eq!(done.unwrap().finalised, 1);
    let x = datapoints(&app, "shop", "x").await;
    assert_eq!(x["status"], "ended");
    assert_eq!(x["datapoints"]["Plan"]["value"], "Basic", "{x}");
    assert_eq!(x["datapoints"]["Plan"]["method"], "explicit", "{x}");
    app.stop().await;
}

/// With an endpoint that answers too late or not usefully, the conversation still ends, with
/// the rule values.
async fn finalises_with_rule_values_despite(reply: Reply) {
    let app = spawn_app().await;
    setup_booking(&app).await;
    let (endpoint, llm) = spawn_llm(reply).await;
    let client = llm_client(&endpoint, Duration::from_millis(300));
    let started = Instant::now();
    let done = finalise_idle_once(&*app.store, Some(&client), base() + 20 * SEC + IDLE).await;
    assert_eq!(done.unwrap(), FinaliseOutcome { finalised: 1, skipped: 0 });
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(llm.seen.lock().unwrap().len(), 1, "the endpoint was asked");
    let body = datapoints(&app, "shop", "c").await;
    assert_eq!(body["status"], "ended");
    assert_eq!(values(&body), expect(&[("Email", json!("anna@example.com"))]));
    assert_eq!(body["datapoints"]["Email"]["method"], "rule");
    assert_eq!(body["datapoints"]["Email"]["status"], "final");
    assert_eq!(finalise(&app, base() + 20 * SEC + 2 * IDLE).await.finalised, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_slow_llm_never_blocks_finalisation() {
    finalises_with_rule_values_despite(Reply::Slow(Duration::from_secs(5))).await;
}

#[tokio::test]
async fn a_failing_llm_never_blocks_finalisation() {
    finalises_with_rule_values_despite(Reply::Fail(500)).await;
    finalises_with_rule_values_despite(Reply::Prose).await;
}

/// A conversation whose last message is at 20 s is being finalised; while the finaliser waits
/// for the LLM, a user message with a phone number arrives, timestamped `late_at`.
async fn finalise_interrupted(late_at: i64) -> (TestApp, FinaliseOutcome) {
    let app = spawn_app().await;
    setup_bot(&app, "shop").await;
    app.ingest(
        "shop",
        vec![
            msg("c", "m1", "bot", "What's your email?", 0),
            msg("c", "m2", "user", "anna@example.com", 20),
        ],
    )
    .await;
    let late = msg("c", "m3", "user", "my phone is (415) 555-2671", late_at);
    let url = app.url("/v1/bots/shop/messages");
    let pending = Arc::new(Mutex::new(Some((url, app.admin_key.clone(), late))));
    let (endpoint, llm) = spawn_llm(Reply::Interrupt(pending.clone())).await;
    let client = llm_client(&endpoint, Duration::from_secs(5));
    let done = finalise_idle_once(&*app.store, Some(&client), base() + 20 * SEC + IDLE).await;
    assert!(pending.lock().unwrap().is_none(), "the message was sent during finalisation");
    assert_eq!(llm.seen.lock().unwrap().len(), 1);
    (app, done.unwrap())
}

#[tokio::test]
async fn a_message_arriving_during_finalisation_reopens_the_idle_period() {
    // A later message: the compare-and-set on the last message's time refuses the end.
    let (app, done) = finalise_interrupted(25).await;
    assert_eq!(done, FinaliseOutcome { finalised: 0, skipped: 1 });
    let body = datapoints(&app, "shop", "c").await;
    assert_eq!(body["status"], "active");
    assert_eq!(
        values(&body),
        expect(&[("Email", json!("anna@example.com")), ("Phone", json!("+14155552671"))])
    );
    assert_eq!(finalise(&app, base() + 25 * SEC + IDLE).await.finalised, 1);
    let body = datapoints(&app, "shop", "c").await;
    assert_eq!(body["status"], "ended");
    assert_eq!(body["datapoints"]["Phone"]["status"], "final");
    app.stop().await;
}

#[tokio::test]
async fn a_late_out_of_order_message_during_finalisation_is_not_lost() {
    // A message written before the last one (delivered late, out of order) leaves the last
    // message's time as it was; whatever the finaliser does with the conversation, the value
    // that message gave must not disappear from its final datapoints.
    let (app, _) = finalise_interrupted(5).await;
    finalise(&app, base() + 21 * SEC + IDLE).await;
    let conv = transcript(&app, "shop", "c").await;
    assert_eq!(conv["messages"].as_array().unwrap().len(), 3);
    let body = datapoints(&app, "shop", "c").await;
    assert_eq!(body["status"], "ended");
    assert_eq!(
        values(&body),
        expect(&[("Email", json!("anna@example.com")), ("Phone", json!("+14155552671"))]),
        "{body}"
    );
    assert_eq!(body["datapoints"]["Phone"]["message_id"], "m3");
    app.stop().await;
}

#[tokio::test]
async fn an_endpoint_on_a_private_address_is_refused_unless_allowed() {
    let app = spawn_app().await;
    setup_booking(&app).await;
    let (endpoint, llm) = spawn_llm(Reply::Fill(json!({"Name": "Anna Kowalska"}))).await;
    // By address (checked before sending), then by a name (checked as it resolves).
    let by_name = endpoint.replace("127.0.0.1", "localhost");
    for (round, endpoint) in [endpoint, by_name].into_iter().enumerate() {
        let last = 20 + 10 * round as i64;
        if round > 0 {
            app.ingest("shop", vec![msg("c", &format!("late{round}"), "user", "ok", last)]).await;
        }
        let config = LlmConfig {
            endpoint,
            model: "tiny-test".into(),
            api_key: None,
            timeout: Duration::from_secs(5),
        };
        let guarded = Llm::new(config, false);
        let done = finalise_idle_once(&*app.store, Some(&guarded), base() + last * SEC + IDLE);
        // Still finalised, with the rule values; the endpoint never asked.
        assert_eq!(done.await.unwrap().finalised, 1);
        assert!(llm.seen.lock().unwrap().is_empty());
        let body = datapoints(&app, "shop", "c").await;
        assert_eq!(body["status"], "ended");
        assert_eq!(values(&body), expect(&[("Email", json!("anna@example.com"))]));
    }
    app.stop().await;
}
