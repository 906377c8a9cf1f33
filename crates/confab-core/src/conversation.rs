//! Conversations and messages as stored and read back.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::message::{Role, Step};
use crate::summary::{Dim, Summary};
use crate::time::Millis;
use crate::time::format_rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Ended,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Active, Status::Ended].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// The numeric id (Botuj's `id`), unique across the database.
    pub pk: i64,
    pub bot_id: String,
    pub conversation_id: String,
    pub status: Status,
    pub summary: Summary,
}

impl Conversation {
    /// The native JSON shape, as the API lists it and webhooks send it.
    pub fn view(&self) -> ConversationView {
        let c = self;
        let s = &c.summary;
        let dim = |d: Dim| s.dim(d).map(str::to_owned);
        let campaign = match (dim(Dim::CampaignId), dim(Dim::CampaignSource)) {
            (None, None) => None,
            (id, source) => Some(Campaign { id, source }),
        };
        ConversationView {
            id: c.conversation_id.clone(),
            numeric_id: c.pk,
            bot_id: c.bot_id.clone(),
            status: c.status,
            started_at: format_rfc3339(s.started_at),
            last_message_at: format_rfc3339(s.last_message_at),
            // A conversation ends with its last message; it is known to have ended once idle.
            ended_at: (c.status == Status::Ended).then(|| format_rfc3339(s.last_message_at)),
            duration_seconds: s.duration_ms() as f64 / 1000.0,
            message_count: s.message_count(),
            messages_by_role: RoleCounts {
                user: s.count(Role::User),
                bot: s.count(Role::Bot),
                agent: s.count(Role::Agent),
                system: s.count(Role::System),
            },
            first_user_message: s.first_user_message.clone(),
            first_bot_message: s.first_bot_message.clone(),
            channel_type: dim(Dim::ChannelType),
            language: dim(Dim::Language),
            version: dim(Dim::Version),
            user_id: dim(Dim::UserId),
            campaign,
            r#type: dim(Dim::Type),
            session_id: dim(Dim::SessionId),
            metadata: s.metadata.clone(),
        }
    }
}

/// A conversation: its summary, without its messages.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationView {
    /// The conversation id the bot gave.
    pub id: String,
    /// A numeric id, unique across the database (Botuj's `id`).
    pub numeric_id: i64,
    pub bot_id: String,
    pub status: Status,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub last_message_at: String,
    /// Set once the conversation has ended: its last message's time.
    pub ended_at: Option<String>,
    pub duration_seconds: f64,
    pub message_count: i64,
    pub messages_by_role: RoleCounts,
    pub first_user_message: Option<String>,
    pub first_bot_message: Option<String>,
    pub channel_type: Option<String>,
    pub language: Option<String>,
    pub version: Option<String>,
    pub user_id: Option<String>,
    pub campaign: Option<Campaign>,
    pub r#type: Option<String>,
    pub session_id: Option<String>,
    /// The metadata the messages carried, merged per key (the earliest value wins).
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleCounts {
    pub user: i64,
    pub bot: i64,
    pub agent: i64,
    pub system: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Campaign {
    pub id: Option<String>,
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub pk: i64,
    pub client_id: Option<String>,
    pub role: Role,
    pub content: String,
    pub timestamp: Millis,
    pub step: Option<Step>,
    pub metadata: Option<Map<String, Value>>,
}

/// What happened to one posted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    Stored,
    /// Its client id was seen before in this conversation: nothing was written.
    Duplicate,
}
