//! Analytics reads: series summed from rollup and token rollup rows (whole UTC days of a series
//! naming at most one dimension from the rows per single dimension; exact counts for range
//! edges inside a slot), series from stored conversations (distinct users, extreme durations),
//! and flows.
//! Rows are fetched whole and then looped over: the connection cannot be lent to a callback
//! while it is also needed for the next query.

use std::collections::{HashMap, HashSet};

use confab_core::cluster::UnhandledMessage;
use confab_core::flow::{FlowRequest, FlowTotals, Visits, walk};
use confab_core::message::Role;
use confab_core::rollup::{
    Counters, DIM_LEVEL, Plan, Tokens, dim_code, is_not_handled, token_usage,
};
use confab_core::series::{Cells, ConversationCell, GroupKey, SeriesRequest};
use confab_core::summary::Dim;
use confab_core::time::Millis;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::rollup::message_facts;
use crate::rollups::{BotRef, column, completed, dim_list, group_of, stamps, step, with_model};
use crate::{BotSelector, Result, StoreError};

async fn bots(c: &mut PgConnection, team_id: i64, sel: &BotSelector) -> Result<Vec<BotRef>> {
    let mut q = QueryBuilder::<Postgres>::new("SELECT id, bot_id FROM bots WHERE team_id = ");
    q.push_bind(team_id);
    match sel {
        BotSelector::One(id) => {
            q.push(" AND bot_id = ").push_bind(id.as_str());
        }
        BotSelector::Team(None) => {}
        BotSelector::Team(Some(ids)) => {
            q.push(" AND bot_id = ANY(").push_bind(ids.as_slice()).push(")");
        }
    }
    q.push(" ORDER BY id");
    let mut found = vec![];
    for r in q.build().fetch_all(&mut *c).await? {
        found.push(BotRef { pk: r.try_get(0)?, id: r.try_get(1)?, team: team_id });
    }
    if found.is_empty() && matches!(sel, BotSelector::One(_)) {
        return Err(StoreError::NotFound("bot"));
    }
    Ok(found)
}

/// ` AND alias.column = ANY(…)` for each filter. Rollup rows keep `''` for "not set",
/// conversations `NULL`; filter values are never empty, so neither matches.
fn push_filters<'a>(
    q: &mut QueryBuilder<'a, Postgres>,
    alias: &str,
    filters: &'a [(Dim, Vec<String>)],
) {
    for (d, values) in filters {
        q.push(format!(" AND {alias}.{} = ANY(", column(*d)))
            .push_bind(values.as_slice())
            .push(")");
    }
}

/// Reads the rollup dimensions selected with [`dim_list`] at `at`, `''` as not set.
fn dims_at(r: &PgRow, at: usize) -> sqlx::Result<[Option<String>; 5]> {
    let mut out: [Option<String>; 5] = Default::default();
    for (i, v) in out.iter_mut().enumerate() {
        *v = r.try_get::<Option<String>, _>(at + i)?.filter(|s| !s.is_empty());
    }
    Ok(out)
}

/// A bot's conversations matching `filters` whose `time_col` lies in `[lo, hi)`, selecting the
/// columns `extra` then the rollup dimensions; callers may push more ` AND …` conditions.
fn conversation_query<'a>(
    bot: &BotRef,
    filters: &'a [(Dim, Vec<String>)],
    (time_col, lo, hi): (&str, Millis, Millis),
    extra: &str,
) -> QueryBuilder<'a, Postgres> {
    let mut q = QueryBuilder::new(format!(
        "SELECT {extra}, {} FROM conversations c WHERE c.bot_pk = ",
        dim_list("c")
    ));
    q.push_bind(bot.pk);
    q.push(format!(" AND c.{time_col} >= ")).push_bind(lo);
    q.push(format!(" AND c.{time_col} < ")).push_bind(hi);
    push_filters(&mut q, "c", filters);
    q
}

