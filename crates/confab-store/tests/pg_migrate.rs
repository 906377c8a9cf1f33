//! PostgreSQL migrations run at start-up under an advisory lock: servers starting together on
//! an empty database apply each migration once and all come up; a URL of another scheme is an
//! error that names the ones Confab knows.

use confab_store::testing::TestDatabase;
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

#[tokio::test]
async fn unknown_scheme_is_a_clear_error() {
    let err = confab_store::open("mysql://db/confab").await.err().unwrap();
    assert!(err.contains("unsupported database URL scheme `mysql`"), "{err}");
    assert!(err.contains("postgres://"), "{err}");
}
