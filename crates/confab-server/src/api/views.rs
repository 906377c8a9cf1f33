//! The native JSON shapes of conversations and messages.

use confab_core::conversation::{Conversation, Message};
use confab_core::flow::{Transition, transitions};
use confab_core::message::Role;
use confab_core::summary::Dim;
use confab_core::time::format_rfc3339;
use serde_json::{Value, json};

pub fn conversation(c: &Conversation) -> Value {
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

pub fn message(m: &Message) -> Value {
    json!({
        "id": m.client_id,
        "role": m.role.as_str(),
        "content": m.content,
        "timestamp": format_rfc3339(m.timestamp),
        "step": m.step,
        "metadata": m.metadata,
    })
}

/// Chatlayer's `FlowTransition`, natively too.
pub fn transition(t: &Transition) -> Value {
    json!({
        "id": t.id,
        "from_step": t.from_step,
        "to_step": t.to_step,
        "depth": t.depth,
        "timestamp": format_rfc3339(t.timestamp),
    })
}

/// A conversation's flow as Chatlayer returns it: its transitions, or only the one a message
/// made when `message_id` is given.
pub fn flow(c: &Conversation, messages: &[Message], message_id: Option<&str>) -> Value {
    let transitions: Vec<Value> = transitions(messages)
        .iter()
        .filter(|t| message_id.is_none_or(|id| t.id == id))
        .map(transition)
        .collect();
    json!({
        "bot_id": c.bot_id,
        "conversation_id": c.conversation_id,
        "user_id": c.summary.dim(Dim::UserId),
        "transitions": transitions,
    })
}
