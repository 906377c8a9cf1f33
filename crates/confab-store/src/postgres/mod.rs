//! The PostgreSQL backend, for several servers on one database: every operation is one
//! transaction (retried when it loses to a concurrent one), background work is claimed with
//! `FOR UPDATE SKIP LOCKED` and leases, and a database that goes away turns into
//! [`StoreError::Unavailable`] within a deadline, never a hang. Its migrations run at start-up
//! under an advisory lock, so servers starting together apply each once.

mod analytics;
mod datapoints;
mod read;
mod rollup;
mod rows;
mod webhooks;
mod write;

pub(crate) use rows::tsvector;

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

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
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};

use crate::{
    ApiKeyInfo, Bot, BotSelector, DatapointFill, Delivery, DeliveryResult, DueDelivery,
    IdleConversation, NewKey, OffsetFilter, PoolStats, Result, Store, StoreError, StoreOptions,
    StoreStats, Team, Webhook,
};

/// Applied in order at start-up; an applied migration is never edited.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_datapoint_evidence.sql")),
    (3, include_str!("migrations/0003_token_rollups.sql")),
    (4, include_str!("migrations/0004_dim_rollups.sql")),
    (5, include_str!("migrations/0005_retention.sql")),
    (6, include_str!("migrations/0006_goals.sql")),
    (7, include_str!("migrations/0007_unhandled_index.sql")),
    (8, include_str!("migrations/0008_flow_steps.sql")),
];

/// The advisory lock migrations run under (any constant; "confab" in ASCII).
const MIGRATION_LOCK: i64 = 0x636f_6e66_6162;

/// Times a transaction that lost to a concurrent one (deadlock, serialization) is tried again.
const RETRIES: u32 = 8;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // serialization_failure, deadlock_detected
                Some("40001" | "40P01") => StoreError::Contention(db.message().to_owned()),
                // disk_full
                Some("53100") => StoreError::DiskFull(db.message().to_owned()),
                // connection exceptions, insufficient resources (too many connections, out of
                // memory), operator intervention (shutdown, restart, statement timeout), a
                // read-only server (a standby during failover)
                Some(code)
                    if code.starts_with("08")
                        || code.starts_with("53")
                        || code.starts_with("57")
                        || code == "25006" =>
                {
                    StoreError::Unavailable(db.message().to_owned())
                }
                _ => StoreError::Database(e.to_string()),
            },
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Database(e.to_string()),
        }
    }
}

pub struct PgStore {
    pool: PgPool,
    /// The longest any operation may take before it is answered as unavailable: the statement
    /// timeout plus the wait for a connection.
    deadline: Duration,
    /// When an operation last failed on a full disk (`53100`), epoch ms; 0 for never.
    disk_full_at: AtomicI64,
}

/// How long `ping` reports a full disk after a write found it full. PostgreSQL gives no cheap
/// way to ask whether a write would fit now, so the state ends by itself: if the disk is still
/// full, the next write sets it again.
const DISK_FULL_REPORTED: i64 = 10_000;

/// Runs `$body` — an expression on the transaction's connection `$c` that evaluates to a future
/// of `Result<T>` — in a transaction, committed when it is `Ok`, tried again (a few times, with
/// a growing pause) when it loses to a concurrent transaction, within the store's deadline.
macro_rules! in_tx {
    ($store:expr, |$c:ident| $body:expr) => {
        $store
            .within_deadline(async {
                let mut attempt = 0;
                loop {
                    let result = async {
                        let mut tx = $store.pool.begin().await?;
                        let value = {
                            let $c: &mut PgConnection = &mut tx;
                            $body.await?
                        };
                        tx.commit().await?;
                        Ok::<_, StoreError>(value)
                    }
                    .await;
                    match result {
                        Err(StoreError::Contention(why)) if attempt < RETRIES => {
                            attempt += 1;
                            tracing::debug!(%why, attempt, "transaction lost to a concurrent one; retrying");
                            tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
                        }
                        other => break other,
                    }
                }
            })
            .await
    };
}

/// Runs `$body` on a pooled connection `$c`, outside a transaction (a single read), within the
/// store's deadline.
macro_rules! on_conn {
    ($store:expr, |$c:ident| $body:expr) => {
        $store
            .within_deadline(async {
                let mut conn = $store.pool.acquire().await?;
                let $c: &mut PgConnection = &mut conn;
                $body.await
            })
            .await
    };
}

