//! What both backends' tables have in common: the column lists the row mappings of each backend
//! read in this order, so that a conversation or message row means the same everywhere.

use confab_core::summary::DIM_COUNT;

/// The dimension columns, in [`confab_core::Dim`] order.
pub(crate) const DIM_COLUMNS: [&str; DIM_COUNT] = [
    "channel_type",
    "language",
    "version",
    "user_id",
    "campaign_id",
    "campaign_source",
    "conv_type",
    "session_id",
];

/// The summary columns a write sets, in the order each backend's `summary_values` gives them.
pub(crate) fn summary_columns() -> Vec<&'static str> {
    let mut cols = vec![
        "started_at",
        "last_message_at",
        "message_count",
        "n_user",
        "n_bot",
        "n_agent",
        "n_system",
        "first_user_message",
        "first_bot_message",
    ];
    cols.extend(DIM_COLUMNS);
    cols.extend(["metadata", "stamps", "last_step_id", "last_step_type"]);
    cols
}

/// `SELECT` list of a conversation row; the query must join `bots b` on `b.id = c.bot_pk`.
pub(crate) const CONVERSATION_SELECT: &str = "c.id, b.bot_id, c.conversation_id, c.status, \
    c.started_at, c.last_message_at, c.message_count, c.n_user, c.n_bot, c.n_agent, c.n_system, \
    c.first_user_message, c.first_bot_message, c.channel_type, c.language, c.version, c.user_id, \
    c.campaign_id, c.campaign_source, c.conv_type, c.session_id, c.metadata, c.stamps, \
    c.last_step_id, c.last_step_type";

/// `SELECT` list of a message row (`messages m`).
pub(crate) const MESSAGE_SELECT: &str =
    "m.id, m.client_id, m.role, m.content, m.ts, m.step_id, m.step_type, m.metadata";

/// `SELECT` list of an API key row.
pub(crate) const KEY_SELECT: &str = "id, team_id, name, hint, scopes, bots, created_at, revoked_at";

/// `SELECT` list of a datapoint with its source message (`datapoints d` left-joined to
/// `messages m`).
pub(crate) const DATAPOINT_SELECT: &str =
    "d.key, d.value, d.method, m.client_id, m.ts, d.updated_at, d.evidence";

/// `SELECT` list of a webhook (`webhooks w` joined to `bots b`).
pub(crate) const WEBHOOK_SELECT: &str = "w.id, b.bot_id, w.url, w.events, w.secret, w.created_at";

/// `SELECT` list of a delivery as the API lists it.
pub(crate) const DELIVERY_SELECT: &str = "id, webhook_id, event_id, event, state, attempts, \
     next_attempt_at, last_status, last_error, created_at, delivered_at";

/// Parses a stored JSON object column; anything else reads as absent.
pub(crate) fn json_object(
    text: Option<String>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_str(&text?) {
        Ok(serde_json::Value::Object(m)) => Some(m),
        _ => None,
    }
}