/// Per bot, the rows of [`conversation_query`], each with its bot.
async fn conversations<'b>(
    c: &mut PgConnection,
    bots: &'b [BotRef],
    filters: &[(Dim, Vec<String>)],
    range: (&str, Millis, Millis),
    extra: &str,
) -> Result<Vec<(&'b BotRef, PgRow)>> {
    let mut out = vec![];
    for bot in bots {
        let rows =
            conversation_query(bot, filters, range, extra).build().fetch_all(&mut *c).await?;
        out.extend(rows.into_iter().map(|r| (bot, r)));
    }
    Ok(out)
}

/// The rollup dimension rows of the bots that match the filters, with their group values.
async fn dims_rows(
    c: &mut PgConnection,
    bots: &[BotRef],
    filters: &[(Dim, Vec<String>)],
    groups: &[GroupKey],
) -> Result<HashMap<i64, Vec<Option<String>>>> {
    let by_pk: HashMap<i64, &BotRef> = bots.iter().map(|b| (b.pk, b)).collect();
    let pks: Vec<i64> = bots.iter().map(|b| b.pk).collect();
    let mut q = QueryBuilder::new(format!(
        "SELECT d.id, d.bot_pk, {} FROM rollup_dims d WHERE d.bot_pk = ANY(",
        dim_list("d")
    ));
    q.push_bind(pks).push(")");
    push_filters(&mut q, "d", filters);
    let mut out = HashMap::new();
    for r in q.build().fetch_all(&mut *c).await? {
        // Only the bots asked for are selected.
        let Some(bot) = by_pk.get(&r.try_get::<i64, _>(1)?) else { continue };
        out.insert(r.try_get(0)?, group_of(groups, bot, &dims_at(&r, 2)?));
    }
    Ok(out)
}

/// Runs `sql` (`$1` the bots' pks, `$2` the dimension ids, `$3` the level, `$4`..`$5` the
/// slots) once per range of each level, returning every row.
async fn rollup_rows(
    c: &mut PgConnection,
    plan: &Plan,
    bots: &[BotRef],
    ids: &[i64],
    sql: &str,
) -> Result<Vec<PgRow>> {
    let mut out = vec![];
    if ids.is_empty() {
        return Ok(out);
    }
    let pks: Vec<i64> = bots.iter().map(|b| b.pk).collect();
    for (level, ranges) in plan.levels.iter().enumerate() {
        for &(lo, hi) in ranges {
            let rows = sqlx::query(sql)
                .bind(pks.as_slice())
                .bind(ids)
                .bind(level as i64)
                .bind(lo)
                .bind(hi)
                .fetch_all(&mut *c)
                .await?;
            out.extend(rows);
        }
    }
    Ok(out)
}

/// The messages of bot `bot_pk` timed in `[lo, hi)` whose conversation `filters` keep (and that
/// `narrow`, SQL on `m`, keeps): `columns` first, then the conversation's dimensions. What the
/// range edges inside a slot are counted from.
async fn messages_in(
    c: &mut PgConnection,
    bot_pk: i64,
    (lo, hi): (Millis, Millis),
    filters: &[(Dim, Vec<String>)],
    columns: &str,
    narrow: Option<&str>,
) -> Result<Vec<PgRow>> {
    let mut q = QueryBuilder::new(format!(
        "SELECT {columns}, {} FROM messages m \
         JOIN conversations c ON c.bot_pk = m.bot_pk AND c.id = m.conversation_pk \
         WHERE m.bot_pk = ",
        dim_list("c")
    ));
    q.push_bind(bot_pk);
    q.push(" AND m.ts >= ").push_bind(lo);
    q.push(" AND m.ts < ").push_bind(hi);
    if let Some(narrow) = narrow {
        q.push(" AND ").push(narrow);
    }
    push_filters(&mut q, "c", filters);
    Ok(q.build().fetch_all(&mut *c).await?)
}

/// The counters selected at `at`, in the rollup tables' column order.
fn counters_at(r: &PgRow, at: usize) -> sqlx::Result<Counters> {
    Ok(Counters {
        conversations: r.try_get(at)?,
        duration_ms: r.try_get(at + 1)?,
        handoffs: r.try_get(at + 2)?,
        messages: [r.try_get(at + 3)?, r.try_get(at + 4)?, r.try_get(at + 5)?, r.try_get(at + 6)?],
        not_handled: r.try_get(at + 7)?,
        completed: r.try_get(at + 8)?,
    })
}

