//! `POST /v1/bots/{bot_id}/messages` and `…/messages/batch`: validate at the edge, store in one
//! call, answer only once durable.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use confab_core::auth::{Caller, Scope};
use confab_core::conversation::IngestOutcome;
use confab_core::time::now_millis;
use confab_core::{FieldError, MessageInput};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Allow;
use crate::extract::{JsonBody, PathParams, from_value};
use crate::{ApiError, ApiResult, AppState};

pub const MAX_BATCH: usize = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/bots/{bot_id}/messages", post(ingest_one))
        .route("/v1/bots/{bot_id}/messages/batch", post(ingest_batch))
}

fn outcome_name(o: IngestOutcome) -> &'static str {
    match o {
        IngestOutcome::Stored => "stored",
        IngestOutcome::Duplicate => "duplicate",
    }
}

async fn ingest_one(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    JsonBody(input): JsonBody<MessageInput>,
) -> ApiResult<Json<Value>> {
    caller.bot(Scope::Ingest, &bot_id)?;
    let message = input.validate(now_millis())?;
    let conversation_id = message.conversation_id.clone();
    let outcomes = state
        .store
        .ingest(caller.team_id, &bot_id, state.config.create_bots, vec![message])
        .await?;
    crate::observe::record_ingested(&outcomes, 0);
    Ok(Json(json!({ "status": outcome_name(outcomes[0]), "conversation_id": conversation_id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    messages: Vec<Value>,
}

async fn ingest_batch(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    JsonBody(batch): JsonBody<Batch>,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
    let mut results: Vec<Value> = Vec::with_capacity(batch.messages.len());
    for (index, item) in batch.messages.into_iter().enumerate() {
        let checked = from_value::<MessageInput>(item)
            .and_then(|input| input.validate(now).map_err(ApiError::from));
        match checked {
            Ok(m) => {
                results.push(json!({ "index": index }));
                valid.push((index, m));
            }
            Err(e) => results.push(rejection(index, e)),
        }
    }
    let rejected = results.len() - valid.len();
    let (indices, messages): (Vec<usize>, Vec<_>) = valid.into_iter().unzip();
    let mut stored = 0;
    let outcomes = match messages.is_empty() {
        true => vec![],
        false => {
            state.store.ingest(caller.team_id, &bot_id, state.config.create_bots, messages).await?
        }
    };
    crate::observe::record_ingested(&outcomes, rejected);
    for (index, outcome) in indices.into_iter().zip(outcomes) {
        stored += usize::from(outcome == IngestOutcome::Stored);
        results[index]["status"] = json!(outcome_name(outcome));
    }
    let status = if rejected == 0 { StatusCode::OK } else { StatusCode::MULTI_STATUS };
    let duplicates = results.len() - rejected - stored;
    Ok((
        status,
        Json(
            json!({ "stored": stored, "duplicates": duplicates, "rejected": rejected, "results": results }),
        ),
    ))
}

fn rejection(index: usize, e: ApiError) -> Value {
    let (field, message) = match e {
        ApiError::Invalid(FieldError { field, message }) => (field, message),
        other => ("".to_owned(), other.to_string()),
    };
    json!({
        "index": index,
        "status": "rejected",
        "error": { "code": "invalid_request", "message": message, "field": field },
    })
}
