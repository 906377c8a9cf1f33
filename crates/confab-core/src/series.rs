//! Analytics series: what is asked (stat, range, bucket, zone, filters, group-by), validated at
//! the edge, and how the cells a store fills become Chatlayer's `SeriesData`.

use std::collections::{BTreeMap, HashSet};

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::FieldError;
use crate::buckets::{Bucket, Buckets};
use crate::message::{Role, check_id};
use crate::rollup::{Counters, Plan, ROLLUP_DIMS, Tokens};
use crate::summary::Dim;
use crate::time::{self, Millis};

/// How per-conversation durations of a bucket are summed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    Mean,
    Sum,
    Min,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// Conversations, in the bucket of their start.
    Conversations,
    /// Messages, in the bucket of each message.
    Messages,
    /// Conversation durations (bucket of start), in seconds.
    Duration(Agg),
    /// Distinct user ids of conversations started in the bucket.
    UniqueUsers,
    /// Conversations (bucket of start) with an `agent` message.
    Handoffs,
    /// Messages with `"handled": false` in their metadata.
    NotHandled,
    /// Conversations without a hand-off ÷ conversations.
    ContainmentRate,
    /// Conversations that reached one of the bot's `goal_steps`.
    Completed,
    /// Completed conversations ÷ conversations.
    CompletionRate,
    /// LLM input tokens (`input_tokens` in message metadata), in the bucket of each message.
    InputTokens,
    /// LLM output tokens (`output_tokens` in message metadata), in the bucket of each message.
    OutputTokens,
}

/// Where a stat's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Sums of rollup counters.
    Counters,
    /// The stored conversations (distinct users, extreme durations).
    Conversations,
    /// Sums of token rollups, which also know the model.
    Tokens,
}

impl Stat {
    pub const NAMES: &'static str = "num_conversations, num_messages, duration_seconds, \
                                     unique_users, handoffs, not_handled, containment_rate, \
                                     completed, completion_rate, input_tokens, output_tokens";

    pub fn parse(field: &str, s: &str) -> Result<Stat, FieldError> {
        Ok(match s {
            "num_conversations" => Stat::Conversations,
            "num_messages" => Stat::Messages,
            "duration_seconds" => Stat::Duration(Agg::Mean),
            "unique_users" => Stat::UniqueUsers,
            "handoffs" => Stat::Handoffs,
            "not_handled" => Stat::NotHandled,
            "containment_rate" => Stat::ContainmentRate,
            "completed" => Stat::Completed,
            "completion_rate" => Stat::CompletionRate,
            "input_tokens" => Stat::InputTokens,
            "output_tokens" => Stat::OutputTokens,
            _ => {
                return Err(FieldError::new(
                    field,
                    format!("unknown stat `{s}`: use one of {}", Stat::NAMES),
                ));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Stat::Conversations => "num_conversations",
            Stat::Messages => "num_messages",
            Stat::Duration(_) => "duration_seconds",
            Stat::UniqueUsers => "unique_users",
            Stat::Handoffs => "handoffs",
            Stat::NotHandled => "not_handled",
            Stat::ContainmentRate => "containment_rate",
            Stat::Completed => "completed",
            Stat::CompletionRate => "completion_rate",
            Stat::InputTokens => "input_tokens",
            Stat::OutputTokens => "output_tokens",
        }
    }

    /// Where the stat is read from.
    pub fn source(self) -> Source {
        match self {
            Stat::UniqueUsers | Stat::Duration(Agg::Min | Agg::Max) => Source::Conversations,
            Stat::InputTokens | Stat::OutputTokens => Source::Tokens,
            _ => Source::Counters,
        }
    }
}

/// What a series is split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKey {
    Bot,
    /// The team (one value: team usage as Chatlayer groups it).
    Team,
    Dim(Dim),
    /// The message's role; `num_messages` only.
    Role,
    /// The LLM model of a message's token usage; the token stats only.
    Model,
}

impl GroupKey {
    pub fn name(self) -> &'static str {
        match self {
            GroupKey::Bot => "bot_id",
            GroupKey::Team => "team_id",
            GroupKey::Dim(d) => d.name(),
            GroupKey::Role => "role",
            GroupKey::Model => "model",
        }
    }

