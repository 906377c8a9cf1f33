//! Native analytics: series of a bot (`conversations`, `messages`, `users`, `insights`), its
//! aggregate dialogue flow, and a team's usage across bots. Every series is Chatlayer's
//! `SeriesData` under `data`.

use axum::Json;
use axum::extract::State;
use confab_core::auth::{Caller, Scope};
use confab_core::cluster::{self, MESSAGE_CAP, UnhandledReport};
use confab_core::flow::{FlowEdge, FlowNode, FlowRequest};
use confab_core::series::{
    self, BucketParams, RangeParams, SeriesData, SeriesRequest, Source, Stat,
};
use confab_core::time::{Millis, format_rfc3339, now_millis};
use confab_store::BotSelector;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::BotPath;
use crate::auth::Allow;
use crate::extract::{Params, PathParams};
use crate::{ApiError, ApiResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(conversations))
        .routes(routes!(messages))
        .routes(routes!(users))
        .routes(routes!(insights))
        .routes(routes!(flows))
        .routes(routes!(unhandled))
        .routes(routes!(usage))
}

/// A series, as Chatlayer's `SeriesData`.
#[derive(Serialize, ToSchema)]
pub struct Series {
    data: SeriesData,
}

/// Runs a series request on the store: rollups for counters, token rollups for tokens, stored
/// conversations for the rest.
pub async fn run(
    state: &AppState,
    team_id: i64,
    bots: &BotSelector,
    req: &SeriesRequest,
    empty_as_zero: bool,
) -> ApiResult<SeriesData> {
    Ok(match req.stat.source() {
        Source::Counters => {
            let cells = state.store.series_counters(team_id, bots, req).await?;
            series::from_counters(req, &cells, empty_as_zero)
        }
        Source::Tokens => {
            let cells = state.store.series_tokens(team_id, bots, req).await?;
            series::from_tokens(req, &cells, empty_as_zero)
        }
        Source::Conversations => {
            let cells = state.store.series_conversations(team_id, bots, req).await?;
            series::from_conversations(req, &cells, empty_as_zero)
        }
    })
}

async fn bot_series(
    state: AppState,
    caller: Caller,
    bot_id: String,
    params: Vec<(String, String)>,
    stat: Option<Stat>,
) -> ApiResult<Json<Series>> {
    caller.bot(Scope::Read, &bot_id)?;
    let (req, _) = SeriesRequest::from_params(&params, stat, false)?;
    let data = run(&state, caller.team_id, &BotSelector::One(bot_id), &req, false).await?;
    Ok(Json(Series { data }))
}

/// Conversations started per bucket.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/analytics/conversations", operation_id = "conversationSeries", tag = "analytics",
    params(BotPath, RangeParams, BucketParams), responses((status = 200, body = Series)))]
async fn conversations(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<Series>> {
    bot_series(state, caller, bot_id, params, Some(Stat::Conversations)).await
}

/// Messages per bucket.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/analytics/messages", operation_id = "messageSeries", tag = "analytics",
    params(BotPath, RangeParams, BucketParams, ("role" = Option<String>, Query, description = "Only messages of these roles (comma-separated: user, bot, agent, system); with num_messages")), responses((status = 200, body = Series)))]
async fn messages(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<Series>> {
    bot_series(state, caller, bot_id, params, Some(Stat::Messages)).await
}

/// Distinct end users per bucket.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/analytics/users", operation_id = "userSeries", tag = "analytics",
    params(BotPath, RangeParams, BucketParams), responses((status = 200, body = Series)))]
async fn users(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<Series>> {
    bot_series(state, caller, bot_id, params, Some(Stat::UniqueUsers)).await
}

/// Any statistic per bucket.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/analytics/insights", operation_id = "insightSeries", tag = "analytics",
    params(BotPath, RangeParams, BucketParams, ("stat" = String, Query, description = "num_conversations, num_messages, duration_seconds, unique_users, handoffs, not_handled, containment_rate, completed, completion_rate (conversations that reached one of the bot's goal_steps, and their share), input_tokens or output_tokens (sums of the LLM token counts in message metadata)", pattern = "^(num_conversations|num_messages|duration_seconds|unique_users|handoffs|not_handled|containment_rate|completed|completion_rate|input_tokens|output_tokens)$"), ("agg" = Option<String>, Query, description = "How durations combine in a bucket: mean (default), sum, min or max; with duration_seconds", pattern = "^(mean|sum|min|max)$"), ("role" = Option<String>, Query, description = "Only messages of these roles (comma-separated: user, bot, agent, system); with num_messages")),
    responses((status = 200, body = Series)))]
