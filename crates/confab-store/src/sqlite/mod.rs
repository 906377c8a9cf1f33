//! The embedded SQLite backend: WAL with `synchronous=FULL` (a committed write survives power
//! loss), one group-committing writer thread, a small pool of read-only connections, FTS5 for
//! search.

mod analytics;
mod datapoints;
mod read;
mod rollup;
mod rows;
mod webhooks;
mod write;
mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use confab_core::NewMessage;
use confab_core::auth::Caller;
use confab_core::bot::BotSettings;
use confab_core::cluster::UnhandledMessage;
use confab_core::conversation::Status;
use confab_core::conversation::{Conversation, IngestOutcome, Message};
use confab_core::datapoints::{Datapoint, NewDatapoint, SchemaInput};
use confab_core::flow::{FlowRequest, FlowTotals};
use confab_core::query::{ConversationFilter, Page, PageRequest};
use confab_core::rollup::{Counters, Tokens};
use confab_core::series::{Cells, ConversationCell, SeriesRequest};
use confab_core::time::{Millis, now_millis};
use confab_core::webhook::{DeliveryState, NewWebhook};
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::{
    ApiKeyInfo, Bot, BotSelector, DatapointFill, Delivery, DeliveryResult, DueDelivery,
    IdleConversation, NewKey, OffsetFilter, Result, Store, StoreError, StoreStats, Team, Webhook,
};
use writer::{ReadGate, WalLimits, Writer};

const READERS: usize = 4;
/// The writer's page cache (negative: KiB); the readers keep 8 MB each, others 16 MB.
const WRITER_CACHE_KIB: i64 = -48_000;
/// Prepared statements kept per connection: more than the writer's ingest and finalise paths use.
const STATEMENT_CACHE: usize = 128;

/// Applied in order at start-up; an applied migration is never edited.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_rollups.sql")),
    (3, include_str!("migrations/0003_datapoint_schema.sql")),
    (4, include_str!("migrations/0004_datapoints.sql")),
    (5, include_str!("migrations/0005_finalise_lease.sql")),
    (6, include_str!("migrations/0006_search_by_conversation.sql")),
    (7, include_str!("migrations/0007_list_indexes.sql")),
    (8, include_str!("migrations/0008_datapoint_evidence.sql")),
    (9, include_str!("migrations/0009_token_rollups.sql")),
    (10, include_str!("migrations/0010_dim_rollups.sql")),
    (11, include_str!("migrations/0011_retention.sql")),
    (12, include_str!("migrations/0012_goals.sql")),
    (13, include_str!("migrations/0013_unhandled_index.sql")),
    (14, include_str!("migrations/0014_flow_steps.sql")),
];

/// The schema this binary writes: the version of its last migration.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            // SQLITE_FULL: a write to the database, its WAL or a temporary file found no space.
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull(e.to_string()),
            _ => StoreError::Database(e.to_string()),
        }
    }
}

pub struct SqliteStore {
    writer: Writer,
    readers: Arc<Readers>,
}

struct Readers {
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    /// Held shared by each read while it runs (see [`ReadGate`]).
    gate: ReadGate,
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(writer::BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Plans must not depend on bound values: otherwise SQLite re-prepares a statement each time
    // it is rebound (as every cached statement is) — measured at 15% of the writer's time.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let applied: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if !applied {
            tx.execute_batch(sql)?;
            let backfill = match version {
                2 => rollup::backfill(&tx),
                6 => write::reindex_search(&tx),
                9 => rollup::backfill_tokens(&tx),
                14 => rollup::backfill_visits(&tx),
                _ => Ok(()),
            };
            backfill.map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.to_string().into()))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                [*version, confab_core::time::now_millis()],
            )?;
            tracing::info!(version, "applied SQLite migration");
        }
        tx.commit()?;
    }
    Ok(())
}

