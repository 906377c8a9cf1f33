//! Chatzuri's "Get Conversations" (`GET`/`POST /api/v1/get-conversations`), seed `002`.
//! Parameters come from the query string, a JSON body, or both (the body wins a tie); numbers
//! may be sent as the seed's strings or as JSON numbers. See `docs/compat.md`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use confab_core::auth::{Caller, Scope};
use confab_core::conversation::Conversation;
use confab_core::message::{Role, check_id};
use confab_core::query::parse_limit;
use confab_core::summary::Dim;
use confab_core::time::{DAY, date_start_utc, format_rfc3339, parse_date_strict};
use confab_store::{BotSelector, ChannelMatch, OffsetFilter};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Allow;
use crate::extract::{Params, parse_json};
use crate::{ApiError, ApiResult, AppState};

const DEFAULT_SIZE: u32 = 10;
const MAX_SIZE: u32 = 100;
const PARAMS: [&str; 6] = ["chatbotId", "filteredSources", "startDate", "endDate", "page", "size"];

/// Chatzuri's source names and the channel types that read as each. The first is the one a
/// bot should send; the others are common aliases.
const SOURCES: [(&str, &[&str]); 7] = [
    ("API", &["api"]),
    ("Chatzuri site", &["chatzuri_site"]),
    ("Instagram", &["instagram"]),
    ("Messenger", &["messenger", "facebook"]),
    ("Slack", &["slack"]),
    ("WhatsApp", &["whatsapp"]),
    ("Widget or Iframe", &["widget", "iframe", "web"]),
];
const UNSPECIFIED: &str = "Unspecified";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_conversations_get, get_conversations_post))
}

/// The request body (each field may also be a query parameter).
#[derive(serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct ConversationsRequest {
    /// The chatbot's id.
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    chatbot_id: String,
    /// Comma-separated source names (`WhatsApp,Widget or Iframe,Unspecified`).
    filtered_sources: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    #[schema(format = Date)]
    start_date: Option<String>,
    /// `YYYY-MM-DD`, inclusive; not before `startDate`.
    #[schema(format = Date)]
    end_date: Option<String>,
    /// The page, from 1, as text (the seed's) or a number.
    #[schema(schema_with = page_schema)]
    page: Option<Value>,
    /// Conversations per page, 1 to 100 (default 10), as text (the seed's) or a number.
    #[schema(schema_with = size_schema)]
    size: Option<Value>,
}

/// A positive integer up to `max`, as a JSON number or its decimal text.
fn text_or_integer(pattern: &str, max: f64) -> Schema {
    let text = ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern));
    let number =
        ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(max));
    OneOfBuilder::new().item(text).item(number).build().into()
}

fn page_schema() -> Schema {
    text_or_integer("^[1-9][0-9]{0,8}$", 999_999_999.0)
}

fn size_schema() -> Schema {
    text_or_integer("^([1-9]|[1-9][0-9]|100)$", 100.0)
}

#[derive(Serialize, ToSchema)]
struct Conversations {
    data: Vec<ChatzuriConversation>,
}

#[derive(Serialize, ToSchema)]
struct ChatzuriConversation {
    id: String,
    created_at: String,
    messages: Vec<ChatzuriMessage>,
    chatbot_id: String,
    customer: String,
    /// The source name the conversation's channel reads as.
    source: &'static str,
}

#[derive(Serialize, ToSchema)]
struct ChatzuriMessage {
    /// `user`, `assistant`, `agent` or `system`.
    role: &'static str,
    content: String,
}

/// Get Conversations, with the parameters in the query string.
#[utoipa::path(get, path = "/api/v1/get-conversations", operation_id = "getConversations", tag = "chatzuri",
    params(
        ("chatbotId" = String, Query, min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "The chatbot's id"),
        ("filteredSources" = Option<String>, Query, description = "Comma-separated source names"),
        ("startDate" = Option<String>, Query, format = Date, description = "YYYY-MM-DD, inclusive"),
        ("endDate" = Option<String>, Query, format = Date, description = "YYYY-MM-DD, inclusive"),
        ("page" = Option<u32>, Query, minimum = 1, description = "The page, from 1"),
        ("size" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Conversations per page (default 10)")),
    responses((status = 200, body = Conversations)))]
async fn get_conversations_get(
    state: State<AppState>,
    caller: Caller,
    query: Params,
    body: Bytes,
) -> ApiResult<Json<Conversations>> {
    get_conversations(state, caller, query, body).await
}

/// Get Conversations, with the parameters in a JSON body.
#[utoipa::path(post, path = "/api/v1/get-conversations", operation_id = "postGetConversations", tag = "chatzuri",
    request_body = ConversationsRequest, responses((status = 200, body = Conversations)))]
async fn get_conversations_post(
    state: State<AppState>,
    caller: Caller,
    query: Params,
    body: Bytes,
) -> ApiResult<Json<Conversations>> {
    get_conversations(state, caller, query, body).await
}

fn known_channels() -> Vec<String> {
    SOURCES.iter().flat_map(|(_, chans)| chans.iter().map(|c| (*c).to_owned())).collect()
}

