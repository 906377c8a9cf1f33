//! Copying an embedded SQLite store into an empty PostgreSQL database (`confab migrate`): every
//! table, row for row with its ids, in batches that each commit together with where the copy
//! stands, so an interrupted copy resumes where it stopped; then each table's rows are counted
//! and checksummed on both sides.
//!
//! The copy reads one snapshot of the SQLite file (a read transaction held for the whole run), so
//! writes made meanwhile are not copied; rows changed between an interruption and the resumed run
//! show up as a checksum mismatch. The server should be stopped while it runs.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::TryStreamExt;
use rusqlite::Connection;
use rusqlite::types::Value;
use sqlx::{PgPool, Row};

use crate::{PgStore, StoreError, StoreOptions, postgres, sqlite};

/// The table that records, in the target, where an unfinished copy stands; dropped once the copy
/// is verified.
const PROGRESS: &str = "confab_migration";

/// A table to copy: its name in both stores, the columns a batch is ordered and resumed by (unique
/// in the source), and what to read in SQLite — the table itself, or a query adding the `bot_pk`
/// that PostgreSQL keys every table of conversation data with.
struct Table {
    name: &'static str,
    key: &'static [&'static str],
    source: &'static str,
}

/// Every table of the PostgreSQL schema, parents before children.
const TABLES: &[Table] = &[
    Table { name: "teams", key: &["id"], source: "teams" },
    Table { name: "api_keys", key: &["id"], source: "api_keys" },
    Table { name: "bots", key: &["id"], source: "bots" },
    Table { name: "conversations", key: &["id"], source: "conversations" },
    Table { name: "messages", key: &["id"], source: "messages" },
    Table {
        name: "datapoints",
        key: &["conversation_pk", "key"],
        source: "(SELECT c.bot_pk AS bot_pk, d.* FROM datapoints d \
                 JOIN conversations c ON c.id = d.conversation_pk)",
    },
    Table { name: "rollup_dims", key: &["id"], source: "rollup_dims" },
    Table {
        name: "rollups",
        key: &["dims_id", "level", "slot"],
        source: "(SELECT d.bot_pk AS bot_pk, r.* FROM rollups r JOIN rollup_dims d ON d.id = r.dims_id)",
    },
    Table {
        name: "flow_edges",
        key: &["dims_id", "level", "slot", "from_id", "from_type", "to_id", "to_type"],
        source: "(SELECT d.bot_pk AS bot_pk, e.* FROM flow_edges e \
                 JOIN rollup_dims d ON d.id = e.dims_id)",
    },
    Table {
        name: "flow_exits",
        key: &["dims_id", "level", "slot", "step_id", "step_type"],
        source: "(SELECT d.bot_pk AS bot_pk, e.* FROM flow_exits e \
                 JOIN rollup_dims d ON d.id = e.dims_id)",
    },
    Table {
        name: "flow_steps",
        key: &["dims_id", "level", "slot", "step_id", "step_type"],
        source: "(SELECT d.bot_pk AS bot_pk, s.* FROM flow_steps s \
                 JOIN rollup_dims d ON d.id = s.dims_id)",
    },
    Table {
        name: "token_rollups",
        key: &["dims_id", "level", "slot", "model"],
        source: "(SELECT d.bot_pk AS bot_pk, t.* FROM token_rollups t \
                 JOIN rollup_dims d ON d.id = t.dims_id)",
    },
    Table { name: "dim_rollups", key: &["bot_pk", "dim", "day", "value"], source: "dim_rollups" },
    Table { name: "webhooks", key: &["id"], source: "webhooks" },
    Table { name: "webhook_deliveries", key: &["id"], source: "webhook_deliveries" },
];

