//! Botsheets' "Get Datapoints Collected" (`POST`/`GET /api/v0/conversations/datapoints`), seed
//! `000`. The seed documents GET with a JSON body and shows POST (its curl sends the JSON as a
//! form body); every form is taken, and GET also reads the query string. The seed's own example
//! body has a trailing comma, so one before a closing brace is forgiven. Values are provisional
//! while the conversation is active and final once the finaliser has ended it, as the seed
//! describes. See `docs/compat.md`.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use confab_core::auth::{Caller, Scope};
use confab_core::extract::display;
use confab_core::message::check_id;
use serde_json::{Map, Value, json};

use crate::auth::Allow;
use crate::extract::{Params, parse_json};
use crate::{ApiError, ApiResult, AppState};

const PARAMS: [&str; 2] = ["conversationId", "botId"];

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v0/conversations/datapoints", get(datapoints).post(datapoints))
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
) -> ApiResult<Json<Value>> {
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
    let map: Map<String, Value> =
        values.iter().map(|d| (d.key.clone(), Value::String(display(&d.value)))).collect();
    Ok(Json(json!({ "datapoints": map })))
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
