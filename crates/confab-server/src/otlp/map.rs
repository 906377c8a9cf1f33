//! From one span's (or log record's) attributes to one inference call: who (bot, conversation,
//! user), what was sent and what came back, read from every GenAI convention in use, and the
//! call's model, tokens and finish reason. Attributes arrive as JSON values (see
//! [`super::attrs`]), so the conventions are tested on captured payloads without protobuf.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use confab_core::time::Millis;

/// A span's or record's attributes, with its resource's beneath (the span's win).
pub struct Attrs<'a> {
    pub own: &'a BTreeMap<String, Value>,
    pub resource: &'a BTreeMap<String, Value>,
}

impl Attrs<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.own.get(key).or_else(|| self.resource.get(key))
    }

    /// A non-empty string (or a number, as text).
    fn text(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn first_text(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.text(k))
    }

    fn int(&self, keys: &[&str]) -> Option<i64> {
        keys.iter().find_map(|k| match self.get(k)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
    }
}

/// One message of a call, as the app sent or received it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    /// `user`, `assistant`, `system`, `tool` (or whatever the app said).
    pub role: String,
    pub content: String,
}

/// One inference call of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub bot_id: String,
    pub conversation_id: String,
    pub user_id: Option<String>,
    /// `channel_type`, `language`, `version`, `campaign_id`, `campaign_source` from `confab.*`.
    pub dims: BTreeMap<&'static str, String>,
    pub start: Millis,
    pub end: Millis,
    /// The history sent, system instructions first.
    pub inputs: Vec<ChatMessage>,
    /// What came back.
    pub outputs: Vec<ChatMessage>,
    /// For the outputs' metadata: model, tokens, finish reason, latency.
    pub usage: Map<String, Value>,
}

const DIMS: [&str; 5] = ["channel_type", "language", "version", "campaign_id", "campaign_source"];

/// The call a span or record describes: `Ok(None)` when it carries no chat messages (an
/// embedding, a retrieval, an HTTP call), `Err` naming the attribute when what it carries cannot
/// be read.
pub fn call(
    attrs: &Attrs,
    trace_id: &str,
    start: Millis,
    end: Millis,
) -> Result<Option<Call>, String> {
    let (inputs, outputs) = messages(attrs)?;
    if inputs.is_empty() && outputs.is_empty() {
        return Ok(None);
    }
    Ok(Some(Call { inputs, outputs, ..identity(attrs, trace_id, start, end) }))
}

/// A call with no messages yet: who it is of, when, and its usage.
pub fn identity(attrs: &Attrs, trace_id: &str, start: Millis, end: Millis) -> Call {
    let bot_id = attrs
        .first_text(&["confab.bot_id", "service.name"])
        .unwrap_or_else(|| "unknown_service".to_owned());
    let conversation_id = attrs
        .first_text(&[
            "gen_ai.conversation.id",
            "session.id",
            "traceloop.association.properties.session_id",
        ])
        .unwrap_or_else(|| trace_id.to_owned());
    let user_id = attrs.first_text(&["user.id", "traceloop.association.properties.user_id"]);
    let dims = DIMS
        .into_iter()
        .filter_map(|d| attrs.text(&format!("confab.{d}")).map(|v| (d, v)))
        .collect();
    Call {
        bot_id,
        conversation_id,
        user_id,
        dims,
        start,
        end: end.max(start),
        inputs: vec![],
        outputs: vec![],
        usage: usage(attrs, start, end),
    }
}

/// The deprecated GenAI events, one message each: `gen_ai.system.message`, `gen_ai.user.message`,
/// `gen_ai.assistant.message`, `gen_ai.tool.message` (sent) and `gen_ai.choice` (received).
/// `None` for other events (whose `body` is never read); `Err` when one of these has no readable
/// body.
pub fn event_message(
    name: &str,
    body: impl FnOnce() -> Value,
) -> Option<Result<(ChatMessage, bool), String>> {
    let (role, output) = match name {
        "gen_ai.system.message" => ("system", false),
        "gen_ai.user.message" => ("user", false),
        "gen_ai.assistant.message" => ("assistant", false),
        "gen_ai.tool.message" => ("tool", false),
        "gen_ai.choice" => ("assistant", true),
        _ => return None,
    };
    let body = match body() {
        Value::String(s) => serde_json::from_str::<Value>(&s).unwrap_or(Value::Null),
        other => other,
    };
    // A choice carries its message under `message`; the others are the message. As span event
    // attributes (which hold no nested objects) the nested parts are JSON strings.
    let message = match body.get("message") {
        Some(Value::String(s)) if output => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(m) if output => m.clone(),
        _ => body,
    };
    let Some(fields) = message.as_object() else {
        return Some(Err(format!("{name} has no message body")));
    };
    let role = fields.get("role").and_then(Value::as_str).unwrap_or(role).to_owned();
    let mut lines: Vec<String> = fields.get("content").map(content_text).into_iter().collect();
    let calls = match fields.get("tool_calls") {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(calls) => calls.clone(),
        None => Value::Null,
    };
    if let Value::Array(calls) = calls {
        lines.extend(calls.iter().map(Value::to_string));
    }
    let content = lines.into_iter().filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n");
    Some(Ok((ChatMessage { role, content }, output)))
}

