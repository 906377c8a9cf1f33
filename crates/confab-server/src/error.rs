//! The one error type of the HTTP layer. Every handler returns it with `?`; it becomes
//! `{"error": {"code", "message", "field"?}}` with the right status. Internal errors are logged
//! and answered without detail.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confab_core::FieldError;
use confab_store::StoreError;

use crate::openapi::{ErrorBody, ErrorDetail};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(FieldError),
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(&'static str),
    /// A known path with another method; axum adds the `Allow` header.
    #[error("this method is not allowed here; see the Allow header")]
    MethodNotAllowed,
    #[error("{message}")]
    TooLarge { field: &'static str, message: String },
    /// A request body over the server's limit ([`crate::MAX_BODY_BYTES`]).
    #[error("the request body is larger than the limit of {limit_bytes} bytes")]
    BodyTooLarge { limit_bytes: usize },
    /// The key's bucket for this kind of request is empty.
    #[error("{}", .0.message())]
    RateLimited(crate::ratelimit::Decision),
    /// A body in an encoding the endpoint does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The store cannot answer now (database down, restarting, overloaded); the detail is
    /// logged, the client is told to retry.
    #[error("the database is unavailable; retry shortly")]
    Unavailable(String),
    /// The database's disk is full: the write was not stored (nothing of it); reads still work
    /// and writes succeed again once the operator frees space.
    #[error("the disk is full: the write was not stored; retry once space is freed")]
    DiskFull(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid(FieldError::new(field, message))
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::TooLarge { .. } | ApiError::BodyTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::DiskFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "disk_full"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(why) => ApiError::Conflict(why),
            StoreError::Unavailable(m) | StoreError::Contention(m) => ApiError::Unavailable(m),
            StoreError::DiskFull(m) => ApiError::DiskFull(m),
            StoreError::Database(m) => ApiError::Internal(m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut error =
            ErrorDetail { code, message: self.to_string(), field: None, limit_bytes: None };
        let mut rate_limited = None;
        match self {
            ApiError::Invalid(e) => {
                error.message = e.message;
                error.field = Some(e.field);
            }
            ApiError::TooLarge { field, .. } => error.field = Some(field.to_owned()),
            ApiError::BodyTooLarge { limit_bytes } => {
                error.field = Some("body".to_owned());
                error.limit_bytes = Some(limit_bytes as u64);
            }
            ApiError::RateLimited(decision) => rate_limited = Some(decision),
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ApiError::Unavailable(detail) => tracing::warn!(%detail, "store unavailable"),
            ApiError::DiskFull(detail) => tracing::warn!(%detail, "write refused: disk full"),
            _ => {}
        }
        let mut response = (status, axum::Json(ErrorBody { error })).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER));
        }
        if status == StatusCode::INSUFFICIENT_STORAGE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_DISK_FULL));
        }
        if let Some(decision) = rate_limited {
            decision.headers(response.headers_mut());
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer, Basic realm=\"confab\""),
            );
        }
        response
    }
}

/// Seconds a client waits before retrying after a 503.
pub const RETRY_AFTER: &str = "2";
/// Seconds a client waits before retrying after a 507: freeing space takes an operator.
pub const RETRY_AFTER_DISK_FULL: &str = "30";

pub type ApiResult<T> = Result<T, ApiError>;
