-- LLM token usage (confab_core::rollup::token_usage: `input_tokens`, `output_tokens` and `model`
-- in a message's metadata), summed like the other rollups: at three levels (0: 15-minute slots,
-- 1: hours, 2: days; UTC, `slot` is the start in epoch milliseconds), per combination of rollup
-- dimensions (`rollup_dims`) and model ('' when a message names none), in the slot of each
-- message. Rows are never deleted: an erased conversation's tokens stay as anonymous
-- aggregates. The rows of messages stored before this migration are backfilled as it runs.
CREATE TABLE token_rollups (
    dims_id        INTEGER NOT NULL,
    level          INTEGER NOT NULL,
    slot           INTEGER NOT NULL,
    model          TEXT NOT NULL,
    input_tokens   INTEGER NOT NULL,
    output_tokens  INTEGER NOT NULL,
    PRIMARY KEY (dims_id, level, slot, model)
) WITHOUT ROWID;
