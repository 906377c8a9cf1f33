//! The conversation list (the API's filters, full-text search, cursor paging) and one
//! conversation's transcript beside its datapoints.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use confab_core::buckets::TimeZone;
use confab_core::conversation::{Conversation, Status};
use confab_core::datapoints::{Datapoint, Evidence};
use confab_core::extract::display;
use confab_core::message::{Role, check_id};
use confab_core::query::ConversationFilter;
use confab_core::summary::Dim;
use confab_core::time::{Millis, format_rfc3339};

use super::evidence;
use super::period::url;
use super::session::Viewer;
use super::{Nav, UiError, first_message_curl, render};
use crate::AppState;
use crate::extract::{Params, PathParams};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/bots/{bot_id}/conversations", get(list))
        .route("/bots/{bot_id}/conversations/{conversation_id}", get(transcript))
}

/// A time in the viewer's zone, to the minute (`2026-11-20 14:03`), and to the second.
pub fn local(ms: Millis, tz: &TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn local_seconds(ms: Millis, tz: &TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz.clone()).strftime("%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The query string of `params` without `drop`, each pair escaped.
pub fn query_without(params: &[(String, String)], drop: &[&str]) -> String {
    params
        .iter()
        .filter(|(k, _)| !drop.contains(&k.as_str()))
        .map(|(k, v)| format!("{}={}", url(k), url(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The link to the page after `cursor`, with the same filters.
pub fn next_page(params: &[(String, String)], cursor: &confab_core::query::Cursor) -> String {
    let rest = query_without(params, &["cursor"]);
    let sep = if rest.is_empty() { "" } else { "&" };
    format!("?{rest}{sep}cursor={}", url(&cursor.encode()))
}

/// Form fields left empty are not filters.
pub fn filled(params: Vec<(String, String)>) -> Vec<(String, String)> {
    params.into_iter().filter(|(_, v)| !v.trim().is_empty()).collect()
}

pub struct Row {
    pub id: String,
    pub href: String,
    pub started: String,
    pub started_iso: String,
    pub last: String,
    pub channel: String,
    pub language: String,
    pub user: String,
    pub messages: i64,
    pub status: &'static str,
    pub preview: String,
}

pub fn row_of(bot_id: &str, c: &Conversation, tz: &TimeZone) -> Row {
    let s = &c.summary;
    let dim = |d: Dim| s.dim(d).unwrap_or("").to_owned();
    let preview = s.first_user_message.as_deref().or(s.first_bot_message.as_deref()).unwrap_or("");
    Row {
        href: format!("/bots/{}/conversations/{}", url(bot_id), url(&c.conversation_id)),
        id: c.conversation_id.clone(),
        started: local(s.started_at, tz),
        started_iso: format_rfc3339(s.started_at),
        last: local(s.last_message_at, tz),
        channel: dim(Dim::ChannelType),
        language: dim(Dim::Language),
        user: dim(Dim::UserId),
        messages: s.message_count(),
        status: c.status.as_str(),
        preview: preview.chars().take(90).collect(),
    }
}

/// What the filter form shows: each field's current value.
pub struct Form {
    pub q: String,
    pub status: String,
    /// `true`, `false` or empty: reached a goal step or not.
    pub completed: String,
    pub channel_type: String,
    pub language: String,
    pub user_id: String,
    pub start_time: String,
    pub end_time: String,
    /// Filters the form has no field for (from a flow node, a link): kept as hidden fields.
    pub hidden: Vec<(String, String)>,
}

const FORM_FIELDS: [&str; 8] =
    ["q", "status", "completed", "channel_type", "language", "user_id", "start_time", "end_time"];

impl Form {
    pub fn of(params: &[(String, String)]) -> Form {
        let get = |k: &str| {
            params.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default()
        };
        Form {
            q: get("q"),
            status: get("status"),
            completed: get("completed"),
            channel_type: get("channel_type"),
            language: get("language"),
            user_id: get("user_id"),
            start_time: get("start_time"),
            end_time: get("end_time"),
            hidden: params
                .iter()
                .filter(|(k, _)| !FORM_FIELDS.contains(&k.as_str()) && k != "cursor")
                .cloned()
                .collect(),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "conversations.html")]
struct ListPage {
    nav: Nav,
    form: Form,
    rows: Vec<Row>,
    error: Option<String>,
    next: Option<String>,
    first_page: Option<String>,
    filtered: bool,
    curl: String,
}

async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    PathParams(bot_id): PathParams<String>,
    Params(params): Params,
) -> Result<Response, UiError> {
    let nav = Nav::of_bot(&state, &viewer, &bot_id, "conversations").await?;
    let params = filled(params);
    let form = Form::of(&params);
    let filtered = params.iter().any(|(k, _)| k != "cursor" && k != "limit");
    let mut page = ListPage {
        nav,
        form,
        rows: vec![],
        error: None,
        next: None,
        first_page: params
            .iter()
            .any(|(k, _)| k == "cursor")
            .then(|| format!("?{}", query_without(&params, &["cursor"]))),
        filtered,
        curl: first_message_curl(&headers, &bot_id),
    };
    // A bad filter is shown above the form it came from, which stays filled in to fix it.
    let (filter, page_req) = match ConversationFilter::from_params(&params) {
        Ok(parsed) => parsed,
        Err(e) => {
            page.error = Some(format!("{}: {}", e.field, e.message));
            return Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response());
        }
    };
    let listed =
        state.store.list_conversations(viewer.caller.team_id, &bot_id, &filter, &page_req).await?;
    page.rows = listed.items.iter().map(|c| row_of(&bot_id, c, &viewer.tz)).collect();
    page.next = listed.next_cursor.map(|c| next_page(&params, &c));
    Ok(render(&page)?.into_response())
}

pub struct MessageView {
    pub anchor: String,
    pub role: &'static str,
    /// The content in pieces; a piece a datapoint was read from carries its key.
    pub segments: Vec<(String, Option<String>)>,
    pub time: String,
    pub datetime: String,
    pub step: Option<String>,
    pub metadata: Option<String>,
    /// Datapoint keys read from this message.
    pub sources: Vec<String>,
}

pub struct DatapointView {
    pub key: String,
    pub value: Option<String>,
    pub status: &'static str,
    pub method: String,
    /// Why extraction chose the value, in words ([`evidence_word`]).
    pub evidence: Option<&'static str>,
    pub source: Option<String>,
    /// The message it was read from, for a reader: number, role and time.
    pub source_label: Option<String>,
    /// The words of that message the value was read from, when they can be found again.
    pub quote: Option<String>,
}

/// An [`Evidence`] as the panel says it: the API's names are identifiers, and two of them
/// (`order`, `only_key`) mean nothing to a reader without the schema in mind.
fn evidence_word(e: Evidence) -> &'static str {
    match e {
        Evidence::Confirmed => "confirmed",
        Evidence::Corrected => "corrected",
        Evidence::Asked => "asked",
        Evidence::Mentioned => "mentioned",
        Evidence::Order => "schema order",
        Evidence::OnlyKey => "only key",
    }
}

pub struct Detail {
    pub label: &'static str,
    pub value: String,
}

#[derive(askama::Template)]
#[template(path = "transcript.html")]
struct TranscriptPage {
    nav: Nav,
    id: String,
    status: &'static str,
    details: Vec<Detail>,
    metadata: Option<String>,
    messages: Vec<MessageView>,
    datapoints: Vec<DatapointView>,
    back: String,
}

/// The message a value was read from: by the client's message id, else by its time.
fn source_of(d: &Datapoint, messages: &[confab_core::conversation::Message]) -> Option<usize> {
    if let Some(id) = &d.message_id
        && let Some(i) = messages.iter().position(|m| m.client_id.as_ref() == Some(id))
    {
        return Some(i);
    }
    let at = d.message_at?;
    messages.iter().position(|m| m.timestamp == at && m.role == Role::User)
}

async fn transcript(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParams((bot_id, conversation_id)): PathParams<(String, String)>,
) -> Result<Response, UiError> {
    let nav = Nav::of_bot(&state, &viewer, &bot_id, "conversations").await?;
    check_id("conversation_id", &conversation_id)?;
    let team = viewer.caller.team_id;
    let (conv, messages) = state.store.get_conversation(team, &bot_id, &conversation_id).await?;
    let (status, values) =
        state.store.conversation_datapoints(team, &bot_id, &conversation_id).await?;
    let schema = state.store.datapoint_schema(team, &bot_id).await?;
    let checked = schema.clone().and_then(|s| s.validate().ok());
    // Settings that no longer parse only cost the quotes their local phone and date readings.
    let ctx = state.store.bot_settings(team, &bot_id).await?.context().unwrap_or_default();
    let tz = &viewer.tz;
    let sources: Vec<Option<usize>> = values.iter().map(|d| source_of(d, &messages)).collect();
    let spans: Vec<Option<std::ops::Range<usize>>> = values
        .iter()
        .zip(&sources)
        .map(|(d, s)| {
            let m = &messages[(*s)?];
            let def = checked.as_ref().and_then(|c| c.definition(&d.key));
            evidence::span_of(def, &d.value, &m.content, &ctx, m.timestamp)
        })
        .collect();
    let messages_view = messages
        .iter()
        .enumerate()
        .map(|(i, m)| MessageView {
            anchor: format!("m{}", i + 1),
            role: m.role.as_str(),
            segments: evidence::segments(
                &m.content,
                &values
                    .iter()
                    .zip(sources.iter().zip(&spans))
                    .filter(|(_, (s, _))| **s == Some(i))
                    .filter_map(|(d, (_, r))| Some((r.clone()?, d.key.clone())))
                    .collect::<Vec<_>>(),
            ),
            time: local_seconds(m.timestamp, tz),
            datetime: format_rfc3339(m.timestamp),
            step: m.step.as_ref().map(|s| match &s.kind {
                Some(k) => format!("{} · {k}", s.id),
                None => s.id.clone(),
            }),
            metadata: m.metadata.as_ref().and_then(|md| serde_json::to_string_pretty(md).ok()),
            sources: values
                .iter()
                .zip(&sources)
                .filter(|(_, s)| **s == Some(i))
                .map(|(d, _)| d.key.clone())
                .collect(),
        })
        .collect();
    let view = |d: &Datapoint, source: Option<usize>, span: &Option<std::ops::Range<usize>>| {
        DatapointView {
            key: d.key.clone(),
            value: Some(display(&d.value)),
            status: if status == Status::Ended { "final" } else { "provisional" },
            method: serde_json::to_value(d.method)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            evidence: d.evidence.map(evidence_word),
            source: source.map(|i| format!("m{}", i + 1)),
            source_label: source.map(|i| {
                let m = &messages[i];
                format!(
                    "message {} · {} · {}",
                    i + 1,
                    m.role.as_str(),
                    local_seconds(m.timestamp, tz)
                )
            }),
            quote: source.zip(span.clone()).map(|(i, r)| messages[i].content[r].to_owned()),
        }
    };
    // Schema order first, with the keys nobody gave; then values of keys since removed.
    let mut datapoints = vec![];
    let keys: Vec<String> =
        schema.map(|s| s.datapoints.into_iter().map(|d| d.key).collect()).unwrap_or_default();
    for key in &keys {
        match values.iter().position(|d| &d.key == key) {
            Some(i) => datapoints.push(view(&values[i], sources[i], &spans[i])),
            None => datapoints.push(DatapointView {
                key: key.clone(),
                value: None,
                status: "",
                method: String::new(),
                evidence: None,
                source: None,
                source_label: None,
                quote: None,
            }),
        }
    }
    for ((d, s), r) in values.iter().zip(&sources).zip(&spans) {
        if !keys.contains(&d.key) {
            datapoints.push(view(d, *s, r));
        }
    }
    let s = &conv.summary;
    let mut details = vec![];
    let mut add = |label: &'static str, value: String| {
        if !value.is_empty() {
            details.push(Detail { label, value });
        }
    };
    add("Started", local(s.started_at, tz));
    add("Last message", local(s.last_message_at, tz));
    add("Duration", format!("{}s", s.duration_ms() / 1000));
    add("Messages", s.message_count().to_string());
    for (label, dim) in [
        ("User", Dim::UserId),
        ("Channel", Dim::ChannelType),
        ("Language", Dim::Language),
        ("Version", Dim::Version),
        ("Campaign", Dim::CampaignId),
        ("Session", Dim::SessionId),
    ] {
        add(label, s.dim(dim).unwrap_or("").to_owned());
    }
    if let Some(step) = &s.last_step {
        add(if conv.status == Status::Ended { "Left at" } else { "Now at" }, step.id.clone());
    }
    let page = TranscriptPage {
        nav,
        id: conv.conversation_id.clone(),
        status: conv.status.as_str(),
        details,
        metadata: (!s.metadata.is_empty())
            .then(|| serde_json::to_string_pretty(&s.metadata).unwrap_or_default()),
        messages: messages_view,
        datapoints,
        back: format!("/bots/{}/conversations", url(&bot_id)),
    };
    Ok(render(&page)?.into_response())
}
