-- Confab's SQLite schema, version 1. Applied migrations are never edited: changes get new files.

CREATE TABLE teams (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id     INTEGER NOT NULL REFERENCES teams (id),
    name        TEXT NOT NULL,
    hash        BLOB NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    scopes      INTEGER NOT NULL,
    bots        TEXT,                -- JSON array of bot ids, NULL for every bot
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE bots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id     INTEGER NOT NULL REFERENCES teams (id),
    bot_id      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}',
    UNIQUE (team_id, bot_id)
);

CREATE TABLE conversations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    bot_pk              INTEGER NOT NULL REFERENCES bots (id),
    conversation_id     TEXT NOT NULL,
    status              INTEGER NOT NULL DEFAULT 0,   -- 0 active, 1 ended
    started_at          INTEGER NOT NULL,
    last_message_at     INTEGER NOT NULL,
    message_count       INTEGER NOT NULL,
    n_user              INTEGER NOT NULL,
    n_bot               INTEGER NOT NULL,
    n_agent             INTEGER NOT NULL,
    n_system            INTEGER NOT NULL,
    first_user_message  TEXT,
    first_bot_message   TEXT,
    channel_type        TEXT,
    language            TEXT,
    version             TEXT,
    user_id             TEXT,
    campaign_id         TEXT,
    campaign_source     TEXT,
    conv_type           TEXT,
    session_id          TEXT,
    metadata            TEXT,             -- merged message metadata, JSON object
    stamps              TEXT NOT NULL,    -- when each derived field was set (core::summary::Stamps)
    UNIQUE (bot_pk, conversation_id)
);
CREATE INDEX conversations_started ON conversations (bot_pk, started_at DESC, id DESC);
CREATE INDEX conversations_last ON conversations (bot_pk, last_message_at DESC, id DESC);
CREATE INDEX conversations_user ON conversations (bot_pk, user_id) WHERE user_id IS NOT NULL;

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    bot_pk           INTEGER NOT NULL,
    conversation_pk  INTEGER NOT NULL REFERENCES conversations (id),
    client_id        TEXT,
    role             INTEGER NOT NULL,
    content          TEXT NOT NULL,
    ts               INTEGER NOT NULL,
    step_id          TEXT,
    step_type        TEXT,
    metadata         TEXT
);
CREATE UNIQUE INDEX messages_client ON messages (conversation_pk, client_id) WHERE client_id IS NOT NULL;
CREATE INDEX messages_conversation ON messages (conversation_pk, ts, id);

-- Only the index is kept (the text is in messages). Deleting uses FTS5's 'delete' command with
-- the indexed text, which with 'secure-delete' removes the terms from the index pages at once
-- (`contentless_delete=1` would only leave tombstones until a merge). The indexed text is the
-- content folded by `write::fold_for_search`.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    content,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