    /// Parses a native group-by name: the rollup dimensions, `bot_id` where `bot` is allowed,
    /// `role` (for messages) and `model` (for tokens) where `role` is.
    pub fn parse(field: &str, s: &str, bot: bool, role: bool) -> Result<GroupKey, FieldError> {
        if let Some(d) = ROLLUP_DIMS.into_iter().find(|d| d.name() == s) {
            return Ok(GroupKey::Dim(d));
        }
        match s {
            "bot_id" if bot => Ok(GroupKey::Bot),
            "team_id" if bot => Ok(GroupKey::Team),
            "role" if role => Ok(GroupKey::Role),
            "model" if role => Ok(GroupKey::Model),
            _ => {
                let mut names: Vec<&str> = vec![];
                if bot {
                    names.extend(["bot_id", "team_id"]);
                }
                names.extend(ROLLUP_DIMS.iter().map(|d| d.name()));
                if role {
                    names.extend(["role", "model"]);
                }
                Err(FieldError::new(
                    field,
                    format!("cannot group by `{s}`: use {}", names.join(", ")),
                ))
            }
        }
    }
}

/// Splits a parameter's value on commas (lists and repeated parameters both work).
pub fn list_values<'a>(field: &str, v: &'a str) -> Result<Vec<&'a str>, FieldError> {
    v.split(',')
        .map(str::trim)
        .map(|s| check_id(field, s).map(|()| s))
        .collect::<Result<Vec<_>, _>>()
}

/// Adds values to the filter on `dim`, creating it on first use.
pub fn push_filter(filters: &mut Vec<(Dim, Vec<String>)>, dim: Dim, values: &[&str]) {
    let i = match filters.iter().position(|(d, _)| *d == dim) {
        Some(i) => i,
        None => {
            filters.push((dim, vec![]));
            filters.len() - 1
        }
    };
    filters[i].1.extend(values.iter().map(|s| (*s).to_owned()));
}

/// A range bound: RFC 3339, or a bare `YYYY-MM-DD` meaning midnight in the series' zone.
pub fn parse_bound(field: &str, v: &str, tz: &TimeZone) -> Result<Millis, FieldError> {
    if v.len() == 10 {
        let date = time::parse_date_strict(field, v)?;
        let t =
            date.to_zoned(tz.clone()).map_err(|_| FieldError::new(field, "is not a valid date"))?;
        return Ok(t.timestamp().as_millisecond());
    }
    time::parse_rfc3339(field, v)
}

/// `start_time` and `end_time`, both required (see [`parse_bound`]), the end after the start.
pub fn parse_range(
    start: Option<&str>,
    end: Option<&str>,
    tz: &TimeZone,
) -> Result<(Millis, Millis), FieldError> {
    let start = parse_bound(
        "start_time",
        start.ok_or_else(|| FieldError::new("start_time", "is required"))?,
        tz,
    )?;
    let end = parse_bound(
        "end_time",
        end.ok_or_else(|| FieldError::new("end_time", "is required"))?,
        tz,
    )?;
    if end <= start {
        return Err(FieldError::new("end_time", "must be after start_time"));
    }
    Ok((start, end))
}

/// The `tz` parameter: an IANA name, UTC when absent.
pub fn parse_zone(name: Option<&str>) -> Result<TimeZone, FieldError> {
    name.map_or(Ok(TimeZone::UTC), |n| crate::buckets::parse_tz("tz", n))
}

/// A validated series request; stores read `filters`, `bots`, `group_by` (never `Role`),
/// `buckets` and `plan`.
#[derive(Debug, Clone)]
pub struct SeriesRequest {
    pub stat: Stat,
    pub start: Millis,
    pub end: Millis,
    pub buckets: Buckets,
    pub plan: Plan,
    /// Rollup dimensions, each matching any of its values.
    pub filters: Vec<(Dim, Vec<String>)>,
    /// Roles counted by `num_messages` (empty: all).
    pub roles: Vec<Role>,
    pub group_by: Vec<GroupKey>,
}

/// The range and filters of every native analytics query (series and flows), for the API's
/// documents; a test checks each is accepted.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// The range's start: RFC 3339, or `YYYY-MM-DD` for midnight in `tz`.
    pub start_time: String,
    /// The range's end (exclusive), after `start_time`.
    pub end_time: String,
    /// The IANA time zone of dates and buckets (`Europe/Warsaw`); UTC by default.
    pub tz: Option<String>,
    /// Bot versions, comma-separated.
    pub version: Option<String>,
    /// Channels, comma-separated.
    pub channel_type: Option<String>,
    /// Languages, comma-separated.
    pub language: Option<String>,
    pub campaign_id: Option<String>,
    pub campaign_source: Option<String>,
}

