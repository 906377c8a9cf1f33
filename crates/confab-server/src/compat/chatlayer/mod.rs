//! Sinch Chatlayer's analytics API (seed `001`): conversation series, insights, one
//! conversation's flow and team usage, with exactly the seed's parameters. Readings of what the
//! seed leaves open are in `docs/compat.md`; the response types, all integers, in `types`.

mod types;

use axum::Json;
use axum::extract::State;
use confab_core::FieldError;
use confab_core::auth::{Caller, Scope};
use confab_core::buckets::Bucket;
use confab_core::buckets::TimeZone;
use confab_core::message::check_id;
use confab_core::series::{
    self, GroupKey, SeriesRequest, Stat, list_values, parse_range, push_filter,
};
use confab_core::summary::Dim;
use confab_core::time::Millis;
use confab_store::BotSelector;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::types::{Flow, SeriesData, SeriesResponse};
use crate::api::analytics::{run, visible_bots};
use crate::auth::Allow;
use crate::extract::{Params, PathParams};
use crate::{ApiError, ApiResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(conversations))
        .routes(routes!(insights))
        .routes(routes!(flow))
        .routes(routes!(team_usage))
}

/// The range every operation takes, and the bot version all but team usage take.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // for the document: `Query` reads the query string
struct Range {
    /// The range's start: RFC 3339, or a date for midnight UTC.
    start_time: String,
    /// The range's end, exclusive: after `start_time`.
    end_time: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // for the document: `Query` reads the query string
struct Version {
    /// Identifies the bot version.
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    version: String,
}

/// The optional filters of the bot operations.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // for the document: `Query` reads the query string
struct Filters {
    /// Channel types, comma-separated.
    channel_type: Option<String>,
    /// Languages, comma-separated.
    language: Option<String>,
}

/// The query string checked against one operation's parameters: unknown ones and missing
/// required ones are errors naming them (all missing ones at once).
struct Query<'a> {
    params: &'a [(String, String)],
}

impl<'a> Query<'a> {
    fn new(
        params: &'a [(String, String)],
        required: &[&str],
        optional: &[&str],
    ) -> Result<Query<'a>, FieldError> {
        for (k, _) in params {
            if !required.contains(&k.as_str()) && !optional.contains(&k.as_str()) {
                let mut known: Vec<&str> = required.to_vec();
                known.extend(optional);
                return Err(FieldError::new(
                    k,
                    format!("unknown query parameter: use {}", known.join(", ")),
                ));
            }
        }
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|r| !params.iter().any(|(k, v)| k == r && !v.is_empty()))
            .collect();
        if let Some(first) = missing.first() {
            return Err(FieldError::new(
                *first,
                format!("missing required parameter(s): {}", missing.join(", ")),
            ));
        }
        Ok(Query { params })
    }

    fn get(&self, k: &str) -> Option<&'a str> {
        self.params.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    fn all(&self, k: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params.iter().filter(move |(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    /// `start_time` and `end_time` (RFC 3339 or a UTC date), end after start.
    fn range(&self) -> Result<(Millis, Millis), FieldError> {
        parse_range(self.get("start_time"), self.get("end_time"), &TimeZone::UTC)
    }

    /// The required `version` and the optional `channel_type` and `language` lists.
    fn filters(&self) -> Result<Vec<(Dim, Vec<String>)>, FieldError> {
        let version = self.get("version").unwrap_or_default();
        check_id("version", version)?;
        let mut filters = vec![(Dim::Version, vec![version.to_owned()])];
        for dim in [Dim::ChannelType, Dim::Language] {
            for v in self.all(dim.name()) {
                push_filter(&mut filters, dim, &list_values(dim.name(), v)?);
            }
        }
        Ok(filters)
    }

    fn bucket(&self, allowed: &[Bucket], default: Option<Bucket>) -> Result<Bucket, FieldError> {
        let names = || allowed.iter().map(|b| b.as_str()).collect::<Vec<_>>().join(", ");
        match self.get("bucket") {
            None => default.ok_or_else(|| FieldError::new("bucket", "is required")),
            Some(b) => Bucket::parse("bucket", b)
                .ok()
                .filter(|b| allowed.contains(b))
                .ok_or_else(|| FieldError::new("bucket", format!("must be one of {}", names()))),
        }
    }
}

fn wrap(data: SeriesData) -> Json<SeriesResponse> {
    Json(SeriesResponse { data })
}

/// Get conversation analytics: conversations per bucket.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/conversations", tag = "chatlayer",
    operation_id = "getConversationAnalytics",
    params(("bot_id" = String, Path, description = "Identifies the bot."), Version, Range, Filters,
        ("bucket" = Option<String>, Query, pattern = "^(1h|1d|1w)$", description = "The interval of the data series (1h, 1d or 1w; default 1d); smaller than the range"),
        ("group_by" = Option<String>, Query, pattern = "^(channel_type|language)$", description = "One serie per channel type or language")),
    responses((status = 200, body = SeriesResponse)))]
