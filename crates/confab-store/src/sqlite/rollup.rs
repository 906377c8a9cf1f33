//! Keeping the analytics rollups in step with the messages, inside the writer's transaction:
//! what a write changed is gathered as [`Deltas`] (computed by `confab_core::rollup`) and added
//! to the rows of all three levels, and to the day rows per single dimension, at the end of the
//! group.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use confab_core::flow::StepKey;
use confab_core::message::{Role, Step};
use confab_core::rollup::{Counters, Deltas, DimsKey, MessageFacts, token_usage};
use confab_core::summary::Summary;
use rusqlite::{Connection, OptionalExtension, params};

use super::rows;
use crate::{Result, rollups};

/// The facts of a conversation's stored messages, in order, leaving out `skip` (the messages
/// the running job stored).
pub(super) fn message_facts(
    c: &Connection,
    conversation_pk: i64,
    skip: &HashSet<i64>,
) -> Result<Vec<MessageFacts>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, ts, role, step_id, step_type, metadata FROM messages \
         WHERE conversation_pk = ?1 ORDER BY ts, id",
    )?;
    let rows = stmt.query_map([conversation_pk], |r| {
        let id: i64 = r.get(0)?;
        let step_id: Option<String> = r.get(3)?;
        let metadata: Option<String> = r.get(5)?;
        let step = step_id
            .map(|id| {
                Ok::<_, rusqlite::Error>(StepKey {
                    id,
                    kind: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                })
            })
            .transpose()?;
        let role = Role::from_code(r.get(2)?).unwrap_or(Role::System);
        Ok((id, MessageFacts::stored((r.get(1)?, id), role, step, metadata.as_deref())))
    })?;
    let mut out = vec![];
    for row in rows {
        let (id, facts) = row?;
        if !skip.contains(&id) {
            out.push(facts);
        }
    }
    Ok(out)
}

/// Records what one conversation's newly stored messages change (see
/// [`crate::rollups::account`]), reading its earlier messages when that needs them.
pub(super) fn account(
    c: &Connection,
    deltas: &mut Deltas,
    conversation_pk: i64,
    before: Option<&Summary>,
    after: &Summary,
    new: Vec<MessageFacts>,
) -> Result<()> {
    let old = match before {
        Some(before) if rollups::needs_history(before, after, &new) => {
            let skip: HashSet<i64> = new.iter().map(|m| m.order.1).collect();
            Some(message_facts(c, conversation_pk, &skip)?)
        }
        _ => None,
    };
    rollups::account(deltas, before, after, new, old);
    Ok(())
}

