//! The OpenTelemetry receiver: OTLP/HTTP `POST /v1/traces` and `/v1/logs` (also under `/otlp/`),
//! protobuf or JSON, gzip or not. Spans and log records that describe a chat (GenAI conventions:
//! [`map`]) become the messages of their conversations ([`history`]), stored by the same path as
//! native ingest and answered only once durable; the rest is ignored. The answer is the
//! `Export…ServiceResponse` in the request's encoding, its `partial_success` counting what was
//! refused and why. See `docs/otel.md`.

mod attrs;
mod history;
mod map;

use std::collections::BTreeMap;
use std::io::Read;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use confab_core::auth::{Caller, Scope};
use confab_core::time::now_millis;
use confab_store::StoreError;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::map::{Attrs, Call};
use crate::auth::Allow;
use crate::{ApiError, ApiResult, AppState, MAX_BODY_BYTES};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(traces))
        .routes(routes!(logs))
        .routes(routes!(otlp_traces))
        .routes(routes!(otlp_logs))
}

/// How the request was encoded, and so the answer.
#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn of(headers: &HeaderMap) -> ApiResult<Encoding> {
        let kind = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media = kind.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            _ => Err(ApiError::UnsupportedMediaType(
                "send application/x-protobuf or application/json (OTLP/HTTP)".into(),
            )),
        }
    }

    fn decode<T: prost::Message + Default + serde::de::DeserializeOwned>(
        self,
        bytes: &[u8],
    ) -> ApiResult<T> {
        match self {
            Encoding::Protobuf => T::decode(bytes).map_err(|e| {
                ApiError::invalid("body", format!("not an OTLP protobuf message: {e}"))
            }),
            // A JSON object only: serde would read a message from an array, `[]` included.
            Encoding::Json => crate::extract::parse_json(bytes),
        }
    }

    fn respond<T: prost::Message + serde::Serialize>(self, answer: &T) -> Response {
        match self {
            Encoding::Protobuf => {
                ([(header::CONTENT_TYPE, "application/x-protobuf")], answer.encode_to_vec())
                    .into_response()
            }
            Encoding::Json => (
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::to_vec(answer).unwrap_or_default(),
            )
                .into_response(),
        }
    }
}

/// The body, gunzipped when it says so; never more than [`MAX_BODY_BYTES`] once inflated.
fn inflate(headers: &HeaderMap, body: Bytes) -> ApiResult<Bytes> {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok());
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("identity") => Ok(body),
        Some("gzip") => {
            let mut out = Vec::new();
            let limit = MAX_BODY_BYTES as u64 + 1;
            flate2::read::GzDecoder::new(&body[..])
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::invalid("body", format!("not valid gzip: {e}")))?;
            if out.len() > MAX_BODY_BYTES {
                return Err(ApiError::TooLarge {
                    field: "body",
                    message: format!("at most {MAX_BODY_BYTES} bytes once decompressed"),
                });
            }
            Ok(Bytes::from(out))
        }
        Some(other) => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding `{other}`: send gzip or none"
        ))),
    }
}

fn millis(nanos: u64) -> i64 {
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// What was refused, and why (the first few reasons).
#[derive(Default)]
struct Refused {
    count: i64,
    reasons: Vec<String>,
}

impl Refused {
    fn add(&mut self, n: i64, reason: String) {
        self.count += n;
        if self.reasons.len() < 5 && !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }

    fn message(&self) -> String {
        self.reasons.join("; ")
    }
}

/// OTLP traces: spans of chat and inference calls become messages.
#[utoipa::path(post, path = "/v1/traces", tag = "otlp", operation_id = "exportTraces",
    request_body(description = "An OTLP ExportTraceServiceRequest", content(
        (Object = "application/json"), (Vec<u8> = "application/x-protobuf"))),
    responses((status = 200, description = "An ExportTraceServiceResponse in the request's encoding",
        content((Object = "application/json"), (Vec<u8> = "application/x-protobuf"))),
        (status = 415, description = "Neither protobuf nor JSON, or an unknown Content-Encoding",
            body = crate::openapi::ErrorBody)))]
