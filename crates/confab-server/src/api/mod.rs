//! The native API under `/v1`.

mod admin;
pub mod analytics;
mod conversations;
mod datapoints;
pub(crate) mod export;
mod ingest;
pub mod views;
mod webhooks;

use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(ingest::router())
        .merge(conversations::router())
        .merge(analytics::router())
        .merge(datapoints::router())
        .merge(export::router())
        .merge(webhooks::router())
        .merge(admin::router())
}

/// `/v1/bots/{bot_id}/…`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BotPath {
    /// The bot's id, as messages gave it.
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub bot_id: String,
}

/// `/v1/bots/{bot_id}/conversations/{conversation_id}/…`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConversationPath {
    /// The bot's id, as messages gave it.
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub bot_id: String,
    /// The conversation's id, as messages gave it.
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub conversation_id: String,
}

/// `/v1/bots/{bot_id}/webhooks/{webhook_id}/…`
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WebhookPath {
    /// The bot's id, as messages gave it.
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub bot_id: String,
    /// The subscription's id.
    pub webhook_id: i64,
}
