//! Conversations and messages as stored and read back.

use serde_json::{Map, Value};

use crate::message::{Role, Step};
use crate::summary::Summary;
use crate::time::Millis;

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
