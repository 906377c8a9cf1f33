//! Datapoint values, bot settings, the finaliser's lease and compare-and-set, and the webhook
//! outbox, on PostgreSQL. Ingest continues each conversation's extraction walk in the write's
//! transaction, so provisional values are as durable as the messages they came from.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use confab_core::NewMessage;
use confab_core::bot::BotSettings;
use confab_core::conversation::{Conversation, Status};
use confab_core::datapoints::{Datapoint, NewDatapoint};
use confab_core::redact::Redactor;
use confab_core::time::Millis;
use confab_core::webhook::{self, Event, Events};
use serde_json::Value;
use sqlx::{PgConnection, Row};

use super::{read, rows, write};
use crate::columns::{CONVERSATION_SELECT, DATAPOINT_SELECT};
use crate::extraction::{BotRules, Extractor, extractor, goals, redactor};
use crate::{IdleConversation, Result, StoreError, StoreStats};

/// What an ingest applies for the bot, read at once: its extractor, if it has a schema with
/// definitions, and its redaction rules, if it masks anything.
pub(super) async fn bot_rules(c: &mut PgConnection, bot_pk: i64) -> Result<BotRules> {
    let row = sqlx::query("SELECT datapoint_schema, settings FROM bots WHERE id = $1")
        .bind(bot_pk)
        .fetch_optional(&mut *c)
        .await?;
    let Some(row) = row else { return Ok((None, None, vec![])) };
    let schema: Option<String> = row.try_get(0)?;
    let settings: String = row.try_get(1)?;
    Ok((
        schema.and_then(|schema| extractor(&schema, &settings)),
        redactor(&settings),
        goals(&settings),
    ))
}

/// The bot's redaction rules, if it masks anything.
pub(super) async fn bot_redactor(
    c: &mut PgConnection,
    bot_pk: i64,
) -> Result<Option<Arc<Redactor>>> {
    let settings: Option<String> = sqlx::query_scalar("SELECT settings FROM bots WHERE id = $1")
        .bind(bot_pk)
        .fetch_optional(&mut *c)
        .await?;
    Ok(settings.and_then(|s| redactor(&s)))
}

/// Continues a conversation's walk (stored as `walk`) with the messages a write stored, or
/// re-runs it over the whole transcript when one arrived out of order; returns whether the
/// stored values changed.
pub(super) async fn on_ingest(
    c: &mut PgConnection,
    ex: &Extractor,
    (bot_pk, pk): (i64, i64),
    (state, last_ts): (Option<&str>, Option<Millis>),
    new: &mut [(i64, &NewMessage)],
    now: Millis,
) -> Result<bool> {
    let mut changed = false;
    let walked = match ex.continue_walk(state, last_ts, new) {
        Some((found, walked)) => {
            for v in found {
                changed |= upsert_extracted(c, (bot_pk, pk), &v, now).await?;
            }
            walked
        }
        None => {
            let before = values_map(c, bot_pk, pk).await?;
            let (values, walked) = ex.rerun(&read::messages_of(c, bot_pk, pk).await?);
            replace_extracted(c, (bot_pk, pk), values, ex.redacts(), now).await?;
            changed = values_map(c, bot_pk, pk).await? != before;
            walked
        }
    };
    sqlx::query(
        "UPDATE conversations SET extract_state = $3, extract_last_ts = $4 \
         WHERE bot_pk = $1 AND id = $2",
    )
    .bind(bot_pk)
    .bind(pk)
    .bind(walked.state)
    .bind(walked.last_ts)
    .execute(&mut *c)
    .await?;
    Ok(changed)
}