/// The source name a channel type is shown as.
fn source_of(channel: Option<&str>) -> &'static str {
    channel
        .and_then(|ch| SOURCES.iter().find(|(_, chans)| chans.contains(&ch)))
        .map_or(UNSPECIFIED, |(name, _)| name)
}

fn parse_sources(v: &str) -> Result<ChannelMatch, ApiError> {
    let mut m = ChannelMatch::default();
    for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if name.eq_ignore_ascii_case(UNSPECIFIED) {
            m.or_none_of = Some(known_channels());
        } else if let Some((_, chans)) = SOURCES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            m.any_of.extend(chans.iter().map(|c| (*c).to_owned()));
        } else {
            return Err(ApiError::invalid(
                "filteredSources",
                format!(
                    "unknown source `{name}`: use API, Chatzuri site, Instagram, Messenger, Slack, Unspecified, WhatsApp or Widget or Iframe"
                ),
            ));
        }
    }
    Ok(m)
}

/// Merges query-string and body parameters into one list of `(name, text)`.
fn collect_params(
    query: Vec<(String, String)>,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut params = query;
    if !body.iter().all(u8::is_ascii_whitespace) {
        let obj: serde_json::Map<String, Value> = parse_json(body)?;
        for (k, v) in obj {
            let text = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Null => continue,
                _ => return Err(ApiError::invalid(k, "must be a string")),
            };
            params.retain(|(name, _)| *name != k);
            params.push((k, text));
        }
    }
    for (k, _) in &params {
        if !PARAMS.contains(&k.as_str()) {
            return Err(ApiError::invalid(k.clone(), "unknown parameter"));
        }
    }
    Ok(params)
}

async fn get_conversations(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params,
    body: Bytes,
) -> ApiResult<Json<Conversations>> {
    let params = collect_params(query, &body)?;
    let get = |k: &str| params.iter().rev().find(|(name, _)| name == k).map(|(_, v)| v.as_str());
    let bot_id = get("chatbotId").ok_or_else(|| ApiError::invalid("chatbotId", "is required"))?;
    check_id("chatbotId", bot_id)?;
    caller.bot(Scope::Read, bot_id)?;
    let mut filter = OffsetFilter::default();
    if let Some(v) = get("filteredSources") {
        filter.channels =
            Some(parse_sources(v)?).filter(|m| !m.any_of.is_empty() || m.or_none_of.is_some());
    }
    let start = get("startDate").map(|v| parse_date_strict("startDate", v)).transpose()?;
    let end = get("endDate").map(|v| parse_date_strict("endDate", v)).transpose()?;
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        return Err(ApiError::invalid("endDate", "must not be before startDate"));
    }
    filter.from = start.map(date_start_utc);
    // The end date is inclusive: the whole of that day counts.
    filter.to = end.map(|d| date_start_utc(d) + DAY);
    let page = get("page").map_or(Ok(1), |v| parse_limit("page", v, u32::MAX))?;
    let size = get("size").map_or(Ok(DEFAULT_SIZE), |v| parse_limit("size", v, MAX_SIZE))?;
    let offset = u64::from(page - 1) * u64::from(size);
    let (convs, _) = state
        .store
        .list_conversations_offset(
            caller.team_id,
            &BotSelector::One(bot_id.to_owned()),
            &filter,
            offset,
            size,
            false,
        )
        .await?;
    let pks: Vec<i64> = convs.iter().map(|c| c.pk).collect();
    let mut transcripts: std::collections::HashMap<i64, _> =
        state.store.transcripts(caller.team_id, &pks).await?.into_iter().collect();
    let data = convs
        .iter()
        .map(|c| {
            let messages = transcripts.remove(&c.pk).unwrap_or_default();
            let messages = messages
                .into_iter()
                .map(|m| ChatzuriMessage { role: role_name(m.role), content: m.content })
                .collect();
            view(c, messages)
        })
        .collect();
    Ok(Json(Conversations { data }))
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::User => "user",
        Role::Bot => "assistant",
        Role::Agent => "agent",
        Role::System => "system",
    }
}

fn view(c: &Conversation, messages: Vec<ChatzuriMessage>) -> ChatzuriConversation {
    ChatzuriConversation {
        id: c.conversation_id.clone(),
        created_at: format_rfc3339(c.summary.started_at),
        messages,
        chatbot_id: c.bot_id.clone(),
        customer: c.summary.dim(Dim::UserId).unwrap_or_default().to_owned(),
        source: source_of(c.summary.dim(Dim::ChannelType)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_map_both_ways() {
        for (name, chans) in SOURCES {
            for ch in chans {
                assert_eq!(source_of(Some(ch)), name);
            }
            assert_eq!(parse_sources(name).unwrap().any_of, chans.to_vec());
        }
        assert_eq!(source_of(None), UNSPECIFIED);
        assert_eq!(source_of(Some("telegram")), UNSPECIFIED);
        let m = parse_sources("whatsapp, Unspecified").unwrap();
        assert_eq!(m.any_of, ["whatsapp"]);
        assert!(m.or_none_of.unwrap().contains(&"web".to_owned()));
        assert!(parse_sources("Telegram").is_err());
    }
}
