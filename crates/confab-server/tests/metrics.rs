//! `/metrics` read by a Prometheus text parser while requests, ingest, the finaliser and webhook
//! deliveries move its numbers; request ids taken, made, returned and on the request's log lines.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{TestApp, spawn_app, spawn_app_with};
use confab_core::time::{DAY, now_millis};
use confab_server::Config;
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use reqwest::StatusCode;
use serde_json::json;

/// Metrics are the process's: the tests of this file take turns, so that one's gauges are not
/// another's.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

type Exposition = MetricsExposition<PrometheusType, PrometheusValue>;

async fn scrape(app: &TestApp) -> Exposition {
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let text = resp.text().await.unwrap();
    parse_prometheus(&text).unwrap_or_else(|e| panic!("not Prometheus text: {e:?}\n{text}"))
}

/// The sum of the samples of `name` whose labels include `labels` (0 when there are none); for a
/// histogram, of their counts.
fn value(scrape: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    let Some(family) = scrape.families.get(name) else { return 0.0 };
    family
        .iter_samples()
        .filter(|s| {
            let set = s.get_labelset().unwrap();
            labels.iter().all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .map(|s| match &s.value {
            PrometheusValue::Unknown(n) | PrometheusValue::Gauge(n) => n.as_f64(),
            PrometheusValue::Counter(c) => c.value.as_f64(),
            PrometheusValue::Histogram(h) => h.count.unwrap_or(0) as f64,
            PrometheusValue::Summary(_) => panic!("{name} is a summary"),
        })
        .sum()
}

/// Every label value of every sample.
fn label_values(scrape: &Exposition) -> Vec<String> {
    let samples = scrape.families.values().flat_map(|f| f.iter_samples());
    samples
        .flat_map(|s| s.get_labelset().unwrap().iter_values().cloned().collect::<Vec<_>>())
        .collect()
}

fn message(conversation: &str, i: i64, at: i64) -> serde_json::Value {
    json!({"conversation_id": conversation, "id": format!("{conversation}-{i}"), "role": "user",
           "content": format!("message {i}"), "timestamp": at})
}

#[tokio::test]
async fn counters_move_as_requests_are_made() {
    let _turn = SERIAL.lock().await;
    let app = spawn_app().await;
    let before = scrape(&app).await;
    let route = "/v1/bots/{bot_id}/messages/batch";
    let ingested = |s: &Exposition, outcome| {
        value(s, "confab_messages_ingested_total", &[("outcome", outcome)])
    };
    let old = now_millis() - 2 * DAY;
    // 3 stored, 1 duplicate, 1 rejected: a 207.
    let (status, _) = app
        .post(
            &app.admin_key,
            "/v1/bots/metrics-bot/messages/batch",
            &json!({"messages": [
                message("c1", 1, old), message("c1", 2, old + 1000), message("c2", 1, old),
                message("c1", 1, old), {"conversation_id": "c3", "role": "nobody", "content": "x"},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let (status, _) = app.get(&app.admin_key, "/v1/bots/metrics-bot/conversations/c1").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get(&app.admin_key, "/v1/bots/metrics-bot/conversations/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&app.admin_key, "/no/such/route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let after = scrape(&app).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(ingested(&after, "stored") - ingested(&before, "stored"), 3.0);
    assert_eq!(ingested(&after, "duplicate") - ingested(&before, "duplicate"), 1.0);
    assert_eq!(ingested(&after, "rejected") - ingested(&before, "rejected"), 1.0);
    let requests = "confab_http_requests_total";
    assert_eq!(delta(requests, &[("route", route), ("method", "POST"), ("status", "207")]), 1.0);
    // Routes are patterns, never raw paths: both conversations count under one series.
    let conv = "/v1/bots/{bot_id}/conversations/{conversation_id}";
    assert_eq!(delta(requests, &[("route", conv), ("status", "200")]), 1.0);
    assert_eq!(delta(requests, &[("route", conv), ("status", "404")]), 1.0);
    assert_eq!(delta(requests, &[("route", "unmatched"), ("status", "404")]), 1.0);
    assert!(label_values(&after).iter().all(|v| !v.contains("c1")));
    assert_eq!(delta("confab_http_request_duration_seconds", &[("route", conv)]), 2.0);
    assert!(delta("confab_sqlite_writer_group_size", &[]) >= 1.0);
    assert!(delta("confab_sqlite_writer_commit_seconds", &[]) >= 1.0);

    // Two conversations went quiet two days ago: the finaliser's backlog, then its work.
    assert_eq!(value(&after, "confab_finaliser_backlog", &[]), 2.0);
    assert_eq!(value(&after, "confab_store_up", &[]), 1.0);
    assert!(value(&after, "confab_database_bytes", &[]) > 0.0);
    assert!(after.families.contains_key("confab_sqlite_wal_bytes"));
    assert!(after.families.contains_key("confab_sqlite_writer_queue"));
    let outcome =
        confab_server::jobs::finalise::finalise_idle_once(&*app.store, None, now_millis())
            .await
            .unwrap();
    assert_eq!(outcome.finalised, 2);
    let finalised = scrape(&app).await;
    assert_eq!(value(&finalised, "confab_finaliser_backlog", &[]), 0.0);
    assert!(
        value(&finalised, "confab_conversations_finalised_total", &[])
            - value(&after, "confab_conversations_finalised_total", &[])
            >= 2.0
    );
    app.stop().await;
}

#[tokio::test]
async fn webhook_outbox_and_deliveries_by_outcome() {
    let _turn = SERIAL.lock().await;
    // A subscriber that always fails: every attempt is a failure until the last, which is dead.
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/hook", receiver.local_addr().unwrap());
    tokio::spawn(async move {
        let router = axum::Router::new().fallback(|| async { StatusCode::INTERNAL_SERVER_ERROR });
        axum::serve(receiver, router).await.unwrap();
    });
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            &app.admin_key,
            "/v1/bots/hooked/webhooks",
            &json!({"url": target, "events": ["conversation.ended"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let old = now_millis() - 2 * DAY;
    app.ingest("hooked", vec![message("h1", 1, old)]).await;
    confab_server::jobs::finalise::finalise_idle_once(&*app.store, None, now_millis())
        .await
        .unwrap();
    let queued = scrape(&app).await;
    assert_eq!(value(&queued, "confab_webhook_outbox", &[]), 1.0);
    let failed =
        |s: &Exposition| value(s, "confab_webhook_deliveries_total", &[("outcome", "failed")]);
    let client = confab_server::jobs::deliver::client(true);
    let outcome =
        confab_server::jobs::deliver::deliver_due_once(&*app.store, &client, now_millis())
            .await
            .unwrap();
    assert_eq!(outcome.failed, 1, "{outcome:?}");
    let sent = scrape(&app).await;
    assert_eq!(failed(&sent) - failed(&queued), 1.0);
    assert_eq!(value(&sent, "confab_webhook_outbox", &[]), 1.0, "due again later");
    app.stop().await;
}

#[tokio::test]
async fn metrics_can_leave_the_main_listener() {
    let _turn = SERIAL.lock().await;
    let app = spawn_app_with(Config {
        metrics_on_main: false,
        background_jobs: false,
        ..Config::default()
    })
    .await;
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let state = confab_server::AppState::new(app.store.clone(), Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, confab_server::metrics_app(state)).await.unwrap();
    });
    let text = app.client.get(format!("http://{addr}/metrics")).send().await.unwrap();
    assert_eq!(text.status(), StatusCode::OK);
    assert!(text.text().await.unwrap().contains("confab_store_up 1"));
    app.stop().await;
}

/// Log lines written by the test binary's subscriber.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn request_ids_are_taken_made_returned_and_logged() {
    let _turn = SERIAL.lock().await;
    let logs = logs();
    let app = spawn_app().await;
    let id_of = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_owned();

    let given = "req-7f3a9c1e";
    let resp = app
        .client
        .get(app.url("/v1/bots"))
        .bearer_auth(&app.admin_key)
        .header("x-request-id", given)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(id_of(&resp), given);

    // None, or one that is not printable ASCII: a new one, 32 hex digits, each different.
    let mut made = vec![];
    for header in [None, Some("two words"), Some(&*"x".repeat(200))] {
        let mut req = app.client.get(app.url("/healthz"));
        if let Some(h) = header {
            req = req.header("x-request-id", h);
        }
        let id = id_of(&req.send().await.unwrap());
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        made.push(id);
    }
    made.dedup();
    assert_eq!(made.len(), 3);

    // A request that fails inside its handler (a write to a closed store): its warning carries
    // the request's id.
    app.store.close().await;
    let failing = "req-store-down-42";
    let resp = app
        .client
        .post(app.url("/v1/bots/b/messages"))
        .bearer_auth(&app.admin_key)
        .header("x-request-id", failing)
        .json(&message("down", 1, now_millis()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(id_of(&resp), failing);
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let answered: Vec<&str> = text.lines().filter(|l| l.contains(given)).collect();
    assert!(answered.iter().any(|l| l.contains("request answered")), "{text}");
    let failed: Vec<&str> = text.lines().filter(|l| l.contains(failing)).collect();
    assert!(
        failed.iter().any(|l| l.contains("store unavailable") || l.contains("request failed")),
        "{text}"
    );
    assert!(failed.iter().all(|l| l.contains("request_id=req-store-down-42")), "{failed:?}");
}