/// Key → value, to tell whether a write changed anything.
async fn values_map(c: &mut PgConnection, bot_pk: i64, pk: i64) -> Result<HashMap<String, String>> {
    let rows =
        sqlx::query("SELECT key, value FROM datapoints WHERE bot_pk = $1 AND conversation_pk = $2")
            .bind(bot_pk)
            .bind(pk)
            .fetch_all(&mut *c)
            .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Writes an extracted value unless the bot gave the key explicitly; returns whether the stored
/// value, method or evidence changed (as in the SQLite store).
async fn upsert_extracted(
    c: &mut PgConnection,
    (bot_pk, pk): (i64, i64),
    v: &NewDatapoint,
    now: Millis,
) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO datapoints (bot_pk, conversation_pk, key, value, method, message_pk, \
         updated_at, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (bot_pk, conversation_pk, key) DO UPDATE SET value = excluded.value, \
         method = excluded.method, message_pk = excluded.message_pk, \
         updated_at = excluded.updated_at, evidence = excluded.evidence \
         WHERE datapoints.method <> 0 \
         AND (datapoints.value <> excluded.value OR datapoints.method <> excluded.method \
         OR datapoints.evidence IS DISTINCT FROM excluded.evidence)",
    )
    .bind(bot_pk)
    .bind(pk)
    .bind(&v.key)
    .bind(v.value.to_string())
    .bind(v.method.code())
    .bind(v.message_pk)
    .bind(now)
    .bind(v.evidence.map(rows::evidence_code))
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Replaces every extracted value with `values` (explicit ones stay). With `keep_unfound` (a bot
/// that redacts: `values` were read from masked text), a key `values` has nothing for keeps the
/// value ingest extracted from the text as sent.
async fn replace_extracted(
    c: &mut PgConnection,
    (bot_pk, pk): (i64, i64),
    values: Vec<NewDatapoint>,
    keep_unfound: bool,
    now: Millis,
) -> Result<()> {
    let keep: Vec<&str> = values.iter().map(|v| v.key.as_str()).collect();
    if !keep_unfound {
        sqlx::query(
            "DELETE FROM datapoints WHERE bot_pk = $1 AND conversation_pk = $2 AND method <> 0 \
             AND NOT (key = ANY($3))",
        )
        .bind(bot_pk)
        .bind(pk)
        .bind(&keep)
        .execute(&mut *c)
        .await?;
    }
    for v in &values {
        upsert_extracted(c, (bot_pk, pk), v, now).await?;
    }
    Ok(())
}

static DATAPOINTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {DATAPOINT_SELECT} FROM datapoints d \
         LEFT JOIN messages m ON m.bot_pk = d.bot_pk AND m.id = d.message_pk \
         WHERE d.bot_pk = $1 AND d.conversation_pk = $2 ORDER BY d.key COLLATE \"C\""
    )
});

pub(super) async fn datapoints(
    c: &mut PgConnection,
    bot_pk: i64,
    pk: i64,
) -> Result<Vec<Datapoint>> {
    let rows = sqlx::query(&DATAPOINTS).bind(bot_pk).bind(pk).fetch_all(&mut *c).await?;
    Ok(rows.iter().map(|r| rows::datapoint(r, 0)).collect::<sqlx::Result<_>>()?)
}

async fn conversation_by_pk(c: &mut PgConnection, bot_pk: i64, pk: i64) -> Result<Conversation> {
    let row = sqlx::query(&format!(
        "SELECT {CONVERSATION_SELECT} FROM conversations c JOIN bots b ON b.id = c.bot_pk \
         WHERE c.bot_pk = $1 AND c.id = $2"
    ))
    .bind(bot_pk)
    .bind(pk)
    .fetch_one(&mut *c)
    .await?;
    Ok(rows::conversation(&row, 0)?)
}

