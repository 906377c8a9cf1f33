-- Conversations per step they were at, each once however often it came back, and of them the
-- completed ones (confab_core::flow::Visits), in the slot of the conversation's start, at the
-- flow levels: the flow's per-step completion and drop-off rates. Which steps a conversation
-- was at is kept in its stamps (`v`); the migration's backfill fills both from the messages.
CREATE TABLE flow_steps (
    bot_pk        bigint NOT NULL,
    dims_id       bigint NOT NULL,
    level         bigint NOT NULL,
    slot          bigint NOT NULL,
    step_id       text NOT NULL,
    step_type     text NOT NULL,
    conversations bigint NOT NULL,
    completed     bigint NOT NULL,
    PRIMARY KEY (bot_pk, dims_id, level, slot, step_id, step_type)
);
