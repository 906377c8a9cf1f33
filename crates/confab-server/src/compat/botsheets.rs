//! Botsheets' "Get Datapoints Collected" (`POST`/`GET /api/v0/conversations/datapoints`), seed
//! `000`. The seed documents GET with a JSON body and shows POST (its curl sends the JSON as a
//! form body); every form is taken, and GET also reads the query string. The seed's own example
//! body has a trailing comma, so one before a closing brace is forgiven. Values are provisional
//! while the conversation is active and final once the finaliser has ended it, as the seed
//! describes. See `docs/compat.md`.

use axum::body::Bytes;
use axum::extract::State;
use std::collections::BTreeMap;

use axum::Json;
use confab_core::auth::{Caller, Scope};
use confab_core::extract::display;
use confab_core::message::check_id;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Allow;
use crate::extract::{Params, parse_json};
use crate::{ApiError, ApiResult, AppState};

const PARAMS: [&str; 2] = ["conversationId", "botId"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(datapoints_get, datapoints_post))
}

/// The request body (the seed's; each field may also be a query parameter).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct DatapointsRequest {
    /// The conversation's unique id.
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    conversation_id: String,
    /// The bot's id.
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    bot_id: String,
}

/// The datapoints collected: each key's value as text.
#[derive(Serialize, ToSchema)]
struct Datapoints {
    datapoints: BTreeMap<String, String>,
}

/// Get Datapoints Collected, with the ids in the query string (or a JSON body, as the seed shows).
#[utoipa::path(get, path = "/api/v0/conversations/datapoints", operation_id = "getDatapointsCollected", tag = "botsheets",
    params(
        ("conversationId" = String, Query, min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "The conversation's unique id"),
        ("botId" = String, Query, min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "The bot's id")),
    responses((status = 200, body = Datapoints)))]
async fn datapoints_get(
    state: State<AppState>,
    caller: Caller,
    query: Params,
    body: Bytes,
) -> ApiResult<Json<Datapoints>> {
    datapoints(state, caller, query, body).await
}

/// Get Datapoints Collected, with the ids in a JSON body.
#[utoipa::path(post, path = "/api/v0/conversations/datapoints", operation_id = "postDatapointsCollected", tag = "botsheets",
    request_body = DatapointsRequest, responses((status = 200, body = Datapoints)))]
async fn datapoints_post(
    state: State<AppState>,
    caller: Caller,
    query: Params,
    body: Bytes,
) -> ApiResult<Json<Datapoints>> {
    datapoints(state, caller, query, body).await
}

/// Removes commas that stand right before a closing brace or bracket, outside strings.
fn forgive_trailing_commas(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let (mut in_string, mut escaped) = (false, false);
    for (i, &b) in body.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b',' {
            let next = body[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
            if matches!(next, Some(b'}' | b']')) {
                continue;
            }
        }
        out.push(b);
    }
    out
}

async fn datapoints(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params,
    body: Bytes,
) -> ApiResult<Json<Datapoints>> {
    let mut params: Vec<(String, String)> = query;
    if !body.iter().all(u8::is_ascii_whitespace) {
        let obj: Map<String, Value> = parse_json(&forgive_trailing_commas(&body))?;
        for (k, v) in obj {
            let Value::String(text) = v else {
                return Err(ApiError::invalid(k, "must be a string"));
            };
            params.retain(|(name, _)| *name != k);
            params.push((k, text));
        }
    }
    if let Some((k, _)) = params.iter().find(|(k, _)| !PARAMS.contains(&k.as_str())) {
        return Err(ApiError::invalid(k.clone(), "unknown parameter"));
    }
    let get = |k: &str| params.iter().rev().find(|(name, _)| name == k).map(|(_, v)| v.as_str());
    let missing: Vec<&str> = PARAMS.into_iter().filter(|k| get(k).is_none()).collect();
    if !missing.is_empty() {
        return Err(ApiError::invalid(missing.join(","), "is required"));
    }
    let (conversation_id, bot_id) =
        (get("conversationId").unwrap_or_default(), get("botId").unwrap_or_default());
    check_id("conversationId", conversation_id)?;
    check_id("botId", bot_id)?;
    caller.bot(Scope::Read, bot_id)?;
    let (_, values) =
        state.store.conversation_datapoints(caller.team_id, bot_id, conversation_id).await?;
    let datapoints = values.iter().map(|d| (d.key.clone(), display(&d.value))).collect();
    Ok(Json(Datapoints { datapoints }))
}

#[cfg(test)]
mod tests {
    use super::forgive_trailing_commas;

    #[test]
    fn trailing_commas_outside_strings_are_forgiven() {
        let fixed = forgive_trailing_commas(br#"{"a": "x,}", "b": [1, 2,], }"#);
        assert_eq!(String::from_utf8(fixed).unwrap(), r#"{"a": "x,}", "b": [1, 2] }"#);
    }
}
