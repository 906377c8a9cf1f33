//! Online backups of the embedded SQLite store and their restore (`confab backup`, `confab
//! restore`).
//!
//! A backup is SQLite's online backup API run in one step: it reads every page inside one read
//! transaction of the source, which under WAL never blocks the server's writer, so the copy is the
//! database as of the moment that transaction began, while the server keeps committing. The copy
//! is written under a temporary name beside the target, switched out of WAL (one self-contained
//! file), synced, and only then renamed into place.
//!
//! A restore copies the backup the same way into a temporary file beside the target, checks it
//! (`PRAGMA integrity_check`, a Confab schema this binary knows), and renames it into place; it
//! refuses to replace a database that any process (a running server) has open.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::{StoreError, sqlite};

/// Why a backup or restore did not happen; nothing was replaced.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The command was refused as given (a target that exists, a file that is not a Confab
    /// database, a database a server has open).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<rusqlite::Error> for BackupError {
    fn from(e: rusqlite::Error) -> Self {
        BackupError::Store(e.into())
    }
}

type Result<T, E = BackupError> = std::result::Result<T, E>;

/// What a backup or a restore wrote.
#[derive(Debug, Clone)]
pub struct Copied {
    /// The file written.
    pub path: PathBuf,
    pub bytes: u64,
    pub conversations: i64,
    pub messages: i64,
    /// The schema version of the copy (the number of its last migration).
    pub schema_version: i64,
    pub elapsed: Duration,
}

/// Copies the SQLite database at `source` (a server may be writing to it) to the new file `to`;
/// an existing `to` is refused unless `replace`. Blocking: run it on a blocking thread.
pub fn backup(source: &Path, to: &Path, replace: bool) -> Result<Copied> {
    let started = Instant::now();
    if !source.is_file() {
        return Err(invalid(format!("{} is not a file", source.display())));
    }
    if to.exists() && !replace {
        return Err(invalid(format!("{} exists; pass --force to replace it", to.display())));
    }
    if to.exists() && source.canonicalize()? == to.canonicalize()? {
        return Err(invalid(format!("{} is the database itself", to.display())));
    }
    let src = open_existing(source)?;
    schema_version(&src, source)?;
    let temp = temporary(to, "backup")?;
    let result = copy_into(&src, &temp).and_then(|dest| {
        let copied = describe(&dest, &temp, started)?;
        drop(dest);
        finish(&temp, to)?;
        Ok(Copied { path: to.to_owned(), ..copied })
    });
    if result.is_err() {
        remove_quietly(&temp);
    }
    result
}

/// Restores the backup `from` as the database `to`, after checking it. An existing `to` is
/// refused unless `replace`, and always while any process has it open.
pub fn restore(from: &Path, to: &Path, replace: bool) -> Result<Copied> {
    let started = Instant::now();
    if !from.is_file() {
        return Err(invalid(format!("{} is not a file", from.display())));
    }
    let exists = to.exists();
    if exists && !replace {
        return Err(invalid(format!(
            "{} exists; pass --force to replace it (with its server stopped)",
            to.display()
        )));
    }
    if !exists && side_file(to, "-wal").exists() {
        return Err(invalid(format!(
            "{} has no database but its write-ahead log {} is there; move it away first",
            to.display(),
            side_file(to, "-wal").display()
        )));
    }
    let src = open_existing(from)?;
    let temp = temporary(to, "restore")?;
    let result = copy_into(&src, &temp).and_then(|dest| {
        drop(src);
        check_integrity(&dest, from)?;
        let copied = describe(&dest, &temp, started)?;
        drop(dest);
        // Held until the rename: no server can open the old file meanwhile.
        let _lock = match exists {
            true => Some(lock_unused(to)?),
            false => None,
        };
        finish(&temp, to)?;
        Ok(Copied { path: to.to_owned(), ..copied })
    });
    if result.is_err() {
        remove_quietly(&temp);
    }
    result
}

/// `PRAGMA integrity_check` on the database at `path`: `ok`, or what it found (first lines).
pub fn integrity_check(path: &Path) -> Result<String> {
    let conn = open_existing(path)?;
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines: Vec<String> =
        stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(lines.join("\n"))
}

fn invalid(message: String) -> BackupError {
    BackupError::Refused(message)
}

