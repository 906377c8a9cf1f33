//! Authentication: the `Authorization` header (Bearer, or Basic with the key as user name or
//! password) is resolved to a [`Caller`]. Resolved keys are cached briefly so that a busy ingest
//! path does not read the key table on every request; revoking through this server clears the
//! entry at once, and other servers see it within [`CACHE_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use confab_core::auth::{Caller, Scope, hash_key};
use confab_core::message::check_id;

use crate::AppState;
use crate::error::ApiError;

pub const CACHE_TTL: Duration = Duration::from_secs(5);
const CACHE_MAX: usize = 10_000;

#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
}

impl KeyCache {
    fn get(&self, hash: &[u8; 32]) -> Option<Caller> {
        let entries = self.entries.lock().expect("key cache");
        entries.get(hash).filter(|(_, at)| at.elapsed() < CACHE_TTL).map(|(c, _)| c.clone())
    }

    fn put(&self, hash: [u8; 32], caller: Caller) {
        let mut entries = self.entries.lock().expect("key cache");
        if entries.len() >= CACHE_MAX {
            entries.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        if entries.len() < CACHE_MAX {
            entries.insert(hash, (caller, Instant::now()));
        }
    }

    pub fn forget_key(&self, key_id: i64) {
        self.entries.lock().expect("key cache").retain(|_, (c, _)| c.key_id != key_id);
    }
}

/// The key in an `Authorization` header, if it has one in a form we accept.
fn key_from_header(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(STANDARD.decode(rest).ok()?).ok()?;
        let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
        // The key may be given as the user name or as the password; the other part is ignored.
        let user_is_key = password.is_empty() || user.starts_with(confab_core::auth::KEY_PREFIX);
        let key = if user_is_key && !user.is_empty() { user } else { password };
        return Some(key.to_owned());
    }
    None
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let key = key_from_header(header).ok_or(ApiError::Unauthorized)?;
        if key.is_empty() {
            return Err(ApiError::Unauthorized);
        }
        let caller = caller_for_hash(state, hash_key(&key)).await?.ok_or(ApiError::Unauthorized)?;
        crate::ratelimit::charge(state, parts, caller.key_id)?;
        Ok(caller)
    }
}

/// The caller a key (by its hash) stands for, if it is a live key; cached for [`CACHE_TTL`].
pub async fn caller_for_hash(state: &AppState, hash: [u8; 32]) -> Result<Option<Caller>, ApiError> {
    if let Some(caller) = state.keys.get(&hash) {
        return Ok(Some(caller));
    }
    let Some(caller) = state.store.caller_for_key(hash).await? else { return Ok(None) };
    state.keys.put(hash, caller.clone());
    Ok(Some(caller))
}

/// Checks a caller's right to do something, before anything is looked up.
pub trait Allow {
    /// The caller holds `scope`.
    fn require(&self, scope: Scope) -> Result<(), ApiError>;
    /// The caller holds `scope` and may use `bot_id`. A bot outside a key's list is answered as
    /// not found, which reveals nothing about whether it exists.
    fn bot(&self, scope: Scope, bot_id: &str) -> Result<(), ApiError>;
}

impl Allow for Caller {
    fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.allows(scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("this key lacks the `{}` scope", scope.as_str())))
        }
    }

    fn bot(&self, scope: Scope, bot_id: &str) -> Result<(), ApiError> {
        self.require(scope)?;
        check_id("bot_id", bot_id)?;
        if !self.may_use_bot(bot_id) {
            return Err(ApiError::NotFound("bot"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        assert_eq!(key_from_header("Bearer cfb_x").as_deref(), Some("cfb_x"));
        assert_eq!(key_from_header("bearer  cfb_x ").as_deref(), Some("cfb_x"));
        let basic = |s: &str| format!("Basic {}", STANDARD.encode(s));
        assert_eq!(key_from_header(&basic("cfb_x:")).as_deref(), Some("cfb_x"));
        assert_eq!(key_from_header(&basic(":cfb_x")).as_deref(), Some("cfb_x"));
        assert_eq!(key_from_header(&basic("team:cfb_x")).as_deref(), Some("cfb_x"));
        assert_eq!(key_from_header(&basic("cfb_x:x")).as_deref(), Some("cfb_x"));
        assert_eq!(key_from_header("Digest abc"), None);
        assert_eq!(key_from_header("Basic !!!"), None);
    }
}