/// How a series is cut: its buckets and groups.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BucketParams {
    /// An hour, day, week (from Monday) or calendar month, in `tz`.
    #[param(pattern = "^(1h|1d|1w|1m)$", default = "1d")]
    pub bucket: Option<String>,
    /// One serie per value of these (comma-separated): `version`, `channel_type`, `language`,
    /// `campaign_id`, `campaign_source`; `role` for messages; `model` for `input_tokens` and
    /// `output_tokens`; `bot_id`, `team_id` for a team.
    pub group_by: Option<String>,
}

impl SeriesRequest {
    /// Parses a native series query: `start_time` and `end_time` (required, RFC 3339 or
    /// `YYYY-MM-DD` at midnight in `tz`), `bucket` (default `1d`), `tz` (default UTC), filters
    /// on the rollup dimensions, `group_by`; `stat` when `fixed` is `None` (else it is not
    /// accepted), `agg` for durations, `role` for messages; `bot_id` (a filter, returned apart)
    /// and grouping by it when `team` is set. Lists may be repeated or comma-separated.
    pub fn from_params(
        params: &[(String, String)],
        fixed: Option<Stat>,
        team: bool,
    ) -> Result<(SeriesRequest, Option<Vec<String>>), FieldError> {
        let get = |k: &str| params.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let tz = parse_zone(get("tz"))?;
        let mut filters = vec![];
        let mut group_by = vec![];
        let mut roles = vec![];
        let mut bots: Option<Vec<String>> = None;
        let mut stat = fixed;
        let mut agg = None;
        for (k, v) in params {
            let k = k.as_str();
            match k {
                "start_time" | "end_time" | "tz" => {}
                "bucket" => {
                    Bucket::parse(k, v)?;
                }
                "stat" if fixed.is_none() => stat = Some(Stat::parse(k, v)?),
                "agg" => {
                    agg = Some(match v.as_str() {
                        "mean" => Agg::Mean,
                        "sum" => Agg::Sum,
                        "min" => Agg::Min,
                        "max" => Agg::Max,
                        _ => return Err(FieldError::new(k, "must be mean, sum, min or max")),
                    })
                }
                "role" => {
                    for r in list_values(k, v)? {
                        roles.push(Role::parse(r).ok_or_else(|| {
                            FieldError::new(
                                k,
                                format!("unknown role `{r}`: use user, bot, agent or system"),
                            )
                        })?);
                    }
                }
                "group_by" => {
                    for g in list_values(k, v)? {
                        group_by.push(GroupKey::parse(k, g, team, true)?);
                    }
                }
                "bot_id" if team => {
                    bots.get_or_insert_with(Vec::new)
                        .extend(list_values(k, v)?.into_iter().map(str::to_owned));
                }
                _ => match ROLLUP_DIMS.into_iter().find(|d| d.name() == k) {
                    Some(d) => push_filter(&mut filters, d, &list_values(k, v)?),
                    None => return Err(FieldError::new(k, "unknown query parameter")),
                },
            }
        }
        let mut stat = stat.ok_or_else(|| FieldError::new("stat", "is required"))?;
        match (agg, stat) {
            (Some(a), Stat::Duration(_)) => stat = Stat::Duration(a),
            (Some(_), _) => return Err(FieldError::new("agg", "applies to duration_seconds only")),
            (None, _) => {}
        }
        if !roles.is_empty() && stat != Stat::Messages {
            return Err(FieldError::new("role", "applies to num_messages only"));
        }
        let (start, end) = parse_range(get("start_time"), get("end_time"), &tz)?;
        let bucket = match get("bucket") {
            Some(b) => Bucket::parse("bucket", b)?,
            None => Bucket::Day,
        };
        let req = SeriesRequest::new(stat, bucket, &tz, start, end, filters, roles, group_by)?;
        Ok((req, bots))
    }

