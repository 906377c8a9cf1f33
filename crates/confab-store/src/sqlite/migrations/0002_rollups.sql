-- Analytics rollups (see confab_core::rollup). Counters are kept at three levels (0: 15-minute
-- slots, 1: hours, 2: days; UTC, `slot` is the start in epoch milliseconds) per bot and
-- combination of rollup dimensions. Rows are never deleted: an erased conversation's counts
-- stay as anonymous aggregates (no ids, no text, no user).

ALTER TABLE conversations ADD COLUMN last_step_id TEXT;
ALTER TABLE conversations ADD COLUMN last_step_type TEXT;

-- Exact counts for range edges inside a slot read messages by time.
CREATE INDEX messages_time ON messages (bot_pk, ts);

-- One row per combination seen; '' stands for "not set" (dimension values are never empty).
CREATE TABLE rollup_dims (
    id               INTEGER PRIMARY KEY,
    bot_pk           INTEGER NOT NULL REFERENCES bots (id),
    version          TEXT NOT NULL,
    channel_type     TEXT NOT NULL,
    language         TEXT NOT NULL,
    campaign_id      TEXT NOT NULL,
    campaign_source  TEXT NOT NULL,
    UNIQUE (bot_pk, version, channel_type, language, campaign_id, campaign_source)
);

CREATE TABLE rollups (
    dims_id        INTEGER NOT NULL,
    level          INTEGER NOT NULL,
    slot           INTEGER NOT NULL,
    conversations  INTEGER NOT NULL,
    duration_ms    INTEGER NOT NULL,
    handoffs       INTEGER NOT NULL,
    n_user         INTEGER NOT NULL,
    n_bot          INTEGER NOT NULL,
    n_agent        INTEGER NOT NULL,
    n_system       INTEGER NOT NULL,
    not_handled    INTEGER NOT NULL,
    PRIMARY KEY (dims_id, level, slot)
) WITHOUT ROWID;

-- Flow edges (from START included), in the slot of the conversation's start.
CREATE TABLE flow_edges (
    dims_id    INTEGER NOT NULL,
    level      INTEGER NOT NULL,
    slot       INTEGER NOT NULL,
    from_id    TEXT NOT NULL,
    from_type  TEXT NOT NULL,
    to_id      TEXT NOT NULL,
    to_type    TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (dims_id, level, slot, from_id, from_type, to_id, to_type)
) WITHOUT ROWID;

-- Conversations by last step, in the slot of their start: drop-offs once they have ended.
CREATE TABLE flow_exits (
    dims_id    INTEGER NOT NULL,
    level      INTEGER NOT NULL,
    slot       INTEGER NOT NULL,
    step_id    TEXT NOT NULL,
    step_type  TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (dims_id, level, slot, step_id, step_type)
) WITHOUT ROWID;
