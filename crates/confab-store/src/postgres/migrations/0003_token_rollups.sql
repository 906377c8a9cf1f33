-- LLM token usage (confab_core::rollup::token_usage: `input_tokens`, `output_tokens` and `model`
-- in a message's metadata), summed like the other rollups: at three levels (0: 15-minute slots,
-- 1: hours, 2: days; UTC, `slot` is the start in epoch ms), per bot, combination of rollup
-- dimensions (`rollup_dims`) and model ('' when a message names none), in the slot of each
-- message. Keys lead with the bot, like every table of conversation data (see scaling.md).
-- Rows are never deleted: an erased conversation's tokens stay as anonymous aggregates. The rows
-- of messages stored before this migration are backfilled as it runs.
CREATE TABLE token_rollups (
    bot_pk         bigint NOT NULL,
    dims_id        bigint NOT NULL,
    level          bigint NOT NULL,
    slot           bigint NOT NULL,
    model          text NOT NULL,
    input_tokens   bigint NOT NULL,
    output_tokens  bigint NOT NULL,
    PRIMARY KEY (bot_pk, dims_id, level, slot, model)
);
