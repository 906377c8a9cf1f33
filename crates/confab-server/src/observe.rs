//! What an operator sees of a running server: a request id on every request (taken from
//! `X-Request-Id` or made, returned, and on every log line of the request through its span), and
//! Prometheus metrics — HTTP requests by route and status with their latency, messages ingested,
//! background jobs, and the store's queues and sizes read at each scrape of `/metrics`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use confab_core::conversation::IngestOutcome;
use confab_core::time::now_millis;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use crate::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest request id taken from a client; a longer or unprintable one is replaced.
const MAX_REQUEST_ID: usize = 128;

/// Latency buckets in seconds: from a cached read (~0.3 ms) to a slow export or a stalled store.
const SECONDS_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Jobs per writer transaction (at most 512).
const GROUP_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The process's Prometheus recorder, installed on first use. Metrics are process-wide: several
/// apps in one process (tests) share them.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Suffix("_group_size".into()), &GROUP_BUCKETS)
            })
            .expect("the buckets are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics shows only this one's");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("confab_http_requests_total", "HTTP requests answered, by route and status");
    describe_histogram!(
        "confab_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route"
    );
    describe_counter!("confab_messages_ingested_total", "Messages received, by outcome");
    describe_counter!("confab_finaliser_rounds_total", "Finaliser rounds, by result");
    describe_counter!("confab_conversations_finalised_total", "Conversations the finaliser ended");
    describe_counter!(
        "confab_conversations_deleted_total",
        "Conversations deleted, by reason (erasure, retention)"
    );
    describe_counter!(
        "confab_webhook_deliveries_total",
        "Webhook delivery attempts, by outcome (delivered, failed and due again, dead)"
    );
    describe_gauge!("confab_finaliser_backlog", "Idle conversations waiting for the finaliser");
    describe_gauge!("confab_webhook_outbox", "Webhook deliveries waiting to be sent or retried");
    describe_gauge!("confab_database_bytes", metrics::Unit::Bytes, "The database's size");
    describe_gauge!("confab_sqlite_wal_bytes", metrics::Unit::Bytes, "SQLite's WAL file size");
    describe_gauge!("confab_sqlite_writer_queue", "Writes waiting for SQLite's writer");
    describe_counter!(
        "confab_sqlite_checkpoints_total",
        "WAL checkpoints by mode (passive, restart, truncate) and outcome (complete, partial, busy, error)"
    );
    describe_histogram!(
        "confab_sqlite_writer_group_size",
        "Writes committed together in one SQLite transaction"
    );
    describe_histogram!(
        "confab_sqlite_writer_commit_seconds",
        metrics::Unit::Seconds,
        "Time of one SQLite group transaction, through COMMIT"
    );
    describe_gauge!("confab_db_pool_connections", "PostgreSQL connections open, by state");
    describe_gauge!("confab_db_pool_max_connections", "PostgreSQL connections at most");
}

/// Middleware around every request: its id, its span, and its metrics (by the route's pattern,
/// never the raw path, so that ids in paths do not make a series each).
pub async fn around(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID)
        .filter(|v| v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(new_request_id, str::to_owned);
    let value = HeaderValue::from_str(&id).expect("checked printable ASCII");
    req.headers_mut().insert(REQUEST_ID, value.clone());
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let took = started.elapsed().as_secs_f64();
    let status = response.status();
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), seconds = took, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), seconds = took, "request answered");
        }
    });
    let labels = [("method", method), ("route", route)];
    histogram!("confab_http_request_duration_seconds", &labels).record(took);
    let [method, route] = labels;
    counter!(
        "confab_http_requests_total",
        &[method, route, ("status", status.as_str().to_owned())]
    )
    .increment(1);
    response.headers_mut().insert(REQUEST_ID, value);
    response
}

/// 16 random bytes in hex.
fn new_request_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Counts what an ingest request did with its messages.
pub fn record_ingested(outcomes: &[IngestOutcome], rejected: usize) {
    let stored = outcomes.iter().filter(|o| **o == IngestOutcome::Stored).count();
    for (outcome, n) in
        [("stored", stored), ("duplicate", outcomes.len() - stored), ("rejected", rejected)]
    {
        if n > 0 {
            counter!("confab_messages_ingested_total", "outcome" => outcome).increment(n as u64);
        }
    }
}

/// Counts conversations deleted, by why: `erasure` (`DELETE` of a conversation or an end user)
/// or `retention` (the retention job).
pub fn record_deleted(reason: &'static str, n: u64) {
    counter!("confab_conversations_deleted_total", "reason" => reason).increment(n);
}

/// `GET /metrics`: the store's queues and sizes, read now, and everything recorded so far, in
/// Prometheus' text format. A store that cannot answer leaves its gauges as they were and says
/// so in `confab_store_up`.
#[utoipa::path(
    get,
    path = "/metrics", operation_id = "metrics",
    tag = "meta",
    security(()),
    responses((status = 200, description = "Metrics in Prometheus' text format (docs/operations.md)",
        content_type = "text/plain; version=0.0.4", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let handle = recorder();
    match state.store.stats(now_millis()).await {
        Ok(s) => {
            gauge!("confab_store_up").set(1.0);
            gauge!("confab_finaliser_backlog").set(s.finaliser_backlog as f64);
            gauge!("confab_webhook_outbox").set(s.webhook_outbox as f64);
            gauge!("confab_database_bytes").set(s.database_bytes as f64);
            if let Some(wal) = s.wal_bytes {
                gauge!("confab_sqlite_wal_bytes").set(wal as f64);
            }
            if let Some(queue) = s.writer_queue {
                gauge!("confab_sqlite_writer_queue").set(queue as f64);
            }
            if let Some(pool) = s.pool {
                let busy = pool.open.saturating_sub(pool.idle);
                gauge!("confab_db_pool_connections", "state" => "busy").set(f64::from(busy));
                gauge!("confab_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
                gauge!("confab_db_pool_max_connections").set(f64::from(pool.max));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "store statistics unavailable for /metrics");
            gauge!("confab_store_up").set(0.0);
        }
    }
    handle.run_upkeep();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
        .into_response()
}
