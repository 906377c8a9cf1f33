//! Queries that only read.

use confab_core::auth::{Caller, Scopes};
use confab_core::conversation::{Conversation, Message, Status};
use confab_core::query::{ConversationFilter, Cursor, Page, PageRequest, TimeField};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::rows;
use super::write::bot_pk;
use crate::columns::{CONVERSATION_SELECT, DIM_COLUMNS, KEY_SELECT, MESSAGE_SELECT};
use crate::{ApiKeyInfo, Bot, BotSelector, DatapointFill, OffsetFilter, Result, StoreError, Team};

fn time_column(f: TimeField) -> &'static str {
    match f {
        TimeField::StartedAt => "c.started_at",
        TimeField::LastMessageAt => "c.last_message_at",
    }
}

/// Adds ` WHERE …` on `conversations c` of bot `bot_pk` selecting what `f` asks for, from
/// `cursor` on when given; the list and the fill rates share it. Only `c` is named, so the
/// caller joins what it needs. `false` when nothing can match (a search with no searchable
/// word), and the query need not run.
fn push_filter(
    q: &mut QueryBuilder<'_, Postgres>,
    bot_pk: i64,
    f: &ConversationFilter,
    cursor: Option<Cursor>,
) -> bool {
    q.push(" WHERE c.bot_pk = ").push_bind(bot_pk);
    let tf = time_column(f.time_field);
    if let Some(from) = f.from {
        q.push(format_args!(" AND {tf} >= ")).push_bind(from);
    }
    if let Some(to) = f.to {
        q.push(format_args!(" AND {tf} < ")).push_bind(to);
    }
    for (dim, values) in &f.dims {
        q.push(format_args!(" AND c.{} = ANY(", DIM_COLUMNS[*dim as usize]))
            .push_bind(values.clone())
            .push(")");
    }
    if let Some(status) = f.status {
        q.push(" AND c.status = ").push_bind(i64::from(status == Status::Ended));
    }
    if let Some(n) = f.min_messages {
        q.push(" AND c.message_count >= ").push_bind(n);
    }
    if let Some(done) = f.completed {
        // The stamp of the first message at a goal step (core::summary::Stamps::goal).
        let test = if done { "IS NOT NULL" } else { "IS NULL" };
        q.push(format_args!(" AND (c.stamps::json -> 'g') {test}"));
    }
    for (key, v) in &f.metadata {
        // Strings compare as their text, numbers and booleans as JSON writes them.
        q.push(" AND (c.metadata::json ->> ")
            .push_bind(key.clone())
            .push(") = ")
            .push_bind(v.clone());
    }
    for (key, value) in &f.datapoints {
        q.push(
            " AND EXISTS (SELECT 1 FROM datapoints d WHERE d.bot_pk = c.bot_pk \
             AND d.conversation_pk = c.id AND d.key = ",
        )
        .push_bind(key.clone());
        if let Some(v) = value {
            q.push(" AND (d.value::json #>> '{}') = ").push_bind(v.clone());
        }
        q.push(")");
    }
    // Keyed by the conversation, so each test reads `messages_conversation` for one
    // conversation instead of the bot's messages (there is no index on steps).
    for step in &f.steps {
        q.push(
            " AND EXISTS (SELECT 1 FROM messages m WHERE m.bot_pk = c.bot_pk \
             AND m.conversation_pk = c.id AND m.step_id = ",
        )
        .push_bind(step.clone())
        .push(")");
    }
    if let Some(step) = &f.last_step {
        q.push(" AND c.last_step_id = ").push_bind(step.clone());
    }
    if !f.search.is_empty() {
        let Some(query) = rows::tsquery(&f.search) else {
            return false;
        };
        // The bot as a value, not `c.bot_pk`: a subquery naming the outer row would run once
        // per conversation instead of once through the GIN index.
        q.push(" AND c.id IN (SELECT m.conversation_pk FROM messages m WHERE m.bot_pk = ")
            .push_bind(bot_pk)
            .push(" AND m.search @@ ")
            .push_bind(query)
            .push("::tsquery)");
    }
    if let Some(cur) = cursor {
        let sort = time_column(f.sort);
        q.push(format_args!(" AND ({sort} < "))
            .push_bind(cur.key)
            .push(format_args!(" OR ({sort} = "))
            .push_bind(cur.key)
            .push(" AND c.id < ")
            .push_bind(cur.pk)
            .push("))");
    }
    true
}

