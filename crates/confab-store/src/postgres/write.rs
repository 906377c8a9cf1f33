//! Ingest, erasure, teams and keys, each inside the caller's transaction. Several servers write
//! at once: a write locks the conversations it touches (in one order, so writers wait for each
//! other instead of deadlocking) before it reads their summaries, so every counter stays exact.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use confab_core::NewMessage;
use confab_core::conversation::IngestOutcome;
use confab_core::flow::StepKey;
use confab_core::rollup::{Deltas, MessageFacts, is_not_handled, token_usage};
use confab_core::summary::Summary;
use confab_core::time::{Millis, now_millis};
use confab_core::webhook::Event;
use sqlx::{PgConnection, Row};

use super::rows::SummaryArrays;
use super::{datapoints, rollup, rows};
use crate::columns::{CONVERSATION_SELECT, KEY_SELECT, summary_columns};
use crate::{ApiKeyInfo, NewKey, Result, StoreError, Team};

pub(super) async fn bot_pk(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT id FROM bots WHERE team_id = $1 AND bot_id = $2")
        .bind(team_id)
        .bind(bot_id)
        .fetch_optional(&mut *c)
        .await?)
}

/// The bot's and the conversation's row ids; with `lock`, the conversation is locked against
/// concurrent writes until the transaction ends.
pub(super) async fn locate(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    id: &str,
    lock: bool,
) -> Result<(i64, i64)> {
    let bot_pk = bot_pk(c, team_id, bot_id).await?.ok_or(StoreError::NotFound("bot"))?;
    let sql = if lock {
        "SELECT id FROM conversations WHERE bot_pk = $1 AND conversation_id = $2 FOR UPDATE"
    } else {
        "SELECT id FROM conversations WHERE bot_pk = $1 AND conversation_id = $2"
    };
    let pk = sqlx::query_scalar(sql)
        .bind(bot_pk)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or(StoreError::NotFound("conversation"))?;
    Ok((bot_pk, pk))
}

/// The bot's row id, creating the bot when allowed (once, however many servers try at once).
pub(super) async fn bot_pk_or_create(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    create: bool,
) -> Result<i64> {
    if let Some(pk) = bot_pk(c, team_id, bot_id).await? {
        return Ok(pk);
    }
    if !create {
        return Err(StoreError::NotFound("bot"));
    }
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO bots (team_id, bot_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (team_id, bot_id) DO NOTHING RETURNING id",
    )
    .bind(team_id)
    .bind(bot_id)
    .bind(now_millis())
    .fetch_optional(&mut *c)
    .await?;
    match inserted {
        Some(pk) => Ok(pk),
        // Another server created it meanwhile; the insert waited for its commit.
        None => bot_pk(c, team_id, bot_id).await?.ok_or(StoreError::NotFound("bot")),
    }
}

pub(super) async fn put_datapoint_schema(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    create_bot: bool,
    json: &str,
) -> Result<()> {
    let pk = bot_pk_or_create(c, team_id, bot_id, create_bot).await?;
    sqlx::query("UPDATE bots SET datapoint_schema = $2 WHERE id = $1")
        .bind(pk)
        .bind(json)
        .execute(&mut *c)
        .await?;
    Ok(())
}

// The ingest path's statements, built once.
static LOCK_CONVERSATIONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CONVERSATION_SELECT}, c.extract_state, c.extract_last_ts \
         FROM conversations c JOIN bots b ON b.id = c.bot_pk \
         WHERE c.bot_pk = $1 AND c.conversation_id = ANY($2) \
         ORDER BY c.conversation_id COLLATE \"C\" FOR UPDATE OF c"
    )
});
static INSERT_CONVERSATIONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO conversations (bot_pk, id, conversation_id, {}) \
         SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], {}) \
         ON CONFLICT (bot_pk, conversation_id) DO NOTHING RETURNING conversation_id, id",
        summary_columns().join(", "),
        SummaryArrays::unnest_args(4)
    )
});
static UPDATE_CONVERSATIONS: LazyLock<String> = LazyLock::new(|| {
    let cols = summary_columns();
    let sets: Vec<String> = cols.iter().map(|col| format!("{col} = u.{col}")).collect();
    format!(
        "UPDATE conversations c SET status = 0, ended_at = NULL, finalise_lease = NULL, {} \
         FROM UNNEST($2::bigint[], {}) AS u (id, {}) WHERE c.bot_pk = $1 AND c.id = u.id",
        sets.join(", "),
        SummaryArrays::unnest_args(3),
        cols.join(", ")
    )
});

