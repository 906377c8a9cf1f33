//! The day rows per single dimension (`dim_rollups`) on every backend: a daily series over whole
//! UTC days that filters and groups by at most one dimension reads them, and answers as the rows
//! per combination do — when a late message moves a conversation to another channel and day,
//! after an erasure (its counts stay), with the range's other pieces (hours, quarter hours,
//! windows inside a slot) still read from the other rows. The migration that creates them
//! (SQLite's 10, PostgreSQL's 4) builds them from the day rows as ingest would have.
//! (`analytics_property.rs` checks them against a brute force on random histories.)

#[macro_use]
mod backends;

use std::sync::Arc;

use confab_core::buckets::{Bucket, parse_tz};
use confab_core::series::{self, GroupKey, SeriesRequest, Stat};
use confab_core::summary::Dim;
use confab_core::time::parse_rfc3339;
use confab_core::{MessageInput, NewMessage};
use confab_store::{BotSelector, Store};
use serde_json::{Value, json};

fn ms(s: &str) -> i64 {
    parse_rfc3339("t", s).unwrap()
}

fn msg(conv: &str, id: &str, ts: &str, role: &str, dims: Value) -> NewMessage {
    let mut v = json!({"conversation_id": conv, "id": id, "role": role, "content": "hi",
                       "timestamp": ts});
    v.as_object_mut().unwrap().extend(dims.as_object().unwrap().clone());
    serde_json::from_value::<MessageInput>(v).unwrap().validate(ms("2026-06-01T00:00:00Z")).unwrap()
}

/// A counter series of bot `bot` as `label=v,v…` per serie, joined by `; `.
async fn counters(
    store: &Arc<dyn Store>,
    team: i64,
    stat: Stat,
    (tz, bucket, start, end): (&str, Bucket, &str, &str),
    filters: Vec<(Dim, Vec<String>)>,
    group_by: Vec<GroupKey>,
) -> String {
    let tz = parse_tz("tz", tz).unwrap();
    let req = SeriesRequest::new(stat, bucket, &tz, ms(start), ms(end), filters, vec![], group_by)
        .unwrap();
    let cells = store.series_counters(team, &BotSelector::One("bot".into()), &req).await.unwrap();
    let data = series::from_counters(&req, &cells, false);
    let mut out = vec![];
    for (label, s) in data.series_labels.iter().zip(&data.series) {
        let v: Vec<String> = s.values.iter().map(Value::to_string).collect();
        out.push(format!("{label}={}", v.join(",")));
    }
    out.join("; ")
}

const DAYS: (&str, Bucket, &str, &str) =
    ("UTC", Bucket::Day, "2026-03-01T00:00:00Z", "2026-03-04T00:00:00Z");

fn channel() -> Vec<GroupKey> {
    vec![GroupKey::Dim(Dim::ChannelType)]
}

fn only(dim: Dim, values: &[&str]) -> Vec<(Dim, Vec<String>)> {
    vec![(dim, values.iter().map(|v| v.to_string()).collect())]
}

/// Three conversations over three days: `a` (web), `b` (sms, then moved), `c` (no channel).
fn history() -> Vec<NewMessage> {
    vec![
        msg("a", "a1", "2026-03-01T10:00:00Z", "user", json!({"channel_type": "web"})),
        msg("a", "a2", "2026-03-01T10:00:05Z", "bot", json!({})),
        msg("b", "b2", "2026-03-02T23:50:00Z", "user", json!({"channel_type": "sms"})),
        msg("b", "b3", "2026-03-03T00:10:00Z", "bot", json!({"language": "pl"})),
        msg("c", "c1", "2026-03-03T12:00:00Z", "user", json!({"version": "v2"})),
        msg("c", "c2", "2026-03-03T12:01:00Z", "agent", json!({})),
    ]
}

