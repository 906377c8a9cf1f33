//! Everything the writer thread does: ingest, erasure, teams and keys. Each function runs inside
//! the writer's transaction (see `writer.rs`) and must leave it consistent or return an error.

use std::collections::HashMap;
use std::sync::LazyLock;

use confab_core::NewMessage;
use confab_core::conversation::IngestOutcome;
use confab_core::flow::StepKey;
use confab_core::rollup::{Deltas, MessageFacts, is_not_handled, token_usage};
use confab_core::summary::Summary;
use confab_core::time::{Millis, now_millis};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use confab_core::webhook::Event;

use super::{datapoints, rollup, rows};
use crate::{ApiKeyInfo, NewKey, Result, StoreError, Team};

pub(super) fn bot_pk(c: &Connection, team_id: i64, bot_id: &str) -> Result<Option<i64>> {
    Ok(c.prepare_cached("SELECT id FROM bots WHERE team_id = ?1 AND bot_id = ?2")?
        .query_row(params![team_id, bot_id], |r| r.get(0))
        .optional()?)
}

struct OpenConversation {
    pk: i64,
    /// The summary as stored before this job; `None` if the job created the conversation.
    before: Option<Summary>,
    summary: Summary,
    /// What the messages this job stored contribute to the rollups.
    new: Vec<MessageFacts>,
    /// The messages this job stored: row id and index in the job's input.
    stored: Vec<(i64, usize)>,
    /// How many messages the conversation has stored: the next one's position.
    positions: i64,
}

// The ingest path's statements, built once.
static LOAD_CONVERSATION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM conversations c JOIN bots b ON b.id = c.bot_pk \
         WHERE c.bot_pk = ?1 AND c.conversation_id = ?2",
        rows::CONVERSATION_SELECT
    )
});
static INSERT_CONVERSATION: LazyLock<String> = LazyLock::new(|| {
    let cols = crate::columns::summary_columns();
    format!(
        "INSERT INTO conversations (bot_pk, conversation_id, {}) VALUES (?1, ?2, {})",
        cols.join(", "),
        (3..3 + cols.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
    )
});
static UPDATE_CONVERSATION: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = crate::columns::summary_columns()
        .iter()
        .enumerate()
        .map(|(i, col)| format!("{col} = ?{}", i + 2))
        .collect();
    format!(
        "UPDATE conversations SET status = 0, ended_at = NULL, finalise_lease = NULL, {} \
         WHERE id = ?1",
        sets.join(", ")
    )
});

fn load_conversation(c: &Connection, bot_pk: i64, id: &str) -> Result<Option<OpenConversation>> {
    Ok(c.prepare_cached(&LOAD_CONVERSATION)?
        .query_row(params![bot_pk, id], |r| rows::conversation(r, 0))
        .optional()?
        .map(|conv| OpenConversation {
            pk: conv.pk,
            before: Some(conv.summary.clone()),
            new: vec![],
            stored: vec![],
            positions: conv.summary.message_count(),
            summary: conv.summary,
        }))
}

fn insert_conversation(c: &Connection, bot_pk: i64, id: &str, s: &Summary) -> Result<i64> {
    let mut values = vec![Value::Integer(bot_pk), Value::Text(id.to_owned())];
    values.extend(rows::summary_values(s));
    c.prepare_cached(&INSERT_CONVERSATION)?.execute(params_from_iter(values))?;
    Ok(c.last_insert_rowid())
}

fn update_conversation(c: &Connection, pk: i64, s: &Summary) -> Result<()> {
    let mut values = vec![Value::Integer(pk)];
    values.extend(rows::summary_values(s));
    c.prepare_cached(&UPDATE_CONVERSATION)?.execute(params_from_iter(values))?;
    Ok(())
}

/// The text FTS5 indexes for a message: letters FTS5's `unicode61 remove_diacritics 2` leaves
/// alone spelled out (the tokenizer does case and accents). Deleting from the index repeats the
/// indexed text exactly, so a change here needs a migration that rebuilds the index.
pub(super) fn fold_for_search(s: &str) -> std::borrow::Cow<'_, str> {
    confab_core::search::fold_letters(s)
}

/// A message's row in the search index is named after its conversation: the conversation's row
/// id shifted left by this many bits, plus the message's position in the conversation (0, 1, …
/// in the order stored; messages are only ever erased with their whole conversation). A search
/// then yields conversations without reading a single message row.
pub(super) const SEARCH_ROWID_SHIFT: u32 = 24;