/// The existing store at `path`, brought to the current schema, inside a read transaction that
/// has taken its snapshot: what `confab migrate` copies.
pub(crate) fn open_snapshot(path: &Path) -> Result<Connection> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
    conn.busy_timeout(writer::BUSY_TIMEOUT)?;
    migrate(&mut conn)?;
    conn.execute_batch("BEGIN")?;
    conn.query_row("SELECT count(*) FROM teams", [], |r| r.get::<_, i64>(0))?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and runs its migrations.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref().to_owned();
        tokio::task::spawn_blocking(move || {
            let mut conn = connect(&path)?;
            // Erasure must leave no copy of the text behind. Zeroing only during a delete is not
            // enough: pages freed earlier (an FTS5 segment merged away, a b-tree rebalanced, a
            // summary row rewritten) kept stale copies of text that is erased later, and SQLite
            // reuses a freed page without clearing its unused space. So every page and cell the
            // writer frees is zeroed as it is freed.
            conn.pragma_update(None, "secure_delete", true)?;
            // Every write touches index pages all over a large database (conversations by user,
            // by last activity, rollups); a bigger cache keeps them from being read back.
            conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
            migrate(&mut conn)?;
            conn.execute_batch(write::PENDING_SEARCH_TABLE)?;
            let mut idle = Vec::with_capacity(READERS);
            for _ in 0..READERS {
                let r = connect(&path)?;
                r.pragma_update(None, "query_only", true)?;
                r.pragma_update(None, "cache_size", -8_000)?;
                idle.push(r);
            }
            let gate = ReadGate::default();
            Ok(SqliteStore {
                writer: Writer::start(
                    conn,
                    connect(&path)?,
                    write::before_commit,
                    WalLimits::default(),
                    Arc::clone(&gate),
                )?,
                readers: Arc::new(Readers {
                    idle: Mutex::new(idle),
                    permits: Semaphore::new(READERS),
                    gate,
                }),
            })
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    /// Runs `f` on a pooled read-only connection, off the async threads.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let _permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("closed".into()))?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers
                .idle
                .lock()
                .expect("reader pool")
                .pop()
                .expect("a permit implies a connection");
            let result = {
                let _reading = readers.gate.read();
                f(&conn)
            };
            readers.idle.lock().expect("reader pool").push(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Database(format!("reader task failed: {e}")))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ingest(
        &self,
        team_id: i64,
        bot_id: &str,
        create_bot: bool,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<IngestOutcome>> {
        let bot_id = bot_id.to_owned();
        self.writer.write(move |c| write::ingest(c, team_id, &bot_id, create_bot, &messages)).await
    }

    async fn list_conversations(
        &self,
        team_id: i64,
        bot_id: &str,
        filter: &ConversationFilter,
        page: &PageRequest,
    ) -> Result<Page<Conversation>> {
        let (bot_id, filter, page) = (bot_id.to_owned(), filter.clone(), page.clone());
        self.read(move |c| read::list_conversations(c, team_id, &bot_id, &filter, &page)).await
    }

    async fn datapoint_fill(
        &self,
        team_id: i64,
        bot_id: &str,
        filter: &ConversationFilter,
    ) -> Result<DatapointFill> {
        let (bot_id, filter) = (bot_id.to_owned(), filter.clone());
        self.read(move |c| read::datapoint_fill(c, team_id, &bot_id, &filter)).await
    }

    async fn get_conversation(
        &self,
        team_id: i64,
        bot_id: &str,
        conversation_id: &str,
    ) -> Result<(Conversation, Vec<Message>)> {
        let (bot_id, id) = (bot_id.to_owned(), conversation_id.to_owned());
        self.read(move |c| read::get_conversation(c, team_id, &bot_id, &id)).await
    }

    async fn list_conversations_offset(
        &self,
        team_id: i64,
        bots: &BotSelector,
        filter: &OffsetFilter,
        offset: u64,
        limit: u32,
        count_total: bool,
    ) -> Result<(Vec<Conversation>, Option<u64>)> {
        let (bots, filter) = (bots.clone(), filter.clone());
        self.read(move |c| {
            read::list_conversations_offset(c, team_id, &bots, &filter, offset, limit, count_total)
        })
        .await
    }

    async fn transcripts(
        &self,
        team_id: i64,
        conversation_pks: &[i64],
    ) -> Result<Vec<(i64, Vec<Message>)>> {
        let pks = conversation_pks.to_vec();
        self.read(move |c| read::transcripts(c, team_id, &pks)).await
    }

    async fn delete_conversation(
        &self,
        team_id: i64,
        bot_id: &str,
        conversation_id: &str,
    ) -> Result<()> {
        let (bot_id, id) = (bot_id.to_owned(), conversation_id.to_owned());
        self.writer.erase(move |c| write::delete_conversation(c, team_id, &bot_id, &id)).await
    }

    async fn delete_user(&self, team_id: i64, bot_id: &str, user_id: &str) -> Result<u64> {
        let (bot_id, user_id) = (bot_id.to_owned(), user_id.to_owned());
        self.writer.erase(move |c| write::delete_user(c, team_id, &bot_id, &user_id)).await
    }

    async fn expire_conversations(&self, now: Millis, limit: u32) -> Result<u64> {
        self.writer.erase(move |c| write::expire_conversations(c, now, limit)).await
    }

    async fn list_bots(&self, team_id: i64) -> Result<Vec<Bot>> {
        self.read(move |c| read::list_bots(c, team_id)).await
    }

    async fn bot_ids(&self, team_id: i64) -> Result<Vec<String>> {
        self.read(move |c| read::bot_ids(c, team_id)).await
    }

    async fn series_counters(
        &self,
        team_id: i64,
        bots: &BotSelector,
        req: &SeriesRequest,
    ) -> Result<Cells<Counters>> {
        let (bots, req) = (bots.clone(), req.clone());
        self.read(move |c| analytics::series_counters(c, team_id, &bots, &req)).await
    }

    async fn series_tokens(
        &self,
        team_id: i64,
        bots: &BotSelector,
        req: &SeriesRequest,
    ) -> Result<Cells<Tokens>> {
        let (bots, req) = (bots.clone(), req.clone());
        self.read(move |c| analytics::series_tokens(c, team_id, &bots, &req)).await
    }

    async fn series_conversations(
        &self,
        team_id: i64,
        bots: &BotSelector,
        req: &SeriesRequest,
    ) -> Result<Cells<ConversationCell>> {
        let (bots, req) = (bots.clone(), req.clone());
        self.read(move |c| analytics::series_conversations(c, team_id, &bots, &req)).await
    }

    async fn flow_totals(
        &self,
        team_id: i64,
        bot_id: &str,
        req: &FlowRequest,
    ) -> Result<FlowTotals> {
        let (bot_id, req) = (bot_id.to_owned(), req.clone());
        self.read(move |c| analytics::flow_totals(c, team_id, &bot_id, &req)).await
    }

    async fn unhandled_messages(
        &self,
        team_id: i64,
        bot_id: &str,
        range: (Millis, Millis),
        limit: u32,
    ) -> Result<Vec<UnhandledMessage>> {
        let bot_id = bot_id.to_owned();
        self.read(move |c| analytics::unhandled_messages(c, team_id, &bot_id, range, limit)).await
    }

    async fn put_datapoint_schema(
        &self,
        team_id: i64,
        bot_id: &str,
        create_bot: bool,
        schema: &SchemaInput,
    ) -> Result<()> {
        let (bot_id, json) = (bot_id.to_owned(), serde_json::to_string(schema).unwrap_or_default());
        self.writer
            .write(move |c| write::put_datapoint_schema(c, team_id, &bot_id, create_bot, &json))
            .await
    }

    async fn datapoint_schema(&self, team_id: i64, bot_id: &str) -> Result<Option<SchemaInput>> {
        let bot_id = bot_id.to_owned();
        self.read(move |c| read::datapoint_schema(c, team_id, &bot_id)).await
    }

    async fn bot_settings(&self, team_id: i64, bot_id: &str) -> Result<BotSettings> {
        let bot_id = bot_id.to_owned();
        self.read(move |c| datapoints::bot_settings(c, team_id, &bot_id)).await
    }

    async fn put_bot_settings(
        &self,
        team_id: i64,
        bot_id: &str,
        create_bot: bool,
        settings: &BotSettings,
    ) -> Result<()> {
        let (bot_id, settings) = (bot_id.to_owned(), settings.clone());
        self.writer
            .write(move |c| {
                datapoints::put_bot_settings(c, team_id, &bot_id, create_bot, &settings)
            })
            .await
    }

    async fn conversation_datapoints(
        &self,
        team_id: i64,
        bot_id: &str,
        conversation_id: &str,
    ) -> Result<(Status, Vec<Datapoint>)> {
        let (bot_id, id) = (bot_id.to_owned(), conversation_id.to_owned());
        self.read(move |c| datapoints::conversation_datapoints(c, team_id, &bot_id, &id)).await
    }

    async fn put_explicit_datapoints(
        &self,
        team_id: i64,
        bot_id: &str,
        conversation_id: &str,
        values: Vec<(String, Option<serde_json::Value>)>,
    ) -> Result<(Status, Vec<Datapoint>)> {
        let (bot_id, id) = (bot_id.to_owned(), conversation_id.to_owned());
        let now = now_millis();
        self.writer
            .write(move |c| datapoints::put_explicit(c, team_id, &bot_id, &id, &values, now))
            .await
    }

    async fn datapoints_of(
        &self,
        team_id: i64,
        conversation_pks: &[i64],
    ) -> Result<Vec<(i64, Vec<Datapoint>)>> {
        let pks = conversation_pks.to_vec();
        self.read(move |c| datapoints::datapoints_of(c, team_id, &pks)).await
    }

    async fn idle_conversations(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<IdleConversation>> {
        // The writer only leases; the transcripts are read on a reader, off the writer's thread.
        // A message stored in between changes what finalising compares, so it is then a no-op.
        let mut idle = self
            .writer
            .write(move |c| datapoints::lease_idle_conversations(c, now, lease_until, limit))
            .await?;
        if idle.is_empty() {
            return Ok(idle);
        }
        let pks: Vec<i64> = idle.iter().map(|i| i.pk).collect();
        let transcripts = self
            .read(move |c| {
                pks.iter().map(|&pk| read::messages_of(c, pk)).collect::<Result<Vec<_>>>()
            })
            .await?;
        for (conversation, messages) in idle.iter_mut().zip(transcripts) {
            conversation.messages = messages;
        }
        Ok(idle)
    }

    /// The writer takes every waiting write into one commit; there is no pool to drain.
    fn writes_at_once(&self) -> usize {
        writer::MAX_JOBS_PER_COMMIT
    }

    async fn finalise(
        &self,
        pk: i64,
        last_message_at: Millis,
        message_count: i64,
        values: Vec<NewDatapoint>,
        now: Millis,
    ) -> Result<bool> {
        self.writer
            .write(move |c| {
                datapoints::finalise(c, pk, (last_message_at, message_count), values, now)
            })
            .await
    }

    async fn create_webhook(
        &self,
        team_id: i64,
        bot_id: &str,
        create_bot: bool,
        webhook: &NewWebhook,
    ) -> Result<Webhook> {
        let (bot_id, w) = (bot_id.to_owned(), webhook.clone());
        let now = now_millis();
        self.writer
            .write(move |c| webhooks::create_webhook(c, team_id, &bot_id, create_bot, &w, now))
            .await
    }

    async fn list_webhooks(&self, team_id: i64, bot_id: &str) -> Result<Vec<Webhook>> {
        let bot_id = bot_id.to_owned();
        self.read(move |c| webhooks::list_webhooks(c, team_id, &bot_id)).await
    }

    async fn get_webhook(&self, team_id: i64, bot_id: &str, webhook_id: i64) -> Result<Webhook> {
        let bot_id = bot_id.to_owned();
        self.read(move |c| webhooks::get_webhook(c, team_id, &bot_id, webhook_id)).await
    }

    async fn delete_webhook(&self, team_id: i64, bot_id: &str, webhook_id: i64) -> Result<()> {
        let bot_id = bot_id.to_owned();
        self.writer.write(move |c| webhooks::delete_webhook(c, team_id, &bot_id, webhook_id)).await
    }

    async fn list_deliveries(
        &self,
        team_id: i64,
        bot_id: &str,
        webhook_id: i64,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        let bot_id = bot_id.to_owned();
        self.read(move |c| {
            webhooks::list_deliveries(c, team_id, &bot_id, webhook_id, state, before, limit)
        })
        .await
    }

    async fn retry_delivery(
        &self,
        team_id: i64,
        bot_id: &str,
        webhook_id: i64,
        delivery_id: i64,
        now: Millis,
    ) -> Result<Delivery> {
        let bot_id = bot_id.to_owned();
        self.writer
            .write(move |c| {
                webhooks::retry_delivery(c, team_id, &bot_id, webhook_id, delivery_id, now)
            })
            .await
    }

    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        self.writer.write(move |c| webhooks::claim_deliveries(c, now, lease_until, limit)).await
    }

    async fn record_delivery(
        &self,
        delivery_id: i64,
        result: DeliveryResult,
        retry_at: Option<Millis>,
        now: Millis,
    ) -> Result<()> {
        self.writer
            .write(move |c| webhooks::record_delivery(c, delivery_id, &result, retry_at, now))
            .await
    }

    async fn create_team(&self, name: &str) -> Result<Team> {
        let name = name.to_owned();
        self.writer.write(move |c| write::create_team(c, &name)).await
    }

    async fn list_teams(&self) -> Result<Vec<Team>> {
        self.read(read::list_teams).await
    }

    async fn create_first_team(&self) -> Result<Option<Team>> {
        self.writer.write(write::create_first_team).await
    }

    async fn create_key(&self, key: NewKey) -> Result<ApiKeyInfo> {
        self.writer.write(move |c| write::create_key(c, &key)).await
    }

    async fn list_keys(&self, team_id: Option<i64>) -> Result<Vec<ApiKeyInfo>> {
        self.read(move |c| read::list_keys(c, team_id)).await
    }

    async fn revoke_key(&self, team_id: Option<i64>, key_id: i64) -> Result<()> {
        self.writer.write(move |c| write::revoke_key(c, team_id, key_id)).await
    }

    async fn caller_for_key(&self, hash: [u8; 32]) -> Result<Option<Caller>> {
        self.read(move |c| read::caller_for_key(c, &hash)).await
    }

    async fn stats(&self, now: Millis) -> Result<StoreStats> {
        let writer_queue = Some(self.writer.queued());
        let stats = self.read(move |c| datapoints::stats(c, now)).await?;
        Ok(StoreStats { writer_queue, ..stats })
    }

    async fn ping(&self) -> Result<()> {
        if self.writer.disk_full() {
            return Err(StoreError::DiskFull("the last write found no space".into()));
        }
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?)).await
    }

    async fn close(&self) {
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    /// A cached statement is unbound when it goes back to the cache; unless plans ignore bound
    /// values, SQLite then prepares it again on its next run inside a write transaction.
    #[test]
    fn cached_statements_are_not_prepared_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = connect(&dir.path().join("t.db")).unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        for pk in 1..=5 {
            read::messages_of(&conn, pk).unwrap();
        }
        let sql = format!(
            "SELECT {MESSAGE_SELECT} FROM messages m WHERE m.conversation_pk = ?1 ORDER BY m.ts, m.id",
            MESSAGE_SELECT = rows::MESSAGE_SELECT
        );
        let stmt = conn.prepare_cached(&sql).unwrap();
        assert_eq!(stmt.get_status(StatementStatus::Run), 5, "the cached statement ran");
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }
}
