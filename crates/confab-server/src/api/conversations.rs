//! Reading and erasing conversations: the filtered list, one transcript, and erasure of a
//! conversation or of everything an end user said.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use confab_core::auth::{Caller, Scope};
use confab_core::conversation::Status;
use confab_core::datapoints::values_json;
use confab_core::flow::transitions;
use confab_core::message::check_id;
use confab_core::query::ConversationFilter;
use serde_json::{Value, json};

use super::views;
use crate::auth::Allow;
use crate::extract::{NoParams, Params, PathParams};
use crate::{ApiError, ApiResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/bots/{bot_id}/conversations", get(list))
        .route("/v1/bots/{bot_id}/conversations/{conversation_id}", get(fetch).delete(erase))
        .route("/v1/bots/{bot_id}/conversations/{conversation_id}/flow", get(flow))
        .route("/v1/bots/{bot_id}/users/{user_id}", delete(erase_user))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<Value>> {
    caller.bot(Scope::Read, &bot_id)?;
    let (filter, page) = ConversationFilter::from_params(&params)?;
    let page = state.store.list_conversations(caller.team_id, &bot_id, &filter, &page).await?;
    Ok(Json(json!({
        "data": page.items.iter().map(views::conversation).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor.map(|c| c.encode()),
    })))
}

async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, conversation_id)): PathParams<(String, String)>,
    _: NoParams,
) -> ApiResult<Json<Value>> {
    caller.bot(Scope::Read, &bot_id)?;
    check_id("conversation_id", &conversation_id)?;
    let (conv, messages) =
        state.store.get_conversation(caller.team_id, &bot_id, &conversation_id).await?;
    let mut body = views::conversation(&conv);
    body["messages"] = messages.iter().map(views::message).collect();
    body["flow"] = transitions(&messages).iter().map(views::transition).collect();
    let (status, values) =
        state.store.conversation_datapoints(caller.team_id, &bot_id, &conversation_id).await?;
    body["datapoints"] = values_json(&values, status == Status::Ended);
    Ok(Json(body))
}

/// The conversation's step transitions, or only those a message made (`message_id`).
async fn flow(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, conversation_id)): PathParams<(String, String)>,
    Params(params): Params,
) -> ApiResult<Json<Value>> {
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

async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, conversation_id)): PathParams<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.bot(Scope::Admin, &bot_id)?;
    check_id("conversation_id", &conversation_id)?;
    state.store.delete_conversation(caller.team_id, &bot_id, &conversation_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn erase_user(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, user_id)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.bot(Scope::Admin, &bot_id)?;
    check_id("user_id", &user_id)?;
    let n = state.store.delete_user(caller.team_id, &bot_id, &user_id).await?;
    Ok(Json(json!({ "deleted_conversations": n })))
}