impl PgStore {
    /// Connects to the database `url` names (`postgres://user:password@host/db?sslmode=…`),
    /// runs its migrations and returns the store.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<PgStore> {
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid database URL: {e}")))?
            .application_name("confab")
            .options([(
                "statement_timeout",
                options.statement_timeout.as_millis().to_string().as_str(),
            )])
            .disable_statement_logging();
        if let Some(mode) = &options.ssl_mode {
            let mode = PgSslMode::from_str(mode)
                .map_err(|e| StoreError::Unavailable(format!("invalid sslmode: {e}")))?;
            connect = connect.ssl_mode(mode);
        }
        // One connection first, so that a wrong address or credentials fail with their own
        // error rather than the pool's timeout.
        let first = tokio::time::timeout(options.connect_timeout, connect.connect())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "no answer from the database within {} s",
                    options.connect_timeout.as_secs_f64()
                ))
            })??;
        first.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size)
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect)
            .await?;
        migrate(&pool).await?;
        Ok(PgStore {
            pool,
            deadline: options.statement_timeout + options.connect_timeout,
            disk_full_at: AtomicI64::new(0),
        })
    }

    /// The store's connection pool, for work outside the store's operations (the copy from
    /// SQLite).
    pub(crate) fn into_pool(self) -> PgPool {
        self.pool
    }

    async fn within_deadline<T>(&self, f: impl Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.deadline, f).await {
            Ok(Err(StoreError::DiskFull(why))) => {
                tracing::warn!(%why, "the database server's disk is full");
                self.disk_full_at.store(now_millis(), Ordering::Relaxed);
                Err(StoreError::DiskFull(why))
            }
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer from the database within {} ms",
                self.deadline.as_millis()
            ))),
        }
    }
}

async fn migrate(pool: &PgPool) -> Result<()> {
    let mut c = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *c).await?;
    let result = apply_migrations(&mut c).await;
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *c).await?;
    result
}