pub(super) async fn list_conversations(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    f: &ConversationFilter,
    page: &PageRequest,
) -> Result<Page<Conversation>> {
    let bot_pk = bot_pk(c, team_id, bot_id).await?.ok_or(StoreError::NotFound("bot"))?;
    let mut q = QueryBuilder::<Postgres>::new(format!(
        "SELECT {CONVERSATION_SELECT} FROM conversations c JOIN bots b ON b.id = c.bot_pk"
    ));
    if !push_filter(&mut q, bot_pk, f, page.cursor) {
        return Ok(Page { items: vec![], next_cursor: None });
    }
    let sort = time_column(f.sort);
    let limit = i64::from(page.limit);
    q.push(format_args!(" ORDER BY {sort} DESC, c.id DESC LIMIT {}", limit + 1));
    let found = q.build().fetch_all(&mut *c).await?;
    let mut items: Vec<Conversation> =
        found.iter().map(|r| rows::conversation(r, 0)).collect::<sqlx::Result<_>>()?;
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
pub(super) async fn datapoint_fill(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    f: &ConversationFilter,
) -> Result<DatapointFill> {
    let bot_pk = bot_pk(c, team_id, bot_id).await?.ok_or(StoreError::NotFound("bot"))?;
    let mut q = QueryBuilder::<Postgres>::new(
        "WITH matched AS (SELECT c.bot_pk, c.id FROM conversations c",
    );
    if !push_filter(&mut q, bot_pk, f, None) {
        return Ok(DatapointFill::default());
    }
    q.push(
        ") SELECT NULL::text, COUNT(*) FROM matched \
         UNION ALL \
         SELECT d.key, COUNT(*) FROM matched JOIN datapoints d \
         ON d.bot_pk = matched.bot_pk AND d.conversation_pk = matched.id GROUP BY d.key",
    );
    let found: Vec<(Option<String>, i64)> = q.build_query_as().fetch_all(&mut *c).await?;
    let mut fill = DatapointFill::default();
    for (key, n) in found {
        match key {
            None => fill.conversations = n,
            Some(key) => fill.keys.push((key, n)),
        }
    }
    // Sorted here, by code point, so both backends agree whatever the database's collation.
    fill.keys.sort();
    Ok(fill)
}

/// A conversation's messages in time order.
pub(super) async fn messages_of(
    c: &mut PgConnection,
    bot_pk: i64,
    conversation_pk: i64,
) -> Result<Vec<Message>> {
    let found = sqlx::query(&format!(
        "SELECT {MESSAGE_SELECT} FROM messages m WHERE m.bot_pk = $1 AND m.conversation_pk = $2 \
         ORDER BY m.ts, m.id"
    ))
    .bind(bot_pk)
    .bind(conversation_pk)
    .fetch_all(&mut *c)
    .await?;
    Ok(found.iter().map(|r| rows::message(r, 0)).collect::<sqlx::Result<_>>()?)
}

pub(super) async fn get_conversation(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    id: &str,
) -> Result<(Conversation, Vec<Message>)> {
    let row = sqlx::query(&format!(
        "SELECT {CONVERSATION_SELECT}, c.bot_pk FROM conversations c \
         JOIN bots b ON b.id = c.bot_pk \
         WHERE b.team_id = $1 AND b.bot_id = $2 AND c.conversation_id = $3"
    ))
    .bind(team_id)
    .bind(bot_id)
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or(StoreError::NotFound("conversation"))?;
    let conv = rows::conversation(&row, 0)?;
    let bot_pk: i64 = row.try_get(25)?;
    let messages = messages_of(c, bot_pk, conv.pk).await?;
    Ok((conv, messages))
}

pub(super) async fn list_conversations_offset(
    c: &mut PgConnection,
    team_id: i64,
    bots: &BotSelector,
    f: &OffsetFilter,
    offset: u64,
    limit: u32,
    count_total: bool,
) -> Result<(Vec<Conversation>, Option<u64>)> {
    let one_bot = match bots {
        BotSelector::One(bot_id) => {
            Some(bot_pk(c, team_id, bot_id).await?.ok_or(StoreError::NotFound("bot"))?)
        }
        BotSelector::Team(_) => None,
    };
    // The same conditions for the count and the page.
    let filter = |q: &mut QueryBuilder<Postgres>| {
        match (one_bot, bots) {
            (Some(pk), _) => {
                q.push(" c.bot_pk = ").push_bind(pk);
            }
            (None, BotSelector::Team(Some(ids))) => {
                q.push(" b.team_id = ")
                    .push_bind(team_id)
                    .push(" AND b.bot_id = ANY(")
                    .push_bind(ids.clone())
                    .push(")");
            }
            _ => {
                q.push(" b.team_id = ").push_bind(team_id);
            }
        }
        if let Some(from) = f.from {
            q.push(" AND c.started_at >= ").push_bind(from);
        }
        if let Some(to) = f.to {
            q.push(" AND c.started_at < ").push_bind(to);
        }
        if let Some(ch) = &f.channels {
            q.push(" AND (FALSE");
            if !ch.any_of.is_empty() {
                q.push(" OR c.channel_type = ANY(").push_bind(ch.any_of.clone()).push(")");
            }
            if let Some(known) = &ch.or_none_of {
                q.push(" OR c.channel_type IS NULL");
                if !known.is_empty() {
                    q.push(" OR c.channel_type <> ALL(").push_bind(known.clone()).push(")");
                }
            }
            q.push(")");
        }
    };
    let from = "FROM conversations c JOIN bots b ON b.id = c.bot_pk WHERE";
    let total = if count_total {
        let mut q = QueryBuilder::<Postgres>::new(format!("SELECT COUNT(*) {from}"));
        filter(&mut q);
        let n: i64 = q.build_query_scalar().fetch_one(&mut *c).await?;
        Some(n as u64)
    } else {
        None
    };
    let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {CONVERSATION_SELECT} {from}"));
    filter(&mut q);
    q.push(" ORDER BY c.started_at DESC, c.id DESC LIMIT ")
        .push_bind(i64::from(limit))
        .push(" OFFSET ")
        .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
    let found = q.build().fetch_all(&mut *c).await?;
    let items = found.iter().map(|r| rows::conversation(r, 0)).collect::<sqlx::Result<_>>()?;
    Ok((items, total))
}

/// The `(bot row id, conversation row id)` of those of `pks` that belong to `team_id`, in the
/// order given; the others are left out, as if they did not exist.
pub(super) async fn in_team(
    c: &mut PgConnection,
    team_id: i64,
    pks: &[i64],
) -> Result<Vec<(i64, i64)>> {
    let found: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT c.id, c.bot_pk FROM conversations c JOIN bots b ON b.id = c.bot_pk \
         WHERE c.id = ANY($1) AND b.team_id = $2",
    )
    .bind(pks)
    .bind(team_id)
    .fetch_all(&mut *c)
    .await?;
    let bots: std::collections::HashMap<i64, i64> = found.into_iter().collect();
    Ok(pks.iter().filter_map(|pk| Some((*bots.get(pk)?, *pk))).collect())
}

