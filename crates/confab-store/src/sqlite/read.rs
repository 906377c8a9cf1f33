//! Queries on the read-only connections.

use confab_core::auth::{Caller, Scopes};
use confab_core::conversation::{Conversation, Message, Status};
use confab_core::query::{ConversationFilter, Cursor, Page, PageRequest, TimeField};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::rows::{self, CONVERSATION_SELECT, DIM_COLUMNS, MESSAGE_SELECT};
use super::write::{SEARCH_ROWID_SHIFT, bot_pk, fold_for_search};
use crate::{ApiKeyInfo, Bot, BotSelector, DatapointFill, OffsetFilter, Result, StoreError, Team};

fn time_column(f: TimeField) -> &'static str {
    match f {
        TimeField::StartedAt => "c.started_at",
        TimeField::LastMessageAt => "c.last_message_at",
    }
}

/// An FTS5 query that requires every term: each is quoted, so none is read as syntax.
fn fts_query(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", fold_for_search(t).replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Conversations with a message matching a full-text query (`?`): the index's row ids name the
/// conversation (see `write::SEARCH_ROWID_SHIFT`), so no message row is read.
fn search_clause() -> String {
    format!(
        "c.id IN (SELECT rowid >> {SEARCH_ROWID_SHIFT} FROM messages_fts WHERE messages_fts MATCH ?)"
    )
}

/// A `WHERE` clause under construction, with its parameters.
#[derive(Default)]
pub(super) struct Where {
    sql: Vec<String>,
    pub(super) values: Vec<Value>,
}

impl Where {
    pub(super) fn push(&mut self, clause: &str, values: impl IntoIterator<Item = Value>) {
        // Each `?` becomes the next numbered parameter.
        let mut out = String::with_capacity(clause.len() + 8);
        let mut values = values.into_iter();
        for ch in clause.chars() {
            if ch == '?' {
                self.values.push(values.next().expect("a value for each placeholder"));
                out.push_str(&format!("?{}", self.values.len()));
            } else {
                out.push(ch);
            }
        }
        self.sql.push(out);
    }

    pub(super) fn clause(&self) -> String {
        self.sql.join(" AND ")
    }
}

/// `?, ?, ?` for `n` values.
pub(super) fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

pub(super) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// The conditions on `conversations c` of one bot that select what `f` asks for, from
/// `cursor` on when given; the list and the fill rates share them. `NotFound` for an unknown
/// bot. Only `c` is named, so the caller joins what it needs.
fn filter_where(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    f: &ConversationFilter,
    cursor: Option<Cursor>,
) -> Result<Where> {
    let bot_pk = bot_pk(c, team_id, bot_id)?.ok_or(StoreError::NotFound("bot"))?;
    let mut w = Where::default();
    w.push("c.bot_pk = ?", [Value::Integer(bot_pk)]);
    let tf = time_column(f.time_field);
    if let Some(from) = f.from {
        w.push(&format!("{tf} >= ?"), [Value::Integer(from)]);
    }
    if let Some(to) = f.to {
        w.push(&format!("{tf} < ?"), [Value::Integer(to)]);
    }
    for (dim, values) in &f.dims {
        w.push(
            &format!("c.{} IN ({})", DIM_COLUMNS[*dim as usize], marks(values.len())),
            values.iter().map(|v| text(v)),
        );
    }
    if let Some(status) = f.status {
        w.push("c.status = ?", [Value::Integer(i64::from(status == Status::Ended))]);
    }
    if let Some(n) = f.min_messages {
        w.push("c.message_count >= ?", [Value::Integer(n)]);
    }
    if let Some(done) = f.completed {
        // The stamp of the first message at a goal step (core::summary::Stamps::goal).
        let test = if done { "IS NOT NULL" } else { "IS NULL" };
        w.push(&format!("json_extract(c.stamps, '$.g') {test}"), []);
    }
    for (key, v) in &f.metadata {
        let path = format!("$.\"{key}\"");
        w.push(
            "(CASE json_type(c.metadata, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
             ELSE CAST(json_extract(c.metadata, ?) AS TEXT) END) = ?",
            [text(&path), text(&path), text(v)],
        );
    }
    for (key, value) in &f.datapoints {
        w.push(
            "EXISTS (SELECT 1 FROM datapoints d WHERE d.conversation_pk = c.id AND d.key = ? \
             AND (? IS NULL OR CAST(json_extract(d.value, '$') AS TEXT) = ?))",
            [
                text(key),
                value.as_deref().map_or(Value::Null, text),
                value.as_deref().map_or(Value::Null, text),
            ],
        );
    }
    // Keyed by the conversation, so each test walks `messages_conversation` for one
    // conversation instead of the bot's messages (there is no index on steps).
    for step in &f.steps {
        w.push(
            "EXISTS (SELECT 1 FROM messages m WHERE m.conversation_pk = c.id AND m.step_id = ?)",
            [text(step)],
        );
    }
    if let Some(step) = &f.last_step {
        w.push("c.last_step_id = ?", [text(step)]);
    }
    if !f.search.is_empty() {
        w.push(&search_clause(), [Value::Text(fts_query(&f.search))]);
    }
    if let Some(cur) = cursor {
        let sort = time_column(f.sort);
        w.push(
            &format!("({sort} < ? OR ({sort} = ? AND c.id < ?))"),
            [Value::Integer(cur.key), Value::Integer(cur.key), Value::Integer(cur.pk)],
        );
    }
    Ok(w)
}

