//! Analytics reads: series summed from rollup and token rollup rows (whole UTC days of a series
//! naming at most one dimension from the rows per single dimension; exact counts for range
//! edges inside a slot), series from stored conversations (distinct users, extreme durations),
//! and flows.

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
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params_from_iter};

use super::read::{Where, marks, text};
use super::rollup::message_facts;
use crate::rollups::{BotRef, column, completed, dim_list, group_of, stamps, step, with_model};
use crate::{BotSelector, Result, StoreError};

fn bots(c: &Connection, team_id: i64, sel: &BotSelector) -> Result<Vec<BotRef>> {
    let mut w = Where::default();
    w.push("team_id = ?", [Value::Integer(team_id)]);
    match sel {
        BotSelector::One(id) => w.push("bot_id = ?", [text(id)]),
        BotSelector::Team(None) => {}
        BotSelector::Team(Some(ids)) => {
            w.push(&format!("bot_id IN ({})", marks(ids.len())), ids.iter().map(|s| text(s)))
        }
    }
    let found: Vec<BotRef> = c
        .prepare_cached(&format!("SELECT id, bot_id FROM bots WHERE {} ORDER BY id", w.clause()))?
        .query_map(params_from_iter(w.values.iter()), |r| {
            Ok(BotRef { pk: r.get(0)?, id: r.get(1)?, team: team_id })
        })?
        .collect::<rusqlite::Result<_>>()?;
    if found.is_empty() && matches!(sel, BotSelector::One(_)) {
        return Err(StoreError::NotFound("bot"));
    }
    Ok(found)
}

/// `alias.column IN (…)` for each filter. Rollup rows keep `''` for "not set", conversations
/// `NULL`; filter values are never empty, so neither matches.
fn push_filters(w: &mut Where, alias: &str, filters: &[(Dim, Vec<String>)]) {
    for (d, values) in filters {
        w.push(
            &format!("{alias}.{} IN ({})", column(*d), marks(values.len())),
            values.iter().map(|s| text(s)),
        );
    }
}

/// Reads the rollup dimensions selected with [`dim_list`] at `at`, `''` as not set.
fn dims_at(r: &Row, at: usize) -> rusqlite::Result<[Option<String>; 5]> {
    let mut out: [Option<String>; 5] = Default::default();
    for (i, v) in out.iter_mut().enumerate() {
        *v = r.get::<_, Option<String>>(at + i)?.filter(|s| !s.is_empty());
    }
    Ok(out)
}

/// Per bot, the conversations matching `filters` whose `time_col` lies in `[lo, hi)`:
/// calls `f(bot_id, row)` with the columns `extra` then the rollup dimensions.
fn each_conversation(
    c: &Connection,
    bots: &[BotRef],
    filters: &[(Dim, Vec<String>)],
    (time_col, lo, hi): (&str, Millis, Millis),
    extra: &str,
    more: Option<&str>,
    mut f: impl FnMut(&BotRef, &Row) -> Result<()>,
) -> Result<()> {
    for bot in bots {
        let mut w = Where::default();
        w.push("c.bot_pk = ?", [Value::Integer(bot.pk)]);
        w.push(&format!("c.{time_col} >= ? AND c.{time_col} < ?"), [lo, hi].map(Value::Integer));
        push_filters(&mut w, "c", filters);
        if let Some(m) = more {
            w.push(m, []);
        }
        let sql =
            format!("SELECT {extra}, {} FROM conversations c WHERE {}", dim_list("c"), w.clause());
        let mut stmt = c.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(w.values.iter()))?;
        while let Some(r) = rows.next()? {
            f(bot, r)?;
        }
    }
    Ok(())
}