async fn traces(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(Scope::Ingest)?;
    let encoding = Encoding::of(&headers)?;
    let request: ExportTraceServiceRequest = encoding.decode(&inflate(&headers, body)?)?;
    let mut calls = vec![];
    let mut refused = Refused::default();
    for rs in &request.resource_spans {
        let resource = rs.resource.as_ref().map(|r| attrs::map(&r.attributes)).unwrap_or_default();
        for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
            let own = attrs::map(&span.attributes);
            let (start, end) = (millis(span.start_time_unix_nano), millis(span.end_time_unix_nano));
            let attributes = Attrs { own: &own, resource: &resource };
            let trace_id = hex::encode(&span.trace_id);
            let mapped = match map::call(&attributes, &trace_id, start, end) {
                // Without messages in its attributes, the deprecated events on the span.
                Ok(None) => span_events(span, &attributes, &trace_id, start, end),
                other => other,
            };
            match mapped {
                Ok(Some(call)) => calls.push(call),
                Ok(None) => {}
                Err(why) => refused.add(1, format!("span {}: {why}", hex::encode(&span.span_id))),
            }
        }
    }
    store(&state, &caller, calls, &mut refused).await?;
    let partial_success = (refused.count > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: refused.count,
        error_message: refused.message(),
    });
    Ok(encoding.respond(&ExportTraceServiceResponse { partial_success }))
}

/// The deprecated GenAI events recorded as span events (the message in the event's attributes,
/// as log records carry it in their body), in order: the span's call, or `None` without any.
fn span_events(
    span: &opentelemetry_proto::tonic::trace::v1::Span,
    attributes: &Attrs,
    trace_id: &str,
    start: i64,
    end: i64,
) -> Result<Option<Call>, String> {
    let mut call: Option<Call> = None;
    for event in &span.events {
        let body =
            || serde_json::Value::Object(attrs::map(&event.attributes).into_iter().collect());
        let Some(message) = map::event_message(&event.name, body) else { continue };
        let (message, output) = message?;
        let call = call.get_or_insert_with(|| map::identity(attributes, trace_id, start, end));
        match output {
            true => call.outputs.push(message),
            false => call.inputs.push(message),
        }
    }
    Ok(call)
}

/// OTLP logs: GenAI events (`gen_ai.client.inference.operation.details`) become messages.
#[utoipa::path(post, path = "/v1/logs", tag = "otlp", operation_id = "exportLogs",
    request_body(description = "An OTLP ExportLogsServiceRequest", content(
        (Object = "application/json"), (Vec<u8> = "application/x-protobuf"))),
    responses((status = 200, description = "An ExportLogsServiceResponse in the request's encoding",
        content((Object = "application/json"), (Vec<u8> = "application/x-protobuf"))),
        (status = 415, description = "Neither protobuf nor JSON, or an unknown Content-Encoding",
            body = crate::openapi::ErrorBody)))]
async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(Scope::Ingest)?;
    let encoding = Encoding::of(&headers)?;
    let request: ExportLogsServiceRequest = encoding.decode(&inflate(&headers, body)?)?;
    let mut calls = vec![];
    let mut refused = Refused::default();
    for rl in &request.resource_logs {
        let resource = rl.resource.as_ref().map(|r| attrs::map(&r.attributes)).unwrap_or_default();
        // Deprecated events of one inference call (its span), in order: a call each.
        let mut events: BTreeMap<(Vec<u8>, Vec<u8>), Call> = BTreeMap::new();
        for record in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
            let own = attrs::map(&record.attributes);
            let at = millis(match record.time_unix_nano {
                0 => record.observed_time_unix_nano,
                t => t,
            });
            let attributes = Attrs { own: &own, resource: &resource };
            let trace_id = hex::encode(&record.trace_id);
            let name = match record.event_name.as_str() {
                "" => own.get("event.name").and_then(|v| v.as_str()).unwrap_or_default(),
                name => name,
            };
            // The body is read only for the events whose body is a message.
            let body = || record.body.as_ref().map_or(serde_json::Value::Null, attrs::value);
            match map::event_message(name, body) {
                Some(Ok((message, output))) => {
                    let key = (record.trace_id.clone(), record.span_id.clone());
                    let call = events
                        .entry(key)
                        .or_insert_with(|| map::identity(&attributes, &trace_id, at, at));
                    call.start = call.start.min(at);
                    call.end = call.end.max(at);
                    match output {
                        true => call.outputs.push(message),
                        false => call.inputs.push(message),
                    }
                }
                Some(Err(why)) => refused.add(1, format!("log record: {why}")),
                None => match map::call(&attributes, &trace_id, at, at) {
                    Ok(Some(call)) => calls.push(call),
                    Ok(None) => {}
                    Err(why) => refused.add(1, format!("log record: {why}")),
                },
            }
        }
        calls.extend(events.into_values());
    }
    store(&state, &caller, calls, &mut refused).await?;
    let partial_success = (refused.count > 0).then(|| ExportLogsPartialSuccess {
        rejected_log_records: refused.count,
        error_message: refused.message(),
    });
    Ok(encoding.respond(&ExportLogsServiceResponse { partial_success }))
}