/// Queues `event` for the bot's subscribers to it, with the conversation as it is now.
pub(super) async fn enqueue(
    c: &mut PgConnection,
    bot_pk: i64,
    pk: i64,
    event: Event,
    now: Millis,
) -> Result<()> {
    let hooks: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, events FROM webhooks WHERE bot_pk = $1")
            .bind(bot_pk)
            .fetch_all(&mut *c)
            .await?;
    let hooks: Vec<i64> = hooks
        .into_iter()
        .filter(|(_, bits)| Events::from_bits(*bits).contains(event))
        .map(|(id, _)| id)
        .collect();
    if hooks.is_empty() {
        return Ok(());
    }
    let conversation = conversation_by_pk(c, bot_pk, pk).await?;
    let values = datapoints(c, bot_pk, pk).await?;
    let event_id = webhook::event_id();
    let body = webhook::payload(&event_id, event, now, &conversation, &values);
    sqlx::query(
        "INSERT INTO webhook_deliveries (bot_pk, webhook_id, conversation_pk, event_id, event, \
         payload, next_attempt_at, created_at) \
         SELECT $1, hook, $3, $4, $5, $6, $7, $7 FROM UNNEST($2::bigint[]) AS hook",
    )
    .bind(bot_pk)
    .bind(hooks)
    .bind(pk)
    .bind(&event_id)
    .bind(event.as_str())
    .bind(&body)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

async fn status_of(c: &mut PgConnection, bot_pk: i64, pk: i64) -> Result<Status> {
    let code: i64 =
        sqlx::query_scalar("SELECT status FROM conversations WHERE bot_pk = $1 AND id = $2")
            .bind(bot_pk)
            .bind(pk)
            .fetch_one(&mut *c)
            .await?;
    Ok(if code == 1 { Status::Ended } else { Status::Active })
}

pub(super) async fn conversation_datapoints(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    id: &str,
) -> Result<(Status, Vec<Datapoint>)> {
    let (bot_pk, pk) = write::locate(c, team_id, bot_id, id, false).await?;
    Ok((status_of(c, bot_pk, pk).await?, datapoints(c, bot_pk, pk).await?))
}

pub(super) async fn put_explicit(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    id: &str,
    values: &[(String, Option<Value>)],
    now: Millis,
) -> Result<(Status, Vec<Datapoint>)> {
    let (bot_pk, pk) = write::locate(c, team_id, bot_id, id, true).await?;
    let before = values_map(c, bot_pk, pk).await?;
    for (key, value) in values {
        match value {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO datapoints (bot_pk, conversation_pk, key, value, method, \
                     message_pk, updated_at, evidence) VALUES ($1, $2, $3, $4, 0, NULL, $5, NULL) \
                     ON CONFLICT (bot_pk, conversation_pk, key) DO UPDATE SET \
                     value = excluded.value, method = 0, message_pk = NULL, \
                     updated_at = excluded.updated_at, evidence = NULL",
                )
                .bind(bot_pk)
                .bind(pk)
                .bind(key)
                .bind(v.to_string())
                .bind(now)
                .execute(&mut *c)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM datapoints WHERE bot_pk = $1 AND conversation_pk = $2 \
                     AND key = $3 AND method = 0",
                )
                .bind(bot_pk)
                .bind(pk)
                .bind(key)
                .execute(&mut *c)
                .await?;
            }
        }
    }
    if values_map(c, bot_pk, pk).await? != before {
        enqueue(c, bot_pk, pk, Event::DatapointsUpdated, now).await?;
    }
    Ok((status_of(c, bot_pk, pk).await?, datapoints(c, bot_pk, pk).await?))
}

pub(super) async fn datapoints_of(
    c: &mut PgConnection,
    team_id: i64,
    pks: &[i64],
) -> Result<Vec<(i64, Vec<Datapoint>)>> {
    let found = read::in_team(c, team_id, pks).await?;
    let (bots, convs): (Vec<i64>, Vec<i64>) = found.iter().copied().unzip();
    let rows = sqlx::query(&format!(
        "SELECT d.conversation_pk, {DATAPOINT_SELECT} FROM datapoints d \
         JOIN UNNEST($1::bigint[], $2::bigint[]) AS t (bot_pk, pk) \
         ON d.bot_pk = t.bot_pk AND d.conversation_pk = t.pk \
         LEFT JOIN messages m ON m.bot_pk = d.bot_pk AND m.id = d.message_pk \
         ORDER BY d.conversation_pk, d.key COLLATE \"C\""
    ))
    .bind(bots)
    .bind(&convs)
    .fetch_all(&mut *c)
    .await?;
    let mut by_conversation: HashMap<i64, Vec<Datapoint>> = HashMap::new();
    for r in &rows {
        by_conversation.entry(r.try_get(0)?).or_default().push(rows::datapoint(r, 1)?);
    }
    Ok(convs.into_iter().map(|pk| (pk, by_conversation.remove(&pk).unwrap_or_default())).collect())
}

/// The shortest inactivity timeout a bot may have; bounds the finaliser's index range.
const MIN_INACTIVITY_MS: i64 = 60_000;

/// The work waiting: idle conversations and webhook deliveries, and the database's size. The
/// backlog is counted as in the SQLite store: from the idle index, less the few conversations
/// whose bot's own timeout has not run out.
pub(super) async fn stats(c: &mut PgConnection, now: Millis) -> Result<StoreStats> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM conversations \
                 WHERE status = 0 AND last_message_at <= $1 - $2) \
              - (SELECT count(*) FROM conversations c JOIN bots b ON b.id = c.bot_pk \
                 WHERE c.status = 0 AND c.last_message_at <= $1 - $2 \
                 AND c.last_message_at > $1 - (SELECT max(inactivity_ms) FROM bots) \
                 AND c.last_message_at + b.inactivity_ms > $1), \
                (SELECT count(*) FROM webhook_deliveries WHERE state = 0), \
                pg_database_size(current_database())",
    )
    .bind(now)
    .bind(MIN_INACTIVITY_MS)
    .fetch_one(&mut *c)
    .await?;
    let count = |i: usize| row.try_get::<i64, _>(i).map(|n| n.max(0) as u64);
    Ok(StoreStats {
        finaliser_backlog: count(0)?,
        webhook_outbox: count(1)?,
        database_bytes: count(2)?,
        ..StoreStats::default()
    })
}

