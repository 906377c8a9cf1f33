//! A bot's datapoint schema: `GET|PUT /v1/bots/{bot_id}/datapoints/schema`. A schema is checked
//! whole before anything is stored; a bad one changes nothing.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use confab_core::auth::{Caller, Scope};
use confab_core::datapoints::SchemaInput;

use crate::auth::Allow;
use crate::extract::{JsonBody, NoParams, PathParams};
use crate::{ApiResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/bots/{bot_id}/datapoints/schema", get(fetch).put(replace))
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
