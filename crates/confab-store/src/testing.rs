//! Throwaway PostgreSQL databases for tests (feature `test-support`): each test gets its own,
//! created empty and dropped when the guard goes, so tests run in parallel on one server.

use crate::postgres::with_database;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, PgConnection};

/// The server tests use: `CONFAB_TEST_POSTGRES_URL`, a URL of any database on it (new databases
/// are created next to it).
pub const URL_VAR: &str = "CONFAB_TEST_POSTGRES_URL";

/// A database that exists until this is dropped.
pub struct TestDatabase {
    /// The URL of the new database.
    pub url: String,
    admin_url: String,
    name: String,
}

/// The URL tests should use, or `None` — with the reason printed — when none is configured
/// outside CI. Under CI (`CI=true`) a missing database is a failure, not a skip.
pub fn server_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{URL_VAR} is not set: under CI the PostgreSQL tests must run (see .ci/run)")
        }
        _ => {
            eprintln!("skipped: {URL_VAR} is not set, so this PostgreSQL test does not run");
            None
        }
    }
}

impl TestDatabase {
    /// A new, empty database; `None` when no server is configured (see [`server_url`]).
    /// Panics when the server is configured but cannot be reached.
    pub async fn create() -> Option<TestDatabase> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = server_url()?;
        let name = format!(
            "confab_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{URL_VAR}: cannot connect to PostgreSQL: {e}"));
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
        let _ = admin.close().await;
        Some(TestDatabase { url: with_database(&admin_url, &name), admin_url, name })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime (or while it unwinds): a runtime of its own on a
        // thread of its own does the asynchronous work.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
            .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}: {dropped:?}", self.name);
        }
    }
}