/// The day rows of `dim` alone (`dim_rollups`) of the bots in the UTC `days` whose value
/// `filters` (all on `dim`: see [`SeriesRequest::single_dim`]) keep, each with its bot and the
/// rollup dimensions of the row (only `dim` set); a row is its value, day, then its counters.
async fn dim_day_rows<'b>(
    c: &mut PgConnection,
    bots: &'b [BotRef],
    dim: Dim,
    days: &[(Millis, Millis)],
    filters: &[(Dim, Vec<String>)],
) -> Result<Vec<(&'b BotRef, [Option<String>; 5], PgRow)>> {
    let mut out = vec![];
    let Some(code) = dim_code(dim) else { return Ok(out) };
    let by_pk: HashMap<i64, &BotRef> = bots.iter().map(|b| (b.pk, b)).collect();
    let pks: Vec<i64> = bots.iter().map(|b| b.pk).collect();
    for &(lo, hi) in days {
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT value, day, conversations, duration_ms, handoffs, n_user, n_bot, n_agent, \
             n_system, not_handled, completed, bot_pk FROM dim_rollups WHERE bot_pk = ANY(",
        );
        q.push_bind(pks.as_slice()).push(") AND dim = ").push_bind(code as i64);
        q.push(" AND day >= ").push_bind(lo).push(" AND day < ").push_bind(hi);
        for (_, values) in filters {
            q.push(" AND value = ANY(").push_bind(values.as_slice()).push(")");
        }
        for r in q.build().fetch_all(&mut *c).await? {
            let Some(bot) = by_pk.get(&r.try_get::<i64, _>(11)?) else { continue };
            let mut dims: [Option<String>; 5] = Default::default();
            dims[code] = Some(r.try_get::<String, _>(0)?).filter(|v| !v.is_empty());
            out.push((*bot, dims, r));
        }
    }
    Ok(out)
}

pub(super) async fn series_counters(
    c: &mut PgConnection,
    team_id: i64,
    sel: &BotSelector,
    req: &SeriesRequest,
) -> Result<Cells<Counters>> {
    let bots = bots(c, team_id, sel).await?;
    let groups = req.store_groups();
    let mut cells = Cells::new(req.buckets.len());
    if bots.is_empty() {
        return Ok(cells);
    }
    // Rows are left at zero when everything in them moved elsewhere (a late, earlier message
    // changed a conversation's start or dimensions): no group of their own.
    let mut plan = req.plan.clone();
    if let Some(dim) = req.single_dim() {
        // Whole UTC days from the rows per single dimension; the rest from the other rows.
        let days = std::mem::take(&mut plan.levels[DIM_LEVEL]);
        for (bot, dims, r) in dim_day_rows(c, &bots, dim, &days, &req.filters).await? {
            let Some(bucket) = req.buckets.index_of(r.try_get(1)?) else { continue };
            let counters = counters_at(&r, 2)?;
            if !counters.is_zero() {
                cells.cell(group_of(&groups, bot, &dims), bucket).add(&counters, 1);
            }
        }
    }
    if plan.levels.iter().any(|ranges| !ranges.is_empty()) {
        let dims = dims_rows(c, &bots, &req.filters, &groups).await?;
        let ids: Vec<i64> = dims.keys().copied().collect();
        let rows = rollup_rows(
            c,
            &plan,
            &bots,
            &ids,
            "SELECT dims_id, slot, conversations, duration_ms, handoffs, n_user, n_bot, \
             n_agent, n_system, not_handled, completed FROM rollups WHERE bot_pk = ANY($1) \
             AND dims_id = ANY($2) AND level = $3 AND slot >= $4 AND slot < $5",
        )
        .await?;
        for r in rows {
            let Some(bucket) = req.buckets.index_of(r.try_get(1)?) else { continue };
            let counters = counters_at(&r, 2)?;
            if !counters.is_zero() {
                let group = dims.get(&r.try_get::<i64, _>(0)?).cloned().unwrap_or_default();
                cells.cell(group, bucket).add(&counters, 1);
            }
        }
    }
    // Range edges inside a slot: counted exactly from the stored rows.
    for &(lo, hi) in &req.plan.partial {
        let Some(bucket) = req.buckets.index_of(lo) else { continue };
        let rows = conversations(
            c,
            &bots,
            &req.filters,
            ("started_at", lo, hi),
            "c.last_message_at - c.started_at, c.n_agent, c.stamps",
        )
        .await?;
        for (bot, r) in rows {
            let group = group_of(&groups, bot, &dims_at(&r, 3)?);
            let n_agent: i64 = r.try_get(1)?;
            let counters = Counters {
                conversations: 1,
                duration_ms: r.try_get(0)?,
                handoffs: i64::from(n_agent > 0),
                completed: i64::from(completed(&r.try_get::<String, _>(2)?)),
                ..Counters::default()
            };
            cells.cell(group, bucket).add(&counters, 1);
        }
        for bot in &bots {
            let cols = "m.role, m.metadata";
            for r in messages_in(c, bot.pk, (lo, hi), &req.filters, cols, None).await? {
                let role = Role::from_code(r.try_get(0)?).unwrap_or(Role::System);
                let metadata: Option<String> = r.try_get(1)?;
                let not_handled = metadata
                    .is_some_and(|m| is_not_handled(serde_json::from_str(&m).ok().as_ref()));
                let group = group_of(&groups, bot, &dims_at(&r, 2)?);
                cells.cell(group, bucket).add(&Counters::of_message(role, not_handled), 1);
            }
        }
    }
    Ok(cells)
}

