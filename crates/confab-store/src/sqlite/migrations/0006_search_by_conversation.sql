-- The search index's row ids name the conversation (conversation row id << 24, plus the message's
-- position in it) instead of the message, so a search yields conversations without reading
-- message rows. The index is rebuilt from the messages after this (`write::reindex_search`).
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    content,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
