//! Administration within the caller's team (`admin` keys): API keys and the list of bots.
//! Teams themselves are managed from the command line, which is outside any one team.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use confab_core::auth::{Caller, Scope, Scopes, generate_key, hash_key, key_hint};
use confab_core::message::check_id;
use confab_core::time::format_rfc3339;
use confab_store::{ApiKeyInfo, NewKey};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Allow;
use crate::extract::{JsonBody, NoParams, PathParams};
use crate::{ApiError, ApiResult, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/keys", get(list_keys).post(create_key))
        .route("/v1/keys/{key_id}", delete(revoke_key))
        .route("/v1/bots", get(list_bots))
}

pub fn key_view(k: &ApiKeyInfo) -> Value {
    json!({
        "id": k.id,
        "team_id": k.team_id,
        "name": k.name,
        "hint": k.hint,
        "scopes": k.scopes.names(),
        "bots": k.bots,
        "created_at": format_rfc3339(k.created_at),
        "revoked_at": k.revoked_at.map(format_rfc3339),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    scopes: Vec<String>,
    #[serde(default)]
    bots: Option<Vec<String>>,
}

async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
    let mut view = key_view(&info);
    view["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(view)))
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

async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    _: NoParams,
) -> ApiResult<Json<Value>> {
    caller.require(Scope::Admin)?;
    let keys = state.store.list_keys(Some(caller.team_id)).await?;
    let data: Vec<Value> =
        keys.iter().filter(|k| within(&caller.bots, &k.bots)).map(key_view).collect();
    Ok(Json(json!({ "data": data })))
}

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

async fn list_bots(
    State(state): State<AppState>,
    caller: Caller,
    _: NoParams,
) -> ApiResult<Json<Value>> {
    caller.require(Scope::Read)?;
    let bots = state.store.list_bots(caller.team_id).await?;
    let data: Vec<Value> = bots
        .iter()
        .filter(|b| caller.may_use_bot(&b.bot_id))
        .map(|b| json!({ "bot_id": b.bot_id, "created_at": format_rfc3339(b.created_at), "conversations": b.conversations }))
        .collect();
    Ok(Json(json!({ "data": data })))
}