pub(super) fn search_rowid(conversation_pk: i64, position: i64) -> i64 {
    (conversation_pk << SEARCH_ROWID_SHIFT) | position
}

/// Indexes every stored message for search (migration 6).
pub(super) fn reindex_search(c: &Connection) -> Result<()> {
    let mut rows =
        c.prepare("SELECT conversation_pk, content FROM messages ORDER BY conversation_pk, id")?;
    let mut rows = rows.query([])?;
    let mut index = c.prepare("INSERT INTO messages_fts (rowid, content) VALUES (?1, ?2)")?;
    let (mut conversation, mut position) = (0, 0);
    while let Some(row) = rows.next()? {
        let pk: i64 = row.get(0)?;
        if pk != conversation {
            (conversation, position) = (pk, 0);
        }
        let content: String = row.get(1)?;
        index.execute(params![search_rowid(pk, position), fold_for_search(&content)])?;
        position += 1;
    }
    Ok(())
}

/// Inserts the message unless its client id is already stored in the conversation; returns
/// its row id. `position` is the number of messages the conversation holds already.
fn insert_message(
    c: &Connection,
    bot_pk: i64,
    conversation_pk: i64,
    position: i64,
    m: &NewMessage,
) -> Result<Option<i64>> {
    if position >= 1 << SEARCH_ROWID_SHIFT {
        return Err(StoreError::Conflict("a conversation holds at most 16,777,216 messages"));
    }
    let inserted = c
        .prepare_cached(
            "INSERT OR IGNORE INTO messages \
             (bot_pk, conversation_pk, client_id, role, content, ts, step_id, step_type, metadata) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            bot_pk,
            conversation_pk,
            m.client_id,
            m.role.code(),
            m.content,
            m.timestamp,
            m.step.as_ref().map(|s| &s.id),
            m.step.as_ref().and_then(|s| s.kind.as_ref()),
            m.metadata.as_ref().map(|m| serde_json::to_string(m).unwrap_or_default()),
        ])?;
    if inserted == 0 {
        return Ok(None);
    }
    let id = c.last_insert_rowid();
    c.prepare_cached("INSERT INTO temp.pending_search (rowid, content) VALUES (?1, ?2)")?
        .execute(params![search_rowid(conversation_pk, position), fold_for_search(&m.content)])?;
    Ok(Some(id))
}

/// The search-index rows of messages stored in the writer's current transaction. FTS5 writes its
/// pending terms out as a new segment at every savepoint, and every job runs in one, so indexing
/// each job's messages directly made a segment per job (per message, for single-message
/// requests) and then merges; instead they wait here and go in once, before the group's commit
/// ([`index_pending_search`]). A temporary table is transactional, so a job rolled back to its
/// savepoint takes its rows with it.
pub(super) const PENDING_SEARCH_TABLE: &str =
    "CREATE TEMP TABLE pending_search (rowid INTEGER PRIMARY KEY, content TEXT NOT NULL)";

/// What the writer does once per group, before `COMMIT`: the group's rollup changes
/// ([`rollup::flush_group`]) and its search rows ([`index_pending_search`]).
pub(super) fn before_commit(c: &Connection) -> rusqlite::Result<()> {
    rollup::flush_group(c)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.to_string().into()))?;
    index_pending_search(c)
}

/// Indexes the messages waiting in `pending_search` (see [`PENDING_SEARCH_TABLE`]).
pub(super) fn index_pending_search(c: &Connection) -> rusqlite::Result<()> {
    let pending: bool = c
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM temp.pending_search)")?
        .query_row([], |r| r.get(0))?;
    if pending {
        c.prepare_cached(
            "INSERT INTO messages_fts (rowid, content) SELECT rowid, content FROM temp.pending_search",
        )?
        .execute([])?;
        c.prepare_cached("DELETE FROM temp.pending_search")?.execute([])?;
    }
    Ok(())
}

/// The bot's row id, creating the bot when allowed.
pub(super) fn bot_pk_or_create(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    create: bool,
) -> Result<i64> {
    match bot_pk(c, team_id, bot_id)? {
        Some(pk) => Ok(pk),
        None if create => {
            c.prepare_cached("INSERT INTO bots (team_id, bot_id, created_at) VALUES (?1, ?2, ?3)")?
                .execute(params![team_id, bot_id, now_millis()])?;
            Ok(c.last_insert_rowid())
        }
        None => Err(StoreError::NotFound("bot")),
    }
}

