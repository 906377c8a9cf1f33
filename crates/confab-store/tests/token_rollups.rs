//! Token rollups on every backend: the `input_tokens` / `output_tokens` of message metadata
//! follow their conversation when a late message changes its dimensions, count once however
//! often a message is retried, stay when the conversation is erased, and are backfilled by the
//! migration that creates them (SQLite's 9, PostgreSQL's 3) exactly as ingest builds them.
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

fn msg(v: Value) -> NewMessage {
    serde_json::from_value::<MessageInput>(v).unwrap().validate(ms("2026-06-01T00:00:00Z")).unwrap()
}

fn answer(conv: &str, id: &str, ts: &str, model: &str, input: i64, output: i64) -> NewMessage {
    msg(json!({"conversation_id": conv, "id": id, "role": "bot", "content": "ok",
               "timestamp": ts, "metadata": {"model": model, "input_tokens": input,
               "output_tokens": output}}))
}

/// A token series of bot `bot` as `label=v,v…` per serie, joined by `; `.
async fn tokens(
    store: &Arc<dyn Store>,
    team: i64,
    stat: Stat,
    (tz, bucket, start, end): (&str, Bucket, &str, &str),
    group_by: Vec<GroupKey>,
) -> String {
    let tz = parse_tz("tz", tz).unwrap();
    let req = SeriesRequest::new(stat, bucket, &tz, ms(start), ms(end), vec![], vec![], group_by)
        .unwrap();
    let cells = store.series_tokens(team, &BotSelector::One("bot".into()), &req).await.unwrap();
    let data = series::from_tokens(&req, &cells, false);
    let mut out = vec![];
    for (label, s) in data.series_labels.iter().zip(&data.series) {
        let v: Vec<String> = s.values.iter().map(Value::to_string).collect();
        out.push(format!("{label}={}", v.join(",")));
    }
    out.join("; ")
}

const DAY: (&str, Bucket, &str, &str) =
    ("UTC", Bucket::Day, "2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z");

async fn tokens_follow_their_conversation(store: Arc<dyn Store>) {
    let team = store.create_team("t").await.unwrap().id;
    let by_channel_model = || vec![GroupKey::Dim(Dim::ChannelType), GroupKey::Model];
    let batch = vec![
        answer("a", "a2", "2026-03-01T10:05:00Z", "gpt-4o", 100, 20),
        answer("a", "a3", "2026-03-02T08:00:00Z", "claude", 40, 4),
    ];
    store.ingest(team, "bot", true, batch.clone()).await.unwrap();
    let got = tokens(&store, team, Stat::InputTokens, DAY, by_channel_model()).await;
    assert_eq!(got, " / gpt-4o=100,0;  / claude=0,40");

    // A retry stores nothing; an earlier message sets the channel: the whole conversation's
    // tokens move to it, none stay without a channel.
    store.ingest(team, "bot", true, batch).await.unwrap();
    let first = msg(json!({"conversation_id": "a", "id": "a1", "role": "user", "content": "hi",
                           "timestamp": "2026-03-01T09:00:00Z", "channel_type": "web"}));
    store.ingest(team, "bot", true, vec![first]).await.unwrap();
    let got = tokens(&store, team, Stat::InputTokens, DAY, by_channel_model()).await;
    assert_eq!(got, "web / gpt-4o=100,0; web / claude=0,40");
    let got = tokens(&store, team, Stat::OutputTokens, DAY, vec![]).await;
    assert_eq!(got, "output_tokens=20,4");

    // Erased, its tokens stay as anonymous aggregates.
    store.delete_conversation(team, "bot", "a").await.unwrap();
    let got = tokens(&store, team, Stat::InputTokens, DAY, by_channel_model()).await;
    assert_eq!(got, "web / gpt-4o=100,0; web / claude=0,40");
    // In hours of Kathmandu (+5:45): 15:00 there is 09:15Z, read from quarter-hour rows.
    let kathmandu =
        ("Asia/Kathmandu", Bucket::Hour, "2026-03-01T15:00:00+05:45", "2026-03-01T17:00:00+05:45");
    let got = tokens(&store, team, Stat::InputTokens, kathmandu, vec![]).await;
    assert_eq!(got, "input_tokens=100,0");
}

backend_tests!([tokens_follow_their_conversation]);

/// Messages of two conversations with token usage (and one without), for the backfill tests.
fn history() -> Vec<NewMessage> {
    vec![
        msg(json!({"conversation_id": "a", "role": "user", "content": "hi",
                   "timestamp": "2026-03-01T10:00:00Z", "channel_type": "web"})),
        answer("a", "a2", "2026-03-01T10:00:05Z", "gpt-4o", 120, 30),
        answer("a", "a3", "2026-03-01T10:20:00Z", "gpt-4o", 200, 10),
        answer("b", "b1", "2026-03-02T23:59:00Z", "claude", 7, 1),
        msg(json!({"conversation_id": "b", "role": "bot", "content": "no usage",
                   "timestamp": "2026-03-02T23:59:30Z", "metadata": {"input_tokens": "7"}})),
    ]
}

async fn backfilled_series(store: &Arc<dyn Store>, team: i64) -> Vec<String> {
    let mut out = vec![];
    for stat in [Stat::InputTokens, Stat::OutputTokens] {
        let groups = vec![GroupKey::Dim(Dim::ChannelType), GroupKey::Model];
        out.push(tokens(store, team, stat, DAY, groups).await);
        let edge = ("Europe/Warsaw", Bucket::Hour, "2026-03-01T10:03:00Z", "2026-03-03T00:07:00Z");
        out.push(tokens(store, team, stat, edge, vec![]).await);
    }
    out
}

#[tokio::test]
async fn sqlite_migration_9_backfills_what_ingest_built() {
    let (dir, store) = backends::open_sqlite().await;
    let team = store.create_team("t").await.unwrap().id;
    store.ingest(team, "bot", true, history()).await.unwrap();
    let expected = backfilled_series(&store, team).await;
    assert_eq!(expected[0], "web / gpt-4o=320,0;  / claude=0,7");
    store.close().await;

    // Back to version 8: no token rollups.
    let c = rusqlite::Connection::open(dir.path().join("confab.db")).unwrap();
    c.execute_batch("DELETE FROM schema_migrations WHERE version = 9; DROP TABLE token_rollups;")
        .unwrap();
    drop(c);
    let store = confab_store::open(dir.path().join("confab.db").to_str().unwrap()).await.unwrap();
    assert_eq!(backfilled_series(&store, team).await, expected);
    store.close().await;
}

#[tokio::test]
async fn postgres_migration_3_backfills_what_ingest_built() {
    use sqlx::Connection;
    let Some((db, store)) = backends::open_postgres().await else { return };
    let team = store.create_team("t").await.unwrap().id;
    store.ingest(team, "bot", true, history()).await.unwrap();
    let expected = backfilled_series(&store, team).await;
    assert_eq!(expected[0], "web / gpt-4o=320,0;  / claude=0,7");
    store.close().await;

    // Back to version 2: no token rollups.
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("DELETE FROM schema_migrations WHERE version = 3; DROP TABLE token_rollups;")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    let store = confab_store::open(&db.url).await.unwrap();
    assert_eq!(backfilled_series(&store, team).await, expected);
    store.close().await;
}