/// A conversation a write touches, locked (or created by it).
struct Open {
    pk: i64,
    /// The summary as stored before this write; `None` if the write created the conversation.
    before: Option<Summary>,
    summary: Summary,
    /// The extraction walk as stored.
    walk: (Option<String>, Option<i64>),
    /// The indexes (in the write's input) of the messages this write stores in it.
    accepted: Vec<usize>,
}

/// Locks the stored conversations among `ids`, in one order (so that concurrent writers wait
/// for each other instead of deadlocking), and reads them.
async fn lock_conversations(
    c: &mut PgConnection,
    bot_pk: i64,
    ids: &[&str],
) -> Result<HashMap<String, Open>> {
    let mut out = HashMap::with_capacity(ids.len());
    for row in sqlx::query(&LOCK_CONVERSATIONS).bind(bot_pk).bind(ids).fetch_all(&mut *c).await? {
        let conv = rows::conversation(&row, 0)?;
        let open = Open {
            pk: conv.pk,
            before: Some(conv.summary.clone()),
            summary: conv.summary,
            walk: (row.try_get(25)?, row.try_get(26)?),
            accepted: vec![],
        };
        out.insert(conv.conversation_id, open);
    }
    Ok(out)
}

/// `n` new row ids of `table`, ascending.
async fn next_ids(c: &mut PgConnection, table: &str, n: usize) -> Result<Vec<i64>> {
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)",
    )
    .bind(table)
    .bind(n as i64)
    .fetch_all(&mut *c)
    .await?;
    ids.sort_unstable();
    Ok(ids)
}

