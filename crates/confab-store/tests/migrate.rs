//! Upgrading old SQLite databases. A database made before analytics existed: migration 2 must
//! backfill rollups, flow rows and last steps so that analytics on the upgraded database equal
//! those of the same messages ingested into a new one. Later migrations keep what was stored and
//! read as the store reads it now.

use std::path::Path;
use std::sync::Arc;

use confab_core::buckets::{Bucket, parse_tz};
use confab_core::datapoints::{Datapoint, Evidence, SchemaInput};
use confab_core::flow::FlowRequest;
use confab_core::rollup::Plan;
use confab_core::series::{Agg, GroupKey, SeriesRequest, Stat};
use confab_core::summary::Dim;
use confab_core::time::parse_rfc3339;
use confab_core::{MessageInput, NewMessage};
use confab_store::{BotSelector, SqliteStore, Store};
use rusqlite::Connection;
use serde_json::json;

const V1: &str = include_str!("../src/sqlite/migrations/0001_init.sql");

fn ms(s: &str) -> i64 {
    parse_rfc3339("t", s).unwrap()
}

fn msg(conv: &str, role: &str, ts: &str, step: Option<&str>, channel: Option<&str>) -> NewMessage {
    let mut v = json!({"conversation_id": conv, "role": role, "content": "hi", "timestamp": ts});
    if let Some(s) = step {
        v["step"] = json!({"id": s, "type": "node"});
    }
    if let Some(c) = channel {
        v["channel_type"] = json!(c);
        v["version"] = json!("LIVE");
    }
    if role == "user" {
        v["metadata"] = json!({"handled": false});
    }
    serde_json::from_value::<MessageInput>(v).unwrap().validate(ms("2026-06-01T00:00:00Z")).unwrap()
}

/// Copies the version-1 columns of `from` into a new version-1 database at `to`.
fn downgrade(from: &Path, to: &Path) {
    let c = Connection::open(to).unwrap();
    c.execute_batch(V1).unwrap();
    c.execute_batch(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
         INSERT INTO schema_migrations VALUES (1, 0);",
    )
    .unwrap();
    c.execute("ATTACH DATABASE ?1 AS new", [from.to_str().unwrap()]).unwrap();
    c.execute_batch(
        "INSERT INTO teams SELECT * FROM new.teams;
         INSERT INTO bots SELECT id, team_id, bot_id, created_at, settings FROM new.bots;
         INSERT INTO conversations SELECT id, bot_pk, conversation_id, status, started_at,
             last_message_at, message_count, n_user, n_bot, n_agent, n_system, first_user_message,
             first_bot_message, channel_type, language, version, user_id, campaign_id,
             campaign_source, conv_type, session_id, metadata, json_remove(stamps, '$.s', '$.v')
             FROM new.conversations;
         INSERT INTO messages SELECT * FROM new.messages;",
    )
    .unwrap();
}

async fn analytics(store: &Arc<dyn Store>, team: i64) -> Vec<String> {
    let tz = parse_tz("tz", "Europe/Warsaw").unwrap();
    let (start, end) = (ms("2026-03-01T00:00:00Z"), ms("2026-03-05T00:07:00Z"));
    let mut out = vec![];
    for stat in [Stat::Conversations, Stat::Messages, Stat::Duration(Agg::Mean), Stat::NotHandled] {
        let req = SeriesRequest::new(
            stat,
            Bucket::Hour,
            &tz,
            start,
            end,
            vec![],
            vec![],
            vec![GroupKey::Dim(Dim::ChannelType)],
        )
        .unwrap();
        let cells =
            store.series_counters(team, &BotSelector::One("bot".into()), &req).await.unwrap();
        out.push(format!("{:?}", confab_core::series::from_counters(&req, &cells, false)));
    }
    let flow = FlowRequest {
        start,
        end,
        plan: Plan::span(start, end),
        filters: vec![],
        active_after: ms("2026-06-01T00:00:00Z"),
    };
    out.push(format!("{:?}", store.flow_totals(team, "bot", &flow).await.unwrap().graph()));
    let (conv, _) = store.get_conversation(team, "bot", "b").await.unwrap();
    out.push(format!("{:?}", conv.summary.last_step));
    out
}

