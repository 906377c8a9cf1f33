//! Keeping the analytics rollups in step with the messages, in the write's transaction (see
//! `crate::rollups`). Rows are upserted in key order, so that concurrent writers on several
//! servers lock them in the same order.

use std::collections::{HashMap, HashSet};

use confab_core::flow::StepKey;
use confab_core::message::{Role, Step};
use confab_core::rollup::{Deltas, DimsKey, MessageFacts, token_usage};
use confab_core::summary::Summary;
use sqlx::{PgConnection, Row};

use crate::{Result, rollups};

/// The facts of a conversation's stored messages, in order, leaving out `skip` (the messages
/// the running write stored).
pub(super) async fn message_facts(
    c: &mut PgConnection,
    bot_pk: i64,
    conversation_pk: i64,
    skip: &HashSet<i64>,
) -> Result<Vec<MessageFacts>> {
    let rows = sqlx::query(
        "SELECT id, ts, role, step_id, step_type, metadata FROM messages \
         WHERE bot_pk = $1 AND conversation_pk = $2 ORDER BY ts, id",
    )
    .bind(bot_pk)
    .bind(conversation_pk)
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.try_get(0)?;
        if skip.contains(&id) {
            continue;
        }
        let metadata: Option<String> = r.try_get(5)?;
        let step_id: Option<String> = r.try_get(3)?;
        let step = match step_id {
            Some(id) => {
                Some(StepKey { id, kind: r.try_get::<Option<String>, _>(4)?.unwrap_or_default() })
            }
            None => None,
        };
        let role = Role::from_code(r.try_get(2)?).unwrap_or(Role::System);
        out.push(MessageFacts::stored((r.try_get(1)?, id), role, step, metadata.as_deref()));
    }
    Ok(out)
}

/// Records what one conversation's newly stored messages change (see
/// [`crate::rollups::account`]), reading its earlier messages when that needs them.
pub(super) async fn account(
    c: &mut PgConnection,
    deltas: &mut Deltas,
    (bot_pk, conversation_pk): (i64, i64),
    before: Option<&Summary>,
    after: &Summary,
    new: Vec<MessageFacts>,
) -> Result<()> {
    let old = match before {
        Some(before) if rollups::needs_history(before, after, &new) => {
            let skip: HashSet<i64> = new.iter().map(|m| m.order.1).collect();
            Some(message_facts(c, bot_pk, conversation_pk, &skip).await?)
        }
        _ => None,
    };
    rollups::account(deltas, before, after, new, old);
    Ok(())
}

/// The row id of a combination of rollup dimensions, created when new.
async fn dims_id(c: &mut PgConnection, bot_pk: i64, k: &DimsKey) -> Result<i64> {
    let v: Vec<&str> = k.0.iter().map(|x| x.as_deref().unwrap_or("")).collect();
    let select = "SELECT id FROM rollup_dims WHERE bot_pk = $1 AND version = $2 \
         AND channel_type = $3 AND language = $4 AND campaign_id = $5 AND campaign_source = $6";
    let bind = |q: &'static str| {
        let mut q = sqlx::query_scalar::<_, i64>(q).bind(bot_pk);
        for x in &v {
            q = q.bind(*x);
        }
        q
    };
    if let Some(id) = bind(select).fetch_optional(&mut *c).await? {
        return Ok(id);
    }
    let inserted = bind(
        "INSERT INTO rollup_dims (bot_pk, version, channel_type, language, campaign_id, \
         campaign_source) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
    )
    .fetch_optional(&mut *c)
    .await?;
    match inserted {
        Some(id) => Ok(id),
        // Another server created it meanwhile (the insert waited for its commit).
        None => Ok(bind(select).fetch_one(&mut *c).await?),
    }
}