fn usage(attrs: &Attrs, start: Millis, end: Millis) -> Map<String, Value> {
    let mut m = Map::new();
    let model =
        attrs.first_text(&["gen_ai.response.model", "gen_ai.request.model", "llm.model_name"]);
    if let Some(model) = model {
        m.insert("model".into(), model.into());
    }
    let input = attrs.int(&[
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
    ]);
    if let Some(n) = input {
        m.insert("input_tokens".into(), n.into());
    }
    let output = attrs.int(&[
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ]);
    if let Some(n) = output {
        m.insert("output_tokens".into(), n.into());
    }
    if let Some(reason) = finish_reason(attrs) {
        m.insert("finish_reason".into(), reason.into());
    }
    if end > start {
        m.insert("latency_ms".into(), (end - start).into());
    }
    m
}

fn finish_reason(attrs: &Attrs) -> Option<String> {
    let first = |items: &[Value]| items.iter().find_map(|v| v.as_str().map(str::to_owned));
    let listed = match attrs.get("gen_ai.response.finish_reasons") {
        Some(Value::Array(items)) => first(items),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(items)) => first(&items),
            _ => Some(s.clone()),
        },
        _ => None,
    };
    listed.or_else(|| attrs.text("gen_ai.completion.0.finish_reason"))
}

/// The inputs and outputs, from the first convention that has them.
fn messages(attrs: &Attrs) -> Result<(Vec<ChatMessage>, Vec<ChatMessage>), String> {
    // The current GenAI conventions.
    let mut inputs = vec![];
    if let Some(v) = attrs.own.get("gen_ai.system_instructions") {
        let parts = structured("gen_ai.system_instructions", v)?;
        let content = match &parts {
            Value::Array(items) => parts_text(items),
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        if !content.is_empty() {
            inputs.push(ChatMessage { role: "system".into(), content });
        }
    }
    let current_in = attrs.own.get("gen_ai.input.messages");
    let current_out = attrs.own.get("gen_ai.output.messages");
    if current_in.is_some() || current_out.is_some() {
        if let Some(v) = current_in {
            inputs.extend(genai_messages("gen_ai.input.messages", v)?);
        }
        let outputs = match current_out {
            Some(v) => genai_messages("gen_ai.output.messages", v)?,
            None => vec![],
        };
        return Ok((inputs, outputs));
    }
    // OpenLLMetry: gen_ai.prompt.{i}.role/content, gen_ai.completion.{i}.role/content.
    let prompts = indexed(attrs.own, "gen_ai.prompt.", ".role", ".content");
    let completions = indexed(attrs.own, "gen_ai.completion.", ".role", ".content");
    if !prompts.is_empty() || !completions.is_empty() {
        inputs.extend(prompts);
        return Ok((inputs, completions));
    }
    // OpenInference: llm.input_messages.{i}.message.role/content, llm.output_messages.{i}.…
    let ins = indexed(attrs.own, "llm.input_messages.", ".message.role", ".message.content");
    let outs = indexed(attrs.own, "llm.output_messages.", ".message.role", ".message.content");
    if !ins.is_empty() || !outs.is_empty() {
        inputs.extend(ins);
        return Ok((inputs, outs));
    }
    // OpenInference's plain input.value/output.value, on LLM spans only.
    if attrs.own.get("openinference.span.kind").and_then(Value::as_str) == Some("LLM") {
        let text = |k: &str| attrs.own.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        if let Some(input) = text("input.value") {
            inputs.push(ChatMessage { role: "user".into(), content: input.to_owned() });
        }
        let outputs = text("output.value")
            .map(|o| vec![ChatMessage { role: "assistant".into(), content: o.to_owned() }])
            .unwrap_or_default();
        return Ok((inputs, outputs));
    }
    Ok((inputs, vec![]))
}

/// A value that may be sent as a JSON string or as a structured value.
fn structured(key: &str, v: &Value) -> Result<Value, String> {
    match v {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(parsed @ (Value::Array(_) | Value::Object(_))) => Ok(parsed),
            // A plain string (system instructions may be one).
            _ if key == "gen_ai.system_instructions" => Ok(v.clone()),
            _ => Err(format!("{key} is not a JSON array of messages")),
        },
        other => Ok(other.clone()),
    }
}