fn dims_id(c: &Connection, bot_pk: i64, k: &DimsKey) -> Result<i64> {
    let v: Vec<&str> = k.0.iter().map(|x| x.as_deref().unwrap_or("")).collect();
    let found: Option<i64> = c
        .prepare_cached(
            "SELECT id FROM rollup_dims WHERE bot_pk = ?1 AND version = ?2 AND channel_type = ?3 \
             AND language = ?4 AND campaign_id = ?5 AND campaign_source = ?6",
        )?
        .query_row(params![bot_pk, v[0], v[1], v[2], v[3], v[4]], |r| r.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    c.prepare_cached(
        "INSERT INTO rollup_dims (bot_pk, version, channel_type, language, campaign_id, \
         campaign_source) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![bot_pk, v[0], v[1], v[2], v[3], v[4]])?;
    Ok(c.last_insert_rowid())
}

thread_local! {
    /// The rollup changes of the jobs in the writer's open transaction, per bot (the writer's
    /// thread is the only one that writes): applied once before its `COMMIT`
    /// ([`flush_group`]), so that the jobs of a group that touch the same rows (a bot's day and
    /// hour, its busy slots) update each once. A job adds its changes as its last step
    /// ([`defer`]), so a job that failed — rolled back to its savepoint — added none.
    static GROUP: RefCell<BTreeMap<i64, Deltas>> = const { RefCell::new(BTreeMap::new()) };
}

/// Keeps a job's changes for its group's commit (see [`GROUP`]). Must be the job's last step.
pub(super) fn defer(bot_pk: i64, deltas: Deltas) {
    GROUP.with(|g| g.borrow_mut().entry(bot_pk).or_default().merge(deltas));
}

/// Applies the changes the group's jobs deferred; they are taken even when this fails, as the
/// whole group then rolls back.
pub(super) fn flush_group(c: &Connection) -> Result<()> {
    let group = GROUP.with(|g| std::mem::take(&mut *g.borrow_mut()));
    for (bot_pk, deltas) in group {
        flush(c, bot_pk, deltas)?;
    }
    Ok(())
}

/// The counter columns of `rollups` and `dim_rollups`, in the order of [`counter_values`].
const COUNTER_COLUMNS: [&str; 9] = [
    "conversations",
    "duration_ms",
    "handoffs",
    "n_user",
    "n_bot",
    "n_agent",
    "n_system",
    "not_handled",
    "completed",
];

/// Counter columns before migration 12 added `completed` (migration 2's backfill writes these).
const OLD_COUNTERS: usize = 8;

fn counter_values(x: &Counters) -> [i64; 9] {
    let [u, b, a, s] = x.messages;
    [x.conversations, x.duration_ms, x.handoffs, u, b, a, s, x.not_handled, x.completed]
}

/// An upsert into `table` of a row keyed by `key` with the first `n` counter columns, adding
/// them to the row it finds.
fn counters_upsert(table: &str, key: &[&str], n: usize) -> String {
    let counters = &COUNTER_COLUMNS[..n];
    let columns: Vec<&str> = key.iter().chain(counters).copied().collect();
    let values: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let add: Vec<String> = counters.iter().map(|c| format!("{c} = {c} + excluded.{c}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
        columns.join(", "),
        values.join(", "),
        key.join(", "),
        add.join(", ")
    )
}

/// Runs an upsert of [`counters_upsert`]: binds `key`, then the first `n` counters of `x`.
fn upsert_counters(
    st: &mut rusqlite::CachedStatement<'_>,
    key: &[&dyn rusqlite::ToSql],
    x: &Counters,
    n: usize,
) -> rusqlite::Result<usize> {
    for (i, k) in key.iter().enumerate() {
        st.raw_bind_parameter(i + 1, k)?;
    }
    for (i, v) in counter_values(x)[..n].iter().enumerate() {
        st.raw_bind_parameter(key.len() + i + 1, v)?;
    }
    st.raw_execute()
}

/// Adds the gathered changes to the rows of every level and to the rows per single dimension.
pub(super) fn flush(c: &Connection, bot_pk: i64, deltas: Deltas) -> Result<()> {
    flush_rows(c, bot_pk, deltas, true)
}

/// [`flush`], leaving out the rows per single dimension, the goal counter and the per-step
/// conversations when `per_dim` is false (migration 2's backfill, before migration 10 made the
/// table per single dimension, which then builds it from the day rows, before migration 12
/// added the counter and migration 14 the per-step table, which fills itself).
fn flush_rows(c: &Connection, bot_pk: i64, mut deltas: Deltas, per_dim: bool) -> Result<()> {
    deltas.prune();
    if deltas.is_empty() {
        return Ok(());
    }
    let mut ids: HashMap<usize, i64> = HashMap::new();
    for d in rollups::used_dims(&deltas) {
        ids.insert(d, dims_id(c, bot_pk, &deltas.dims[d])?);
    }
    let rows = rollups::level_rows(&deltas, |d| ids[&d]);
    // Migration 2's backfill runs before migration 12 added `completed` (nothing had a goal).
    let n = if per_dim { COUNTER_COLUMNS.len() } else { OLD_COUNTERS };
    let mut upsert =
        c.prepare_cached(&counters_upsert("rollups", &["dims_id", "level", "slot"], n))?;
    for ((dims, level, slot), x) in &rows.counters {
        upsert_counters(&mut upsert, &[dims, level, slot], x, n)?;
    }
    if per_dim && !rows.by_dim.is_empty() {
        let key = ["bot_pk", "dim", "day", "value"];
        let mut upsert = c.prepare_cached(&counters_upsert("dim_rollups", &key, n))?;
        for ((dim, day, value), x) in &rows.by_dim {
            upsert_counters(&mut upsert, &[&bot_pk, dim, day, value], x, n)?;
        }
    }
    let mut upsert = c.prepare_cached(
        "INSERT INTO flow_edges (dims_id, level, slot, from_id, from_type, to_id, to_type, n) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (dims_id, level, slot, from_id, from_type, to_id, to_type) \
         DO UPDATE SET n = n + excluded.n",
    )?;
    for (((dims, level, slot), from, to), n) in rows.edges {
        upsert.execute(params![dims, level, slot, from.id, from.kind, to.id, to.kind, n])?;
    }
    let mut upsert = c.prepare_cached(
        "INSERT INTO flow_exits (dims_id, level, slot, step_id, step_type, n) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (dims_id, level, slot, step_id, step_type) DO UPDATE SET n = n + excluded.n",
    )?;
    for (((dims, level, slot), step), n) in rows.exits {
        upsert.execute(params![dims, level, slot, step.id, step.kind, n])?;
    }
    if per_dim && !rows.steps.is_empty() {
        // Not while migration 2 backfills: migration 14 makes the table and fills it.
        let mut upsert = c.prepare_cached(
            "INSERT INTO flow_steps (dims_id, level, slot, step_id, step_type, conversations, \
             completed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (dims_id, level, slot, step_id, step_type) DO UPDATE SET \
             conversations = conversations + excluded.conversations, \
             completed = completed + excluded.completed",
        )?;
        for (((dims, level, slot), step), v) in rows.steps {
            upsert.execute(params![
                dims,
                level,
                slot,
                step.id,
                step.kind,
                v.conversations,
                v.completed
            ])?;
        }
    }
    if rows.tokens.is_empty() {
        // Also while migration 2 backfills, before migration 9 made the table.
        return Ok(());
    }
    let mut upsert = c.prepare_cached(
        "INSERT INTO token_rollups (dims_id, level, slot, model, input_tokens, output_tokens) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (dims_id, level, slot, model) DO UPDATE SET \
         input_tokens = input_tokens + excluded.input_tokens, \
         output_tokens = output_tokens + excluded.output_tokens",
    )?;
    for (((dims, level, slot), model), t) in rows.tokens {
        upsert.execute(params![dims, level, slot, model, t.input, t.output])?;
    }
    Ok(())
}

/// Messages read per query by [`backfill_tokens`].
const BACKFILL_CHUNK: i64 = 5_000;

/// Builds the token rollups of messages stored before they existed (migration 9), bot by bot,
/// from the messages whose metadata may hold token counts, under their conversation's
/// dimensions.
pub(super) fn backfill_tokens(c: &Connection) -> Result<()> {
    let bots: Vec<i64> = c
        .prepare("SELECT id FROM bots ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let sql = format!(
        "SELECT m.id, m.ts, m.metadata, {} FROM messages m \
         JOIN conversations c ON c.id = m.conversation_pk \
         WHERE m.bot_pk = ?1 AND m.id > ?2 AND m.metadata LIKE '%\\_tokens%' ESCAPE '\\' \
         ORDER BY m.id LIMIT ?3",
        rollups::dim_list("c")
    );
    for bot_pk in bots {
        let mut deltas = Deltas::default();
        let mut after = 0i64;
        loop {
            let mut found = 0;
            let mut stmt = c.prepare(&sql)?;
            let mut rows = stmt.query(params![bot_pk, after, BACKFILL_CHUNK])?;
            while let Some(r) = rows.next()? {
                found += 1;
                after = r.get(0)?;
                let metadata: Option<String> = r.get(2)?;
                let metadata = metadata.and_then(|m| serde_json::from_str(&m).ok());
                let Some(usage) = token_usage(metadata.as_ref()) else { continue };
                let mut dims: [Option<String>; 5] = Default::default();
                for (i, v) in dims.iter_mut().enumerate() {
                    *v = r.get(3 + i)?;
                }
                let d = deltas.intern(&DimsKey(dims));
                deltas.usage(d, r.get(1)?, &usage, 1);
            }
            if found < BACKFILL_CHUNK {
                break;
            }
        }
        flush(c, bot_pk, deltas)?;
    }
    Ok(())
}

/// Fills in the steps each conversation was at (its stamps' `visited`, in the order their
/// messages were stored, as ingest keeps them) and the flow's per-step counts (migration 14).
pub(super) fn backfill_visits(c: &Connection) -> Result<()> {
    let convs: Vec<(i64, i64)> = c
        .prepare(
            "SELECT id, bot_pk FROM conversations WHERE last_step_id IS NOT NULL \
             ORDER BY bot_pk, id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let load = format!(
        "SELECT {} FROM conversations c JOIN bots b ON b.id = c.bot_pk WHERE c.id = ?1",
        rows::CONVERSATION_SELECT
    );
    let mut steps = c.prepare(
        "SELECT step_id, step_type FROM messages \
         WHERE conversation_pk = ?1 AND step_id IS NOT NULL ORDER BY id",
    )?;
    let mut deltas = Deltas::default();
    let mut bot = None;
    for (i, (pk, bot_pk)) in convs.into_iter().enumerate() {
        if bot != Some(bot_pk) || i % 1_000 == 0 {
            if let Some(prev) = bot {
                flush(c, prev, std::mem::take(&mut deltas))?;
            }
            bot = Some(bot_pk);
        }
        let mut summary = c.query_row(&load, [pk], |r| rows::conversation(r, 0))?.summary;
        let rows = steps.query_map([pk], |r| Ok(Step { id: r.get(0)?, kind: r.get(1)? }))?;
        for step in rows {
            summary.visit(&step?);
        }
        c.execute(
            "UPDATE conversations SET stamps = ?2 WHERE id = ?1",
            params![pk, serde_json::to_string(&summary.stamps).unwrap_or_default()],
        )?;
        let d = deltas.intern(&DimsKey::of(&summary));
        deltas.visits(d, &summary, 1);
    }
    if let Some(prev) = bot {
        flush(c, prev, deltas)?;
    }
    Ok(())
}

/// Builds the rollups of conversations stored before they existed (migration 2): each
/// conversation's last step, then its whole contribution. Token usage is left to migration 9's
/// [`backfill_tokens`], which runs after it on the same messages.
pub(super) fn backfill(c: &Connection) -> Result<()> {
    let convs: Vec<(i64, i64)> = c
        .prepare("SELECT id, bot_pk FROM conversations ORDER BY bot_pk, id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let load = format!(
        "SELECT {} FROM conversations c JOIN bots b ON b.id = c.bot_pk WHERE c.id = ?1",
        rows::CONVERSATION_SELECT
    );
    let mut deltas = Deltas::default();
    let mut bot = None;
    for (i, (pk, bot_pk)) in convs.into_iter().enumerate() {
        if bot != Some(bot_pk) || i % 1_000 == 0 {
            if let Some(prev) = bot {
                flush_rows(c, prev, std::mem::take(&mut deltas), false)?;
            }
            bot = Some(bot_pk);
        }
        let mut summary = c.query_row(&load, [pk], |r| rows::conversation(r, 0))?.summary;
        let mut facts = message_facts(c, pk, &HashSet::new())?;
        for f in &mut facts {
            f.usage = None;
        }
        if let Some(last) = facts.iter().rev().find_map(|m| Some((m.order.0, m.step.as_ref()?))) {
            summary.last_step = Some(Step {
                id: last.1.id.clone(),
                kind: (!last.1.kind.is_empty()).then(|| last.1.kind.clone()),
            });
            summary.stamps.last_step = Some(last.0);
            c.execute(
                "UPDATE conversations SET last_step_id = ?2, last_step_type = ?3, stamps = ?4 \
                 WHERE id = ?1",
                params![
                    pk,
                    last.1.id,
                    summary.last_step.as_ref().and_then(|s| s.kind.clone()),
                    serde_json::to_string(&summary.stamps).unwrap_or_default()
                ],
            )?;
        }
        deltas.whole(&summary, &facts, 1);
    }
    if let Some(prev) = bot {
        flush_rows(c, prev, deltas, false)?;
    }
    Ok(())
}
