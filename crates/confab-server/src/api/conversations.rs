//! Reading and erasing conversations: the filtered list, one transcript, and erasure of a
//! conversation or of everything an end user said.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use confab_core::auth::{Caller, Scope};
use confab_core::conversation::{Conversation, ConversationView, Status};
use confab_core::datapoints::values_view;
use confab_core::flow::transitions;
use confab_core::message::check_id;
use confab_core::query::{ConversationFilter, FilterParams, PageParams};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::{self, FlowView, Transcript};
use super::{BotPath, ConversationPath};
use crate::auth::Allow;
use crate::extract::{NoParams, Params, PathParams};
use crate::{ApiError, ApiResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(fetch, erase))
        .routes(routes!(flow))
        .routes(routes!(erase_user))
}

/// A page of conversations, newest first.
#[derive(Serialize, ToSchema)]
struct ConversationPage {
    data: Vec<ConversationView>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// The bot's conversations, filtered and paged.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/conversations", operation_id = "listConversations", tag = "conversations",
    params(BotPath, FilterParams, PageParams),
    responses((status = 200, body = ConversationPage)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<ConversationPage>> {
    caller.bot(Scope::Read, &bot_id)?;
    let (filter, page) = ConversationFilter::from_params(&params)?;
    let page = state.store.list_conversations(caller.team_id, &bot_id, &filter, &page).await?;
    Ok(Json(ConversationPage {
        data: page.items.iter().map(Conversation::view).collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    }))
}

/// One conversation: its transcript, step transitions and datapoints.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/conversations/{conversation_id}", operation_id = "getConversation",
    tag = "conversations", params(ConversationPath),
    responses((status = 200, body = Transcript)))]
async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, conversation_id)): PathParams<(String, String)>,
    _: NoParams,
) -> ApiResult<Json<Transcript>> {
    caller.bot(Scope::Read, &bot_id)?;
    check_id("conversation_id", &conversation_id)?;
    let (conv, messages) =
        state.store.get_conversation(caller.team_id, &bot_id, &conversation_id).await?;
    let (status, values) =
        state.store.conversation_datapoints(caller.team_id, &bot_id, &conversation_id).await?;
    Ok(Json(Transcript {
        conversation: conv.view(),
        messages: messages.iter().map(views::message).collect(),
        flow: transitions(&messages),
        datapoints: values_view(&values, status == Status::Ended),
    }))
}

/// The conversation's step transitions, or only those a message made (`message_id`).
#[utoipa::path(get, path = "/v1/bots/{bot_id}/conversations/{conversation_id}/flow", operation_id = "getConversationFlow",
    tag = "conversations",
    params(ConversationPath, ("message_id" = Option<String>, Query, description = "Only the transition this message made")),
    responses((status = 200, body = FlowView)))]
async fn flow(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, conversation_id)): PathParams<(String, String)>,
    Params(params): Params,
) -> ApiResult<Json<FlowView>> {
    caller.bot(Scope::Read, &bot_id)?;
    check_id("conversation_id", &conversation_id)?;
    let mut message_id = None;
    for (k, v) in &params {
        match k.as_str() {
            "message_id" => {
                check_id("message_id", v)?;
                message_id = Some(v.as_str());
            }
            _ => return Err(ApiError::invalid(k.clone(), "unknown query parameter")),
        }
    }
    let (conv, messages) =
        state.store.get_conversation(caller.team_id, &bot_id, &conversation_id).await?;
    Ok(Json(views::flow(&conv, &messages, message_id)))
}

/// Erases the conversation: its messages, datapoints and counts (`admin`).
#[utoipa::path(delete, path = "/v1/bots/{bot_id}/conversations/{conversation_id}", operation_id = "deleteConversation",
    tag = "conversations", params(ConversationPath),
    responses((status = 204, description = "Erased")))]
async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, conversation_id)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.bot(Scope::Admin, &bot_id)?;
    check_id("conversation_id", &conversation_id)?;
    state.store.delete_conversation(caller.team_id, &bot_id, &conversation_id).await?;
    crate::observe::record_deleted("erasure", 1);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct Erased {
    deleted_conversations: u64,
}

/// Erases every conversation of one end user of the bot (`admin`).
#[utoipa::path(delete, path = "/v1/bots/{bot_id}/users/{user_id}", operation_id = "deleteUser", tag = "conversations",
    params(BotPath, ("user_id" = String, Path, description = "The end user's id, as messages gave it")),
    responses((status = 200, body = Erased)))]
async fn erase_user(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, user_id)): PathParams<(String, String)>,
) -> ApiResult<Json<Erased>> {
    caller.bot(Scope::Admin, &bot_id)?;
    check_id("user_id", &user_id)?;
    let n = state.store.delete_user(caller.team_id, &bot_id, &user_id).await?;
    crate::observe::record_deleted("erasure", n);
    Ok(Json(Erased { deleted_conversations: n }))
}
