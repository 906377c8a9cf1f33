-- A bot's retention (`retention_days` in its settings) as a number the retention job can compare
-- with: conversations of the bot whose last message is older than this are deleted. NULL keeps
-- them forever. The job finds them by `conversations_last` (bot, last message time).
ALTER TABLE bots ADD COLUMN retention_ms bigint;
UPDATE bots SET retention_ms = ((settings::jsonb ->> 'retention_days')::bigint) * 86400000
    WHERE (settings::jsonb ->> 'retention_days') IS NOT NULL;