/// `[{"role": …, "parts": [{"type": "text", "content": …}, …]}, …]`.
fn genai_messages(key: &str, v: &Value) -> Result<Vec<ChatMessage>, String> {
    let Value::Array(items) = structured(key, v)? else {
        return Err(format!("{key} is not an array of messages"));
    };
    items
        .iter()
        .map(|m| {
            let role = m.get("role").and_then(Value::as_str);
            let role = role.ok_or_else(|| format!("{key}: a message has no role"))?;
            let content = match m.get("parts") {
                Some(Value::Array(parts)) => parts_text(parts),
                // Some instrumentations send `content` directly.
                _ => m.get("content").map(content_text).unwrap_or_default(),
            };
            Ok(ChatMessage { role: role.to_owned(), content })
        })
        .collect()
}

/// A message's parts as text: text parts as they are, other parts (tool calls and their
/// responses, media) as compact JSON, one per line.
fn parts_text(parts: &[Value]) -> String {
    let texts: Vec<String> = parts
        .iter()
        .map(|p| match (p.get("type").and_then(Value::as_str), p.get("content")) {
            (Some("text") | None, Some(Value::String(s))) => s.clone(),
            _ => p.to_string(),
        })
        .collect();
    texts.join("\n")
}

fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts_text(parts),
        other => other.to_string(),
    }
}

