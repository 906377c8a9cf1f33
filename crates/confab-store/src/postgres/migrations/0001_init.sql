-- Confab's PostgreSQL schema, version 1: the same tables as the SQLite store's migrations 1-5.
-- Applied migrations are never edited: changes get new files.
--
-- Every table of conversation data leads its keys with the bot (`bot_pk`), so the schema can be
-- distributed by bot with Citus, these tables colocated; teams, keys and bots are small
-- reference tables (docs/scaling.md). Times are epoch milliseconds; JSON is kept as text,
-- exactly as written.

CREATE TABLE teams (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    created_at  bigint NOT NULL
);

CREATE TABLE api_keys (
    id          bigserial PRIMARY KEY,
    team_id     bigint NOT NULL REFERENCES teams (id),
    name        text NOT NULL,
    hash        bytea NOT NULL UNIQUE,
    hint        text NOT NULL,
    scopes      bigint NOT NULL,
    bots        text,                -- JSON array of bot ids, NULL for every bot
    created_at  bigint NOT NULL,
    revoked_at  bigint
);

CREATE TABLE bots (
    id                bigserial PRIMARY KEY,
    team_id           bigint NOT NULL REFERENCES teams (id),
    bot_id            text NOT NULL,
    created_at        bigint NOT NULL,
    settings          text NOT NULL DEFAULT '{}',
    datapoint_schema  text,
    inactivity_ms     bigint NOT NULL DEFAULT 600000,
    UNIQUE (team_id, bot_id)
);

