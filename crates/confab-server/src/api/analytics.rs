//! Native analytics: series of a bot (`conversations`, `messages`, `users`, `insights`), its
//! aggregate dialogue flow, and a team's usage across bots. Every series is Chatlayer's
//! `SeriesData` under `data`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use confab_core::auth::{Caller, Scope};
use confab_core::flow::FlowRequest;
use confab_core::series::{self, SeriesData, SeriesRequest, Stat};
use confab_core::time::{Millis, format_rfc3339, now_millis};
use confab_store::BotSelector;
use serde_json::{Value, json};

use crate::auth::Allow;
use crate::extract::{Params, PathParams};
use crate::{ApiError, ApiResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/bots/{bot_id}/analytics/conversations", get(conversations))
        .route("/v1/bots/{bot_id}/analytics/messages", get(messages))
        .route("/v1/bots/{bot_id}/analytics/users", get(users))
        .route("/v1/bots/{bot_id}/analytics/insights", get(insights))
        .route("/v1/bots/{bot_id}/analytics/flows", get(flows))
        .route("/v1/teams/{team_id}/analytics/usage", get(usage))
}

/// Runs a series request on the store: rollups for counters, stored conversations for the rest.
pub async fn run(
    state: &AppState,
    team_id: i64,
    bots: &BotSelector,
    req: &SeriesRequest,
    empty_as_zero: bool,
) -> ApiResult<SeriesData> {
    Ok(if req.stat.from_rollups() {
        let cells = state.store.series_counters(team_id, bots, req).await?;
        series::from_counters(req, &cells, empty_as_zero)
    } else {
        let cells = state.store.series_conversations(team_id, bots, req).await?;
        series::from_conversations(req, &cells, empty_as_zero)
    })
}

async fn bot_series(
    state: AppState,
    caller: Caller,
    bot_id: String,
    params: Vec<(String, String)>,
    stat: Option<Stat>,
) -> ApiResult<Json<Value>> {
    caller.bot(Scope::Read, &bot_id)?;
    let (req, _) = SeriesRequest::from_params(&params, stat, false)?;
    let data = run(&state, caller.team_id, &BotSelector::One(bot_id), &req, false).await?;
    Ok(Json(json!({ "data": data })))
}

async fn conversations(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<Value>> {
    bot_series(state, caller, bot_id, params, Some(Stat::Conversations)).await
}

async fn messages(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<Value>> {
    bot_series(state, caller, bot_id, params, Some(Stat::Messages)).await
}

async fn users(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<Value>> {
    bot_series(state, caller, bot_id, params, Some(Stat::UniqueUsers)).await
}

async fn insights(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<Value>> {
    bot_series(state, caller, bot_id, params, None).await
}

async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(team_id): PathParams<String>,
    Params(mut params): Params,
) -> ApiResult<Json<Value>> {
    caller.require(Scope::Read)?;
    // Another team's id is answered as an unknown one.
    if team_id != caller.team_id.to_string() {
        return Err(ApiError::NotFound("team"));
    }
    if !params.iter().any(|(k, _)| k == "stat") {
        params.push(("stat".into(), Stat::Conversations.name().into()));
    }
    let (req, bots) = SeriesRequest::from_params(&params, None, true)?;
    let selector = BotSelector::Team(visible_bots(&caller, bots));
    let data = run(&state, caller.team_id, &selector, &req, false).await?;
    Ok(Json(json!({ "data": data })))
}

/// The bots a team-wide query covers: those asked for, within those the key may use.
pub fn visible_bots(caller: &Caller, asked: Option<Vec<String>>) -> Option<Vec<String>> {
    match (asked, &caller.bots) {
        (None, allowed) => allowed.clone(),
        (Some(asked), None) => Some(asked),
        (Some(asked), Some(allowed)) => {
            Some(asked.into_iter().filter(|b| allowed.contains(b)).collect())
        }
    }
}

/// Conversations of the bot with a message after this time are still going on (within the
/// bot's inactivity timeout): a flow does not count them as dropped off.
pub async fn still_active_after(state: &AppState, team_id: i64, bot_id: &str) -> ApiResult<Millis> {
    Ok(now_millis() - state.store.bot_settings(team_id, bot_id).await?.inactivity_ms())
}

async fn flows(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<Value>> {
    caller.bot(Scope::Read, &bot_id)?;
    // The query is checked before anything is looked up.
    let parsed = FlowRequest::from_params(&params, now_millis())?;
    let active_after = still_active_after(&state, caller.team_id, &bot_id).await?;
    let req = FlowRequest { active_after, ..parsed };
    let totals = state.store.flow_totals(caller.team_id, &bot_id, &req).await?;
    let graph = totals.graph();
    Ok(Json(json!({
        "data": {
            "bot_id": bot_id,
            "start_time": format_rfc3339(req.start),
            "end_time": format_rfc3339(req.end),
            "nodes": graph.nodes,
            "edges": graph.edges,
        }
    })))
}