/// Inserts the conversations this write creates, each with its summary after all its messages;
/// returns their row ids. One another server created meanwhile (the insert waited for its
/// commit) is left out, to be locked and updated like a stored one.
async fn insert_conversations(
    c: &mut PgConnection,
    bot_pk: i64,
    new: &[(&str, Open)],
) -> Result<HashMap<String, i64>> {
    if new.is_empty() {
        return Ok(HashMap::new());
    }
    // Row ids follow the order the conversations first appear in the write, as they do on
    // SQLite (the numeric ids vendor APIs show, and the tie-break of the lists); rows are
    // inserted in the lock order.
    let mut appearance: Vec<usize> = (0..new.len()).collect();
    appearance.sort_by_key(|&i| new[i].1.accepted[0]);
    let mut pks = vec![0; new.len()];
    for (i, pk) in appearance.into_iter().zip(next_ids(c, "conversations", new.len()).await?) {
        pks[i] = pk;
    }
    let mut arrays = SummaryArrays::default();
    for (_, conv) in new {
        arrays.push(&conv.summary);
    }
    let ids: Vec<&str> = new.iter().map(|(id, _)| *id).collect();
    let q = sqlx::query(&INSERT_CONVERSATIONS).bind(bot_pk).bind(pks).bind(ids);
    let inserted = arrays.bind(q).fetch_all(&mut *c).await?;
    inserted.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Writes the summaries of stored conversations a write added messages to.
async fn update_conversations(c: &mut PgConnection, bot_pk: i64, convs: &[&Open]) -> Result<()> {
    if convs.is_empty() {
        return Ok(());
    }
    let mut arrays = SummaryArrays::default();
    for conv in convs {
        arrays.push(&conv.summary);
    }
    let pks: Vec<i64> = convs.iter().map(|conv| conv.pk).collect();
    let q = sqlx::query(&UPDATE_CONVERSATIONS).bind(bot_pk).bind(pks);
    arrays.bind(q).execute(&mut *c).await?;
    Ok(())
}

/// `(conversation row id, client id)` of those among `client_ids` already stored in the
/// conversations `pks`.
async fn stored_client_ids(
    c: &mut PgConnection,
    bot_pk: i64,
    pks: &[i64],
    client_ids: &[&str],
) -> Result<HashSet<(i64, String)>> {
    if pks.is_empty() || client_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let found: Vec<(i64, String)> = sqlx::query_as(
        "SELECT conversation_pk, client_id FROM messages WHERE bot_pk = $1 \
         AND conversation_pk = ANY($2) AND client_id = ANY($3)",
    )
    .bind(bot_pk)
    .bind(pks)
    .bind(client_ids)
    .fetch_all(&mut *c)
    .await?;
    Ok(found.into_iter().collect())
}

/// The messages `indexes` (one conversation's, in input order) that are not duplicates: of a
/// client id already stored (`known`) or earlier in the same write.
fn accept(messages: &[NewMessage], indexes: &[usize], known: impl Fn(&str) -> bool) -> Vec<usize> {
    let mut seen: HashSet<&str> = HashSet::new();
    indexes
        .iter()
        .copied()
        .filter(|&i| match messages[i].client_id.as_deref() {
            Some(cid) => !known(cid) && seen.insert(cid),
            None => true,
        })
        .collect()
}

/// Inserts the messages `(row id, conversation row id, message)` in one statement.
async fn insert_messages(
    c: &mut PgConnection,
    bot_pk: i64,
    batch: &[(i64, i64, &NewMessage)],
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let n = batch.len();
    let (mut ids, mut convs, mut roles, mut ts) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut client_ids, mut contents, mut step_ids, mut step_types, mut metadata, mut search) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (id, conv, m) in batch {
        ids.push(*id);
        convs.push(*conv);
        roles.push(m.role.code());
        ts.push(m.timestamp);
        client_ids.push(m.client_id.as_deref());
        contents.push(m.content.as_str());
        step_ids.push(m.step.as_ref().map(|s| s.id.as_str()));
        step_types.push(m.step.as_ref().and_then(|s| s.kind.as_deref()));
        metadata.push(m.metadata.as_ref().map(|m| serde_json::to_string(m).unwrap_or_default()));
        search.push(rows::tsvector(&m.content));
    }
    sqlx::query(
        "INSERT INTO messages (bot_pk, id, conversation_pk, client_id, role, content, ts, \
         step_id, step_type, metadata, search) \
         SELECT $1, u.id, u.conversation_pk, u.client_id, u.role, u.content, u.ts, u.step_id, \
         u.step_type, u.metadata, u.search::tsvector \
         FROM UNNEST($2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::text[], \
         $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[]) \
         AS u (id, conversation_pk, client_id, role, content, ts, step_id, step_type, metadata, \
         search)",
    )
    .bind(bot_pk)
    .bind(ids)
    .bind(convs)
    .bind(client_ids)
    .bind(roles)
    .bind(contents)
    .bind(ts)
    .bind(step_ids)
    .bind(step_types)
    .bind(metadata)
    .bind(search)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub(super) async fn ingest(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    create_bot: bool,
    messages: &[NewMessage],
) -> Result<Vec<IngestOutcome>> {
    let bot_pk = bot_pk_or_create(c, team_id, bot_id, create_bot).await?;
    // A bot that redacts has only the masked text stored, summaries and search words included;
    // extraction below reads the originals, which go nowhere else.
    let originals = messages;
    let (extractor, redactor, goals) = datapoints::bot_rules(c, bot_pk).await?;
    let is_goal = |step: &str| goals.iter().any(|g| g == step);
    let masked = redactor.map(|r| crate::extraction::redact_messages(&r, messages));
    let messages = masked.as_deref().unwrap_or(originals);
    // Each conversation's messages in input order; conversations in id order (the lock order).
    let mut by_conversation: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, m) in messages.iter().enumerate() {
        by_conversation.entry(m.conversation_id.as_str()).or_default().push(i);
    }
    let ids: Vec<&str> = by_conversation.keys().copied().collect();
    let mut stored = lock_conversations(c, bot_pk, &ids).await?;

    // New conversations are inserted whole: summary after all their messages.
    let mut new: Vec<(&str, Open)> = vec![];
    for (id, indexes) in &by_conversation {
        if stored.contains_key(*id) {
            continue;
        }
        let accepted = accept(messages, indexes, |_| false);
        let mut summary = Summary::first(&messages[accepted[0]]);
        for &i in &accepted[1..] {
            summary.apply(&messages[i]);
        }
        for &i in &accepted {
            summary.reach_goal(&messages[i], is_goal);
        }
        new.push((id, Open { pk: 0, before: None, summary, walk: (None, None), accepted }));
    }
    let created = insert_conversations(c, bot_pk, &new).await?;
    let mut open: Vec<Open> = Vec::with_capacity(by_conversation.len());
    let mut raced: Vec<&str> = vec![];
    for (id, mut conv) in new {
        match created.get(id) {
            Some(&pk) => {
                conv.pk = pk;
                open.push(conv);
            }
            None => raced.push(id),
        }
    }
    if !raced.is_empty() {
        stored.extend(lock_conversations(c, bot_pk, &raced).await?);
    }

    // Stored conversations: duplicates are client ids they already hold.
    let existing: Vec<(&str, Open)> =
        by_conversation.keys().filter_map(|id| Some((*id, stored.remove(*id)?))).collect();
    let pks: Vec<i64> = existing.iter().map(|(_, conv)| conv.pk).collect();
    let client_ids: Vec<&str> = existing
        .iter()
        .flat_map(|(id, _)| &by_conversation[id])
        .filter_map(|&i| messages[i].client_id.as_deref())
        .collect();
    let known = stored_client_ids(c, bot_pk, &pks, &client_ids).await?;
    let mut updated = vec![];
    for (id, mut conv) in existing {
        let pk = conv.pk;
        conv.accepted =
            accept(messages, &by_conversation[id], |cid| known.contains(&(pk, cid.to_owned())));
        for &i in &conv.accepted {
            conv.summary.apply(&messages[i]);
            conv.summary.reach_goal(&messages[i], is_goal);
        }
        if !conv.accepted.is_empty() {
            updated.push(open.len());
        }
        open.push(conv);
    }

    let mut outcomes = vec![IngestOutcome::Duplicate; messages.len()];
    let total: usize = open.iter().map(|o| o.accepted.len()).sum();
    let mut next = next_ids(c, "messages", total).await?.into_iter();
    let mut batch = Vec::with_capacity(total);
    let mut per_conversation: Vec<Vec<(i64, usize)>> = Vec::with_capacity(open.len());
    for conv in &open {
        let mut rows = Vec::with_capacity(conv.accepted.len());
        for &i in &conv.accepted {
            let row_id = next.next().expect("a row id per stored message");
            batch.push((row_id, conv.pk, &messages[i]));
            rows.push((row_id, i));
            outcomes[i] = IngestOutcome::Stored;
        }
        per_conversation.push(rows);
    }
    insert_messages(c, bot_pk, &batch).await?;
    update_conversations(c, bot_pk, &updated.iter().map(|&i| &open[i]).collect::<Vec<_>>()).await?;

    let mut deltas = Deltas::default();
    let now = now_millis();
    for (conv, stored) in open.into_iter().zip(per_conversation) {
        if stored.is_empty() {
            continue;
        }
        let new: Vec<MessageFacts> = stored
            .iter()
            .map(|&(row_id, i)| {
                let m = &messages[i];
                MessageFacts {
                    order: (m.timestamp, row_id),
                    role: m.role,
                    not_handled: is_not_handled(m.metadata.as_ref()),
                    usage: token_usage(m.metadata.as_ref()),
                    step: m.step.as_ref().map(StepKey::of),
                }
            })
            .collect();
        rollup::account(
            c,
            &mut deltas,
            (bot_pk, conv.pk),
            conv.before.as_ref(),
            &conv.summary,
            new,
        )
        .await?;
        if let Some(ex) = &extractor {
            let mut new: Vec<(i64, &NewMessage)> =
                stored.iter().map(|&(row_id, i)| (row_id, &originals[i])).collect();
            let (state, last_ts) = &conv.walk;
            let walk = (state.as_deref(), *last_ts);
            if datapoints::on_ingest(c, ex, (bot_pk, conv.pk), walk, &mut new, now).await? {
                datapoints::enqueue(c, bot_pk, conv.pk, Event::DatapointsUpdated, now).await?;
            }
        }
    }
    rollup::flush(c, bot_pk, deltas).await?;
    Ok(outcomes)
}

