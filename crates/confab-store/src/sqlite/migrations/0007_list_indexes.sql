-- A list page filtered by dimensions walks the bot's conversations newest first and tests each
-- one; with the filtered columns in the index the test needs no table row, so a rare combination
-- of channel and language costs an index scan instead of thousands of row reads.
DROP INDEX conversations_started;
CREATE INDEX conversations_started ON conversations
    (bot_pk, started_at DESC, id DESC, channel_type, language, version, status, campaign_id);
DROP INDEX conversations_last;
CREATE INDEX conversations_last ON conversations
    (bot_pk, last_message_at DESC, id DESC, channel_type, language, version, status, campaign_id);
