//! Real OpenTelemetry clients: an `openai` client instrumented by OpenTelemetry's official GenAI
//! instrumentation (`opentelemetry-instrumentation-genai-openai`) holds a three-turn chat with a
//! fake chat-completions server, and the official OTLP/HTTP exporters (protobuf, gzipped
//! protobuf, JSON) send it to Confab — message content on spans (`span_only`) or as log events
//! (`event_only`). The conversation, its transcript, its datapoints and its analytics are then read
//! back through the API and must be exact. The Python side runs from the virtualenv `.ci/run`
//! makes (target/otel-venv); without it the test says why and skips, except under `CI=true`.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::routing::post;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const REPLIES: [&str; 3] =
    ["For which day?", "Done: Friday 19:00 for 4.", "Thanks, confirmation sent."];

fn python() -> Option<PathBuf> {
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/otel-venv/bin/python");
    let path = PathBuf::from(venv);
    if path.exists() {
        return Some(path);
    }
    let why =
        "target/otel-venv is missing: `.ci/run` makes it (scripts/python-venv.sh otel-venv …)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    eprintln!("skipping the real OpenTelemetry client tests: {why}");
    None
}

/// A chat-completions server that answers the `i`-th request of each chat with `REPLIES[i % 3]`.
async fn fake_openai() -> String {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |Json(body): Json<Value>| {
            let calls = calls.clone();
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let asked = body["messages"].as_array().map_or(0, Vec::len);
                Json(json!({
                    "id": format!("chatcmpl-{n}"),
                    "object": "chat.completion",
                    "created": 1_765_000_000,
                    "model": "gpt-4o-mini",
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": REPLIES[n % 3]},
                        "finish_reason": "stop",
                    }],
                    "usage": {"prompt_tokens": 10 * asked, "completion_tokens": 5, "total_tokens": 10 * asked + 5},
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Runs the chat; returns its conversation id (the chat's trace id).
async fn chat(
    python: PathBuf,
    app: &common::TestApp,
    openai: &str,
    exporter: &str,
    gzip: bool,
    capture: &str,
) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otel/chat.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .env("CONFAB_URL", &app.base)
        .env("CONFAB_KEY", &app.admin_key)
        .env("FAKE_OPENAI_URL", openai)
        .env("EXPORTER", exporter)
        .env("SERVICE", "luigi")
        .env("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", capture)
        .env("OTEL_EXPORTER_OTLP_COMPRESSION", if gzip { "gzip" } else { "none" });
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the chat failed: {stderr}");
    assert!(!stderr.contains("Failed to export"), "an export failed: {stderr}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instrumented_openai_chat_arrives_whole() {
    let Some(python) = python() else { return };
    let app = common::spawn_app().await;
    let schema = json!({"datapoints": [
        {"key": "email", "type": "email"},
        {"key": "party_size", "type": "number", "questions": ["table for"]},
    ]});
    let (status, body) = app
        .call(Method::PUT, &app.admin_key, "/v1/bots/luigi/datapoints/schema", Some(&schema))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let openai = fake_openai().await;

    let runs = [
        ("proto", false, "span_only"),
        ("proto", true, "event_only"),
        ("json", false, "span_only"),
    ];
    for (exporter, gzip, capture) in runs {
        let what = format!("{exporter} gzip={gzip} {capture}");
        let conversation = chat(python.clone(), &app, &openai, exporter, gzip, capture).await;
        assert_eq!(conversation.len(), 32, "{what}: a trace id, got {conversation:?}");
        let path = format!("/v1/bots/luigi/conversations/{conversation}");
        let (status, body) = app.get(&app.admin_key, &path).await;
        assert_eq!(status, StatusCode::OK, "{what}: {body}");
        let messages = body["messages"].as_array().unwrap();
        let got: Vec<(&str, &str)> = messages
            .iter()
            .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("system", "You book tables at Luigi's."),
                ("user", "Hi, a table for 4 please"),
                ("bot", REPLIES[0]),
                ("user", "Friday at 7pm"),
                ("bot", REPLIES[1]),
                ("user", "My email is ann@example.com"),
                ("bot", REPLIES[2]),
            ],
            "{what}"
        );
        let bots: Vec<&Value> = messages.iter().filter(|m| m["role"] == "bot").collect();
        for (i, m) in bots.iter().enumerate() {
            let meta = &m["metadata"];
            assert_eq!(meta["model"], "gpt-4o-mini", "{what}: {meta}");
            assert_eq!(meta["finish_reason"], "stop", "{what}: {meta}");
            // The history grows by two messages a turn: system + user, then +2.
            assert_eq!(meta["input_tokens"], json!(10 * (2 + 2 * i)), "{what}: {meta}");
            assert_eq!(meta["output_tokens"], 5, "{what}: {meta}");
        }
        let (_, values) = app.get(&app.admin_key, &format!("{path}/datapoints")).await;
        assert_eq!(values["datapoints"]["email"]["value"], "ann@example.com", "{what}: {values}");
        assert_eq!(values["datapoints"]["party_size"]["value"], 4, "{what}: {values}");
    }

    // Analytics see them as native conversations: three chats of seven messages.
    let day = |d: i64| {
        let now = confab_core::time::now_millis() + d * 86_400_000;
        confab_core::time::format_rfc3339(now)[..10].to_owned()
    };
    let range = format!("start_time={}&end_time={}", day(-1), day(1));
    for (stat, total) in [("conversations", 3), ("messages", 21)] {
        let (status, body) =
            app.get(&app.admin_key, &format!("/v1/bots/luigi/analytics/{stat}?{range}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["series"][0]["sum"], total, "{stat}: {body}");
    }
    // And the LLM usage by model: per chat 20 + 40 + 60 tokens in, 3 × 5 out.
    for (stat, total) in [("input_tokens", 3 * 120), ("output_tokens", 3 * 15)] {
        let path = format!("/v1/bots/luigi/analytics/insights?stat={stat}&{range}&group_by=model");
        let (status, body) = app.get(&app.admin_key, &path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let series = body["data"]["series"].as_array().unwrap();
        assert_eq!(series.len(), 1, "{stat}: {body}");
        assert_eq!(series[0]["labels"]["model"], "gpt-4o-mini", "{stat}: {body}");
        assert_eq!(series[0]["sum"], total, "{stat}: {body}");
    }
}