/// Removes conversations with their messages (and so their search entries), values and queued
/// events.
async fn erase_conversations(c: &mut PgConnection, bot_pk: i64, pks: &[i64]) -> Result<()> {
    for table in ["messages", "datapoints", "webhook_deliveries"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE bot_pk = $1 AND conversation_pk = ANY($2)"
        ))
        .bind(bot_pk)
        .bind(pks)
        .execute(&mut *c)
        .await?;
    }
    sqlx::query("DELETE FROM conversations WHERE bot_pk = $1 AND id = ANY($2)")
        .bind(bot_pk)
        .bind(pks)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub(super) async fn delete_conversation(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    id: &str,
) -> Result<()> {
    let (bot_pk, pk) = locate(c, team_id, bot_id, id, true).await?;
    erase_conversations(c, bot_pk, &[pk]).await
}

pub(super) async fn delete_user(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    user_id: &str,
) -> Result<u64> {
    let bot_pk = bot_pk(c, team_id, bot_id).await?.ok_or(StoreError::NotFound("bot"))?;
    let pks: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM conversations WHERE bot_pk = $1 AND user_id = $2 \
         ORDER BY conversation_id COLLATE \"C\" FOR UPDATE",
    )
    .bind(bot_pk)
    .bind(user_id)
    .fetch_all(&mut *c)
    .await?;
    erase_conversations(c, bot_pk, &pks).await?;
    Ok(pks.len() as u64)
}

