//! The native JSON shapes of conversations and messages.

use confab_core::conversation::{Conversation, Message};
use confab_core::flow::{Transition, transitions};
use confab_core::summary::Dim;
use confab_core::time::format_rfc3339;
use serde_json::{Value, json};

pub fn conversation(c: &Conversation) -> Value {
    c.to_json()
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
