//! The backends every store scenario runs on, shared by the store test files: `backend_tests!`
//! generates one `#[tokio::test]` per scenario and backend — SQLite in a temporary directory,
//! and PostgreSQL in a database of its own on the server `CONFAB_TEST_POSTGRES_URL` names
//! (skipped with a printed reason when it is unset, a failure under CI).

use std::sync::Arc;

use confab_store::Store;
use confab_store::testing::TestDatabase;

/// A fresh SQLite store in its own temporary directory, which the guard keeps alive.
pub async fn open_sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("confab.db");
    let store = confab_store::open(path.to_str().unwrap()).await.unwrap();
    (dir, store)
}

/// A fresh PostgreSQL store in a database of its own, dropped with the guard; `None` when no
/// server is configured.
pub async fn open_postgres() -> Option<(TestDatabase, Arc<dyn Store>)> {
    let db = TestDatabase::create().await?;
    let store = confab_store::open(&db.url).await.unwrap();
    Some((db, store))
}

/// One `#[tokio::test]` per scenario (an `async fn(Arc<dyn Store>)` of the calling file) and
/// backend.
macro_rules! backend_tests {
    ([$($scenario:ident),* $(,)?]) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let (_guard, store) = crate::backends::open_sqlite().await;
                    super::$scenario(store.clone()).await;
                    store.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let Some((_guard, store)) = crate::backends::open_postgres().await else {
                        return;
                    };
                    super::$scenario(store.clone()).await;
                    store.close().await;
                }
            )*
        }
    };
}