pub(super) async fn transcripts(
    c: &mut PgConnection,
    team_id: i64,
    pks: &[i64],
) -> Result<Vec<(i64, Vec<Message>)>> {
    let found = in_team(c, team_id, pks).await?;
    let (bots, convs): (Vec<i64>, Vec<i64>) = found.iter().copied().unzip();
    let rows = sqlx::query(&format!(
        "SELECT m.conversation_pk, {MESSAGE_SELECT} FROM messages m \
         JOIN UNNEST($1::bigint[], $2::bigint[]) AS t (bot_pk, pk) \
         ON m.bot_pk = t.bot_pk AND m.conversation_pk = t.pk \
         ORDER BY m.conversation_pk, m.ts, m.id"
    ))
    .bind(bots)
    .bind(&convs)
    .fetch_all(&mut *c)
    .await?;
    let mut by_conversation: std::collections::HashMap<i64, Vec<Message>> =
        std::collections::HashMap::new();
    for r in &rows {
        by_conversation.entry(r.try_get(0)?).or_default().push(rows::message(r, 1)?);
    }
    Ok(convs.into_iter().map(|pk| (pk, by_conversation.remove(&pk).unwrap_or_default())).collect())
}

pub(super) async fn bot_ids(c: &mut PgConnection, team_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT bot_id FROM bots WHERE team_id = $1 ORDER BY bot_id COLLATE \"C\"",
    )
    .bind(team_id)
    .fetch_all(&mut *c)
    .await?)
}

