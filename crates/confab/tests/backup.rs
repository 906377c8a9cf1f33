//! Backups taken while a real server keeps acknowledging writes, restored into a new database
//! under a new server: every message acknowledged before the backup began is there. On SQLite
//! with `confab backup` / `confab restore` (and the restored file passes `PRAGMA
//! integrity_check`); on PostgreSQL with the `pg_dump` / `pg_restore` steps docs/operations.md
//! gives.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{confab, start};
use serde_json::{Value, json};

const BOT: &str = "backed-up";

/// (conversation, message id) of every acknowledged message, in order.
type Acked = Arc<Mutex<Vec<(String, String)>>>;

/// A client that sends single messages one after another until `stop`, recording each one the
/// server acknowledged (2xx).
fn stream_writes(
    base: &str,
    key: &str,
    stop: Arc<AtomicBool>,
) -> (Acked, tokio::task::JoinHandle<()>) {
    let acked: Acked = Arc::default();
    let (log, base, key) = (acked.clone(), base.to_owned(), key.to_owned());
    let task = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let conv = format!("conv-{}", i / 25);
            let id = format!("m-{i}");
            let body = json!({"conversation_id": conv, "id": id, "role": "user",
                "content": format!("message {i}: my email is person{i}@example.com")});
            let r = client
                .post(format!("{base}/v1/bots/{BOT}/messages"))
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "write {i}: {}", r.status());
            log.lock().unwrap().push((conv, id));
            i += 1;
        }
    });
    (acked, task)
}