/// What the copy reports as it goes; the callback's `Break` stops it after the batch that was just
/// committed (the next run resumes there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A table's copy starts: its rows in the source, of which `done` were copied before.
    Table { table: &'static str, rows: u64, done: u64 },
    /// A batch of `rows` was committed.
    Copied { table: &'static str, rows: u64 },
    /// The table's rows are being counted and checksummed on both sides.
    Verifying { table: &'static str, rows: u64 },
}

/// One table as verified: the same count and checksum on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub table: &'static str,
    pub rows: u64,
    /// The wrapping sum of every row's hash (independent of row order).
    pub checksum: u64,
}

#[derive(Debug, Clone)]
pub struct Report {
    /// Whether an interrupted copy was resumed.
    pub resumed: bool,
    pub tables: Vec<Verified>,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Nothing was copied: the source or target is not what a copy needs.
    #[error("{0}")]
    Refused(String),
    /// The callback asked to stop; every committed batch stays and the next run resumes.
    #[error("interrupted; run the same command again to resume")]
    Interrupted,
    /// The copy finished but a table differs between the two databases.
    #[error("verification failed: {}", .0.join("; "))]
    Mismatch(Vec<String>),
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> Self {
        CopyError::Store(e.into())
    }
}

impl From<rusqlite::Error> for CopyError {
    fn from(e: rusqlite::Error) -> Self {
        CopyError::Store(e.into())
    }
}

type Result<T, E = CopyError> = std::result::Result<T, E>;

/// A column as PostgreSQL types it; SQLite's values are converted to these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Bytes,
    /// The message's search words, computed from `content` (SQLite keeps them in FTS5).
    Search,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    /// PostgreSQL's type name, for the casts of the insert.
    pg_type: String,
    kind: Kind,
}

/// A value as both sides compare it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Val {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// Copies the SQLite store at `source` into the PostgreSQL database `target` (created empty, or
/// holding the progress of an interrupted copy from the same file), `batch` rows per transaction,
/// then verifies every table. `progress` sees each step and may stop the copy.
pub async fn sqlite_to_postgres(
    source: &Path,
    target: &str,
    batch: usize,
    mut progress: impl FnMut(Event) -> ControlFlow<()>,
) -> Result<Report> {
    let source_name = std::fs::canonicalize(source)
        .map_err(|e| CopyError::Refused(format!("--from {}: {e}", source.display())))?
        .display()
        .to_string();
    let path = source.to_owned();
    let sqlite = tokio::task::spawn_blocking(move || sqlite::open_snapshot(&path))
        .await
        .map_err(|e| StoreError::Database(e.to_string()))??;
    let sqlite = Arc::new(Mutex::new(sqlite));
    let options = StoreOptions {
        pool_size: 2,
        statement_timeout: Duration::ZERO,
        connect_timeout: Duration::from_secs(10),
        ssl_mode: None,
    };
    let pool = PgStore::open(target, &options).await?.into_pool();
    let columns = plan(&sqlite, &pool).await?;
    let resumed = start(&pool, &source_name).await?;
    let done = read_progress(&pool).await?;
    for table in TABLES {
        let (mut last, copied, finished) = done.get(table.name).cloned().unwrap_or_default();
        let rows = on_sqlite(&sqlite, move |c| count(c, table)).await?;
        if progress(Event::Table { table: table.name, rows, done: copied }).is_break() {
            return Err(CopyError::Interrupted);
        }
        if finished {
            continue;
        }
        let cols = columns[table.name].clone();
        loop {
            let (c, after) = (cols.clone(), last.clone());
            let rows = on_sqlite(&sqlite, move |s| read_batch(s, table, &c, after, batch)).await?;
            let Some(key) = rows.last().map(|r| key_of(table, &cols, r)) else {
                mark_done(&pool, table.name).await?;
                break;
            };
            // A short batch is the table's last: it is marked done with it.
            let finished = rows.len() < batch;
            write_batch(&pool, table, &cols, &rows, &key, finished).await?;
            last = Some(key);
            let event = Event::Copied { table: table.name, rows: rows.len() as u64 };
            if progress(event).is_break() {
                return Err(CopyError::Interrupted);
            }
            if finished {
                break;
            }
        }
    }
    restart_sequences(&pool).await?;
    let mut verified = vec![];
    let mut mismatches = vec![];
    for table in TABLES {
        let cols = columns[table.name].clone();
        let c = cols.clone();
        let (rows, checksum) = on_sqlite(&sqlite, move |s| checksum_source(s, table, &c)).await?;
        if progress(Event::Verifying { table: table.name, rows }).is_break() {
            return Err(CopyError::Interrupted);
        }
        let (pg_rows, pg_checksum) = checksum_target(&pool, table, &cols).await?;
        if (rows, checksum) == (pg_rows, pg_checksum) {
            verified.push(Verified { table: table.name, rows, checksum });
        } else {
            mismatches.push(format!(
                "{}: {rows} rows (checksum {checksum:016x}) in SQLite, {pg_rows} rows \
                 (checksum {pg_checksum:016x}) in PostgreSQL",
                table.name
            ));
        }
    }
    if !mismatches.is_empty() {
        return Err(CopyError::Mismatch(mismatches));
    }
    sqlx::query(&format!("DROP TABLE {PROGRESS}")).execute(&pool).await?;
    pool.close().await;
    Ok(Report { resumed, tables: verified })
}

