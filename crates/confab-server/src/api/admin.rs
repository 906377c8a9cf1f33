//! Administration within the caller's team (`admin` keys): API keys and the list of bots.
//! Teams themselves are managed from the command line, which is outside any one team.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use confab_core::auth::{Caller, Scope, Scopes, generate_key, hash_key, key_hint};
use confab_core::message::check_id;
use confab_core::time::format_rfc3339;
use confab_store::{ApiKeyInfo, NewKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Allow;
use crate::extract::{JsonBody, NoParams, PathParams};
use crate::{ApiError, ApiResult, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(list_bots))
}

/// An API key; the key itself only in the answer to its creation.
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    id: i64,
    team_id: i64,
    name: String,
    /// The key's first characters, to recognise it.
    hint: String,
    scopes: Vec<&'static str>,
    /// The bots it may use; null for all of the team's.
    bots: Option<Vec<String>>,
    created_at: String,
    revoked_at: Option<String>,
    /// The key: shown once, when it is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

pub fn key_view(k: &ApiKeyInfo) -> KeyView {
    KeyView {
        id: k.id,
        team_id: k.team_id,
        name: k.name.clone(),
        hint: k.hint.clone(),
        scopes: k.scopes.names(),
        bots: k.bots.clone(),
        created_at: format_rfc3339(k.created_at),
        revoked_at: k.revoked_at.map(format_rfc3339),
        key: None,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    /// What the key is for.
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    name: String,
    /// Some of `ingest`, `read`, `admin`.
    #[schema(min_items = 1)]
    scopes: Vec<String>,
    /// Limits the key to these bots (within the caller's own limits); all bots when absent.
    #[serde(default)]
    bots: Option<Vec<String>>,
}

/// Creates a key in the caller's team (`admin`). The answer holds the key, once.
#[utoipa::path(post, path = "/v1/keys", operation_id = "createKey", tag = "admin", request_body = CreateKey,
    responses((status = 201, body = KeyView)))]
async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateKey>,
) -> ApiResult<(StatusCode, Json<KeyView>)> {
    caller.require(Scope::Admin)?;
    check_id("name", &body.name)?;
    let scopes = Scopes::parse("scopes", body.scopes.iter().map(String::as_str))?;
    if let Some(bots) = &body.bots {
        for (i, b) in bots.iter().enumerate() {
            check_id(&format!("bots[{i}]"), b)?;
        }
    }
    if !within(&caller.bots, &body.bots) {
        return Err(ApiError::Forbidden(
            "a key limited to some bots can only create keys limited to them".into(),
        ));
    }
    let key = generate_key();
    let info = state
        .store
        .create_key(NewKey {
            team_id: caller.team_id,
            name: body.name,
            hash: hash_key(&key),
            hint: key_hint(&key),
            scopes,
            bots: body.bots,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(KeyView { key: Some(key), ..key_view(&info) })))
}

/// Whether a key for `theirs` stays within `own` (`None`: every bot). A key limited to some bots
/// creates, sees and revokes only keys limited to those bots.
fn within(own: &Option<Vec<String>>, theirs: &Option<Vec<String>>) -> bool {
    match (own, theirs) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(own), Some(theirs)) => theirs.iter().all(|b| own.contains(b)),
    }
}

#[derive(Serialize, ToSchema)]
struct Keys {
    data: Vec<KeyView>,
}

/// The team's keys (those within the caller's bots), revoked ones included.
#[utoipa::path(get, path = "/v1/keys", operation_id = "listKeys", tag = "admin", responses((status = 200, body = Keys)))]
async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    _: NoParams,
) -> ApiResult<Json<Keys>> {
    caller.require(Scope::Admin)?;
    let keys = state.store.list_keys(Some(caller.team_id)).await?;
    let data = keys.iter().filter(|k| within(&caller.bots, &k.bots)).map(key_view).collect();
    Ok(Json(Keys { data }))
}

/// Revokes a key (`admin`): refused from now on, on every server within seconds.
#[utoipa::path(delete, path = "/v1/keys/{key_id}", operation_id = "revokeKey", tag = "admin",
    params(("key_id" = i64, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked")))]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(key_id): PathParams<i64>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Admin)?;
    if caller.bots.is_some() {
        let keys = state.store.list_keys(Some(caller.team_id)).await?;
        if !keys.iter().any(|k| k.id == key_id && within(&caller.bots, &k.bots)) {
            return Err(ApiError::NotFound("key"));
        }
    }
    state.store.revoke_key(Some(caller.team_id), key_id).await?;
    state.keys.forget_key(key_id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct BotView {
    bot_id: String,
    created_at: String,
    /// Conversations stored.
    conversations: i64,
}

#[derive(Serialize, ToSchema)]
struct Bots {
    data: Vec<BotView>,
}

/// The team's bots the key may use.
#[utoipa::path(get, path = "/v1/bots", operation_id = "listBots", tag = "admin", responses((status = 200, body = Bots)))]
async fn list_bots(
    State(state): State<AppState>,
    caller: Caller,
    _: NoParams,
) -> ApiResult<Json<Bots>> {
    caller.require(Scope::Read)?;
    let bots = state.store.list_bots(caller.team_id).await?;
    let data = bots
        .iter()
        .filter(|b| caller.may_use_bot(&b.bot_id))
        .map(|b| BotView {
            bot_id: b.bot_id.clone(),
            created_at: format_rfc3339(b.created_at),
            conversations: b.conversations,
        })
        .collect();
    Ok(Json(Bots { data }))
}
