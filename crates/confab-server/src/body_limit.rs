//! Oversized request bodies are answered `413` with the JSON error, and the client reads it.
//! Answering alone is not enough: a server that closes the connection while request bytes are
//! still unread makes the kernel reset it (RST), and the client — still sending — loses the
//! answer with its connection. So the rest of an oversized body is read and thrown away (up to
//! [`DRAIN_BYTES`] or [`DRAIN_TIME`]; past either the connection is closed, answered or not),
//! then the answer goes out and the connection stays usable.
//!
//! A body with a `Content-Length` over the limit is refused before any of it is kept. A body
//! without one (chunked) is read here up to the limit and handed on whole, so that every route
//! sees either a complete body or none. A client that asked `Expect: 100-continue` is answered
//! at once: it has not sent the body.

use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use crate::MAX_BODY_BYTES;
use crate::error::ApiError;

/// How much of an oversized body is read and dropped so that the client gets its answer.
pub const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
/// How long that may take.
pub const DRAIN_TIME: Duration = Duration::from_secs(30);

/// Middleware: answers an oversized body `413` (see the module's text), passes the rest on.
pub async fn answer_oversized(req: Request, next: Next) -> Response {
    let limit = MAX_BODY_BYTES as u64;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => {
            let expects = req
                .headers()
                .get(header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
            if expects {
                return too_large(false);
            }
            let finished = drain(req.into_body().into_data_stream(), 0).await;
            return too_large(!finished);
        }
        Some(_) => return next.run(req).await,
        None if req.body().is_end_stream() => return next.run(req).await,
        None => {}
    }
    let (parts, body) = req.into_parts();
    let mut chunks = body.into_data_stream();
    let mut kept = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                return ApiError::invalid("body", format!("could not read the request body: {e}"))
                    .into_response();
            }
        };
        let seen = (kept.len() + chunk.len()) as u64;
        if seen > limit {
            drop(kept);
            let finished = drain(chunks, seen).await;
            return too_large(!finished);
        }
        kept.extend_from_slice(&chunk);
    }
    next.run(Request::from_parts(parts, Body::from(Bytes::from(kept)))).await
}

/// Reads and drops the rest of a body, `seen` bytes of which are read already; whether it
/// ended within the bounds.
async fn drain(mut chunks: BodyDataStream, mut seen: u64) -> bool {
    let read_all = async {
        while let Some(chunk) = chunks.next().await {
            let Ok(chunk) = chunk else { return false };
            seen += chunk.len() as u64;
            if seen > DRAIN_BYTES {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, read_all).await.unwrap_or(false)
}

/// The `413`, closing the connection when the body was not read to its end.
fn too_large(close: bool) -> Response {
    let mut response = ApiError::BodyTooLarge { limit_bytes: MAX_BODY_BYTES }.into_response();
    if close {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