pub(super) async fn series_tokens(
    c: &mut PgConnection,
    team_id: i64,
    sel: &BotSelector,
    req: &SeriesRequest,
) -> Result<Cells<Tokens>> {
    let bots = bots(c, team_id, sel).await?;
    let groups = req.store_groups();
    let mut cells = Cells::new(req.buckets.len());
    if bots.is_empty() {
        return Ok(cells);
    }
    let dims = dims_rows(c, &bots, &req.filters, &groups).await?;
    let ids: Vec<i64> = dims.keys().copied().collect();
    let rows = rollup_rows(
        c,
        &req.plan,
        &bots,
        &ids,
        "SELECT dims_id, slot, model, input_tokens, output_tokens FROM token_rollups \
         WHERE bot_pk = ANY($1) AND dims_id = ANY($2) AND level = $3 AND slot >= $4 AND slot < $5",
    )
    .await?;
    for r in rows {
        let slot: Millis = r.try_get(1)?;
        let Some(bucket) = req.buckets.index_of(slot) else { continue };
        let tokens = Tokens { input: r.try_get(3)?, output: r.try_get(4)? };
        // Left at zero when a conversation's tokens moved elsewhere (see series_counters).
        let Some(group) = dims.get(&r.try_get::<i64, _>(0)?).filter(|_| !tokens.is_zero()) else {
            continue;
        };
        let model: String = r.try_get(2)?;
        cells.cell(with_model(&groups, group.clone(), &model), bucket).add(&tokens, 1);
    }
    // Range edges inside a slot: counted exactly from the stored messages.
    for &(lo, hi) in &req.plan.partial {
        let Some(bucket) = req.buckets.index_of(lo) else { continue };
        for bot in &bots {
            let narrow = Some("m.metadata LIKE '%\\_tokens%'");
            for r in messages_in(c, bot.pk, (lo, hi), &req.filters, "m.metadata", narrow).await? {
                let metadata: Option<String> = r.try_get(0)?;
                let metadata = metadata.and_then(|m| serde_json::from_str(&m).ok());
                let Some(usage) = token_usage(metadata.as_ref()) else { continue };
                let group = group_of(&groups, bot, &dims_at(&r, 1)?);
                cells.cell(with_model(&groups, group, &usage.model), bucket).add(&usage.tokens, 1);
            }
        }
    }
    Ok(cells)
}

