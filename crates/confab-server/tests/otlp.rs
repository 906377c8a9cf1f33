//! The OTLP receiver end to end: spans and log records of a three-turn chat, sent as protobuf
//! and as JSON (gzipped or not), become one conversation whose transcript is read back through
//! the native API; retried exports store nothing twice; what cannot be read is counted in
//! `partial_success`.

mod common;

use std::io::Write;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

/// Now, in nanoseconds, minus `back` seconds: recent enough for ingest's window.
fn at(back: u64) -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    (now.as_secs() - back) * 1_000_000_000
}

fn messages(items: &[(&str, &str)]) -> String {
    let items: Vec<Value> = items
        .iter()
        .map(|(role, content)| json!({"role": role, "parts": [{"type": "text", "content": content}]}))
        .collect();
    Value::Array(items).to_string()
}

/// The spans of a three-turn chat, each carrying the whole history, as the official OpenAI
/// instrumentation sends them (current GenAI attributes).
fn chat_spans(conversation: &str) -> ExportTraceServiceRequest {
    let turns = [
        ("I'd like a table for 4", "For which day?"),
        ("Friday at 7pm", "Done: Friday 19:00 for 4."),
        ("thanks", "You're welcome!"),
    ];
    let mut history: Vec<(&str, &str)> = vec![];
    let mut spans = vec![];
    for (i, (user, bot)) in turns.iter().enumerate() {
        history.push(("user", user));
        let start = at(300 - 60 * i as u64);
        spans.push(Span {
            trace_id: vec![7; 16],
            span_id: vec![i as u8 + 1; 8],
            name: "chat gpt-4o-mini".into(),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1_500_000_000,
            attributes: vec![
                text("gen_ai.operation.name", "chat"),
                text("gen_ai.request.model", "gpt-4o-mini"),
                text("gen_ai.conversation.id", conversation),
                text(
                    "gen_ai.system_instructions",
                    r#"[{"type":"text","content":"You book tables."}]"#,
                ),
                text("gen_ai.input.messages", &messages(&history)),
                text("gen_ai.output.messages", &messages(&[("assistant", bot)])),
                int("gen_ai.usage.input_tokens", 20 + 10 * i as i64),
                int("gen_ai.usage.output_tokens", 8),
                text("user.id", "guest-1"),
            ],
            ..Default::default()
        });
        history.push(("assistant", bot));
    }
    // An HTTP span beside them: not a chat, ignored.
    spans.push(Span {
        trace_id: vec![7; 16],
        span_id: vec![9; 8],
        name: "GET /menu".into(),
        attributes: vec![text("http.request.method", "GET")],
        ..Default::default()
    });
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "restaurant")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

async fn export(
    app: &common::TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    gzip: bool,
) -> (StatusCode, String, Vec<u8>) {
    let mut req = app
        .client
        .post(app.url(path))
        .bearer_auth(&app.admin_key)
        .header("content-type", content_type);
    let body = if gzip {
        req = req.header("content-encoding", "gzip");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&body).unwrap();
        enc.finish().unwrap()
    } else {
        body
    };
    let resp = req.body(body).send().await.unwrap();
    let status = resp.status();
    let kind = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    (status, kind.unwrap_or_default(), resp.bytes().await.unwrap().to_vec())
}

/// The transcript as (role, content) pairs, and the bot messages' metadata.
async fn transcript(
    app: &common::TestApp,
    bot: &str,
    conversation: &str,
) -> (Vec<(String, String)>, Vec<Value>) {
    let (status, body) =
        app.get(&app.admin_key, &format!("/v1/bots/{bot}/conversations/{conversation}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let messages = body["messages"].as_array().unwrap();
    let pairs = messages
        .iter()
        .map(|m| {
            (m["role"].as_str().unwrap().to_owned(), m["content"].as_str().unwrap().to_owned())
        })
        .collect();
    let meta =
        messages.iter().filter(|m| m["role"] == "bot").map(|m| m["metadata"].clone()).collect();
    (pairs, meta)
}

/// A transcript's (role, content) pairs, owned.
fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(r, c)| ((*r).to_owned(), (*c).to_owned())).collect()
}

/// The two-call chat the deprecated-events tests send (as log records, as span events).
fn brief_chat() -> Vec<(String, String)> {
    pairs(&[
        ("system", "Be brief."),
        ("user", "hi"),
        ("bot", "hello"),
        ("user", "bye"),
        ("bot", "ciao"),
    ])
}

fn expected() -> Vec<(String, String)> {
    pairs(&[
        ("system", "You book tables."),
        ("user", "I'd like a table for 4"),
        ("bot", "For which day?"),
        ("user", "Friday at 7pm"),
        ("bot", "Done: Friday 19:00 for 4."),
        ("user", "thanks"),
        ("bot", "You're welcome!"),
    ])
}