async fn wait_for_acks(acked: &Acked, at_least: usize) {
    let started = Instant::now();
    while acked.lock().unwrap().len() < at_least {
        assert!(started.elapsed() < Duration::from_secs(60), "the writes do not get acknowledged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every message of `acked` is in its conversation on the server at `base`.
async fn assert_all_there(base: &str, key: &str, acked: &[(String, String)]) {
    let client = reqwest::Client::new();
    let mut by_conv: HashMap<&str, Vec<&str>> = HashMap::new();
    for (conv, id) in acked {
        by_conv.entry(conv).or_default().push(id);
    }
    for (conv, ids) in by_conv {
        let r = client
            .get(format!("{base}/v1/bots/{BOT}/conversations/{conv}"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "conversation {conv}");
        let body: Value = r.json().await.unwrap();
        let stored: HashSet<&str> =
            body["messages"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
        for id in ids {
            assert!(
                stored.contains(id),
                "message {id} of {conv}, acknowledged before the backup, is missing"
            );
        }
    }
}

/// Runs a blocking command (the backup tools) off the test's runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test]
async fn sqlite_backup_during_writes_restores_every_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let db_path = db.to_str().unwrap().to_owned();
    let server = start(&db_path);
    let key = server.first_key.clone().expect("first start prints an admin key");
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, writer) = stream_writes(&server.base, &key, stop.clone());
    wait_for_acks(&acked, 300).await;

    let before: Vec<_> = acked.lock().unwrap().clone();
    let backup = dir.path().join("snapshot.db");
    let (source, target) = (db_path.clone(), backup.to_str().unwrap().to_owned());
    let (ok, out, err) =
        blocking(move || confab(&["backup", "--database-url", &source, "--to", &target])).await;
    assert!(ok, "confab backup failed: {err}");
    assert!(out.contains("conversations") && out.contains("MB"), "{out}");
    // The server kept acknowledging while the copy was made, and after.
    let during = acked.lock().unwrap().len();
    wait_for_acks(&acked, during + 50).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let total = acked.lock().unwrap().len();
    assert!(total > before.len());

    // An existing file is kept unless --force.
    let (source, target) = (db_path.clone(), backup.to_str().unwrap().to_owned());
    let (ok, _, err) =
        blocking(move || confab(&["backup", "--database-url", &source, "--to", &target])).await;
    assert!(!ok && err.contains("exists") && err.contains("--force"), "{err}");
    // Nor is the database itself, even with --force.
    let source = db_path.clone();
    let (ok, _, err) = blocking(move || {
        confab(&["backup", "--database-url", &source, "--to", &source, "--force"])
    })
    .await;
    assert!(!ok && err.contains("the database itself"), "{err}");
    // A restore over the database the server has open is refused, even with --force.
    let (from, target) = (backup.to_str().unwrap().to_owned(), db_path.clone());
    let (ok, _, err) =
        blocking(move || confab(&["restore", "--from", &from, "--to", &target, "--force"])).await;
    assert!(!ok && err.contains("open in another process"), "{err}");
    // A file that is not a Confab database is refused and creates nothing.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all").unwrap();
    let restored = dir.path().join("restored.db");
    let (from, to) = (junk.to_str().unwrap().to_owned(), restored.to_str().unwrap().to_owned());
    let (ok, _, err) = blocking(move || confab(&["restore", "--from", &from, "--to", &to])).await;
    assert!(!ok, "{err}");
    assert!(!restored.exists());

    let (from, to) = (backup.to_str().unwrap().to_owned(), restored.to_str().unwrap().to_owned());
    let (ok, out, err) = blocking(move || confab(&["restore", "--from", &from, "--to", &to])).await;
    assert!(ok, "confab restore failed: {err}");
    assert!(out.contains("integrity_check ok"), "{out}");
    drop(server);

    let check: String = rusqlite::Connection::open(&restored)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let restored_server = start(restored.to_str().unwrap());
    assert!(restored_server.first_key.is_none(), "the restored database keeps its team and keys");
    assert_all_there(&restored_server.base, &key, &before).await;
    drop(restored_server);

    // With its server stopped (killed: its WAL is still there), the live database itself can be
    // replaced with --force; the old WAL is not applied to the restored file.
    assert!(std::path::Path::new(&format!("{db_path}-wal")).exists());
    let (from, to) = (backup.to_str().unwrap().to_owned(), db_path.clone());
    let (ok, _, err) =
        blocking(move || confab(&["restore", "--from", &from, "--to", &to, "--force"])).await;
    assert!(ok, "confab restore --force failed: {err}");
    let check: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let replaced = start(&db_path);
    assert_all_there(&replaced.base, &key, &before).await;
}

#[tokio::test]
async fn postgres_backup_steps_during_writes_restore_every_acknowledged_message() {
    let Some(live) = confab_store::testing::TestDatabase::create().await else { return };
    let Some(restored) = confab_store::testing::TestDatabase::create().await else { return };
    let server = start(&live.url);
    let key = server.first_key.clone().expect("first start prints an admin key");
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, writer) = stream_writes(&server.base, &key, stop.clone());
    wait_for_acks(&acked, 300).await;

    // `confab backup` points to pg_dump.
    let url = live.url.clone();
    let (ok, _, err) =
        blocking(move || confab(&["backup", "--database-url", &url, "--to", "/nonexistent/x"]))
            .await;
    assert!(!ok && err.contains("pg_dump"), "{err}");

    let before: Vec<_> = acked.lock().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("confab.dump");
    let (url, file) = (live.url.clone(), dump.to_str().unwrap().to_owned());
    let dumped = blocking(move || {
        Command::new("pg_dump")
            .args(["--format=custom", "--file", &file, "--dbname", &url])
            .output()
    })
    .await
    .expect("pg_dump runs (install the PostgreSQL client tools)");
    assert!(dumped.status.success(), "pg_dump: {}", String::from_utf8_lossy(&dumped.stderr));
    let during = acked.lock().unwrap().len();
    wait_for_acks(&acked, during + 50).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();

    let (url, file) = (restored.url.clone(), dump.to_str().unwrap().to_owned());
    let loaded = blocking(move || {
        Command::new("pg_restore")
            .args(["--no-owner", "--exit-on-error", "--dbname", &url, &file])
            .output()
    })
    .await
    .unwrap();
    assert!(loaded.status.success(), "pg_restore: {}", String::from_utf8_lossy(&loaded.stderr));
    drop(server);
    let restored_server = start(&restored.url);
    assert!(restored_server.first_key.is_none(), "the restored database keeps its team and keys");
    assert_all_there(&restored_server.base, &key, &before).await;
}
