//! Confab's storage: one [`Store`] trait shaped by what the server does with conversations, and
//! its backends. SQL lives only here. The backend is picked once, from the database URL.

pub mod backup;
mod columns;
pub mod copy;
mod extraction;
pub mod postgres;
mod rollups;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use confab_core::NewMessage;
use confab_core::auth::{Caller, Scopes};
use confab_core::bot::BotSettings;
use confab_core::cluster::UnhandledMessage;
use confab_core::conversation::Status;
use confab_core::conversation::{Conversation, IngestOutcome, Message};
use confab_core::datapoints::{Datapoint, NewDatapoint, SchemaInput};
use confab_core::flow::{FlowRequest, FlowTotals};
use confab_core::query::{ConversationFilter, Page, PageRequest};
use confab_core::rollup::{Counters, Tokens};
use confab_core::series::{Cells, ConversationCell, SeriesRequest};
use confab_core::time::Millis;
use confab_core::webhook::{DeliveryState, Events, NewWebhook};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist in the caller's team.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the thing's state (retrying a delivered delivery).
    #[error("{0}")]
    Conflict(&'static str),
    /// The store is shutting down or its writer has stopped; nothing was written.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The transaction lost to concurrent ones (a deadlock or serialization failure) and kept
    /// losing when retried; nothing was written, and trying again later can succeed.
    #[error("contention: {0}")]
    Contention(String),
    /// The disk (or the database server's) is full: the write was rolled back whole and nothing
    /// of it was kept; it can succeed once space is freed. Until a write commits again the store
    /// says so to `ping`.
    #[error("the disk is full: {0}")]
    DiskFull(String),
    #[error("database error: {0}")]
    Database(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bot {
    pub bot_id: String,
    pub created_at: Millis,
    pub conversations: i64,
}

/// A key as listed: never its text, which is shown once at creation and not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub hint: String,
    pub scopes: Scopes,
    pub bots: Option<Vec<String>>,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

#[derive(Debug, Clone)]
pub struct NewKey {
    pub team_id: i64,
    pub name: String,
    pub hash: [u8; 32],
    pub hint: String,
    pub scopes: Scopes,
    pub bots: Option<Vec<String>>,
}

/// Which bots a page-numbered listing covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotSelector {
    /// One bot; an unknown bot is `NotFound`.
    One(String),
    /// Every bot of the team, or only these.
    Team(Option<Vec<String>>),
}

/// Which channel types a page-numbered listing keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelMatch {
    pub any_of: Vec<String>,
    /// Also keep conversations with no channel type or one not in this list.
    pub or_none_of: Option<Vec<String>>,
}

/// The filters vendor APIs with page numbers use: a `[from, to)` range on `started_at` and
/// channel types; newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetFilter {
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    pub channels: Option<ChannelMatch>,
}

/// How full a bot's datapoints are over a filtered set of its conversations (a dashboard's fill
/// rates: `keys[i].1` of `conversations` have a value for `keys[i].0`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatapointFill {
    /// How many conversations the filter selects.
    pub conversations: i64,
    /// Per key, how many of them have a value for it (of any method, provisional or final),
    /// sorted by key. A key none of them has a value for is absent, whether or not the schema
    /// defines it: the schema says which keys to show at zero.
    pub keys: Vec<(String, i64)>,
}

/// A conversation idle past its bot's timeout, with what finalising it needs.
#[derive(Debug, Clone)]
pub struct IdleConversation {
    pub pk: i64,
    pub team_id: i64,
    pub bot_id: String,
    /// Finalising succeeds only if these are still the last message's time and the number of
    /// messages: no message came in meanwhile, however it was timestamped.
    pub last_message_at: Millis,
    pub message_count: i64,
    pub schema: Option<SchemaInput>,
    pub settings: BotSettings,
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub bot_id: String,
    pub url: String,
    pub events: Events,
    pub secret: String,
    pub created_at: Millis,
}

/// One event's delivery to one subscriber, as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: String,
    pub event: String,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When it is tried next (pending only).
    pub next_attempt_at: Option<Millis>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub delivered_at: Option<Millis>,
}

/// A delivery claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub event_id: String,
    pub event: String,
    pub payload: String,
    /// Tries before this one.
    pub attempts: u32,
}

/// How sending a delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    Delivered { status: u16 },
    Failed { status: Option<u16>, error: String },
}