    /// A one-bucket request: the stat over the whole range (Chatlayer's insights).
    pub fn total(
        stat: Stat,
        tz: &TimeZone,
        start: Millis,
        end: Millis,
        filters: Vec<(Dim, Vec<String>)>,
    ) -> Result<SeriesRequest, FieldError> {
        let buckets = Buckets::whole(Bucket::Day, tz, start, end)?;
        let plan = Plan::new(&buckets, start, end);
        Ok(SeriesRequest {
            stat,
            start,
            end,
            buckets,
            plan,
            filters,
            roles: vec![],
            group_by: vec![],
        })
    }

    /// Checks the range against the bucket and lays the buckets out.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        stat: Stat,
        bucket: Bucket,
        tz: &TimeZone,
        start: Millis,
        end: Millis,
        filters: Vec<(Dim, Vec<String>)>,
        roles: Vec<Role>,
        group_by: Vec<GroupKey>,
    ) -> Result<SeriesRequest, FieldError> {
        if end <= start {
            return Err(FieldError::new("end_time", "must be after start_time"));
        }
        let zoned = Timestamp::from_millisecond(start)
            .map_err(|_| FieldError::new("start_time", "is out of range"))?
            .to_zoned(tz.clone());
        let one = match bucket {
            Bucket::Hour => zoned.checked_add(1.hour()),
            Bucket::Day => zoned.checked_add(1.day()),
            Bucket::Week => zoned.checked_add(1.week()),
            Bucket::Month => zoned.checked_add(1.month()),
        }
        .map_err(|_| FieldError::new("start_time", "is out of range"))?;
        if one.timestamp().as_millisecond() > end {
            return Err(FieldError::new(
                "bucket",
                format!("a bucket of {} is longer than the range", bucket.as_str()),
            ));
        }
        let mut seen = HashSet::new();
        for g in &group_by {
            if !seen.insert(g.name()) {
                return Err(FieldError::new("group_by", format!("`{}` is given twice", g.name())));
            }
            if *g == GroupKey::Role && stat != Stat::Messages {
                return Err(FieldError::new("group_by", "role applies to num_messages only"));
            }
            if *g == GroupKey::Model && stat.source() != Source::Tokens {
                return Err(FieldError::new(
                    "group_by",
                    "model applies to input_tokens and output_tokens only",
                ));
            }
        }
        let buckets = Buckets::new(bucket, tz, start, end)?;
        let plan = Plan::new(&buckets, start, end);
        Ok(SeriesRequest { stat, start, end, buckets, plan, filters, roles, group_by })
    }

    /// The group-by keys a store fills (all but `Role`, which splits counters afterwards;
    /// `Model` is filled from token rollups).
    pub fn store_groups(&self) -> Vec<GroupKey> {
        self.group_by.iter().copied().filter(|g| *g != GroupKey::Role).collect()
    }

    /// The one rollup dimension the filters and group-by name (the channel when they name
    /// none), or `None` when they name more (or group by model): then the counters of whole
    /// UTC days can be read from the rows per single dimension ([`crate::rollup::DIM_LEVEL`]).
    pub fn single_dim(&self) -> Option<Dim> {
        if self.group_by.contains(&GroupKey::Model) {
            return None;
        }
        let grouped = self.group_by.iter().filter_map(|g| match g {
            GroupKey::Dim(d) => Some(*d),
            _ => None,
        });
        let mut named = self.filters.iter().map(|(d, _)| *d).chain(grouped);
        let first = named.next().unwrap_or(Dim::ChannelType);
        (ROLLUP_DIMS.contains(&first) && named.all(|d| d == first)).then_some(first)
    }
}

/// One value per (group, bucket), filled by a store; groups are the values of
/// [`SeriesRequest::store_groups`] in order (`None` where a conversation has none).
#[derive(Debug, Clone, PartialEq)]
pub struct Cells<T> {
    pub buckets: usize,
    pub groups: BTreeMap<Vec<Option<String>>, Vec<T>>,
}

impl<T: Default + Clone> Cells<T> {
    pub fn new(buckets: usize) -> Cells<T> {
        Cells { buckets, groups: BTreeMap::new() }
    }

    pub fn cell(&mut self, group: Vec<Option<String>>, bucket: usize) -> &mut T {
        let n = self.buckets;
        &mut self.groups.entry(group).or_insert_with(|| vec![T::default(); n])[bucket]
    }
}

/// What the stored conversations of a bucket say that counters cannot: distinct users and
/// extreme durations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationCell {
    pub users: HashSet<String>,
    pub min_ms: Option<Millis>,
    pub max_ms: Option<Millis>,
}