async fn conversations(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<SeriesResponse>> {
    caller.bot(Scope::Read, &bot_id)?;
    let q = Query::new(
        &params,
        &["version", "start_time", "end_time"],
        &["channel_type", "language", "bucket", "group_by"],
    )?;
    let (start, end) = q.range()?;
    let bucket = q.bucket(&[Bucket::Hour, Bucket::Day, Bucket::Week], Some(Bucket::Day))?;
    if q.all("group_by").count() > 1 {
        return Err(ApiError::invalid("group_by", "give one: channel_type or language"));
    }
    let group_by = match q.get("group_by") {
        None => vec![],
        Some("channel_type") => vec![GroupKey::Dim(Dim::ChannelType)],
        Some("language") => vec![GroupKey::Dim(Dim::Language)],
        Some(_) => return Err(ApiError::invalid("group_by", "must be channel_type or language")),
    };
    let req = SeriesRequest::new(
        Stat::Conversations,
        bucket,
        &TimeZone::UTC,
        start,
        end,
        q.filters()?,
        vec![],
        group_by,
    )?;
    let data = run(&state, caller.team_id, &BotSelector::One(bot_id), &req, true).await?;
    Ok(wrap(SeriesData::counts(data)))
}

/// Get conversation insights: a stat over the whole range.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/conversations/insights", tag = "chatlayer",
    operation_id = "getConversationInsights",
    params(("bot_id" = String, Path, description = "Identifies the bot."), Version, Range, Filters,
        ("stat" = String, Query, pattern = "^(num_conversations|duration_seconds|num_messages)$", description = "num_conversations, duration_seconds or num_messages")),
    responses((status = 200, body = SeriesResponse)))]
async fn insights(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<SeriesResponse>> {
    caller.bot(Scope::Read, &bot_id)?;
    let q = Query::new(
        &params,
        &["version", "start_time", "end_time", "stat"],
        &["channel_type", "language"],
    )?;
    let stat = match q.get("stat").unwrap_or_default() {
        "num_conversations" => Stat::Conversations,
        "duration_seconds" => Stat::Duration(confab_core::series::Agg::Mean),
        "num_messages" => Stat::Messages,
        _ => {
            return Err(ApiError::invalid(
                "stat",
                "must be num_conversations, duration_seconds or num_messages",
            ));
        }
    };
    let (start, end) = q.range()?;
    let req = SeriesRequest::total(stat, &TimeZone::UTC, start, end, q.filters()?)?;
    // All three are rollup counters; read here so that durations are averaged on milliseconds.
    let cells =
        state.store.series_counters(caller.team_id, &BotSelector::One(bot_id), &req).await?;
    Ok(wrap(match stat {
        Stat::Duration(_) => SeriesData::mean_durations(&req, &cells),
        _ => SeriesData::counts(series::from_counters(&req, &cells, true)),
    }))
}

/// Get a conversation's flow: its step transitions, or the one a message made.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/conversations/{conversation_id}/flow",
    tag = "chatlayer", operation_id = "getConversationFlow",
    params(("bot_id" = String, Path, description = "Identifies the bot."),
        ("conversation_id" = String, Path, description = "Identifies the conversation."),
        Version, Range,
        ("message_id" = Option<String>, Query, description = "Only the transition this message made")),
    responses((status = 200, body = Flow)))]
