-- Conversations per step they were at, each once however often it came back, and of them the
-- completed ones (confab_core::flow::Visits), in the slot of the conversation's start, at the
-- flow levels: the flow's per-step completion and drop-off rates. Which steps a conversation
-- was at is kept in its stamps (`v`); the migration's backfill fills both from the messages.
CREATE TABLE flow_steps (
    dims_id       INTEGER NOT NULL,
    level         INTEGER NOT NULL,
    slot          INTEGER NOT NULL,
    step_id       TEXT NOT NULL,
    step_type     TEXT NOT NULL,
    conversations INTEGER NOT NULL,
    completed     INTEGER NOT NULL,
    PRIMARY KEY (dims_id, level, slot, step_id, step_type)
) WITHOUT ROWID;