pub(super) fn put_datapoint_schema(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    create_bot: bool,
    json: &str,
) -> Result<()> {
    let pk = bot_pk_or_create(c, team_id, bot_id, create_bot)?;
    c.prepare_cached("UPDATE bots SET datapoint_schema = ?2 WHERE id = ?1")?
        .execute(params![pk, json])?;
    Ok(())
}

pub(super) fn ingest(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    create_bot: bool,
    messages: &[NewMessage],
) -> Result<Vec<IngestOutcome>> {
    let bot_pk = bot_pk_or_create(c, team_id, bot_id, create_bot)?;
    // A bot that redacts has only the masked text stored, summaries and search index included;
    // extraction below reads the originals, which go nowhere else.
    let (extractor, redactor, goals) = datapoints::bot_rules(c, bot_pk)?;
    let is_goal = |step: &str| goals.iter().any(|g| g == step);
    let masked = redactor.map(|r| crate::extraction::redact_messages(&r, messages));
    let stored_text = masked.as_deref().unwrap_or(messages);
    let mut open: HashMap<&str, OpenConversation> = HashMap::new();
    let mut outcomes = Vec::with_capacity(messages.len());
    for (index, m) in stored_text.iter().enumerate() {
        let id = m.conversation_id.as_str();
        let mut created = false;
        if !open.contains_key(id) {
            let conv = match load_conversation(c, bot_pk, id)? {
                Some(conv) => conv,
                None => {
                    created = true;
                    let mut summary = Summary::first(m);
                    summary.reach_goal(m, is_goal);
                    let pk = insert_conversation(c, bot_pk, id, &summary)?;
                    OpenConversation {
                        pk,
                        before: None,
                        summary,
                        new: vec![],
                        stored: vec![],
                        positions: 0,
                    }
                }
            };
            open.insert(id, conv);
        }
        let conv = open.get_mut(id).expect("opened above");
        match insert_message(c, bot_pk, conv.pk, conv.positions, m)? {
            Some(rowid) => {
                conv.positions += 1;
                if !created {
                    conv.summary.apply(m);
                }
                conv.summary.reach_goal(m, is_goal);
                conv.new.push(MessageFacts {
                    order: (m.timestamp, rowid),
                    role: m.role,
                    not_handled: is_not_handled(m.metadata.as_ref()),
                    usage: token_usage(m.metadata.as_ref()),
                    step: m.step.as_ref().map(StepKey::of),
                });
                conv.stored.push((rowid, index));
                outcomes.push(IngestOutcome::Stored);
            }
            None => outcomes.push(IngestOutcome::Duplicate),
        }
    }
    let mut deltas = Deltas::default();
    let now = now_millis();
    for conv in open.into_values().filter(|c| !c.new.is_empty()) {
        // A conversation this job created was inserted with its first message only.
        if conv.before.is_some() || conv.new.len() > 1 {
            update_conversation(c, conv.pk, &conv.summary)?;
        }
        rollup::account(c, &mut deltas, conv.pk, conv.before.as_ref(), &conv.summary, conv.new)?;
        if let Some(ex) = &extractor {
            let mut stored: Vec<(i64, &NewMessage)> =
                conv.stored.iter().map(|&(rowid, i)| (rowid, &messages[i])).collect();
            if datapoints::on_ingest(c, ex, conv.pk, &mut stored, now)? {
                datapoints::enqueue(c, bot_pk, conv.pk, Event::DatapointsUpdated, now)?;
            }
        }
    }
    // Last, so that a job that failed above deferred nothing.
    rollup::defer(bot_pk, deltas);
    Ok(outcomes)
}

