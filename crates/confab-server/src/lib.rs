//! Confab's HTTP server: the native API (`/v1`), the vendor-compatible APIs (`/compat/…`), the
//! dashboard (`/`), authentication and health. Handlers stay thin: parse, one store call, shape the response.

pub mod api;
pub mod auth;
pub mod body_limit;
pub mod compat;
pub mod error;
pub mod extract;
pub mod jobs;
pub mod memory;
pub mod observe;
pub mod openapi;
pub mod otlp;
pub mod outbound;
pub mod ratelimit;
pub mod ui;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::get;
use confab_store::Store;
use tokio::net::TcpListener;
use utoipa_axum::routes;

pub use error::{ApiError, ApiResult};

/// The largest request body: a batch of 1,000 messages in at most 10 MiB.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    /// Whether a message for an unknown bot creates it in the caller's team.
    pub create_bots: bool,
    /// Whether [`serve`] runs the finaliser and webhook sender (tests drive them by hand).
    pub background_jobs: bool,
    /// The optional LLM pass at finalisation.
    pub llm: Option<jobs::finalise::LlmConfig>,
    /// What dashboard sessions are signed with; random per start when absent.
    pub session_key: Option<ui::SessionKey>,
    /// Whether `/metrics` is served on the main listener (off when it has a listener of its
    /// own: [`metrics_app`]).
    pub metrics_on_main: bool,
    /// Whether webhooks and the LLM pass may reach loopback, private, link-local and other
    /// non-public addresses ([`outbound`]); off unless the operator allows it.
    pub allow_private_targets: bool,
    /// Requests per key that write (or read), when limited ([`ratelimit`]).
    pub rate_limit_writes: Option<ratelimit::Rate>,
    pub rate_limit_reads: Option<ratelimit::Rate>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            create_bots: true,
            background_jobs: true,
            llm: None,
            session_key: None,
            metrics_on_main: true,
            allow_private_targets: false,
            rate_limit_writes: None,
            rate_limit_reads: None,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub keys: Arc<auth::KeyCache>,
    pub sessions: Arc<ui::SessionKey>,
    pub limits: Arc<ratelimit::Limiter>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: Config) -> AppState {
        observe::recorder();
        let sessions = config.session_key.clone().unwrap_or_else(ui::SessionKey::random);
        let limits = ratelimit::Limiter::new(config.rate_limit_writes, config.rate_limit_reads);
        AppState {
            limits: Arc::new(limits),
            store,
            config: Arc::new(config),
            keys: Arc::default(),
            sessions: Arc::new(sessions),
        }
    }
}

pub fn app(state: AppState) -> Router {
    let mut native = openapi::router()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .merge(api::router())
        .merge(otlp::router());
    if state.config.metrics_on_main {
        native = native.routes(routes!(observe::metrics));
    }
    let native = openapi::finish(
        native,
        openapi::About {
            title: "Confab",
            description: "Confab's native API: ingest messages, read conversations, datapoints \
                          and analytics, manage webhooks and keys.",
            base: None,
        },
    );
    let mut app = native
        .merge(ui::router())
        .nest("/compat", compat::router())
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(body_limit::answer_oversized));
    if state.limits.is_on() {
        app = app.layer(axum::middleware::from_fn_with_state(state.clone(), ratelimit::track));
    }
    app.layer(axum::middleware::from_fn(observe::around)).with_state(state)
}

/// Whether the process is up (it answers); says nothing of the database (see `/readyz`).
#[utoipa::path(
    get,
    path = "/healthz", operation_id = "healthz",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The process is up", content_type = "text/plain", body = String, example = "ok"))
)]
async fn healthz() -> &'static str {
    "ok"
}

/// `/metrics` alone, for a listener of its own (`--metrics-listen`): operators often keep it
/// off the public address.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(observe::metrics))
        .fallback(|| async { ApiError::NotFound("route") })
        .with_state(state)
}

/// Whether this server can serve: its store answers and its disk has space. A load balancer
/// takes a server that says 503 out of rotation; the detail is logged, not shown.
#[utoipa::path(
    get,
    path = "/readyz", operation_id = "readyz",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "The database answers", content_type = "text/plain", body = String, example = "ready"),
        (status = 503, description = "The database does not answer (`not ready: the database is unavailable`), or its disk is full (`not ready: disk full`)", content_type = "text/plain", body = String,
            headers(("Retry-After" = String, description = "Seconds to wait"))),
    )
)]
async fn readyz(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(confab_store::StoreError::DiskFull(why)) => {
            tracing::warn!(%why, "not ready: disk full");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::RETRY_AFTER, error::RETRY_AFTER_DISK_FULL)],
                "not ready: disk full",
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::RETRY_AFTER, error::RETRY_AFTER)],
                "not ready: the database is unavailable",
            )
                .into_response()
        }
    }
}

/// Serves until `shutdown` resolves, lets in-flight requests finish, then flushes the store.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let jobs = match state.config.background_jobs {
        true => jobs::spawn(state.clone(), stop_rx),
        false => vec![],
    };
    let result = axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await;
    // Jobs finish their round (a delivery in flight is recorded) before the store closes.
    let _ = stop_tx.send(true);
    for job in jobs {
        let _ = job.await;
    }
    store.close().await;
    result
}