async fn flow(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, conversation_id)): PathParams<(String, String)>,
    Params(params): Params,
) -> ApiResult<Json<Flow>> {
    caller.bot(Scope::Read, &bot_id)?;
    check_id("conversation_id", &conversation_id)?;
    let q = Query::new(&params, &["version", "start_time", "end_time"], &["message_id"])?;
    let (start, end) = q.range()?;
    let version = q.get("version").unwrap_or_default();
    check_id("version", version)?;
    let message_id = q.get("message_id");
    if let Some(id) = message_id {
        check_id("message_id", id)?;
    }
    let (conv, messages) =
        state.store.get_conversation(caller.team_id, &bot_id, &conversation_id).await?;
    // The range and version name the conversation; one outside them is not the one asked for.
    let s = &conv.summary;
    if s.started_at < start || s.started_at >= end || s.dim(Dim::Version) != Some(version) {
        return Err(ApiError::NotFound("conversation"));
    }
    Ok(Json(Flow::new(&conv, &messages, message_id)))
}

/// Get team usage: conversations across the team's bots per bucket.
#[utoipa::path(get, path = "/v1/teams/{team_id}/conversations", tag = "chatlayer",
    operation_id = "getTeamUsage",
    params(("team_id" = i64, Path, description = "Identifies the team (the key's)."), Range,
        ("bucket" = String, Query, pattern = "^(1d|1w|1m)$", description = "The interval: 1d, 1w or 1m"),
        ("group_by" = Option<String>, Query, description = "Comma-separated: bot_id, bot_version, team_id, channel_type, language, campaign_id, campaign_source")),
    responses((status = 200, body = SeriesResponse)))]
async fn team_usage(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(team_id): PathParams<String>,
    Params(params): Params,
) -> ApiResult<Json<SeriesResponse>> {
    caller.require(Scope::Read)?;
    if team_id != caller.team_id.to_string() {
        return Err(ApiError::NotFound("team"));
    }
    let q = Query::new(&params, &["start_time", "end_time", "bucket"], &["group_by"])?;
    let (start, end) = q.range()?;
    let bucket = q.bucket(&[Bucket::Day, Bucket::Week, Bucket::Month], None)?;
    let mut group_by = vec![];
    let mut names = vec![];
    for v in q.all("group_by") {
        for g in list_values("group_by", v)? {
            let key = match g {
                "bot_id" => GroupKey::Bot,
                "bot_version" => GroupKey::Dim(Dim::Version),
                "team_id" => GroupKey::Team,
                "channel_type" => GroupKey::Dim(Dim::ChannelType),
                "language" => GroupKey::Dim(Dim::Language),
                "campaign_id" => GroupKey::Dim(Dim::CampaignId),
                "campaign_source" => GroupKey::Dim(Dim::CampaignSource),
                _ => {
                    return Err(ApiError::invalid(
                        "group_by",
                        format!(
                            "cannot group by `{g}`: use bot_id, bot_version, team_id, \
                             channel_type, language, campaign_id, campaign_source"
                        ),
                    ));
                }
            };
            group_by.push(key);
            names.push((key.name(), g));
        }
    }
    let req = SeriesRequest::new(
        Stat::Conversations,
        bucket,
        &TimeZone::UTC,
        start,
        end,
        vec![],
        vec![],
        group_by,
    )?;
    let selector = BotSelector::Team(visible_bots(&caller, None));
    let mut data = run(&state, caller.team_id, &selector, &req, true).await?;
    // Labels use the names the client grouped by (`bot_version`, not `version`).
    for serie in &mut data.series {
        for (native, asked) in &names {
            if native != asked
                && let Some(v) = serie.labels.remove(*native)
            {
                serie.labels.insert((*asked).to_owned(), v);
            }
        }
    }
    Ok(wrap(SeriesData::counts(data)))
}
