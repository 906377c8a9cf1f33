//! `POST /v1/bots/{bot_id}/messages` and `…/messages/batch`: validate at the edge, store in one
//! call, answer only once durable.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use confab_core::auth::{Caller, Scope};
use confab_core::conversation::IngestOutcome;
use confab_core::time::now_millis;
use confab_core::{FieldError, MessageInput};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::BotPath;
use crate::auth::Allow;
use crate::extract::{JsonBody, PathParams, from_value};
use crate::openapi::ErrorDetail;
use crate::{ApiError, ApiResult, AppState};

pub const MAX_BATCH: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest_one)).routes(routes!(ingest_batch))
}

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    /// Stored now.
    Stored,
    /// Its id was seen before in the conversation: nothing was written.
    Duplicate,
    /// Invalid (in a batch); `error` says why.
    Rejected,
}

impl From<IngestOutcome> for Outcome {
    fn from(o: IngestOutcome) -> Outcome {
        match o {
            IngestOutcome::Stored => Outcome::Stored,
            IngestOutcome::Duplicate => Outcome::Duplicate,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct Ingested {
    status: Outcome,
    conversation_id: String,
}

/// Stores one message, answering once it is durable. An unknown bot is created in the caller's
/// team unless the server refuses that (`--no-create-bots`).
#[utoipa::path(post, path = "/v1/bots/{bot_id}/messages", operation_id = "ingestMessage", tag = "ingest", params(BotPath),
    request_body = MessageInput,
    responses((status = 200, body = Ingested)))]
async fn ingest_one(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    JsonBody(input): JsonBody<MessageInput>,
) -> ApiResult<Json<Ingested>> {
    caller.bot(Scope::Ingest, &bot_id)?;
    let message = input.validate(now_millis())?;
    let conversation_id = message.conversation_id.clone();
    let outcomes = state
        .store
        .ingest(caller.team_id, &bot_id, state.config.create_bots, vec![message])
        .await?;
    crate::observe::record_ingested(&outcomes, 0);
    Ok(Json(Ingested { status: outcomes[0].into(), conversation_id }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Batch {
    /// 1 to 1,000 messages, each checked on its own.
    #[schema(value_type = Vec<MessageInput>, min_items = 1, max_items = 1000)]
    messages: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
struct BatchResult {
    stored: usize,
    duplicates: usize,
    rejected: usize,
    /// One per message, in order.
    results: Vec<ItemResult>,
}

#[derive(Serialize, ToSchema)]
struct ItemResult {
    /// The message's position in `messages`.
    index: usize,
    status: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail>,
}

/// Stores up to 1,000 messages in one transaction, each valid one exactly once; answers 207 when
/// some were rejected (the others are stored).
#[utoipa::path(post, path = "/v1/bots/{bot_id}/messages/batch", operation_id = "ingestBatch", tag = "ingest", params(BotPath),
    request_body = Batch,
    responses((status = 200, description = "Every message stored or a duplicate", body = BatchResult),
        (status = 207, description = "Some messages were rejected; the rest are stored", body = BatchResult)))]
async fn ingest_batch(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    JsonBody(batch): JsonBody<Batch>,
) -> ApiResult<(StatusCode, Json<BatchResult>)> {
    caller.bot(Scope::Ingest, &bot_id)?;
    if batch.messages.is_empty() {
        return Err(ApiError::invalid("messages", "must contain at least one message"));
    }
    if batch.messages.len() > MAX_BATCH {
        return Err(ApiError::TooLarge {
            field: "messages",
            message: format!(
                "at most {MAX_BATCH} messages per batch, got {}",
                batch.messages.len()
            ),
        });
    }
    let now = now_millis();
    let mut valid = Vec::with_capacity(batch.messages.len());
    let mut results = Vec::with_capacity(batch.messages.len());
    for (index, item) in batch.messages.into_iter().enumerate() {
        let checked = from_value::<MessageInput>(item)
            .and_then(|input| input.validate(now).map_err(ApiError::from));
        // Valid ones are stored or duplicates; which is known once stored.
        let (status, error) = match checked {
            Ok(m) => {
                valid.push((index, m));
                (Outcome::Stored, None)
            }
            Err(e) => (Outcome::Rejected, Some(rejection(e))),
        };
        results.push(ItemResult { index, status, error });
    }
    let rejected = results.len() - valid.len();
    let (indices, messages): (Vec<usize>, Vec<_>) = valid.into_iter().unzip();
    let outcomes = match messages.is_empty() {
        true => vec![],
        false => {
            state.store.ingest(caller.team_id, &bot_id, state.config.create_bots, messages).await?
        }
    };
    crate::observe::record_ingested(&outcomes, rejected);
    let mut stored = 0;
    for (index, outcome) in indices.into_iter().zip(outcomes) {
        stored += usize::from(outcome == IngestOutcome::Stored);
        results[index].status = outcome.into();
    }
    let status = if rejected == 0 { StatusCode::OK } else { StatusCode::MULTI_STATUS };
    let duplicates = results.len() - rejected - stored;
    Ok((status, Json(BatchResult { stored, duplicates, rejected, results })))
}

fn rejection(e: ApiError) -> ErrorDetail {
    let (field, message) = match e {
        ApiError::Invalid(FieldError { field, message }) => (field, message),
        other => (String::new(), other.to_string()),
    };
    ErrorDetail { code: "invalid_request", message, field: Some(field), limit_bytes: None }
}