CREATE TABLE conversations (
    bot_pk              bigint NOT NULL REFERENCES bots (id),
    id                  bigserial NOT NULL,
    conversation_id     text NOT NULL,
    status              bigint NOT NULL DEFAULT 0,   -- 0 active, 1 ended
    started_at          bigint NOT NULL,
    last_message_at     bigint NOT NULL,
    message_count       bigint NOT NULL,
    n_user              bigint NOT NULL,
    n_bot               bigint NOT NULL,
    n_agent             bigint NOT NULL,
    n_system            bigint NOT NULL,
    first_user_message  text,
    first_bot_message   text,
    channel_type        text,
    language            text,
    version             text,
    user_id             text,
    campaign_id         text,
    campaign_source     text,
    conv_type           text,
    session_id          text,
    metadata            text,
    stamps              text NOT NULL,
    last_step_id        text,
    last_step_type      text,
    extract_state       text,
    extract_last_ts     bigint,
    ended_at            bigint,
    finalise_lease      bigint,
    PRIMARY KEY (bot_pk, id),
    UNIQUE (bot_pk, conversation_id)
);
-- Numeric ids (Botuj's, the finaliser's) are unique on their own.
CREATE INDEX conversations_id ON conversations (id);
CREATE INDEX conversations_started ON conversations (bot_pk, started_at DESC, id DESC);
CREATE INDEX conversations_last ON conversations (bot_pk, last_message_at DESC, id DESC);
CREATE INDEX conversations_user ON conversations (bot_pk, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX conversations_idle ON conversations (last_message_at) WHERE status = 0;

-- `search` is the message's words as confab_core::search::lexemes folds them, with positions,
-- built by the store: PostgreSQL's own parsers and dictionaries are language-specific, this is
-- the same for Polish, German and English, and the same as the SQLite store's FTS5 index.
CREATE TABLE messages (
    bot_pk           bigint NOT NULL,
    id               bigserial NOT NULL,
    conversation_pk  bigint NOT NULL,
    client_id        text,
    role             bigint NOT NULL,
    content          text NOT NULL,
    ts               bigint NOT NULL,
    step_id          text,
    step_type        text,
    metadata         text,
    search           tsvector NOT NULL,
    PRIMARY KEY (bot_pk, id),
    FOREIGN KEY (bot_pk, conversation_pk) REFERENCES conversations (bot_pk, id)
);
CREATE UNIQUE INDEX messages_client ON messages (bot_pk, conversation_pk, client_id)
    WHERE client_id IS NOT NULL;
CREATE INDEX messages_conversation ON messages (bot_pk, conversation_pk, ts, id);
CREATE INDEX messages_time ON messages (bot_pk, ts);
CREATE INDEX messages_search ON messages USING gin (search);

-- Analytics rollups (confab_core::rollup): counters at three levels (0: 15-minute slots,
-- 1: hours, 2: days; UTC, `slot` is the start in epoch ms) per bot and combination of rollup
-- dimensions ('' for "not set"). Rows are never deleted: an erased conversation's counts stay
-- as anonymous aggregates.
CREATE TABLE rollup_dims (
    bot_pk           bigint NOT NULL REFERENCES bots (id),
    id               bigserial NOT NULL,
    version          text NOT NULL,
    channel_type     text NOT NULL,
    language         text NOT NULL,
    campaign_id      text NOT NULL,
    campaign_source  text NOT NULL,
    PRIMARY KEY (bot_pk, id),
    UNIQUE (bot_pk, version, channel_type, language, campaign_id, campaign_source)
);

CREATE TABLE rollups (
    bot_pk         bigint NOT NULL,
    dims_id        bigint NOT NULL,
    level          bigint NOT NULL,
    slot           bigint NOT NULL,
    conversations  bigint NOT NULL,
    duration_ms    bigint NOT NULL,
    handoffs       bigint NOT NULL,
    n_user         bigint NOT NULL,
    n_bot          bigint NOT NULL,
    n_agent        bigint NOT NULL,
    n_system       bigint NOT NULL,
    not_handled    bigint NOT NULL,
    PRIMARY KEY (bot_pk, dims_id, level, slot)
);

-- Flow edges (from START included), in the slot of the conversation's start.
CREATE TABLE flow_edges (
    bot_pk     bigint NOT NULL,
    dims_id    bigint NOT NULL,
    level      bigint NOT NULL,
    slot       bigint NOT NULL,
    from_id    text NOT NULL,
    from_type  text NOT NULL,
    to_id      text NOT NULL,
    to_type    text NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (bot_pk, dims_id, level, slot, from_id, from_type, to_id, to_type)
);

-- Conversations by last step, in the slot of their start: drop-offs once they have ended.
CREATE TABLE flow_exits (
    bot_pk     bigint NOT NULL,
    dims_id    bigint NOT NULL,
    level      bigint NOT NULL,
    slot       bigint NOT NULL,
    step_id    text NOT NULL,
    step_type  text NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (bot_pk, dims_id, level, slot, step_id, step_type)
);

-- A conversation's datapoint values. `method`: 0 explicit, 1 rule, 2 llm.
CREATE TABLE datapoints (
    bot_pk           bigint NOT NULL,
    conversation_pk  bigint NOT NULL,
    key              text NOT NULL,
    value            text NOT NULL,        -- JSON
    method           bigint NOT NULL,
    message_pk       bigint,
    updated_at       bigint NOT NULL,
    PRIMARY KEY (bot_pk, conversation_pk, key)
);

CREATE TABLE webhooks (
    bot_pk      bigint NOT NULL REFERENCES bots (id),
    id          bigserial NOT NULL,
    url         text NOT NULL,
    events      bigint NOT NULL,
    secret      text NOT NULL,
    created_at  bigint NOT NULL,
    PRIMARY KEY (bot_pk, id)
);
CREATE INDEX webhooks_id ON webhooks (id);

-- The outbox: one row per event and subscriber, written in the transaction that caused the
-- event. `state`: 0 pending, 1 delivered, 2 dead. Senders claim due rows with
-- FOR UPDATE SKIP LOCKED and a lease in `next_attempt_at`.
CREATE TABLE webhook_deliveries (
    bot_pk           bigint NOT NULL,
    id               bigserial NOT NULL,
    webhook_id       bigint NOT NULL,
    conversation_pk  bigint,
    event_id         text NOT NULL,
    event            text NOT NULL,
    payload          text NOT NULL,
    state            bigint NOT NULL DEFAULT 0,
    attempts         bigint NOT NULL DEFAULT 0,
    next_attempt_at  bigint NOT NULL,
    last_status      bigint,
    last_error       text,
    created_at       bigint NOT NULL,
    delivered_at     bigint,
    PRIMARY KEY (bot_pk, id)
);
CREATE INDEX webhook_deliveries_id ON webhook_deliveries (id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 0;
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (bot_pk, webhook_id, id DESC);
CREATE INDEX webhook_deliveries_conversation ON webhook_deliveries (bot_pk, conversation_pk);