/// The store's state as an operator watches it (`/metrics`): work waiting and space used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// Active conversations past their bot's inactivity timeout, waiting for the finaliser.
    pub finaliser_backlog: u64,
    /// Webhook deliveries waiting to be sent or retried.
    pub webhook_outbox: u64,
    /// The database's size on disk: SQLite's main file, PostgreSQL's `pg_database_size`.
    pub database_bytes: u64,
    /// SQLite's write-ahead log on disk (none on PostgreSQL).
    pub wal_bytes: Option<u64>,
    /// Writes queued for SQLite's one writer, not yet taken into a transaction.
    pub writer_queue: Option<u64>,
    /// PostgreSQL's connection pool.
    pub pool: Option<PoolStats>,
}

/// A connection pool's use.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolStats {
    /// Connections open, in use or idle.
    pub open: u32,
    pub idle: u32,
    /// The most it opens.
    pub max: u32,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores messages for `bot_id` in `team_id` durably: when this returns `Ok`, the messages
    /// survive a crash. One outcome per message, in order. An unknown bot is created when
    /// `create_bot` is set, otherwise it is `NotFound`.
    async fn ingest(
        &self,
        team_id: i64,
        bot_id: &str,
        create_bot: bool,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<IngestOutcome>>;

    async fn list_conversations(
        &self,
        team_id: i64,
        bot_id: &str,
        filter: &ConversationFilter,
        page: &PageRequest,
    ) -> Result<Page<Conversation>>;

    /// How many conversations of the bot match `filter`, and per datapoint key how many of
    /// them have a value for it (a dashboard's fill rates). Every filter applies as in
    /// [`Store::list_conversations`], search and step filters included, over all the matching
    /// conversations: there is no page (the cursor is the [`PageRequest`]'s, not the
    /// filter's) and the sort changes nothing. An unknown bot is `NotFound`.
    async fn datapoint_fill(
        &self,
        team_id: i64,
        bot_id: &str,
        filter: &ConversationFilter,
    ) -> Result<DatapointFill>;

    /// A conversation and its whole transcript, in time order.
    async fn get_conversation(
        &self,
        team_id: i64,
        bot_id: &str,
        conversation_id: &str,
    ) -> Result<(Conversation, Vec<Message>)>;

    /// Page-numbered listing for vendor APIs; returns the page and, when `count_total` is set,
    /// how many conversations match in all (a second query, so only when it is shown).
    async fn list_conversations_offset(
        &self,
        team_id: i64,
        bots: &BotSelector,
        filter: &OffsetFilter,
        offset: u64,
        limit: u32,
        count_total: bool,
    ) -> Result<(Vec<Conversation>, Option<u64>)>;

    /// The transcripts of several conversations of `team_id` (by numeric id), each in time
    /// order; ids of other teams' conversations are left out.
    async fn transcripts(
        &self,
        team_id: i64,
        conversation_pks: &[i64],
    ) -> Result<Vec<(i64, Vec<Message>)>>;

    /// Removes a conversation, its messages and their search index entries.
    async fn delete_conversation(
        &self,
        team_id: i64,
        bot_id: &str,
        conversation_id: &str,
    ) -> Result<()>;

    /// Removes every conversation of an end user; returns how many there were.
    async fn delete_user(&self, team_id: i64, bot_id: &str, user_id: &str) -> Result<u64>;

    /// Deletes, exactly as [`Store::delete_conversation`] does (messages, search entries,
    /// datapoints, queued events; rollup counts stay), up to `limit` conversations whose bot
    /// has a retention (`retention_days`) and whose last message is older than that at `now`.
    /// Returns how many this call deleted: however many servers call it at once, each
    /// conversation is deleted, and counted, by one call.
    async fn expire_conversations(&self, now: Millis, limit: u32) -> Result<u64>;

    async fn list_bots(&self, team_id: i64) -> Result<Vec<Bot>>;

    /// The team's bot ids, sorted: [`Store::list_bots`] without counting conversations, for
    /// the dashboard's every page.
    async fn bot_ids(&self, team_id: i64) -> Result<Vec<String>>;

    /// A counter series (conversations, messages, durations, hand-offs, not handled) of the
    /// selected bots, summed from rollups. Erased conversations still count.
    async fn series_counters(
        &self,
        team_id: i64,
        bots: &BotSelector,
        req: &SeriesRequest,
    ) -> Result<Cells<Counters>>;

    /// LLM token usage (`input_tokens`, `output_tokens` in message metadata) of the selected
    /// bots per bucket, summed from token rollups; the groups may include the model. Erased
    /// conversations still count.
    async fn series_tokens(
        &self,
        team_id: i64,
        bots: &BotSelector,
        req: &SeriesRequest,
    ) -> Result<Cells<Tokens>>;

    /// Distinct users and extreme durations per bucket, from the stored conversations started
    /// in the range (erased ones are gone).
    async fn series_conversations(
        &self,
        team_id: i64,
        bots: &BotSelector,
        req: &SeriesRequest,
    ) -> Result<Cells<ConversationCell>>;

    /// Flow edges and last steps of a bot's conversations started in the range, the last steps
    /// of conversations still active taken out (what remains are drop-offs).
    async fn flow_totals(
        &self,
        team_id: i64,
        bot_id: &str,
        req: &FlowRequest,
    ) -> Result<FlowTotals>;

    /// The bot's not-handled user messages in `[start, end)`, newest first, at most `limit`:
    /// those marked `handled: false`, and the user message a bot message marked so answered
    /// (the last user message before it), each once.
    async fn unhandled_messages(
        &self,
        team_id: i64,
        bot_id: &str,
        range: (Millis, Millis),
        limit: u32,
    ) -> Result<Vec<UnhandledMessage>>;

    /// Replaces a bot's datapoint schema (already validated); an unknown bot is created when
    /// `create_bot` is set, otherwise it is `NotFound`.
    async fn put_datapoint_schema(
        &self,
        team_id: i64,
        bot_id: &str,
        create_bot: bool,
        schema: &SchemaInput,
    ) -> Result<()>;

    /// A bot's datapoint schema as last put; `None` if it has none.
    async fn datapoint_schema(&self, team_id: i64, bot_id: &str) -> Result<Option<SchemaInput>>;

    /// A bot's settings (defaults until put).
    async fn bot_settings(&self, team_id: i64, bot_id: &str) -> Result<BotSettings>;

    /// Replaces a bot's settings (already validated).
    async fn put_bot_settings(
        &self,
        team_id: i64,
        bot_id: &str,
        create_bot: bool,
        settings: &BotSettings,
    ) -> Result<()>;

    /// A conversation's datapoints and status (`ended` = final values).
    async fn conversation_datapoints(
        &self,
        team_id: i64,
        bot_id: &str,
        conversation_id: &str,
    ) -> Result<(Status, Vec<Datapoint>)>;

    /// Sets explicit values (checked against the schema by the caller); `None` removes a key's
    /// explicit value, letting extraction fill it again at finalisation.
    async fn put_explicit_datapoints(
        &self,
        team_id: i64,
        bot_id: &str,
        conversation_id: &str,
        values: Vec<(String, Option<serde_json::Value>)>,
    ) -> Result<(Status, Vec<Datapoint>)>;

    /// The datapoints of several conversations of `team_id` (by numeric id).
    async fn datapoints_of(
        &self,
        team_id: i64,
        conversation_pks: &[i64],
    ) -> Result<Vec<(i64, Vec<Datapoint>)>>;

    /// Takes up to `limit` active conversations whose bot's inactivity timeout has passed at
    /// `now`, oldest first, and leases them until `lease_until`: another finaliser (on this or
    /// another server) skips them meanwhile, so the extraction and the LLM pass run once. A
    /// message stored meanwhile ends the lease. The lease only saves work; [`Store::finalise`]'s
    /// compare-and-set is what makes finalisation happen once.
    async fn idle_conversations(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<IdleConversation>>;

    /// Ends an idle conversation with its final extracted values (explicit values stay), and
    /// queues its `conversation.ended` (and `datapoints.updated`, when values changed) events —
    /// only if it is still active with the same last message time and message count as when it
    /// was read idle; returns whether it did. This compare-and-set is what makes finalisation
    /// happen once, however many finalisers race, and never over a message it did not read.
    async fn finalise(
        &self,
        pk: i64,
        last_message_at: Millis,
        message_count: i64,
        values: Vec<NewDatapoint>,
        now: Millis,
    ) -> Result<bool>;

    /// How many writes a background job (the finaliser) should have in flight at once: enough
    /// to share commits, few enough not to take every pooled connection from the requests.
    fn writes_at_once(&self) -> usize {
        8
    }

    async fn create_webhook(
        &self,
        team_id: i64,
        bot_id: &str,
        create_bot: bool,
        webhook: &NewWebhook,
    ) -> Result<Webhook>;
    async fn list_webhooks(&self, team_id: i64, bot_id: &str) -> Result<Vec<Webhook>>;
    async fn get_webhook(&self, team_id: i64, bot_id: &str, webhook_id: i64) -> Result<Webhook>;
    /// Removes a subscription and its deliveries.
    async fn delete_webhook(&self, team_id: i64, bot_id: &str, webhook_id: i64) -> Result<()>;
    /// A subscription's deliveries, newest first, optionally in one state; `before` pages on.
    async fn list_deliveries(
        &self,
        team_id: i64,
        bot_id: &str,
        webhook_id: i64,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>>;
    /// Puts a dead delivery back in line to be sent at `now`, attempts reset (`Conflict` for
    /// one that is pending or delivered).
    async fn retry_delivery(
        &self,
        team_id: i64,
        bot_id: &str,
        webhook_id: i64,
        delivery_id: i64,
        now: Millis,
    ) -> Result<Delivery>;
    /// Takes up to `limit` pending deliveries due at `now` and leases them until `lease_until`
    /// (another sender skips them meanwhile; a crashed sender's lease runs out and they are
    /// taken again).
    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<DueDelivery>>;
    /// Records a try: delivered, or failed and due again at `retry_at` (dead when `None`). Only
    /// a pending delivery changes, so a late result never overwrites a settled one.
    async fn record_delivery(
        &self,
        delivery_id: i64,
        result: DeliveryResult,
        retry_at: Option<Millis>,
        now: Millis,
    ) -> Result<()>;

    async fn create_team(&self, name: &str) -> Result<Team>;
    async fn list_teams(&self) -> Result<Vec<Team>>;
    /// Creates the team `default` if there is no team at all; returns it when it did.
    async fn create_first_team(&self) -> Result<Option<Team>>;

    async fn create_key(&self, key: NewKey) -> Result<ApiKeyInfo>;
    /// Keys of one team, or of all teams.
    async fn list_keys(&self, team_id: Option<i64>) -> Result<Vec<ApiKeyInfo>>;
    /// Revokes a key (of `team_id` when given); `NotFound` if there is no such live key.
    async fn revoke_key(&self, team_id: Option<i64>, key_id: i64) -> Result<()>;
    /// The caller a live key's hash identifies.
    async fn caller_for_key(&self, hash: [u8; 32]) -> Result<Option<Caller>>;

    /// What an operator watches, read at each scrape of `/metrics` (`now` decides which active
    /// conversations are past their bot's timeout).
    async fn stats(&self, now: Millis) -> Result<StoreStats>;

    /// Whether the store answers queries and can write (for `/readyz`): `DiskFull` while the
    /// disk is full.
    async fn ping(&self) -> Result<()>;
    /// Finishes pending writes and stops accepting new ones.
    async fn close(&self);
}

/// How to connect to a database server (PostgreSQL); the embedded SQLite store has nothing to
/// set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Connections per server.
    pub pool_size: u32,
    /// The longest one SQL statement may run (the server cancels it past that).
    pub statement_timeout: Duration,
    /// The longest wait for a connection (new or from the pool).
    pub connect_timeout: Duration,
    /// `disable`, `allow`, `prefer`, `require`, `verify-ca` or `verify-full`; overrides the
    /// URL's `sslmode`.
    pub ssl_mode: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            pool_size: 16,
            statement_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            ssl_mode: None,
        }
    }
}

