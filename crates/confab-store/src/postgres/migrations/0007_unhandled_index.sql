-- The messages marked `handled: false` (any role), by bot and time: the not-handled clusters
-- (`GET …/analytics/unhandled`) read them for a range without scanning every message of the bot
-- in it. Only marked messages are in the index, so it stays small; writes evaluate the
-- predicate for each message with metadata.
CREATE INDEX messages_unhandled ON messages (bot_pk, ts)
    WHERE (metadata::jsonb -> 'handled') = 'false'::jsonb;