pub(super) fn list_conversations(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    f: &ConversationFilter,
    page: &PageRequest,
) -> Result<Page<Conversation>> {
    let w = filter_where(c, team_id, bot_id, f, page.cursor)?;
    let sort = time_column(f.sort);
    let limit = i64::from(page.limit);
    let sql = format!(
        "SELECT {CONVERSATION_SELECT} FROM conversations c JOIN bots b ON b.id = c.bot_pk \
         WHERE {} ORDER BY {sort} DESC, c.id DESC LIMIT {}",
        w.clause(),
        limit + 1
    );
    let mut items: Vec<Conversation> = c
        .prepare_cached(&sql)?
        .query_map(params_from_iter(w.values), |r| rows::conversation(r, 0))?
        .collect::<rusqlite::Result<_>>()?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(page.limit as usize);
        items.last().map(|last| Cursor {
            sort: f.sort,
            key: match f.sort {
                TimeField::StartedAt => last.summary.started_at,
                TimeField::LastMessageAt => last.summary.last_message_at,
            },
            pk: last.pk,
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// One statement, so the count and the keys come from one snapshot: the row with no key is the
/// number of conversations, the others the conversations per key (one datapoint row per
/// conversation and key).
pub(super) fn datapoint_fill(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    f: &ConversationFilter,
) -> Result<DatapointFill> {
    let w = filter_where(c, team_id, bot_id, f, None)?;
    let sql = format!(
        "WITH matched AS (SELECT c.id FROM conversations c WHERE {}) \
         SELECT NULL, COUNT(*) FROM matched \
         UNION ALL \
         SELECT d.key, COUNT(*) FROM matched JOIN datapoints d ON d.conversation_pk = matched.id \
         GROUP BY d.key",
        w.clause()
    );
    let mut fill = DatapointFill::default();
    let mut stmt = c.prepare_cached(&sql)?;
    let mut found = stmt.query(params_from_iter(w.values))?;
    while let Some(r) = found.next()? {
        match r.get::<_, Option<String>>(0)? {
            None => fill.conversations = r.get(1)?,
            Some(key) => fill.keys.push((key, r.get(1)?)),
        }
    }
    // Sorted here, by code point, so both backends agree whatever the database's collation.
    fill.keys.sort();
    Ok(fill)
}

pub(super) fn messages_of(c: &Connection, conversation_pk: i64) -> Result<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_SELECT} FROM messages m WHERE m.conversation_pk = ?1 ORDER BY m.ts, m.id"
    );
    Ok(c.prepare_cached(&sql)?
        .query_map([conversation_pk], |r| rows::message(r, 0))?
        .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn get_conversation(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    id: &str,
) -> Result<(Conversation, Vec<Message>)> {
    let sql = format!(
        "SELECT {CONVERSATION_SELECT} FROM conversations c JOIN bots b ON b.id = c.bot_pk \
         WHERE b.team_id = ?1 AND b.bot_id = ?2 AND c.conversation_id = ?3"
    );
    let conv = c
        .prepare_cached(&sql)?
        .query_row(params![team_id, bot_id, id], |r| rows::conversation(r, 0))
        .optional()?
        .ok_or(StoreError::NotFound("conversation"))?;
    let messages = messages_of(c, conv.pk)?;
    Ok((conv, messages))
}

pub(super) fn list_conversations_offset(
    c: &Connection,
    team_id: i64,
    bots: &BotSelector,
    f: &OffsetFilter,
    offset: u64,
    limit: u32,
    count_total: bool,
) -> Result<(Vec<Conversation>, Option<u64>)> {
    let mut w = Where::default();
    match bots {
        BotSelector::One(bot_id) => {
            let pk = bot_pk(c, team_id, bot_id)?.ok_or(StoreError::NotFound("bot"))?;
            w.push("c.bot_pk = ?", [Value::Integer(pk)]);
        }
        BotSelector::Team(None) => w.push("b.team_id = ?", [Value::Integer(team_id)]),
        BotSelector::Team(Some(ids)) => {
            let mut values = vec![Value::Integer(team_id)];
            values.extend(ids.iter().map(|s| text(s)));
            w.push(&format!("b.team_id = ? AND b.bot_id IN ({})", marks(ids.len())), values);
        }
    }
    if let Some(from) = f.from {
        w.push("c.started_at >= ?", [Value::Integer(from)]);
    }
    if let Some(to) = f.to {
        w.push("c.started_at < ?", [Value::Integer(to)]);
    }
    if let Some(ch) = &f.channels {
        let mut parts = vec![];
        let mut values = vec![];
        if !ch.any_of.is_empty() {
            parts.push(format!("c.channel_type IN ({})", marks(ch.any_of.len())));
            values.extend(ch.any_of.iter().map(|s| text(s)));
        }
        if let Some(known) = &ch.or_none_of {
            parts.push("c.channel_type IS NULL".to_owned());
            if !known.is_empty() {
                parts.push(format!("c.channel_type NOT IN ({})", marks(known.len())));
                values.extend(known.iter().map(|s| text(s)));
            }
        }
        if parts.is_empty() {
            parts.push("0".to_owned());
        }
        w.push(&format!("({})", parts.join(" OR ")), values);
    }
    let from = "FROM conversations c JOIN bots b ON b.id = c.bot_pk";
    let total = if count_total {
        let n: i64 = c
            .prepare_cached(&format!("SELECT COUNT(*) {from} WHERE {}", w.clause()))?
            .query_row(params_from_iter(w.values.iter()), |r| r.get(0))?;
        Some(n as u64)
    } else {
        None
    };
    let sql = format!(
        "SELECT {CONVERSATION_SELECT} {from} WHERE {} ORDER BY c.started_at DESC, c.id DESC LIMIT {limit} OFFSET {offset}",
        w.clause()
    );
    let items = c
        .prepare_cached(&sql)?
        .query_map(params_from_iter(w.values.iter()), |r| rows::conversation(r, 0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok((items, total))
}

pub(super) fn transcripts(
    c: &Connection,
    team_id: i64,
    pks: &[i64],
) -> Result<Vec<(i64, Vec<Message>)>> {
    each_in_team(c, team_id, pks, messages_of)
}

/// `load` for each of the conversations `pks` that belong to `team_id`, in the order given;
/// the others are left out, as if they did not exist.
pub(super) fn each_in_team<T>(
    c: &Connection,
    team_id: i64,
    pks: &[i64],
    load: impl Fn(&Connection, i64) -> Result<T>,
) -> Result<Vec<(i64, T)>> {
    let mut in_team = c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM conversations c JOIN bots b ON b.id = c.bot_pk \
         WHERE c.id = ?1 AND b.team_id = ?2)",
    )?;
    let mut out = Vec::with_capacity(pks.len());
    for &pk in pks {
        if in_team.query_row(params![pk, team_id], |r| r.get::<_, bool>(0))? {
            out.push((pk, load(c, pk)?));
        }
    }
    Ok(out)
}

pub(super) fn bot_ids(c: &Connection, team_id: i64) -> Result<Vec<String>> {
    Ok(c.prepare_cached("SELECT bot_id FROM bots WHERE team_id = ?1 ORDER BY bot_id")?
        .query_map([team_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn list_bots(c: &Connection, team_id: i64) -> Result<Vec<Bot>> {
    Ok(c.prepare_cached(
        "SELECT b.bot_id, b.created_at, (SELECT COUNT(*) FROM conversations c WHERE c.bot_pk = b.id) \
         FROM bots b WHERE b.team_id = ?1 ORDER BY b.bot_id",
    )?
    .query_map([team_id], |r| Ok(Bot { bot_id: r.get(0)?, created_at: r.get(1)?, conversations: r.get(2)? }))?
    .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn list_teams(c: &Connection) -> Result<Vec<Team>> {
    Ok(c.prepare_cached("SELECT id, name, created_at FROM teams ORDER BY id")?
        .query_map([], |r| Ok(Team { id: r.get(0)?, name: r.get(1)?, created_at: r.get(2)? }))?
        .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn list_keys(c: &Connection, team_id: Option<i64>) -> Result<Vec<ApiKeyInfo>> {
    let sql = format!(
        "SELECT {} FROM api_keys WHERE ?1 IS NULL OR team_id = ?1 ORDER BY id",
        rows::KEY_SELECT
    );
    Ok(c.prepare_cached(&sql)?
        .query_map([team_id], rows::api_key)?
        .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn caller_for_key(c: &Connection, hash: &[u8; 32]) -> Result<Option<Caller>> {
    Ok(c.prepare_cached(
        "SELECT id, team_id, scopes, bots FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL",
    )?
    .query_row([&hash[..]], |r| {
        let bots: Option<String> = r.get(3)?;
        Ok(Caller {
            key_id: r.get(0)?,
            team_id: r.get(1)?,
            scopes: Scopes::from_bits(r.get(2)?),
            bots: bots.and_then(|b| serde_json::from_str(&b).ok()),
        })
    })
    .optional()?)
}

pub(super) fn datapoint_schema(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
) -> Result<Option<confab_core::datapoints::SchemaInput>> {
    let json: Option<String> = c
        .prepare_cached("SELECT datapoint_schema FROM bots WHERE team_id = ?1 AND bot_id = ?2")?
        .query_row(params![team_id, bot_id], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound("bot"))?;
    json.map(|j| {
        serde_json::from_str(&j)
            .map_err(|e| StoreError::Database(format!("stored datapoint schema: {e}")))
    })
    .transpose()
}