/// Adds the gathered changes to the rows of every level and to the day rows per single
/// dimension: one statement per table.
pub(super) async fn flush(c: &mut PgConnection, bot_pk: i64, mut deltas: Deltas) -> Result<()> {
    deltas.prune();
    if deltas.is_empty() {
        return Ok(());
    }
    let mut ids: HashMap<usize, i64> = HashMap::new();
    for d in rollups::used_dims(&deltas) {
        ids.insert(d, dims_id(c, bot_pk, &deltas.dims[d]).await?);
    }
    let rows = rollups::level_rows(&deltas, |d| ids[&d]);
    if !rows.counters.is_empty() {
        let mut cols: [Vec<i64>; 12] = Default::default();
        for ((dims, level, slot), x) in &rows.counters {
            let values = [
                *dims,
                *level,
                *slot,
                x.conversations,
                x.duration_ms,
                x.handoffs,
                x.messages[0],
                x.messages[1],
                x.messages[2],
                x.messages[3],
                x.not_handled,
                x.completed,
            ];
            for (col, v) in cols.iter_mut().zip(values) {
                col.push(v);
            }
        }
        let mut q = sqlx::query(
            "INSERT INTO rollups (bot_pk, dims_id, level, slot, conversations, duration_ms, \
             handoffs, n_user, n_bot, n_agent, n_system, not_handled, completed) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], \
             $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], \
             $11::bigint[], $12::bigint[], $13::bigint[]) \
             ON CONFLICT (bot_pk, dims_id, level, slot) DO UPDATE SET \
             conversations = rollups.conversations + excluded.conversations, \
             duration_ms = rollups.duration_ms + excluded.duration_ms, \
             handoffs = rollups.handoffs + excluded.handoffs, \
             n_user = rollups.n_user + excluded.n_user, n_bot = rollups.n_bot + excluded.n_bot, \
             n_agent = rollups.n_agent + excluded.n_agent, \
             n_system = rollups.n_system + excluded.n_system, \
             not_handled = rollups.not_handled + excluded.not_handled, \
             completed = rollups.completed + excluded.completed",
        )
        .bind(bot_pk);
        for col in cols {
            q = q.bind(col);
        }
        q.execute(&mut *c).await?;
    }
    if !rows.by_dim.is_empty() {
        // Empty while migration 3 backfills token rows, before migration 4 made the table.
        let (mut keys, mut values, mut sums): ([Vec<i64>; 2], Vec<&str>, [Vec<i64>; 9]) =
            Default::default();
        for ((dim, day, value), x) in &rows.by_dim {
            keys[0].push(*dim);
            keys[1].push(*day);
            values.push(value);
            let [u, b, a, s] = x.messages;
            let counts = [
                x.conversations,
                x.duration_ms,
                x.handoffs,
                u,
                b,
                a,
                s,
                x.not_handled,
                x.completed,
            ];
            for (col, v) in sums.iter_mut().zip(counts) {
                col.push(v);
            }
        }
        let [dim, day] = keys;
        let mut q = sqlx::query(
            "INSERT INTO dim_rollups (bot_pk, dim, day, value, conversations, duration_ms, \
             handoffs, n_user, n_bot, n_agent, n_system, not_handled, completed) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::text[], $5::bigint[], \
             $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], \
             $11::bigint[], $12::bigint[], $13::bigint[]) \
             ON CONFLICT (bot_pk, dim, day, value) DO UPDATE SET \
             conversations = dim_rollups.conversations + excluded.conversations, \
             duration_ms = dim_rollups.duration_ms + excluded.duration_ms, \
             handoffs = dim_rollups.handoffs + excluded.handoffs, \
             n_user = dim_rollups.n_user + excluded.n_user, \
             n_bot = dim_rollups.n_bot + excluded.n_bot, \
             n_agent = dim_rollups.n_agent + excluded.n_agent, \
             n_system = dim_rollups.n_system + excluded.n_system, \
             not_handled = dim_rollups.not_handled + excluded.not_handled, \
             completed = dim_rollups.completed + excluded.completed",
        )
        .bind(bot_pk)
        .bind(dim)
        .bind(day)
        .bind(values);
        for col in sums {
            q = q.bind(col);
        }
        q.execute(&mut *c).await?;
    }
    if !rows.edges.is_empty() {
        let (mut keys, mut steps, mut n): ([Vec<i64>; 3], [Vec<&str>; 4], Vec<i64>) =
            Default::default();
        for (((dims, level, slot), from, to), count) in &rows.edges {
            for (col, v) in keys.iter_mut().zip([*dims, *level, *slot]) {
                col.push(v);
            }
            for (col, v) in steps.iter_mut().zip([&from.id, &from.kind, &to.id, &to.kind]) {
                col.push(v.as_str());
            }
            n.push(*count);
        }
        let [dims, level, slot] = keys;
        let [from_id, from_type, to_id, to_type] = steps;
        sqlx::query(
            "INSERT INTO flow_edges (bot_pk, dims_id, level, slot, from_id, from_type, to_id, \
             to_type, n) SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], \
             $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[]) \
             ON CONFLICT (bot_pk, dims_id, level, slot, from_id, from_type, to_id, to_type) \
             DO UPDATE SET n = flow_edges.n + excluded.n",
        )
        .bind(bot_pk)
        .bind(dims)
        .bind(level)
        .bind(slot)
        .bind(from_id)
        .bind(from_type)
        .bind(to_id)
        .bind(to_type)
        .bind(n)
        .execute(&mut *c)
        .await?;
    }
    if !rows.exits.is_empty() {
        let (mut keys, mut steps, mut n): ([Vec<i64>; 3], [Vec<&str>; 2], Vec<i64>) =
            Default::default();
        for (((dims, level, slot), step), count) in &rows.exits {
            for (col, v) in keys.iter_mut().zip([*dims, *level, *slot]) {
                col.push(v);
            }
            steps[0].push(step.id.as_str());
            steps[1].push(step.kind.as_str());
            n.push(*count);
        }
        let [dims, level, slot] = keys;
        let [step_id, step_type] = steps;
        sqlx::query(
            "INSERT INTO flow_exits (bot_pk, dims_id, level, slot, step_id, step_type, n) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], \
             $6::text[], $7::bigint[]) \
             ON CONFLICT (bot_pk, dims_id, level, slot, step_id, step_type) \
             DO UPDATE SET n = flow_exits.n + excluded.n",
        )
        .bind(bot_pk)
        .bind(dims)
        .bind(level)
        .bind(slot)
        .bind(step_id)
        .bind(step_type)
        .bind(n)
        .execute(&mut *c)
        .await?;
    }
    if !rows.steps.is_empty() {
        let mut keys: [Vec<i64>; 3] = Default::default();
        let (mut steps, mut counts): ([Vec<&str>; 2], [Vec<i64>; 2]) = Default::default();
        for (((dims, level, slot), step), v) in &rows.steps {
            for (col, x) in keys.iter_mut().zip([*dims, *level, *slot]) {
                col.push(x);
            }
            steps[0].push(step.id.as_str());
            steps[1].push(step.kind.as_str());
            counts[0].push(v.conversations);
            counts[1].push(v.completed);
        }
        let [dims, level, slot] = keys;
        let [step_id, step_type] = steps;
        let [conversations, completed] = counts;
        sqlx::query(
            "INSERT INTO flow_steps (bot_pk, dims_id, level, slot, step_id, step_type, \
             conversations, completed) SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], \
             $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::bigint[]) \
             ON CONFLICT (bot_pk, dims_id, level, slot, step_id, step_type) DO UPDATE SET \
             conversations = flow_steps.conversations + excluded.conversations, \
             completed = flow_steps.completed + excluded.completed",
        )
        .bind(bot_pk)
        .bind(dims)
        .bind(level)
        .bind(slot)
        .bind(step_id)
        .bind(step_type)
        .bind(conversations)
        .bind(completed)
        .execute(&mut *c)
        .await?;
    }
    if !rows.tokens.is_empty() {
        let (mut keys, mut models, mut sums): ([Vec<i64>; 3], Vec<&str>, [Vec<i64>; 2]) =
            Default::default();
        for (((dims, level, slot), model), t) in &rows.tokens {
            for (col, v) in keys.iter_mut().zip([*dims, *level, *slot]) {
                col.push(v);
            }
            models.push(model);
            sums[0].push(t.input);
            sums[1].push(t.output);
        }
        let [dims, level, slot] = keys;
        let [input, output] = sums;
        sqlx::query(
            "INSERT INTO token_rollups (bot_pk, dims_id, level, slot, model, input_tokens, \
             output_tokens) SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], \
             $5::text[], $6::bigint[], $7::bigint[]) \
             ON CONFLICT (bot_pk, dims_id, level, slot, model) DO UPDATE SET \
             input_tokens = token_rollups.input_tokens + excluded.input_tokens, \
             output_tokens = token_rollups.output_tokens + excluded.output_tokens",
        )
        .bind(bot_pk)
        .bind(dims)
        .bind(level)
        .bind(slot)
        .bind(models)
        .bind(input)
        .bind(output)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Messages read per query by [`backfill_tokens`].
const BACKFILL_CHUNK: i64 = 5_000;

/// Builds the token rollups of messages stored before they existed (migration 3), bot by bot,
/// from the messages whose metadata may hold token counts, under their conversation's
/// dimensions.
pub(super) async fn backfill_tokens(c: &mut PgConnection) -> Result<()> {
    let bots: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM bots ORDER BY id").fetch_all(&mut *c).await?;
    let sql = format!(
        "SELECT m.id, m.ts, m.metadata, {} FROM messages m \
         JOIN conversations c ON c.bot_pk = m.bot_pk AND c.id = m.conversation_pk \
         WHERE m.bot_pk = $1 AND m.id > $2 AND m.metadata LIKE '%\\_tokens%' \
         ORDER BY m.id LIMIT $3",
        rollups::dim_list("c")
    );
    for bot_pk in bots {
        let mut deltas = Deltas::default();
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(&sql)
                .bind(bot_pk)
                .bind(after)
                .bind(BACKFILL_CHUNK)
                .fetch_all(&mut *c)
                .await?;
            for r in &rows {
                after = r.try_get(0)?;
                let metadata: Option<String> = r.try_get(2)?;
                let metadata = metadata.and_then(|m| serde_json::from_str(&m).ok());
                let Some(usage) = token_usage(metadata.as_ref()) else { continue };
                let mut dims: [Option<String>; 5] = Default::default();
                for (i, v) in dims.iter_mut().enumerate() {
                    *v = r.try_get(3 + i)?;
                }
                let d = deltas.intern(&DimsKey(dims));
                deltas.usage(d, r.try_get(1)?, &usage, 1);
            }
            if (rows.len() as i64) < BACKFILL_CHUNK {
                break;
            }
        }
        flush(c, bot_pk, deltas).await?;
    }
    Ok(())
}

/// Fills in the steps each conversation was at (its stamps' `visited`, in the order their
/// messages were stored, as ingest keeps them) and the flow's per-step counts (migration 8),
/// bot by bot, [`BACKFILL_CHUNK`] conversations at a time.
pub(super) async fn backfill_visits(c: &mut PgConnection) -> Result<()> {
    let bots: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM bots ORDER BY id").fetch_all(&mut *c).await?;
    let convs = format!(
        "SELECT c.id, c.started_at, c.stamps, {} FROM conversations c \
         WHERE c.bot_pk = $1 AND c.id > $2 AND c.last_step_id IS NOT NULL \
         ORDER BY c.id LIMIT $3",
        rollups::dim_list("c")
    );
    for bot_pk in bots {
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(&convs)
                .bind(bot_pk)
                .bind(after)
                .bind(BACKFILL_CHUNK)
                .fetch_all(&mut *c)
                .await?;
            let mut summaries: Vec<(i64, DimsKey, Summary)> = vec![];
            for r in &rows {
                let mut dims: [Option<String>; 5] = Default::default();
                for (i, v) in dims.iter_mut().enumerate() {
                    *v = r.try_get(3 + i)?;
                }
                let summary = Summary {
                    started_at: r.try_get(1)?,
                    stamps: rollups::stamps(&r.try_get::<String, _>(2)?),
                    ..Summary::default()
                };
                summaries.push((r.try_get(0)?, DimsKey(dims), summary));
            }
            let Some(last) = summaries.last() else { break };
            after = last.0;
            let pks: Vec<i64> = summaries.iter().map(|s| s.0).collect();
            let steps = sqlx::query(
                "SELECT conversation_pk, step_id, step_type FROM messages \
                 WHERE bot_pk = $1 AND conversation_pk = ANY($2) AND step_id IS NOT NULL \
                 ORDER BY conversation_pk, id",
            )
            .bind(bot_pk)
            .bind(&pks)
            .fetch_all(&mut *c)
            .await?;
            let at: HashMap<i64, usize> = pks.iter().enumerate().map(|(i, pk)| (*pk, i)).collect();
            for r in &steps {
                let step = Step { id: r.try_get(1)?, kind: r.try_get(2)? };
                summaries[at[&r.try_get::<i64, _>(0)?]].2.visit(&step);
            }
            let mut deltas = Deltas::default();
            let mut stamps = Vec::with_capacity(summaries.len());
            for (_, dims, summary) in &summaries {
                let d = deltas.intern(dims);
                deltas.visits(d, summary, 1);
                stamps.push(serde_json::to_string(&summary.stamps).unwrap_or_default());
            }
            sqlx::query(
                "UPDATE conversations c SET stamps = u.stamps \
                 FROM UNNEST($2::bigint[], $3::text[]) AS u(id, stamps) \
                 WHERE c.bot_pk = $1 AND c.id = u.id",
            )
            .bind(bot_pk)
            .bind(&pks)
            .bind(stamps)
            .execute(&mut *c)
            .await?;
            flush(c, bot_pk, deltas).await?;
            if (rows.len() as i64) < BACKFILL_CHUNK {
                break;
            }
        }
    }
    Ok(())
}
