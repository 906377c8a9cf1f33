//! Datapoint values, bot settings, the finaliser's compare-and-set and the webhook outbox.
//! Ingest continues each conversation's extraction walk here, in the write's transaction, so
//! provisional values are as durable as the messages they came from.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use confab_core::NewMessage;
use confab_core::bot::BotSettings;
use confab_core::conversation::{Conversation, Status};
use confab_core::datapoints::{Datapoint, Evidence, Method, NewDatapoint};
use confab_core::redact::Redactor;
use confab_core::time::Millis;
use confab_core::webhook::{self, Event, Events};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::{read, rows, write};
use crate::extraction::{BotRules, Extractor, extractor, goals, redactor};
use crate::{IdleConversation, Result, StoreError, StoreStats};

/// What an ingest applies for the bot, read at once: its extractor, if it has a schema with
/// definitions, and its redaction rules, if it masks anything.
pub(super) fn bot_rules(c: &Connection, bot_pk: i64) -> Result<BotRules> {
    let row: Option<(Option<String>, String)> = c
        .prepare_cached("SELECT datapoint_schema, settings FROM bots WHERE id = ?1")?
        .query_row([bot_pk], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        Some((schema, settings)) => (
            schema.and_then(|schema| extractor(&schema, &settings)),
            redactor(&settings),
            goals(&settings),
        ),
        None => (None, None, vec![]),
    })
}

/// The bot's redaction rules, if it masks anything.
pub(super) fn bot_redactor(c: &Connection, bot_pk: i64) -> Result<Option<Arc<Redactor>>> {
    let settings: Option<String> = c
        .prepare_cached("SELECT settings FROM bots WHERE id = ?1")?
        .query_row([bot_pk], |r| r.get(0))
        .optional()?;
    Ok(settings.and_then(|s| redactor(&s)))
}

