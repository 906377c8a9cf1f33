//! The SQLite → PostgreSQL copy (`confab_store::copy`) on real files and a real server: a copy
//! stopped after a few batches resumes without copying anything twice, a source changed between
//! the runs fails the verification, and a target holding data is refused before anything is
//! written. (The binary's test in crates/confab/tests/migrate.rs compares the API's answers.)

use std::ops::ControlFlow;
use std::path::Path;

use confab_core::MessageInput;
use confab_core::datapoints::SchemaInput;
use confab_store::copy::{self, CopyError, Event};
use confab_store::testing::TestDatabase;
use serde_json::json;
use sqlx::Connection;

/// A store with two bots, explicit and extracted values and rollups.
async fn populate(path: &Path) {
    let store = confab_store::open(path.to_str().unwrap()).await.unwrap();
    let team = store.create_team("t").await.unwrap().id;
    let now = confab_core::time::parse_rfc3339("now", "2026-06-01T00:00:00Z").unwrap();
    let schema: SchemaInput =
        serde_json::from_value(json!({"datapoints": [{"key": "Email", "type": "email"}]})).unwrap();
    for (i, bot) in ["a", "b"].into_iter().enumerate() {
        store.put_datapoint_schema(team, bot, true, &schema).await.unwrap();
        let messages = (0..30)
            .map(|n| {
                let v = json!({
                    "conversation_id": format!("c{}", n / 3),
                    "role": if n % 2 == 0 { "user" } else { "bot" },
                    "content": format!("message {n}: my email is user{n}@example.com"),
                    "timestamp": format!("2026-03-0{}T10:{:02}:00Z", i + 1, n),
                    "channel_type": "web",
                    "step": {"id": format!("step{}", n % 4)},
                    "metadata": if n % 2 == 1 {
                        json!({"model": "m1", "input_tokens": n, "output_tokens": 2})
                    } else {
                        json!({})
                    },
                });
                serde_json::from_value::<MessageInput>(v).unwrap().validate(now).unwrap()
            })
            .collect();
        store.ingest(team, bot, true, messages).await.unwrap();
    }
    store.close().await;
}

async fn rows(url: &str, table: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&mut c).await.unwrap()
}

#[tokio::test]
async fn an_interrupted_copy_resumes_and_verifies() {
    let Some(pg) = TestDatabase::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    populate(&db).await;

    // Stopped after the fourth batch of messages.
    let mut batches = 0;
    let stopped = copy::sqlite_to_postgres(&db, &pg.url, 7, |e| {
        if let Event::Copied { table: "messages", .. } = e {
            batches += 1;
        }
        if batches == 4 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    })
    .await;
    assert!(matches!(stopped, Err(CopyError::Interrupted)), "{stopped:?}");
    assert_eq!(rows(&pg.url, "messages").await, 28);
    assert_eq!(rows(&pg.url, "datapoints").await, 0);

    let mut events = vec![];
    let report = copy::sqlite_to_postgres(&db, &pg.url, 7, |e| {
        events.push(e);
        ControlFlow::Continue(())
    })
    .await
    .unwrap();
    assert!(report.resumed);
    assert!(events.contains(&Event::Table { table: "messages", rows: 60, done: 28 }), "{events:?}");
    assert!(events.contains(&Event::Table { table: "teams", rows: 1, done: 1 }), "{events:?}");
    let copied: u64 = events
        .iter()
        .filter_map(|e| match e {
            Event::Copied { table: "messages", rows } => Some(*rows),
            _ => None,
        })
        .sum();
    assert_eq!(copied, 32, "only the rest is copied");
    let counts: Vec<(&str, u64)> = report.tables.iter().map(|t| (t.table, t.rows)).collect();
    for (table, n) in [("teams", 1), ("bots", 2), ("conversations", 20), ("messages", 60)] {
        assert!(counts.contains(&(table, n)), "{table}: {counts:?}");
    }
    assert!(counts.iter().any(|(t, n)| *t == "datapoints" && *n > 0), "{counts:?}");
    for table in ["rollups", "flow_edges", "flow_exits", "token_rollups", "dim_rollups"] {
        assert!(counts.iter().any(|(t, n)| *t == table && *n > 0), "{table}: {counts:?}");
    }

    // The copy is a working store: it reads the same, and takes new rows after the copied ids.
    let sqlite = confab_store::open(db.to_str().unwrap()).await.unwrap();
    let store = confab_store::open(&pg.url).await.unwrap();
    for (bot, id) in [("a", "c0"), ("b", "c9")] {
        let want = sqlite.conversation_datapoints(1, bot, id).await.unwrap();
        assert!(!want.1.is_empty());
        assert_eq!(store.conversation_datapoints(1, bot, id).await.unwrap(), want);
    }
    sqlite.close().await;
    let now = confab_core::time::now_millis();
    let v = json!({"conversation_id": "new", "role": "user", "content": "hi"});
    let m = serde_json::from_value::<MessageInput>(v).unwrap().validate(now).unwrap();
    store.ingest(1, "a", true, vec![m]).await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn a_source_changed_between_runs_fails_the_verification() {
    let Some(pg) = TestDatabase::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    populate(&db).await;
    let stopped = copy::sqlite_to_postgres(&db, &pg.url, 5, |e| match e {
        Event::Table { table: "datapoints", .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .await;
    assert!(matches!(stopped, Err(CopyError::Interrupted)), "{stopped:?}");
    // A message already copied is edited in the source meanwhile.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute("UPDATE messages SET content = 'edited' WHERE id = 3", []).unwrap();
    drop(c);
    let err =
        copy::sqlite_to_postgres(&db, &pg.url, 5, |_| ControlFlow::Continue(())).await.unwrap_err();
    match err {
        CopyError::Mismatch(tables) => {
            assert_eq!(tables.len(), 1, "{tables:?}");
            assert!(tables[0].starts_with("messages: 60 rows"), "{tables:?}");
        }
        other => panic!("a mismatch, not {other:?}"),
    }
}

#[tokio::test]
async fn a_target_with_data_is_refused() {
    let Some(pg) = TestDatabase::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    populate(&db).await;
    let store = confab_store::open(&pg.url).await.unwrap();
    store.create_team("already here").await.unwrap();
    store.close().await;
    let err = copy::sqlite_to_postgres(&db, &pg.url, 100, |_| ControlFlow::Continue(()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("table teams has rows"), "{err}");
    assert_eq!(rows(&pg.url, "teams").await, 1);
    assert_eq!(rows(&pg.url, "messages").await, 0);
}
