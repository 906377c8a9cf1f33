//! A bot's datapoints: its schema (`GET|PUT /v1/bots/{bot_id}/datapoints/schema`), its settings
//! (`GET|PUT /v1/bots/{bot_id}/settings`: inactivity timeout, phone region, time zone) and one
//! conversation's values (`GET|PUT /v1/bots/{bot_id}/conversations/{id}/datapoints`). Whatever
//! is refused changes nothing.

use axum::extract::State;
use std::collections::BTreeMap;

use axum::Json;
use confab_core::auth::{Caller, Scope};
use confab_core::bot::BotSettings;
use confab_core::conversation::Status;
use confab_core::datapoints::{Datapoint, DatapointView, SchemaInput, values_view};
use confab_core::extract;
use confab_core::message::check_id;
use confab_core::time::now_millis;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{BotPath, ConversationPath};
use crate::auth::Allow;
use crate::extract::{JsonBody, NoParams, PathParams};
use crate::{ApiError, ApiResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(fetch, replace))
        .routes(routes!(settings, put_settings))
        .routes(routes!(values, put_values))
}

/// The bot's datapoint schema: the keys extraction fills (empty when it has none).
#[utoipa::path(get, path = "/v1/bots/{bot_id}/datapoints/schema", operation_id = "getDatapointSchema", tag = "datapoints",
    params(BotPath), responses((status = 200, body = SchemaInput)))]
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

/// Replaces the bot's datapoint schema (`admin`); values already stored stay.
#[utoipa::path(put, path = "/v1/bots/{bot_id}/datapoints/schema", operation_id = "putDatapointSchema", tag = "datapoints",
    params(BotPath), request_body = SchemaInput, responses((status = 200, body = SchemaInput)))]
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

/// The bot's settings.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/settings", operation_id = "getBotSettings", tag = "datapoints",
    params(BotPath), responses((status = 200, body = BotSettings)))]
async fn settings(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    _: NoParams,
) -> ApiResult<Json<BotSettings>> {
    caller.bot(Scope::Read, &bot_id)?;
    Ok(Json(state.store.bot_settings(caller.team_id, &bot_id).await?))
}

/// Replaces the bot's settings (`admin`).
#[utoipa::path(put, path = "/v1/bots/{bot_id}/settings", operation_id = "putBotSettings", tag = "datapoints",
    params(BotPath), request_body = BotSettings, responses((status = 200, body = BotSettings)))]
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

/// One conversation's values.
#[derive(Serialize, ToSchema)]
struct Values {
    conversation_id: String,
    status: Status,
    datapoints: BTreeMap<String, DatapointView>,
}

impl Values {
    fn new(conversation_id: String, status: Status, values: &[Datapoint]) -> Values {
        let datapoints = values_view(values, status == Status::Ended);
        Values { conversation_id, status, datapoints }
    }
}

/// The conversation's datapoints: provisional while it goes on, final once it has ended.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/conversations/{conversation_id}/datapoints", operation_id = "getDatapoints",
    tag = "datapoints", params(ConversationPath), responses((status = 200, body = Values)))]
async fn values(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, conversation_id)): PathParams<(String, String)>,
    _: NoParams,
) -> ApiResult<Json<Values>> {
    caller.bot(Scope::Read, &bot_id)?;
    check_id("conversation_id", &conversation_id)?;
    let (status, values) =
        state.store.conversation_datapoints(caller.team_id, &bot_id, &conversation_id).await?;
    Ok(Json(Values::new(conversation_id, status, &values)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PutValues {
    /// Key → value (at least one); `null` takes the key's explicit value back.
    #[schema(value_type = Object)]
    datapoints: Map<String, Value>,
}

/// Explicit values from the bot: each key must be in the schema and each value must parse as
/// its type (it is stored in the same canonical form extraction gives).
#[utoipa::path(put, path = "/v1/bots/{bot_id}/conversations/{conversation_id}/datapoints", operation_id = "putDatapoints",
    tag = "datapoints", params(ConversationPath), request_body = PutValues,
    responses((status = 200, body = Values)))]
async fn put_values(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, conversation_id)): PathParams<(String, String)>,
    _: NoParams,
    JsonBody(body): JsonBody<PutValues>,
) -> ApiResult<Json<Values>> {
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
    Ok(Json(Values::new(conversation_id, status, &stored)))
}