/// Erases up to `limit` conversations past their bot's retention at `now`. Each is locked
/// `SKIP LOCKED` before it is erased: a concurrent call (another server's job) takes others,
/// and one it erased is gone by the time this call could lock it, so each is erased and counted
/// once. A conversation an ingest holds is skipped; when the ingest commits it is no longer old.
pub(super) async fn expire_conversations(
    c: &mut PgConnection,
    now: Millis,
    limit: u32,
) -> Result<u64> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT c.bot_pk, c.id FROM bots b JOIN conversations c ON c.bot_pk = b.id \
         WHERE b.retention_ms IS NOT NULL AND c.last_message_at < $1 - b.retention_ms \
         LIMIT $2 FOR UPDATE OF c SKIP LOCKED",
    )
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut *c)
    .await?;
    let mut by_bot: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (bot_pk, pk) in &rows {
        by_bot.entry(*bot_pk).or_default().push(*pk);
    }
    for (bot_pk, pks) in by_bot {
        erase_conversations(c, bot_pk, &pks).await?;
    }
    Ok(rows.len() as u64)
}

pub(super) async fn create_team(c: &mut PgConnection, name: &str) -> Result<Team> {
    let created_at = now_millis();
    let id: i64 =
        sqlx::query_scalar("INSERT INTO teams (name, created_at) VALUES ($1, $2) RETURNING id")
            .bind(name)
            .bind(created_at)
            .fetch_one(&mut *c)
            .await?;
    Ok(Team { id, name: name.to_owned(), created_at })
}

/// The advisory lock that makes "create the first team" happen once when servers start
/// together.
const FIRST_TEAM_LOCK: i64 = 0x636f_6e66_6174;

pub(super) async fn create_first_team(c: &mut PgConnection) -> Result<Option<Team>> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(FIRST_TEAM_LOCK).execute(&mut *c).await?;
    let any: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM teams)").fetch_one(&mut *c).await?;
    if any {
        return Ok(None);
    }
    create_team(c, "default").await.map(Some)
}

pub(super) async fn create_key(c: &mut PgConnection, k: &NewKey) -> Result<ApiKeyInfo> {
    let team: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM teams WHERE id = $1)")
        .bind(k.team_id)
        .fetch_one(&mut *c)
        .await?;
    if !team {
        return Err(StoreError::NotFound("team"));
    }
    let bots = k.bots.as_ref().map(|b| serde_json::to_string(b).unwrap_or_default());
    let row = sqlx::query(&format!(
        "INSERT INTO api_keys (team_id, name, hash, hint, scopes, bots, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {KEY_SELECT}"
    ))
    .bind(k.team_id)
    .bind(&k.name)
    .bind(&k.hash[..])
    .bind(&k.hint)
    .bind(k.scopes.bits())
    .bind(bots)
    .bind(now_millis())
    .fetch_one(&mut *c)
    .await?;
    Ok(rows::api_key(&row)?)
}

pub(super) async fn revoke_key(
    c: &mut PgConnection,
    team_id: Option<i64>,
    key_id: i64,
) -> Result<()> {
    let n = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
         AND ($3::bigint IS NULL OR team_id = $3)",
    )
    .bind(now_millis())
    .bind(key_id)
    .bind(team_id)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound("key"));
    }
    Ok(())
}
