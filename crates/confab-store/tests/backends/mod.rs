//! The backends every store scenario runs on, shared by the store test files: `backend_tests!`
//! generates one `#[tokio::test]` per scenario and backend (SQLite in a temporary directory
//! today), so that a new backend is added here once.

use std::sync::Arc;

use confab_store::Store;

/// A fresh SQLite store in its own temporary directory, which the guard keeps alive.
pub async fn open_sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("confab.db");
    let store = confab_store::open(path.to_str().unwrap()).await.unwrap();
    (dir, store)
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
    };
}