/// The `tsvector` literal the PostgreSQL store keeps in `messages.search` for a message's text
/// (its words folded by `confab_core::search::lexemes`, with positions). Public for the
/// benchmark's raw-PostgreSQL baseline, which must index the same lexemes as the store.
pub fn postgres_search_vector(content: &str) -> String {
    postgres::tsvector(content)
}

/// Opens the store a URL names, with default options (see [`open_with`]).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, String> {
    open_with(url, &StoreOptions::default()).await
}

/// Opens the store a URL names: `postgres://…` or `postgresql://…` (PostgreSQL), `sqlite://PATH`,
/// `sqlite:PATH` or a plain file path (SQLite); any other scheme is an error naming the ones
/// Confab knows. Runs the store's migrations.
pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PgStore::open(url, options).await.map_err(|e| e.to_string())?;
        return Ok(Arc::new(store));
    }
    let path = if let Some(p) = url.strip_prefix("sqlite://") {
        p
    } else if let Some(p) = url.strip_prefix("sqlite:") {
        p
    } else if url.contains("://") {
        let scheme = url.split("://").next().unwrap_or_default();
        return Err(format!(
            "unsupported database URL scheme `{scheme}`: use postgres://…, sqlite://PATH or a file path"
        ));
    } else {
        url
    };
    if path.is_empty() {
        return Err("the database URL names no file".into());
    }
    let store = SqliteStore::open(path).await.map_err(|e| e.to_string())?;
    Ok(Arc::new(store))
}
