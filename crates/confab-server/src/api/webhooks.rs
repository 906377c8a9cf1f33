//! Webhook subscriptions and their deliveries under `/v1/bots/{bot_id}/webhooks`: `admin` keys
//! subscribe, unsubscribe and put dead deliveries back in line; `read` keys see subscriptions
//! (never their secret, which is shown once, at creation) and how their deliveries went.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use confab_core::FieldError;
use confab_core::auth::{Caller, Scope};
use confab_core::query::parse_limit;
use confab_core::time::{format_rfc3339, now_millis};
use confab_core::webhook::{DeliveryState, WebhookInput};
use confab_store::{Delivery, Webhook};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{BotPath, WebhookPath};
use crate::auth::Allow;
use crate::extract::{JsonBody, NoParams, Params, PathParams};
use crate::{ApiError, ApiResult, AppState, outbound};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 100;
/// Characters of the secret a listing shows, to tell subscriptions apart …
const HINT_CHARS: usize = 10;
/// … but never so many that few are left to guess (a short secret chosen by the client).
const HIDDEN_CHARS: usize = 12;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(fetch, remove))
        .routes(routes!(deliveries))
        .routes(routes!(retry))
}

/// A subscription; its secret only in the answer to its creation.
#[derive(Serialize, ToSchema)]
struct WebhookView {
    id: i64,
    bot_id: String,
    url: String,
    events: Vec<&'static str>,
    /// The secret's first characters, to tell subscriptions apart.
    secret_hint: String,
    created_at: String,
    /// The signing secret: shown once, when the subscription is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn webhook_view(w: &Webhook) -> WebhookView {
    WebhookView {
        id: w.id,
        bot_id: w.bot_id.clone(),
        url: w.url.clone(),
        events: w.events.names(),
        secret_hint: secret_hint(&w.secret),
        created_at: format_rfc3339(w.created_at),
        secret: None,
    }
}

fn secret_hint(secret: &str) -> String {
    let shown = HINT_CHARS.min(secret.chars().count().saturating_sub(HIDDEN_CHARS));
    let mut hint: String = secret.chars().take(shown).collect();
    hint.push('…');
    hint
}

#[derive(Serialize, ToSchema)]
struct DeliveryView {
    id: i64,
    event_id: String,
    event: String,
    state: DeliveryState,
    attempts: u32,
    /// When it is tried next (pending only).
    next_attempt_at: Option<String>,
    /// The receiver's last HTTP status.
    last_status: Option<u16>,
    last_error: Option<String>,
    created_at: String,
    delivered_at: Option<String>,
}

fn delivery_view(d: &Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id,
        event_id: d.event_id.clone(),
        event: d.event.clone(),
        state: d.state,
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at.map(format_rfc3339),
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        created_at: format_rfc3339(d.created_at),
        delivered_at: d.delivered_at.map(format_rfc3339),
    }
}

/// Subscribes a URL to the bot's events (`admin`). The answer holds the signing secret, once.
/// A URL whose host is (or resolves only to) a loopback, private, link-local or other
/// non-public address is refused (400, `url`) unless the server allows private targets.
#[utoipa::path(post, path = "/v1/bots/{bot_id}/webhooks", operation_id = "createWebhook", tag = "webhooks", params(BotPath),
    request_body = WebhookInput, responses((status = 201, body = WebhookView)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    _: NoParams,
    JsonBody(input): JsonBody<WebhookInput>,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    caller.bot(Scope::Admin, &bot_id)?;
    let new = input.validate()?;
    outbound::check_target(&new.url, state.config.allow_private_targets).await.map_err(|e| {
        ApiError::invalid(
            "url",
            format!(
                "{e}: webhooks reach only public addresses unless the server allows private \
                 targets (--allow-private-targets)"
            ),
        )
    })?;
    let webhook =
        state.store.create_webhook(caller.team_id, &bot_id, state.config.create_bots, &new).await?;
    let view = WebhookView { secret: Some(webhook.secret.clone()), ..webhook_view(&webhook) };
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Serialize, ToSchema)]
struct Webhooks {
    webhooks: Vec<WebhookView>,
}

/// The bot's subscriptions.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/webhooks", operation_id = "listWebhooks", tag = "webhooks", params(BotPath),
    responses((status = 200, body = Webhooks)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(bot_id): PathParams<String>,
    _: NoParams,
) -> ApiResult<Json<Webhooks>> {
    caller.bot(Scope::Read, &bot_id)?;
    let webhooks = state.store.list_webhooks(caller.team_id, &bot_id).await?;
    Ok(Json(Webhooks { webhooks: webhooks.iter().map(webhook_view).collect() }))
}

/// One subscription.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/webhooks/{webhook_id}", operation_id = "getWebhook", tag = "webhooks",
    params(WebhookPath), responses((status = 200, body = WebhookView)))]
