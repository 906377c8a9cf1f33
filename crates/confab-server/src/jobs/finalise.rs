//! The finaliser: conversations idle past their bot's inactivity timeout get a full-transcript
//! extraction (rules, then the optional LLM pass), status `ended` and their events. One round
//! is [`finalise_idle_once`]; the store's compare-and-set makes each idle period end once, even
//! with several finalisers racing.

use std::collections::HashMap;
use std::time::Duration;

use confab_core::datapoints::{Kind, Method, NewDatapoint, Schema};
use confab_core::extract::{self, Context, Turn};
use confab_core::time::Millis;
use confab_store::{IdleConversation, Result, Store};
use serde_json::{Map, Value, json};

/// Conversations taken per round.
const BATCH: u32 = 200;
/// How long a round keeps the conversations it took from other finalisers: longer than a
/// round takes (the LLM pass is bounded by its timeout), and past it a crashed finaliser's
/// conversations are taken again.
const LEASE_MS: Millis = 5 * 60_000;

/// An OpenAI-compatible chat-completions endpoint asked to fill the schema at finalisation.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Base URL, e.g. `http://127.0.0.1:8080/v1`; `/chat/completions` is appended.
    pub endpoint: String,
    pub model: String,
    pub api_key: Option<String>,
    /// The longest wait for an answer; past it the rule values stand.
    pub timeout: Duration,
}

/// The LLM pass with its HTTP client: redirects are not followed, and unless
/// `allow_private_targets` only public addresses are reached ([`crate::outbound`]) — an
/// endpoint on the operator's own network needs the operator's `--allow-private-targets`.
pub struct Llm {
    config: LlmConfig,
    client: reqwest::Client,
    allow_private_targets: bool,
}

impl Llm {
    pub fn new(config: LlmConfig, allow_private_targets: bool) -> Llm {
        let client = crate::outbound::client_builder(allow_private_targets)
            .timeout(config.timeout)
            .build()
            .expect("the LLM client's settings are valid");
        Llm { config, client, allow_private_targets }
    }
}

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FinaliseOutcome {
    /// Conversations this round ended.
    pub finalised: u32,
    /// Idle conversations another finaliser ended first, or that got a message meanwhile.
    pub skipped: u32,
}

/// Finalises the conversations idle at `now`.
pub async fn finalise_idle_once(
    store: &dyn Store,
    llm: Option<&Llm>,
    now: Millis,
) -> Result<FinaliseOutcome> {
    let idle = store.idle_conversations(now, now + LEASE_MS, BATCH).await?;
    // Schemas are compiled once per bot per round.
    let mut schemas: HashMap<(i64, String), Option<(Schema, Context)>> = HashMap::new();
    let mut ends = Vec::with_capacity(idle.len());
    for conv in &idle {
        let prepared = schemas
            .entry((conv.team_id, conv.bot_id.clone()))
            .or_insert_with(|| prepare(conv))
            .as_ref();
        let values = match prepared {
            Some((schema, ctx)) => final_values(schema, ctx, conv, llm).await,
            None => vec![],
        };
        ends.push(store.finalise(conv.pk, conv.last_message_at, conv.message_count, values, now));
    }
    // Sent together, the writes share the store's group commit (SQLite) instead of one fsync
    // each; bounded by the store, so that a pool of database connections (PostgreSQL) is not
    // drained by one round while requests wait.
    use futures_util::StreamExt;
    let mut outcome = FinaliseOutcome::default();
    let mut ends = futures_util::stream::iter(ends).buffer_unordered(store.writes_at_once());
    while let Some(ended) = ends.next().await {
        if ended? {
            outcome.finalised += 1;
        } else {
            outcome.skipped += 1;
        }
    }
    metrics::counter!("confab_conversations_finalised_total").increment(outcome.finalised.into());
    Ok(outcome)
}

/// The bot's schema and extraction context; `None` when it has no schema (or a stored one no
/// longer validates, which is logged: the conversation still ends).
fn prepare(conv: &IdleConversation) -> Option<(Schema, Context)> {
    let schema = conv.schema.clone()?;
    let checked = schema.validate().and_then(|s| Ok((s, conv.settings.context()?)));
    match checked {
        Ok((s, c)) if !s.definitions.is_empty() => Some((s, c)),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(bot = %conv.bot_id, error = %e, "stored datapoint schema is invalid");
            None
        }
    }
}

async fn final_values(
    schema: &Schema,
    ctx: &Context,
    conv: &IdleConversation,
    llm: Option<&Llm>,
) -> Vec<NewDatapoint> {
    let turns: Vec<Turn> = conv
        .messages
        .iter()
        .map(|m| Turn { role: m.role, text: &m.content, at: m.timestamp })
        .collect();
    let found = extract::extract(schema, &turns, ctx);
    let mut values: Vec<NewDatapoint> = found
        .into_iter()
        .map(|(key, f)| NewDatapoint {
            key,
            value: f.value,
            method: Method::Rule,
            evidence: Some(f.evidence),
            message_pk: conv.messages.get(f.turn).map(|m| m.pk),
        })
        .collect();
    if let Some(llm) = llm {
        match ask_llm(llm, schema, conv).await {
            Ok(proposed) => merge_llm(schema, ctx, conv.last_message_at, &mut values, proposed),
            // The endpoint being down or slow never holds a conversation open.
            Err(e) => tracing::warn!(conversation = conv.pk, error = %e, "LLM pass skipped"),
        }
    }
    values
}

