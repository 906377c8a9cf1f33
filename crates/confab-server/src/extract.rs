//! Request extractors that turn every malformed input into an [`ApiError`] naming the problem:
//! JSON bodies (with the path of the bad field), query strings and path segments.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body, whatever its `Content-Type` says (curl's `-d` sends form encoding).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::BodyTooLarge { limit_bytes: crate::MAX_BODY_BYTES }
            } else {
                ApiError::invalid("body", format!("could not read the request body: {e}"))
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid("body", "a JSON body is required"));
    }
    // Every body is a JSON object; serde would otherwise read a struct from a positional array.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de)
        .map_err(|e| json_error(e.path().to_string(), e.into_inner()))?;
    // Nothing but whitespace may follow the value: `{…} x` is not JSON.
    de.end().map_err(|e| ApiError::invalid("body", format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Deserializes one JSON value (an item of a batch), naming the bad field relative to it.
pub fn from_value<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    if v.is_array() {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(v)
        .map_err(|e| json_error(e.path().to_string(), e.into_inner()))
}

fn json_error(path: String, e: serde_json::Error) -> ApiError {
    let msg = e.to_string();
    let base = if path == "." { String::new() } else { path };
    // serde_path_to_error's path already ends with an unknown field's name, not a missing one's.
    let join = |name: &str| {
        if base.is_empty() {
            name.to_owned()
        } else if base == name || base.ends_with(&format!(".{name}")) {
            base.clone()
        } else {
            format!("{base}.{name}")
        }
    };
    let quoted = |prefix: &str| {
        msg.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(str::to_owned)
    };
    if e.is_syntax() || e.is_eof() {
        return ApiError::invalid("body", format!("malformed JSON: {msg}"));
    }
    if let Some(name) = quoted("unknown field `") {
        return ApiError::invalid(join(&name), format!("unknown field `{name}`"));
    }
    if let Some(name) = quoted("missing field `") {
        return ApiError::invalid(join(&name), "is required");
    }
    // Drop serde's "at line 1 column 9": the field already says where.
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
    ApiError::invalid(if base.is_empty() { "body".to_owned() } else { base }, msg)
}

/// The query string as ordered pairs; repeated keys are kept.
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or_default();
        serde_urlencoded_pairs(q).map(Params)
    }
}

fn serde_urlencoded_pairs(q: &str) -> Result<Vec<(String, String)>, ApiError> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| ApiError::invalid("query", "malformed query string"))?,
    )
    .map(|axum::extract::Query(v)| v)
    .map_err(|e| ApiError::invalid("query", format!("malformed query string: {e}")))
}

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// For endpoints that take no query parameters: any is an error naming it, as everywhere else.
pub struct NoParams;

impl<S: Send + Sync> FromRequestParts<S> for NoParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Params(params) = Params::from_request_parts(parts, state).await?;
        match params.into_iter().next() {
            Some((k, _)) => Err(ApiError::invalid(k, "unknown query parameter")),
            None => Ok(NoParams),
        }
    }
}

/// Path segments, with a malformed path answered as 400 rather than axum's plain text.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| PathParams(v))
            .map_err(|e| ApiError::invalid("path", e.body_text()))
    }
}
