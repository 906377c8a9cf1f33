//! The ceiling for batch ingest on PostgreSQL: the same message rows as the raw SQLite baseline
//! (`baseline::store_rows`) copied straight into a table with the columns and indexes of Confab's
//! PostgreSQL `messages` table — the search `tsvector` as the store builds it, and its GIN index
//! — in 1,000-row transactions from scenario 1's 8 concurrent clients, `synchronous_commit` on.
//! No HTTP, no conversation rows, no rollups; and so no foreign key to `conversations` either
//! (the raw SQLite baseline has none).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use confab_core::NewMessage;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};
use tokio::io::BufReader;
use tokio::sync::Mutex;

use crate::scenarios::{batch_header, next_batch};
use crate::stats::Measured;

/// Confab's `messages` table (crates/confab-store/src/postgres/migrations/0001_init.sql) without
/// its foreign key.
const SCHEMA: &str = "
CREATE TABLE messages (
    bot_pk           bigint NOT NULL,
    id               bigserial NOT NULL,
    conversation_pk  bigint NOT NULL,
    client_id        text,
    role             bigint NOT NULL,
    content          text NOT NULL,
    ts               bigint NOT NULL,
    step_id          text,
    step_type        text,
    metadata         text,
    search           tsvector NOT NULL,
    PRIMARY KEY (bot_pk, id)
);
CREATE UNIQUE INDEX messages_client ON messages (bot_pk, conversation_pk, client_id)
    WHERE client_id IS NOT NULL;
CREATE INDEX messages_conversation ON messages (bot_pk, conversation_pk, ts, id);
CREATE INDEX messages_time ON messages (bot_pk, ts);
CREATE INDEX messages_search ON messages USING gin (search);
";

const COPY: &str = "COPY messages (bot_pk, conversation_pk, client_id, role, content, ts, \
                    step_id, step_type, metadata, search) FROM STDIN";

/// Appends one row of `COPY … FROM STDIN` text: the message of conversation `conversation`
/// (numbered from 0) of bot `bot` (numbered from 0); row ids are 1 + these, as a store's are.
pub fn copy_row(out: &mut String, bot: i64, conversation: i64, m: &NewMessage) {
    let metadata = m.metadata.as_ref().map(|m| serde_json::to_string(m).unwrap_or_default());
    let search = confab_store::postgres_search_vector(&m.content);
    let fields: [Option<&str>; 10] = [
        Some(&(bot + 1).to_string()),
        Some(&(conversation + 1).to_string()),
        m.client_id.as_deref(),
        Some(&m.role.code().to_string()),
        Some(&m.content),
        Some(&m.timestamp.to_string()),
        m.step.as_ref().map(|s| s.id.as_str()),
        m.step.as_ref().and_then(|s| s.kind.as_deref()),
        metadata.as_deref(),
        Some(&search),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        match field {
            None => out.push_str("\\N"),
            Some(text) => push_escaped(out, text),
        }
    }
    out.push('\n');
}

/// `text` as a field of COPY's text format: backslash, tab, newline and carriage return escaped.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Writes `batches` of store rows to `file` as COPY bodies, one per batch, in the format of
/// scenario 1's file (so that building the rows is not timed); returns the rows written.
pub fn write_copy_batches(
    batches: impl Iterator<Item = Vec<(i64, i64, NewMessage)>>,
    file: &Path,
) -> Result<u64> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
    let mut rows = 0;
    let mut body = String::new();
    for batch in batches {
        body.clear();
        for (bot, conversation, m) in &batch {
            copy_row(&mut body, *bot, *conversation, m);
        }
        out.write_all(batch_header("raw", batch.len(), body.as_bytes()).as_bytes())?;
        out.write_all(body.as_bytes())?;
        rows += batch.len() as u64;
    }
    out.flush()?;
    Ok(rows)
}

/// A connection to `url` with the durability Confab's store has (`synchronous_commit` on).
async fn connect(url: &str) -> Result<PgConnection> {
    let options = PgConnectOptions::from_str(url)?.options([("synchronous_commit", "on")]);
    Ok(options.connect().await?)
}

/// Creates the table in the (empty) database at `url`, then copies the bodies of `file` into it
/// from `clients` connections at once, each COPY its own transaction; measures every COPY.
pub async fn raw_postgres(url: &str, file: &Path, clients: usize) -> Result<Measured> {
    let mut setup = connect(url).await.context("connecting to the raw baseline's database")?;
    sqlx::raw_sql(SCHEMA).execute(&mut setup).await?;
    let reader =
        Arc::new(Mutex::new(BufReader::with_capacity(1 << 20, tokio::fs::File::open(file).await?)));
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(connect(url).await?);
    }
    let started = Instant::now();
    let mut tasks = vec![];
    for mut c in connections {
        let reader = reader.clone();
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut rows) = (Vec::<Duration>::new(), 0u64);
            loop {
                let next = next_batch(&mut *reader.lock().await).await?;
                let Some((_, n, body)) = next else { break };
                let t = Instant::now();
                let mut copy = c.copy_in_raw(COPY).await?;
                copy.send(body).await?;
                copy.finish().await?;
                latencies.push(t.elapsed());
                rows += n;
            }
            Ok::<_, anyhow::Error>((latencies, rows))
        }));
    }
    let (mut latencies, mut rows) = (vec![], 0);
    for t in tasks {
        let (l, n) = t.await??;
        latencies.extend(l);
        rows += n;
    }
    let elapsed = started.elapsed();
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(&mut setup).await?;
    anyhow::ensure!(stored as u64 == rows, "the raw baseline stored {stored} of {rows} rows");
    Ok(Measured::of(latencies, rows, elapsed, "messages/s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_escape_text_and_mark_nulls() {
        let m: confab_core::MessageInput = serde_json::from_value(serde_json::json!({
            "conversation_id": "c1",
            "role": "user",
            "content": "Zażółć\tgęślą\\jaźń\nok",
            "timestamp": 1_700_000_000_000i64,
        }))
        .unwrap();
        let m = m.validate(1_800_000_000_000).unwrap();
        let mut out = String::new();
        copy_row(&mut out, 2, 41, &m);
        let fields: Vec<&str> = out.strip_suffix('\n').unwrap().split('\t').collect();
        assert_eq!(fields.len(), 10);
        assert_eq!(&fields[..2], ["3", "42"]);
        assert_eq!(fields[2], "\\N", "no client id");
        assert_eq!(fields[3], m.role.code().to_string());
        assert_eq!(fields[4], "Zażółć\\tgęślą\\\\jaźń\\nok");
        assert_eq!(fields[5], "1700000000000");
        assert_eq!(&fields[6..9], ["\\N", "\\N", "\\N"]);
        assert_eq!(fields[9], confab_store::postgres_search_vector(&m.content));
    }
}