async fn on_sqlite<T: Send + 'static>(
    conn: &Arc<Mutex<Connection>>,
    f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || f(&conn.lock().expect("the source connection")))
        .await
        .map_err(|e| StoreError::Database(format!("reading the source failed: {e}")))?
}

/// Each table's columns, from PostgreSQL's schema; refuses when the two schemas do not match
/// (a table of the target the copy does not know, a column one side lacks).
async fn plan(
    sqlite: &Arc<Mutex<Connection>>,
    pool: &PgPool,
) -> Result<HashMap<&'static str, Vec<Column>>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name NOT IN ('schema_migrations', $1)",
    )
    .bind(PROGRESS)
    .fetch_all(pool)
    .await?;
    if let Some(t) = tables.iter().find(|t| !TABLES.iter().any(|k| k.name == *t)) {
        return Err(CopyError::Refused(format!(
            "the PostgreSQL schema has a table `{t}` this version of the copy does not know"
        )));
    }
    let mut plan = HashMap::new();
    for table in TABLES {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table.name)
        .fetch_all(pool)
        .await?;
        let mut cols = vec![];
        for (name, pg_type) in rows {
            let kind = match pg_type.as_str() {
                "bigint" | "integer" | "smallint" => Kind::Int,
                "text" => Kind::Text,
                "bytea" => Kind::Bytes,
                "tsvector" if table.name == "messages" && name == "search" => Kind::Search,
                other => {
                    return Err(CopyError::Refused(format!(
                        "{}.{name}: the copy does not know PostgreSQL type `{other}`",
                        table.name
                    )));
                }
            };
            cols.push(Column { name, pg_type, kind });
        }
        let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
        let source: Vec<String> = on_sqlite(sqlite, move |c| {
            let stmt = c.prepare(&format!("SELECT * FROM {} LIMIT 0", table.source))?;
            Ok(stmt.column_names().map(str::to_owned).collect())
        })
        .await?;
        let copied: Vec<&Column> = cols.iter().filter(|c| c.kind != Kind::Search).collect();
        if let Some(c) = copied.iter().find(|c| !source.contains(&c.name)) {
            return Err(CopyError::Refused(format!(
                "{}.{}: the SQLite store has no such column",
                table.name, c.name
            )));
        }
        if let Some(c) = source.iter().find(|c| !names.contains(c)) {
            return Err(CopyError::Refused(format!(
                "{}.{c}: the PostgreSQL schema has no such column",
                table.name
            )));
        }
        plan.insert(table.name, cols);
    }
    Ok(plan)
}