/// The rollup dimension rows of the bots that match the filters, with their group values.
fn dims_rows(
    c: &Connection,
    bots: &[BotRef],
    filters: &[(Dim, Vec<String>)],
    groups: &[GroupKey],
) -> Result<HashMap<i64, Vec<Option<String>>>> {
    let by_pk: HashMap<i64, &BotRef> = bots.iter().map(|b| (b.pk, b)).collect();
    let mut w = Where::default();
    w.push(
        &format!("d.bot_pk IN ({})", marks(bots.len())),
        bots.iter().map(|b| Value::Integer(b.pk)),
    );
    push_filters(&mut w, "d", filters);
    let sql =
        format!("SELECT d.id, d.bot_pk, {} FROM rollup_dims d WHERE {}", dim_list("d"), w.clause());
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(w.values.iter()), |r| {
        let bot = by_pk.get(&r.get::<_, i64>(1)?).copied().ok_or(rusqlite::Error::InvalidQuery)?;
        Ok((r.get(0)?, group_of(groups, bot, &dims_at(r, 2)?)))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Runs `sql` (with `{ids}` for the dimension ids) once per range of each level.
fn each_rollup_row(
    c: &Connection,
    plan: &Plan,
    ids: &[i64],
    sql: &str,
    mut f: impl FnMut(&Row) -> Result<()>,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let sql = sql.replace("{ids}", &list);
    let mut stmt = c.prepare(&sql)?;
    for (level, ranges) in plan.levels.iter().enumerate() {
        for &(lo, hi) in ranges {
            let mut rows = stmt.query(rusqlite::params![level as i64, lo, hi])?;
            while let Some(r) = rows.next()? {
                f(r)?;
            }
        }
    }
    Ok(())
}

/// Calls `f` on each message of bot `bot_pk` timed in `[lo, hi)` whose conversation `filters`
/// keep (and that `narrow`, SQL on `m`, keeps): `columns` first, then the conversation's
/// dimensions. What the range edges inside a slot are counted from.
fn each_message_in(
    c: &Connection,
    bot_pk: i64,
    (lo, hi): (Millis, Millis),
    filters: &[(Dim, Vec<String>)],
    columns: &str,
    narrow: Option<&str>,
    mut f: impl FnMut(&Row) -> Result<()>,
) -> Result<()> {
    let mut w = Where::default();
    w.push("m.bot_pk = ? AND m.ts >= ? AND m.ts < ?", [bot_pk, lo, hi].map(Value::Integer));
    if let Some(narrow) = narrow {
        w.push(narrow, []);
    }
    push_filters(&mut w, "c", filters);
    let sql = format!(
        "SELECT {columns}, {} FROM messages m \
         JOIN conversations c ON c.id = m.conversation_pk WHERE {}",
        dim_list("c"),
        w.clause()
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(w.values.iter()))?;
    while let Some(r) = rows.next()? {
        f(r)?;
    }
    Ok(())
}

/// The counters selected at `at`, in the rollup tables' column order.
fn counters_at(r: &Row, at: usize) -> rusqlite::Result<Counters> {
    Ok(Counters {
        conversations: r.get(at)?,
        duration_ms: r.get(at + 1)?,
        handoffs: r.get(at + 2)?,
        messages: [r.get(at + 3)?, r.get(at + 4)?, r.get(at + 5)?, r.get(at + 6)?],
        not_handled: r.get(at + 7)?,
        completed: r.get(at + 8)?,
    })
}

/// Per bot, the day rows of `dim` alone (`dim_rollups`) in the UTC `days` whose value `filters`
/// (all on `dim`: see [`SeriesRequest::single_dim`]) keep: calls `f(bot, dims, row)` with the
/// rollup dimensions of the row (only `dim` set) and the row: value, day, then its counters.
fn each_dim_row(
    c: &Connection,
    bots: &[BotRef],
    dim: Dim,
    days: &[(Millis, Millis)],
    filters: &[(Dim, Vec<String>)],
    mut f: impl FnMut(&BotRef, [Option<String>; 5], &Row) -> Result<()>,
) -> Result<()> {
    let Some(code) = dim_code(dim) else { return Ok(()) };
    let mut w = Where::default();
    // The bot and the days (0, 2, 3) are set for each query.
    let head = [0, code as i64, 0, 0].map(Value::Integer);
    w.push("bot_pk = ? AND dim = ? AND day >= ? AND day < ?", head);
    for (_, values) in filters {
        w.push(&format!("value IN ({})", marks(values.len())), values.iter().map(|s| text(s)));
    }
    let sql = format!(
        "SELECT value, day, conversations, duration_ms, handoffs, n_user, n_bot, n_agent, \
         n_system, not_handled, completed FROM dim_rollups WHERE {}",
        w.clause()
    );
    let mut stmt = c.prepare_cached(&sql)?;
    for bot in bots {
        for &(lo, hi) in days {
            for (i, v) in [(0, bot.pk), (2, lo), (3, hi)] {
                w.values[i] = Value::Integer(v);
            }
            let mut rows = stmt.query(params_from_iter(w.values.iter()))?;
            while let Some(r) = rows.next()? {
                let mut dims: [Option<String>; 5] = Default::default();
                dims[code] = Some(r.get::<_, String>(0)?).filter(|v| !v.is_empty());
                f(bot, dims, r)?;
            }
        }
    }
    Ok(())
}

pub(super) fn series_counters(
    c: &Connection,
    team_id: i64,
    sel: &BotSelector,
    req: &SeriesRequest,
) -> Result<Cells<Counters>> {
    let bots = bots(c, team_id, sel)?;
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
        each_dim_row(c, &bots, dim, &days, &req.filters, |bot, dims, r| {
            let Some(bucket) = req.buckets.index_of(r.get(1)?) else { return Ok(()) };
            let counters = counters_at(r, 2)?;
            if !counters.is_zero() {
                cells.cell(group_of(&groups, bot, &dims), bucket).add(&counters, 1);
            }
            Ok(())
        })?;
    }
    if plan.levels.iter().any(|ranges| !ranges.is_empty()) {
        let dims = dims_rows(c, &bots, &req.filters, &groups)?;
        let ids: Vec<i64> = dims.keys().copied().collect();
        each_rollup_row(
            c,
            &plan,
            &ids,
            "SELECT dims_id, slot, conversations, duration_ms, handoffs, n_user, n_bot, \
             n_agent, n_system, not_handled, completed FROM rollups \
             WHERE dims_id IN ({ids}) AND level = ?1 AND slot >= ?2 AND slot < ?3",
            |r| {
                let Some(bucket) = req.buckets.index_of(r.get(1)?) else { return Ok(()) };
                let counters = counters_at(r, 2)?;
                if !counters.is_zero() {
                    let group = dims.get(&r.get(0)?).cloned().unwrap_or_default();
                    cells.cell(group, bucket).add(&counters, 1);
                }
                Ok(())
            },
        )?;
    }
    // Range edges inside a slot: counted exactly from the stored rows.
    for &(lo, hi) in &req.plan.partial {
        let Some(bucket) = req.buckets.index_of(lo) else { continue };
        each_conversation(
            c,
            &bots,
            &req.filters,
            ("started_at", lo, hi),
            "c.last_message_at - c.started_at, c.n_agent, c.stamps",
            None,
            |bot, r| {
                let group = group_of(&groups, bot, &dims_at(r, 3)?);
                let n_agent: i64 = r.get(1)?;
                let counters = Counters {
                    conversations: 1,
                    duration_ms: r.get(0)?,
                    handoffs: i64::from(n_agent > 0),
                    completed: i64::from(completed(&r.get::<_, String>(2)?)),
                    ..Counters::default()
                };
                cells.cell(group, bucket).add(&counters, 1);
                Ok(())
            },
        )?;
        for bot in &bots {
            let cols = "m.role, m.metadata";
            each_message_in(c, bot.pk, (lo, hi), &req.filters, cols, None, |r| {
                let role = Role::from_code(r.get(0)?).unwrap_or(Role::System);
                let metadata: Option<String> = r.get(1)?;
                let not_handled = metadata
                    .is_some_and(|m| is_not_handled(serde_json::from_str(&m).ok().as_ref()));
                let group = group_of(&groups, bot, &dims_at(r, 2)?);
                cells.cell(group, bucket).add(&Counters::of_message(role, not_handled), 1);
                Ok(())
            })?;
        }
    }
    Ok(cells)
}

pub(super) fn series_tokens(
    c: &Connection,
    team_id: i64,
    sel: &BotSelector,
    req: &SeriesRequest,
) -> Result<Cells<Tokens>> {
    let bots = bots(c, team_id, sel)?;
    let groups = req.store_groups();
    let mut cells = Cells::new(req.buckets.len());
    if bots.is_empty() {
        return Ok(cells);
    }
    let dims = dims_rows(c, &bots, &req.filters, &groups)?;
    let ids: Vec<i64> = dims.keys().copied().collect();
    each_rollup_row(
        c,
        &req.plan,
        &ids,
        "SELECT dims_id, slot, model, input_tokens, output_tokens FROM token_rollups \
         WHERE dims_id IN ({ids}) AND level = ?1 AND slot >= ?2 AND slot < ?3",
        |r| {
            let slot: Millis = r.get(1)?;
            let Some(bucket) = req.buckets.index_of(slot) else { return Ok(()) };
            let tokens = Tokens { input: r.get(3)?, output: r.get(4)? };
            // Left at zero when a conversation's tokens moved elsewhere (see series_counters).
            let Some(group) = dims.get(&r.get(0)?).filter(|_| !tokens.is_zero()) else {
                return Ok(());
            };
            let model: String = r.get(2)?;
            cells.cell(with_model(&groups, group.clone(), &model), bucket).add(&tokens, 1);
            Ok(())
        },
    )?;
    // Range edges inside a slot: counted exactly from the stored messages.
    for &(lo, hi) in &req.plan.partial {
        let Some(bucket) = req.buckets.index_of(lo) else { continue };
        for bot in &bots {
            let narrow = Some("m.metadata LIKE '%\\_tokens%' ESCAPE '\\'");
            each_message_in(c, bot.pk, (lo, hi), &req.filters, "m.metadata", narrow, |r| {
                let metadata: Option<String> = r.get(0)?;
                let metadata = metadata.and_then(|m| serde_json::from_str(&m).ok());
                let Some(usage) = token_usage(metadata.as_ref()) else { return Ok(()) };
                let group =
                    with_model(&groups, group_of(&groups, bot, &dims_at(r, 1)?), &usage.model);
                cells.cell(group, bucket).add(&usage.tokens, 1);
                Ok(())
            })?;
        }
    }
    Ok(cells)
}

pub(super) fn series_conversations(
    c: &Connection,
    team_id: i64,
    sel: &BotSelector,
    req: &SeriesRequest,
) -> Result<Cells<ConversationCell>> {
    let bots = bots(c, team_id, sel)?;
    let groups = req.store_groups();
    let mut cells: Cells<ConversationCell> = Cells::new(req.buckets.len());
    each_conversation(
        c,
        &bots,
        &req.filters,
        ("started_at", req.start, req.end),
        "c.started_at, c.last_message_at - c.started_at, c.user_id",
        None,
        |bot, r| {
            let Some(bucket) = req.buckets.index_of(r.get(0)?) else { return Ok(()) };
            let group = group_of(&groups, bot, &dims_at(r, 3)?);
            cells.cell(group, bucket).add(r.get(1)?, r.get(2)?);
            Ok(())
        },
    )?;
    Ok(cells)
}

pub(super) fn flow_totals(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    req: &FlowRequest,
) -> Result<FlowTotals> {
    let bots = bots(c, team_id, &BotSelector::One(bot_id.to_owned()))?;
    let mut totals = FlowTotals::default();
    let dims = dims_rows(c, &bots, &req.filters, &[])?;
    let ids: Vec<i64> = dims.keys().copied().collect();
    each_rollup_row(
        c,
        &req.plan,
        &ids,
        "SELECT from_id, from_type, to_id, to_type, SUM(n) FROM flow_edges \
         WHERE dims_id IN ({ids}) AND level = ?1 AND slot >= ?2 AND slot < ?3 \
         GROUP BY from_id, from_type, to_id, to_type",
        |r| {
            totals.add_edge(&step(r.get(0)?, r.get(1)?), &step(r.get(2)?, r.get(3)?), r.get(4)?);
            Ok(())
        },
    )?;
    each_rollup_row(
        c,
        &req.plan,
        &ids,
        "SELECT step_id, step_type, SUM(n) FROM flow_exits \
         WHERE dims_id IN ({ids}) AND level = ?1 AND slot >= ?2 AND slot < ?3 \
         GROUP BY step_id, step_type",
        |r| {
            totals.add_exit(&step(r.get(0)?, r.get(1)?), r.get(2)?);
            Ok(())
        },
    )?;
    each_rollup_row(
        c,
        &req.plan,
        &ids,
        "SELECT step_id, step_type, SUM(conversations), SUM(completed) FROM flow_steps \
         WHERE dims_id IN ({ids}) AND level = ?1 AND slot >= ?2 AND slot < ?3 \
         GROUP BY step_id, step_type",
        |r| {
            let v = Visits { conversations: r.get(2)?, completed: r.get(3)? };
            totals.add_visits(&step(r.get(0)?, r.get(1)?), &v);
            Ok(())
        },
    )?;
    for &(lo, hi) in &req.plan.partial {
        let mut pks = vec![];
        each_conversation(
            c,
            &bots,
            &req.filters,
            ("started_at", lo, hi),
            "c.id, c.last_step_id, c.last_step_type, c.stamps",
            None,
            |_, r| {
                pks.push(r.get::<_, i64>(0)?);
                let stamps = stamps(&r.get::<_, String>(3)?);
                if let Some(id) = r.get::<_, Option<String>>(1)?
                    && stamps.goal.is_none()
                {
                    totals.add_exit(&step(id, r.get(2)?), 1);
                }
                totals.add_conversation_visits(&stamps);
                Ok(())
            },
        )?;
        for pk in pks {
            let facts = message_facts(c, pk, &HashSet::new())?;
            walk(None, facts.iter().filter_map(|m| m.step.as_ref()), |from, to| {
                totals.add_edge(from, to, 1)
            });
        }
    }
    // Conversations still going on have not dropped off.
    each_conversation(
        c,
        &bots,
        &req.filters,
        ("started_at", req.start, req.end),
        "c.last_step_id, c.last_step_type, c.stamps",
        Some(&format!(
            "c.status = 0 AND c.last_message_at > {} AND c.last_step_id IS NOT NULL",
            req.active_after
        )),
        |_, r| {
            // A completed conversation's last step was never counted as a drop-off.
            if completed(&r.get::<_, String>(2)?) {
                return Ok(());
            }
            totals.add_exit(&step(r.get(0)?, r.get(1)?), -1);
            Ok(())
        },
    )?;
    Ok(totals)
}

/// The bot's not-handled user messages, newest first, at most `limit`: user messages marked
/// `handled: false`, and the user message that a bot (or agent, system) message marked so
/// answered — the last one before it in its conversation — for marked messages in `[start,
/// end)`. Each counts once. The marked messages are read newest first straight off the partial
/// index `messages_unhandled` (bot, time; only marked messages), each resolved to its user
/// message through `messages_conversation`, until `limit` distinct ones are found: so the cap
/// keeps those marked last, and a bot with many more marked messages than the cap costs no more
/// than the cap.
pub(super) fn unhandled_messages(
    c: &Connection,
    team_id: i64,
    bot_id: &str,
    (start, end): (Millis, Millis),
    limit: u32,
) -> Result<Vec<UnhandledMessage>> {
    let bot = bots(c, team_id, &BotSelector::One(bot_id.to_owned()))?.remove(0);
    let mut marked = c.prepare_cached(
        "SELECT CASE WHEN m.role = ?4 THEN m.id ELSE \
             (SELECT p.id FROM messages p WHERE p.conversation_pk = m.conversation_pk \
              AND p.role = ?4 AND (p.ts < m.ts OR (p.ts = m.ts AND p.id < m.id)) \
              ORDER BY p.ts DESC, p.id DESC LIMIT 1) END \
         FROM messages m INDEXED BY messages_unhandled \
         WHERE m.bot_pk = ?1 AND m.ts >= ?2 AND m.ts < ?3 \
         AND json_type(m.metadata, '$.handled') = 'false' \
         ORDER BY m.ts DESC, m.id DESC",
    )?;
    let mut rows = marked.query(rusqlite::params![bot.pk, start, end, Role::User.code()])?;
    let mut ids = vec![];
    let mut seen = HashSet::new();
    while ids.len() < limit as usize
        && let Some(r) = rows.next()?
    {
        // None: a bot message marked before any user message.
        if let Some(id) = r.get::<_, Option<i64>>(0)?
            && seen.insert(id)
        {
            ids.push(id);
        }
    }
    drop(rows);
    let mut one = c.prepare_cached(
        "SELECT cv.conversation_id, u.ts, u.content FROM messages u \
         JOIN conversations cv ON cv.id = u.conversation_pk WHERE u.id = ?1",
    )?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let m = one.query_row([id], |r| {
            Ok(UnhandledMessage { conversation_id: r.get(0)?, ts: r.get(1)?, content: r.get(2)? })
        })?;
        out.push((id, m));
    }
    out.sort_by(|(a, x), (b, y)| (y.ts, b).cmp(&(x.ts, a)));
    Ok(out.into_iter().map(|(_, m)| m).collect())
}
