//! The administration commands and the demo, run as a user would: the real binary on a real file.

mod common;

use std::process::Command;

/// `confab ARGS --database-url DB`.
fn confab(db: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let db = db.to_str().expect("a UTF-8 path");
    common::confab(&[args, &["--database-url", db]].concat())
}

#[test]
fn teams_and_keys_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let (ok, out, _) = confab(&db, &["teams", "create", "acme"]);
    assert!(ok);
    assert!(out.starts_with("created team 1 (acme)"), "{out}");
    let (_, out, _) = confab(&db, &["teams", "list"]);
    assert!(out.lines().any(|l| l.starts_with("1\tacme\t")), "{out}");

    let (ok, key, _) = confab(
        &db,
        &[
            "keys",
            "create",
            "--team",
            "1",
            "--scopes",
            "read,ingest",
            "--bots",
            "a,b",
            "--name",
            "bot key",
        ],
    );
    assert!(ok);
    let key = key.trim();
    assert!(key.starts_with("cfb_") && key.len() == 44, "{key}");
    let (_, list, _) = confab(&db, &["keys", "list", "--team", "1"]);
    let line = list.lines().next().expect("one key listed");
    assert!(
        line.contains("bot key")
            && line.contains("ingest,read")
            && line.contains("a,b")
            && line.ends_with("live"),
        "{line}"
    );
    assert!(!list.contains(key), "the key's text is never listed");
    assert!(line.contains(&key[..10]), "the hint is listed: {line}");

    let (ok, _, err) = confab(&db, &["keys", "create", "--team", "1", "--scopes", "owner"]);
    assert!(!ok && err.contains("unknown scope"), "{err}");
    let (ok, _, err) = confab(&db, &["keys", "create", "--team", "9", "--scopes", "read"]);
    assert!(!ok && err.contains("team not found"), "{err}");

    let (ok, out, _) = confab(&db, &["keys", "revoke", "1"]);
    assert!(ok && out.contains("revoked key 1"));
    let (_, list, _) = confab(&db, &["keys", "list"]);
    assert!(list.lines().next().unwrap().contains("revoked"), "{list}");
    let (ok, _, err) = confab(&db, &["keys", "revoke", "1"]);
    assert!(!ok && err.contains("key not found"), "{err}");
}

#[test]
fn unknown_database_scheme_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["teams", "list", "--database-url", "mysql://u:secret@host/db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported database URL scheme `mysql`"), "{err}");
    assert!(!err.contains("secret"), "the password is never printed: {err}");
}

#[test]
fn unreachable_postgres_is_a_clear_error() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["teams", "list", "--database-url", "postgres://u:s3cret@127.0.0.1:1/confab"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("opening the database postgres://u:<redacted>@127.0.0.1:1/confab"),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "the cause is named: {err}");
    assert!(!err.contains("s3cret"), "the password is never printed: {err}");
}

#[test]
fn help_does_not_show_the_database_password() {
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["serve", "--help"])
        .env("CONFAB_DATABASE_URL", "postgres://u:hunter2@db/confab")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("CONFAB_DATABASE_URL"), "{help}");
    assert!(!help.contains("hunter2"), "{help}");
}

#[test]
fn demo_runs_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(pg) = rt.block_on(confab_store::testing::TestDatabase::create()) else { return };
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_confab"))
            .args(args)
            .args(["--database-url", &pg.url])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (ok, out) = run(&["demo", "--no-serve", "--conversations", "60"]);
    assert!(ok && out.contains("Demo data: 60 conversations"), "{out}");
    let (ok, teams) = run(&["teams", "list"]);
    assert!(ok && teams.lines().count() == 2, "default and demo: {teams}");
    // Deterministic and idempotent on PostgreSQL too: a second run stores nothing new.
    let (ok, again) = run(&["demo", "--no-serve", "--conversations", "60"]);
    assert!(ok && again.contains("(0 new messages)"), "{again}");
    drop(rt);
}

#[test]
fn demo_fills_the_database_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let (ok, out, _) = confab(&db, &["demo", "--no-serve", "--conversations", "90"]);
    assert!(ok, "{out}");
    assert!(out.contains("First start: created team `default`"), "{out}");
    assert!(out.contains("Demo data: 90 conversations"), "{out}");
    assert!(out.contains("Read key:   cfb_") && out.contains("curl"), "{out}");
    // A second run adds nothing: the same conversations and message ids.
    let (ok, again, _) = confab(&db, &["demo", "--no-serve", "--conversations", "90"]);
    assert!(ok);
    assert!(again.contains("(0 new messages)"), "{again}");
    assert!(!again.contains("First start"), "{again}");
}