/// Creates the progress table on a fresh target (after checking that it holds no data) and
/// returns false, or checks that the unfinished copy it records is from `source` and returns true.
async fn start(pool: &PgPool, source: &str) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(PROGRESS)
        .fetch_one(&mut *tx)
        .await?;
    if exists {
        let from: Option<String> =
            sqlx::query_scalar(&format!("SELECT source FROM {PROGRESS} LIMIT 1"))
                .fetch_optional(&mut *tx)
                .await?;
        return match from {
            Some(from) if from != source => Err(CopyError::Refused(format!(
                "the target holds an unfinished copy of {from}: resume with --from {from}, \
                 or start again on an empty database"
            ))),
            _ => Ok(true),
        };
    }
    for table in TABLES {
        let any: bool =
            sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {})", table.name))
                .fetch_one(&mut *tx)
                .await?;
        if any {
            return Err(CopyError::Refused(format!(
                "the target database already holds Confab data (table {} has rows): \
                 migrate into an empty database",
                table.name
            )));
        }
    }
    sqlx::query(&format!(
        "CREATE TABLE {PROGRESS} (tbl text PRIMARY KEY, source text NOT NULL, \
         last_key text, rows bigint NOT NULL DEFAULT 0, done boolean NOT NULL DEFAULT false)"
    ))
    .execute(&mut *tx)
    .await?;
    for table in TABLES {
        sqlx::query(&format!("INSERT INTO {PROGRESS} (tbl, source) VALUES ($1, $2)"))
            .bind(table.name)
            .bind(source)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(false)
}

/// Per table: the key of the last row copied, the rows copied and whether it is done.
async fn read_progress(pool: &PgPool) -> Result<HashMap<String, (Option<Vec<Val>>, u64, bool)>> {
    let rows: Vec<(String, Option<String>, i64, bool)> =
        sqlx::query_as(&format!("SELECT tbl, last_key, rows, done FROM {PROGRESS}"))
            .fetch_all(pool)
            .await?;
    rows.into_iter()
        .map(|(table, key, n, done)| {
            let key = key.map(|k| decode_key(&k)).transpose()?;
            Ok((table, (key, n as u64, done)))
        })
        .collect()
}

async fn mark_done(pool: &PgPool, table: &str) -> Result<()> {
    sqlx::query(&format!("UPDATE {PROGRESS} SET done = true WHERE tbl = $1"))
        .bind(table)
        .execute(pool)
        .await?;
    Ok(())
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The columns SQLite is read for, in order (the computed search words read `content`).
fn select_list(cols: &[Column]) -> String {
    let names: Vec<String> = cols
        .iter()
        .map(|c| match c.kind {
            Kind::Search => "NULL".to_owned(),
            _ => quoted(&c.name),
        })
        .collect();
    names.join(", ")
}

fn count(conn: &Connection, table: &Table) -> Result<u64> {
    let n: i64 =
        conn.query_row(&format!("SELECT count(*) FROM {}", table.source), [], |r| r.get(0))?;
    Ok(n as u64)
}

/// Up to `limit` rows after `after` in key order, converted to the target's kinds.
fn read_batch(
    conn: &Connection,
    table: &Table,
    cols: &[Column],
    after: Option<Vec<Val>>,
    limit: usize,
) -> Result<Vec<Vec<Val>>> {
    let key: Vec<String> = table.key.iter().map(|k| quoted(k)).collect();
    let key = key.join(", ");
    let filter = match &after {
        Some(_) => {
            let marks = vec!["?"; table.key.len()].join(", ");
            format!("WHERE ({key}) > ({marks})")
        }
        None => String::new(),
    };
    let sql = format!(
        "SELECT {} FROM {} {filter} ORDER BY {key} LIMIT {limit}",
        select_list(cols),
        table.source
    );
    let params: Vec<Value> = after.unwrap_or_default().into_iter().map(sqlite_value).collect();
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = vec![];
    while let Some(row) = rows.next()? {
        out.push(convert(table, cols, row)?);
    }
    Ok(out)
}

/// A source row as the target's columns: integers, text and bytes checked against the column's
/// kind, the search words computed from the content.
fn convert(table: &Table, cols: &[Column], row: &rusqlite::Row<'_>) -> Result<Vec<Val>> {
    let mut out = Vec::with_capacity(cols.len());
    for (i, col) in cols.iter().enumerate() {
        let v: Value = row.get(i)?;
        let val = match (col.kind, v) {
            (Kind::Search, _) => Val::Null,
            (_, Value::Null) => Val::Null,
            (Kind::Int, Value::Integer(n)) => Val::Int(n),
            (Kind::Text, Value::Text(s)) => Val::Text(s),
            (Kind::Bytes, Value::Blob(b)) => Val::Bytes(b),
            (_, other) => {
                return Err(CopyError::Refused(format!(
                    "{}.{}: a value of type {} where PostgreSQL keeps {}",
                    table.name,
                    col.name,
                    other.data_type(),
                    col.pg_type
                )));
            }
        };
        out.push(val);
    }
    if let Some(search) = cols.iter().position(|c| c.kind == Kind::Search) {
        let content = cols.iter().position(|c| c.name == "content");
        let text = match content.map(|i| &out[i]) {
            Some(Val::Text(s)) => postgres::tsvector(s),
            _ => String::new(),
        };
        out[search] = Val::Text(text);
    }
    Ok(out)
}

fn sqlite_value(v: Val) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Int(n) => Value::Integer(n),
        Val::Text(s) => Value::Text(s),
        Val::Bytes(b) => Value::Blob(b),
    }
}