/// `/otlp/v1/traces`: the same, for exporters given a base URL ending in `/otlp`.
#[utoipa::path(post, path = "/otlp/v1/traces", tag = "otlp", operation_id = "exportTracesOtlp",
    request_body(description = "An OTLP ExportTraceServiceRequest", content(
        (Object = "application/json"), (Vec<u8> = "application/x-protobuf"))),
    responses((status = 200, description = "An ExportTraceServiceResponse in the request's encoding",
        content((Object = "application/json"), (Vec<u8> = "application/x-protobuf"))),
        (status = 415, description = "Neither protobuf nor JSON, or an unknown Content-Encoding",
            body = crate::openapi::ErrorBody)))]
async fn otlp_traces(
    state: State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    traces(state, caller, headers, body).await
}

/// `/otlp/v1/logs`: the same, for exporters given a base URL ending in `/otlp`.
#[utoipa::path(post, path = "/otlp/v1/logs", tag = "otlp", operation_id = "exportLogsOtlp",
    request_body(description = "An OTLP ExportLogsServiceRequest", content(
        (Object = "application/json"), (Vec<u8> = "application/x-protobuf"))),
    responses((status = 200, description = "An ExportLogsServiceResponse in the request's encoding",
        content((Object = "application/json"), (Vec<u8> = "application/x-protobuf"))),
        (status = 415, description = "Neither protobuf nor JSON, or an unknown Content-Encoding",
            body = crate::openapi::ErrorBody)))]
async fn otlp_logs(
    state: State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    logs(state, caller, headers, body).await
}

/// Stores the new messages of `calls`: a bot the key may not use, or a message that fails
/// validation, is refused (and counted); the rest is durable when this returns.
async fn store(
    state: &AppState,
    caller: &Caller,
    calls: Vec<Call>,
    refused: &mut Refused,
) -> ApiResult<()> {
    let mut by_conversation: BTreeMap<(String, String), Vec<Call>> = BTreeMap::new();
    for call in calls {
        by_conversation
            .entry((call.bot_id.clone(), call.conversation_id.clone()))
            .or_default()
            .push(call);
    }
    let now = now_millis();
    let mut by_bot: BTreeMap<String, Vec<_>> = BTreeMap::new();
    let mut invalid = 0;
    for ((bot_id, conversation_id), calls) in by_conversation {
        if let Err(e) = caller.bot(Scope::Ingest, &bot_id) {
            refused.add(calls.len() as i64, format!("bot {bot_id}: {e}"));
            continue;
        }
        let mut known =
            match state.store.get_conversation(caller.team_id, &bot_id, &conversation_id).await {
                Ok((_, messages)) => {
                    messages.into_iter().map(|m| (m.role.as_str().to_owned(), m.content)).collect()
                }
                Err(StoreError::NotFound(_)) => vec![],
                Err(e) => return Err(e.into()),
            };
        for input in history::new_messages(&mut known, calls) {
            match input.validate(now) {
                Ok(m) => by_bot.entry(bot_id.clone()).or_default().push(m),
                Err(e) => {
                    invalid += 1;
                    refused.add(
                        1,
                        format!("a message of {conversation_id}: {}: {}", e.field, e.message),
                    )
                }
            }
        }
    }
    crate::observe::record_ingested(&[], invalid);
    for (bot_id, messages) in by_bot {
        let outcomes =
            state.store.ingest(caller.team_id, &bot_id, state.config.create_bots, messages).await?;
        crate::observe::record_ingested(&outcomes, 0);
    }
    Ok(())
}
