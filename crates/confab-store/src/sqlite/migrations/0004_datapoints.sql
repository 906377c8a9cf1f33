-- Datapoint values, the finaliser and webhooks (issue 4).

-- A conversation's values, one row per key. `method`: 0 explicit, 1 rule, 2 llm
-- (confab_core::datapoints::Method). Whether they are final is the conversation's status.
CREATE TABLE datapoints (
    conversation_pk  INTEGER NOT NULL REFERENCES conversations (id),
    key              TEXT NOT NULL,
    value            TEXT NOT NULL,        -- JSON
    method           INTEGER NOT NULL,
    message_pk       INTEGER,              -- the message it was read from
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (conversation_pk, key)
) WITHOUT ROWID;

-- Where the incremental extraction walk stands (confab_core::extract::State, JSON), and the
-- timestamp of the last message it took in: an earlier one arriving later re-runs the walk.
ALTER TABLE conversations ADD COLUMN extract_state TEXT;
ALTER TABLE conversations ADD COLUMN extract_last_ts INTEGER;
-- When the finaliser ended the conversation.
ALTER TABLE conversations ADD COLUMN ended_at INTEGER;
CREATE INDEX conversations_idle ON conversations (last_message_at) WHERE status = 0;

-- A bot's idle time before finalisation, kept as a column for the finaliser's query (the
-- rest of the settings are in bots.settings, JSON).
ALTER TABLE bots ADD COLUMN inactivity_ms INTEGER NOT NULL DEFAULT 600000;

CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    bot_pk      INTEGER NOT NULL REFERENCES bots (id),
    url         TEXT NOT NULL,
    events      INTEGER NOT NULL,          -- confab_core::webhook::Events bits
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX webhooks_bot ON webhooks (bot_pk);

-- The outbox: one row per event and subscriber, written in the transaction that caused the
-- event. `state`: 0 pending, 1 delivered, 2 dead (confab_core::webhook::DeliveryState).
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    bot_pk           INTEGER NOT NULL,
    webhook_id       INTEGER NOT NULL REFERENCES webhooks (id),
    conversation_pk  INTEGER,              -- erasing the conversation removes its deliveries
    event_id         TEXT NOT NULL,        -- the idempotency id receivers see
    event            TEXT NOT NULL,
    payload          TEXT NOT NULL,        -- the body, exactly as sent
    state            INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 0;
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id DESC);
CREATE INDEX webhook_deliveries_conversation ON webhook_deliveries (conversation_pk);