#[tokio::test]
async fn migration_2_backfills_what_ingest_would_have_built() {
    let dir = tempfile::tempdir().unwrap();
    let (fresh_path, old_path) = (dir.path().join("fresh.db"), dir.path().join("old.db"));
    let fresh: Arc<dyn Store> = Arc::new(SqliteStore::open(&fresh_path).await.unwrap());
    let team = fresh.create_team("t").await.unwrap().id;
    let messages = vec![
        msg("a", "user", "2026-03-01T10:00:00Z", None, Some("web")),
        msg("a", "bot", "2026-03-01T10:00:05Z", Some("greet"), None),
        msg("a", "bot", "2026-03-01T10:20:00Z", Some("ask"), None),
        msg("b", "bot", "2026-03-02T23:59:00Z", Some("greet"), Some("sms")),
        msg("b", "agent", "2026-03-03T00:30:00Z", Some("handoff"), None),
        msg("b", "user", "2026-03-03T00:31:00Z", None, None),
        msg("c", "user", "2026-03-04T12:00:00Z", None, None),
    ];
    fresh.ingest(team, "bot", true, messages).await.unwrap();
    let expected = analytics(&fresh, team).await;
    fresh.close().await;

    downgrade(&fresh_path, &old_path);
    let upgraded: Arc<dyn Store> = Arc::new(SqliteStore::open(&old_path).await.unwrap());
    assert_eq!(analytics(&upgraded, team).await, expected);
    assert!(expected[0].contains(r#"series_labels: ["", "sms", "web"]"#), "{}", expected[0]);
    assert!(expected.last().unwrap().contains("handoff"), "{expected:?}");
    upgraded.close().await;
}

async fn search(store: &Arc<dyn Store>, team: i64, q: &str) -> Vec<String> {
    let params = vec![("q".to_owned(), q.to_owned())];
    let (filter, _) = confab_core::query::ConversationFilter::from_params(&params).unwrap();
    let page = confab_core::query::PageRequest { limit: 100, cursor: None };
    let page = store.list_conversations(team, "bot", &filter, &page).await.unwrap();
    let mut ids: Vec<String> = page.items.into_iter().map(|c| c.conversation_id).collect();
    ids.sort();
    ids
}

fn said(conv: &str, content: &str, ts: &str) -> NewMessage {
    let v = json!({"conversation_id": conv, "role": "user", "content": content, "timestamp": ts});
    serde_json::from_value::<MessageInput>(v).unwrap().validate(ms("2026-06-01T00:00:00Z")).unwrap()
}

/// Migration 6 renames the search index's rows after their conversations: a database whose index
/// is keyed by message id is re-indexed, searches find the same conversations, and erasing one
/// afterwards takes exactly its rows out.
#[tokio::test]
async fn migration_6_reindexes_search_by_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let team = store.create_team("t").await.unwrap().id;
    let messages = vec![
        said("a", "apple banana", "2026-03-01T10:00:00Z"),
        said("b", "banana date", "2026-03-01T10:00:01Z"),
        said("a", "cherry", "2026-03-01T10:00:02Z"),
        said("c", "elder", "2026-03-01T10:00:03Z"),
    ];
    store.ingest(team, "bot", true, messages).await.unwrap();
    store.close().await;

    // Back to the index keyed by message id, as before migration 6. Only 6 is marked unapplied:
    // the later ones do not touch the index, and adding a column cannot run twice.
    let c = Connection::open(&path).unwrap();
    c.execute_batch(
        "DELETE FROM schema_migrations WHERE version = 6;
         INSERT INTO messages_fts (messages_fts) VALUES ('delete-all');
         INSERT INTO messages_fts (rowid, content) SELECT id, content FROM messages;",
    )
    .unwrap();
    drop(c);

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    assert_eq!(search(&store, team, "banana").await, ["a", "b"]);
    assert_eq!(search(&store, team, "cherry").await, ["a"]);
    store.delete_conversation(team, "bot", "a").await.unwrap();
    assert_eq!(search(&store, team, "banana").await, ["b"]);
    assert!(search(&store, team, "cherry").await.is_empty());
    store
        .ingest(team, "bot", true, vec![said("c", "fig banana", "2026-03-01T11:00:00Z")])
        .await
        .unwrap();
    assert_eq!(search(&store, team, "banana").await, ["b", "c"]);
    store.close().await;
    let c = Connection::open(&path).unwrap();
    c.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 0)", [])
        .unwrap();
}

/// Migration 8 adds each value's evidence: values stored before it keep everything else and
/// read with none (it was never recorded), and values written afterwards have theirs.
#[tokio::test]
async fn migration_8_reads_old_values_without_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let team = store.create_team("t").await.unwrap().id;
    let schema: SchemaInput = serde_json::from_value(json!({"datapoints": [
        {"key": "Email", "type": "email"}, {"key": "Name", "type": "name"}
    ]}))
    .unwrap();
    store.put_datapoint_schema(team, "bot", true, &schema).await.unwrap();
    let turn = |role: &str, content: &str, ts: &str| {
        let v = json!({"conversation_id": "a", "role": role, "content": content, "timestamp": ts});
        serde_json::from_value::<MessageInput>(v).unwrap().validate(ms("2026-06-01T00:00:00Z"))
    };
    let first = vec![
        turn("bot", "What's your email?", "2026-03-01T10:00:00Z").unwrap(),
        turn("user", "anna@example.com", "2026-03-01T10:00:10Z").unwrap(),
    ];
    store.ingest(team, "bot", true, first).await.unwrap();
    let (_, stored) = store.conversation_datapoints(team, "bot", "a").await.unwrap();
    store.close().await;

    // Back to version 7: no evidence column.
    let c = Connection::open(&path).unwrap();
    c.execute_batch(
        "DELETE FROM schema_migrations WHERE version >= 8;
         DROP TABLE token_rollups;
         DROP TABLE dim_rollups;
         ALTER TABLE bots DROP COLUMN retention_ms;
         DROP INDEX messages_unhandled;
         DROP TABLE flow_steps;
         ALTER TABLE rollups DROP COLUMN completed;
         ALTER TABLE datapoints DROP COLUMN evidence;",
    )
    .unwrap();
    drop(c);

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let (_, upgraded) = store.conversation_datapoints(team, "bot", "a").await.unwrap();
    let [email] = &stored[..] else { panic!("one value: {stored:?}") };
    assert_eq!(email.evidence, Some(Evidence::Asked));
    assert_eq!(upgraded, [Datapoint { evidence: None, ..email.clone() }]);
    let later = vec![
        turn("bot", "And your name?", "2026-03-01T10:00:20Z").unwrap(),
        turn("user", "Anna", "2026-03-01T10:00:30Z").unwrap(),
    ];
    store.ingest(team, "bot", true, later).await.unwrap();
    let (_, values) = store.conversation_datapoints(team, "bot", "a").await.unwrap();
    let evidence: Vec<_> = values.iter().map(|d| (d.key.as_str(), d.evidence)).collect();
    assert_eq!(evidence, [("Email", None), ("Name", Some(Evidence::Asked))]);
    store.close().await;
}
