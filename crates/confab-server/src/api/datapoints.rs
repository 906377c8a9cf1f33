//! A bot's datapoints: its schema (`GET|PUT /v1/bots/{bot_id}/datapoints/schema`), its settings
//! (`GET|PUT /v1/bots/{bot_id}/settings`: inactivity timeout, phone region, time zone) and one
//! conversation's values (`GET|PUT /v1/bots/{bot_id}/conversations/{id}/datapoints`). Whatever
//! is refused changes nothing.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use confab_core::auth::{Caller, Scope};
use confab_core::bot::BotSettings;
use confab_core::conversation::Status;
use confab_core::datapoints::{Datapoint, SchemaInput, values_json};
use confab_core::extract;
use confab_core::message::check_id;
use confab_core::time::now_millis;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::Allow;
use crate::extract::{JsonBody, NoParams, PathParams};
use crate::{ApiError, ApiResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/bots/{bot_id}/datapoints/schema", get(fetch).put(replace))
        .route("/v1/bots/{bot_id}/settings", get(settings).put(put_settings))
        .route(
            "/v1/bots/{bot_id}/conversations/{conversation_id}/datapoints",
            get(values).put(put_values),
        )
}

async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    _: NoParams,
) -> ApiResult<Json<SchemaInput>> {
    caller.bot(Scope::Read, &bot_id)?;
    let schema = state.store.datapoint_schema(caller.team_id, &bot_id).await?;
    Ok(Json(schema.unwrap_or(SchemaInput { datapoints: vec![] })))
}

async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    _: NoParams,
    JsonBody(input): JsonBody<SchemaInput>,
) -> ApiResult<Json<SchemaInput>> {
    caller.bot(Scope::Admin, &bot_id)?;
    let schema = input.validate()?;
    state
        .store
        .put_datapoint_schema(caller.team_id, &bot_id, state.config.create_bots, &schema.input)
        .await?;
    Ok(Json(schema.input))
}

async fn settings(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    _: NoParams,
) -> ApiResult<Json<BotSettings>> {
    caller.bot(Scope::Read, &bot_id)?;
    Ok(Json(state.store.bot_settings(caller.team_id, &bot_id).await?))
}

async fn put_settings(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    _: NoParams,
    JsonBody(input): JsonBody<BotSettings>,
) -> ApiResult<Json<BotSettings>> {
    caller.bot(Scope::Admin, &bot_id)?;
    let settings = input.validate()?;
    state
        .store
        .put_bot_settings(caller.team_id, &bot_id, state.config.create_bots, &settings)
        .await?;
    Ok(Json(settings))
}

fn values_view(conversation_id: &str, status: Status, values: &[Datapoint]) -> Value {
    json!({
        "conversation_id": conversation_id,
        "status": status.as_str(),
        "datapoints": values_json(values, status == Status::Ended),
    })
}

async fn values(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, conversation_id)): PathParams<(String, String)>,
    _: NoParams,
) -> ApiResult<Json<Value>> {
    caller.bot(Scope::Read, &bot_id)?;
    check_id("conversation_id", &conversation_id)?;
    let (status, values) =
        state.store.conversation_datapoints(caller.team_id, &bot_id, &conversation_id).await?;
    Ok(Json(values_view(&conversation_id, status, &values)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutValues {
    /// Key → value; `null` takes the key's explicit value back.
    datapoints: Map<String, Value>,
}

/// Explicit values from the bot: each key must be in the schema and each value must parse as
/// its type (it is stored in the same canonical form extraction gives).
async fn put_values(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, conversation_id)): PathParams<(String, String)>,
    _: NoParams,
    JsonBody(body): JsonBody<PutValues>,
) -> ApiResult<Json<Value>> {
    caller.bot(Scope::Ingest, &bot_id)?;
    check_id("conversation_id", &conversation_id)?;
    if body.datapoints.is_empty() {
        return Err(ApiError::invalid("datapoints", "must set at least one key"));
    }
    let input = state.store.datapoint_schema(caller.team_id, &bot_id).await?;
    let schema = input.unwrap_or(SchemaInput { datapoints: vec![] }).validate()?;
    let ctx = state.store.bot_settings(caller.team_id, &bot_id).await?.context()?;
    let now = now_millis();
    let mut values = Vec::with_capacity(body.datapoints.len());
    for (key, value) in body.datapoints {
        let field = format!("datapoints.{key}");
        let def = schema.definition(&key).ok_or_else(|| {
            ApiError::invalid(&field, "is not a key of the bot's datapoint schema")
        })?;
        let value = match value {
            Value::Null => None,
            v => Some(extract::parse_value(def, &v, &ctx, now).ok_or_else(|| {
                ApiError::invalid(&field, format!("is not a valid {}", def.kind.name()))
            })?),
        };
        values.push((key, value));
    }
    let (status, stored) = state
        .store
        .put_explicit_datapoints(caller.team_id, &bot_id, &conversation_id, values)
        .await?;
    Ok(Json(values_view(&conversation_id, status, &stored)))
}