fn key_of(table: &Table, cols: &[Column], row: &[Val]) -> Vec<Val> {
    table
        .key
        .iter()
        .map(|k| {
            let i = cols.iter().position(|c| c.name == *k).expect("key columns are columns");
            row[i].clone()
        })
        .collect()
}

fn encode_key(key: &[Val]) -> String {
    let values: Vec<serde_json::Value> = key
        .iter()
        .map(|v| match v {
            Val::Null => serde_json::Value::Null,
            Val::Int(n) => (*n).into(),
            Val::Text(s) => s.clone().into(),
            Val::Bytes(b) => b.iter().map(|x| u64::from(*x)).collect(),
        })
        .collect();
    serde_json::Value::Array(values).to_string()
}

fn decode_key(s: &str) -> Result<Vec<Val>> {
    let bad = || CopyError::Refused(format!("{PROGRESS}: an unreadable resume key {s}"));
    let values: Vec<serde_json::Value> = serde_json::from_str(s).map_err(|_| bad())?;
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::Null => Ok(Val::Null),
            serde_json::Value::Number(n) => n.as_i64().map(Val::Int).ok_or_else(bad),
            serde_json::Value::String(s) => Ok(Val::Text(s)),
            _ => Err(bad()),
        })
        .collect()
}

/// Inserts `rows` and records `key` as the last row copied (and whether the table is `finished`),
/// in one transaction.
async fn write_batch(
    pool: &PgPool,
    table: &Table,
    cols: &[Column],
    rows: &[Vec<Val>],
    key: &[Val],
    finished: bool,
) -> Result<()> {
    let names: Vec<String> = cols.iter().map(|c| quoted(&c.name)).collect();
    let mut arrays = vec![];
    let mut exprs = vec![];
    for (i, col) in cols.iter().enumerate() {
        let array = match col.kind {
            Kind::Int => "bigint[]",
            Kind::Text | Kind::Search => "text[]",
            Kind::Bytes => "bytea[]",
        };
        arrays.push(format!("${}::{array}", i + 1));
        exprs.push(format!("u.c{i}::{}", col.pg_type));
    }
    let aliases: Vec<String> = (0..cols.len()).map(|i| format!("c{i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) SELECT {} FROM UNNEST({}) AS u({})",
        table.name,
        names.join(", "),
        exprs.join(", "),
        arrays.join(", "),
        aliases.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for (i, col) in cols.iter().enumerate() {
        let values = rows.iter().map(|r| &r[i]);
        query = match col.kind {
            Kind::Int => query.bind(
                values
                    .map(|v| if let Val::Int(n) = v { Some(*n) } else { None })
                    .collect::<Vec<_>>(),
            ),
            Kind::Text | Kind::Search => query.bind(
                values
                    .map(|v| if let Val::Text(s) = v { Some(s.clone()) } else { None })
                    .collect::<Vec<_>>(),
            ),
            Kind::Bytes => query.bind(
                values
                    .map(|v| if let Val::Bytes(b) = v { Some(b.clone()) } else { None })
                    .collect::<Vec<_>>(),
            ),
        };
    }
    let mut tx = pool.begin().await?;
    query.execute(&mut *tx).await?;
    sqlx::query(&format!(
        "UPDATE {PROGRESS} SET last_key = $2, rows = rows + $3, done = $4 WHERE tbl = $1"
    ))
    .bind(table.name)
    .bind(encode_key(key))
    .bind(rows.len() as i64)
    .bind(finished)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Moves every id sequence past the copied ids, so that new rows get new ids.
async fn restart_sequences(pool: &PgPool) -> Result<()> {
    let serial: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND column_name = 'id' \
         AND column_default LIKE 'nextval(%'",
    )
    .fetch_all(pool)
    .await?;
    for table in serial {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
             coalesce((SELECT max(id) FROM {table}), 1), (SELECT count(*) > 0 FROM {table}))"
        ))
        .execute(pool)
        .await?;
    }
    Ok(())
}