/// Opens an existing database (never creates one), for reading only.
fn open_existing(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// The last migration applied to the database behind `conn`, refused when it is not a Confab
/// database or is newer than this binary.
fn schema_version(conn: &Connection, path: &Path) -> Result<i64> {
    let known: bool = conn
        .query_row(
            "SELECT count(*) = 2 FROM sqlite_master WHERE type = 'table' \
             AND name IN ('schema_migrations', 'conversations')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| invalid(format!("{}: not a SQLite database ({e})", path.display())))?;
    if !known {
        return Err(invalid(format!("{} is not a Confab database", path.display())));
    }
    let version: i64 =
        conn.query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| {
            r.get(0)
        })?;
    if version > sqlite::SCHEMA_VERSION {
        return Err(invalid(format!(
            "{} has schema version {version}; this confab knows up to {} — use a newer confab",
            path.display(),
            sqlite::SCHEMA_VERSION
        )));
    }
    Ok(version)
}

/// A name beside `to` for the copy in progress, with no leftovers of an earlier attempt.
fn temporary(to: &Path, what: &str) -> Result<PathBuf> {
    let name =
        to.file_name().ok_or_else(|| invalid(format!("{}: not a file name", to.display())))?;
    let temp = to.with_file_name(format!(".{}.{what}-in-progress", name.to_string_lossy()));
    remove_quietly(&temp);
    Ok(temp)
}

fn side_file(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_quietly(db: &Path) {
    for path in
        [db.to_owned(), side_file(db, "-journal"), side_file(db, "-wal"), side_file(db, "-shm")]
    {
        let _ = std::fs::remove_file(path);
    }
}

/// Every page of `src`, read in one transaction, into a new database at `temp`, left in rollback
/// journal mode (one file, no WAL beside it).
fn copy_into(src: &Connection, temp: &Path) -> Result<Connection> {
    let mut dest = Connection::open(temp)?;
    {
        let backup = Backup::new(src, &mut dest)?;
        // One step: the whole copy inside one read transaction of the source (a consistent
        // snapshot). Taking pages a few at a time would let the server's commits between steps
        // restart the copy from the first page, over and over under a steady stream of writes.
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    let mode: String = dest.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(StoreError::Database(format!("the copy stayed in journal mode {mode}")).into());
    }
    Ok(dest)
}

fn check_integrity(conn: &Connection, from: &Path) -> Result<()> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines: Vec<String> =
        stmt.query_map([], |r| r.get::<_, String>(0))?.take(10).collect::<rusqlite::Result<_>>()?;
    match lines.as_slice() {
        [ok] if ok == "ok" => Ok(()),
        _ => Err(invalid(format!(
            "{} fails PRAGMA integrity_check:\n{}",
            from.display(),
            lines.join("\n")
        ))),
    }
}

fn describe(conn: &Connection, path: &Path, started: Instant) -> Result<Copied> {
    let schema_version = schema_version(conn, path)?;
    let count = |table: &str| -> Result<i64> {
        Ok(conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    };
    Ok(Copied {
        path: path.to_owned(),
        bytes: std::fs::metadata(path)?.len(),
        conversations: count("conversations")?,
        messages: count("messages")?,
        schema_version,
        elapsed: started.elapsed(),
    })
}

/// Syncs the finished copy, renames it over `to`, and syncs the directory (so the rename itself
/// survives a crash).
fn finish(temp: &Path, to: &Path) -> Result<()> {
    std::fs::File::open(temp).and_then(|f| f.sync_all())?;
    std::fs::rename(temp, to)?;
    let dir = match to.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok(std::fs::File::open(dir).and_then(|d| d.sync_all())?)
}

/// The existing database `to`, locked exclusively and out of WAL (its log folded in and removed,
/// so that it cannot be applied to the file that replaces it); refused when another process — a
/// server — has it open. The lock lasts while the connection is held.
fn lock_unused(to: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(to, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| invalid(format!("{}: {e}", to.display())))?;
    conn.busy_timeout(Duration::ZERO)?;
    let locked = conn
        .pragma_update(None, "locking_mode", "EXCLUSIVE")
        .and_then(|()| conn.execute_batch("BEGIN EXCLUSIVE; COMMIT"))
        .and_then(|()| {
            conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get::<_, String>(0))
        });
    match locked {
        Ok(_) => Ok(conn),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            Err(invalid(format!(
                "{} is open in another process (a running server?); stop it before restoring",
                to.display()
            )))
        }
        Err(e) => Err(invalid(format!("{}: {e}", to.display()))),
    }
}
