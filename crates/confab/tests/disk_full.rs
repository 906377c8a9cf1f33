//! A real server whose SQLite database is on a tmpfs of a few MB: writes fill it until they are
//! answered `507`, `/readyz` then says the disk is full while reads keep working; once space is
//! freed the server says ready again by itself and writes resume, every acknowledged message is
//! readable and the database passes `PRAGMA integrity_check`.
//!
//! On PostgreSQL the same, with the test database's default tablespace on the tmpfs (its
//! catalogs and WAL stay on the main disk): `53100 disk_full`.
//!
//! Mounting needs root: elsewhere the tests are skipped with the reason printed, and fail under
//! `CI=true`.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, start};
use serde_json::{Value, json};

const BOT: &str = "full";

/// A tmpfs mounted on a directory, unmounted when dropped (also when the test fails).
struct Tmpfs {
    dir: PathBuf,
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let out = Command::new("umount").arg(&self.dir).output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            // Something still has a file open: detach it now, freed when that closes.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Skips (printing why) or, under CI, fails.
fn cannot_run(why: String) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the full-disk test must run under CI: {why}");
    }
    eprintln!("skipped: {why}");
}

fn mount_tmpfs(dir: &Path, size: &str) -> Result<Tmpfs, String> {
    let uid = Command::new("id").arg("-u").output().map_err(|e| format!("id -u: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("mounting a tmpfs needs root, and this test does not run as root".into());
    }
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output()
        .map_err(|e| format!("mount: {e}"))?;
    if !out.status.success() {
        return Err(format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(Tmpfs { dir: dir.to_owned() })
}

async fn post(client: &reqwest::Client, server: &Server, key: &str, i: usize) -> reqwest::Response {
    // Text that does not repeat, so nothing about it is small.
    let content: String = (0..40).map(|j| format!("{:016x} ", rand_word(i * 40 + j))).collect();
    client
        .post(format!("{}/v1/bots/{BOT}/messages", server.base))
        .bearer_auth(key)
        .json(&json!({"conversation_id": conversation(i), "id": format!("m-{i}"),
            "role": "user", "content": content}))
        .send()
        .await
        .unwrap()
}

fn conversation(i: usize) -> String {
    format!("conv-{}", i / 20)
}

/// A fixed pseudo-random word (splitmix64).
fn rand_word(n: usize) -> u64 {
    let mut z = (n as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes messages until one is answered 507 (checking the answer); the acknowledged ones, and
/// the index of the refused one.
async fn fill_until_refused(
    client: &reqwest::Client,
    server: &Server,
    key: &str,
) -> (Vec<usize>, usize) {
    let mut acked = vec![];
    for i in 0..20_000 {
        let r = post(client, server, key, i).await;
        let status = r.status().as_u16();
        if status == 507 {
            assert!(r.headers().contains_key("retry-after"));
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "disk_full", "{body}");
            assert!(body["error"]["message"].as_str().unwrap().contains("disk is full"));
            assert!(acked.len() > 10, "only {} writes fit", acked.len());
            return (acked, i);
        }
        assert_eq!(status, 200, "write {i} answered {status}: {}", r.text().await.unwrap());
        acked.push(i);
    }
    panic!("the disk never filled up");
}

/// While the disk is full: not ready, reads answer, writes stay refused. (PostgreSQL may still
/// fit a write in a page that another one left partly free: those acknowledged are recorded, and
/// `refused` moves to the next refused one.)
async fn check_full(
    client: &reqwest::Client,
    server: &Server,
    key: &str,
    acked: &mut Vec<usize>,
    refused: &mut usize,
) {
    let (status, body) = get(client, &format!("{}/readyz", server.base), "").await;
    assert_eq!((status, body.as_str()), (503, "not ready: disk full"));
    assert_readable(client, server, key, acked).await;
    let (status, _) =
        get(client, &format!("{}/v1/bots/{BOT}/conversations?limit=5", server.base), key).await;
    assert_eq!(status, 200);
    for _ in 0..50 {
        let status = post(client, server, key, *refused).await.status().as_u16();
        match status {
            507 => return,
            200 => acked.push(*refused),
            _ => panic!("write {refused} answered {status} on a full disk"),
        }
        *refused += 1;
    }
    panic!("writes are accepted again on a full disk");
}

/// Once space is freed: `/readyz` says ready again within `within` without a write to tell it,
/// and writes resume, the refused one included (retried with its id).
async fn check_recovered(
    client: &reqwest::Client,
    server: &Server,
    key: &str,
    acked: &mut Vec<usize>,
    refused: usize,
    within: Duration,
) {
    let started = Instant::now();
    loop {
        let (status, _) = get(client, &format!("{}/readyz", server.base), "").await;
        if status == 200 {
            break;
        }
        assert!(started.elapsed() < within, "/readyz stays {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for j in refused..refused + 10 {
        let r = post(client, server, key, j).await;
        assert_eq!(r.status().as_u16(), 200, "write {j} after space was freed");
        acked.push(j);
    }
    assert_readable(client, server, key, acked).await;
}

async fn get(client: &reqwest::Client, url: &str, key: &str) -> (u16, String) {
    let r = client.get(url).bearer_auth(key).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Every acknowledged message is in its conversation.
async fn assert_readable(client: &reqwest::Client, server: &Server, key: &str, acked: &[usize]) {
    let mut by_conv: HashMap<String, Vec<usize>> = HashMap::new();
    for &i in acked {
        by_conv.entry(conversation(i)).or_default().push(i);
    }
    for (conv, ids) in by_conv {
        let url = format!("{}/v1/bots/{BOT}/conversations/{conv}", server.base);
        let (status, body) = get(client, &url, key).await;
        assert_eq!(status, 200, "{conv}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        let stored: HashSet<&str> =
            body["messages"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
        for i in ids {
            assert!(stored.contains(format!("m-{i}").as_str()), "acknowledged m-{i} is missing");
        }
    }
}

#[tokio::test]
async fn sqlite_a_full_disk_refuses_writes_with_507_and_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let tmpfs = match mount_tmpfs(&mount, "4m") {
        Ok(t) => t,
        Err(why) => return cannot_run(why),
    };
    // Space to give back later.
    let filler = mount.join("filler");
    std::fs::write(&filler, vec![0xa5u8; 1 << 20]).unwrap();
    let db = mount.join("confab.db");
    let server = start(db.to_str().unwrap());
    let key = server.first_key.clone().expect("first start prints an admin key");
    let client = reqwest::Client::new();
    assert_eq!(get(&client, &format!("{}/readyz", server.base), "").await.0, 200);

    let (mut acked, mut refused) = fill_until_refused(&client, &server, &key).await;
    check_full(&client, &server, &key, &mut acked, &mut refused).await;
    std::fs::remove_file(&filler).unwrap();
    // The idle writer's one-page write finds the space within a second.
    check_recovered(&client, &server, &key, &mut acked, refused, Duration::from_secs(5)).await;

    // Stopped abruptly: what it acknowledged is still there, intact.
    drop(server);
    let check: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let server = start(db.to_str().unwrap());
    assert_readable(&client, &server, &key, &acked).await;
    drop(server);
    drop(tmpfs);
}

/// Runs `sql` on the test server's admin database.
async fn admin_sql(sql: &str) {
    use sqlx::Connection;
    let url = confab_store::testing::server_url().expect("checked before");
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sql).execute(&mut admin).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = admin.close().await;
}

#[tokio::test]
async fn postgres_a_full_disk_refuses_writes_with_507_and_recovers_by_itself() {
    let Some(db) = confab_store::testing::TestDatabase::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let tmpfs = match mount_tmpfs(&mount, "4m") {
        Ok(t) => t,
        Err(why) => return cannot_run(why),
    };
    // The database server runs as `postgres`: it must reach and own the directory.
    let prepared = Command::new("chmod").arg("755").arg(dir.path()).status().unwrap().success()
        && Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&mount)
            .status()
            .unwrap()
            .success();
    if !prepared {
        return cannot_run("the tmpfs could not be handed to the postgres user".into());
    }
    let filler = mount.join("filler");
    std::fs::write(&filler, vec![0xa5u8; 1 << 20]).unwrap();
    let space = format!("confab_full_{}", std::process::id());
    let name = db.url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    admin_sql(&format!("CREATE TABLESPACE {space} LOCATION '{}'", mount.display())).await;
    admin_sql(&format!("ALTER DATABASE {name} SET default_tablespace = {space}")).await;

    let server = start(&db.url);
    let key = server.first_key.clone().expect("first start prints an admin key");
    let client = reqwest::Client::new();
    let (mut acked, mut refused) = fill_until_refused(&client, &server, &key).await;
    check_full(&client, &server, &key, &mut acked, &mut refused).await;
    std::fs::remove_file(&filler).unwrap();
    // PostgreSQL reports the full disk for 10 s after the last write that found it.
    check_recovered(&client, &server, &key, &mut acked, refused, Duration::from_secs(20)).await;
    drop(server);
    let server = start(&db.url);
    assert_readable(&client, &server, &key, &acked).await;
    drop(server);
    drop(db);
    admin_sql(&format!("DROP TABLESPACE {space}")).await;
    drop(tmpfs);
}
