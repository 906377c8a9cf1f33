//! Opening a PostgreSQL store: migrations run at start-up under an advisory lock, so servers
//! starting together on an empty database apply each once and all come up; `sslmode` decides
//! whether the connections use TLS; a URL of another scheme is an error that names the ones
//! Confab knows.

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