pub(super) async fn series_conversations(
    c: &mut PgConnection,
    team_id: i64,
    sel: &BotSelector,
    req: &SeriesRequest,
) -> Result<Cells<ConversationCell>> {
    let bots = bots(c, team_id, sel).await?;
    let groups = req.store_groups();
    let mut cells: Cells<ConversationCell> = Cells::new(req.buckets.len());
    let rows = conversations(
        c,
        &bots,
        &req.filters,
        ("started_at", req.start, req.end),
        "c.started_at, c.last_message_at - c.started_at, c.user_id",
    )
    .await?;
    for (bot, r) in rows {
        let Some(bucket) = req.buckets.index_of(r.try_get(0)?) else { continue };
        let group = group_of(&groups, bot, &dims_at(&r, 3)?);
        cells.cell(group, bucket).add(r.try_get(1)?, r.try_get(2)?);
    }
    Ok(cells)
}

pub(super) async fn flow_totals(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    req: &FlowRequest,
) -> Result<FlowTotals> {
    let bots = bots(c, team_id, &BotSelector::One(bot_id.to_owned())).await?;
    let mut totals = FlowTotals::default();
    let dims = dims_rows(c, &bots, &req.filters, &[]).await?;
    let ids: Vec<i64> = dims.keys().copied().collect();
    // `SUM` of bigint is numeric in PostgreSQL: cast back.
    let edges = rollup_rows(
        c,
        &req.plan,
        &bots,
        &ids,
        "SELECT from_id, from_type, to_id, to_type, SUM(n)::bigint FROM flow_edges \
         WHERE bot_pk = ANY($1) AND dims_id = ANY($2) AND level = $3 AND slot >= $4 AND slot < $5 \
         GROUP BY from_id, from_type, to_id, to_type",
    )
    .await?;
    for r in edges {
        let from = step(r.try_get(0)?, r.try_get(1)?);
        totals.add_edge(&from, &step(r.try_get(2)?, r.try_get(3)?), r.try_get(4)?);
    }
    let exits = rollup_rows(
        c,
        &req.plan,
        &bots,
        &ids,
        "SELECT step_id, step_type, SUM(n)::bigint FROM flow_exits \
         WHERE bot_pk = ANY($1) AND dims_id = ANY($2) AND level = $3 AND slot >= $4 AND slot < $5 \
         GROUP BY step_id, step_type",
    )
    .await?;
    for r in exits {
        totals.add_exit(&step(r.try_get(0)?, r.try_get(1)?), r.try_get(2)?);
    }
    let visits = rollup_rows(
        c,
        &req.plan,
        &bots,
        &ids,
        "SELECT step_id, step_type, SUM(conversations)::bigint, SUM(completed)::bigint \
         FROM flow_steps \
         WHERE bot_pk = ANY($1) AND dims_id = ANY($2) AND level = $3 AND slot >= $4 AND slot < $5 \
         GROUP BY step_id, step_type",
    )
    .await?;
    for r in visits {
        let v = Visits { conversations: r.try_get(2)?, completed: r.try_get(3)? };
        totals.add_visits(&step(r.try_get(0)?, r.try_get(1)?), &v);
    }
    for &(lo, hi) in &req.plan.partial {
        let rows = conversations(
            c,
            &bots,
            &req.filters,
            ("started_at", lo, hi),
            "c.id, c.last_step_id, c.last_step_type, c.stamps",
        )
        .await?;
        let mut pks = vec![];
        for (bot, r) in rows {
            pks.push((bot.pk, r.try_get::<i64, _>(0)?));
            let stamps = stamps(&r.try_get::<String, _>(3)?);
            if let Some(id) = r.try_get::<Option<String>, _>(1)?
                && stamps.goal.is_none()
            {
                totals.add_exit(&step(id, r.try_get(2)?), 1);
            }
            totals.add_conversation_visits(&stamps);
        }
        for (bot_pk, pk) in pks {
            let facts = message_facts(c, bot_pk, pk, &HashSet::new()).await?;
            walk(None, facts.iter().filter_map(|m| m.step.as_ref()), |from, to| {
                totals.add_edge(from, to, 1)
            });
        }
    }
    // Conversations still going on have not dropped off.
    for bot in &bots {
        let mut q = conversation_query(
            bot,
            &req.filters,
            ("started_at", req.start, req.end),
            "c.last_step_id, c.last_step_type, c.stamps",
        );
        q.push(" AND c.status = 0 AND c.last_message_at > ")
            .push_bind(req.active_after)
            .push(" AND c.last_step_id IS NOT NULL");
        for r in q.build().fetch_all(&mut *c).await? {
            // A completed conversation's last step was never counted as a drop-off.
            if completed(&r.try_get::<String, _>(2)?) {
                continue;
            }
            totals.add_exit(&step(r.try_get(0)?, r.try_get(1)?), -1);
        }
    }
    Ok(totals)
}