async fn apply_migrations(c: &mut PgConnection) -> Result<()> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('schema_migrations') IS NOT NULL")
        .fetch_one(&mut *c)
        .await?;
    if !exists {
        // A bare string runs with the simple query protocol, which takes several statements.
        c.execute(
            "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, applied_at bigint NOT NULL)",
        )
        .await?;
    }
    for &(version, sql) in MIGRATIONS {
        let applied: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)",
        )
        .bind(version)
        .fetch_one(&mut *c)
        .await?;
        if applied {
            continue;
        }
        let mut tx = c.begin().await?;
        tx.execute(sql).await?;
        match version {
            3 => rollup::backfill_tokens(&mut tx).await?,
            8 => rollup::backfill_visits(&mut tx).await?,
            _ => {}
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    async fn ingest(
        &self,
        team_id: i64,
        bot_id: &str,
        create_bot: bool,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<IngestOutcome>> {
        in_tx!(self, |c| write::ingest(c, team_id, bot_id, create_bot, &messages))
    }

    async fn list_conversations(
        &self,
        team_id: i64,
        bot_id: &str,
        filter: &ConversationFilter,
        page: &PageRequest,
    ) -> Result<Page<Conversation>> {
        on_conn!(self, |c| read::list_conversations(c, team_id, bot_id, filter, page))
    }

    async fn datapoint_fill(
        &self,
        team_id: i64,
        bot_id: &str,
        filter: &ConversationFilter,
    ) -> Result<DatapointFill> {
        on_conn!(self, |c| read::datapoint_fill(c, team_id, bot_id, filter))
    }

    async fn get_conversation(
        &self,
        team_id: i64,
        bot_id: &str,
        conversation_id: &str,
    ) -> Result<(Conversation, Vec<Message>)> {
        in_tx!(self, |c| read::get_conversation(c, team_id, bot_id, conversation_id))
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
        in_tx!(self, |c| read::list_conversations_offset(
            c,
            team_id,
            bots,
            filter,
            offset,
            limit,
            count_total
        ))
    }

    async fn transcripts(
        &self,
        team_id: i64,
        conversation_pks: &[i64],
    ) -> Result<Vec<(i64, Vec<Message>)>> {
        in_tx!(self, |c| read::transcripts(c, team_id, conversation_pks))
    }

    async fn delete_conversation(
        &self,
        team_id: i64,
        bot_id: &str,
        conversation_id: &str,
    ) -> Result<()> {
        in_tx!(self, |c| write::delete_conversation(c, team_id, bot_id, conversation_id))
    }

    async fn delete_user(&self, team_id: i64, bot_id: &str, user_id: &str) -> Result<u64> {
        in_tx!(self, |c| write::delete_user(c, team_id, bot_id, user_id))
    }

    async fn expire_conversations(&self, now: Millis, limit: u32) -> Result<u64> {
        in_tx!(self, |c| write::expire_conversations(c, now, limit))
    }

    async fn list_bots(&self, team_id: i64) -> Result<Vec<Bot>> {
        on_conn!(self, |c| read::list_bots(c, team_id))
    }

    async fn bot_ids(&self, team_id: i64) -> Result<Vec<String>> {
        on_conn!(self, |c| read::bot_ids(c, team_id))
    }

    async fn series_counters(
        &self,
        team_id: i64,
        bots: &BotSelector,
        req: &SeriesRequest,
    ) -> Result<Cells<Counters>> {
        in_tx!(self, |c| analytics::series_counters(c, team_id, bots, req))
    }

    async fn series_tokens(
        &self,
        team_id: i64,
        bots: &BotSelector,
        req: &SeriesRequest,
    ) -> Result<Cells<Tokens>> {
        in_tx!(self, |c| analytics::series_tokens(c, team_id, bots, req))
    }

    async fn series_conversations(
        &self,
        team_id: i64,
        bots: &BotSelector,
        req: &SeriesRequest,
    ) -> Result<Cells<ConversationCell>> {
        in_tx!(self, |c| analytics::series_conversations(c, team_id, bots, req))
    }

    async fn flow_totals(
        &self,
        team_id: i64,
        bot_id: &str,
        req: &FlowRequest,
    ) -> Result<FlowTotals> {
        in_tx!(self, |c| analytics::flow_totals(c, team_id, bot_id, req))
    }

    async fn unhandled_messages(
        &self,
        team_id: i64,
        bot_id: &str,
        range: (Millis, Millis),
        limit: u32,
    ) -> Result<Vec<UnhandledMessage>> {
        in_tx!(self, |c| analytics::unhandled_messages(c, team_id, bot_id, range, limit))
    }

    async fn put_datapoint_schema(
        &self,
        team_id: i64,
        bot_id: &str,
        create_bot: bool,
        schema: &SchemaInput,
    ) -> Result<()> {
        let json = serde_json::to_string(schema).unwrap_or_default();
        in_tx!(self, |c| write::put_datapoint_schema(c, team_id, bot_id, create_bot, &json))
    }

    async fn datapoint_schema(&self, team_id: i64, bot_id: &str) -> Result<Option<SchemaInput>> {
        on_conn!(self, |c| read::datapoint_schema(c, team_id, bot_id))
    }

    async fn bot_settings(&self, team_id: i64, bot_id: &str) -> Result<BotSettings> {
        on_conn!(self, |c| datapoints::bot_settings(c, team_id, bot_id))
    }

    async fn put_bot_settings(
        &self,
        team_id: i64,
        bot_id: &str,
        create_bot: bool,
        settings: &BotSettings,
    ) -> Result<()> {
        in_tx!(self, |c| datapoints::put_bot_settings(c, team_id, bot_id, create_bot, settings))
    }

    async fn conversation_datapoints(
        &self,
        team_id: i64,
        bot_id: &str,
        conversation_id: &str,
    ) -> Result<(Status, Vec<Datapoint>)> {
        in_tx!(self, |c| datapoints::conversation_datapoints(c, team_id, bot_id, conversation_id))
    }

    async fn put_explicit_datapoints(
        &self,
        team_id: i64,
        bot_id: &str,
        conversation_id: &str,
        values: Vec<(String, Option<serde_json::Value>)>,
    ) -> Result<(Status, Vec<Datapoint>)> {
        let now = now_millis();
        in_tx!(self, |c| datapoints::put_explicit(
            c,
            team_id,
            bot_id,
            conversation_id,
            &values,
            now
        ))
    }

    async fn datapoints_of(
        &self,
        team_id: i64,
        conversation_pks: &[i64],
    ) -> Result<Vec<(i64, Vec<Datapoint>)>> {
        in_tx!(self, |c| datapoints::datapoints_of(c, team_id, conversation_pks))
    }

    async fn idle_conversations(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<IdleConversation>> {
        in_tx!(self, |c| datapoints::idle_conversations(c, now, lease_until, limit))
    }

    async fn finalise(
        &self,
        pk: i64,
        last_message_at: Millis,
        message_count: i64,
        values: Vec<NewDatapoint>,
        now: Millis,
    ) -> Result<bool> {
        in_tx!(self, |c| datapoints::finalise(
            c,
            pk,
            (last_message_at, message_count),
            values.clone(),
            now
        ))
    }

    async fn create_webhook(
        &self,
        team_id: i64,
        bot_id: &str,
        create_bot: bool,
        webhook: &NewWebhook,
    ) -> Result<Webhook> {
        let now = now_millis();
        in_tx!(self, |c| webhooks::create_webhook(c, team_id, bot_id, create_bot, webhook, now))
    }

    async fn list_webhooks(&self, team_id: i64, bot_id: &str) -> Result<Vec<Webhook>> {
        on_conn!(self, |c| webhooks::list_webhooks(c, team_id, bot_id))
    }

    async fn get_webhook(&self, team_id: i64, bot_id: &str, webhook_id: i64) -> Result<Webhook> {
        on_conn!(self, |c| webhooks::get_webhook(c, team_id, bot_id, webhook_id))
    }

    async fn delete_webhook(&self, team_id: i64, bot_id: &str, webhook_id: i64) -> Result<()> {
        in_tx!(self, |c| webhooks::delete_webhook(c, team_id, bot_id, webhook_id))
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
        in_tx!(self, |c| webhooks::list_deliveries(
            c, team_id, bot_id, webhook_id, state, before, limit
        ))
    }

    async fn retry_delivery(
        &self,
        team_id: i64,
        bot_id: &str,
        webhook_id: i64,
        delivery_id: i64,
        now: Millis,
    ) -> Result<Delivery> {
        in_tx!(self, |c| webhooks::retry_delivery(c, team_id, bot_id, webhook_id, delivery_id, now))
    }

    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        in_tx!(self, |c| webhooks::claim_deliveries(c, now, lease_until, limit))
    }

    async fn record_delivery(
        &self,
        delivery_id: i64,
        result: DeliveryResult,
        retry_at: Option<Millis>,
        now: Millis,
    ) -> Result<()> {
        in_tx!(self, |c| webhooks::record_delivery(c, delivery_id, &result, retry_at, now))
    }

    async fn create_team(&self, name: &str) -> Result<Team> {
        in_tx!(self, |c| write::create_team(c, name))
    }

    async fn list_teams(&self) -> Result<Vec<Team>> {
        on_conn!(self, |c| read::list_teams(c))
    }

    async fn create_first_team(&self) -> Result<Option<Team>> {
        in_tx!(self, |c| write::create_first_team(c))
    }

    async fn create_key(&self, key: NewKey) -> Result<ApiKeyInfo> {
        in_tx!(self, |c| write::create_key(c, &key))
    }

    async fn list_keys(&self, team_id: Option<i64>) -> Result<Vec<ApiKeyInfo>> {
        on_conn!(self, |c| read::list_keys(c, team_id))
    }

    async fn revoke_key(&self, team_id: Option<i64>, key_id: i64) -> Result<()> {
        in_tx!(self, |c| write::revoke_key(c, team_id, key_id))
    }

    async fn caller_for_key(&self, hash: [u8; 32]) -> Result<Option<Caller>> {
        on_conn!(self, |c| read::caller_for_key(c, &hash))
    }

    async fn stats(&self, now: Millis) -> Result<StoreStats> {
        let stats = on_conn!(self, |c| datapoints::stats(c, now))?;
        let pool = PoolStats {
            open: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            max: self.pool.options().get_max_connections(),
        };
        Ok(StoreStats { pool: Some(pool), ..stats })
    }

    async fn ping(&self) -> Result<()> {
        if now_millis() - self.disk_full_at.load(Ordering::Relaxed) < DISK_FULL_REPORTED {
            return Err(StoreError::DiskFull("a write found the disk full".into()));
        }
        on_conn!(self, |c| async {
            sqlx::query("SELECT 1").execute(&mut *c).await?;
            Ok(())
        })
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// `url` with its database name replaced by `name` (query parameters kept): the tests' and the
/// benchmark's databases beside the one a URL names.
pub fn with_database(url: &str, name: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let host_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
    format!("{}/{name}{query}", &base[..host_end])
}
