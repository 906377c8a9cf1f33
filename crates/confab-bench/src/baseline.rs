//! The ceiling for batch ingest: the same message rows inserted straight into SQLite with the
//! same table, indexes and full-text index as Confab's store, the same durability (WAL,
//! `synchronous=FULL`) and 1,000-row transactions — no HTTP, no summaries, no rollups. The rows
//! come from [`store_rows`], which the raw-PostgreSQL baseline (`baseline_pg`) reads too.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use confab_bench::generate::{self, Config};
use confab_core::NewMessage;
use rusqlite::{Connection, params};

const SCHEMA: &str = "
CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    bot_pk           INTEGER NOT NULL,
    conversation_pk  INTEGER NOT NULL,
    client_id        TEXT,
    role             INTEGER NOT NULL,
    content          TEXT NOT NULL,
    ts               INTEGER NOT NULL,
    step_id          TEXT,
    step_type        TEXT,
    metadata         TEXT
);
CREATE UNIQUE INDEX messages_client ON messages (conversation_pk, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX messages_conversation ON messages (conversation_pk, ts, id);
CREATE INDEX messages_time ON messages (bot_pk, ts);
CREATE VIRTUAL TABLE messages_fts USING fts5 (content, content = '', tokenize = 'unicode61 remove_diacritics 2');
";

/// Inserts `batches` (each `(bot, conversation number, message)` rows, one transaction per
/// batch) into a new database at `path`; returns the time the inserts took.
pub fn raw_sqlite(
    path: &Path,
    batches: impl Iterator<Item = Vec<(i64, i64, NewMessage)>>,
) -> Result<(u64, Duration)> {
    let _ = std::fs::remove_file(path);
    let mut c = Connection::open(path)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "FULL")?;
    c.execute_batch(SCHEMA)?;
    let mut rows = 0u64;
    let mut spent = Duration::ZERO;
    for batch in batches {
        let started = Instant::now();
        let tx = c.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO messages (bot_pk, conversation_pk, client_id, role, content, ts, \
                 step_id, step_type, metadata) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut index =
                tx.prepare_cached("INSERT INTO messages_fts (rowid, content) VALUES (?1, ?2)")?;
            for (bot, conversation, m) in &batch {
                insert.execute(params![
                    bot,
                    conversation,
                    m.client_id,
                    m.role.code(),
                    m.content,
                    m.timestamp,
                    m.step.as_ref().map(|s| &s.id),
                    m.step.as_ref().and_then(|s| s.kind.as_ref()),
                    m.metadata.as_ref().map(|m| serde_json::to_string(m).unwrap_or_default()),
                ])?;
                index.execute(params![
                    tx.last_insert_rowid(),
                    confab_core::search::fold_letters(&m.content)
                ])?;
            }
        }
        tx.commit()?;
        spent += started.elapsed();
        rows += batch.len() as u64;
    }
    Ok((rows, spent))
}

/// The data set's messages as store rows `(bot, conversation, message)`, numbered from 0, in
/// 1,000-row batches, for the raw baselines.
pub fn store_rows(cfg: &Config) -> impl Iterator<Item = Vec<(i64, i64, NewMessage)>> + '_ {
    let bots = generate::bot_ids(cfg);
    let mut batch = Vec::with_capacity(crate::BATCH);
    let mut convs = generate::conversations(cfg).enumerate();
    std::iter::from_fn(move || {
        loop {
            if batch.len() >= crate::BATCH {
                return Some(std::mem::replace(&mut batch, Vec::with_capacity(crate::BATCH)));
            }
            let Some((i, conv)) = convs.next() else {
                return (!batch.is_empty()).then(|| std::mem::take(&mut batch));
            };
            let bot = bots.iter().position(|b| *b == conv.bot_id).unwrap_or(0) as i64;
            for m in conv.messages {
                if let Ok(m) = m.validate(cfg.end) {
                    batch.push((bot, i as i64, m));
                }
            }
        }
    })
}