/// Keeps a proposed value only if the type's parser accepts it. It fills keys the rules left
/// empty and replaces rule values of the loosely-typed kinds (a name, a free text, a date read
/// from prose), but never a rule value of a kind that identifies itself — a valid email, phone
/// or URL found in the transcript is evidence an LLM guess does not outweigh.
fn merge_llm(
    schema: &Schema,
    ctx: &Context,
    at: Millis,
    values: &mut Vec<NewDatapoint>,
    proposed: Map<String, Value>,
) {
    for def in &schema.definitions {
        let Some(raw) = proposed.get(&def.key).filter(|v| !v.is_null()) else { continue };
        let Some(value) = extract::parse_value(def, raw, ctx, at) else {
            tracing::debug!(key = %def.key, "LLM value refused by the type's parser");
            continue;
        };
        let strong = matches!(def.kind, Kind::Email | Kind::Phone | Kind::Url | Kind::Regex);
        match values.iter_mut().find(|v| v.key == def.key) {
            Some(_) if strong => {}
            Some(existing) => {
                if existing.value != value {
                    *existing = NewDatapoint {
                        key: def.key.clone(),
                        value,
                        method: Method::Llm,
                        evidence: None,
                        message_pk: None,
                    };
                }
            }
            None => values.push(NewDatapoint {
                key: def.key.clone(),
                value,
                method: Method::Llm,
                evidence: None,
                message_pk: None,
            }),
        }
    }
}

/// JSON-schema output: each key a string (or number for numbers and amounts) or null.
fn response_schema(schema: &Schema) -> Value {
    let mut properties = Map::new();
    for d in &schema.definitions {
        let ty = match d.kind {
            Kind::Number | Kind::Money => json!(["number", "string", "null"]),
            _ => json!(["string", "null"]),
        };
        let mut p = json!({ "type": ty, "description": describe(d.kind) });
        if d.kind == Kind::Choice {
            let mut allowed: Vec<Value> = d.values.iter().map(|v| json!(v)).collect();
            allowed.push(Value::Null);
            p["enum"] = Value::Array(allowed);
        }
        properties.insert(d.key.clone(), p);
    }
    let keys: Vec<&str> = schema.definitions.iter().map(|d| d.key.as_str()).collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": keys,
        "additionalProperties": false,
    })
}

fn describe(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "free text the user gave",
        Kind::Email => "an email address",
        Kind::Phone => "a phone number, with country code if known",
        Kind::Number => "a number",
        Kind::Money => "an amount with its currency, e.g. \"120 EUR\"",
        Kind::Date => "a calendar date, YYYY-MM-DD",
        Kind::Time => "a time of day, HH:MM (24h)",
        Kind::Datetime => "a date and time, YYYY-MM-DD HH:MM",
        Kind::Url => "a web address",
        Kind::Name => "the user's name",
        Kind::Choice => "one of the allowed values",
        Kind::Regex => "the value exactly as the user wrote it",
    }
}

async fn ask_llm(
    llm: &Llm,
    schema: &Schema,
    conv: &IdleConversation,
) -> std::result::Result<Map<String, Value>, String> {
    let mut transcript = String::new();
    for m in &conv.messages {
        transcript.push_str(m.role.as_str());
        transcript.push_str(": ");
        transcript.push_str(&m.content);
        transcript.push('\n');
    }
    let body = json!({
        "model": llm.config.model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "You extract the facts a user gave a chatbot. Fill each field only with what the USER said in the transcript (never the bot's own details); use null when the user did not give it. Later corrections replace earlier values."},
            {"role": "user", "content": transcript},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "datapoints", "strict": true, "schema": response_schema(schema)},
        },
    });
    let url = format!("{}/chat/completions", llm.config.endpoint.trim_end_matches('/'));
    crate::outbound::check_url(&url, llm.allow_private_targets).map_err(|e| e.to_string())?;
    let mut req = llm.client.post(url).json(&body);
    if let Some(key) = &llm.config.api_key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.map_err(|e| match crate::outbound::Refused::find(&e) {
        Some(refused) => refused.to_string(),
        None => e.to_string(),
    })?;
    if !resp.status().is_success() {
        return Err(format!("status {}", resp.status()));
    }
    let answer: Value = resp.json().await.map_err(|e| e.to_string())?;
    let content = answer["choices"][0]["message"]["content"]
        .as_str()
        .ok_or("no message content in the answer")?;
    match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err("the answer is not a JSON object".into()),
    }
}