#[tokio::test]
async fn protobuf_and_json_give_the_same_conversation_once() {
    let app = common::spawn_app().await;
    let proto = chat_spans("conv-proto");
    let (status, kind, body) =
        export(&app, "/v1/traces", "application/x-protobuf", proto.encode_to_vec(), false).await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/x-protobuf"));
    let answer = ExportTraceServiceResponse::decode(&body[..]).unwrap();
    assert!(answer.partial_success.is_none(), "{answer:?}");

    let json = serde_json::to_vec(&chat_spans("conv-json")).unwrap();
    let (status, kind, body) =
        export(&app, "/otlp/v1/traces", "application/json", json, true).await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/json"));
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert!(answer.get("partialSuccess").is_none_or(Value::is_null), "{answer}");

    let (proto_messages, meta) = transcript(&app, "restaurant", "conv-proto").await;
    let (json_messages, _) = transcript(&app, "restaurant", "conv-json").await;
    assert_eq!(proto_messages, expected());
    assert_eq!(json_messages, expected());
    assert_eq!(meta[0]["model"], "gpt-4o-mini");
    assert_eq!((&meta[1]["input_tokens"], &meta[1]["output_tokens"]), (&json!(30), &json!(8)));
    assert_eq!(meta[0]["latency_ms"], 1500);

    // The exporter retries: nothing is stored twice.
    let again = chat_spans("conv-proto").encode_to_vec();
    let (status, _, _) = export(&app, "/v1/traces", "application/x-protobuf", again, true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(transcript(&app, "restaurant", "conv-proto").await.0, expected());
    let (_, body) = app.get(&app.admin_key, "/v1/bots/restaurant/conversations/conv-proto").await;
    assert_eq!(body["user_id"], "guest-1");
}

#[tokio::test]
async fn log_events_carry_calls_too() {
    let app = common::spawn_app().await;
    let record = |i: u64, history: &[(&str, &str)], out: &str| LogRecord {
        time_unix_nano: at(200 - 10 * i),
        event_name: "gen_ai.client.inference.operation.details".into(),
        attributes: vec![
            text("gen_ai.input.messages", &messages(history)),
            text("gen_ai.output.messages", &messages(&[("assistant", out)])),
            text("session.id", "log-conv"),
        ],
        ..Default::default()
    };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![text("service.name", "logbot")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record(0, &[("user", "hi")], "hello"),
                    record(1, &[("user", "hi"), ("assistant", "hello"), ("user", "bye")], "ciao"),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let (status, _, body) =
        export(&app, "/v1/logs", "application/x-protobuf", request.encode_to_vec(), false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ExportLogsServiceResponse::decode(&body[..]).unwrap().partial_success.is_none());
    let got: Vec<String> =
        transcript(&app, "logbot", "log-conv").await.0.into_iter().map(|(_, c)| c).collect();
    assert_eq!(got, ["hi", "hello", "bye", "ciao"]);
}

/// The deprecated events, as the first OpenAI instrumentation sent them: one log record per
/// message, the history again with every call, the answer as `gen_ai.choice`.
#[tokio::test]
async fn deprecated_events_as_log_records() {
    let app = common::spawn_app().await;
    let event = |span: u8, i: u64, name: &str, body: Value| LogRecord {
        time_unix_nano: at(100 - i),
        event_name: name.into(),
        trace_id: vec![3; 16],
        span_id: vec![span; 8],
        body: Some(json_any(&body)),
        attributes: vec![text("gen_ai.system", "openai"), text("session.id", "old-conv")],
        ..Default::default()
    };
    let records = vec![
        event(1, 0, "gen_ai.system.message", json!({"content": "Be brief."})),
        event(1, 0, "gen_ai.user.message", json!({"content": "hi"})),
        event(
            1,
            1,
            "gen_ai.choice",
            json!({"index": 0, "finish_reason": "stop", "message": {"content": "hello"}}),
        ),
        event(2, 5, "gen_ai.system.message", json!({"content": "Be brief."})),
        event(2, 5, "gen_ai.user.message", json!({"content": "hi"})),
        event(2, 5, "gen_ai.assistant.message", json!({"content": "hello"})),
        event(2, 5, "gen_ai.user.message", json!({"content": "bye"})),
        event(
            2,
            6,
            "gen_ai.choice",
            json!({"index": 0, "message": {"content": "ciao", "role": "assistant"}}),
        ),
    ];
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![text("service.name", "oldbot")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    };
    let json = serde_json::to_vec(&request).unwrap();
    let (status, _, body) = export(&app, "/v1/logs", "application/json", json, false).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let got = transcript(&app, "oldbot", "old-conv").await.0;
    assert_eq!(got, brief_chat());
}

/// The deprecated events recorded on the spans themselves (as older instrumentations do): the
/// message in the event's attributes, nested parts as JSON strings; a span with messages in its
/// attributes is read from those.
#[tokio::test]
async fn deprecated_events_as_span_events() {
    use opentelemetry_proto::tonic::trace::v1::span::Event;
    let app = common::spawn_app().await;
    let event = |name: &str, attributes: Vec<KeyValue>| Event {
        name: name.into(),
        attributes,
        ..Default::default()
    };
    let span = |id: u8, back: u64, events: Vec<Event>| Span {
        trace_id: vec![5; 16],
        span_id: vec![id; 8],
        name: "chat".into(),
        start_time_unix_nano: at(back),
        end_time_unix_nano: at(back) + 800_000_000,
        attributes: vec![text("session.id", "span-events"), text("gen_ai.request.model", "m1")],
        events,
        ..Default::default()
    };
    let spans = vec![
        span(
            1,
            120,
            vec![
                event("gen_ai.system.message", vec![text("content", "Be brief.")]),
                event("gen_ai.user.message", vec![text("content", "hi")]),
                event(
                    "gen_ai.choice",
                    vec![
                        int("index", 0),
                        text("message", r#"{"role": "assistant", "content": "hello"}"#),
                    ],
                ),
            ],
        ),
        span(
            2,
            60,
            vec![
                event("gen_ai.system.message", vec![text("content", "Be brief.")]),
                event("gen_ai.user.message", vec![text("content", "hi")]),
                event("gen_ai.assistant.message", vec![text("content", "hello")]),
                event("gen_ai.user.message", vec![text("content", "bye")]),
                event("gen_ai.choice", vec![text("message", r#"{"content": "ciao"}"#)]),
                event("exception", vec![text("exception.message", "not a message")]),
            ],
        ),
    ];
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "spanbot")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    };
    let (status, _, body) =
        export(&app, "/v1/traces", "application/x-protobuf", request.encode_to_vec(), false).await;
    assert_eq!(status, StatusCode::OK);
    let answer = ExportTraceServiceResponse::decode(&body[..]).unwrap();
    assert!(answer.partial_success.is_none(), "{answer:?}");
    let (got, meta) = transcript(&app, "spanbot", "span-events").await;
    assert_eq!(got, brief_chat());
    assert_eq!((&meta[0]["model"], &meta[1]["latency_ms"]), (&json!("m1"), &json!(800)));
}

/// A JSON value as an OTLP `AnyValue`.
fn json_any(v: &Value) -> AnyValue {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    let value = match v {
        Value::String(s) => any_value::Value::StringValue(s.clone()),
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or_default()),
        },
        Value::Array(items) => any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(json_any).collect(),
        }),
        Value::Object(m) => any_value::Value::KvlistValue(KeyValueList {
            values: m
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: Some(json_any(v)),
                    ..Default::default()
                })
                .collect(),
        }),
        Value::Null => return AnyValue { value: None },
    };
    AnyValue { value: Some(value) }
}