/// The bot's not-handled user messages, newest first, at most `limit`: user messages marked
/// `handled: false`, and the user message that a bot (or agent, system) message marked so
/// answered — the last one before it in its conversation — for marked messages in `[start,
/// end)`. Each counts once. The marked messages are read newest first off the partial index
/// `messages_unhandled` (bot, time; only marked messages), a page at a time, each resolved to
/// its user message through `messages_conversation`, until `limit` distinct ones are found (as
/// the SQLite store does: the cap keeps those marked last).
pub(super) async fn unhandled_messages(
    c: &mut PgConnection,
    team_id: i64,
    bot_id: &str,
    (start, end): (Millis, Millis),
    limit: u32,
) -> Result<Vec<UnhandledMessage>> {
    let bot = bots(c, team_id, &BotSelector::One(bot_id.to_owned())).await?.remove(0);
    let mut ids: Vec<i64> = vec![];
    let mut seen = HashSet::new();
    // Where the next page starts: before (ts, id) of the last marked message read.
    let mut before = (end, i64::MIN);
    loop {
        let want = limit as usize - ids.len();
        if want == 0 {
            break;
        }
        let page = sqlx::query(
            "SELECT m.ts, m.id, CASE WHEN m.role = $4 THEN m.id ELSE \
                 (SELECT p.id FROM messages p WHERE p.bot_pk = m.bot_pk \
                  AND p.conversation_pk = m.conversation_pk AND p.role = $4 \
                  AND (p.ts < m.ts OR (p.ts = m.ts AND p.id < m.id)) \
                  ORDER BY p.ts DESC, p.id DESC LIMIT 1) END \
             FROM messages m WHERE m.bot_pk = $1 AND m.ts >= $2 AND m.ts <= $3 \
             AND (m.ts < $3 OR m.id < $5) \
             AND (m.metadata::jsonb -> 'handled') = 'false'::jsonb \
             ORDER BY m.ts DESC, m.id DESC LIMIT $6",
        )
        .bind(bot.pk)
        .bind(start)
        .bind(before.0)
        .bind(Role::User.code())
        .bind(before.1)
        .bind(want.max(256) as i64)
        .fetch_all(&mut *c)
        .await?;
        for r in &page {
            before = (r.try_get(0)?, r.try_get(1)?);
            // None: a bot message marked before any user message.
            if let Some(id) = r.try_get::<Option<i64>, _>(2)?
                && ids.len() < limit as usize
                && seen.insert(id)
            {
                ids.push(id);
            }
        }
        if page.len() < want.max(256) {
            break;
        }
    }
    let rows = sqlx::query(
        "SELECT cv.conversation_id, u.ts, u.content, u.id FROM messages u \
         JOIN conversations cv ON cv.bot_pk = u.bot_pk AND cv.id = u.conversation_pk \
         WHERE u.bot_pk = $1 AND u.id = ANY($2) ORDER BY u.ts DESC, u.id DESC",
    )
    .bind(bot.pk)
    .bind(&ids)
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(UnhandledMessage {
                conversation_id: r.try_get(0)?,
                ts: r.try_get(1)?,
                content: r.try_get(2)?,
            })
        })
        .collect()
}
