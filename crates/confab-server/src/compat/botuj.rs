//! Botuj.pl's conversation list (`GET /v1/api/conversations`), seed `003`: every conversation the
//! key may see, newest first, page-numbered. See `docs/compat.md`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use confab_core::auth::{Caller, Scope};
use confab_core::conversation::Conversation;
use confab_core::query::parse_limit;
use confab_core::summary::Dim;
use confab_core::time::format_rfc3339_micros;
use confab_store::{BotSelector, OffsetFilter};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Allow;
use crate::extract::Params;
use crate::{ApiError, ApiResult, AppState};

const DEFAULT_PER_PAGE: u32 = 20;
const MAX_PER_PAGE: u32 = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// One conversation as Botuj lists it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct BotujConversation {
    id: i64,
    r#type: Option<String>,
    /// Messages in the conversation.
    count: i64,
    #[serde(rename = "sessionid")]
    session_id: String,
    first_user_message: Option<String>,
    /// The bot's first message as a JSON string (`{"message": …}`).
    first_bot_message: Option<String>,
    /// When it started, RFC 3339 with microseconds.
    created_on: String,
}

/// Every conversation the key may see, newest first, page by page.
#[utoipa::path(get, path = "/v1/api/conversations", operation_id = "listConversations", tag = "botuj",
    params(
        ("page" = Option<u32>, Query, minimum = 1, description = "The page, from 1"),
        ("per_page" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Conversations per page (default 20)")),
    responses((status = 200, body = Vec<BotujConversation>, headers(
        ("X-Total-Count" = u64, description = "Conversations in all pages"),
        ("X-Page" = u32, description = "This page"),
        ("X-Per-Page" = u32, description = "Conversations per page")))))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params,
) -> ApiResult<(HeaderMap, Json<Vec<BotujConversation>>)> {
    caller.require(Scope::Read)?;
    let mut page = 1;
    let mut per_page = DEFAULT_PER_PAGE;
    for (k, v) in &params {
        match k.as_str() {
            "page" => page = parse_limit("page", v, u32::MAX)?,
            "per_page" => per_page = parse_limit("per_page", v, MAX_PER_PAGE)?,
            _ => {
                return Err(ApiError::invalid(
                    k.clone(),
                    "unknown query parameter: use page and per_page",
                ));
            }
        }
    }
    let offset = u64::from(page - 1) * u64::from(per_page);
    let bots = BotSelector::Team(caller.bots.clone());
    let (convs, total) = state
        .store
        .list_conversations_offset(
            caller.team_id,
            &bots,
            &OffsetFilter::default(),
            offset,
            per_page,
            true,
        )
        .await?;
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    if let Some(total) = total {
        put("x-total-count", total.to_string());
    }
    put("x-page", page.to_string());
    put("x-per-page", per_page.to_string());
    Ok((headers, Json(convs.iter().map(view).collect())))
}

/// Botuj sends the bot's first message as a JSON string: kept as it is when it already is a JSON
/// object, otherwise wrapped as `{"message": …}`.
fn first_bot_message(content: &str) -> String {
    match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(_)) => content.to_owned(),
        _ => json!({ "message": content }).to_string(),
    }
}

fn view(c: &Conversation) -> BotujConversation {
    let s = &c.summary;
    BotujConversation {
        id: c.pk,
        r#type: s.dim(Dim::Type).map(str::to_owned),
        count: s.message_count(),
        session_id: s.dim(Dim::SessionId).unwrap_or(&c.conversation_id).to_owned(),
        first_user_message: s.first_user_message.clone(),
        first_bot_message: s.first_bot_message.as_deref().map(first_bot_message),
        created_on: format_rfc3339_micros(s.started_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_message_is_a_json_string() {
        assert_eq!(
            first_bot_message("Hej! W czym moge Ci dzisiaj pomoc"),
            r#"{"message":"Hej! W czym moge Ci dzisiaj pomoc"}"#
        );
        assert_eq!(first_bot_message(r#"{"message":"Hej"}"#), r#"{"message":"Hej"}"#);
        assert_eq!(first_bot_message("42"), r#"{"message":"42"}"#);
    }
}