#[tokio::test]
async fn what_cannot_be_read_is_counted_and_the_rest_stored() {
    let app = common::spawn_app().await;
    let mut request = chat_spans("conv-partial");
    request.resource_spans[0].scope_spans[0].spans.push(Span {
        span_id: vec![0xab; 8],
        attributes: vec![text("gen_ai.input.messages", "{not json")],
        ..Default::default()
    });
    let json = serde_json::to_vec(&request).unwrap();
    let (status, _, body) = export(&app, "/v1/traces", "application/json", json, false).await;
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let partial = &answer["partialSuccess"];
    assert_eq!(partial["rejectedSpans"], json!(1), "{answer}");
    assert!(
        partial["errorMessage"].as_str().unwrap().contains("gen_ai.input.messages"),
        "{answer}"
    );
    assert_eq!(transcript(&app, "restaurant", "conv-partial").await.0, expected());

    // A key limited to other bots: its spans are refused, counted, and nothing is stored.
    let key = app.key(app.team_id, &["ingest"], Some(vec!["other"])).await;
    let resp = app
        .client
        .post(app.url("/v1/traces"))
        .bearer_auth(&key)
        .header("content-type", "application/x-protobuf")
        .body(chat_spans("conv-denied").encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let answer = ExportTraceServiceResponse::decode(&resp.bytes().await.unwrap()[..]).unwrap();
    assert_eq!(answer.partial_success.unwrap().rejected_spans, 3);
    let (status, _) =
        app.get(&app.admin_key, "/v1/bots/restaurant/conversations/conv-denied").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_right_status() {
    let app = common::spawn_app().await;
    let body = chat_spans("c").encode_to_vec();
    let (status, _, _) = export(&app, "/v1/traces", "text/plain", body.clone(), false).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _, _) =
        export(&app, "/v1/traces", "application/x-protobuf", vec![0xff; 9], false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) =
        export(&app, "/v1/traces", "application/json", b"[1,2]".to_vec(), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Past the limit once inflated: 11 MiB of zeros gzip to a few KiB.
    let (status, _, _) =
        export(&app, "/v1/traces", "application/x-protobuf", vec![0; 11 << 20], true).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let resp = app
        .client
        .post(app.url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