/// Removes conversations with their messages and search entries. The writer's connection runs
/// with `PRAGMA secure_delete` on (see `SqliteStore::open`), so the freed space is overwritten.
fn erase_conversations(c: &Connection, pks: &[i64]) -> Result<()> {
    // Messages stored earlier in this transaction must be in the index to be taken out of it.
    index_pending_search(c)?;
    for &pk in pks {
        // The index keeps no text, so FTS5 is told what it indexed for each message; with its
        // `secure-delete` option the terms leave the index pages at once.
        let messages: Vec<String> = c
            .prepare_cached("SELECT content FROM messages WHERE conversation_pk = ?1 ORDER BY id")?
            .query_map([pk], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut unindex = c.prepare_cached(
            "INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', ?1, ?2)",
        )?;
        for (position, content) in messages.iter().enumerate() {
            unindex
                .execute(params![search_rowid(pk, position as i64), fold_for_search(content)])?;
        }
        c.prepare_cached("DELETE FROM messages WHERE conversation_pk = ?1")?.execute([pk])?;
        c.prepare_cached("DELETE FROM datapoints WHERE conversation_pk = ?1")?.execute([pk])?;
        // Queued events carry the conversation's text and values.
        c.prepare_cached("DELETE FROM webhook_deliveries WHERE conversation_pk = ?1")?
            .execute([pk])?;
        c.prepare_cached("DELETE FROM conversations WHERE id = ?1")?.execute([pk])?;
    }
    Ok(())
}

pub(super) fn delete_conversation(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    id: &str,
) -> Result<()> {
    let bot_pk = bot_pk(c, team_id, bot_id)?.ok_or(StoreError::NotFound("bot"))?;
    let pk: i64 = c
        .prepare_cached("SELECT id FROM conversations WHERE bot_pk = ?1 AND conversation_id = ?2")?
        .query_row(params![bot_pk, id], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound("conversation"))?;
    erase_conversations(c, &[pk])
}

pub(super) fn delete_user(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    user_id: &str,
) -> Result<u64> {
    let bot_pk = bot_pk(c, team_id, bot_id)?.ok_or(StoreError::NotFound("bot"))?;
    let pks: Vec<i64> = c
        .prepare_cached("SELECT id FROM conversations WHERE bot_pk = ?1 AND user_id = ?2")?
        .query_map(params![bot_pk, user_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    erase_conversations(c, &pks)?;
    Ok(pks.len() as u64)
}

/// Erases up to `limit` conversations past their bot's retention at `now` (the writer is the
/// only one, so each is erased once). Bots are the outer loop, so each bot's old conversations
/// are a range of `conversations_last`.
pub(super) fn expire_conversations(c: &Connection, now: Millis, limit: u32) -> Result<u64> {
    let pks: Vec<i64> = c
        .prepare_cached(
            "SELECT c.id FROM bots b CROSS JOIN conversations c ON c.bot_pk = b.id \
             WHERE b.retention_ms IS NOT NULL AND c.last_message_at < ?1 - b.retention_ms \
             LIMIT ?2",
        )?
        .query_map(params![now, limit], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    erase_conversations(c, &pks)?;
    Ok(pks.len() as u64)
}

pub(super) fn create_team(c: &Connection, name: &str) -> Result<Team> {
    let created_at = now_millis();
    c.execute("INSERT INTO teams (name, created_at) VALUES (?1, ?2)", params![name, created_at])?;
    Ok(Team { id: c.last_insert_rowid(), name: name.to_owned(), created_at })
}

pub(super) fn create_first_team(c: &Connection) -> Result<Option<Team>> {
    let any: bool = c.query_row("SELECT EXISTS (SELECT 1 FROM teams)", [], |r| r.get(0))?;
    if any {
        return Ok(None);
    }
    create_team(c, "default").map(Some)
}

pub(super) fn create_key(c: &Connection, k: &NewKey) -> Result<ApiKeyInfo> {
    let team: bool =
        c.query_row("SELECT EXISTS (SELECT 1 FROM teams WHERE id = ?1)", [k.team_id], |r| {
            r.get(0)
        })?;
    if !team {
        return Err(StoreError::NotFound("team"));
    }
    let bots = k.bots.as_ref().map(|b| serde_json::to_string(b).unwrap_or_default());
    c.execute(
        "INSERT INTO api_keys (team_id, name, hash, hint, scopes, bots, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![k.team_id, k.name, &k.hash[..], k.hint, k.scopes.bits(), bots, now_millis()],
    )?;
    let id = c.last_insert_rowid();
    Ok(c.query_row(
        &format!("SELECT {} FROM api_keys WHERE id = ?1", rows::KEY_SELECT),
        [id],
        rows::api_key,
    )?)
}

pub(super) fn revoke_key(c: &Connection, team_id: Option<i64>, key_id: i64) -> Result<()> {
    let n = c.execute(
        "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL \
         AND (?3 IS NULL OR team_id = ?3)",
        params![now_millis(), key_id, team_id],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound("key"));
    }
    Ok(())
}
