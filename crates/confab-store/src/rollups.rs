//! The store side of the analytics rollups, the same for every backend: what a write changes
//! ([`account`], computed by `confab_core::rollup`) and the rows of every level those changes
//! add to ([`level_rows`]). The backends read the history [`account`] may need and write the
//! rows. Also what the backends' analytics reads share.

use std::collections::{BTreeMap, BTreeSet};

use confab_core::flow::{StepKey, Visits};
use confab_core::rollup::{
    Counters, DIM_LEVEL, Deltas, DimsKey, FLOW_LEVELS, LEVELS, MessageFacts, ROLLUP_DIMS, Tokens,
    floor,
};
use confab_core::series::GroupKey;
use confab_core::summary::{Dim, Stamps, Summary};

use crate::columns::DIM_COLUMNS;

/// A conversation's stored `stamps` text, read (empty if it cannot be).
pub(crate) fn stamps(stamps_json: &str) -> Stamps {
    serde_json::from_str(stamps_json).unwrap_or_default()
}

/// Whether a conversation with this stored `stamps` text reached a goal step
/// ([`Summary::completed`]); how the exact counts of range edges tell.
pub(crate) fn completed(stamps_json: &str) -> bool {
    stamps(stamps_json).goal.is_some()
}

/// Whether recording a write to a stored conversation needs the facts of the messages stored
/// before it: when its start slot or dimensions moved, or a step arrived before the last known
/// one (the path is rewritten from there), its whole contribution is taken out and put back.
pub(crate) fn needs_history(before: &Summary, after: &Summary, new: &[MessageFacts]) -> bool {
    let moved = DimsKey::of(before) != DimsKey::of(after)
        || floor(before.started_at, 0) != floor(after.started_at, 0);
    let rewritten = before
        .stamps
        .last_step
        .is_some_and(|last| new.iter().any(|m| m.step.is_some() && m.order.0 < last));
    moved || rewritten
}

/// Records what one conversation's newly stored messages (`new`) change. `before` is the
/// summary as it was stored (`None` for a conversation the write created), `after` with the new
/// messages applied; `old` the facts of the messages stored before, which the caller reads
/// when [`needs_history`] says so.
pub(crate) fn account(
    deltas: &mut Deltas,
    before: Option<&Summary>,
    after: &Summary,
    mut new: Vec<MessageFacts>,
    old: Option<Vec<MessageFacts>>,
) {
    new.sort_by_key(|m| m.order);
    let Some(before) = before else {
        deltas.whole(after, &new, 1);
        return;
    };
    if let Some(old) = old {
        deltas.whole(before, &old, -1);
        let mut all = old;
        all.extend(new);
        all.sort_by_key(|m| m.order);
        deltas.whole(after, &all, 1);
        return;
    }
    // The common case: the conversation grows at its end.
    deltas.conversation(before, -1);
    deltas.conversation(after, 1);
    let d = deltas.intern(&DimsKey::of(after));
    deltas.grown_visits(d, before, after);
    for m in &new {
        deltas.message(d, m, 1);
    }
    let prev = before.last_step.as_ref().map(StepKey::of);
    deltas.flow(d, after.started_at, prev.as_ref(), new.iter().filter_map(|m| m.step.as_ref()), 1);
}

/// The interned dimension combinations the (pruned) changes touch — the ones a backend must
/// find or create rows for — in the order of their values, so that concurrent writers create
/// rows in the same order.
pub(crate) fn used_dims(deltas: &Deltas) -> Vec<usize> {
    let mut used: BTreeSet<usize> = deltas.counters.keys().map(|(d, _)| *d).collect();
    used.extend(deltas.edges.keys().map(|(d, ..)| *d));
    used.extend(deltas.exits.keys().map(|(d, ..)| *d));
    used.extend(deltas.tokens.keys().map(|(d, ..)| *d));
    used.extend(deltas.steps.keys().map(|(d, ..)| *d));
    let mut used: Vec<usize> = used.into_iter().collect();
    used.sort_by(|a, b| deltas.dims[*a].cmp(&deltas.dims[*b]));
    used
}

/// A rollup row's key: dimension row id, level, slot.
pub(crate) type RowKey = (i64, i64, i64);

