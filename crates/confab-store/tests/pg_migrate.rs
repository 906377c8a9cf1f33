//! Opening a PostgreSQL store: migrations run at start-up under an advisory lock, so servers
//! starting together on an empty database apply each once and all come up; a later migration
//! keeps what an older database stored; `sslmode` decides whether the connections use TLS; a URL
//! of another scheme is an error that names the ones Confab knows.

use confab_core::MessageInput;
use confab_core::datapoints::{Datapoint, Evidence, SchemaInput};
use confab_store::testing::TestDatabase;
use serde_json::json;
use sqlx::Connection;

#[tokio::test]
async fn servers_starting_together_migrate_once() {
    let Some(db) = TestDatabase::create().await else { return };
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { confab_store::open(&url).await })
        })
        .collect();
    let mut stores = vec![];
    for open in opens {
        stores.push(open.await.unwrap().expect("every server starts"));
    }
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let versions: Vec<(i64, i64)> =
        sqlx::query_as("SELECT version, COUNT(*) FROM schema_migrations GROUP BY version")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert!(!versions.is_empty());
    assert!(versions.iter().all(|(_, n)| *n == 1), "each migration applied once: {versions:?}");
    // All of them work on the one schema; the first team is created once however many try at
    // once.
    let firsts: Vec<_> = stores
        .iter()
        .map(|s| {
            let s = s.clone();
            tokio::spawn(async move { s.create_first_team().await.unwrap().is_some() })
        })
        .collect();
    let mut created = 0;
    for f in firsts {
        created += usize::from(f.await.unwrap());
    }
    assert_eq!(created, 1);
    assert_eq!(stores[3].list_teams().await.unwrap().len(), 1);
    for s in stores {
        s.close().await;
    }
}

/// Migration 2 adds each value's evidence: values stored before it keep everything else and
/// read with none (it was never recorded), and values written afterwards have theirs.
#[tokio::test]
async fn migration_2_reads_old_values_without_evidence() {
    let Some(db) = TestDatabase::create().await else { return };
    let store = confab_store::open(&db.url).await.unwrap();
    let team = store.create_team("t").await.unwrap().id;
    let schema: SchemaInput = serde_json::from_value(json!({"datapoints": [
        {"key": "Email", "type": "email"}, {"key": "Name", "type": "name"}
    ]}))
    .unwrap();
    store.put_datapoint_schema(team, "bot", true, &schema).await.unwrap();
    let turn = |role: &str, content: &str, ts: &str| {
        let v = json!({"conversation_id": "a", "role": role, "content": content, "timestamp": ts});
        let now = confab_core::time::parse_rfc3339("now", "2026-06-01T00:00:00Z").unwrap();
        serde_json::from_value::<MessageInput>(v).unwrap().validate(now).unwrap()
    };
    let first = vec![
        turn("bot", "What's your email?", "2026-03-01T10:00:00Z"),
        turn("user", "anna@example.com", "2026-03-01T10:00:10Z"),
    ];
    store.ingest(team, "bot", true, first).await.unwrap();
    let (_, stored) = store.conversation_datapoints(team, "bot", "a").await.unwrap();
    store.close().await;

    // Back to version 1: no evidence column.
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "DELETE FROM schema_migrations WHERE version >= 2; \
         DROP TABLE token_rollups; \
         DROP TABLE dim_rollups; \
         ALTER TABLE bots DROP COLUMN retention_ms; \
         DROP INDEX messages_unhandled; \
         DROP TABLE flow_steps; \
         ALTER TABLE rollups DROP COLUMN completed; \
         ALTER TABLE datapoints DROP COLUMN evidence;",
    )
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();

    let store = confab_store::open(&db.url).await.unwrap();
    let (_, upgraded) = store.conversation_datapoints(team, "bot", "a").await.unwrap();
    let [email] = &stored[..] else { panic!("one value: {stored:?}") };
    assert_eq!(email.evidence, Some(Evidence::Asked));
    assert_eq!(upgraded, [Datapoint { evidence: None, ..email.clone() }]);
    let later = vec![
        turn("bot", "And your name?", "2026-03-01T10:00:20Z"),
        turn("user", "Anna", "2026-03-01T10:00:30Z"),
    ];
    store.ingest(team, "bot", true, later).await.unwrap();
    let (_, values) = store.conversation_datapoints(team, "bot", "a").await.unwrap();
    let evidence: Vec<_> = values.iter().map(|d| (d.key.as_str(), d.evidence)).collect();
    assert_eq!(evidence, [("Email", None), ("Name", Some(Evidence::Asked))]);
    store.close().await;
}

/// Whether the connections the store holds to `db` use TLS (from the server's own view): `None`
/// when they disagree.
async fn connections_use_tls(db: &TestDatabase) -> Option<bool> {
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let name = db.url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    sqlx::query_scalar(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'confab' AND a.datname = $1",
    )
    .bind(name)
    .fetch_all(&mut c)
    .await
    .unwrap()
    .into_iter()
    .try_fold(None, |all, ssl: bool| match all {
        Some(a) if a != ssl => Err(()),
        _ => Ok(Some(ssl)),
    })
    .ok()
    .flatten()
}

#[tokio::test]
async fn sslmode_decides_tls() {
    let Some(db) = TestDatabase::create().await else { return };
    let with = |mode: &str| confab_store::StoreOptions {
        ssl_mode: Some(mode.to_owned()),
        ..confab_store::StoreOptions::default()
    };
    let plain = confab_store::open_with(&db.url, &with("disable")).await.unwrap();
    plain.ping().await.unwrap();
    assert_eq!(connections_use_tls(&db).await, Some(false));
    plain.close().await;

    // The test server may have no TLS at all; then `require` must fail, not fall back.
    match confab_store::open_with(&db.url, &with("require")).await {
        Ok(tls) => {
            tls.ping().await.unwrap();
            assert_eq!(connections_use_tls(&db).await, Some(true));
            tls.close().await;
            // A certificate no trusted authority signed (a default install's self-signed one)
            // is refused when it must be verified.
            let refused = confab_store::open_with(&db.url, &with("verify-full")).await.err();
            let e = refused.expect("an unverifiable certificate is refused under verify-full");
            assert!(e.contains("unavailable"), "{e}");
        }
        Err(e) => assert!(e.contains("unavailable"), "{e}"),
    }
    let err = confab_store::open_with(&db.url, &with("sometimes")).await.err().unwrap();
    assert!(err.contains("sslmode"), "{err}");
}

#[tokio::test]
async fn unknown_scheme_is_a_clear_error() {
    let err = confab_store::open("mysql://db/confab").await.err().unwrap();
    assert!(err.contains("unsupported database URL scheme `mysql`"), "{err}");
    assert!(err.contains("postgres://"), "{err}");
}
