//! Conversations and messages as stored and read back.

use serde_json::{Map, Value, json};

use crate::message::{Role, Step};
use crate::summary::{Dim, Summary};
use crate::time::Millis;
use crate::time::format_rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub fn to_json(&self) -> Value {
        let c = self;
        let s = &c.summary;
        let campaign = match (s.dim(Dim::CampaignId), s.dim(Dim::CampaignSource)) {
            (None, None) => Value::Null,
            (id, source) => json!({ "id": id, "source": source }),
        };
        json!({
            "id": c.conversation_id,
            "numeric_id": c.pk,
            "bot_id": c.bot_id,
            "status": c.status.as_str(),
            "started_at": format_rfc3339(s.started_at),
            "last_message_at": format_rfc3339(s.last_message_at),
            // A conversation ends with its last message; it is known to have ended once idle.
            "ended_at": (c.status == Status::Ended).then(|| format_rfc3339(s.last_message_at)),
            "duration_seconds": s.duration_ms() as f64 / 1000.0,
            "message_count": s.message_count(),
            "messages_by_role": {
                "user": s.count(Role::User),
                "bot": s.count(Role::Bot),
                "agent": s.count(Role::Agent),
                "system": s.count(Role::System),
            },
            "first_user_message": s.first_user_message,
            "first_bot_message": s.first_bot_message,
            "channel_type": s.dim(Dim::ChannelType),
            "language": s.dim(Dim::Language),
            "version": s.dim(Dim::Version),
            "user_id": s.dim(Dim::UserId),
            "campaign": campaign,
            "type": s.dim(Dim::Type),
            "session_id": s.dim(Dim::SessionId),
            "metadata": s.metadata,
        })
    }
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