async fn insights(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<Series>> {
    bot_series(state, caller, bot_id, params, None).await
}

/// A statistic across the team's bots (those the key may use): conversations by default.
#[utoipa::path(get, path = "/v1/teams/{team_id}/analytics/usage", operation_id = "teamUsage", tag = "analytics",
    params(("team_id" = i64, Path, description = "The caller's team"), RangeParams, BucketParams,
        ("stat" = Option<String>, Query, description = "num_conversations, num_messages, duration_seconds, unique_users, handoffs, not_handled, containment_rate, completed, completion_rate (conversations that reached one of the bot's goal_steps, and their share), input_tokens or output_tokens (sums of the LLM token counts in message metadata); num_conversations by default", pattern = "^(num_conversations|num_messages|duration_seconds|unique_users|handoffs|not_handled|containment_rate|completed|completion_rate|input_tokens|output_tokens)$"),
        ("agg" = Option<String>, Query, description = "How durations combine in a bucket: mean (default), sum, min or max; with duration_seconds", pattern = "^(mean|sum|min|max)$"), ("role" = Option<String>, Query, description = "Only messages of these roles (comma-separated: user, bot, agent, system); with num_messages"),
        ("bot_id" = Option<String>, Query, description = "Only these bots (comma-separated)")),
    responses((status = 200, body = Series)))]
async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(team_id): PathParams<String>,
    Params(mut params): Params,
) -> ApiResult<Json<Series>> {
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
    Ok(Json(Series { data }))
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

#[derive(Serialize, ToSchema)]
struct Flows {
    data: FlowGraphView,
}

/// The bot's dialogue flow: how many conversations reached each step and went along each edge.
#[derive(Serialize, ToSchema)]
struct FlowGraphView {
    bot_id: String,
    start_time: String,
    end_time: String,
    nodes: Vec<FlowNode>,
    edges: Vec<FlowEdge>,
}

/// The aggregate flow of conversations started in the range: steps, transitions and drop-offs.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/analytics/flows", operation_id = "flowGraph", tag = "analytics",
    params(BotPath, RangeParams), responses((status = 200, body = Flows)))]
async fn flows(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<Flows>> {
    caller.bot(Scope::Read, &bot_id)?;
    // The query is checked before anything is looked up.
    let parsed = FlowRequest::from_params(&params, now_millis())?;
    let active_after = still_active_after(&state, caller.team_id, &bot_id).await?;
    let req = FlowRequest { active_after, ..parsed };
    let totals = state.store.flow_totals(caller.team_id, &bot_id, &req).await?;
    let graph = totals.graph();
    Ok(Json(Flows {
        data: FlowGraphView {
            bot_id,
            start_time: format_rfc3339(req.start),
            end_time: format_rfc3339(req.end),
            nodes: graph.nodes,
            edges: graph.edges,
        },
    }))
}

#[derive(Serialize, ToSchema)]
struct Unhandled {
    data: UnhandledReport,
}

/// Runs the clustering of a bot's not-handled messages in `[start, end)`: the [`MESSAGE_CAP`]
/// marked last, grouped off the async threads (it is CPU work).
pub async fn unhandled_report(
    state: &AppState,
    team_id: i64,
    bot_id: &str,
    range: (Millis, Millis),
) -> ApiResult<UnhandledReport> {
    let mut messages =
        state.store.unhandled_messages(team_id, bot_id, range, MESSAGE_CAP + 1).await?;
    let truncated = messages.len() > MESSAGE_CAP as usize;
    messages.truncate(MESSAGE_CAP as usize);
    tokio::task::spawn_blocking(move || cluster::report(&messages, range, truncated))
        .await
        .map_err(|e| ApiError::Internal(format!("clustering: {e}")))
}

/// The user messages the bot marked `handled: false` in the range, grouped by similar wording
/// (offline, deterministic): each group with its most frequent phrase, count, share, a trend
/// over 30 equal slices of the range and example conversations. At most 20,000 messages are
/// clustered, those marked last (`truncated` says when there were more).
#[utoipa::path(get, path = "/v1/bots/{bot_id}/analytics/unhandled", operation_id = "unhandledClusters", tag = "analytics",
    params(BotPath,
        ("start_time" = String, Query, description = "The range's start: RFC 3339, or `YYYY-MM-DD` for midnight in `tz`"),
        ("end_time" = String, Query, description = "The range's end (exclusive), after `start_time`"),
        ("tz" = Option<String>, Query, description = "The IANA time zone of date bounds; UTC by default")),
    responses((status = 200, body = Unhandled)))]
async fn unhandled(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<Unhandled>> {
    caller.bot(Scope::Read, &bot_id)?;
    let range = cluster::parse_request(&params)?;
    let data = unhandled_report(&state, caller.team_id, &bot_id, range).await?;
    Ok(Json(Unhandled { data }))
}