/// `{prefix}{i}{role}` / `{prefix}{i}{content}` pairs in index order.
fn indexed(
    own: &BTreeMap<String, Value>,
    prefix: &str,
    role: &str,
    content: &str,
) -> Vec<ChatMessage> {
    let mut by_index: BTreeMap<u32, (Option<String>, Option<String>)> = BTreeMap::new();
    for (k, v) in own.range(prefix.to_owned()..) {
        let Some(rest) = k.strip_prefix(prefix) else { break };
        let Some((index, field)) = rest.split_once('.') else { continue };
        let Ok(i) = index.parse::<u32>() else { continue };
        let field = format!(".{field}");
        let slot = by_index.entry(i).or_default();
        if field == role {
            slot.0 = v.as_str().map(str::to_owned);
        } else if field == content {
            slot.1 = Some(content_text(v));
        }
    }
    by_index
        .into_values()
        .filter_map(|(role, content)| {
            Some(ChatMessage { role: role?, content: content.unwrap_or_default() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> BTreeMap<String, Value> {
        v.as_object().unwrap().clone().into_iter().collect()
    }

    fn call_of(own: Value, resource: Value) -> Result<Option<Call>, String> {
        let (own, resource) = (attrs(own), attrs(resource));
        call(
            &Attrs { own: &own, resource: &resource },
            "0af7651916cd43dd8448eb211c80319c",
            1_000,
            2_500,
        )
    }

    fn m(role: &str, content: &str) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into() }
    }

    #[test]
    fn current_genai_attributes_as_json_strings() {
        let input = json!([
            {"role": "user", "parts": [{"type": "text", "content": "Book a table for 4"}]},
            {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "book", "arguments": {"people": 4}}]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "ok"}]},
        ]);
        let output = json!([{"role": "assistant", "parts": [{"type": "text", "content": "Done!"}], "finish_reason": "stop"}]);
        let c = call_of(
            json!({
                "gen_ai.operation.name": "chat",
                "gen_ai.system_instructions": json!([{"type": "text", "content": "Be brief."}]).to_string(),
                "gen_ai.input.messages": input.to_string(),
                "gen_ai.output.messages": output.to_string(),
                "gen_ai.conversation.id": "conv-1",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 31,
                "gen_ai.usage.output_tokens": "7",
                "gen_ai.response.finish_reasons": ["stop"],
                "user.id": "u-9",
                "confab.channel_type": "web",
            }),
            json!({"service.name": "restaurant-bot"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!((c.bot_id.as_str(), c.conversation_id.as_str()), ("restaurant-bot", "conv-1"));
        assert_eq!(c.user_id.as_deref(), Some("u-9"));
        assert_eq!(c.dims.get("channel_type").map(String::as_str), Some("web"));
        assert_eq!(c.inputs[0], m("system", "Be brief."));
        assert_eq!(c.inputs[1], m("user", "Book a table for 4"));
        assert!(c.inputs[2].content.contains("\"tool_call\""), "{:?}", c.inputs[2]);
        assert_eq!(c.inputs[3].role, "tool");
        assert_eq!(c.outputs, vec![m("assistant", "Done!")]);
        assert_eq!(
            Value::Object(c.usage),
            json!({"model": "gpt-4o-mini", "input_tokens": 31, "output_tokens": 7,
                   "finish_reason": "stop", "latency_ms": 1500})
        );
    }

    #[test]
    fn current_genai_attributes_as_structured_values() {
        let c = call_of(
            json!({
                "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
                "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}],
                "session.id": "s-1",
            }),
            json!({"service.name": "svc", "confab.bot_id": "support"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!((c.bot_id.as_str(), c.conversation_id.as_str()), ("support", "s-1"));
        assert_eq!((c.inputs, c.outputs), (vec![m("user", "hi")], vec![m("assistant", "hello")]));
    }

    #[test]
    fn openllmetry_indexed_attributes() {
        let c = call_of(
            json!({
                "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "You help.",
                "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "first",
                "gen_ai.prompt.10.role": "user", "gen_ai.prompt.10.content": "eleventh",
                "gen_ai.prompt.2.role": "assistant", "gen_ai.prompt.2.content": "ok",
                "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "sure",
                "gen_ai.completion.0.finish_reason": "stop",
                "gen_ai.usage.prompt_tokens": 12, "gen_ai.usage.completion_tokens": 3,
                "traceloop.association.properties.session_id": "tl-1",
                "traceloop.association.properties.user_id": "tl-user",
            }),
            json!({"service.name": "bot"}),
        )
        .unwrap()
        .unwrap();
        let contents: Vec<&str> = c.inputs.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["You help.", "first", "ok", "eleventh"], "numeric order, not text");
        assert_eq!(c.outputs, vec![m("assistant", "sure")]);
        assert_eq!(c.conversation_id, "tl-1");
        assert_eq!(c.user_id.as_deref(), Some("tl-user"));
        assert_eq!(c.usage["input_tokens"], 12);
        assert_eq!(c.usage["finish_reason"], "stop");
    }

    #[test]
    fn openinference_messages_and_values() {
        let c = call_of(
            json!({
                "openinference.span.kind": "LLM",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "What's the weather?",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "Sunny.",
                "llm.model_name": "claude",
                "llm.token_count.prompt": 5, "llm.token_count.completion": 2,
            }),
            json!({"service.name": "weather"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.inputs, vec![m("user", "What's the weather?")]);
        assert_eq!(c.outputs, vec![m("assistant", "Sunny.")]);
        assert_eq!(c.usage["model"], "claude");
        assert_eq!(c.conversation_id, "0af7651916cd43dd8448eb211c80319c", "the trace id");

        let c = call_of(
            json!({"openinference.span.kind": "LLM", "input.value": "q", "output.value": "a"}),
            json!({}),
        )
        .unwrap()
        .unwrap();
        assert_eq!((c.inputs, c.outputs), (vec![m("user", "q")], vec![m("assistant", "a")]));
    }

    #[test]
    fn deprecated_events_are_one_message_each() {
        let user = event_message("gen_ai.user.message", || json!({"content": "hi"}));
        assert_eq!(user.unwrap().unwrap(), (m("user", "hi"), false));
        let system =
            event_message("gen_ai.system.message", || json!(r#"{"content": "Be brief."}"#));
        assert_eq!(system.unwrap().unwrap(), (m("system", "Be brief."), false));
        let choice = event_message(
            "gen_ai.choice",
            || json!({"index": 0, "finish_reason": "stop", "message": {"content": "hello", "role": "assistant"}}),
        );
        assert_eq!(choice.unwrap().unwrap(), (m("assistant", "hello"), true));
        let tool_call = json!({"id": "c1", "type": "function", "function": {"name": "book"}});
        let assistant = event_message(
            "gen_ai.assistant.message",
            || json!({"tool_calls": [tool_call.clone()]}),
        );
        assert_eq!(assistant.unwrap().unwrap().0.content, tool_call.to_string());
        // As span event attributes: nested parts as JSON strings.
        let choice = event_message(
            "gen_ai.choice",
            || json!({"index": 0, "message": r#"{"content": "hello", "role": "assistant"}"#}),
        );
        assert_eq!(choice.unwrap().unwrap(), (m("assistant", "hello"), true));
        let calls = json!([tool_call]).to_string();
        let assistant = event_message("gen_ai.assistant.message", || json!({"tool_calls": calls}));
        assert_eq!(assistant.unwrap().unwrap().0.content, tool_call.to_string());
        assert!(event_message("gen_ai.tool.message", || json!(3)).unwrap().is_err());
        assert!(event_message("http.request", || json!({})).is_none());
    }

    #[test]
    fn other_spans_are_not_calls_and_bad_ones_say_why() {
        let none = call_of(json!({"http.method": "GET", "input.value": "x"}), json!({})).unwrap();
        assert!(none.is_none());
        let embedding = call_of(json!({"gen_ai.operation.name": "embeddings"}), json!({}));
        assert!(embedding.unwrap().is_none());
        let bad = call_of(json!({"gen_ai.input.messages": "not json"}), json!({}));
        assert_eq!(bad.unwrap_err(), "gen_ai.input.messages is not a JSON array of messages");
        let no_role = call_of(json!({"gen_ai.input.messages": [{"parts": []}]}), json!({}));
        assert!(no_role.unwrap_err().contains("no role"));
    }
}