impl ConversationCell {
    pub fn add(&mut self, duration_ms: Millis, user: Option<String>) {
        self.min_ms = Some(self.min_ms.map_or(duration_ms, |m| m.min(duration_ms)));
        self.max_ms = Some(self.max_ms.map_or(duration_ms, |m| m.max(duration_ms)));
        if let Some(u) = user {
            self.users.insert(u);
        }
    }
}

/// One line of a chart: a value per bucket (null where nothing was measured) and their summary.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Serie {
    #[schema(value_type = Vec<Option<f64>>)]
    pub values: Vec<Value>,
    #[schema(value_type = Option<f64>)]
    pub mean: Value,
    #[schema(value_type = Option<f64>)]
    pub max: Value,
    #[schema(value_type = Option<f64>)]
    pub min: Value,
    #[schema(value_type = Option<f64>)]
    pub sum: Value,
    /// The group's values, by `group_by` key.
    pub labels: BTreeMap<String, String>,
}

/// Chatlayer's `SeriesData`: one serie per group, with the buckets' start times.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SeriesData {
    pub series: Vec<Serie>,
    pub series_labels: Vec<String>,
    /// Each bucket's start, RFC 3339 in the query's time zone.
    pub x_values: Vec<String>,
}

fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9e15 {
        Value::from(v as i64)
    } else {
        Value::from((v * 1000.0).round() / 1000.0)
    }
}

/// Builds one serie: `None` values (a mean of nothing, a rate of no conversations) become
/// `null`, or `0` when `empty_as_zero`, and the summary fields cover the defined values only.
fn serie(values: Vec<Option<f64>>, labels: BTreeMap<String, String>, empty_as_zero: bool) -> Serie {
    let values: Vec<Option<f64>> =
        values.into_iter().map(|v| if empty_as_zero { v.or(Some(0.0)) } else { v }).collect();
    let defined: Vec<f64> = values.iter().flatten().copied().collect();
    let sum: f64 = defined.iter().sum();
    let opt = |v: Option<f64>| v.map_or(Value::Null, number);
    Serie {
        mean: opt((!defined.is_empty()).then(|| sum / defined.len() as f64)),
        max: opt(defined.iter().copied().reduce(f64::max)),
        min: opt(defined.iter().copied().reduce(f64::min)),
        sum: opt((!defined.is_empty()).then_some(sum)),
        values: values.into_iter().map(opt).collect(),
        labels,
    }
}

fn counter_value(stat: Stat, roles: &[Role], c: &Counters) -> Option<f64> {
    let per = |num: i64, den: i64| (den > 0).then(|| num as f64 / den as f64);
    match stat {
        Stat::Conversations => Some(c.conversations as f64),
        Stat::Messages => Some(
            Role::ALL
                .iter()
                .filter(|r| roles.is_empty() || roles.contains(r))
                .map(|r| c.messages[r.code() as usize])
                .sum::<i64>() as f64,
        ),
        Stat::Duration(Agg::Sum) => Some(c.duration_ms as f64 / 1000.0),
        Stat::Duration(_) => per(c.duration_ms, c.conversations).map(|v| v / 1000.0),
        Stat::Handoffs => Some(c.handoffs as f64),
        Stat::NotHandled => Some(c.not_handled as f64),
        Stat::ContainmentRate => per(c.conversations - c.handoffs, c.conversations),
        Stat::Completed => Some(c.completed as f64),
        Stat::CompletionRate => per(c.completed, c.conversations),
        Stat::UniqueUsers | Stat::InputTokens | Stat::OutputTokens => None,
    }
}

/// Whether a cell holds anything the stat is about: a group whose conversations started
/// before the range but whose messages fall inside it has no conversations to show.
fn counts_for(stat: Stat, roles: &[Role], c: &Counters) -> bool {
    match stat {
        Stat::Messages => counter_value(stat, roles, c).is_some_and(|v| v > 0.0),
        Stat::NotHandled => c.messages.iter().any(|&n| n > 0),
        _ => c.conversations > 0,
    }
}

fn conversation_value(stat: Stat, c: &ConversationCell) -> Option<f64> {
    match stat {
        Stat::UniqueUsers => Some(c.users.len() as f64),
        Stat::Duration(Agg::Min) => c.min_ms.map(|v| v as f64 / 1000.0),
        Stat::Duration(Agg::Max) => c.max_ms.map(|v| v as f64 / 1000.0),
        _ => None,
    }
}