async fn follows_moves_and_erasure(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    store.ingest(team, "bot", true, history()).await.unwrap();
    let got = counters(&store, team, Stat::Conversations, DAYS, vec![], channel()).await;
    assert_eq!(got, "=0,0,1; sms=0,1,0; web=1,0,0");
    let got = counters(&store, team, Stat::Messages, DAYS, vec![], channel()).await;
    assert_eq!(got, "=0,0,2; sms=0,1,1; web=2,0,0");

    // An earlier message of `b` on the first day with another channel: the whole conversation
    // moves to web and to the first day, nothing of it stays with sms.
    let early = msg("b", "b1", "2026-03-01T08:00:00Z", "user", json!({"channel_type": "web"}));
    store.ingest(team, "bot", true, vec![early]).await.unwrap();
    let got = counters(&store, team, Stat::Conversations, DAYS, vec![], channel()).await;
    assert_eq!(got, "web=2,0,0; =0,0,1");
    let got = counters(&store, team, Stat::Messages, DAYS, vec![], channel()).await;
    assert_eq!(got, "web=3,1,1; =0,0,2");
    // No group, a filter on the grouped dimension, a filter alone, another dimension.
    let got = counters(&store, team, Stat::Messages, DAYS, vec![], vec![]).await;
    assert_eq!(got, "num_messages=3,1,3");
    let web = only(Dim::ChannelType, &["web", "sms"]);
    let got = counters(&store, team, Stat::Messages, DAYS, web.clone(), channel()).await;
    assert_eq!(got, "web=3,1,1");
    let got =
        counters(&store, team, Stat::Handoffs, DAYS, only(Dim::Version, &["v2"]), vec![]).await;
    assert_eq!(got, "handoffs=0,0,1");
    let by_language = vec![GroupKey::Dim(Dim::Language)];
    let got = counters(&store, team, Stat::Conversations, DAYS, vec![], by_language).await;
    assert_eq!(got, "=1,0,1; pl=1,0,0");

    // Erased, its counts stay.
    store.delete_conversation(team, "bot", "b").await.unwrap();
    let got = counters(&store, team, Stat::Messages, DAYS, web.clone(), channel()).await;
    assert_eq!(got, "web=3,1,1");
    // A range starting at 06:00 in New York (11:00Z) and ending inside a slot: hours and
    // quarter hours from the rows per combination, whole days from the rows per dimension,
    // the windows at the edges from the stored rows (the erased conversation no longer there).
    let ragged = ("UTC", Bucket::Day, "2026-03-01T09:00:00Z", "2026-03-03T12:00:30Z");
    let got = counters(&store, team, Stat::Messages, ragged, web, channel()).await;
    assert_eq!(got, "web=2,1,1");
}

backend_tests!([follows_moves_and_erasure]);

/// What the migration tests compare: series read from the rows per dimension, after a move and
/// an erasure.
async fn answers(store: &Arc<dyn Store>, team: i64) -> Vec<String> {
    let mut out = vec![];
    for stat in [Stat::Conversations, Stat::Messages, Stat::Duration(series::Agg::Sum)] {
        out.push(counters(store, team, stat, DAYS, vec![], channel()).await);
        out.push(counters(store, team, stat, DAYS, vec![], vec![]).await);
        let pl = only(Dim::Language, &["pl"]);
        out.push(counters(store, team, stat, DAYS, pl, vec![GroupKey::Dim(Dim::Language)]).await);
    }
    out
}

async fn ingest_and_answer(store: &Arc<dyn Store>) -> (i64, Vec<String>) {
    let team = store.create_team("t").await.unwrap().id;
    store.ingest(team, "bot", true, history()).await.unwrap();
    let early = msg("b", "b1", "2026-03-01T08:00:00Z", "user", json!({"channel_type": "web"}));
    store.ingest(team, "bot", true, vec![early]).await.unwrap();
    store.delete_conversation(team, "bot", "a").await.unwrap();
    let expected = answers(store, team).await;
    assert_eq!(expected[1], "num_conversations=2,0,1");
    assert_eq!(expected[3], "web=3,1,1; =0,0,2");
    (team, expected)
}

#[tokio::test]
async fn sqlite_migration_10_backfills_what_ingest_built() {
    let (dir, store) = backends::open_sqlite().await;
    let (team, expected) = ingest_and_answer(&store).await;
    store.close().await;

    // Back to version 9: no rows per dimension (nor migration 12's goal counter, which adds a
    // column to them).
    let c = rusqlite::Connection::open(dir.path().join("confab.db")).unwrap();
    c.execute_batch(
        "DELETE FROM schema_migrations WHERE version IN (10, 12); DROP TABLE dim_rollups; \
         ALTER TABLE rollups DROP COLUMN completed;",
    )
    .unwrap();
    drop(c);
    let store = confab_store::open(dir.path().join("confab.db").to_str().unwrap()).await.unwrap();
    assert_eq!(answers(&store, team).await, expected);
    store.close().await;
}

#[tokio::test]
async fn postgres_migration_4_backfills_what_ingest_built() {
    use sqlx::Connection;
    let Some((db, store)) = backends::open_postgres().await else { return };
    let (team, expected) = ingest_and_answer(&store).await;
    store.close().await;

    // Back to version 3: no rows per dimension (nor migration 6's goal counter).
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "DELETE FROM schema_migrations WHERE version IN (4, 6); DROP TABLE dim_rollups; \
         ALTER TABLE rollups DROP COLUMN completed;",
    )
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
    let store = confab_store::open(&db.url).await.unwrap();
    assert_eq!(answers(&store, team).await, expected);
    store.close().await;
}