/// The changes of one write added up per row of every level, in key order (so that concurrent
/// writers touch rows in the same order). `dims_id` maps an interned combination to its row id.
pub(crate) struct LevelRows<'a> {
    pub counters: BTreeMap<RowKey, Counters>,
    pub edges: BTreeMap<(RowKey, &'a StepKey, &'a StepKey), i64>,
    pub exits: BTreeMap<(RowKey, &'a StepKey), i64>,
    /// Token usage per row and model.
    pub tokens: BTreeMap<(RowKey, &'a str), Tokens>,
    /// Conversations per row and step they were at.
    pub steps: BTreeMap<(RowKey, &'a StepKey), Visits>,
    /// Counters per single dimension: by its code, the day and its value (`''`: not set), in
    /// the order of the table's key.
    pub by_dim: BTreeMap<(i64, i64, &'a str), Counters>,
}

pub(crate) fn level_rows<'a>(deltas: &'a Deltas, dims_id: impl Fn(usize) -> i64) -> LevelRows<'a> {
    let mut rows = LevelRows {
        counters: BTreeMap::new(),
        edges: BTreeMap::new(),
        exits: BTreeMap::new(),
        tokens: BTreeMap::new(),
        steps: BTreeMap::new(),
        by_dim: BTreeMap::new(),
    };
    for ((d, slot), delta) in &deltas.counters {
        let dims = dims_id(*d);
        for level in 0..LEVELS.len() {
            let key = (dims, level as i64, floor(*slot, level));
            rows.counters.entry(key).or_default().add(delta, 1);
        }
        let day = floor(*slot, DIM_LEVEL);
        for (code, value) in deltas.dims[*d].0.iter().enumerate() {
            let key = (code as i64, day, value.as_deref().unwrap_or(""));
            rows.by_dim.entry(key).or_default().add(delta, 1);
        }
    }
    for ((d, slot, from, to), n) in &deltas.edges {
        let dims = dims_id(*d);
        for level in FLOW_LEVELS {
            *rows
                .edges
                .entry(((dims, level as i64, floor(*slot, level)), from, to))
                .or_default() += n;
        }
    }
    for ((d, slot, step), n) in &deltas.exits {
        let dims = dims_id(*d);
        for level in FLOW_LEVELS {
            *rows.exits.entry(((dims, level as i64, floor(*slot, level)), step)).or_default() += n;
        }
    }
    for ((d, slot, step), v) in &deltas.steps {
        let dims = dims_id(*d);
        for level in FLOW_LEVELS {
            let key = ((dims, level as i64, floor(*slot, level)), step);
            rows.steps.entry(key).or_default().add(v, 1);
        }
    }
    for ((d, slot, model), delta) in &deltas.tokens {
        let dims = dims_id(*d);
        for level in 0..LEVELS.len() {
            let key = ((dims, level as i64, floor(*slot, level)), model.as_str());
            rows.tokens.entry(key).or_default().add(delta, 1);
        }
    }
    rows.counters.retain(|_, c| !c.is_zero());
    rows.by_dim.retain(|_, c| !c.is_zero());
    rows.tokens.retain(|_, t| !t.is_zero());
    rows.edges.retain(|_, n| *n != 0);
    rows.exits.retain(|_, n| *n != 0);
    rows.steps.retain(|_, v| !v.is_zero());
    rows
}

/// A bot an analytics query covers.
pub(crate) struct BotRef {
    pub pk: i64,
    pub id: String,
    pub team: i64,
}

pub(crate) fn column(d: Dim) -> &'static str {
    DIM_COLUMNS[d as usize]
}

/// The rollup dimension columns, in [`ROLLUP_DIMS`] order, for a `SELECT` list.
pub(crate) fn dim_list(alias: &str) -> String {
    ROLLUP_DIMS.iter().map(|d| format!("{alias}.{}", column(*d))).collect::<Vec<_>>().join(", ")
}

/// The group a row of `bot` with these rollup dimensions falls in.
pub(crate) fn group_of(
    groups: &[GroupKey],
    bot: &BotRef,
    dims: &[Option<String>; 5],
) -> Vec<Option<String>> {
    groups
        .iter()
        .map(|g| match g {
            GroupKey::Bot => Some(bot.id.clone()),
            GroupKey::Team => Some(bot.team.to_string()),
            GroupKey::Dim(d) => {
                ROLLUP_DIMS.iter().position(|x| x == d).and_then(|i| dims[i].clone())
            }
            GroupKey::Role | GroupKey::Model => None,
        })
        .collect()
}

/// A group of [`group_of`] with the model of a token row filled in (`''`: none named).
pub(crate) fn with_model(
    groups: &[GroupKey],
    mut group: Vec<Option<String>>,
    model: &str,
) -> Vec<Option<String>> {
    if let Some(i) = groups.iter().position(|g| *g == GroupKey::Model) {
        group[i] = (!model.is_empty()).then(|| model.to_owned());
    }
    group
}

/// A flow node as stored: a step id and its type (`NULL` as `""`).
pub(crate) fn step(id: String, kind: Option<String>) -> StepKey {
    StepKey { id, kind: kind.unwrap_or_default() }
}