async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, webhook_id)): PathParams<(String, i64)>,
    _: NoParams,
) -> ApiResult<Json<WebhookView>> {
    caller.bot(Scope::Read, &bot_id)?;
    let webhook = state.store.get_webhook(caller.team_id, &bot_id, webhook_id).await?;
    Ok(Json(webhook_view(&webhook)))
}

/// Unsubscribes (`admin`); deliveries not yet made are dropped.
#[utoipa::path(delete, path = "/v1/bots/{bot_id}/webhooks/{webhook_id}", operation_id = "deleteWebhook", tag = "webhooks",
    params(WebhookPath), responses((status = 204, description = "Unsubscribed")))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, webhook_id)): PathParams<(String, i64)>,
    _: NoParams,
) -> ApiResult<StatusCode> {
    caller.bot(Scope::Admin, &bot_id)?;
    state.store.delete_webhook(caller.team_id, &bot_id, webhook_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?state=pending|delivered|dead&limit=1..100&cursor=<id>`.
struct DeliveryQuery {
    state: Option<DeliveryState>,
    limit: u32,
    before: Option<i64>,
}

impl DeliveryQuery {
    fn parse(params: &[(String, String)]) -> Result<DeliveryQuery, FieldError> {
        let mut q = DeliveryQuery { state: None, limit: DEFAULT_LIMIT, before: None };
        for (k, v) in params {
            match k.as_str() {
                "state" => {
                    q.state =
                        Some(DeliveryState::parse(v).ok_or_else(|| {
                            FieldError::new(k, "must be pending, delivered or dead")
                        })?)
                }
                "limit" => q.limit = parse_limit(k, v, MAX_LIMIT)?,
                "cursor" => {
                    q.before =
                        Some(v.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                            FieldError::new(k, "is not a cursor returned by this API")
                        })?)
                }
                _ => return Err(FieldError::new(k, "unknown query parameter")),
            }
        }
        Ok(q)
    }
}

#[derive(Serialize, ToSchema)]
struct Deliveries {
    deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// The subscription's deliveries, newest first.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/webhooks/{webhook_id}/deliveries", operation_id = "listDeliveries", tag = "webhooks",
    params(WebhookPath,
        ("state" = Option<DeliveryState>, Query, description = "Only deliveries in this state"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Deliveries per page (default 50)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page")),
    responses((status = 200, body = Deliveries)))]
async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, webhook_id)): PathParams<(String, i64)>,
    Params(params): Params,
) -> ApiResult<Json<Deliveries>> {
    caller.bot(Scope::Read, &bot_id)?;
    let q = DeliveryQuery::parse(&params)?;
    // One more than asked tells whether there is a next page.
    let mut page = state
        .store
        .list_deliveries(caller.team_id, &bot_id, webhook_id, q.state, q.before, q.limit + 1)
        .await?;
    let next_cursor = match page.len() > q.limit as usize {
        true => {
            page.truncate(q.limit as usize);
            page.last().map(|d| d.id.to_string())
        }
        false => None,
    };
    Ok(Json(Deliveries { deliveries: page.iter().map(delivery_view).collect(), next_cursor }))
}

/// Puts a dead delivery back in line, to be tried now (`admin`).
#[utoipa::path(post, path = "/v1/bots/{bot_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", operation_id = "retryDelivery",
    tag = "webhooks",
    params(WebhookPath, ("delivery_id" = i64, Path, description = "The delivery")),
    responses((status = 200, body = DeliveryView),
        (status = 409, description = "The delivery is not dead", body = crate::openapi::ErrorBody)))]
async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((bot_id, webhook_id, delivery_id)): PathParams<(String, i64, i64)>,
    _: NoParams,
) -> ApiResult<Json<DeliveryView>> {
    caller.bot(Scope::Admin, &bot_id)?;
    let delivery = state
        .store
        .retry_delivery(caller.team_id, &bot_id, webhook_id, delivery_id, now_millis())
        .await?;
    Ok(Json(delivery_view(&delivery)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_leave_most_of_a_secret_hidden() {
        assert_eq!(secret_hint("whsec_0123456789abcdefghijklmnopqrstuv"), "whsec_0123…");
        assert_eq!(secret_hint("0123456789abcdef"), "0123…");
        assert_eq!(secret_hint("0123456789ab"), "…");
    }

    #[test]
    fn delivery_queries_name_the_bad_parameter() {
        let p = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        let q = DeliveryQuery::parse(&p("state", "dead")).unwrap();
        assert_eq!((q.state, q.limit, q.before), (Some(DeliveryState::Dead), DEFAULT_LIMIT, None));
        for (k, v) in [
            ("state", "failed"),
            ("limit", "0"),
            ("limit", "101"),
            ("cursor", "abc"),
            ("cursor", "-1"),
            ("page", "2"),
        ] {
            assert_eq!(DeliveryQuery::parse(&p(k, v)).err().map(|e| e.field), Some(k.to_owned()));
        }
    }
}