pub(super) async fn idle_conversations(
    c: &mut PgConnection,
    now: Millis,
    lease_until: Millis,
    limit: u32,
) -> Result<Vec<IdleConversation>> {
    // Rows another server is writing or has leased are skipped, not waited for.
    let rows = sqlx::query(
        "WITH due AS ( \
             SELECT c.bot_pk, c.id FROM conversations c JOIN bots b ON b.id = c.bot_pk \
             WHERE c.status = 0 AND c.last_message_at <= $1 - $2 \
             AND c.last_message_at + b.inactivity_ms <= $1 \
             AND (c.finalise_lease IS NULL OR c.finalise_lease <= $1) \
             ORDER BY c.last_message_at LIMIT $3 FOR UPDATE OF c SKIP LOCKED) \
         UPDATE conversations c SET finalise_lease = $4 FROM due, bots b \
         WHERE c.bot_pk = due.bot_pk AND c.id = due.id AND b.id = c.bot_pk \
         RETURNING c.id, c.bot_pk, b.team_id, b.bot_id, c.last_message_at, c.message_count, \
         b.datapoint_schema, b.settings",
    )
    .bind(now)
    .bind(MIN_INACTIVITY_MS)
    .bind(i64::from(limit))
    .bind(lease_until)
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (pk, bot_pk): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
        let schema: Option<String> = r.try_get(6)?;
        let settings: String = r.try_get(7)?;
        out.push(IdleConversation {
            pk,
            team_id: r.try_get(2)?,
            bot_id: r.try_get(3)?,
            last_message_at: r.try_get(4)?,
            message_count: r.try_get(5)?,
            schema: schema.and_then(|s| serde_json::from_str(&s).ok()),
            settings: serde_json::from_str(&settings).unwrap_or_default(),
            messages: read::messages_of(c, bot_pk, pk).await?,
        });
    }
    out.sort_by_key(|conv| (conv.last_message_at, conv.pk));
    Ok(out)
}

/// Ends the conversation if it is as the finaliser read it (see the SQLite store): the
/// `UPDATE` waits for a write holding the row and then re-checks its condition, so a message
/// stored meanwhile on any server makes this a no-op.
pub(super) async fn finalise(
    c: &mut PgConnection,
    pk: i64,
    seen: (Millis, i64),
    values: Vec<NewDatapoint>,
    now: Millis,
) -> Result<bool> {
    let bot_pk: Option<i64> = sqlx::query_scalar(
        "UPDATE conversations SET status = 1, ended_at = $4 \
         WHERE id = $1 AND status = 0 AND last_message_at = $2 AND message_count = $3 \
         RETURNING bot_pk",
    )
    .bind(pk)
    .bind(seen.0)
    .bind(seen.1)
    .bind(now)
    .fetch_optional(&mut *c)
    .await?;
    let Some(bot_pk) = bot_pk else { return Ok(false) };
    let before = values_map(c, bot_pk, pk).await?;
    // A bot that redacts: the finaliser read masked text, so what it did not find again stays
    // as ingest extracted it from the text as sent (docs/extraction.md).
    let redacting = bot_redactor(c, bot_pk).await?.is_some();
    replace_extracted(c, (bot_pk, pk), values, redacting, now).await?;
    if values_map(c, bot_pk, pk).await? != before {
        enqueue(c, bot_pk, pk, Event::DatapointsUpdated, now).await?;
    }
    enqueue(c, bot_pk, pk, Event::ConversationEnded, now).await?;
    Ok(true)
}

pub(super) async fn bot_settings(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
) -> Result<BotSettings> {
    let json: String =
        sqlx::query_scalar("SELECT settings FROM bots WHERE team_id = $1 AND bot_id = $2")
            .bind(team_id)
            .bind(bot_id)
            .fetch_optional(&mut *c)
            .await?
            .ok_or(StoreError::NotFound("bot"))?;
    serde_json::from_str(&json).map_err(|e| StoreError::Database(format!("stored settings: {e}")))
}

pub(super) async fn put_bot_settings(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    create_bot: bool,
    settings: &BotSettings,
) -> Result<()> {
    let pk = write::bot_pk_or_create(c, team_id, bot_id, create_bot).await?;
    let json = serde_json::to_string(settings).unwrap_or_default();
    sqlx::query(
        "UPDATE bots SET settings = $2, inactivity_ms = $3, retention_ms = $4 WHERE id = $1",
    )
    .bind(pk)
    .bind(json)
    .bind(settings.inactivity_ms())
    .bind(settings.retention_ms())
    .execute(&mut *c)
    .await?;
    Ok(())
}