pub(super) async fn list_bots(c: &mut PgConnection, team_id: i64) -> Result<Vec<Bot>> {
    let found: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT b.bot_id, b.created_at, \
         (SELECT COUNT(*) FROM conversations c WHERE c.bot_pk = b.id) \
         FROM bots b WHERE b.team_id = $1 ORDER BY b.bot_id COLLATE \"C\"",
    )
    .bind(team_id)
    .fetch_all(&mut *c)
    .await?;
    Ok(found
        .into_iter()
        .map(|(bot_id, created_at, conversations)| Bot { bot_id, created_at, conversations })
        .collect())
}

pub(super) async fn list_teams(c: &mut PgConnection) -> Result<Vec<Team>> {
    let found: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT id, name, created_at FROM teams ORDER BY id")
            .fetch_all(&mut *c)
            .await?;
    Ok(found.into_iter().map(|(id, name, created_at)| Team { id, name, created_at }).collect())
}

pub(super) async fn list_keys(
    c: &mut PgConnection,
    team_id: Option<i64>,
) -> Result<Vec<ApiKeyInfo>> {
    let found = sqlx::query(&format!(
        "SELECT {KEY_SELECT} FROM api_keys WHERE $1::bigint IS NULL OR team_id = $1 ORDER BY id"
    ))
    .bind(team_id)
    .fetch_all(&mut *c)
    .await?;
    Ok(found.iter().map(rows::api_key).collect::<sqlx::Result<_>>()?)
}

pub(super) async fn caller_for_key(
    c: &mut PgConnection,
    hash: &[u8; 32],
) -> Result<Option<Caller>> {
    let row = sqlx::query(
        "SELECT id, team_id, scopes, bots FROM api_keys WHERE hash = $1 AND revoked_at IS NULL",
    )
    .bind(&hash[..])
    .fetch_optional(&mut *c)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let bots: Option<String> = r.try_get(3)?;
    Ok(Some(Caller {
        key_id: r.try_get(0)?,
        team_id: r.try_get(1)?,
        scopes: Scopes::from_bits(r.try_get(2)?),
        bots: bots.and_then(|b| serde_json::from_str(&b).ok()),
    }))
}

pub(super) async fn datapoint_schema(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
) -> Result<Option<confab_core::datapoints::SchemaInput>> {
    let json: Option<String> =
        sqlx::query_scalar("SELECT datapoint_schema FROM bots WHERE team_id = $1 AND bot_id = $2")
            .bind(team_id)
            .bind(bot_id)
            .fetch_optional(&mut *c)
            .await?
            .ok_or(StoreError::NotFound("bot"))?;
    json.map(|j| {
        serde_json::from_str(&j)
            .map_err(|e| StoreError::Database(format!("stored datapoint schema: {e}")))
    })
    .transpose()
}
