-- Counters once more per bot, UTC day and single rollup dimension (confab_core::rollup::DIM_LEVEL):
-- `dim` is the dimension's place in confab_core::rollup::ROLLUP_DIMS (0 version, 1 channel_type,
-- 2 language, 3 campaign_id, 4 campaign_source), `value` its value ('' for "not set"), `day` the
-- UTC day's start in epoch milliseconds. Every conversation counts once under each dimension, so
-- a series that filters and groups by at most one dimension reads a row per value and day here
-- instead of one per combination of all five (`rollups`, level 2). Kept by the same changes as
-- `rollups` (a conversation whose dimensions change moves here too); never deleted, like them.
-- Built from the day rows of `rollups` as this migration runs.
CREATE TABLE dim_rollups (
    bot_pk         INTEGER NOT NULL,
    dim            INTEGER NOT NULL,
    day            INTEGER NOT NULL,
    value          TEXT NOT NULL,
    conversations  INTEGER NOT NULL,
    duration_ms    INTEGER NOT NULL,
    handoffs       INTEGER NOT NULL,
    n_user         INTEGER NOT NULL,
    n_bot          INTEGER NOT NULL,
    n_agent        INTEGER NOT NULL,
    n_system       INTEGER NOT NULL,
    not_handled    INTEGER NOT NULL,
    PRIMARY KEY (bot_pk, dim, day, value)
) WITHOUT ROWID;

INSERT INTO dim_rollups (bot_pk, dim, day, value, conversations, duration_ms, handoffs, n_user, n_bot, n_agent, n_system, not_handled)
SELECT d.bot_pk, 0, r.slot, d.version, SUM(r.conversations), SUM(r.duration_ms), SUM(r.handoffs), SUM(r.n_user), SUM(r.n_bot), SUM(r.n_agent), SUM(r.n_system), SUM(r.not_handled)
FROM rollups r JOIN rollup_dims d ON d.id = r.dims_id
WHERE r.level = 2
GROUP BY d.bot_pk, r.slot, d.version;

INSERT INTO dim_rollups (bot_pk, dim, day, value, conversations, duration_ms, handoffs, n_user, n_bot, n_agent, n_system, not_handled)
SELECT d.bot_pk, 1, r.slot, d.channel_type, SUM(r.conversations), SUM(r.duration_ms), SUM(r.handoffs), SUM(r.n_user), SUM(r.n_bot), SUM(r.n_agent), SUM(r.n_system), SUM(r.not_handled)
FROM rollups r JOIN rollup_dims d ON d.id = r.dims_id
WHERE r.level = 2
GROUP BY d.bot_pk, r.slot, d.channel_type;

INSERT INTO dim_rollups (bot_pk, dim, day, value, conversations, duration_ms, handoffs, n_user, n_bot, n_agent, n_system, not_handled)
SELECT d.bot_pk, 2, r.slot, d.language, SUM(r.conversations), SUM(r.duration_ms), SUM(r.handoffs), SUM(r.n_user), SUM(r.n_bot), SUM(r.n_agent), SUM(r.n_system), SUM(r.not_handled)
FROM rollups r JOIN rollup_dims d ON d.id = r.dims_id
WHERE r.level = 2
GROUP BY d.bot_pk, r.slot, d.language;

INSERT INTO dim_rollups (bot_pk, dim, day, value, conversations, duration_ms, handoffs, n_user, n_bot, n_agent, n_system, not_handled)
SELECT d.bot_pk, 3, r.slot, d.campaign_id, SUM(r.conversations), SUM(r.duration_ms), SUM(r.handoffs), SUM(r.n_user), SUM(r.n_bot), SUM(r.n_agent), SUM(r.n_system), SUM(r.not_handled)
FROM rollups r JOIN rollup_dims d ON d.id = r.dims_id
WHERE r.level = 2
GROUP BY d.bot_pk, r.slot, d.campaign_id;

INSERT INTO dim_rollups (bot_pk, dim, day, value, conversations, duration_ms, handoffs, n_user, n_bot, n_agent, n_system, not_handled)
SELECT d.bot_pk, 4, r.slot, d.campaign_source, SUM(r.conversations), SUM(r.duration_ms), SUM(r.handoffs), SUM(r.n_user), SUM(r.n_bot), SUM(r.n_agent), SUM(r.n_system), SUM(r.not_handled)
FROM rollups r JOIN rollup_dims d ON d.id = r.dims_id
WHERE r.level = 2
GROUP BY d.bot_pk, r.slot, d.campaign_source;
