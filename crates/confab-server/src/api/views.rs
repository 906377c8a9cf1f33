//! The native JSON shapes of conversations, messages and flows.

use std::collections::BTreeMap;

use confab_core::conversation::{Conversation, ConversationView, Message};
use confab_core::datapoints::DatapointView;
use confab_core::flow::{Transition, transitions};
use confab_core::message::{Role, Step};
use confab_core::summary::Dim;
use confab_core::time::format_rfc3339;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// One message of a transcript.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    /// The client's message id, if it gave one.
    pub id: Option<String>,
    pub role: Role,
    pub content: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    pub step: Option<Step>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

pub fn message(m: &Message) -> MessageView {
    MessageView {
        id: m.client_id.clone(),
        role: m.role,
        content: m.content.clone(),
        timestamp: format_rfc3339(m.timestamp),
        step: m.step.clone(),
        metadata: m.metadata.clone(),
    }
}

/// A conversation with its transcript, its step transitions and its datapoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct Transcript {
    #[serde(flatten)]
    pub conversation: ConversationView,
    pub messages: Vec<MessageView>,
    pub flow: Vec<Transition>,
    pub datapoints: BTreeMap<String, DatapointView>,
}

/// A conversation's step transitions (Chatlayer's `ConversationFlow`).
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowView {
    pub bot_id: String,
    pub conversation_id: String,
    pub user_id: Option<String>,
    pub transitions: Vec<Transition>,
}

/// A conversation's flow as Chatlayer returns it: its transitions, or only the one a message
/// made when `message_id` is given.
pub fn flow(c: &Conversation, messages: &[Message], message_id: Option<&str>) -> FlowView {
    FlowView {
        bot_id: c.bot_id.clone(),
        conversation_id: c.conversation_id.clone(),
        user_id: c.summary.dim(Dim::UserId).map(str::to_owned),
        transitions: transitions(messages)
            .into_iter()
            .filter(|t| message_id.is_none_or(|id| t.id == id))
            .collect(),
    }
}