/// One serie before it is summed up: its labels and per-bucket values.
type Line = (Vec<(String, String)>, Vec<Option<f64>>);

/// Series in a stable order: the largest first, ties by label.
fn finish(req: &SeriesRequest, mut rows: Vec<Line>, empty_as_zero: bool) -> SeriesData {
    if rows.is_empty() && req.group_by.is_empty() {
        let empty = match req.stat.source() {
            Source::Counters => counter_value(req.stat, &req.roles, &Counters::default()),
            Source::Conversations => conversation_value(req.stat, &ConversationCell::default()),
            Source::Tokens => token_value(req.stat, &Tokens::default()),
        };
        rows.push((vec![], vec![empty; req.buckets.len()]));
    }
    let total = |v: &[Option<f64>]| v.iter().flatten().sum::<f64>();
    rows.sort_by(|a, b| total(&b.1).total_cmp(&total(&a.1)).then_with(|| a.0.cmp(&b.0)));
    let mut data = SeriesData {
        series: vec![],
        series_labels: vec![],
        x_values: req.buckets.labels().to_vec(),
    };
    for (labels, values) in rows {
        let label = if labels.is_empty() {
            req.stat.name().to_owned()
        } else {
            labels.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(" / ")
        };
        data.series_labels.push(label);
        data.series.push(serie(values, labels.into_iter().collect(), empty_as_zero));
    }
    data
}

fn labels(req: &SeriesRequest, group: &[Option<String>]) -> Vec<(String, String)> {
    req.store_groups()
        .iter()
        .zip(group)
        .map(|(g, v)| (g.name().to_owned(), v.clone().unwrap_or_default()))
        .collect()
}

/// The series of a counter stat. Labels without a value (a conversation with no channel type)
/// are `""`.
pub fn from_counters(
    req: &SeriesRequest,
    cells: &Cells<Counters>,
    empty_as_zero: bool,
) -> SeriesData {
    let mut rows = vec![];
    for (group, cells) in &cells.groups {
        let base = labels(req, group);
        if req.group_by.contains(&GroupKey::Role) {
            for role in
                Role::ALL.into_iter().filter(|r| req.roles.is_empty() || req.roles.contains(r))
            {
                let values: Vec<Option<f64>> =
                    cells.iter().map(|c| Some(c.messages[role.code() as usize] as f64)).collect();
                if values.iter().all(|v| *v == Some(0.0)) {
                    continue;
                }
                let mut l = base.clone();
                let at = req.group_by.iter().position(|g| *g == GroupKey::Role).unwrap_or(0);
                l.insert(at.min(l.len()), ("role".into(), role.as_str().into()));
                rows.push((l, values));
            }
        } else if cells.iter().any(|c| counts_for(req.stat, &req.roles, c)) {
            rows.push((
                base,
                cells.iter().map(|c| counter_value(req.stat, &req.roles, c)).collect(),
            ));
        }
    }
    finish(req, rows, empty_as_zero)
}

fn token_value(stat: Stat, t: &Tokens) -> Option<f64> {
    match stat {
        Stat::InputTokens => Some(t.input as f64),
        Stat::OutputTokens => Some(t.output as f64),
        _ => None,
    }
}

/// The series of a token stat. A group (a model, say) appears when it has tokens of the stat
/// in the range; a model not named is `""`, as other labels without a value.
pub fn from_tokens(req: &SeriesRequest, cells: &Cells<Tokens>, empty_as_zero: bool) -> SeriesData {
    let rows = cells
        .groups
        .iter()
        .filter(|(_, cells)| {
            cells.iter().any(|c| token_value(req.stat, c).is_some_and(|v| v > 0.0))
        })
        .map(|(group, cells)| {
            (labels(req, group), cells.iter().map(|c| token_value(req.stat, c)).collect())
        })
        .collect();
    finish(req, rows, empty_as_zero)
}

/// The series of a stat read from stored conversations.
pub fn from_conversations(
    req: &SeriesRequest,
    cells: &Cells<ConversationCell>,
    empty_as_zero: bool,
) -> SeriesData {
    let rows = cells
        .groups
        .iter()
        .map(|(group, cells)| {
            (labels(req, group), cells.iter().map(|c| conversation_value(req.stat, c)).collect())
        })
        .collect();
    finish(req, rows, empty_as_zero)
}