fn row_hash(row: &[Val]) -> u64 {
    let mut h = DefaultHasher::new();
    row.hash(&mut h);
    h.finish()
}

/// The columns both sides are compared on: all but the computed search words.
fn compared(cols: &[Column]) -> Vec<Column> {
    cols.iter().filter(|c| c.kind != Kind::Search).cloned().collect()
}

fn checksum_source(conn: &Connection, table: &Table, cols: &[Column]) -> Result<(u64, u64)> {
    let cols = compared(cols);
    let sql = format!("SELECT {} FROM {}", select_list(&cols), table.source);
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let (mut n, mut sum) = (0u64, 0u64);
    while let Some(row) = rows.next()? {
        n += 1;
        sum = sum.wrapping_add(row_hash(&convert(table, &cols, row)?));
    }
    Ok((n, sum))
}

async fn checksum_target(pool: &PgPool, table: &Table, cols: &[Column]) -> Result<(u64, u64)> {
    let cols = compared(cols);
    let sql = format!("SELECT {} FROM {}", select_list(&cols), table.name);
    let mut rows = sqlx::query(&sql).fetch(pool);
    let (mut n, mut sum) = (0u64, 0u64);
    while let Some(row) = rows.try_next().await? {
        let mut vals = Vec::with_capacity(cols.len());
        for (i, col) in cols.iter().enumerate() {
            let v = match (col.kind, col.pg_type.as_str()) {
                (Kind::Int, "smallint") => {
                    row.try_get::<Option<i16>, _>(i)?.map(i64::from).map(Val::Int)
                }
                (Kind::Int, "integer") => {
                    row.try_get::<Option<i32>, _>(i)?.map(i64::from).map(Val::Int)
                }
                (Kind::Int, _) => row.try_get::<Option<i64>, _>(i)?.map(Val::Int),
                (Kind::Bytes, _) => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Val::Bytes),
                _ => row.try_get::<Option<String>, _>(i)?.map(Val::Text),
            };
            vals.push(v.unwrap_or(Val::Null));
        }
        n += 1;
        sum = sum.wrapping_add(row_hash(&vals));
    }
    Ok((n, sum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_keys_round_trip() {
        let key = vec![Val::Int(-3), Val::Text("a\"b".into()), Val::Null];
        assert_eq!(decode_key(&encode_key(&key)).unwrap(), key);
        assert!(decode_key("[1.5]").is_err());
    }

    #[test]
    fn every_table_is_keyed_by_its_own_columns() {
        for t in TABLES {
            assert!(!t.key.is_empty(), "{}", t.name);
        }
        let names: std::collections::HashSet<&str> = TABLES.iter().map(|t| t.name).collect();
        assert_eq!(names.len(), TABLES.len());
    }
}
