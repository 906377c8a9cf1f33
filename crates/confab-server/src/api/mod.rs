//! The native API under `/v1`.

mod admin;
pub mod analytics;
mod conversations;
mod datapoints;
pub(crate) mod export;
mod ingest;
pub mod views;
mod webhooks;

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(ingest::router())
        .merge(conversations::router())
        .merge(analytics::router())
        .merge(datapoints::router())
        .merge(export::router())
        .merge(webhooks::router())
        .merge(admin::router())
}