/// Continues a conversation's walk with the messages a write stored (`new`, with their row
/// ids), or re-runs it over the whole transcript when one arrived out of order (see
/// [`Extractor::continue_walk`]); returns whether the stored values changed.
pub(super) fn on_ingest(
    c: &Connection,
    ex: &Extractor,
    conversation_pk: i64,
    new: &mut [(i64, &NewMessage)],
    now: Millis,
) -> Result<bool> {
    let (state, last_ts): (Option<String>, Option<i64>) = c
        .prepare_cached("SELECT extract_state, extract_last_ts FROM conversations WHERE id = ?1")?
        .query_row([conversation_pk], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut changed = false;
    let walked = match ex.continue_walk(state.as_deref(), last_ts, new) {
        Some((found, walked)) => {
            for v in &found {
                changed |= upsert_extracted(c, conversation_pk, v, now)?;
            }
            walked
        }
        None => {
            let before = values_map(c, conversation_pk)?;
            let (values, walked) = ex.rerun(&read::messages_of(c, conversation_pk)?);
            let redacting = ex.redacts();
            replace_extracted(c, conversation_pk, values, redacting, now)?;
            changed = values_map(c, conversation_pk)? != before;
            walked
        }
    };
    c.prepare_cached(
        "UPDATE conversations SET extract_state = ?2, extract_last_ts = ?3 WHERE id = ?1",
    )?
    .execute(params![conversation_pk, walked.state, walked.last_ts])?;
    Ok(changed)
}

/// Key → value, to tell whether a write changed anything.
fn values_map(c: &Connection, conversation_pk: i64) -> Result<HashMap<String, String>> {
    Ok(c.prepare_cached("SELECT key, value FROM datapoints WHERE conversation_pk = ?1")?
        .query_map([conversation_pk], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Writes an extracted value unless the bot gave the key explicitly; returns whether the stored
/// value, method or evidence changed (stronger evidence for the same value, such as the user
/// confirming it, is a change: the API and webhooks show it).
fn upsert_extracted(
    c: &Connection,
    conversation_pk: i64,
    v: &NewDatapoint,
    now: Millis,
) -> Result<bool> {
    let n = c
        .prepare_cached(
            "INSERT INTO datapoints (conversation_pk, key, value, method, message_pk, updated_at, \
         evidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (conversation_pk, key) DO UPDATE SET value = excluded.value, \
         method = excluded.method, message_pk = excluded.message_pk, \
         updated_at = excluded.updated_at, evidence = excluded.evidence \
         WHERE datapoints.method <> 0 \
         AND (datapoints.value <> excluded.value OR datapoints.method <> excluded.method \
         OR datapoints.evidence IS NOT excluded.evidence)",
        )?
        .execute(params![
            conversation_pk,
            v.key,
            v.value.to_string(),
            v.method.code(),
            v.message_pk,
            now,
            v.evidence.map(Evidence::code),
        ])?;
    Ok(n > 0)
}

/// Replaces every extracted value with `values` (explicit ones stay). With `keep_unfound` (a bot
/// that redacts: `values` were read from masked text), a key `values` has nothing for keeps the
/// value ingest extracted from the text as sent.
fn replace_extracted(
    c: &Connection,
    conversation_pk: i64,
    values: Vec<NewDatapoint>,
    keep_unfound: bool,
    now: Millis,
) -> Result<()> {
    let keep: Vec<&str> = values.iter().map(|v| v.key.as_str()).collect();
    let stale: Vec<String> =
        if keep_unfound { vec![] } else { stale_keys(c, conversation_pk, &keep)? };
    for key in stale {
        c.prepare_cached("DELETE FROM datapoints WHERE conversation_pk = ?1 AND key = ?2")?
            .execute(params![conversation_pk, key])?;
    }
    for v in &values {
        upsert_extracted(c, conversation_pk, v, now)?;
    }
    Ok(())
}

/// The keys with an extracted value that are not in `keep`.
fn stale_keys(c: &Connection, conversation_pk: i64, keep: &[&str]) -> Result<Vec<String>> {
    let stale: Vec<String> = c
        .prepare_cached("SELECT key FROM datapoints WHERE conversation_pk = ?1 AND method <> 0")?
        .query_map([conversation_pk], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?
        .into_iter()
        .filter(|k| !keep.contains(&k.as_str()))
        .collect();
    Ok(stale)
}

static DATAPOINTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM datapoints d LEFT JOIN messages m ON m.id = d.message_pk \
         WHERE d.conversation_pk = ?1 ORDER BY d.key",
        crate::columns::DATAPOINT_SELECT
    )
});

pub(super) fn datapoints(c: &Connection, conversation_pk: i64) -> Result<Vec<Datapoint>> {
    Ok(c.prepare_cached(&DATAPOINTS)?
        .query_map([conversation_pk], |r| {
            let value: String = r.get(1)?;
            Ok(Datapoint {
                key: r.get(0)?,
                value: serde_json::from_str(&value).unwrap_or(Value::Null),
                method: Method::from_code(r.get(2)?).unwrap_or(Method::Rule),
                message_id: r.get(3)?,
                message_at: r.get(4)?,
                updated_at: r.get(5)?,
                evidence: r.get::<_, Option<i64>>(6)?.and_then(Evidence::from_code),
            })
        })?
        .collect::<rusqlite::Result<_>>()?)
}

fn conversation_by_pk(c: &Connection, pk: i64) -> Result<Conversation> {
    let sql = format!(
        "SELECT {} FROM conversations c JOIN bots b ON b.id = c.bot_pk WHERE c.id = ?1",
        rows::CONVERSATION_SELECT
    );
    Ok(c.prepare_cached(&sql)?.query_row([pk], |r| rows::conversation(r, 0))?)
}

/// Queues `event` for the bot's subscribers to it, with the conversation as it is now.
pub(super) fn enqueue(
    c: &Connection,
    bot_pk: i64,
    conversation_pk: i64,
    event: Event,
    now: Millis,
) -> Result<()> {
    let hooks: Vec<i64> = c
        .prepare_cached("SELECT id, events FROM webhooks WHERE bot_pk = ?1")?
        .query_map([bot_pk], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .filter(|(_, bits)| Events::from_bits(*bits).contains(event))
        .map(|(id, _)| id)
        .collect();
    if hooks.is_empty() {
        return Ok(());
    }
    let conversation = conversation_by_pk(c, conversation_pk)?;
    let values = datapoints(c, conversation_pk)?;
    let event_id = webhook::event_id();
    let body = webhook::payload(&event_id, event, now, &conversation, &values);
    for hook in hooks {
        c.prepare_cached(
            "INSERT INTO webhook_deliveries (bot_pk, webhook_id, conversation_pk, event_id, \
             event, payload, next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        )?
        .execute(params![
            bot_pk,
            hook,
            conversation_pk,
            event_id,
            event.as_str(),
            body,
            now
        ])?;
    }
    Ok(())
}

fn conversation_pk(c: &Connection, team_id: i64, bot_id: &str, id: &str) -> Result<(i64, i64)> {
    let bot_pk = write::bot_pk(c, team_id, bot_id)?.ok_or(StoreError::NotFound("bot"))?;
    let pk = c
        .prepare_cached("SELECT id FROM conversations WHERE bot_pk = ?1 AND conversation_id = ?2")?
        .query_row(params![bot_pk, id], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound("conversation"))?;
    Ok((bot_pk, pk))
}

fn status_of(c: &Connection, pk: i64) -> Result<Status> {
    let code: i64 = c
        .prepare_cached("SELECT status FROM conversations WHERE id = ?1")?
        .query_row([pk], |r| r.get(0))?;
    Ok(if code == 1 { Status::Ended } else { Status::Active })
}

pub(super) fn conversation_datapoints(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    id: &str,
) -> Result<(Status, Vec<Datapoint>)> {
    let (_, pk) = conversation_pk(c, team_id, bot_id, id)?;
    Ok((status_of(c, pk)?, datapoints(c, pk)?))
}

pub(super) fn put_explicit(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    id: &str,
    values: &[(String, Option<Value>)],
    now: Millis,
) -> Result<(Status, Vec<Datapoint>)> {
    let (bot_pk, pk) = conversation_pk(c, team_id, bot_id, id)?;
    let before = values_map(c, pk)?;
    for (key, value) in values {
        match value {
            Some(v) => {
                c.prepare_cached(
                    "INSERT INTO datapoints (conversation_pk, key, value, method, message_pk, \
                     updated_at, evidence) VALUES (?1, ?2, ?3, 0, NULL, ?4, NULL) \
                     ON CONFLICT (conversation_pk, key) DO UPDATE SET value = excluded.value, \
                     method = 0, message_pk = NULL, updated_at = excluded.updated_at, \
                     evidence = NULL",
                )?
                .execute(params![pk, key, v.to_string(), now])?;
            }
            None => {
                c.prepare_cached(
                    "DELETE FROM datapoints WHERE conversation_pk = ?1 AND key = ?2 AND method = 0",
                )?
                .execute(params![pk, key])?;
            }
        }
    }
    if values_map(c, pk)? != before {
        enqueue(c, bot_pk, pk, Event::DatapointsUpdated, now)?;
    }
    Ok((status_of(c, pk)?, datapoints(c, pk)?))
}

pub(super) fn datapoints_of(
    c: &Connection,
    team_id: i64,
    pks: &[i64],
) -> Result<Vec<(i64, Vec<Datapoint>)>> {
    read::each_in_team(c, team_id, pks, datapoints)
}

/// The shortest inactivity timeout a bot may have; bounds the finaliser's index range.
const MIN_INACTIVITY_MS: i64 = 60_000;

/// Leases up to `limit` conversations idle past their bot's timeout until `lease_until`; their
/// `messages` are left for the caller to read.
pub(super) fn lease_idle_conversations(
    c: &Connection,
    now: Millis,
    lease_until: Millis,
    limit: u32,
) -> Result<Vec<IdleConversation>> {
    type Row = (i64, i64, String, i64, i64, Option<String>, String);
    let rows: Vec<Row> = c
        .prepare_cached(
            "SELECT c.id, b.team_id, b.bot_id, c.last_message_at, c.message_count, \
             b.datapoint_schema, b.settings \
             FROM conversations c JOIN bots b ON b.id = c.bot_pk \
             WHERE c.status = 0 AND c.last_message_at <= ?1 - ?2 \
             AND c.last_message_at + b.inactivity_ms <= ?1 \
             AND (c.finalise_lease IS NULL OR c.finalise_lease <= ?1) \
             ORDER BY c.last_message_at LIMIT ?3",
        )?
        .query_map(params![now, MIN_INACTIVITY_MS, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut lease =
        c.prepare_cached("UPDATE conversations SET finalise_lease = ?2 WHERE id = ?1")?;
    let mut out = Vec::with_capacity(rows.len());
    for (pk, team_id, bot_id, last_message_at, message_count, schema, settings) in rows {
        lease.execute(params![pk, lease_until])?;
        out.push(IdleConversation {
            pk,
            team_id,
            bot_id,
            last_message_at,
            message_count,
            schema: schema.and_then(|s| serde_json::from_str(&s).ok()),
            settings: serde_json::from_str(&settings).unwrap_or_default(),
            messages: vec![],
        });
    }
    Ok(out)
}

/// The work waiting (idle conversations, webhook deliveries) and the files' sizes; the writer's
/// queue is the caller's to add.
///
/// The finaliser's backlog is counted as the conversations idle past the shortest timeout,
/// from the idle index alone, less those whose own bot's timeout has not run out yet — which
/// can only be among the few active within the longest timeout. Joining every idle
/// conversation to its bot instead reads a table row each: about a second of a core with a
/// million waiting, at every scrape.
pub(super) fn stats(c: &Connection, now: Millis) -> Result<StoreStats> {
    let finaliser_backlog: i64 = c
        .prepare_cached(
            "SELECT (SELECT count(*) FROM conversations \
                     WHERE status = 0 AND last_message_at <= ?1 - ?2) \
                  - (SELECT count(*) FROM conversations c JOIN bots b ON b.id = c.bot_pk \
                     WHERE c.status = 0 AND c.last_message_at <= ?1 - ?2 \
                     AND c.last_message_at > ?1 - (SELECT max(inactivity_ms) FROM bots) \
                     AND c.last_message_at + b.inactivity_ms > ?1)",
        )?
        .query_row(params![now, MIN_INACTIVITY_MS], |r| r.get(0))?;
    let webhook_outbox: i64 = c
        .prepare_cached("SELECT count(*) FROM webhook_deliveries WHERE state = 0")?
        .query_row([], |r| r.get(0))?;
    let size = |path: &str| std::fs::metadata(path).map_or(0, |m| m.len());
    let path = c.path().unwrap_or_default();
    Ok(StoreStats {
        finaliser_backlog: finaliser_backlog as u64,
        webhook_outbox: webhook_outbox as u64,
        database_bytes: size(path),
        wal_bytes: Some(size(&format!("{path}-wal"))),
        ..StoreStats::default()
    })
}

/// Ends the conversation if it is as the finaliser read it: still active, with the same last
/// message time and message count (`seen`) — a message stored meanwhile, even one timestamped
/// before the last, makes this a no-op, and the next round reads it.
pub(super) fn finalise(
    c: &Connection,
    pk: i64,
    seen: (Millis, i64),
    values: Vec<NewDatapoint>,
    now: Millis,
) -> Result<bool> {
    let ended = c
        .prepare_cached(
            "UPDATE conversations SET status = 1, ended_at = ?4 \
             WHERE id = ?1 AND status = 0 AND last_message_at = ?2 AND message_count = ?3",
        )?
        .execute(params![pk, seen.0, seen.1, now])?;
    if ended == 0 {
        return Ok(false);
    }
    let bot_pk: i64 = c
        .prepare_cached("SELECT bot_pk FROM conversations WHERE id = ?1")?
        .query_row([pk], |r| r.get(0))?;
    let before = values_map(c, pk)?;
    // A bot that redacts: the finaliser read masked text, so what it did not find again stays
    // as ingest extracted it from the text as sent (docs/extraction.md).
    let redacting = bot_redactor(c, bot_pk)?.is_some();
    replace_extracted(c, pk, values, redacting, now)?;
    if values_map(c, pk)? != before {
        enqueue(c, bot_pk, pk, Event::DatapointsUpdated, now)?;
    }
    enqueue(c, bot_pk, pk, Event::ConversationEnded, now)?;
    Ok(true)
}

pub(super) fn bot_settings(c: &Connection, team_id: i64, bot_id: &str) -> Result<BotSettings> {
    let json: String = c
        .prepare_cached("SELECT settings FROM bots WHERE team_id = ?1 AND bot_id = ?2")?
        .query_row(params![team_id, bot_id], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound("bot"))?;
    serde_json::from_str(&json).map_err(|e| StoreError::Database(format!("stored settings: {e}")))
}

pub(super) fn put_bot_settings(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    create_bot: bool,
    settings: &BotSettings,
) -> Result<()> {
    let pk = write::bot_pk_or_create(c, team_id, bot_id, create_bot)?;
    let json = serde_json::to_string(settings).unwrap_or_default();
    c.prepare_cached(
        "UPDATE bots SET settings = ?2, inactivity_ms = ?3, retention_ms = ?4 WHERE id = ?1",
    )?
    .execute(params![pk, json, settings.inactivity_ms(), settings.retention_ms()])?;
    Ok(())
}
